"""A cohort on disk: where each subject's files are, its scan metadata and geometry.

Layout ``generic`` (CMRxRecon 2024 style; the synthetic generator writes exactly this)::

    <root>/subjects.csv                                         one row per subject (see SUBJECT_COLUMNS)
    <root>/MultiCoil/Cine/TrainingSet/FullSample/<subject>/cine_sax.mat
                                                              cine_sax_rescan.mat  (a repeated acquisition: the
                                                              null control `rescan`; synthetic: evaluated subjects)
    <root>/MultiCoil/Mapping/TrainingSet/FullSample/<subject>/T1map.mat   + T1map.csv (timing, ms)
                                                              T2map.mat   + T2map.csv
                                                              T1rhomap.mat + T1rhomap.csv
    <root>/GroundTruth/<subject>/<modality>_label.nii.gz        synthetic only: true labels
    <root>/GroundTruth/<subject>/truth.csv                      synthetic only: true phenotypes
    <root>/GroundTruth/<subject>/<T1|T2|T1rho>_truth.nii.gz     synthetic only: true parameter maps (ms)

Real CMRxRecon releases (2023, 2024, 2025; :mod:`cardiomm.io.releases` knows their trees) are discovered from
the folders. Each subject's metadata and geometry come, per value, from the first of: a ``subjects.csv`` at the
root (any subset of :data:`SUBJECT_COLUMNS`, one row per subject id), the folder names (2025: centre, vendor, field
strength, scanner), the release's documentation (:data:`cardiomm.io.releases.RELEASE_META`), the config's
``data.defaults``; :attr:`Subject.sources` records which.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardiomm.conventions import MODALITIES, SPLITS, modality
from cardiomm.io import releases
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
    release: ``2023``, ``2024``, ``2025`` or ``generic`` (the layout cardiomm writes).
    parts: the subject's folders below ``FullSample`` (default ``(id,)``; 2025: centre, vendor, patient).
    sources: where each metadata value came from (``folder``, ``subjects.csv``, ``release docs``, ``config default``).
    timing: timing overrides from the config (``data.timing``): ``{modality: times}`` for the cohort and
        ``{"subjects": {id: {modality: times}}}`` per subject; times in ms, one list per weighting, or per slice.
    raw: scanner raw data (``release`` ``mrd`` / ``twix``, :mod:`cardiomm.io.scanner_layout`): ``{modality:
        {"path": file, "times": bool, "nz", "nt"}}`` of the series that probed well; ``root`` is then where the
        ingest job writes them in the internal layout.
    raw_problems: why a raw series (or, under ``"*"``, the subject) cannot be used.
    prospective: the raw series are prospectively undersampled (no fully sampled reference).
    """

    id: str
    root: Path
    split: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)
    geometry: Geometry = Geometry(1.0, 1.0, 8.0, 2.0, 0.04)
    release: str = "generic"
    parts: tuple[str, ...] = ()
    sources: dict = field(default_factory=dict, compare=False, hash=False)
    timing: dict = field(default_factory=dict, compare=False, hash=False)
    raw: dict = field(default_factory=dict, compare=False, hash=False)
    raw_problems: dict = field(default_factory=dict, compare=False, hash=False)
    prospective: bool = False

    @property
    def folder(self) -> tuple[str, ...]:
        return self.parts or (self.id,)

    def kspace_path(self, mod: str) -> Path:
        """Fully sampled k-space file of modality ``mod``."""
        return releases.kspace_path(self.root, self.release, self.folder, mod)

    def rescan_path(self, mod: str) -> Path:
        """Fully sampled k-space of a repeated acquisition of series ``mod`` (the null control ``rescan``):
        ``<stem>_rescan.mat`` beside :meth:`kspace_path`, same variable and layout. The synthetic cohort writes it
        for the evaluated subjects; a real tree has it only where the same series was acquired twice."""
        p = self.kspace_path(mod)
        return p.with_name(f"{p.stem}_rescan{p.suffix}")

    def has_rescan(self, mod: str) -> bool:
        return self.rescan_path(mod).exists()

    def timing_path(self, mod: str) -> Path:
        """Timing CSV of a mapping modality (inversion / prep / spin-lock times, ms), whether or not it exists."""
        return releases.timing_path(self.root, self.release, self.folder, mod)

    def official_mask(self, mod: str, mask: str) -> tuple[Path, str] | None:
        """``(file, variable)`` of the release's own mask, if the release has one of that name (may be absent)."""
        return releases.official_mask(self.root, self.release, self.folder, mod, mask)

    def times(self, mod: str, nz: int, nt: int) -> tuple[np.ndarray, str]:
        """Per-slice timings ``(nz, nt)`` in ms of a mapping series and where they came from.

        Order: a per-subject override in the config (``data.timing.subjects.<id>.<modality>``), the timing CSV of the
        tree, a cohort-wide value in the config (``data.timing.<modality>``, e.g. a release's protocol values).

        Raises
        ------
        TimingMissing (naming the CSV path) when none of them exists; CMRxReconFileError / ValueError when the counts
        do not match the images.
        """
        from cardiomm.io import cmrxrecon as cio

        own = (self.timing.get("subjects") or {}).get(self.id, {}).get(mod)
        if own is not None:
            where = f"config data.timing.subjects.{self.id}.{mod}"
            return _timing_array(own, nz, nt, where), where
        path = self.timing_path(mod)
        if path.exists():
            where = str(path)
            if self.raw and self.sidecar_path(mod).exists():  # scanner data: the field the ingest job read
                from cardiomm.io.scanner_sidecar import read_sidecar

                where = f"{read_sidecar(self.sidecar_path(mod)).get('times_source')} (ingested to {path})"
            return cio.read_timing(path, nz=nz, nt=nt), where
        if self.timing.get(mod) is not None:
            where = f"config data.timing.{mod}"
            return _timing_array(self.timing[mod], nz, nt, where), where
        raise TimingMissing(path, f"timing file does not exist and the config gives none (set data.timing.{mod}, "
                                  f"or data.timing.subjects.{self.id}.{mod}, in ms)")

    def label_path(self, mod: str) -> Path:
        """Ground-truth label NIfTI (synthetic cohorts only)."""
        return self.root / "GroundTruth" / self.id / f"{mod}_label.nii.gz"

    def truth_path(self) -> Path:
        """Ground-truth phenotype CSV (synthetic cohorts only)."""
        return self.root / "GroundTruth" / self.id / "truth.csv"

    def sidecar_path(self, mod: str) -> Path:
        """Raw data: the ingest job's ``<stem>.json`` (geometry and header values) of modality ``mod``."""
        return self.kspace_path(mod).with_suffix(".json")

    def truth_map_path(self, biomarker: str) -> Path:
        """Ground-truth parameter map of a biomarker (``T1``, ``T2``, ``T1rho``; ms, synthetic cohorts only)."""
        return self.root / "GroundTruth" / self.id / f"{biomarker}_truth.nii.gz"

    def geometry_for(self, mod: str) -> Geometry:
        """Geometry of modality ``mod``: the cine geometry, or for mapping series the same pixels and
        thickness with the mapping slice spacing (``map_spacing_mm``) and no frame interval. Raw data: the
        ingest job's sidecar (pixel size, thickness, spacing, frame interval and the slice orientation)."""
        if self.raw and self.sidecar_path(mod).exists():
            from cardiomm.io.scanner_sidecar import sidecar_geometry

            return sidecar_geometry(self.sidecar_path(mod))
        if modality(mod).kind == "cine":
            return self.geometry
        g = self.geometry
        spacing = float(self.meta.get("map_spacing_mm") or g.spacing)
        return Geometry(g.dx, g.dy, g.thickness, spacing - g.thickness, 0.0)

    def has(self, mod: str) -> bool:
        if self.release in ("mrd", "twix"):
            return mod in self.raw
        return self.kspace_path(mod).exists()

    def missing_reason(self, mod: str) -> str:
        """Why modality ``mod`` is absent (for the log and ``tables/subjects.csv``)."""
        if self.release in ("mrd", "twix"):
            return self.raw_problems.get(mod) or self.raw_problems.get("*") or f"no {mod} file"
        return f"missing {self.kspace_path(mod)}"


