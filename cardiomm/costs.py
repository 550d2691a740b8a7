"""What each stage of a run cost: Snakemake's ``benchmark:`` files turned into one table.

Every heavy rule writes ``benchmarks/runs/<cohort>/<stage>[/<method>[/<mask>]]/<subject>.tsv`` (or
``<stage>.tsv`` for cohort-wide rules; a ``<mask>`` level for stages with one job per mask, e.g. ``recon``);
each holds one row of Snakemake's measurements: wall seconds ``s``,
``cpu_time`` (user + system seconds), ``max_rss`` (MB). :func:`stage_cost_table` groups them per stage and
method and divides by the 2D frames each job handled, so a per-frame cost inside the workflow can be compared
with the per-frame cost of a benchmark script.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

# stages whose jobs handle every mask of a method (the reference's single "mask" is the fully sampled data)
PER_MASK_STAGES = ("undersample", "coilmaps", "recon", "image_quality", "segment", "quantify")
# per-subject stages without a method whose jobs handle every mask
ALL_MASK_STAGES = ("undersample", "coilmaps")
COLUMNS = ["stage", "method", "jobs", "subjects", "wall_s_total", "wall_s_per_job", "wall_s_per_subject",
           "cpu_s_per_job", "frames_per_job", "wall_s_per_frame", "cpu_s_per_frame", "max_rss_mb"]


def read_benchmarks(runs_dir: str | Path) -> pd.DataFrame:
    """One row per benchmark file under ``runs_dir`` (= ``benchmarks/runs/<cohort>``).

    Returns columns ``stage, method, mask, subject, s, cpu_time, max_rss, file``; ``method`` is ``""`` for
    stages without a method, ``mask`` is ``""`` for jobs that handle every mask, ``subject`` is ``""`` for
    cohort-wide jobs. Files that are not Snakemake
    benchmark tables (no ``s`` column) raise ``ValueError`` naming the file.
    """
    root = Path(runs_dir)
    rows = []
    for f in sorted(root.rglob("*.tsv")):
        parts = f.relative_to(root).with_suffix("").parts
        stage = parts[0]
        method = parts[1] if len(parts) in (3, 4) else ""
        mask = parts[2] if len(parts) == 4 else ""
        subject = parts[-1] if len(parts) >= 2 else ""
        t = pd.read_csv(f, sep="\t")
        if "s" not in t.columns or t.empty:
            raise ValueError(f"{f}: not a Snakemake benchmark table (no 's' column or no row)")
        last = t.iloc[-1]  # with `repeat()` the last row is the last repetition; we never repeat
        rows.append({"stage": stage, "method": method, "mask": mask, "subject": subject, "s": float(last["s"]),
                     "cpu_time": float(last.get("cpu_time", np.nan)), "max_rss": float(last.get("max_rss", np.nan)),
                     "file": str(f)})
    return pd.DataFrame(rows, columns=["stage", "method", "mask", "subject", "s", "cpu_time", "max_rss", "file"])


def frames_of_job(stage: str, method: str, subject: str, frames_per_subject: Mapping[str, int],
                  n_masks: int, mask: str = "") -> float:
    """2D frames (``nt x nz`` summed over the modalities) one job handled; NaN when it is not per subject.
    A job of one ``mask`` handles one mask's frames; other per-mask stages handle every mask's."""
    if subject not in frames_per_subject:
        return float("nan")
    per_mask = frames_per_subject[subject]
    if mask:
        return float(per_mask)
    from cardiomm.methods import CONTROLS  # fully sampled like the reference: one "mask"

    per_mask_job = stage in ALL_MASK_STAGES or (stage in PER_MASK_STAGES and method not in ("", "reference",
                                                                                           *CONTROLS))
    return float(per_mask * n_masks) if per_mask_job else float(per_mask)


def stage_cost_table(bench: pd.DataFrame, frames_per_subject: Mapping[str, int], n_masks: int) -> pd.DataFrame:
    """Per stage x method: jobs, wall and CPU seconds per job / subject / 2D frame, peak RSS (MB).

    Parameters
    ----------
    bench: :func:`read_benchmarks` output.
    frames_per_subject: subject -> 2D frames of one mask (``sum over modalities of nt * nz``).
    n_masks: masks per method in the run.
    """
    if bench.empty:
        return pd.DataFrame(columns=COLUMNS)
    b = bench.copy()
    if "mask" not in b.columns:
        b["mask"] = ""
    b["frames"] = [frames_of_job(r.stage, r.method, r.subject, frames_per_subject, n_masks, r.mask)
                   for r in b.itertuples()]
    rows = []
    for (stage, method), g in b.groupby(["stage", "method"], sort=False):
        subjects = g.loc[g["subject"] != "", "subject"].nunique()  # a subject's jobs (one per mask) add up
        frames = g["frames"].mean() if g["frames"].notna().all() else np.nan
        rows.append({
            "stage": stage, "method": method, "jobs": len(g), "subjects": subjects,
            "wall_s_total": g["s"].sum(), "wall_s_per_job": g["s"].mean(),
            "wall_s_per_subject": g["s"].sum() / subjects if subjects else np.nan,
            "cpu_s_per_job": g["cpu_time"].mean(), "frames_per_job": frames,
            "wall_s_per_frame": (g["s"] / g["frames"]).mean() if np.isfinite(frames) else np.nan,
            "cpu_s_per_frame": (g["cpu_time"] / g["frames"]).mean() if np.isfinite(frames) else np.nan,
            "max_rss_mb": g["max_rss"].max(),
        })
    out = pd.DataFrame(rows, columns=COLUMNS)
    return out.sort_values("wall_s_total", ascending=False, kind="stable").reset_index(drop=True)


def markdown(table: pd.DataFrame, cores: int, header: str = "") -> str:
    """The cost table as markdown, with the total job-seconds and the lower bound of the run on ``cores``."""
    total = float(table["wall_s_total"].sum()) if len(table) else 0.0
    lines = [header] if header else []
    lines += [f"Sum over jobs: {total:.0f} job-seconds; on {cores} cores the run cannot take less than "
              f"{total / max(cores, 1) / 60:.1f} min.", ""]
    cols = list(table.columns)
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("| " + " | ".join("---" for _ in cols) + " |")
    for r in table.itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, float):
                cells.append("" if not np.isfinite(v) else (f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def frames_in_nifti(path: str | Path) -> int:
    """2D frames (``nt x nz``) of an image series NIfTI, from its header only (NIfTI axes ``x, y, z, t``)."""
    import nibabel as nib

    shape = nib.load(str(path)).shape
    if len(shape) < 3:
        raise ValueError(f"{path}: expected an (x, y, z[, t]) image series, got shape {shape}")
    return int(np.prod(shape[2:]))
