"""A folder of scanner raw data (MRD or twix) as a cohort: one folder per subject, one file per series.

Layout (``data.layout: mrd`` or ``twix``; ``auto`` detects it)::

    <root>/<subject>/<series>.h5 | .mrd      MRD (ISMRMRD HDF5), e.g. P001/cine_sax.h5, P001/T1map.h5
    <root>/<subject>/<series>.dat            Siemens twix
    <root>/subjects.csv                      optional: metadata per subject (cardiomm.cohort.SUBJECT_COLUMNS)

The series is named by the file name (case-insensitive): a modality name or CMRxRecon stem of
:data:`cardiomm.conventions.MODALITIES` (``cine_sax``/``cine``, ``T1map``, ``T2map``, ``T1rhomap``/``T1rho``,
``cine_lax``, ...); other files are listed and ignored. Every file is probed when the workflow starts (headers
only): a file that cannot be read as a Cartesian 2D series skips that series of that subject with the reason
(logged and in ``tables/subjects.csv``), so a batch with one bad subject finishes the others.

The workflow's ``ingest`` job (:func:`cardiomm.stages.ingest.ingest`) maps each file onto the internal layout under
``results/<cohort>/ingested`` (the layout cardiomm writes, ``generic``): fully sampled k-space, timing CSV, and a
``<stem>.json`` sidecar with the geometry and header values; a prospectively undersampled file goes straight to
the undersampled k-space and its own mask (mask name :data:`ACQUIRED`), with no fully sampled reference.
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cardiomm.conventions import MODALITIES
from cardiomm.io.rawdata import RawDataError

LAYOUTS = ("cmrxrecon", "mrd", "twix")
RAW_LAYOUTS = ("mrd", "twix")
SUFFIXES = {"mrd": (".h5", ".mrd", ".hdf5"), "twix": (".dat",)}
#: the mask name of prospectively undersampled data (the scan's own sampling)
ACQUIRED = "acquired"
#: modality of a file name stem (lower case)
SERIES_NAMES: dict[str, str] = {**{m.stem.lower(): k for k, m in MODALITIES.items()}, **{k: k for k in MODALITIES},
                                "cine": "cine", "t1rho": "t1rhomap"}


def detect_layout(root: str | os.PathLike) -> str:
    """``cmrxrecon`` when ``<root>/MultiCoil`` exists, else ``mrd`` / ``twix`` by the subject folders' files."""
    root = Path(root)
    if (root / "MultiCoil").is_dir():
        return "cmrxrecon"
    for layout in RAW_LAYOUTS:
        if any(p.suffix.lower() in SUFFIXES[layout] for p in root.glob("*/*") if p.is_file()):
            return layout
    return "cmrxrecon"


@dataclass
class Probe:
    """What a raw file's headers say (no k-space read)."""

    modality: str
    fully_sampled: bool
    nz: int
    nt: int
    meta: dict = field(default_factory=dict)
    times: tuple[list[float], str] | None = None


def probe(path: Path, layout: str, mod: str) -> Probe:
    """Headers of one file: sampling, counts, metadata, mapping times (raises :class:`RawDataError`)."""
    from cardiomm.io.rawdata import Header

    kind = MODALITIES[mod].kind
    if layout == "mrd":
        from cardiomm.io import mrd

        m = mrd.open_mrd(path)
        full, nz, nt = mrd.sampled_lines(m, kind)
        hdr = mrd._header(m)
        user = mrd.user_times(m, kind)
    else:
        from cardiomm.io import twix
        from cardiomm.io.rawdata import Readouts, _weight_axis

        scans, img, _ = twix.probe_twix(path)
        c = twix.counters(img)
        import numpy as np

        n = len(img)
        ro = Readouts(np.zeros((n, 1, 1), np.complex64), c, np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool),
                      np.zeros(n), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)))
        w = _weight_axis(ro, kind, path)
        nz, nt = np.unique(c["slice"]).size, np.unique(c[w]).size
        hdr: Header = twix._header(path, scans[-1], int(img[0].mdh.SamplesInScan))
        ny = hdr.enc_matrix[1]
        full = len({(a, b, li) for a, b, li in zip(c["slice"], c[w], c["line"])}) >= nz * nt * ny
        user = None
    times = None
    bm = MODALITIES[mod].biomarker
    if bm is not None:
        times = _times_from_header(hdr, bm, nt, user)
    meta = {k: v for k, v in hdr.meta.items() if k in ("vendor", "scanner", "field_strength_T")}
    return Probe(mod, bool(full), int(nz), int(nt), meta, times)


