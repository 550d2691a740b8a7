"""MRD / ISMRMRD raw data (HDF5, the ``ismrmrd`` package's layout): Cartesian multi-coil 2D cine and mapping.

What is read from where (header = the ISMRMRD XML header, acquisition = each acquisition's header)
--------------------------------------------------------------------------------------------------
==============================================  =================================================================
header / acquisition field                      cardiomm
==============================================  =================================================================
encoding[0].trajectory                          must be ``cartesian`` (anything else: an error, not supported yet)
encoding[0].encodedSpace.matrixSize x, y        readout samples, phase-encoding lines (``nx`` before the crop, ``ny``)
encoding[0].encodedSpace.fieldOfView_mm         pixel size ``dx = fov.x / matrix.x``, ``dy = fov.y / matrix.y``,
                                                slice thickness ``fov.z``
encoding[0].reconSpace.fieldOfView_mm.x         readout oversampling: where the encoded FOV x exceeds it, the readout
                                                is cropped to ``matrix.x * recon.x / encoded.x`` pixels
encoding[0].encodingLimits.kspace_encoding_     required; its ``center`` puts the k-space centre line at ``ny // 2``
step_1
encoding[0].parallelImaging                     recorded (the sampling mask itself comes from the lines present)
sequenceParameters TR, TE, TI, flipAngle_deg    ``tr_ms``, ``te_ms``, ``ti_ms``, ``flip_deg`` (DICOM output); ``TI``
                                                with one value per weighting = the inversion times of a T1 map
userParameters userParameterDouble              per-weighting times of a mapping series by name (``TI``,
                                                ``T2prep``, ``SpinLockTime``, ...: :data:`cardiomm.io.rawdata.
                                                TIME_NAMES`), repeated or numbered (``TI_0``, ``TI_1``, ...)
subjectInformation, studyInformation,           patient name / id / birth date / sex, study UID, date, frame of
measurementInformation                          reference, protocol (only what the file has; DICOM output)
acquisitionSystemInformation                    vendor, model, field strength (subject metadata)
acquisition flags                               ACQ_IS_NOISE_MEASUREMENT: noise (pre-whitening);
                                                ACQ_IS_PARALLEL_CALIBRATION(_AND_IMAGING): ACS lines;
                                                ACQ_IS_REVERSE: reversed readout; navigator, phase-correction,
                                                dummy, feedback lines: ignored
acquisition idx kspace_encode_step_1, slice,    the line, slice and frame / weighting it belongs to
phase, contrast, set, repetition, average
acquisition position, read_dir, phase_dir,      the slice geometry (NIfTI affine, DICOM position and orientation)
slice_dir
acquisition physiology_time_stamp[0]            trigger time per frame, in ticks of 2.5 ms (the Siemens-to-MRD
                                                converters' unit; an assumption for other vendors)
acquisition user_float[0]                       per-weighting time of a mapping series when it is constant within
                                                each weighting and differs between them
==============================================  =================================================================
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiomm.io.rawdata import Header, RawDataError, RawSeries, Readouts, assemble

PHYSIO_TICK_MS = 2.5
#: acquisition flags (bit numbers, 1-based as ISMRMRD numbers them) of lines that are not image data
_IGNORED_FLAGS = (23, 24, 26, 27, 28, 29, 30, 31)  # navigator, phasecorr, hpfeedback, dummy, rtfeedback, ...
_NOISE, _CALIB, _CALIB_IMG, _REVERSE = 19, 20, 21, 22


def _flag(flags: np.ndarray, bit: int) -> np.ndarray:
    return (flags & np.uint64(1 << (bit - 1))) != 0


@dataclass
class MrdFile:
    """The header and the acquisition headers of an MRD file (no k-space samples read)."""

    path: Path
    group: str
    header: object  # ismrmrd.xsd.ismrmrdHeader
    heads: np.ndarray  # structured (n,), ismrmrd.hdf5.acquisition_header_dtype


def open_mrd(path: str | os.PathLike) -> MrdFile:
    """Read the XML header and every acquisition header of an MRD file; errors name the file.

    The group is ``dataset`` (the ISMRMRD default) or the file's only group.
    """
    import h5py
    import ismrmrd.xsd

    path = Path(path)
    if not path.exists():
        raise RawDataError(path, "file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise RawDataError(path, f"not a readable HDF5 (MRD) file, truncated or corrupt ({err})") from None
    with f:
        groups = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        group = "dataset" if "dataset" in groups else (groups[0] if len(groups) == 1 else None)
        if group is None:
            raise RawDataError(path, f"no MRD dataset group: expected 'dataset' or one group, found {groups}")
        g = f[group]
        if "xml" not in g:
            raise RawDataError(path, f"group {group!r} has no ISMRMRD XML header ('xml')")
        if "data" not in g:
            raise RawDataError(path, f"group {group!r} has no acquisitions ('data'): an MRD file without image "
                                     f"acquisitions")
        try:
            xml = g["xml"][0]
            heads = g["data"].fields("head")[:]
        except (OSError, RuntimeError, KeyError) as err:
            raise RawDataError(path, f"cannot read the MRD datasets, file truncated? ({err})") from None
    try:
        header = ismrmrd.xsd.CreateFromDocument(xml)
    except Exception as err:  # xsdata raises several types for a malformed header
        raise RawDataError(path, f"the ISMRMRD XML header does not parse ({str(err).splitlines()[0][:200]})") from None
    return MrdFile(path, group, header, heads)


def _header(m: MrdFile) -> Header:
    h = m.header
    if not h.encoding:
        raise RawDataError(m.path, "the header has no encoding section")
    enc = h.encoding[0]
    traj = getattr(enc.trajectory, "value", str(enc.trajectory))
    if traj != "cartesian":
        raise RawDataError(m.path, f"trajectory {traj!r} (encoding[0].trajectory): only Cartesian data are "
                                   f"supported yet")
    lim = enc.encodingLimits
    if lim is None or lim.kspace_encoding_step_1 is None:
        raise RawDataError(m.path, "missing encoding limits (encoding[0].encodingLimits.kspace_encoding_step_1): "
                                   "cannot place the phase-encoding lines")
    em, ef = enc.encodedSpace.matrixSize, enc.encodedSpace.fieldOfView_mm
    rm, rf = enc.reconSpace.matrixSize, enc.reconSpace.fieldOfView_mm
    sp = h.sequenceParameters
    times, sources = _user_times(h)
    meta: dict[str, object] = {}
    si, st, mi, asi = h.subjectInformation, h.studyInformation, h.measurementInformation, \
        h.acquisitionSystemInformation
    if si is not None:
        meta.update({k: v for k, v in (("patient_name", si.patientName), ("patient_id", si.patientID),
                                       ("patient_birth_date", si.patientBirthdate),
                                       ("patient_sex", si.patientGender)) if v not in (None, "")})
    if st is not None:
        meta.update({k: v for k, v in (("study_uid", st.studyInstanceUID), ("study_date", st.studyDate),
                                       ("study_time", st.studyTime), ("study_id", st.studyID),
                                       ("study_description", st.studyDescription)) if v not in (None, "")})
    if mi is not None:
        meta.update({k: v for k, v in (("frame_of_reference_uid", mi.frameOfReferenceUID),
                                       ("protocol", mi.protocolName), ("series_description", mi.seriesDescription),
                                       ("series_date", mi.seriesDate),
                                       ("patient_position", getattr(mi.patientPosition, "value", None)))
                     if v not in (None, "")})
    if asi is not None:
        meta.update({k: v for k, v in (("vendor", asi.systemVendor), ("scanner", asi.systemModel),
                                       ("field_strength_T", asi.systemFieldStrength_T),
                                       ("institution", asi.institutionName)) if v not in (None, "")})
    meta = {k: (str(v) if not isinstance(v, (int, float)) else v) for k, v in meta.items()}
    if enc.parallelImaging is not None:
        af = enc.parallelImaging.accelerationFactor
        meta["parallel_imaging_R"] = int(af.kspace_encoding_step_1)
    ti = list(sp.TI) if sp is not None else []
    if ti:
        sources.setdefault("ti_ms", "header sequenceParameters.TI")
    return Header((em.x, em.y, em.z), (rm.x, rm.y, rm.z), (ef.x, ef.y, ef.z), (rf.x, rf.y, rf.z),
                  int(lim.kspace_encoding_step_1.center), list(sp.TR) if sp else [], list(sp.TE) if sp else [], ti,
                  list(sp.flipAngle_deg) if sp else [], times, sources, meta)


_NUMBERED = re.compile(r"^(?P<base>.+?)_?(?P<i>\d+)$")


def _user_times(h: object) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Per-weighting times among the userParameterDouble entries: a name repeated, or numbered ``<name>_<i>``."""
    up = getattr(h, "userParameters", None)
    if up is None:
        return {}, {}
    seen: dict[str, list[tuple[int, float]]] = {}
    for n, p in enumerate(up.userParameterDouble):
        m = _NUMBERED.match(p.name)
        base, idx = (m["base"], int(m["i"])) if m else (p.name, n)
        seen.setdefault(base, []).append((idx, float(p.value)))
    out = {k: [v for _, v in sorted(vals)] for k, vals in seen.items()}
    return out, {k: f"header userParameters.userParameterDouble {k!r}" for k in out}


