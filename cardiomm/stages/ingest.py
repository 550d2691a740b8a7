"""Stage functions of scanner data in and clinical images out (rules ``ingest``, ``no_reference``, ``dicom``).

``ingest`` maps each MRD / twix file of a subject onto the workflow's internal series (:mod:`cardiomm.io.
scanner_layout`), so that undersampling, reconstruction, segmentation and quantification run on it unchanged:

* fully sampled: the k-space ``.mat`` of the internal layout (the ``reference`` and ``undersample`` jobs read it);
* prospectively undersampled: the undersampled k-space and its own mask (mask name ``acquired``), no reference;
* per series a ``<stem>.json`` sidecar (geometry, header values; :mod:`cardiomm.io.scanner_sidecar`) and, for a
  mapping series, its timing CSV (from the file, else from the config override).

``no_reference`` writes what a prospectively undersampled cohort can say about agreement: nothing, plainly.
``dicom`` is :mod:`cardiomm.stages.dicom` (the writers: :mod:`cardiomm.io.dicom`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from cardiomm.conventions import MODALITIES
from cardiomm.workflow import named

log = logging.getLogger("cardiomm")


def series_times(subject: object, mod: str, series: object, nz: int) -> tuple[np.ndarray, str] | None:
    """Mapping times ``(nz, nt)`` (ms) and their source: the per-subject config override, the file, the cohort
    config; ``None`` when none has them."""
    from cardiomm.cohort import _timing_array
    from cardiomm.io.rawdata import mapping_times

    nt = series.kspace.shape[0]
    timing = subject.timing
    own = (timing.get("subjects") or {}).get(subject.id, {}).get(mod)
    if own is not None:
        where = f"config data.timing.subjects.{subject.id}.{mod}"
        return _timing_array(own, nz, nt, where), where
    found = mapping_times(series, MODALITIES[mod].biomarker)
    if found is not None:
        return np.broadcast_to(np.asarray(found[0], float), (nz, nt)).copy(), f"{series.source}: {found[1]}"
    if timing.get(mod) is not None:
        where = f"config data.timing.{mod}"
        return _timing_array(timing[mod], nz, nt, where), where
    return None


def ingest(subject: object, outputs: Mapping[str, str]) -> None:
    """Read every raw series of ``subject`` named in ``outputs`` and write it in the internal layout.

    ``outputs``: ``key(mod, "kspace")`` (fully sampled) or ``key(mod, "acquired", "kus" | "mask")`` (prospective),
    ``key(mod, "sidecar")``, and for mapping series ``key(mod, "timing")``
    (:meth:`cardiomm.workflow.Plan.ingest_outputs`). Errors name the raw file.
    """
    from cardiomm.io import cmrxrecon as cio
    from cardiomm.io.scanner_layout import ACQUIRED, read_series
    from cardiomm.io.scanner_sidecar import sidecar, write_sidecar

    files = named(outputs)
    for mod in dict.fromkeys(k[0] for k in files):
        src = subject.raw[mod]["path"]
        s = read_series(src, subject.release, mod)
        nt, nz = s.kspace.shape[:2]
        how = "fully sampled" if s.fully_sampled else f"prospectively undersampled (R {s.mask.size / s.mask.sum():.2f})"
        log.info("%s %s: %s -> %s, %s, %s%s", subject.id, mod, src, s.kspace.shape, how,
                 f"pre-whitened with {s.noise_samples} noise samples" if s.whitened else "no noise data",
                 f", readout cropped {s.removed_oversampling} -> {s.kspace.shape[-1]}" if s.removed_oversampling
                 else "")
        dt = 0.0
        if MODALITIES[mod].kind == "cine":
            trig = s.trigger_ms[np.isfinite(s.trigger_ms)]
            dt = float(np.median(np.diff(trig)) / 1000) if trig.size > 1 and np.all(np.diff(trig) > 0) \
                else float(subject.geometry.dt)
        times = None
        if (mod, "timing") in files:
            found = series_times(subject, mod, s, nz)
            if found is None:
                from cardiomm.io.scanner_layout import missing_times_reason

                raise ValueError(missing_times_reason(src, subject.release, mod, subject.id))
            cio.write_timing(files[(mod, "timing")], found[0])
            times = (found[0][0].tolist(), found[1])
            log.info("%s %s: timing from %s", subject.id, mod, found[1])
        if (mod, "kspace") in files:
            if not s.fully_sampled:
                raise ValueError(f"{src}: not fully sampled any more (probed as fully sampled at start-up)")
            cio.write_kspace(files[(mod, "kspace")], s.kspace, key="kspace_full")
        else:
            cio.write_mask(files[(mod, ACQUIRED, "mask")], s.mask, source=f"acquired {src}")
            cio.write_kspace(files[(mod, ACQUIRED, "kus")], s.kspace * s.mask[:, None, None], key="kus")
        write_sidecar(files[(mod, "sidecar")], sidecar(s, mod, dt, times))


def acquired_mask_table(mask_files: Mapping[str, str], out_csv: str) -> None:
    """``tables/masks.csv`` of a prospectively undersampled cohort: one row per series, the scan's own mask
    (``key(subject, modality, mask)`` -> mask file); the nominal R is the achieved one (the scan names none)."""
    import pandas as pd

    from cardiomm.atomic import write_csv
    from cardiomm.io import cmrxrecon as cio
    from cardiomm.sampling.masks import acs_from_mask

    rows = []
    for (sid, _mod, name), f in named(mask_files).items():
        m = cio.read_mask(f)
        r = float(m.size / max(int(m.sum()), 1))
        acs = acs_from_mask(m, m.shape[1])
        outer = m[:, ~acs]
        rows.append({"subject": sid, "file": f.rsplit("/", 1)[-1], "mask": name, "pattern": name,
                     "source": cio.read_attr(f, "cardiomm_mask_source") or "acquired",
                     "acs": int(acs.all(axis=1).sum()),
                     "nominal_R": float("nan"), "achieved_R": r, "outer_fraction": float(outer.mean()) if outer.size
                     else float("nan"), "acs_complete": bool(m[:, acs].all())})
    write_csv(pd.DataFrame(rows), out_csv)


NO_REFERENCE = ("Agreement needs a reference: these scans are prospectively undersampled, so there is no fully "
                "sampled reconstruction to compare the methods with, and cardiomm does not invent one. The methods' "
                "phenotypes and biomarkers are in tables/phenotypes.csv and tables/biomarkers.csv; acquire a fully "
                "sampled scan of the same subjects (or use fully sampled raw data, which cardiomm undersamples "
                "retrospectively) to audit agreement.")


def no_reference(cohort: str, methods: list[str], out_agreement: str, out_iq: str, out_md: str,
                 out_html: str | None = None) -> None:
    """The agreement table, the image-quality table (both without rows: there is no reference) and the audit of a
    prospectively undersampled cohort, which says so."""
    import pandas as pd

    from cardiomm.atomic import write_csv, write_text

    write_csv(pd.DataFrame(columns=["indicator", "unit", "method", "mask", "comparator", "n", "bias", "sd",
                                    "loa_low", "loa_high", "verdict"]), out_agreement)
    write_csv(pd.DataFrame(columns=["subject", "split", "modality", "slice", "frame", "method", "mask", "psnr",
                                    "ssim", "nmse", "protocol"]), out_iq)
    md = (f"# cardiomm audit: {cohort}\n\n**{NO_REFERENCE}**\n\nMethods run: {', '.join(methods)}; mask: the "
          f"scans' own sampling (`acquired`, tables/masks.csv).\n")
    write_text(out_md, md)
    if out_html:
        from cardiomm.compare.markdown_html import markdown_to_html

        write_text(out_html, markdown_to_html(md, f"cardiomm audit: {cohort}"))
