"""Benchmark: size of the published architectures and their CPU time per frame at a tiny configuration.

1. Parameters (trainable; and all, including the frozen prompt banks) of the paper configurations:
   the official CardioMM (published training: 10 cascades, one frame; and the class defaults) and PromptMR+
   (``configs/model/pmr-plus.yaml``, the CMRxRecon 2024 weights), and of our CardioMM-style variant for
   comparison. The frozen CLIP ViT-B/16 text tower of the official CardioMM is outside these counts.
2. CPU seconds per reconstructed frame (one thread, inference mode) of the tiny configurations used by the
   equivalence fixtures, at the default cohort's frame size (10 coils, 112 x 128), median of ``--repeats``
   after one warm-up. A short measurement of random-weight networks, not a training.

    python benchmarks/bench_published.py [--repeats 3] [--out benchmarks/results/published_models.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.atomic import atomic_path  # noqa: E402
from cardiomm.provenance import cpu_name  # noqa: E402
from cardiomm.recon.networks.blocks import count_parameters  # noqa: E402
from cardiomm.recon.networks.cardiomm import PAPER_CONFIG as OURS_PAPER  # noqa: E402
from cardiomm.recon.networks.cardiomm import CardioMM  # noqa: E402
from cardiomm.recon.networks.cardiomm_official import PAPER_CONFIG as CARDIOMM_OFFICIAL_PAPER  # noqa: E402
from cardiomm.recon.networks.cardiomm_official import CardioMMOfficial, CardioMMOfficialConfig  # noqa: E402
from cardiomm.recon.networks.promptmr import PromptMR, PromptMRConfig  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--coils", type=int, default=10)
    ap.add_argument("--ny", type=int, default=112)
    ap.add_argument("--nx", type=int, default=128)
    ap.add_argument("--out", default=str(REPO / "benchmarks/results/published_models.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    heads = count_parameters(CardioMMOfficial(CardioMMOfficialConfig(num_cascades=1)).lm_head_meta)
    rows = []
    for label, build in (
        ("CardioMM, official architecture: published training (10 cascades, 1 frame; PAPER_CONFIG)",
         lambda: CardioMMOfficial(CARDIOMM_OFFICIAL_PAPER)),
        ("CardioMM, official architecture: class defaults (12 cascades, 5 adjacent frames)",
         lambda: CardioMMOfficial()),
        ("PromptMR+ (pmr-plus.yaml, CMRxRecon 2024 weights)", lambda: PromptMR(PromptMRConfig())),
        ("CardioMM-style (ours), PAPER_CONFIG of cardiomm/recon/networks/cardiomm.py", lambda: CardioMM(OURS_PAPER)),
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
        f"Generated {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} by `python benchmarks/bench_published.py` "
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
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