def _counters(heads: np.ndarray) -> dict[str, np.ndarray]:
    idx = heads["idx"]
    return {"line": idx["kspace_encode_step_1"].astype(int), "partition": idx["kspace_encode_step_2"].astype(int),
            "slice": idx["slice"].astype(int), "phase": idx["phase"].astype(int),
            "contrast": idx["contrast"].astype(int), "set": idx["set"].astype(int),
            "repetition": idx["repetition"].astype(int), "average": idx["average"].astype(int)}


def _selection(m: MrdFile) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(keep, noise, calibration, imaging)`` bool arrays over the acquisitions."""
    flags = m.heads["flags"]
    ignored = np.zeros(flags.shape, bool)
    for b in _IGNORED_FLAGS:
        ignored |= _flag(flags, b)
    noise = _flag(flags, _NOISE)
    calib_only = _flag(flags, _CALIB)
    calib_img = _flag(flags, _CALIB_IMG)
    imaging = ~ignored & ~noise & ~calib_only
    calibration = (calib_only | calib_img) & ~ignored
    return ~ignored, noise, calibration, imaging


def check_consistent(m: MrdFile) -> None:
    """Coil counts and readout lengths equal over the image (and noise) acquisitions; raises naming the file."""
    keep, noise, calib, imaging = _selection(m)
    if not imaging.any():
        raise RawDataError(m.path, "no image acquisitions (every acquisition is noise, calibration or "
                                   "navigator data): an MRD file without image acquisitions")
    data = keep & (imaging | calib | noise)
    coils = np.unique(m.heads["active_channels"][data])
    if coils.size > 1:
        raise RawDataError(m.path, f"inconsistent coil counts: acquisitions have {sorted(coils.tolist())} active "
                                   f"channels")
    sel = imaging | calib
    samples = np.unique(m.heads["number_of_samples"][sel])
    if samples.size > 1:
        raise RawDataError(m.path, f"mixed matrix sizes: image acquisitions have {sorted(samples.tolist())} "
                                   f"readout samples")
    if m.heads["trajectory_dimensions"][sel].max(initial=0) > 0:
        raise RawDataError(m.path, "acquisitions carry a trajectory: only Cartesian data are supported yet")


def sampled_lines(m: MrdFile, kind: str) -> tuple[bool, int, int]:
    """From the acquisition headers only: ``(fully sampled, nz, nt)`` (every encoded line in every frame and
    slice?), for the workflow's plan at start-up."""
    from cardiomm.io.rawdata import _weight_axis

    hdr = _header(m)
    check_consistent(m)
    keep, noise, calib, imaging = _selection(m)
    c = _counters(m.heads)
    ro = Readouts(np.zeros((len(m.heads), 1, 1), np.complex64), c, calib, imaging,
                  np.zeros(len(m.heads), bool), np.zeros(len(m.heads)), np.zeros((len(m.heads), 3)),
                  np.zeros((len(m.heads), 3)), np.zeros((len(m.heads), 3)), np.zeros((len(m.heads), 3)))
    w = _weight_axis(ro, kind, m.path)
    sel = imaging | calib
    ny = int(hdr.enc_matrix[1])
    z, t = c["slice"][sel], c[w][sel]
    nz, nt = np.unique(c["slice"][imaging]).size, np.unique(c[w][imaging]).size
    lines = {(a, b, li) for a, b, li in zip(z.tolist(), t.tolist(), c["line"][sel].tolist())}
    return len(lines) >= nz * nt * ny, nz, nt


