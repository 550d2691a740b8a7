"""Ablation: CardioMM with and without temporal context (adjacent cine frames as input channels).

Both variants get the same data (cine of the default cohort's train/val subjects), seed, architecture and step
budget; they differ only in ``temporal_context`` (0 vs 1). They are then evaluated on the held-out test
subjects' cine at the paper's three masks against the fully sampled reference (the undersampled files of
``make run`` are reused, so run that first).

    python benchmarks/ablation_temporal.py [--epochs 2] [--steps 300]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.acquisition import Acquisition  # noqa: E402
from cardiomm.compare.image_quality import frame_metrics  # noqa: E402
from cardiomm.io.cmrxrecon import read_kspace, read_mask, read_recon  # noqa: E402
from cardiomm.recon.learned.infer import reconstruct_series  # noqa: E402
from cardiomm.recon.learned.model_files import load_model  # noqa: E402
from cardiomm.recon.learned.training_task import train_model  # noqa: E402
from cardiomm.workflow import plan_from_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--cohort", default="synthetic")
    args = ap.parse_args()
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    plan = plan_from_config(cfg, REPO)
    train = [s for s in plan.everyone if s.split == "train"]
    val = [s for s in plan.everyone if s.split == "val"]
    test = [s for s in plan.subjects if s.split == "test"]
    base = dict(cfg["train"]["cardiomm"]["model"])
    tcfg = {**cfg["train"]["cardiomm"]["train"], "epochs": args.epochs, "steps_per_epoch": args.steps}
    out_dir = REPO / "results" / "ablation"
    res = REPO / "results" / args.cohort
    rows, meta_rows = [], []
    for k in (0, 1):
        ckpt = out_dir / f"cardiomm_tc{k}.pt"
        if not ckpt.exists():
            m = train_model("cardiomm", {**base, "temporal_context": k}, tcfg, train, val, ["cine"], ckpt,
                            out_dir / f"tc{k}_logs", progress=False)
            meta_rows.append({"temporal_context": k, **{x: m[x] for x in ("n_parameters", "steps", "seconds",
                                                                          "val_ssim", "val_psnr")}})
        model, _ = load_model(ckpt, arch="cardiomm")
        for s in test:
            ref = read_recon(res / "recon" / "reference" / "full" / s.id / "cine.mat")
            for mk in cfg["masks"]:
                kus = read_kspace(res / "undersampled" / s.id / f"cine_sax_kus_{mk}.mat", key="kus")
                mask = read_mask(res / "undersampled" / s.id / f"cine_sax_mask_{mk}.mat")
                acq = Acquisition.from_arrays(kus, mask, mk, meta={**s.meta, "modality": "cine"})
                img = reconstruct_series(model, acq)
                for r in frame_metrics(ref, img):
                    rows.append({"temporal_context": k, "subject": s.id, "mask": mk, **r})
    df = pd.DataFrame(rows)
    g = df.groupby(["mask", "temporal_context"])[["psnr", "ssim", "nmse"]].mean().round(4).reset_index()
    load = os.getloadavg()
    lines = [
        "# Ablation: temporal context in CardioMM (cine)", "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, torch {torch.__version__}, load {load[0]:.2f}",
        f"- command: `python benchmarks/ablation_temporal.py --epochs {args.epochs} --steps {args.steps}`",
        f"- both variants: model {base}, {args.epochs} x {args.steps} steps, seed {tcfg.get('seed', 0)}, cine of "
        f"{len(train)} train / {len(val)} val subjects; evaluated on {len(test)} test subjects "
        f"({len(df) // 2} frame rows each)", "",
        "| mask | temporal context | PSNR (dB) | SSIM | NMSE |", "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r['mask']} | {r['temporal_context']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['nmse']:.4f} |"
              for _, r in g.iterrows()]
    if meta_rows:
        lines += ["", "Training: " + "; ".join(f"tc={m['temporal_context']}: {m['n_parameters']} parameters, "
                                             f"{m['steps']} steps, {m['seconds']:.0f} s" for m in meta_rows)]
    diff = g.pivot(index="mask", columns="temporal_context", values="psnr")
    lines += ["", "PSNR gain of temporal context per mask (dB): "
              + ", ".join(f"{mk} {d:+.2f}" for mk, d in (diff[1] - diff[0]).items()),
              "", "A short, equal budget for both: this measures the effect of the input, not converged models."]
    (REPO / "benchmarks" / "results" / "ablation_temporal.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
