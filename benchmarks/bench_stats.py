"""Time the statistics + figures stage on a synthetic table the size of the default cohort.

Cohort: 9 subjects x 14 indicators x (4 methods x 3 masks + reference + truth) indicator rows, an
image-quality table of 9 subjects x (cine 3 slices x 12 frames + 3 maps x 3 slices x 8 weightings)
images per method x mask, and one 256 x 256 reconstruction / maps / segmentation panel each.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_stats.py [--out DIR] [--results benchmarks/results/stats.md]

Writes the timings as Markdown (machine, command, date, seconds per step).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cardiomm.atomic import write_text
from cardiomm.compare.agreement import INDICATOR_COLUMNS, agreement_table
from cardiomm.compare.audit import audit_markdown, default_tolerances
from cardiomm.conventions import INDICATORS, LV_BLOOD, LV_MYO, PAPER_MASKS, RV_BLOOD
from cardiomm.figures import plots
from cardiomm.methods import METHODS
from cardiomm.provenance import cpu_name

TYPICAL = {"LVEDV": 150, "LVESV": 60, "LVSV": 90, "LVEF": 60, "LVCO": 6, "LVM": 110, "RVEDV": 160, "RVESV": 70,
           "RVSV": 90, "RVEF": 56, "WT": 8, "T1": 1000, "T2": 50, "T1rho": 52}  # fmt: skip


def synthetic_indicators(n_subjects: int = 9, seed: int = 0) -> pd.DataFrame:
    """Long indicator table: truth, reference (2% error) and every method x paper mask (error grows with R)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_subjects):
        subj = f"P{s:03d}"
        for ind, u in INDICATORS.items():
            t = TYPICAL[ind] * (1 + 0.15 * rng.standard_normal())
            r = t + 0.02 * TYPICAL[ind] * rng.standard_normal()
            rows += [(subj, "test", "truth", "full", ind, u, t, True, ""),
                     (subj, "test", "reference", "full", ind, u, r, True, "")]  # fmt: skip
            for mi, meth in enumerate(METHODS):
                for ki, mask in enumerate(PAPER_MASKS):
                    v = r + (len(METHODS) - mi) * (ki + 1) * 0.01 * TYPICAL[ind] * (0.5 + rng.standard_normal())
                    ok = rng.random() > 0.03
                    rows.append((subj, "test", meth, mask, ind, u, v if ok else np.nan, ok, "" if ok else "fit failed"))
    return pd.DataFrame(rows, columns=list(INDICATOR_COLUMNS))


def synthetic_image_quality(n_subjects: int = 9, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    images = [("cine", z, f) for z in range(3) for f in range(12)]
    images += [(m, z, f) for m in ("t1map", "t2map", "t1rhomap") for z in range(3) for f in range(8)]
    rows = []
    for s in range(n_subjects):
        for mi, meth in enumerate(METHODS):
            for ki, mask in enumerate(PAPER_MASKS):
                psnr = 28 + 2.5 * mi - 1.5 * ki + rng.standard_normal(len(images))
                ssim = np.clip(0.75 + 0.05 * mi - 0.03 * ki + 0.02 * rng.standard_normal(len(images)), 0, 1)
                rows += [(f"P{s:03d}", "test", mod, z, f, meth, mask, p, q, 10 ** (-p / 10))
                         for (mod, z, f), p, q in zip(images, psnr, ssim, strict=True)]  # fmt: skip
    return pd.DataFrame(rows, columns=list(plots.IQ_COLUMNS))


def _phantom(n: int = 256, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    labels = np.zeros((n, n), dtype=np.int16)
    labels[r < 30] = LV_BLOOD
    labels[(r >= 30) & (r < 42)] = LV_MYO
    labels[(np.hypot(yy - n / 2, xx - n / 2 - 60) < 28) & (labels == 0)] = RV_BLOOD
    ref = 0.1 + 1.0 * (labels == LV_BLOOD) + 0.9 * (labels == RV_BLOOD) + 0.4 * (labels == LV_MYO)
    return {"ref": ref, "labels": labels, "noise": rng.standard_normal((n, n))}


def run(out: Path) -> list[tuple[str, float]]:
    """Run every step once; return (step, seconds)."""
    timings: list[tuple[str, float]] = []

    def step(name, fn, *args, **kw):  # noqa: ANN001, ANN202 - tiny timing helper
        t0 = time.perf_counter()
        res = fn(*args, **kw)
        timings.append((name, time.perf_counter() - t0))
        return res

    df = step("synthetic tables", synthetic_indicators)
    iq = synthetic_image_quality()
    tol, src = default_tolerances()
    agr_ref = step("agreement_table vs reference", agreement_table, df, "reference", tol)
    agr_truth = step("agreement_table vs truth", agreement_table, df, "truth", tol)
    md = step("audit_markdown", audit_markdown, pd.concat([agr_ref, agr_truth]), tol, src, "synthetic-bench")
    write_text(out / "audit.md", md)
    for meth in METHODS:
        step(f"bland_altman_grid {meth}", plots.bland_altman_grid, df, "reference", meth, out / f"ba_{meth}")
        step(f"scatter_identity {meth}", plots.scatter_identity, df, "reference", meth, out / f"scatter_{meth}")
    step(f"quality_distributions ({len(iq)} rows)", plots.quality_distributions, iq, out / "iq")
    ph = _phantom()
    ref = ph["ref"]
    images = {f"{plots.method_label(m)} ktRadial24": ref + 0.02 * (4 - i) * ph["noise"] for i, m in enumerate(METHODS)}
    metrics = {k: (30.0 + i, 0.8 + 0.03 * i) for i, k in enumerate(images)}
    step("recon_panel 256x256 x4", plots.recon_panel, images, ref, metrics, "cine ktRadial24", out / "recon")
    maps = {"T1": 1000 + 30 * ph["noise"], "T2": 50 + 2 * ph["noise"], "T1rho": 52 + 2 * ph["noise"]}
    step("maps_panel 256x256 x3", plots.maps_panel, maps, ph["labels"] == LV_MYO, {}, out / "maps")
    step("segmentation_overlay 256x256", plots.segmentation_overlay, ref, ph["labels"], "labels", out / "seg")
    return timings


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="figure folder (default: a temporary folder)")
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "stats.md")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        t0 = time.perf_counter()
        timings = run(out)
        total = time.perf_counter() - t0
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [
        "# Benchmark: statistics + figures stage",
        "",
        f"- date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.node()}, {cpu_name()}, {os.cpu_count()} logical CPUs (shared), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, OMP_NUM_THREADS={threads}",
        f"- command: `OMP_NUM_THREADS={threads} python {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}`",
        "- data: synthetic, 9 subjects x 14 indicators x (4 methods x 3 masks + reference + truth) = "
        f"{9 * 14 * (len(METHODS) * len(PAPER_MASKS) + 2)} indicator rows",
        f"- total: **{total:.1f} s** (1-min load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
        "the CPUs are shared with other jobs, so repeated runs vary)",
        "",
        "| step | seconds |",
        "|---|---|",
        *[f"| {name} | {sec:.2f} |" for name, sec in timings],
        "",
    ]
    write_text(args.results, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
