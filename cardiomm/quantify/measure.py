"""The quantify stage's science: the long rows of one reconstructed series (phenotypes of a cine, biomarkers of a
mapping series), and the phantom's biomarker truth on the same ROIs.

One measurement procedure for every image (issue 30): the reference, every reconstruction and the control pass
through :func:`quantify_series` with the same parameters. A mapping series is fitted with the acquisition's noise
floor (:mod:`cardiomm.quantify.noise`: measured once per series in the fully sampled data, the same for every
image of it) and the same validity test (:mod:`cardiomm.quantify.mapping`), and summarised over the same ROIs
(:mod:`cardiomm.quantify.roi`) twice:

- ``labels = own``: the ROIs of the method's own segmentation (end to end);
- ``labels = reference``: the ROIs of the reference's segmentation on the method's map (reconstruction only:
  what the reconstruction does to the tissue value, without what it does to the segmenter). The reference
  itself, and the truth, have ``own`` rows only.

Table columns (``tables/biomarkers.csv``; ``../GAUGE_CONTRACT.md``): ``roi`` (:data:`~cardiomm.quantify.roi.ROIS`;
the headline is ``consensus``), ``labels``, ``procedure`` (which fit, floor and validity test ran), ``noise_floor``
(the floor ``P`` of each slice), ``n_pixels`` / ``n_valid`` / ``n_invalid`` / ``valid_fraction`` (ROI pixels and
their valid fits), ``statistic`` (the median). Phenotype rows carry ``labels = own`` and an empty ``roi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, TRUTH, unit
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.mapping import MIN_SIGNIFICANCE, body_mask, map_series
from cardiomm.quantify.noise import acquisition_noise, noise_text
from cardiomm.quantify.roi import CONSENSUS, ROIS, STATISTIC, roi_masks, summarise

OWN, REFERENCE_LABELS = "own", "reference"
#: ``quantify.noise_floor``: model the acquisition's floor (the default), or fit the magnitudes as they are
NOISE_FLOOR_CHOICES = ("acquisition", "none")
_MODEL = {"T1": "MOLLI 3-parameter A - B exp(-TI/T1*), Look-Locker corrected",
          "T2": "mono-exponential M0 exp(-t/T2)", "T1rho": "mono-exponential M0 exp(-t/T1rho)"}
assert set(_MODEL) == set(BIOMARKERS)


@dataclass(frozen=True)
class Series:
    """One reconstructed series of one subject x method x mask, as the quantify stage reads it.

    Attributes
    ----------
    modality, mask: the series (``conventions.MODALITIES`` key, mask name).
    images: ``(nt, nz, ny, nx)`` magnitude images (mapping: the weighted images).
    labels: ``(nt or 1, nz, ny, nx)`` the method's own labels.
    geom: voxel geometry.
    qc: ``(passed, reason)`` of the own segmentation's QC.
    biomarker: ``T1`` / ``T2`` / ``T1rho`` for a mapping series, ``None`` for a cine.
    times: mapping timings ``(nz, nw)`` ms, or ``None`` with ``timing_error`` saying why.
    timing_source: where the timings came from.
    reference: ``(nw, nz, ny, nx)`` the fully sampled RSS of the same series (its air gives the noise).
    reference_labels, reference_qc: the reference's labels and QC (methods only: the ``reference`` rows).
    truth_map, truth_labels: the phantom's true parameter map and labels (reference of a synthetic subject only).
    """

    modality: str
    mask: str
    images: np.ndarray
    labels: np.ndarray
    geom: Geometry
    qc: tuple[bool, str]
    biomarker: str | None = None
    times: np.ndarray | None = None
    timing_source: str = ""
    timing_error: str = ""
    reference: np.ndarray | None = None
    reference_labels: np.ndarray | None = None
    reference_qc: tuple[bool, str] | None = None
    truth_map: np.ndarray | None = None
    truth_labels: np.ndarray | None = None


def _row(subject: str, split: str, method: str, mask: str, indicator: str, value: float, qc_pass: bool,
         reason: str, **extra: object) -> dict:
    return {"subject": subject, "split": split, "method": method, "mask": mask, "indicator": indicator,
            "unit": unit(indicator), "value": value, "qc_pass": bool(qc_pass), "qc_reason": reason, **extra}


def _join(*reasons: str) -> str:
    return "; ".join(r for r in reasons if r)


def procedure(biomarker: str, noise_floor: str, missing: list[str] | None = None) -> str:
    """The ``procedure`` text of a biomarker's rows: the fit, the noise floor, the validity test, the statistic.

    ``missing``: slices without a floor estimate (``"slice z: why"``), fitted without the floor and the test.
    """
    if noise_floor == "acquisition":
        floor = ("noise floor modelled, M = sqrt(f^2 + P), P from the acquisition (air of the fully sampled "
                 "series)")
        test = f"valid: plausible range and likelihood ratio vs no relaxation >= {MIN_SIGNIFICANCE[biomarker]:.1f}"
    else:
        floor, test = "noise floor not modelled (quantify.noise_floor: none)", "valid: plausible range"
    extra = f"; no floor estimate in {', '.join(missing)}" if missing else ""
    return f"{_MODEL[biomarker]}; {floor}; {test}; {STATISTIC} over the ROI{extra}"


def _roi_rows(vmap: np.ndarray, valid: np.ndarray, labels: np.ndarray, geom: Geometry, qc: tuple[bool, str],
              base: dict) -> list[dict]:
    """One row per ROI of :data:`ROIS` of ``labels`` on the map (``base``: the shared columns)."""
    rois, why = roi_masks(labels, geom)
    rows = []
    for roi in ROIS:
        s = summarise(vmap, valid, rois[roi])
        reason = why.get(roi, "")
        if not reason and s["n_valid"] == 0:
            reason = f"all {s['n_pixels']} ROI pixels have invalid fits"
        value = float("nan") if reason else s["value"]
        ok = qc[0] and np.isfinite(value)
        rows.append({**base, "value": value, "qc_pass": bool(ok), "qc_reason": _join(qc[1], reason), "roi": roi,
                     "n_pixels": s["n_pixels"], "n_valid": s["n_valid"], "n_invalid": s["n_pixels"] - s["n_valid"],
                     "valid_fraction": s["valid_fraction"]})
    return rows


def truth_rows(subject: str, split: str, biomarker: str, truth_map: np.ndarray, truth_labels: np.ndarray,
               geom: Geometry) -> list[dict]:
    """The phantom's truth of one biomarker: the median of the true parameter map over each ROI of the true labels
    (the measurement's own ROI code and statistic). ``truth_map``, ``truth_labels``: ``(1, nz, ny, nx)``."""
    tmap = np.asarray(truth_map, dtype=np.float64)[0]
    base = _row(subject, split, TRUTH, FULLY_SAMPLED, biomarker, float("nan"), True, "",
                labels=OWN, procedure=f"truth: {STATISTIC} of the true parameter map over the ROI of the true labels",
                statistic=STATISTIC)
    return _roi_rows(tmap, np.isfinite(tmap), np.asarray(truth_labels)[0], geom, (True, ""), base)


def mapping_rows(s: Series, subject: str, split: str, method: str, noise_floor: str = "acquisition"
                 ) -> tuple[list[dict], np.ndarray]:
    """Biomarker rows and map ``(1, nz, ny, nx)`` float32 (0 where not fitted) of one mapping series."""
    if noise_floor not in NOISE_FLOOR_CHOICES:
        raise ValueError(f"quantify.noise_floor: expected one of {list(NOISE_FLOOR_CHOICES)}, got {noise_floor!r}")
    bm = s.biomarker
    if s.times is None:  # a release without timing and none configured: this biomarker only
        row = _row(subject, split, method, s.mask, bm, float("nan"), False, f"no timing: {s.timing_error}",
                   timing_source="none", roi=CONSENSUS, labels=OWN)
        return [row], np.zeros((1, *s.images.shape[1:]), np.float32)
    body = body_mask(s.images)
    noise, missing = None, []
    floor_text = "not modelled"
    if noise_floor == "acquisition":
        if s.reference is None or s.reference.shape != s.images.shape:
            raise ValueError(f"{s.modality} {s.mask}: the fully sampled series of shape {s.images.shape} is needed "
                             f"for the acquisition's noise, got {None if s.reference is None else s.reference.shape}")
        noise, reasons = acquisition_noise(s.reference)
        missing = [f"slice {z} ({r})" for z, r in enumerate(reasons) if r]
        floor_text = noise_text(noise, reasons)
    vmap, valid = map_series(s.images, s.times, bm, mask=body, noise=noise)
    base = _row(subject, split, method, s.mask, bm, float("nan"), True, "",
                procedure=procedure(bm, noise_floor, missing), noise_floor=floor_text,
                timing_source=s.timing_source, statistic=STATISTIC)
    rows = _roi_rows(vmap, valid, s.labels[0], s.geom, s.qc, {**base, "labels": OWN})
    if s.reference_labels is not None:
        rows += _roi_rows(vmap, valid, s.reference_labels[0], s.geom, s.reference_qc or (True, ""),
                          {**base, "labels": REFERENCE_LABELS})
    if s.truth_map is not None:
        rows += truth_rows(subject, split, bm, s.truth_map, s.truth_labels, s.geom)
    return rows, np.nan_to_num(vmap)[None].astype(np.float32)


def cine_rows(s: Series, subject: str, split: str, method: str, ed: str = "first") -> tuple[list[dict], list[str]]:
    """The 11 phenotype rows of one cine series (``labels = own``, ``roi`` empty) and the notes to log."""
    from cardiomm.quantify.cine import cine_phenotypes

    values, notes = cine_phenotypes(s.labels, s.geom, ed=ed)
    rows = [_row(subject, split, method, s.mask, k, v, s.qc[0] and np.isfinite(v) and not why, _join(s.qc[1], why),
                 labels=OWN, roi="") for k, (v, why) in values.items()]
    return rows, notes


def quantify_series(s: Series, subject: str, split: str, method: str, ed: str = "first",
                    noise_floor: str = "acquisition") -> tuple[list[dict], np.ndarray | None, list[str]]:
    """Rows of one series, its biomarker map (``None`` for a cine) and notes to log (the stage's one call)."""
    if s.biomarker is None:
        rows, notes = cine_rows(s, subject, split, method, ed)
        return rows, None, notes
    rows, vmap = mapping_rows(s, subject, split, method, noise_floor)
    if s.times is None:
        return rows, vmap, [f"{s.biomarker} not fitted (its map file is all zero, the convention for no fit): "
                            f"{s.timing_error}"]
    head = next(r for r in rows if r["roi"] == CONSENSUS and r["labels"] == OWN and r["method"] == method)
    return rows, vmap, [f"timing from {s.timing_source}",
                        f"{s.biomarker} {head['value']:.1f} ms (consensus ROI, own labels, "
                        f"{head['n_valid']}/{head['n_pixels']} valid)", f"noise floor {head['noise_floor']}"]


def headline(table: pd.DataFrame) -> pd.DataFrame:
    """The headline rows of an indicator table: ``roi == consensus`` and ``labels == own`` for biomarkers,
    everything of the phenotypes (rows without the columns, e.g. older tables, count as headline)."""
    roi = table["roi"] if "roi" in table.columns else pd.Series(np.nan, index=table.index)
    lab = table["labels"] if "labels" in table.columns else pd.Series(np.nan, index=table.index)
    keep = (roi.isna() | (roi.astype(str).isin(["", CONSENSUS]))) & (lab.isna() | (lab == OWN))
    return table[keep]
