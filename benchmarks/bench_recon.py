"""Benchmark: reconstruction quality and speed of the config's methods, side by side.

1. Quality: aggregates ``results/<cohort>/tables/image_quality.csv`` (written by ``make run``) per split
   (held-out ``test`` vs ``external``: unseen field strength / vendor) x method x mask: mean PSNR / SSIM / NMSE.
2. Speed: seconds per 2D frame for zero-filled, SigPy ESPIRiT + CG-SENSE and every neural method on the same
   subject and mask in one process, one after the other (ratios are the meaningful numbers on a CPU).
3. Memory: peak RSS of CardioMM CPU inference on one default-size series, in a fresh process.

    python benchmarks/bench_recon.py [--cohort synthetic] [--subject P029] [--frames 24]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.acquisition import Acquisition  # noqa: E402
from cardiomm.io.cmrxrecon import read_kspace, read_mask  # noqa: E402
from cardiomm.methods import METHODS, ReconParams  # noqa: E402
from cardiomm.methods import method as registered  # noqa: E402
from cardiomm.recon.classical.sense import sense_recon_series  # noqa: E402
from cardiomm.recon.classical.zero_filled import zero_filled  # noqa: E402
from cardiomm.workflow import NEURAL, plan_from_config  # noqa: E402

MEM_CHILD = r"""
import resource, sys, numpy as np
from cardiomm.acquisition import Acquisition
from cardiomm.io.cmrxrecon import read_kspace, read_mask
from cardiomm.recon.learned.model_files import load_model
from cardiomm.recon.learned.infer import reconstruct_series
model, _ = load_model(sys.argv[1], arch="cardiomm")
kus = read_kspace(sys.argv[2], key="kus"); mask = read_mask(sys.argv[3])
reconstruct_series(model, Acquisition.from_arrays(kus, mask, sys.argv[4], meta={"modality": "cine"}))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


#: row order of the methods in the tables: classical first, then the peer, then CardioMM
METHOD_ORDER = {m: i for i, m in enumerate(METHODS)}


def quality_table(iq: pd.DataFrame) -> str:
    g = iq.groupby(["split", "method", "mask"])[["psnr", "ssim", "nmse"]].mean().reset_index()
    g = g.sort_values(["split", "mask", "method"], key=lambda c: c.map(METHOD_ORDER) if c.name == "method" else c)
    lines = ["| split | mask | method | PSNR (dB) | SSIM | NMSE |", "| --- | --- | --- | --- | --- | --- |"]
    for _, r in g.iterrows():
        lines.append(f"| {r['split']} | {r['mask']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} "
                     f"| {r['nmse']:.4f} |")
    return "\n".join(lines)


