"""How much of each method's mapping ROI lies inside the true myocardium: consensus ROI vs global ROI.

Goal (issue 30): >= 95% of the consensus ROI's pixels (the headline's ROI, :mod:`cardiomm.quantify.roi`) lie
inside the true LV myocardium, for every method x mask, on the method's own segmentation (end to end). Before
issue 30 the biomarker ROI was the global one-pixel-eroded myocardium, whose own-label version was 69-100%
inside.

It reads a finished run (``make run`` / ``snakemake``; the label maps under ``results/<cohort>/seg/`` and the
phantom's true labels under ``data/<cohort>/GroundTruth/``): no reconstruction or segmentation is re-run, the ROI
code is the quantify stage's (:func:`cardiomm.quantify.roi.roi_masks`). Pixels are pooled over subjects and the
three mapping series per method x mask; the worst single series is shown too.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_consensus_roi.py [--config config.yaml]``; writes
``benchmarks/results/consensus_roi.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cardiomm.atomic import write_text
from cardiomm.conventions import FULLY_SAMPLED, LV_MYO, REFERENCE
from cardiomm.io.nifti import load_image
from cardiomm.provenance import cpu_name
from cardiomm.quantify.roi import CONSENSUS, GLOBAL, roi_masks
from cardiomm.workflow import plan_from_config

GOAL = 0.95


def series_rows(plan, method: str, mask: str, sid: str, mod: str, truth: np.ndarray) -> list[dict]:
    labels, geom = load_image(plan.seg(method, mask, sid, mod))
    masks, reasons = roi_masks(labels.astype(np.uint8), geom)
    rows = []
    for roi in (CONSENSUS, GLOBAL):
        m = masks[roi]
        rows.append({"method": method, "mask": mask, "subject": sid, "modality": mod, "roi": roi,
                     "pixels": int(m.sum()), "inside": int((truth[m] == LV_MYO).sum()),
                     "reason": reasons.get(roi, "")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config.yaml", help="the run's workflow config")
    ap.add_argument("--results", default="benchmarks/results/consensus_roi.md")
    args = ap.parse_args()
    t0 = time.time()
    plan = plan_from_config(yaml.safe_load(Path(args.config).read_text()))
    if not plan.synthetic:
        raise SystemExit(f"{args.config}: the true labels exist for synthetic cohorts only")
    rows = []
    for s in plan.seg_subjects:
        for mod in plan.mapping_modalities(s.id):
            truth = load_image(s.label_path(mod))[0][0]
            for method in [REFERENCE, *plan.methods]:
                for mask in plan.masks_for(method):
                    rows += series_rows(plan, method, mask, s.id, mod, truth)
    df = pd.DataFrame(rows)
    df["fraction"] = df["inside"] / df["pixels"].where(df["pixels"] > 0)
    pooled = df.groupby(["method", "mask", "roi"], sort=False).agg(
        pixels=("pixels", "sum"), inside=("inside", "sum"), worst_series=("fraction", "min"),
        empty_series=("pixels", lambda p: int((p == 0).sum())), series=("pixels", "size")).reset_index()
    pooled["inside_fraction"] = pooled["inside"] / pooled["pixels"]
    wide = pooled.pivot_table(index=["method", "mask"], columns="roi", values=["inside_fraction", "worst_series",
                                                                              "empty_series"], sort=False)
    cons = pooled[pooled["roi"] == CONSENSUS]
    met = bool((cons["inside_fraction"] >= GOAL).all())
    lines = [
        "# Consensus ROI inside the true myocardium, per method x mask (own segmentation)",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python {' '.join(sys.argv)}`",
        f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; {time.time() - t0:.0f} s",
        f"- run: cohort `{plan.cohort}` ({len(plan.seg_subjects)} subjects: "
        f"{', '.join(s.id for s in plan.seg_subjects)}), methods {', '.join(plan.methods)}, masks "
        f"{', '.join(plan.masks)}; label maps of that run, true labels of the phantom",
        f"- goal: >= {GOAL:.0%} of the consensus ROI's pixels inside the true LV myocardium for every method x mask: "
        f"{'met' if met else 'NOT met'} (lowest {cons['inside_fraction'].min():.1%}, "
        f"{cons.loc[cons['inside_fraction'].idxmin(), 'method']} {cons.loc[cons['inside_fraction'].idxmin(), 'mask']})",
        f"- series without a consensus value (ROI under the minimum size): {int(cons['empty_series'].sum())} of "
        f"{int(cons['series'].sum())}",
        "",
        "Inside fraction, pooled over subjects and series (worst single series):",
        "",
        "| method | mask | consensus | global (one-pixel erosion) | consensus series without a value |",
        "|---|---|---|---|---|",
    ]
    for (method, mask), r in wide.iterrows():
        lines.append(f"| {method} | {mask} | {r[('inside_fraction', CONSENSUS)]:.1%} "
                     f"({r[('worst_series', CONSENSUS)]:.1%}) | {r[('inside_fraction', GLOBAL)]:.1%} "
                     f"({r[('worst_series', GLOBAL)]:.1%}) | {int(r[('empty_series', CONSENSUS)])} |")
    reasons = df[(df["roi"] == CONSENSUS) & (df["reason"] != "")]
    if len(reasons):
        lines += ["", "Consensus ROIs without a value:", "",
                  reasons[["method", "mask", "subject", "modality", "reason"]].to_markdown(index=False)]
    lines += ["", f"(`{FULLY_SAMPLED}` = the fully sampled reference.)", ""]
    write_text(args.results, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
