"""Benchmark: segmentation accuracy on held-out subjects and CPU inference time per 2D frame.

Accuracy comes from ``results/<cohort>/tables/segmentation.csv`` (written by ``make run``): Dice and HD95 of the
shipped segmenter against the phantom's labels, on the fully sampled reference (the targets: Dice >= 0.95 LV,
>= 0.90 myocardium, >= 0.93 RV) and on every method x mask. Time: ``segment_series`` on one reference cine.

    python benchmarks/bench_segmentation.py [--cohort synthetic]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.io.nifti import load_image  # noqa: E402
from cardiomm.segmentation.infer import segment_series  # noqa: E402
from cardiomm.segmentation.training_task import load_segmenter  # noqa: E402

CLASSES = ("lv_blood", "lv_myo", "rv_blood")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", default="synthetic")
    ap.add_argument("--model", default=str(REPO / "cardiomm" / "weights" / "segmentation.pt"))
    args = ap.parse_args()
    res = REPO / "results" / args.cohort
    seg = pd.read_csv(res / "tables" / "segmentation.csv")
    cols = [f"dice_{c}" for c in CLASSES] + [f"hd95_mm_{c}" for c in CLASSES]
    ref = seg[seg["method"] == "reference"].groupby(["split", "modality"])[cols].mean()
    acc = seg.groupby(["method", "mask"])[cols].mean()
    qc = seg.groupby(["method", "mask"])["qc_pass"].mean()

    model = load_segmenter(args.model)
    sid = sorted(seg["subject"].unique())[0]
    img, _ = load_image(res / "recon" / "reference" / "full" / sid / "cine.nii.gz")
    segment_series(model, img[:1, :1], source="warm-up")
    t = time.perf_counter()
    segment_series(model, img, source="timing")
    per_frame = (time.perf_counter() - t) / (img.shape[0] * img.shape[1])

    def md(df: pd.DataFrame) -> str:
        df = df.round(3).reset_index()
        head = "| " + " | ".join(df.columns) + " |"
        sep = "|" + "---|" * len(df.columns)
        body = ["| " + " | ".join(str(v) for v in r) + " |" for r in df.itertuples(index=False)]
        return "\n".join([head, sep] + body)

    load = os.getloadavg()
    lines = [
        "# Segmentation: accuracy and speed", "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load[0]:.2f}",
        f"- command: `python benchmarks/bench_segmentation.py --cohort {args.cohort}`", "",
        "## On the fully sampled reference (held-out subjects)", "",
        "Targets: Dice >= 0.95 LV blood, >= 0.90 LV myocardium, >= 0.93 RV blood.", "", md(ref), "",
        "## Every method x mask (all evaluated subjects and modalities)", "", md(acc.join(qc)), "",
        f"## Speed\n\nCPU inference: {per_frame * 1000:.1f} ms per 2D frame ({img.shape[0]} frames x {img.shape[1]} "
        f"slices of {img.shape[2]}x{img.shape[3]}, including normalisation and connected-component cleanup).",
    ]
    out = REPO / "benchmarks" / "results" / "segmentation.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
