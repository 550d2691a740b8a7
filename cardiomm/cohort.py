"""A cohort on disk: where each subject's files are, its scan metadata and geometry.

Layout (CMRxRecon 2024 style; the synthetic generator writes exactly this)::

    <root>/subjects.csv                                         one row per subject (see SUBJECT_COLUMNS)
    <root>/MultiCoil/Cine/TrainingSet/FullSample/<subject>/cine_sax.mat
    <root>/MultiCoil/Mapping/TrainingSet/FullSample/<subject>/T1map.mat   + T1map.csv (timing, ms)
                                                              T2map.mat   + T2map.csv
                                                              T1rhomap.mat + T1rhomap.csv
    <root>/GroundTruth/<subject>/<modality>_label.nii.gz        synthetic only: true labels
    <root>/GroundTruth/<subject>/truth.csv                      synthetic only: true indicators

For real CMRxRecon data without ``subjects.csv``, :func:`load_cohort` discovers subjects from the
folders and takes metadata and geometry from the config's ``defaults``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from cardiomm.conventions import MODALITIES, SPLITS, modality
from cardiomm.io.nifti import Geometry

SUBJECT_COLUMNS = (
    "subject", "split", "centre", "vendor", "scanner", "field_strength_T", "disease",
    "heart_rate_bpm", "dx_mm", "dy_mm", "thickness_mm", "gap_mm", "frame_interval_s", "view", "map_spacing_mm",
)


@dataclass(frozen=True)
class Subject:
    """One subject of a cohort.

    Attributes
    ----------
    id: subject folder name, e.g. ``P001``.
    root: cohort root folder.
    split: one of ``train``, ``val``, ``test``, ``external``.
    meta: scan metadata (centre, vendor, scanner, field_strength_T, view, disease, heart_rate_bpm).
    geometry: voxel geometry of the cine stack (mapping series share dx, dy, thickness).
    """

    id: str
    root: Path
    split: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    geometry: Geometry = Geometry(1.0, 1.0, 8.0, 2.0, 0.04)

    def kspace_path(self, mod: str) -> Path:
        """Fully sampled k-space file of modality ``mod``."""
        m = modality(mod)
        return self.root / "MultiCoil" / m.family / "TrainingSet" / "FullSample" / self.id / f"{m.stem}.mat"

    def timing_path(self, mod: str) -> Path:
        """Timing CSV of a mapping modality (inversion / prep / spin-lock times, ms)."""
        p = self.kspace_path(mod)
        return p.with_suffix(".csv")

    def label_path(self, mod: str) -> Path:
        """Ground-truth label NIfTI (synthetic cohorts only)."""
        return self.root / "GroundTruth" / self.id / f"{mod}_label.nii.gz"

    def truth_path(self) -> Path:
        """Ground-truth indicator CSV (synthetic cohorts only)."""
        return self.root / "GroundTruth" / self.id / "truth.csv"

    def geometry_for(self, mod: str) -> Geometry:
        """Geometry of modality ``mod``: the cine geometry, or for mapping series the same pixels and
        thickness with the mapping slice spacing (``map_spacing_mm``) and no frame interval."""
        if modality(mod).kind == "cine":
            return self.geometry
        g = self.geometry
        spacing = float(self.meta.get("map_spacing_mm") or g.spacing)
        return Geometry(g.dx, g.dy, g.thickness, spacing - g.thickness, 0.0)

    def has(self, mod: str) -> bool:
        return self.kspace_path(mod).exists()


def subject_from_row(root: Path, row: dict) -> Subject:
    """Build a :class:`Subject` from one ``subjects.csv`` row (all values as strings)."""
    split = row["split"]
    if split not in SPLITS:
        raise ValueError(f"{root / 'subjects.csv'}: subject {row['subject']}: unknown split {split!r}")
    geom = Geometry(
        float(row["dx_mm"]), float(row["dy_mm"]), float(row["thickness_mm"]), float(row["gap_mm"]),
        float(row["frame_interval_s"]),
    )
    meta = {
        "centre": row.get("centre", "unknown"),
        "vendor": row.get("vendor", "unknown"),
        "scanner": row.get("scanner", "unknown"),
        "field_strength_T": float(row.get("field_strength_T") or "nan"),
        "view": row.get("view", "sax"),
        "disease": row.get("disease", "unknown"),
        "heart_rate_bpm": float(row.get("heart_rate_bpm") or "nan"),
        "map_spacing_mm": float(row.get("map_spacing_mm") or row["thickness_mm"]) if row.get("map_spacing_mm")
        else float(row["thickness_mm"]) + float(row["gap_mm"]),
    }
    return Subject(row["subject"], root, split, meta, geom)


def write_subjects_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write ``subjects.csv`` rows (dicts with :data:`SUBJECT_COLUMNS` keys) atomically."""
    from cardiomm.atomic import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SUBJECT_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in SUBJECT_COLUMNS})


def load_cohort(root: str | os.PathLike, defaults: dict | None = None) -> list[Subject]:
    """All subjects of a cohort, sorted by id.

    Reads ``<root>/subjects.csv`` when present; otherwise discovers subject folders under
    ``MultiCoil/*/TrainingSet/FullSample`` and fills metadata/geometry from ``defaults``
    (keys as in :data:`SUBJECT_COLUMNS`; every discovered subject gets split ``test``).
    """
    root = Path(root)
    table = root / "subjects.csv"
    if table.exists():
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh))
        missing = [c for c in ("subject", "split", "dx_mm", "dy_mm", "thickness_mm", "gap_mm", "frame_interval_s")
                   if rows and c not in rows[0]]
        if missing:
            raise ValueError(f"{table}: missing columns {missing}")
        return sorted((subject_from_row(root, r) for r in rows), key=lambda s: s.id)
    if defaults is None:
        raise FileNotFoundError(f"{table} does not exist and no metadata defaults were given in the config")
    ids: set[str] = set()
    for fam in {m.family for m in MODALITIES.values()}:
        base = root / "MultiCoil" / fam / "TrainingSet" / "FullSample"
        if base.is_dir():
            ids |= {p.name for p in base.iterdir() if p.is_dir()}
    if not ids:
        raise FileNotFoundError(f"{root}: no subjects found under MultiCoil/*/TrainingSet/FullSample/")
    rows = [{**{k: str(v) for k, v in defaults.items()}, "subject": i, "split": "test"} for i in sorted(ids)]
    return [subject_from_row(root, r) for r in rows]