def user_times(m: MrdFile, kind: str) -> list[float] | None:
    """``user_float[0]`` per weighting when it is constant within each weighting (else ``None``)."""
    from cardiomm.io.rawdata import _weight_axis

    keep, noise, calib, imaging = _selection(m)
    c = _counters(m.heads)
    n = len(m.heads)
    ro = Readouts(np.zeros((n, 1, 1), np.complex64), c, calib, imaging, np.zeros(n, bool), np.zeros(n),
                  np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3)))
    w = _weight_axis(ro, kind, m.path)
    u = m.heads["user_float"][:, 0].astype(float)
    out = []
    for f in np.unique(c[w][imaging]):
        v = u[imaging & (c[w] == f)]
        if not np.all(v == v[0]):
            return None
        out.append(float(v[0]))
    return out if any(x != 0 for x in out) else None


def header_times(m: MrdFile) -> tuple[dict[str, list[float]], dict[str, str], list[float]]:
    """``(named times, their sources, sequenceParameters.TI)`` of the header (no data read)."""
    hdr = _header(m)
    return hdr.times, hdr.time_sources, hdr.ti_ms


def read_mrd(path: str | os.PathLike, kind: str) -> RawSeries:
    """Read an MRD file as one series (:func:`cardiomm.io.rawdata.assemble`); ``kind`` ``cine`` or ``mapping``.

    Raises :class:`cardiomm.io.rawdata.RawDataError` naming the file for every unsupported or broken input.
    """
    import h5py

    m = open_mrd(path)
    hdr = _header(m)
    check_consistent(m)
    keep, noise, calib, imaging = _selection(m)
    use = np.flatnonzero(keep & (noise | calib | imaging))
    try:
        with h5py.File(m.path, "r") as f:
            raw = f[m.group]["data"].fields("data")[:]
    except (OSError, RuntimeError) as err:
        raise RawDataError(m.path, f"acquisition data cannot be read, file truncated? ({err})") from None
    ns = m.heads["number_of_samples"][use].astype(int)
    nc = m.heads["active_channels"][use].astype(int)
    lines, noise_rows = [], []
    for j, i in enumerate(use):
        v = np.asarray(raw[i], np.float32)
        if v.size != 2 * ns[j] * nc[j]:
            raise RawDataError(m.path, f"acquisition {i} holds {v.size} values, its header says {nc[j]} coils x "
                                       f"{ns[j]} samples (truncated?)")
        d = v.view(np.complex64).reshape(nc[j], ns[j])
        if noise[i]:
            noise_rows.append(d)  # noise lines may be of another length than the image lines
        else:
            lines.append(j)
    sel = use[lines]
    heads = m.heads[sel]
    img_ns = int(heads["number_of_samples"][0])
    data = np.stack([np.asarray(raw[i], np.float32).view(np.complex64).reshape(-1, img_ns) for i in sel])
    ro = Readouts(data, _counters(heads), calib[sel], imaging[sel], _flag(heads["flags"], _REVERSE),
                  _trigger(heads), heads["position"].astype(float), heads["read_dir"].astype(float),
                  heads["phase_dir"].astype(float), heads["slice_dir"].astype(float),
                  heads["user_float"][:, 0].astype(float))
    return assemble(ro, hdr, kind, m.path, np.concatenate(noise_rows, axis=1) if noise_rows else None)


def _trigger(heads: np.ndarray) -> np.ndarray:
    """Trigger times (ms) from ``physiology_time_stamp[0]``; NaN when the file has none (all zero)."""
    stamp = heads["physiology_time_stamp"][:, 0].astype(float)
    return stamp * PHYSIO_TICK_MS if (stamp > 0).any() else np.full(stamp.shape, np.nan)