def _times_from_header(hdr: object, bm: str, nt: int, user: object) -> tuple[list[float], str] | None:
    import numpy as np

    from cardiomm.io.rawdata import TIME_NAMES

    for name in TIME_NAMES[bm]:
        v = hdr.times.get(name)  # type: ignore[attr-defined]
        if v is not None and len(v) == nt:
            return [float(x) for x in v], hdr.time_sources.get(name, name)  # type: ignore[attr-defined]
    if bm == "T1" and len(hdr.ti_ms) == nt and nt > 1:  # type: ignore[attr-defined]
        return list(hdr.ti_ms), hdr.time_sources.get("ti_ms", "header TI")  # type: ignore[attr-defined]
    if user is not None and len(user) == nt and np.isfinite(user).all() and np.unique(user).size == nt:
        return [float(x) for x in user], "acquisition user_float[0] (constant per weighting)"
    return None


def missing_times_reason(path: Path, layout: str, mod: str, sid: str) -> str:
    """The error for a mapping file that carries no per-weighting times: names the file and the fields."""
    from cardiomm.io.rawdata import TIME_NAMES

    bm = MODALITIES[mod].biomarker
    what = {"T1": "inversion times", "T2": "T2-preparation times", "T1rho": "spin-lock times"}[bm]
    if layout == "mrd":
        fields = (f"header userParameters.userParameterDouble {'/'.join(TIME_NAMES[bm][:3])} (one per weighting)"
                  + (", sequenceParameters.TI" if bm == "T1" else "") + ", acquisition user_float[0]")
    else:
        fields = ("MeasYaps alTI (one per weighting)" if bm == "T1" else
                  f"no standard protocol field holds {what} (the sequence's sWipMemBlock is not read)")
    return (f"{path}: no {what} in the file (looked for {fields}); give them in the config: "
            f"data.timing.subjects.{sid}.{mod} (or data.timing.{mod}), in ms")


@dataclass
class RawSubject:
    """A subject folder: its series files and why some of them (or all) cannot be used."""

    id: str
    folder: Path
    files: dict[str, Path]
    probes: dict[str, Probe]
    problems: dict[str, str]


def discover(root: str | os.PathLike, layout: str, timing: dict | None = None) -> list[RawSubject]:
    """Every subject folder under ``root`` with its series (probed; problems recorded, not raised)."""
    from cardiomm.io.releases import safe_id

    root = Path(root)
    timing = timing or {}
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        sid = safe_id((folder.name,))
        files: dict[str, Path] = {}
        probes: dict[str, Probe] = {}
        problems: dict[str, str] = {}
        for f in sorted(folder.iterdir()):
            if not f.is_file() or f.suffix.lower() not in SUFFIXES[layout]:
                continue
            mod = SERIES_NAMES.get(f.stem.lower())
            if mod is None:
                print(f"cardiomm: {f}: file name names no series ({sorted(set(SERIES_NAMES))}): ignored",
                      file=sys.stderr)
                continue
            if mod in files:
                problems[mod] = f"two files for {mod}: {files[mod].name} and {f.name}"
                continue
            files[mod] = f
            try:
                pr = probe(f, layout, mod)
            except RawDataError as err:
                problems[mod] = str(err)
                continue
            if MODALITIES[mod].biomarker and pr.times is None:
                own = (timing.get("subjects") or {}).get(sid, {}).get(mod)
                if own is None and timing.get(mod) is None:
                    problems[mod] = missing_times_reason(f, layout, mod, sid)
                    continue
            probes[mod] = pr
        if not files:
            problems["*"] = f"no {layout} series files ({', '.join(SUFFIXES[layout])}) named after a series"
        out.append(RawSubject(sid, folder, files, probes, problems))
    if not out:
        raise RawDataError(root, f"no subject folders with {layout} files ({', '.join(SUFFIXES[layout])})")
    return out


