"""Timing of the classical baselines: zero-filled, ESPIRiT calibration and CG-SENSE (SigPy, CPU).

Two cases, one slice, a few frames each (to stay within ~2 minutes on a shared machine):
``default`` (nc=10, ny=112, nx=128, the synthetic cohort's size) and ``paper`` (nc=10, ny=208, nx=256,
a typical CMRxRecon cine matrix). Data: SigPy's Shepp-Logan phantom times birdcage coil maps,
undersampled with ``Uniform8`` (ACS 20 lines). Timings are wall-clock medians.

Usage::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/bench_baselines.py [--frames 2] [--repeats 3]

Writes ``benchmarks/results/baselines.md`` (machine, command, date, numbers).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sigpy
import sigpy.mri
import torch

from cardiomm.atomic import write_text
from cardiomm.physics.fft import fft2c
from cardiomm.recon.classical.espirit import espirit_maps
from cardiomm.recon.classical.sense import sense_frame
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.sampling.masks import acs_mask, make_mask, undersample

CASES = {"default": (10, 112, 128), "paper": (10, 208, 256)}
MASK = "Uniform8"
LAMDA, MAX_ITER = 0.01, 30  # sense_recon_series defaults
OUT = Path(__file__).parent / "results" / "baselines.md"


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _kspace(nc: int, ny: int, nx: int, nt: int) -> np.ndarray:
    """(nt, 1, nc, ny, nx) complex64: a Shepp-Logan slice, slightly scaled per frame."""
    img = sigpy.shepp_logan((ny, nx)).astype(np.complex64)
    maps = sigpy.mri.birdcage_maps((nc, ny, nx)).astype(np.complex64)
    k = fft2c(torch.from_numpy(maps * img)).numpy()
    return np.stack([(1 + 0.05 * t) * k for t in range(nt)])[:, None]


def bench_case(nc: int, ny: int, nx: int, frames: int, repeats: int) -> dict[str, float]:
    k = _kspace(nc, ny, nx, frames)
    mask = make_mask(MASK, frames, ny, nx, seed=0)
    kus = undersample(k, mask)
    region = acs_mask(MASK, ny, nx)
    zf = _median_time(lambda: zero_filled(kus), repeats) / frames
    esp = _median_time(lambda: espirit_maps(kus[:, 0], mask, region), max(1, repeats - 1))
    maps = espirit_maps(kus[:, 0], mask, region)
    # the per-frame call sense_recon_series makes, timed on every frame
    cg = statistics.median(
        _median_time(lambda t=t: sense_frame(kus[t, 0], maps, mask[t], lamda=LAMDA, max_iter=MAX_ITER), 1)
        for t in range(frames)
    )
    return {"zero_filled_s_per_frame": zf, "espirit_s_per_slice": esp, "cg_sense_s_per_frame": cg}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=3, help="frames per case (CG-SENSE is run on each)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats for the median of the fast steps")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    results = {}
    for case, (nc, ny, nx) in CASES.items():
        print(f"[bench] {case}: nc={nc} ny={ny} nx={nx} frames={args.frames}", flush=True)
        results[case] = bench_case(nc, ny, nx, args.frames, args.repeats)
        print(f"[bench] {case}: " + ", ".join(f"{k}={v:.4f}" for k, v in results[case].items()), flush=True)

    env_threads = {v: os.environ.get(v, "unset") for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    lines = [
        "# Baseline reconstruction timings",
        "",
        f"- date (UTC): {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M:%S')}",
        f"- command: `{' '.join(f'{k}={v}' for k, v in env_threads.items())} python "
        f"{shlex.join(['benchmarks/bench_baselines.py', *sys.argv[1:]])}`",
        f"- machine: {platform.platform()}, {platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"torch threads={torch.get_num_threads()} (shared machine: other jobs were running)",
        f"- software: python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
        f"sigpy {sigpy.__version__}; device: CPU (SigPy without CuPy)",
        f"- data: Shepp-Logan x birdcage maps, 1 slice, {args.frames} frames, mask {MASK} (ACS 20), "
        f"CG-SENSE lamda={LAMDA}, max_iter={MAX_ITER}",
        "- medians over repeats (zero-filled: whole series / frames; CG-SENSE: median over frames of "
        "`cardiomm.recon.classical.sense.sense_frame`, the per-frame call of `sense_recon_series`)",
        "- a series of nt frames and nz slices costs about nz * ESPIRiT + nt * nz * CG-SENSE",
        "",
        "| case | nc x ny x nx | zero-filled (s/frame) | ESPIRiT (s/slice) | CG-SENSE (s/frame) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for case, (nc, ny, nx) in CASES.items():
        r = results[case]
        lines.append(
            f"| {case} | {nc} x {ny} x {nx} | {r['zero_filled_s_per_frame']:.4f} | {r['espirit_s_per_slice']:.3f} "
            f"| {r['cg_sense_s_per_frame']:.3f} |"
        )
    write_text(args.out, "\n".join(lines) + "\n")
    print(f"[bench] wrote {args.out}")


if __name__ == "__main__":
    main()
