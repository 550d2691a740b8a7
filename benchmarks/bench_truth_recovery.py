"""Does the gauge recover the truth on fully sampled images? The reference's indicators vs the phantom truth.

Goal (issue 30, item 3; :data:`cardiomm.compare.truth_recovery.GOALS`), on the fully sampled reference of a
synthetic cohort against the phantom truth: LVEF |mean bias| <= 1 point with both 95% limits of agreement within
+-3 points; LV and RV volumes <= 3 mL; LVM <= 3 g; WT <= 0.3 mm; T1 <= 10 ms; T2 and T1rho <= 1 ms (biomarkers
on the consensus ROI). Also the Dice per class at the true ED and ES frames against the true labels.

It reads a finished run (``make run`` / ``snakemake --configfile ...``): the reference and truth rows of
``tables/phenotypes.csv`` and ``tables/biomarkers.csv``, the reference's cine label maps under
``results/<cohort>/seg/reference/`` and the phantom's true labels. Nothing is re-run.

Usage::

    python benchmarks/bench_truth_recovery.py --config config.yaml [--config overlay.yaml ...] \
        [--results benchmarks/results/truth_recovery.md]

``--config`` files are merged in order, as Snakemake merges ``--configfile``s.
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
from cardiomm.compare.truth_recovery import differences, recovery_summary
from cardiomm.conventions import FULLY_SAMPLED, REFERENCE
from cardiomm.io.nifti import load_image
from cardiomm.provenance import cpu_name
from cardiomm.segmentation.metrics import phase_dice
from cardiomm.workflow import plan_from_config


def merged(paths: list[str]) -> dict:
    def update(a: dict, b: dict) -> dict:
        for k, v in b.items():
            a[k] = update(dict(a[k]), v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
        return a

    cfg: dict = {}
    for p in paths:
        cfg = update(cfg, yaml.safe_load(Path(p).read_text()) or {})
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", help="the run's workflow config(s), in order")
    ap.add_argument("--results", default="benchmarks/results/truth_recovery.md")
    ap.add_argument("--command", default="", help="the command that made the run (recorded in the report)")
    args = ap.parse_args()
    t0 = time.time()
    plan = plan_from_config(merged(args.config or ["config.yaml"]))
    if not plan.synthetic:
        sys.exit("bench_truth_recovery: needs a synthetic cohort (the phantom's truth)")
    tables = Path(plan.res) / "tables"
    rows = pd.concat([pd.read_csv(tables / "phenotypes.csv"), pd.read_csv(tables / "biomarkers.csv")])
    diff = differences(rows)
    summary = recovery_summary(diff)
    dice = []
    for s in plan.subjects:
        pred, _ = load_image(plan.seg(REFERENCE, FULLY_SAMPLED, s.id, "cine"))
        truth, _ = load_image(s.label_path("cine"))
        dice.append({"subject": s.id, **phase_dice(pred.astype(np.uint8), truth.astype(np.uint8))})
    dice_df = pd.DataFrame(dice).set_index("subject")

    fmt = {"mean_bias": "{:+.2f}", "sd": "{:.2f}", "loa_lo": "{:+.2f}", "loa_hi": "{:+.2f}", "min": "{:+.2f}",
           "max": "{:+.2f}"}
    shown = summary.copy()
    for c, f in fmt.items():
        shown[c] = shown[c].map(f.format)
    shown["met"] = shown["met"].map({True: "met", False: "NOT met"})
    per_subject = diff.pivot_table(index="indicator", columns="subject", values="difference")
    per_subject = per_subject.reindex([i for i in summary["indicator"] if i in per_subject.index])
    n_met = int(summary["met"].sum())
    lines = [
        "# Truth recovery: the fully sampled reference vs the phantom truth",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; this report {time.time() - t0:.0f} s",
        f"- run: cohort `{plan.cohort}`, {len(plan.subjects)} subjects ({', '.join(s.id for s in plan.subjects)})"
        + (f"; made by `{args.command}`" if args.command else ""),
        f"- report: `python benchmarks/bench_truth_recovery.py {' '.join('--config ' + c for c in args.config or [])}`",
        "- compared: method `reference` (own segmentation) minus `truth`, per subject; biomarkers on the consensus "
        "ROI; bias = mean difference, LoA = bias +- 1.96 SD",
        f"- goals (issue 30, item 3): **{n_met} of {len(summary)} met**",
        "",
        shown.to_markdown(index=False),
        "",
        "## Per subject (reference - truth)",
        "",
        per_subject.round(2).to_markdown(),
        "",
        "## Dice against the true labels at the true ED and ES frames (reference cine)",
        "",
        dice_df.round(4).to_markdown(),
        "",
        "Mean: " + ", ".join(f"{k} {v:.4f}" for k, v in dice_df.mean().items()),
        "",
    ]
    write_text(args.results, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
