"""DICOM results: reconstructions as MR images, segmentations as DICOM-SEG, T1/T2/T1rho maps as Parametric Maps.

Per subject (``results/<cohort>/dicom/<subject>/``)::

    <modality>_<method>_<mask>/IM_<frame>_<slice>.dcm     MR Image Storage, one file per frame x slice
    <modality>_<method>_<mask>_SEG/SEG_<frame>.dcm        Segmentation Storage (highdicom), one per frame (a SEG's
                                                          planes have one position each), referencing its images
    <modality>_<method>_<mask>_<T1|T2|T1rho>map.dcm        Parametric Map Storage (highdicom), float32 ms
    index.csv                                             every file with its series, SOP class and UIDs

Conventions (what a reader can rely on)
---------------------------------------
* Geometry: the image's NIfTI affine (RAS) turned into the DICOM patient system (LPS): ``ImageOrientationPatient``
  = the unit columns of the affine for the readout (column index) and phase (row index) axes,
  ``ImagePositionPatient`` = the affine applied to ``(0, 0, z)``, ``PixelSpacing`` = ``(dy, dx)`` (row, column
  spacing), ``SliceThickness`` and ``SpacingBetweenSlices`` from the geometry. Pixel ``(row r, column c)`` of
  slice ``z``, frame ``t`` is the reconstruction's ``image[t, z, r, c]``.
* Pixel data: ``uint16``; the reconstruction is ``stored * RescaleSlope + RescaleIntercept`` to within half a
  slope (slope ``(max - min) / 65535`` per series, intercept the series' minimum; ``RescaleType`` ``US``: the
  reconstruction's arbitrary units).
* Frame timing: cine frames carry ``TriggerTime`` (ms: the scan's trigger times where the raw data had them, else
  ``frame * frame interval``), ``TemporalPositionIdentifier``, ``NumberOfTemporalPositions``,
  ``CardiacNumberOfImages``; T1 mapping weightings carry ``InversionTime``; T2-preparation and spin-lock times
  (no standard attribute of the MR image) are in ``ImageComments``.
* SEG: binary segments LV blood pool (SCT 87878005 "Left ventricle"), LV myocardium (SCT 49848007 "Left Ventricle
  Myocardium"), RV blood pool (SCT 53085002 "Right ventricle"), category SCT 91723000 "Anatomical Structure", as
  pydicom's code dictionary names them; cine labels are per frame and slice, mapping labels per slice (they
  reference the first weighting's images).
* Identifiers: the input's patient name, id, birth date, sex, study UID, study date and frame of reference where
  the raw data carry them (MRD header, twix protocol); nothing else is invented: without them the patient id is
  the subject id, the name, dates and sex are empty. UIDs not in the input are derived (:func:`uid`, a name-based
  UUID) from subject, series and content (a SHA-256 of the pixel data), so the same results give the same UIDs.
  ``dicom.anonymise``: no input identifier is written (patient id = subject id, every UID derived, the input's
  UIDs only through a hash).
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cardiomm.conventions import FULLY_SAMPLED, LV_BLOOD, LV_MYO, MODALITIES, RV_BLOOD
from cardiomm.io.nifti import Geometry, load_image

log = logging.getLogger("cardiomm")

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: segment number -> (label value, label, SNOMED CT code value, code meaning) (pydicom.sr.codedict SCT)
SEGMENTS = ((LV_BLOOD, "LV blood pool", "87878005", "Left ventricle"),
            (LV_MYO, "LV myocardium", "49848007", "Left Ventricle Myocardium"),
            (RV_BLOOD, "RV blood pool", "53085002", "Right ventricle"))
_COLOURS = {LV_BLOOD: (220, 50, 50), LV_MYO: (60, 200, 60), RV_BLOOD: (50, 90, 230)}


def affine_lps(geom: Geometry) -> np.ndarray:
    """The DICOM (LPS) affine of an image's ``(x, y, z)`` voxel indices (its NIfTI affine, RAS, flipped)."""
    ras = np.asarray(geom.affine, float) if geom.affine is not None else np.diag([geom.dx, geom.dy, geom.spacing,
                                                                                  1.0])
    return LPS_FROM_RAS @ ras