class TimingMissing(FileNotFoundError):
    """A mapping series has no timing anywhere (tree or config): its biomarker is skipped with this reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def _timing_array(vals: object, nz: int, nt: int, where: str) -> np.ndarray:
    """Config timing: one list of ``nt`` times (all slices) or ``nz`` lists of ``nt``; checked against the images."""
    arr = np.asarray(vals, dtype=float)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (nz, arr.size)).copy()
    if arr.ndim != 2 or arr.shape != (nz, nt) or not np.isfinite(arr).all():
        raise ValueError(f"{where}: timing of shape {np.asarray(vals, dtype=float).shape} does not fit the images "
                         f"({nz} slices x {nt} weightings); give {nt} finite times in ms (or {nz} such lists)")
    return arr


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


def load_cohort(root: str | os.PathLike, defaults: dict | None = None, release: str = "auto",
                timing: dict | None = None) -> list[Subject]:
    """All subjects of a cohort, sorted by id.

    ``release``: ``auto`` (detected from the tree, :func:`cardiomm.io.releases.detect`), ``2023``, ``2024``,
    ``2025`` or ``generic``. A ``generic`` tree with a complete ``subjects.csv`` (the synthetic cohort) is read from
    that table; every other tree is discovered from its folders, with metadata merged as the module docstring says
    (every discovered subject gets split ``test`` unless ``subjects.csv`` says otherwise).
    """
    root = Path(root)
    rel = releases.detect(root) if release == "auto" else release
    if rel not in releases.RELEASES:
        raise ValueError(f"data.release: unknown release {rel!r}; expected auto or one of {releases.RELEASES}")
    table = root / "subjects.csv"
    rows: dict[str, dict] = {}
    if table.exists():
        with open(table, newline="") as fh:
            listed = list(csv.DictReader(fh))
        if listed and "subject" not in listed[0]:
            raise ValueError(f"{table}: missing column 'subject'")
        rows = {r["subject"]: r for r in listed}
        complete = listed and all(c in listed[0] for c in ("split", "dx_mm", "dy_mm", "thickness_mm", "gap_mm",
                                                           "frame_interval_s"))
        if rel == "generic" and complete:
            return sorted((_with(subject_from_row(root, r), rel, (), timing, "subjects.csv") for r in listed),
                          key=lambda s: s.id)
        if rel == "generic" and listed and defaults is None:
            missing = [c for c in ("split", "dx_mm", "dy_mm", "thickness_mm", "gap_mm", "frame_interval_s")
                       if c not in listed[0]]
            raise ValueError(f"{table}: missing columns {missing}")
    if defaults is None and not rows:
        raise FileNotFoundError(f"{table} does not exist and no metadata defaults were given in the config")
    found = releases.discover(root, rel)
    unknown = sorted(set(rows) - {f.id for f in found})
    if unknown:
        raise ValueError(f"{table}: subjects {unknown} are not in the tree under {root}")
    return [_merged(root, rel, f, rows.get(f.id, {}), defaults or {}, timing) for f in found]


def _with(s: Subject, rel: str, parts: tuple[str, ...], timing: dict | None, source: str) -> Subject:
    return Subject(s.id, s.root, s.split, s.meta, s.geometry, rel, parts,
                   {k: source for k in SUBJECT_COLUMNS if k != "subject"}, dict(timing or {}))


def _merged(root: Path, rel: str, f: releases.Found, row: dict, defaults: dict, timing: dict | None) -> Subject:
    """One discovered subject: every value from subjects.csv, the folders, the release docs or the defaults."""
    layers = (("subjects.csv", {k: v for k, v in row.items() if v not in (None, "")}), ("folder", f.meta),
              ("release docs", releases.RELEASE_META.get(rel, {})), ("config default", defaults))
    merged: dict[str, str] = {"subject": f.id, "split": "test"}
    sources: dict[str, str] = {"split": "default (test)"}
    for key in SUBJECT_COLUMNS[1:]:
        for name, layer in layers:
            if layer.get(key) not in (None, ""):
                merged[key], sources[key] = str(layer[key]), name
                break
    for key in ("dx_mm", "dy_mm", "thickness_mm", "gap_mm", "frame_interval_s"):
        if key not in merged:
            raise ValueError(f"subject {f.id} under {root}: no value for {key!r} (give it in data.defaults or in "
                             f"{root / 'subjects.csv'})")
    s = subject_from_row(root, merged)
    return Subject(s.id, root, s.split, s.meta, s.geometry, rel, f.parts, sources, dict(timing or {}))


SUBJECT_TABLE_COLUMNS = ("subject", "release", "folder", "split", "centre", "centre_source", "vendor",
                         "vendor_source", "field_strength_T", "field_strength_T_source", "scanner", "scanner_source",
                         "modalities_found", "modalities_missing", "modalities_evaluated", "evaluated", "reason")


def subject_table_rows(subjects: list[Subject], modalities: list[str], skipped: dict[str, str],
                       evaluated: set[str]) -> list[dict]:
    """Rows of ``tables/subjects.csv``: one per discovered subject, metadata with its source, modalities found (of
    every modality :data:`cardiomm.conventions.MODALITIES` knows), missing and evaluated (of the run's), and the
    reason for each modality or subject not evaluated (``skipped``)."""
    rows = []
    for s in subjects:
        found = [m for m in MODALITIES if s.has(m)]
        row = {"subject": s.id, "release": s.release, "folder": "/".join(s.folder), "split": s.split,
               "modalities_found": " ".join(found),
               "modalities_missing": " ".join(m for m in modalities if m not in found),
               "modalities_evaluated": " ".join(m for m in modalities if m in found) if s.id in evaluated else "",
               "evaluated": s.id in evaluated, "reason": skipped.get(s.id, "")}
        for k in ("centre", "vendor", "field_strength_T", "scanner"):
            row[k] = s.meta.get(k, "")
            row[f"{k}_source"] = s.sources.get(k) or "none (unknown)"
        rows.append(row)
    return rows


def write_subject_table(everyone: list[Subject], evaluated: list[str], skipped: dict[str, str],
                        modalities: list[str], path: str | os.PathLike) -> None:
    """Write ``tables/subjects.csv``: every subject of the cohort (``everyone``), the ``evaluated`` ids, and why
    each other one is not evaluated (``skipped``: id -> reason; a subject outside ``eval_splits`` says so)."""
    from cardiomm.atomic import atomic_path

    ids = set(evaluated)
    skipped = dict(skipped or {})
    for s in everyone:
        if s.id not in ids and s.id not in skipped:
            skipped[s.id] = f"split {s.split} is not in eval_splits"
    rows = subject_table_rows(everyone, modalities, skipped, ids)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SUBJECT_TABLE_COLUMNS))
        w.writeheader()
        w.writerows(rows)
