"""Benchmark: the k-t Net against the best classical method and the other networks, cohort means (issue 28 item 2).

Reads a finished run's image-quality table (``results/<cohort>/tables/image_quality.csv``: every frame of every
modality of the evaluated subjects) and its recon jobs' Snakemake benchmark files (``benchmarks/runs/<cohort>/recon``),
and writes per split x mask x method: mean PSNR / SSIM over subjects (each subject's mean over its frames first, so a
subject with more frames does not weigh more) with a t-based 95% CI over subjects where n >= 2, and CPU seconds per
frame of the recon jobs. Then the issue's goal, per split and mask: k-t Net >= best classical method + 1.0 dB PSNR and
+ 0.03 SSIM (classical: :data:`cardiomm.methods.CLASSICAL` present in the table), and k-t Net >= PromptMR+ in PSNR,
with both networks' parameter counts (read from their checkpoints).

    python benchmarks/bench_ktnet.py --cohort synthetic --command "snakemake ... image_quality.csv"

Writes ``benchmarks/results/ktnet.md`` (machine, command, date, the numbers, each goal met or not).
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
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.atomic import write_text  # noqa: E402
from cardiomm.costs import read_benchmarks  # noqa: E402
from cardiomm.methods import CLASSICAL, METHODS, label  # noqa: E402

GOAL_DB, GOAL_SSIM = 1.0, 0.03
NET = "ktnet"


def subject_means(iq: pd.DataFrame) -> pd.DataFrame:
    """One row per split x mask x method x subject: the mean PSNR / SSIM over the subject's frames, and their count."""
    return (iq.groupby(["split", "mask", "method", "subject"])
              .agg(psnr=("psnr", "mean"), ssim=("ssim", "mean"), frames=("psnr", "size")).reset_index())


def ci95(x: np.ndarray) -> float:
    """Half-width of the t-based 95% CI of the mean of ``x`` (NaN for n < 2)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))


def summary(iq: pd.DataFrame, cpu: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per split x mask x method: ``n`` subjects, ``psnr``, ``psnr_ci``, ``ssim``, ``ssim_ci``, ``cpu_s_per_frame``."""
    per = subject_means(iq)
    rows = []
    for (split, mask, method), g in per.groupby(["split", "mask", "method"]):
        row = {"split": split, "mask": mask, "method": method, "n": len(g), "psnr": g["psnr"].mean(),
               "psnr_ci": ci95(g["psnr"]), "ssim": g["ssim"].mean(), "ssim_ci": ci95(g["ssim"]),
               "frames": int(g["frames"].sum()), "cpu_s_per_frame": float("nan")}
        if cpu is not None:
            c = cpu[(cpu["method"] == method) & (cpu["mask"] == mask) & cpu["subject"].isin(g["subject"])]
            if len(c) == len(g):  # every subject's job found
                row["cpu_s_per_frame"] = float(c["cpu_time"].sum() / g["frames"].sum())
        rows.append(row)
    order = {m: i for i, m in enumerate(METHODS)}
    return pd.DataFrame(rows).sort_values(["split", "mask", "method"],
                                          key=lambda c: c.map(order) if c.name == "method" else c)


def goals(table: pd.DataFrame) -> list[dict]:
    """Per split and mask: the best classical method (highest mean PSNR), the k-t Net's margins and the verdicts."""
    out = []
    for (split, mask), g in table.groupby(["split", "mask"]):
        g = g.set_index("method")
        if NET not in g.index:
            continue
        classical = g[g.index.isin(list(CLASSICAL))]
        best = classical["psnr"].idxmax() if len(classical) else None
        row = {"split": split, "mask": mask, "best_classical": best}
        if best is not None:
            row["d_psnr"] = g.loc[NET, "psnr"] - g.loc[best, "psnr"]
            row["d_ssim"] = g.loc[NET, "ssim"] - classical["ssim"].max()
            row["met"] = bool(row["d_psnr"] >= GOAL_DB and row["d_ssim"] >= GOAL_SSIM)
        if "promptmr" in g.index:
            row["d_promptmr"] = g.loc[NET, "psnr"] - g.loc["promptmr", "psnr"]
        out.append(row)
    return out


