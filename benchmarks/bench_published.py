"""Benchmark: size of the published architectures and their CPU time, next to ours.

1. Parameters (trainable; and all, including the frozen prompt banks) of the paper configurations:
   the official CardioMM (published training: 10 cascades, one frame; and the class defaults) and PromptMR+
   (``configs/model/pmr-plus.yaml``, the CMRxRecon 2024 weights), and of our CardioMM-style variant for
   comparison. The frozen CLIP ViT-B/16 text tower of the official CardioMM is outside these counts.
2. CPU seconds per reconstructed frame (one thread, inference mode) of the tiny configurations used by the
   equivalence fixtures, at the default cohort's frame size (10 coils, 112 x 128), median of ``--repeats``
   after one warm-up. A short measurement of random-weight networks, not a training.
3. The CPU training sizes of ``config.yaml`` (``train.<name>.model``) of the published architectures
   (``cardiomm_official``, ``promptmr``) and of ours (``cardiomm``, ``varnet``), measured side by side: seconds
   per training step (batch ``train.<name>.train.batch_size``) and per inference frame through the training
   forward (:func:`cardiomm.recon.learned.training_task.measure_step_seconds`), ``--rounds`` interleaved rounds (each
   round measures every model once, so a change of machine load hits all of them), medians, and the ratios to our
   CardioMM. Issue 20 item 4.

    python benchmarks/bench_published.py [--repeats 3] [--rounds 3] [--config config.yaml]
        [--out benchmarks/results/published_models.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.atomic import atomic_path  # noqa: E402
from cardiomm.provenance import cpu_name  # noqa: E402
from cardiomm.recon.learned.networks.blocks import count_parameters  # noqa: E402
from cardiomm.recon.learned.networks.cardiomm import PAPER_CONFIG as OURS_PAPER  # noqa: E402
from cardiomm.recon.learned.networks.cardiomm import CardioMM  # noqa: E402
from cardiomm.recon.learned.networks.cardiomm_official import PAPER_CONFIG as CARDIOMM_OFFICIAL_PAPER  # noqa: E402
from cardiomm.recon.learned.networks.cardiomm_official import CardioMMOfficial, CardioMMOfficialConfig  # noqa: E402
from cardiomm.recon.learned.networks.promptmr import PromptMR, PromptMRConfig  # noqa: E402
from cardiomm.recon.learned.training_task import measure_step_seconds  # noqa: E402

FIX = REPO / "tests" / "fixtures"


def _fixture_config(name: str) -> dict:
    import numpy as np

    return json.loads(str(np.load(FIX / f"{name}_io.npz")["config"]))


def _time(fn, repeats: int) -> float:  # noqa: ANN001 - a zero-argument callable
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


#: the side-by-side comparison: ours first (the ratios are to the first)
CPU_SIZED = ("cardiomm", "varnet", "cardiomm_official", "promptmr")


def side_by_side(config: Path, rounds: int, steps: int, infer_frames: int, coils: int, ny: int, nx: int
                 ) -> tuple[list[dict], dict]:
    """Per model of :data:`CPU_SIZED` (config.yaml's training sizes): parameters and the medians over
    ``rounds`` interleaved rounds of seconds per training step and per inference frame."""
    train = yaml.safe_load(config.read_text())["train"]
    times: dict[str, dict[str, list[float]]] = {k: {"train_step_s": [], "infer_frame_s": []} for k in CPU_SIZED}
    info: dict[str, dict] = {}
    for r in range(rounds):
        for kind in CPU_SIZED:
            block = train[kind]
            res = measure_step_seconds(kind, block.get("model"), nc=coils, ny=ny, nx=nx, steps=steps + 1,
                                       batch_size=int(block.get("train", {}).get("batch_size", 1)),
                                       infer_batch=infer_frames, infer_repeats=1, seed=r)
            for key in times[kind]:
                times[kind][key].append(res[key])
            t = block.get("train", {})
            info[kind] = {"n_parameters": res["n_parameters"], "batch_size": int(t.get("batch_size", 1)),
                          "steps": int(t.get("epochs", 0)) * int(t.get("steps_per_epoch") or 0)}
    rows = [{"kind": k, **info[k], **{key: statistics.median(v) for key, v in times[k].items()},
             "spread": {key: (min(v), max(v)) for key, v in times[k].items()}} for k in CPU_SIZED]
    return rows, {"rounds": rounds, "steps": steps, "infer_frames": infer_frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--coils", type=int, default=10)
    ap.add_argument("--ny", type=int, default=112)
    ap.add_argument("--nx", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the side-by-side comparison")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps per model and round (+1 warm-up)")
    ap.add_argument("--infer-frames", type=int, default=2, help="inference frames per model and round")
    ap.add_argument("--config", default=str(REPO / "config.yaml"))
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/published_models.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    started = time.perf_counter()

    heads = count_parameters(CardioMMOfficial(CardioMMOfficialConfig(num_cascades=1)).lm_head_meta)
    rows = []
    for label, build in (
        ("CardioMM, official architecture: published training (10 cascades, 1 frame; PAPER_CONFIG)",
         lambda: CardioMMOfficial(CARDIOMM_OFFICIAL_PAPER)),
        ("CardioMM, official architecture: class defaults (12 cascades, 5 adjacent frames)",
         lambda: CardioMMOfficial()),
        ("PromptMR+ (pmr-plus.yaml, CMRxRecon 2024 weights)", lambda: PromptMR(PromptMRConfig())),
        ("CardioMM-style (ours), PAPER_CONFIG of cardiomm/recon/learned/networks/cardiomm.py",
         lambda: CardioMM(OURS_PAPER)),
    ):
        m = build()
        sens = getattr(getattr(m, "metausunetlight", m), "sens_net", None)
        rows.append((label, count_parameters(m), count_parameters(m, trainable_only=False),
                     count_parameters(sens) if sens is not None else None))
        del m

    timing = []
    torch.manual_seed(0)
    for label, name, build, call in (
        ("cardiomm_official tiny (fixture kt2d)", "cardiomm_official_kt2d",
         lambda c: CardioMMOfficial(CardioMMOfficialConfig(**c)),
         lambda m, k, mk, c: m(k, mk, 20, True, *torch.randn(2, 1, c["llm_model_dim"]))),
        ("promptmr tiny (fixture plus_kt2d)", "promptmr_plus_kt2d",
         lambda c: PromptMR(PromptMRConfig(**c)), lambda m, k, mk, c: m(k, mk, 20, "square")),
    ):
        cfg = _fixture_config(name)
        model = build(cfg).eval()
        n = cfg["num_adj_slices"] * args.coils
        k = torch.randn(1, n, args.nx, args.ny, dtype=torch.complex64)
        mk = torch.rand(1, n, args.nx, args.ny) < 0.25
        with torch.inference_mode():
            sec = _time(lambda: call(model, k, mk, cfg), args.repeats)  # noqa: B023 - called in the loop
        timing.append((label, count_parameters(model), cfg["num_cascades"], cfg["num_adj_slices"], sec))

    lines = [
        "# Published architectures: parameters and CPU time",
        "",
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by "
        f"`{' '.join(['python', 'benchmarks/bench_published.py', *sys.argv[1:]])}` "
        f"on {cpu_name()} ({platform.machine()}), torch {torch.__version__}, 1 thread.",
        "",
        "## Parameters of the paper configurations",
        "",
        "| model | trainable | all (incl. frozen prompt banks) | sensitivity network (trainable) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, tr, al, sens in rows:
        lines.append(f"| {label} | {tr:,} | {al:,} | {'' if sens is None else f'{sens:,}'} |")
    lines += [
        "",
        "The official CardioMM also runs a frozen CLIP ViT-B/16 text tower (not counted here; about 63 M "
        "parameters as published for CLIP's text encoder) once per distinct sentence; its two text heads "
        f"(`lm_head_meta`, `lm_head_us`, 2 x {heads:,}) are counted.",
        "",
        f"## CPU seconds per frame, tiny configurations ({args.coils} coils, {args.ny} x {args.nx}, random weights)",
        "",
        "| configuration | trainable parameters | cascades | adjacent frames | s / frame (median of "
        f"{args.repeats}) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, p, casc, adj, sec in timing:
        lines.append(f"| {label} | {p:,} | {casc} | {adj} | {sec:.2f} |")
    lines += ["", "The machine is shared (2 cores, several engineers): times are indicative; the paper "
              "configurations were not timed on this CPU.", ""]

    sbs, how = side_by_side(Path(args.config), args.rounds, args.steps, args.infer_frames, args.coils, args.ny,
                            args.nx)
    load_after = os.getloadavg()
    met = all(math.isfinite(r[k]) and r[k] > 0 for r in sbs for k in ("train_step_s", "infer_frame_s"))
    ref = sbs[0]
    lines += [
        f"## CPU training sizes of `{Path(args.config).name}`, side by side with ours",
        "",
        "Goal (issue 20 item 4): parameters, seconds per inference frame and seconds per training step on CPU for "
        "the CPU training sizes (`train.<name>.model`) of the published architectures, next to ours, measured in "
        "one run and given as ratios to our CardioMM. "
        f"Method: {how['rounds']} interleaved rounds (each round times every model once: {how['steps']} training "
        f"steps after one warm-up step, then {how['infer_frames']} inference frames), medians over the rounds; "
        f"random weights and random data, {args.coils} coils, {args.ny} x {args.nx}, 1 thread, through the "
        "training forward (`cardiomm.recon.learned.training_task.measure_step_seconds`; the published nets with "
        "their adjacent frames, the official CardioMM with random text features: its frozen CLIP tower runs once "
        "per distinct sentence and is not timed).",
        "",
        "| model (`train.<name>`) | trainable parameters | x ours | s / training step | x ours | s / frame "
        "(inference) | x ours | config steps | est. training time at this load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sbs:
        est = r["steps"] * r["train_step_s"] / 3600
        lines.append(
            f"| {r['kind']} | {r['n_parameters']:,} | {r['n_parameters'] / ref['n_parameters']:.2f} "
            f"| {r['train_step_s']:.2f} | {r['train_step_s'] / ref['train_step_s']:.2f} "
            f"| {r['infer_frame_s']:.2f} | {r['infer_frame_s'] / ref['infer_frame_s']:.2f} "
            f"| {r['steps']:,} | {est:.1f} h |")
    lines += [
        "",
        "Spread over the rounds (min-max, s): " + "; ".join(
            f"{r['kind']} step {r['spread']['train_step_s'][0]:.2f}-{r['spread']['train_step_s'][1]:.2f}, "
            f"frame {r['spread']['infer_frame_s'][0]:.2f}-{r['spread']['infer_frame_s'][1]:.2f}" for r in sbs) + ".",
        "",
        f"The machine is shared: load average {load_before[0]:.1f} before and {load_after[0]:.1f} after this run "
        f"on {os.cpu_count()} cores, so the absolute seconds (and the training-time estimates, steps x s/step) "
        "hold only for this load; the ratios, measured in the same rounds, are the result. "
        f"Goal {'met' if met else 'NOT met'}: "
        f"{'all four models measured' if met else 'a time is missing or not finite'} side by side in one run "
        f"({time.perf_counter() - started:.0f} s in all).",
        "",
    ]
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