def read_series(path: str | os.PathLike, layout: str, mod: str) -> object:
    """Read one file fully (:class:`cardiomm.io.rawdata.RawSeries`)."""
    kind = MODALITIES[mod].kind
    if layout == "mrd":
        from cardiomm.io.mrd import read_mrd

        return read_mrd(path, kind)
    from cardiomm.io.twix import read_twix

    return read_twix(path, kind)


def load_raw_cohort(root: str | os.PathLike, layout: str, ingest_root: str | os.PathLike,
                    defaults: dict | None = None, timing: dict | None = None) -> list:
    """The subjects of a raw-data folder as :class:`cardiomm.cohort.Subject` rooted at ``ingest_root`` (where the
    ingest job writes the internal layout); metadata from ``subjects.csv`` and the headers, then ``defaults``.

    Raises :class:`RawDataError` when the cohort mixes fully sampled and prospectively undersampled scans (two
    cohorts: the one needs the undersampling jobs and the reference, the other has neither).
    """
    from cardiomm.cohort import Subject, subject_from_row

    root = Path(root)
    rows: dict[str, dict] = {}
    table = root / "subjects.csv"
    if table.exists():
        with open(table, newline="") as fh:
            rows = {r["subject"]: r for r in csv.DictReader(fh)}
    base = {"dx_mm": 1.0, "dy_mm": 1.0, "thickness_mm": 8.0, "gap_mm": 0.0, "frame_interval_s": 0.05}
    subjects = []
    kinds: dict[bool, list[str]] = {}
    for rs in discover(root, layout, timing):
        header = next(iter(rs.probes.values())).meta if rs.probes else {}
        merged = {**base, **{k: v for k, v in (defaults or {}).items() if v not in (None, "")},
                  **{k: v for k, v in header.items() if v not in (None, "")},
                  **{k: v for k, v in rows.get(rs.id, {}).items() if v not in (None, "")}}
        merged.update({"subject": rs.id, "split": merged.get("split", "test")})
        s = subject_from_row(Path(ingest_root), {k: str(v) for k, v in merged.items()})
        prospective = {not p.fully_sampled for p in rs.probes.values()}
        if len(prospective) > 1:
            rs.problems["*"] = ("series of this subject are partly fully sampled, partly prospectively "
                                "undersampled: run them as two cohorts")
            rs.probes = {}
        pro = bool(prospective and prospective.pop())
        if rs.probes:
            kinds.setdefault(pro, []).append(rs.id)
        sources = {k: ("subjects.csv" if k in rows.get(rs.id, {}) else "header" if k in header else
                       "config default" if k in (defaults or {}) else "default") for k in merged}
        raw = {m: {"path": str(rs.files[m]), "times": p.times is not None, "nz": p.nz, "nt": p.nt}
               for m, p in rs.probes.items()}
        subjects.append(Subject(s.id, s.root, s.split, s.meta, s.geometry, layout, (), sources, dict(timing or {}),
                                raw=raw, raw_problems=dict(rs.problems), prospective=pro))
    if len(kinds) > 1:
        raise RawDataError(root, f"the cohort mixes fully sampled ({', '.join(kinds[False])}) and prospectively "
                                 f"undersampled ({', '.join(kinds[True])}) scans: run them as two cohorts "
                                 f"(data.root per cohort)")
    return subjects