def rescale(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(stored uint16, slope, intercept)`` with ``image ~= stored * slope + intercept`` (to half a slope)."""
    lo, hi = float(np.min(image)), float(np.max(image))
    slope = (hi - lo) / 65535.0 if hi > lo else 1.0
    stored = np.clip(np.rint((np.asarray(image, np.float64) - lo) / slope), 0, 65535).astype(np.uint16)
    return stored, slope, lo


_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "cardiomm")


def uid(*parts: object) -> str:
    """A stable UID from its parts: ``2.25.<integer of a name-based UUID (uuid5) of the parts>``, the UUID-derived
    UID form of DICOM PS3.5 B.2 (``pydicom.uid.generate_uid`` without a prefix ignores its entropy sources and
    would give a new UID each run)."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, chr(31).join(str(p) for p in parts)).int}"


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def identity(subject: object, header: Mapping[str, object], anonymise: bool) -> dict[str, str]:
    """Patient and study attributes: the input's where it has them (and ``anonymise`` is off), else empty; the
    patient id falls back on the subject id; study and frame-of-reference UIDs derived when absent."""
    h = {} if anonymise else dict(header)
    sid = subject.id  # type: ignore[attr-defined]
    study = str(h.get("study_uid") or uid("study", sid, "anon" if anonymise else header.get("study_uid", "")))
    frame = str(h.get("frame_of_reference_uid") or uid("frame", sid, "anon" if anonymise else
                                                        header.get("frame_of_reference_uid", "")))
    date = str(h.get("study_date") or "").replace("-", "")[:8]
    birth = str(h.get("patient_birth_date") or "").replace("-", "")[:8]
    sex = str(h.get("patient_sex") or "").upper()[:1]
    return {"PatientName": str(h.get("patient_name") or ""), "PatientID": str(h.get("patient_id") or sid),
            "PatientBirthDate": birth, "PatientSex": sex if sex in ("M", "F", "O") else "",
            "StudyInstanceUID": study, "FrameOfReferenceUID": frame, "StudyDate": date,
            "StudyID": "" if anonymise else str(header.get("study_id") or "")[:16]}


def _mr_dataset(who: dict, meta: Mapping[str, object], series: dict, stored: np.ndarray, t: int, z: int,
                lps: np.ndarray, geom: Geometry, slope: float, intercept: float, timing: dict,
                anonymise: bool) -> object:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    nt, nz, ny, nx = stored.shape
    sop = uid(series["uid"], t, z)
    fm = FileMetaDataset()
    fm.MediaStorageSOPClassUID, fm.MediaStorageSOPInstanceUID = MRImageStorage, sop
    fm.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = fm
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
    for k, v in who.items():
        setattr(ds, k, v)
    if anonymise:
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "cardiomm dicom.anonymise: input identifiers not written"
    ds.StudyTime = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Modality = "MR"
    ds.SeriesInstanceUID, ds.SeriesNumber = series["uid"], series["number"]
    ds.SeriesDescription = series["description"][:64]
    ds.Manufacturer = str(meta.get("vendor") or "")
    if meta.get("scanner"):
        ds.ManufacturerModelName = str(meta["scanner"])[:64]
    if meta.get("field_strength_T") not in (None, ""):
        ds.MagneticFieldStrength = float(meta["field_strength_T"])
    ds.ImageType = ["DERIVED", "SECONDARY", "RECONSTRUCTION"]
    ds.InstanceNumber = t * nz + z + 1
    ds.ImageOrientationPatient = [round(float(v), 6) for v in
                                  list(lps[:3, 0] / np.linalg.norm(lps[:3, 0])) + list(lps[:3, 1] /
                                                                                   np.linalg.norm(lps[:3, 1]))]
    ipp = lps @ np.array([0.0, 0.0, float(z), 1.0])
    ds.ImagePositionPatient = [round(float(v), 4) for v in ipp[:3]]
    normal = np.cross(lps[:3, 0], lps[:3, 1])
    ds.SliceLocation = round(float(ipp[:3] @ (normal / np.linalg.norm(normal))), 4)
    ds.PixelSpacing = [round(float(geom.dy), 6), round(float(geom.dx), 6)]
    ds.SliceThickness = round(float(geom.thickness), 4)
    ds.SpacingBetweenSlices = round(float(geom.spacing), 4)
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "RM", "NONE", "", "2D"
    ds.RepetitionTime = timing.get("tr", "")
    ds.EchoTime = timing.get("te", "")
    ds.EchoTrainLength = ""
    if timing.get("flip") not in (None, ""):
        ds.FlipAngle = timing["flip"]
    ds.TemporalPositionIdentifier, ds.NumberOfTemporalPositions = t + 1, nt
    if timing.get("trigger") is not None:
        ds.TriggerTime = round(float(timing["trigger"][t]), 3)
        ds.CardiacNumberOfImages = nt
    if timing.get("ti") is not None:
        ds.InversionTime = round(float(timing["ti"][z][t]), 3)
    if timing.get("comment"):
        ds.ImageComments = timing["comment"](t, z)[:10240]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = ny, nx
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = f"{slope:.10g}", f"{intercept:.10g}", "US"
    lo, hi = intercept, intercept + slope * 65535
    ds.WindowCenter, ds.WindowWidth = f"{(lo + hi) / 2:.6g}", f"{max(hi - lo, 1e-6):.6g}"
    ds.PixelData = np.ascontiguousarray(stored[t, z]).tobytes()
    return ds


def _timing(mod: str, nt: int, nz: int, geom: Geometry, side: Mapping[str, object] | None,
            times: np.ndarray | None) -> dict:
    """The frame-timing attributes of a series (see the module docstring)."""
    out: dict[str, object] = {}
    side = side or {}
    if side.get("tr_ms"):
        out["tr"] = round(float(side["tr_ms"][0]), 4)
    if side.get("te_ms"):
        out["te"] = round(float(side["te_ms"][0]), 4)
    if side.get("flip_deg"):
        out["flip"] = round(float(side["flip_deg"][0]), 4)
    m = MODALITIES[mod]
    if m.kind == "cine":
        trig = side.get("trigger_ms")
        if trig and len(trig) == nt and all(v is not None for v in trig):
            out["trigger"] = [float(v) for v in trig]
        elif geom.dt > 0:
            out["trigger"] = [t * geom.dt * 1000.0 for t in range(nt)]
    elif m.biomarker and times is not None:
        if m.biomarker == "T1":
            out["ti"] = times
        else:
            word = {"T2": "T2 preparation", "T1rho": "spin-lock time"}[m.biomarker]
            out["comment"] = lambda t, z, tm=times, w=word: f"{w} {tm[z][t]:.3f} ms"
    return out


def write_mr_series(folder: Path, image: np.ndarray, geom: Geometry, who: dict, meta: Mapping[str, object],
                    series: dict, timing: dict, anonymise: bool) -> list:
    """One MR image series (a file per frame x slice) under ``folder``; returns the datasets (frame-major)."""
    folder.mkdir(parents=True, exist_ok=True)
    stored, slope, intercept = rescale(image)
    lps = affine_lps(geom)
    nt, nz = image.shape[:2]
    out = []
    for t in range(nt):
        for z in range(nz):
            ds = _mr_dataset(who, meta, series, stored, t, z, lps, geom, slope, intercept, timing, anonymise)
            ds.save_as(folder / f"IM_{t:03d}_{z:03d}.dcm", enforce_file_format=True)
            out.append(ds)
    return out


def _device(kw: dict) -> dict:
    from cardiomm import __version__

    return {"manufacturer": "cardiomm", "manufacturer_model_name": "cardiomm", "software_versions": str(__version__),
            "device_serial_number": "none", **kw}


def write_seg(path: Path, sources: list, labels: np.ndarray, series: dict, method: str) -> object:
    """DICOM-SEG of a label map ``(n_sources, rows, cols)`` (values :data:`SEGMENTS`) over ``sources``."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    descs = []
    for n, (value, label, code, meaning) in enumerate(SEGMENTS, 1):
        descs.append(hd.seg.SegmentDescription(
            segment_number=n, segment_label=label,
            segmented_property_category=Code("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=Code(code, "SCT", meaning), algorithm_type="AUTOMATIC",
            algorithm_identification=hd.AlgorithmIdentificationSequence(
                name=f"cardiomm segmenter on {method}", version="1",
                family=codes.DCM.ArtificialIntelligence),
            display_color=hd.color.CIELabColor.from_rgb(*_COLOURS[value])))
    # label values -> segment numbers (1, 2, 3 in SEGMENTS order)
    lab = np.zeros(labels.shape, np.uint8)
    for n, (value, *_rest) in enumerate(SEGMENTS, 1):
        lab[labels == value] = n
    seg = hd.seg.Segmentation(source_images=sources, pixel_array=lab, segmentation_type="BINARY",
                              segment_descriptions=descs, series_instance_uid=series["uid"],
                              series_number=series["number"], sop_instance_uid=uid(series["uid"], "seg"),
                              instance_number=1, **_device({}),
                              series_description=series["description"][:64])
    seg.save_as(path, enforce_file_format=True)
    return seg


def write_parametric_map(path: Path, sources: list, values: np.ndarray, series: dict, biomarker: str) -> object:
    """Parametric Map (float32, ms) ``(nz, rows, cols)`` over one source image per slice."""
    import highdicom as hd
    from pydicom.sr.coding import Code

    v = np.nan_to_num(values.astype(np.float32))
    lo, hi = float(v.min()), float(v.max())
    rwvm = hd.pm.RealWorldValueMapping(lut_label=biomarker, lut_explanation=f"{biomarker} (ms)",
                                       unit=Code("ms", "UCUM", "millisecond"), value_range=(lo, hi if hi > lo else
                                                                                          lo + 1.0),
                                       slope=1.0, intercept=0.0)
    pm = hd.pm.ParametricMap(source_images=sources, pixel_array=v, series_instance_uid=series["uid"],
                             series_number=series["number"], sop_instance_uid=uid(series["uid"], "pm"),
                             instance_number=1, contains_recognizable_visual_features=False,
                             real_world_value_mappings=[rwvm],
                             voi_lut_transformations=[hd.VOILUTTransformation(window_center=(lo + hi) / 2,
                                                                              window_width=max(hi - lo, 1.0))],
                             **_device({}),
                             series_description=series["description"][:64])
    pm.save_as(path, enforce_file_format=True)
    return pm


def export_subject(subject: object, inputs: Mapping[str, str], out_dir: str | os.PathLike,
                   cfg: Mapping[str, object] | None = None) -> None:
    """Every series of one subject as DICOM under ``out_dir`` (written in a temporary folder, then renamed).

    ``inputs``: ``key("image" | "seg" | "map", method, mask, modality)`` -> NIfTI and, for scanner raw data,
    ``key("sidecar", modality)`` -> the ingest sidecar (:meth:`cardiomm.workflow.Plan.dicom_inputs`);
    ``cfg``: the config's ``dicom`` block (``anonymise``).
    """
    from cardiomm.io.scanner_sidecar import read_sidecar
    from cardiomm.workflow import named

    cfg = dict(cfg or {})
    anonymise = bool(cfg.get("anonymise", False))
    files = named(inputs)
    sides = {k[1]: read_sidecar(v) for k, v in files.items() if k[0] == "sidecar"}
    header = next(iter(sides.values()))["header"] if sides else {}
    who = identity(subject, header, anonymise)
    meta = {**{k: v for k, v in subject.meta.items() if k in ("vendor", "scanner", "field_strength_T")  # type: ignore
               and v not in (None, "", "unknown")}}
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    rows = []
    try:
        number = 0
        images = [k for k in files if k[0] == "image"]
        for _, method, mask, mod in images:
            img, geom = load_image(files[("image", method, mask, mod)])
            nt, nz = img.shape[:2]
            side = sides.get(mod)
            times = None
            if MODALITIES[mod].biomarker:
                try:
                    times = subject.times(mod, nz=nz, nt=nt)[0]  # type: ignore[attr-defined]
                except (FileNotFoundError, ValueError):
                    times = None
            name = f"{mod}_{method}_{mask}"
            number += 1
            desc = f"{mod} {method}" + ("" if mask == FULLY_SAMPLED else f" {mask}")
            series = {"uid": uid("series", subject.id, mod, method, mask, _digest(img)),  # type: ignore
                      "number": number, "description": desc}
            dss = write_mr_series(tmp / name, img, geom, who, meta, series, _timing(mod, nt, nz, geom, side, times),
                                  anonymise)
            rows += [{"file": f"{name}/IM_{t:03d}_{z:03d}.dcm", "kind": "MR image", "modality": mod,
                      "method": method, "mask": mask, "series_uid": series["uid"], "frame": t, "slice": z,
                      "sop_uid": dss[t * nz + z].SOPInstanceUID} for t in range(nt) for z in range(nz)]
            if ("seg", method, mask, mod) in files:
                lab, _ = load_image(files[("seg", method, mask, mod)])
                lab = lab.astype(np.uint8)
                # one SEG per frame: a SEG's frames are planes, one per position (highdicom refuses repeated
                # positions); mapping series have one label map per slice, over the first weighting's images
                for t in range(lab.shape[0]):
                    number += 1
                    sser = {"uid": uid("seg", series["uid"], t, _digest(lab[t])), "number": number,
                            "description": f"{desc} segmentation" + (f" frame {t}" if lab.shape[0] > 1 else "")}
                    fname = f"{name}_SEG/SEG_{t:03d}.dcm"
                    (tmp / fname).parent.mkdir(parents=True, exist_ok=True)
                    write_seg(tmp / fname, dss[t * nz:(t + 1) * nz], lab[t], sser, method)
                    rows.append({"file": fname, "kind": "SEG", "modality": mod, "method": method, "mask": mask,
                                 "series_uid": sser["uid"], "frame": t, "slice": "",
                                 "sop_uid": uid(sser["uid"], "seg")})
            if ("map", method, mask, mod) in files:
                bm = MODALITIES[mod].biomarker
                vmap, _ = load_image(files[("map", method, mask, mod)])
                number += 1
                pser = {"uid": uid("map", series["uid"], _digest(vmap)), "number": number,
                        "description": f"{desc} {bm} map (ms)"}
                write_parametric_map(tmp / f"{name}_{bm}map.dcm", dss[:nz], vmap[0], pser, bm)
                rows.append({"file": f"{name}_{bm}map.dcm", "kind": "Parametric Map", "modality": mod,
                             "method": method, "mask": mask, "series_uid": pser["uid"], "frame": "", "slice": "",
                             "sop_uid": uid(pser["uid"], "pm")})
        with open(tmp / "index.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "kind", "modality", "method", "mask", "series_uid", "frame",
                                               "slice", "sop_uid"])
            w.writeheader()
            w.writerows(rows)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
        log.info("%s: %d DICOM files (%d series) in %s", subject.id, len(rows), number, out_dir)  # type: ignore
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
