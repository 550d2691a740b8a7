"""Benchmark: does the training budget change the ranking of the trained networks?

Goal: CardioMM-style leads E2E-VarNet by >= 0.5 dB PSNR at every paper mask, at two equal
budgets for both networks, so that the comparison does not depend on which budget was picked.

The study compares two complete runs of the default workflow that differ only in the ``train:`` budget of the
networks (same data, seeds, masks and segmenter):

1. the *long* run: this checkout's shipped weights (``config.yaml`` budget) and a ``make run`` with them;
2. the *short* run: a scratch clone whose ``config.yaml`` halves ``epochs`` and ``step_size`` for the networks
   and points ``models.<net>`` at ``results/training/<net>.pt``, so that its ``make run`` trains them first.

    python benchmarks/training_budget.py --short /tmp/tb --short-models results/training \\
        --long /tmp/mr2 --long-models cardiomm/weights [--nets cardiomm varnet]

It reads each run's checkpoints (validation metrics, steps, seconds), ``tables/image_quality.csv`` (mean PSNR and
SSIM over all frames per split and mask) and ``tables/agreement.csv`` (audit verdict counts), and writes
``benchmarks/results/training_budget.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.methods import method  # noqa: E402
from cardiomm.recon.learned.model_files import read_checkpoint  # noqa: E402

PAPER_MASKS = ("Uniform8", "ktGaussian16", "ktRadial24")


def _run(root: Path, models: str, nets: list[str], cohort: str) -> dict:
    res = root / "results" / cohort / "tables"
    cards = {n: read_checkpoint(root / models / f"{n}.pt") for n in nets}
    iq = pd.read_csv(res / "image_quality.csv")
    agr = pd.read_csv(res / "agreement.csv")
    steps = {n: int(c["metrics"]["steps"]) for n, c in cards.items()}
    return {"cards": cards, "iq": iq, "agr": agr, "steps": steps}


def _label(run: dict, net: str) -> str:
    return f"{method(net).label} {run['steps'][net]:,}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", type=Path, required=True, help="checkout of the short-budget run")
    ap.add_argument("--short-models", default="results/training", help="its checkpoint folder (relative)")
    ap.add_argument("--long", type=Path, default=REPO, help="checkout of the long-budget run")
    ap.add_argument("--long-models", default="cardiomm/weights", help="its checkpoint folder (relative)")
    ap.add_argument("--nets", nargs="+", default=["cardiomm", "varnet"])
    ap.add_argument("--cohort", default="synthetic")
    ap.add_argument("--comparator", default="reference", help="the audit's comparator (audit.comparator)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "training_budget.md")
    args = ap.parse_args()
    runs = [_run(args.short, args.short_models, args.nets, args.cohort),
            _run(args.long, args.long_models, args.nets, args.cohort)]
    for net in args.nets:
        if runs[0]["steps"][net] >= runs[1]["steps"][net]:
            sys.exit(f"training_budget: the short run's {net} has {runs[0]['steps'][net]} steps, not fewer than "
                     f"the long run's {runs[1]['steps'][net]}: check --short / --long")
    load = os.getloadavg()
    lines = [
        "# Training budget: short vs long optimiser budgets for the trained networks", "",
        "Goal: CardioMM-style leads E2E-VarNet by >= 0.5 dB PSNR at every paper mask, at both budgets.", "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, load {load[0]:.2f}",
        f"- command: `python benchmarks/training_budget.py --short {args.short} --short-models {args.short_models} "
        f"--long {args.long} --long-models {args.long_models}` after a `make run` in each checkout "
        "(the short one with halved `epochs` and `step_size` for the networks and `models.<net>` pointing at "
        "`results/training/<net>.pt`, so its `make run` trained them)",
        "- both runs: same data, seed, masks, segmenter and loss; only the number of optimiser steps differs", "",
        "## Training (checkpoint metadata)", "",
        "| network | steps | LR step every (epochs) | parameters | train seconds | val SSIM | val PSNR (dB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for net in args.nets:
        for run in runs:
            c = run["cards"][net]
            m = c["metrics"]
            lines.append(f"| {method(net).label} | {m['steps']:,} | {c['train_config']['step_size']} | "
                         f"{m['n_parameters']:,} | {m['seconds']:.0f} | {m['val_ssim']:.3f} | {m['val_psnr']:.2f} |")
    leads: list[tuple[str, str, int, float]] = []
    for split, title in (("test", "Held-out test subjects"), ("external", "External-centre subjects")):
        cols = [(run, net) for net in args.nets for run in runs]
        lines += ["", f"## {title}: mean over all frames of every modality (PSNR dB / SSIM)", "",
                  "| mask | " + " | ".join(_label(r, n) for r, n in cols) + " |",
                  "| --- |" + " --- |" * len(cols)]
        for mk in PAPER_MASKS:
            cells = []
            for run, net in cols:
                d = run["iq"][(run["iq"].split == split) & (run["iq"]["mask"] == mk) & (run["iq"].method == net)]
                cells.append("n/a" if d.empty else f"{d.psnr.mean():.2f} / {d.ssim.mean():.4f}")
            lines.append(f"| {mk} | " + " | ".join(cells) + " |")
            if {"cardiomm", "varnet"} <= set(args.nets):
                for i, run in enumerate(runs):
                    q = run["iq"][(run["iq"].split == split) & (run["iq"]["mask"] == mk)]
                    gap = (q[q.method == "cardiomm"].psnr.mean() - q[q.method == "varnet"].psnr.mean())
                    leads.append((split, mk, i, float(gap)))
    lines += ["", f"## Audit against the {args.comparator}: indicators preserved / not preserved / inconclusive", "",
              "| network | budget | " + " | ".join(PAPER_MASKS) + " |", "| --- | --- |" + " --- |" * len(PAPER_MASKS)]
    for net in args.nets:
        for run in runs:
            cells = []
            for mk in PAPER_MASKS:
                a = run["agr"]
                v = a[(a.method == net) & (a["mask"] == mk) & (a.comparator == args.comparator)].verdict
                cells.append(f"{(v == 'preserved').sum()} / {(v == 'not preserved').sum()} / "
                             f"{(v == 'inconclusive').sum()}")
            lines.append(f"| {method(net).label} | {run['steps'][net]:,} | " + " | ".join(cells) + " |")
    if leads:
        lines += ["", "## Goal", "",
                  "CardioMM-style minus E2E-VarNet PSNR (dB) per split, mask and budget:", "",
                  "| split | mask | short budget | long budget |", "| --- | --- | --- | --- |"]
        by = {(s, m, i): g for s, m, i, g in leads}
        for split in ("test", "external"):
            for mk in PAPER_MASKS:
                lines.append(f"| {split} | {mk} | {by[(split, mk, 0)]:+.2f} | {by[(split, mk, 1)]:+.2f} |")
        met = all(g >= 0.5 for *_, g in leads)
        lines += ["", f"Goal (lead >= 0.5 dB at every mask and split, both budgets): **{'met' if met else 'not met'}** "
                      f"(smallest lead {min(g for *_, g in leads):+.2f} dB)."]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