def modality_table(iq: pd.DataFrame, split: str = "test") -> str:
    """Mean PSNR / SSIM per modality, mask and method (the all-modality means mix cine and mapping frames)."""
    d = iq[iq["split"] == split]
    g = d.groupby(["mask", "method", "modality"])[["psnr", "ssim"]].mean()
    mods = sorted(d["modality"].unique(), key=lambda m: (m != "cine", m))
    lines = ["| mask | method | " + " | ".join(f"{m} PSNR / SSIM" for m in mods) + " |",
             "| --- | --- |" + " --- |" * len(mods)]
    for mk in sorted(d["mask"].unique()):
        for me in sorted(d["method"].unique(), key=lambda m: METHOD_ORDER.get(m, 9)):
            cells = [f"{g.loc[(mk, me, m), 'psnr']:.2f} / {g.loc[(mk, me, m), 'ssim']:.4f}"
                     if (mk, me, m) in g.index else "-" for m in mods]
            lines.append(f"| {mk} | {me} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", default="synthetic")
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--subject", default=None)
    ap.add_argument("--mask", default="ktRadial24")
    ap.add_argument("--frames", type=int, default=24, help="2D frames timed per method")
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    plan = plan_from_config(cfg, REPO)
    res = REPO / "results" / args.cohort
    iq = pd.read_csv(res / "tables" / "image_quality.csv")

    sid = args.subject or plan.subjects[0].id
    kus_p = res / "undersampled" / sid / f"cine_sax_kus_{args.mask}.mat"
    mask_p = res / "undersampled" / sid / f"cine_sax_mask_{args.mask}.mat"
    kus, mask = read_kspace(kus_p, key="kus"), read_mask(mask_p)
    nt, nz = kus.shape[:2]
    # a sub-series of whole frames x slices with about args.frames 2D frames
    nzs = min(nz, max(1, args.frames // nt)) if args.frames >= nt else 1
    nts = min(nt, args.frames) if args.frames < nt else nt
    sub, msub = kus[:nts, :nzs], mask[:nts]
    n2d = nts * nzs
    meta = {**plan.subject(sid).meta, "modality": "cine"}
    timings: dict[str, float] = {}
    t = time.perf_counter()
    zero_filled(sub)
    timings["zerofilled"] = (time.perf_counter() - t) / n2d
    t = time.perf_counter()
    # plan_from_config filled the schema's defaults into cfg; engine picks SigPy/BART, not a solver argument
    sense_recon_series(Acquisition.from_arrays(sub, msub, args.mask),
                       **{k: v for k, v in cfg["sense"].items() if k != "engine"})
    timings["sense (ESPIRiT per slice + CG-SENSE)"] = (time.perf_counter() - t) / n2d
    # every neural method of the config, as the workflow runs it (the registry's prepared reconstructor)
    for name in [m for m in cfg["methods"] if m in NEURAL]:
        rec = registered(name).prepare(ReconParams.from_config(cfg, name, REPO))
        rec(Acquisition.from_arrays(sub[:, :1], msub, args.mask, meta=meta))  # warm-up (whole frames: PromptMR+)
        t = time.perf_counter()
        rec(Acquisition.from_arrays(sub, msub, args.mask, meta=meta))
        timings[name] = (time.perf_counter() - t) / n2d
    mem = subprocess.run([sys.executable, "-c", MEM_CHILD, str(REPO / cfg["models"]["cardiomm"]), str(kus_p),
                          str(mask_p), args.mask], capture_output=True, text=True, check=True)
    peak_mb = float(mem.stdout.strip().splitlines()[-1])

    sense_t = timings["sense (ESPIRiT per slice + CG-SENSE)"]
    load = os.getloadavg()
    lines = [
        "# Reconstruction: quality and speed", "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, CUDA available: {torch.cuda.is_available()}",
        f"- load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        f"- command: `python benchmarks/bench_recon.py --cohort {args.cohort} --mask {args.mask} "
        f"--frames {args.frames}`",
        "",
        "## Quality (mean over 2D frames; CMRxRecon-2025 99.5th-percentile normalisation)", "",
        f"From `results/{args.cohort}/tables/image_quality.csv` ({len(iq)} frame rows). `test` = held-out subjects "
        "of the training centres; `external` = unseen field strength (0.55 T / 5 T) and vendor.", "",
        quality_table(iq), "",
        "Per modality, test subjects (PSNR dB / SSIM):", "",
        modality_table(iq), "",
        "## Speed (CPU, same frames, one process)", "",
        f"Subject {sid}, cine, {args.mask}, {n2d} 2D frames ({nts} frames x {nzs} slices), {kus.shape[2]} coils, "
        f"{kus.shape[3]}x{kus.shape[4]}.", "",
        "| method | seconds per 2D frame | relative to SENSE |", "| --- | --- | --- |",
    ]
    for k, v in timings.items():
        lines.append(f"| {k} | {v:.4f} | {v / sense_t:.2f} |")
    lines += ["", f"Peak RSS of CardioMM CPU inference on one full cine series ({kus.shape}): {peak_mb:.0f} MB "
              "(goal <= 4 GB).", ""]
    if torch.cuda.is_available():
        lines.append(f"CUDA was available ({torch.cuda.get_device_name(0)}): the neural rows above ran on it.")
    else:
        lines.append("No GPU was available to this run: every timing above is CPU, and no GPU timings are reported.")
    out = REPO / "benchmarks" / "results" / "recon.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    (REPO / "benchmarks" / "results" / "recon_timings.json").write_text(json.dumps(timings, indent=2) + "\n")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