def _params(path: Path, arch: str) -> int | None:
    if not path.exists():
        return None
    from cardiomm.recon.learned.model_files import load_any
    from cardiomm.recon.learned.networks.blocks import count_parameters

    model, _ = load_any(path, arch)
    return count_parameters(model)  # trainable, as the model cards count


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", default="synthetic")
    ap.add_argument("--command", required=True, help="the command that made the run (recorded)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ktnet.md")
    args = ap.parse_args()
    iq_path = REPO / "results" / args.cohort / "tables" / "image_quality.csv"
    iq = pd.read_csv(iq_path)
    if NET not in set(iq["method"]):
        sys.exit(f"{iq_path}: no {NET} rows; run the workflow with {NET} in methods")
    runs = REPO / "benchmarks" / "runs" / args.cohort
    bench = read_benchmarks(runs) if runs.exists() else None
    cpu = None if bench is None else bench[bench["stage"] == "recon"]
    table = summary(iq, cpu)
    res = goals(table)
    n_net = _params(REPO / "cardiomm" / "weights" / "ktnet.pt", NET)
    n_pmr = _params(REPO / "cardiomm" / "weights" / "promptmr.pt", "promptmr")

    lines = ["# k-t Net against the best classical method and the networks: cohort means", "",
             f"- date (UTC): {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
             f"- run: `{args.command}`; this table: `python benchmarks/bench_ktnet.py {' '.join(sys.argv[1:])}`",
             f"- machine: {platform.platform()}, os.cpu_count()={os.cpu_count()}, CPU only",
             f"- data: `{iq_path.relative_to(REPO)}`: every frame of every modality of each evaluated subject; PSNR / "
             "SSIM per frame against the fully sampled RSS (the workflow's metric); each subject's mean over its "
             "frames, then the mean over subjects with a t-based 95% CI (n >= 2); CPU s per frame = the recon jobs' "
             "CPU time (`benchmarks/runs/`) / frames",
             f"- parameters: k-t Net {n_net:,}, PromptMR+ {n_pmr:,}" if n_net and n_pmr else "- parameters: -",
             "", f"Goal (issue 28): at every mask, k-t Net >= best classical + {GOAL_DB} dB PSNR and "
             f">= + {GOAL_SSIM} SSIM, and >= PromptMR+ (similar parameter count).", "",
             "| split | mask | method | n | PSNR (dB) | SSIM | CPU s/frame |",
             "| --- | --- | --- | --- | --- | --- | --- |"]

    def pm(v: float, ci: float, fmt: str) -> str:
        return f"{v:{fmt}}" + ("" if np.isnan(ci) else f" ± {ci:{fmt}}")

    for _, r in table.iterrows():
        lines.append(f"| {r['split']} | {r['mask']} | {label(r['method'])} | {r['n']} | "
                     f"{pm(r['psnr'], r['psnr_ci'], '.2f')} | {pm(r['ssim'], r['ssim_ci'], '.3f')} | "
                     f"{r['cpu_s_per_frame']:.3f} |")
    lines += ["", "| split | mask | best classical | k-t Net - it, PSNR dB | k-t Net - best classical SSIM | goal | "
              "k-t Net - PromptMR+, PSNR dB |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in res:
        lines.append(f"| {r['split']} | {r['mask']} | {label(r['best_classical']) if r['best_classical'] else '-'} | "
                     f"{r.get('d_psnr', float('nan')):+.2f} | {r.get('d_ssim', float('nan')):+.3f} | "
                     f"{'met' if r.get('met') else 'NOT met'} | {r.get('d_promptmr', float('nan')):+.2f} |")
    lines += ["", "Per modality (mean over every frame of the split's subjects), PSNR dB / SSIM:", ""]
    mods = sorted(iq["modality"].unique(), key=lambda m: (m != "cine", m))
    by = iq.groupby(["split", "mask", "method", "modality"])[["psnr", "ssim"]].mean()
    lines += ["| split | mask | method | " + " | ".join(mods) + " |", "| --- | --- | --- |" + " --- |" * len(mods)]
    for split, mask, method in table[["split", "mask", "method"]].itertuples(index=False):
        cells = [f"{by.loc[(split, mask, method, m), 'psnr']:.2f} / {by.loc[(split, mask, method, m), 'ssim']:.3f}"
                 if (split, mask, method, m) in by.index else "-" for m in mods]
        lines.append(f"| {split} | {mask} | {label(method)} | " + " | ".join(cells) + " |")
    met = [r.get("met", False) for r in res]
    lines += ["", f"**Goal against the best classical method: {'met' if met and all(met) else 'NOT met'}** "
              f"({sum(met)} of {len(met)} split x mask cells); k-t Net >= PromptMR+ in "
              f"{sum(r.get('d_promptmr', -1) >= 0 for r in res)} of {len(res)} cells.", ""]
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
