"""Classical baselines side by side: SENSE, CS (l1-wavelet), k-t TV and L+S, SigPy and BART, same frames.

One slice of one synthetic subject (default: test subject P029, cine, mid slice, all frames, the default
cohort's size 10 coils x 112 x 128), every mask of the config, the config's parameters (``sense:``, ``cs:``,
``kttv:``, ``lps:``; ``lps`` on SigPy only: BART's ``pics`` has no L+S, see :mod:`cardiomm.recon.classical.lps`). For
each method and engine: PSNR/SSIM against the fully sampled RSS reference (the workflow's metric,
:func:`cardiomm.compare.image_quality.frame_metrics`), CPU seconds per frame (this process plus its children, i.e.
the ``bart`` processes; ESPIRiT included, since each method calibrates its slice), wall seconds
per frame, and the ratio of CPU time to SENSE's of the same engine.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_classical.py [--subject P029] [--modality cine] [--no-bart]

The subject is synthesised into a temporary folder (about 15 s). Writes ``benchmarks/results/classical.md``
and ``classical.json`` (machine, command, date, numbers, speed goal met or not).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sigpy  # noqa: E402

from cardiomm.acquisition import Acquisition  # noqa: E402
from cardiomm.atomic import write_text  # noqa: E402
from cardiomm.compare.image_quality import frame_metrics  # noqa: E402
from cardiomm.config import validate_config  # noqa: E402
from cardiomm.conventions import MODALITIES  # noqa: E402
from cardiomm.io.cmrxrecon import read_kspace  # noqa: E402
from cardiomm.methods import CLASSICAL  # noqa: E402
from cardiomm.phantom.generate import PhantomConfig, spec_by_id, write_subject  # noqa: E402
from cardiomm.recon.classical.bart import bart_available  # noqa: E402
from cardiomm.recon.classical.series import CSParams, recon_series, solver  # noqa: E402
from cardiomm.recon.classical.zero_filled import zero_filled  # noqa: E402
from cardiomm.sampling.masks import make_mask, undersample  # noqa: E402

OUT = REPO / "benchmarks" / "results"
GOAL_KTTV_S_PER_SLICE = 2.0  # CPU seconds, one core, whole default-size cine slice (12 frames), ESPIRiT included
KT_METHODS = ("kttv", "lps")  # the k-t methods the speed goal is about


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def load_slice(cfg: dict, subject: str, modality: str, z: int | None, tmp: Path):
    """``(k, z, split, spec)``: fully sampled ``(nt, 1, nc, ny, nx)`` of one slice (the middle one if ``z`` is None)
    of a synthetic subject written into ``tmp``."""
    from cardiomm.cohort import Subject

    pcfg = PhantomConfig.from_dict(cfg["phantom"])
    spec = spec_by_id(pcfg, subject)
    write_subject(spec, pcfg, tmp)
    k_all = read_kspace(Subject(subject, Path(tmp), spec.split).kspace_path(modality))
    z = k_all.shape[1] // 2 if z is None else z
    return np.ascontiguousarray(k_all[:, z : z + 1]), z, spec.split, spec


def _quality(ref: np.ndarray, rec: np.ndarray) -> tuple[float, float]:
    rows = frame_metrics(ref, rec)
    return float(np.mean([r["psnr"] for r in rows])), float(np.mean([r["ssim"] for r in rows]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=REPO / "config.yaml")
    ap.add_argument("--subject", default="P029")
    ap.add_argument("--modality", default="cine", choices=sorted(MODALITIES))
    ap.add_argument("--slice", type=int, default=None, help="slice index (default: the middle one)")
    ap.add_argument("--no-bart", action="store_true", help="SigPy only, even where bart is on PATH")
    ap.add_argument("--no-neural", action="store_true",
                    help="skip the config's neural methods (CardioMM-style, PromptMR+, ... with the shipped weights)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    cfg = validate_config(yaml.safe_load(args.config.read_text()))  # with the schema's defaults
    pcfg = PhantomConfig.from_dict(cfg["phantom"])
    with tempfile.TemporaryDirectory(prefix="bench_classical_") as tmp:
        k, z, _, spec = load_slice(cfg, args.subject, args.modality, args.slice, Path(tmp))
    nt, _, nc, ny, nx = k.shape
    ref = zero_filled(k)
    kind = MODALITIES[args.modality].kind
    engines = ["sigpy"] + (["bart"] if bart_available() and not args.no_bart else [])
    params = {m: CSParams.from_dict(m, cfg[m]) for m in CLASSICAL}
    from cardiomm.methods import ReconParams
    from cardiomm.methods import method as registered
    from cardiomm.workflow import NEURAL

    # every neural method of the config, prepared as the workflow prepares it (model loaded once)
    neural = {} if args.no_neural else {
        m: registered(m).prepare(ReconParams.from_config(cfg, m, REPO))
        for m in cfg["methods"] if m in NEURAL}
    rows = []
    for mk in cfg["masks"]:
        mask = make_mask(mk, nt, ny, nx, seed=cfg["mask_seed"])
        kus = undersample(k, mask)
        psnr, ssim = _quality(ref, zero_filled(kus))
        rows.append({"mask": mk, "method": "zerofilled", "engine": "-", "psnr": psnr, "ssim": ssim,
                     "cpu_s_per_frame": float("nan"), "wall_s_per_frame": float("nan")})
        for eng in engines:
            for meth, p in params.items():
                if eng == "bart" and solver(meth).pics is None:
                    continue  # e.g. no L+S in BART's pics (cardiomm.recon.classical.lps)
                p = dataclasses.replace(p, engine=eng)
                c0, w0 = _cpu(), time.perf_counter()
                rec = recon_series(meth, Acquisition.from_arrays(kus, mask, mk), p, kind=kind)
                cpu, wall = _cpu() - c0, time.perf_counter() - w0
                psnr, ssim = _quality(ref, rec)
                rows.append({"mask": mk, "method": meth, "engine": eng, "psnr": psnr, "ssim": ssim,
                             "cpu_s_per_frame": cpu / nt, "wall_s_per_frame": wall / nt,
                             "lamda": p.lamda_for(kind), "max_iter": p.max_iter})
                print(f"[bench] {mk} {meth} {eng}: {psnr:.2f} dB {ssim:.3f}  cpu {cpu:.2f} s  wall {wall:.2f} s",
                      flush=True)
        for name, net in neural.items():
            c0, w0 = _cpu(), time.perf_counter()
            rec = net(Acquisition.from_arrays(kus, mask, mk, meta={**spec.row(pcfg), "modality": args.modality}))
            cpu, wall = _cpu() - c0, time.perf_counter() - w0
            psnr, ssim = _quality(ref, rec)
            rows.append({"mask": mk, "method": name, "engine": "torch (shipped weights)", "psnr": psnr,
                         "ssim": ssim, "cpu_s_per_frame": cpu / nt, "wall_s_per_frame": wall / nt})
            print(f"[bench] {mk} {name}: {psnr:.2f} dB {ssim:.3f}", flush=True)
    for r in rows:
        eng = r["engine"] if r["engine"] in ("sigpy", "bart") else "sigpy"
        sense = next((s for s in rows if s["mask"] == r["mask"] and s["method"] == "sense"
                      and s["engine"] == eng), None)
        r["cpu_vs_sense"] = r["cpu_s_per_frame"] / sense["cpu_s_per_frame"] if sense else float("nan")
    worst = {m: max(r["cpu_s_per_frame"] for r in rows if r["method"] == m and r["engine"] == "sigpy") * nt
             for m in KT_METHODS}
    worst_slice = max(worst.values())
    met = worst_slice <= GOAL_KTTV_S_PER_SLICE

    env = " ".join(f"{v}={os.environ.get(v, 'unset')}" for v in ("OMP_NUM_THREADS",))
    cmd = f"{env} python {shlex.join(['benchmarks/bench_classical.py', *sys.argv[1:]])}"
    lines = [
        "# Classical baselines: SigPy and BART side by side",
        "",
        f"- date (UTC): {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        f"- command: `{cmd}`",
        f"- machine: {platform.platform()}, os.cpu_count()={os.cpu_count()}, load average at the end "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} (shared machine: other jobs were running)",
        f"- software: python {platform.python_version()}, numpy {np.__version__}, sigpy {sigpy.__version__}, "
        f"bart: {bart_available() or 'not on PATH'}",
        f"- data: synthetic subject {args.subject} ({spec.split}), {args.modality}, slice {z}, {nt} frames, "
        f"{nc} coils, {ny} x {nx}; masks with mask_seed {cfg['mask_seed']}; reference = RSS of the fully "
        "sampled k-space; PSNR/SSIM per frame (CMRxRecon 99.5th-percentile normalisation), mean over frames",
        "- parameters: " + "; ".join(f"{m}: lamda={p.lamda_for(kind)}"
                                      + (f", lamda_lowrank={p.lamda_lowrank_for(kind)}" if m == "lps" else "")
                                      + f", max_iter={p.max_iter}" for m, p in params.items()),
        "- CPU s/frame: process + child (bart) CPU time of the whole slice, ESPIRiT calibration included, / frames",
        "",
        "| mask | method | engine | PSNR (dB) | SSIM | CPU s/frame | wall s/frame | CPU vs SENSE (same engine; "
        "networks: vs SigPy's) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['mask']} | {r['method']} | {r['engine']} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
                     f"{r['cpu_s_per_frame']:.3f} | {r['wall_s_per_frame']:.3f} | {r['cpu_vs_sense']:.2f} |")
    lines += [
        "",
        f"Speed goal (each k-t method, SigPy, one whole {nt}-frame slice <= {GOAL_KTTV_S_PER_SLICE:.0f} CPU s, "
        "ESPIRiT included): worst mask " + ", ".join(f"{m} {v:.2f} s" for m, v in worst.items())
        + f" -> **{'met' if met else 'NOT met'}**.",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "classical.md", "\n".join(lines) + "\n")
    write_text(args.out / "classical.json", json.dumps({"command": cmd, "rows": rows, "worst_cpu_s_per_slice": worst,
                                                        "goal_met": met}, indent=2) + "\n")
    print(f"[bench] wrote {args.out / 'classical.md'}")


if __name__ == "__main__":
    main()
