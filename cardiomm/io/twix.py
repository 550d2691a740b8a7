"""Siemens twix raw data (``.dat``, VB single measurement and VD/VE/XA multi-raid) through ``twixtools``.

The noise adjustment scan (a separate measurement of a multi-raid file, or lines flagged ``NOISEADJSCAN``) and the
measurement (the last measurement of the file) are taken; every other measurement (adjustments) is ignored.

What is read from where (MeasYaps = the protocol's ASCCONV part, MDH = each line's measurement data header)
-----------------------------------------------------------------------------------------------------------
=============================================  ====================================================================
twix field                                     cardiomm
=============================================  ====================================================================
MeasYaps sKSpace.ucTrajectory                  1 = Cartesian (anything else: an error, not supported yet)
MeasYaps sKSpace.ucDimension                   2 = 2D (4 = 3D: an error)
MeasYaps sKSpace.lPhaseEncodingLines           phase-encoding lines ``ny``
MDH SamplesInScan, MeasYaps                    readout samples; the oversampling factor is ``flReadoutOSFactor``
sKSpace.lBaseResolution                        (Dicom / Meas buffer) or samples / lBaseResolution
MeasYaps sSliceArray.asSlice[0] dReadoutFOV,   pixel size (``dReadoutFOV / lBaseResolution``, ``dPhaseFOV / ny``),
dPhaseFOV, dThickness                          thickness; the readout is cropped to lBaseResolution
MDH Counter Lin, Par, Sli, Phs, Eco, Set,      line, partition, slice, frame / weighting (``Eco`` is the contrast)
Rep, Ave; CenterLin
MDH flags NOISEADJSCAN, PATREFSCAN,            noise, ACS-only, ACS-and-image, reversed readout; PHASCOR,
PATREFANDIMASCAN, REFLECT                      feedback, sync and phase-stabilisation lines are ignored
MDH SliceData SlicePos (Sag, Cor, Tra),        slice position and orientation (the patient coordinate system, LPS);
Quaternion                                     the rotation as ``twixtools.geometry.prs2sct_mdb`` builds it:
                                               columns phase, read, slice after the read and phase columns'
                                               sign flip
MDH TimeSinceLastRF                            trigger time per frame (ms; the time since the ECG trigger that
                                               triggered cine sequences write there: an assumption)
MeasYaps alTR[0], alTE[0], alTI, adFlipAngle   TR, TE, TI (us -> ms), flip angle; ``alTI`` with one value per
Degree[0]                                      weighting = the inversion times of a T1 map. The sequence's
                                               sWipMemBlock is sequence-specific and not read: set the times in
                                               the config (``data.timing``) where alTI does not hold them
Config / Dicom tPatientName, PatientID,        identifiers and scanner, only where the file has them
tManufacturersModelName, flNominalB0
=============================================  ====================================================================
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

from cardiomm.io.rawdata import Header, RawDataError, RawSeries, Readouts, assemble

_IGNORED = ("ACQEND", "RTFEEDBACK", "HPFEEDBACK", "SYNCDATA", "REFPHASESTABSCAN", "PHASESTABSCAN", "PHASCOR",
            "noname60")


def _read(path: Path) -> list[dict]:
    import twixtools

    if not path.exists():
        raise RawDataError(path, "file does not exist")
    size = path.stat().st_size
    if size < 64:
        raise RawDataError(path, f"not a twix file: {size} bytes")
    try:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            scans = twixtools.read_twix(str(path), parse_pmu=False, parse_geometry=False, verbose=False)
    except Exception as err:  # twixtools raises many types for a broken file
        raise RawDataError(path, f"not a readable twix file, truncated or corrupt ({type(err).__name__}: {err})") \
            from None
    said = out.getvalue()
    if "stopping here" in said or not scans:
        raise RawDataError(path, "twix file truncated: a measurement data block runs past the end of the file")
    for s in scans:
        if "hdr" not in s or "MeasYaps" not in s["hdr"]:
            raise RawDataError(path, "twix header without a MeasYaps (ASCCONV) protocol")
    return scans


def _get(d: dict, *keys: object, default: object = None) -> object:
    for k in keys:
        try:
            d = d[k]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return default
    return d


def _header(path: Path, scan: dict, samples: int) -> Header:
    yaps = scan["hdr"]["MeasYaps"]
    traj = _get(yaps, "sKSpace", "ucTrajectory", default=1)
    if int(traj) != 1:
        raise RawDataError(path, f"trajectory {traj} (MeasYaps sKSpace.ucTrajectory; 1 = Cartesian): only Cartesian "
                                 f"data are supported yet")
    if int(_get(yaps, "sKSpace", "ucDimension", default=2)) != 2:
        raise RawDataError(path, "3D encoding (MeasYaps sKSpace.ucDimension != 2): only 2D multi-slice series are "
                                 "supported")
    base = _get(yaps, "sKSpace", "lBaseResolution")
    ny = _get(yaps, "sKSpace", "lPhaseEncodingLines")
    sl = _get(yaps, "sSliceArray", "asSlice", 0, default={})
    fov_r, fov_p, thick = (_get(sl, k) for k in ("dReadoutFOV", "dPhaseFOV", "dThickness"))
    missing = [n for n, v in (("sKSpace.lBaseResolution", base), ("sKSpace.lPhaseEncodingLines", ny),
                              ("sSliceArray.asSlice[0].dReadoutFOV", fov_r), ("sSliceArray.asSlice[0].dPhaseFOV",
                                                                                fov_p),
                              ("sSliceArray.asSlice[0].dThickness", thick)) if v is None]
    if missing:
        raise RawDataError(path, f"missing encoding limits in the protocol (MeasYaps {', '.join(missing)})")
    hdr = scan["hdr"]
    os_factor = next((float(v) for v in (_get(hdr, b, "flReadoutOSFactor") for b in ("Dicom", "Meas", "Config"))
                      if v not in (None, "")), samples / float(base))
    us = [float(v) / 1000.0 for v in (_get(yaps, "alTI") or []) if v]
    meta: dict[str, object] = {"vendor": "Siemens"}
    for key, where in (("patient_name", ("Config", "tPatientName")), ("patient_id", ("Config", "PatientID")),
                       ("scanner", ("Dicom", "tManufacturersModelName")), ("protocol", ("Config", "tProtocolName")),
                       ("field_strength_T", ("Dicom", "flMagneticFieldStrength"))):
        v = _get(hdr, *where)
        if v not in (None, ""):
            meta[key] = v
    b0 = _get(yaps, "sProtConsistencyInfo", "flNominalB0")
    if b0 not in (None, ""):
        meta.setdefault("field_strength_T", float(b0))
    times = {"TI": us} if us else {}
    sources = {"TI": "MeasYaps alTI"} if us else {}
    return Header((samples, int(ny), 1), (int(base), int(ny), 1), (float(fov_r) * os_factor, float(fov_p),
                                                                    float(thick)),
                  (float(fov_r), float(fov_p), float(thick)), None,
                  [float(v) / 1000 for v in (_get(yaps, "alTR") or [])[:1]],
                  [float(v) / 1000 for v in (_get(yaps, "alTE") or [])[:1]], us,
                  [float(v) for v in (_get(yaps, "adFlipAngleDegree") or [])[:1]], times, sources, meta)


def _rotation(quat: np.ndarray) -> np.ndarray:
    """Columns (read, phase, slice) in LPS from an MDH quaternion, as ``twixtools.geometry.prs2sct_mdb``."""
    from twixtools.geometry import quat_to_rotmat

    m = quat_to_rotmat(*[float(q) for q in quat])
    m[:, :2] *= -1  # prs2sct_mdb: "readout and pe are flipped"
    return np.stack([m[:, 1], m[:, 0], m[:, 2]], axis=1)


def _lines(scan: dict) -> list:
    return [m for m in scan["mdb"] if not any(m.is_flag_set(f) for f in _IGNORED)]


def probe_twix(path: str | os.PathLike) -> tuple[list[dict], list, list]:
    """``(scans, measurement lines, noise lines)`` (MDHs only, no samples read); errors name the file."""
    path = Path(path)
    scans = _read(path)
    meas = _lines(scans[-1])
    noise = [m for s in scans[:-1] for m in _lines(s) if m.is_flag_set("NOISEADJSCAN")]
    noise += [m for m in meas if m.is_flag_set("NOISEADJSCAN")]
    img = [m for m in meas if not m.is_flag_set("NOISEADJSCAN")]
    size = path.stat().st_size
    ends = [int(m.mem_pos) + int(m.dma_len) for m in img + noise if m.mem_pos is not None]
    if ends and max(ends) > size:
        raise RawDataError(path, f"twix file truncated: its lines run to byte {max(ends)}, the file has {size}")
    if not img:
        raise RawDataError(path, "no image lines in the measurement (only noise or adjustment data)")
    coils = sorted({int(m.mdh.UsedChannels) for m in img + noise})
    if len(coils) > 1:
        raise RawDataError(path, f"inconsistent coil counts: lines have {coils} channels")
    samples = sorted({int(m.mdh.SamplesInScan) for m in img})
    if len(samples) > 1:
        raise RawDataError(path, f"mixed matrix sizes: image lines have {samples} readout samples")
    _header(path, scans[-1], samples[0])
    return scans, img, noise


def counters(lines: list) -> dict[str, np.ndarray]:
    c = [m.mdh.Counter for m in lines]
    return {"line": np.array([x.Lin for x in c]), "partition": np.array([x.Par for x in c]),
            "slice": np.array([x.Sli for x in c]), "phase": np.array([x.Phs for x in c]),
            "contrast": np.array([x.Eco for x in c]), "set": np.array([x.Set for x in c]),
            "repetition": np.array([x.Rep for x in c]), "average": np.array([x.Ave for x in c])}


def read_twix(path: str | os.PathLike, kind: str) -> RawSeries:
    """Read a twix file as one series (:func:`cardiomm.io.rawdata.assemble`); errors name the file."""
    path = Path(path)
    scans, img, noise_lines = probe_twix(path)
    samples = int(img[0].mdh.SamplesInScan)
    hdr = _header(path, scans[-1], samples)
    try:
        data = np.stack([np.asarray(m.data, np.complex64) for m in img])
        noise = np.concatenate([np.asarray(m.data, np.complex64) for m in noise_lines], axis=1) if noise_lines \
            else None
    except (ValueError, OSError) as err:
        raise RawDataError(path, f"line data cannot be read, file truncated? ({err})") from None
    ny = hdr.enc_matrix[1]
    centre = int(img[0].mdh.CenterLin)
    c = counters(img)
    rot = np.stack([_rotation(np.asarray(m.mdh.SliceData.Quaternion)) for m in img])
    pos = np.array([[m.mdh.SliceData.SlicePos.Sag, m.mdh.SliceData.SlicePos.Cor, m.mdh.SliceData.SlicePos.Tra]
                    for m in img], float)
    patref = np.array([m.is_flag_set("PATREFSCAN") for m in img])
    both = np.array([m.is_flag_set("PATREFANDIMASCAN") for m in img])
    ro = Readouts(data, c, patref | both, ~patref | both, np.array([m.is_flag_set("REFLECT") for m in img]),
                  np.array([float(m.mdh.TimeSinceLastRF) for m in img]), pos, rot[:, :, 0], rot[:, :, 1],
                  rot[:, :, 2])
    hdr.step1_center = centre if centre else ny // 2
    return assemble(ro, hdr, kind, path, noise)
