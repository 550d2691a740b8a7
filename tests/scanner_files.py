"""Small MRD (ISMRMRD HDF5) and Siemens twix files of a phantom subject, written with the libraries' own writers in
the real layout: one acquisition (MRD) / one measurement data block (twix) per line, counters for line, slice,
frame / weighting, noise lines first, calibration (ACS) lines flagged, oversampled readout, any slice orientation.

MRD files are written by ``ismrmrd`` (``Dataset.append_acquisition``, the XML header by ``ismrmrd.xsd``); VE twix
files by ``twixtools.write_twix``; VB twix files byte by byte from ``twixtools.mdh_def.VB17_header`` (the VB
layout: a 128-byte MDH before every channel's samples), because ``write_twix`` writes VB files wrongly (it says
"WIP: VB version" and puts an extra MDH before each line), and the twix header buffers from the documented
layout (``uint32`` header length, ``uint32`` buffer count, then ``name\\0``, ``uint32`` length, text per buffer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardiomm.physics.fft import fft1c, ifft1c


@dataclass
class Scan:
    """What a file holds, to compare the reader's result with.

    kspace: ``(nt, nz, nc, ny, nx)`` at the reconstructed readout size; mask ``(nt, ny)`` lines written (1) or not.
    """

    kspace: np.ndarray
    kind: str
    dx: float = 2.0
    dy: float = 2.0
    thickness: float = 8.0
    spacing: float = 10.0
    read_dir: tuple = (1.0, 0.0, 0.0)
    phase_dir: tuple = (0.0, 1.0, 0.0)
    slice_dir: tuple = (0.0, 0.0, 1.0)
    centre: tuple = (0.0, 0.0, 0.0)  # position of slice 0
    oversampling: int = 1
    acs: int = 0  # ACS lines flagged (central), 0: none
    mask: np.ndarray | None = None  # (nt, ny) lines acquired; None: all
    noise_cov: np.ndarray | None = None  # coil noise covariance of a noise scan; None: no noise scan
    noise_samples: int = 512
    times: list[float] = field(default_factory=list)  # per-weighting times
    times_where: str = "user"  # user (userParameterDouble) | ti (sequenceParameters.TI) | acq (user_float[0])
    times_name: str = "TI"
    trigger_ms: list[float] = field(default_factory=list)
    patient: dict = field(default_factory=dict)
    weight_counter: str = "phase"  # cine: phase; mapping: contrast / set / repetition
    seed: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.kspace.shape)

    def positions(self) -> np.ndarray:
        nz = self.kspace.shape[1]
        return np.array(self.centre)[None] + np.arange(nz)[:, None] * self.spacing * np.array(self.slice_dir)[None]

    def oversampled(self) -> np.ndarray:
        """The k-space as written: readout oversampled ``oversampling`` times (image zero-padded along x)."""
        import torch

        if self.oversampling == 1:
            return self.kspace
        nx = self.kspace.shape[-1]
        img = ifft1c(torch.from_numpy(self.kspace), dim=-1).numpy()
        pad = nx * (self.oversampling - 1)
        img = np.pad(img, [(0, 0)] * 4 + [(pad // 2, pad - pad // 2)])
        return fft1c(torch.from_numpy(img), dim=-1).numpy().astype(np.complex64)

    def lines(self) -> np.ndarray:
        nt, _, _, ny, _ = self.kspace.shape
        return np.ones((nt, ny), bool) if self.mask is None else self.mask.astype(bool)

    def noise(self) -> np.ndarray:
        nc = self.kspace.shape[2]
        rng = np.random.default_rng(self.seed)
        w = (rng.standard_normal((nc, self.noise_samples)) + 1j * rng.standard_normal((nc, self.noise_samples)))
        return (np.linalg.cholesky(self.noise_cov) @ w / np.sqrt(2)).astype(np.complex64)

    def acs_lines(self) -> list[int]:
        ny = self.kspace.shape[3]
        return list(range(ny // 2 - self.acs // 2, ny // 2 - self.acs // 2 + self.acs)) if self.acs else []


def rotation(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """A rotation matrix (columns: read, phase, slice directions) from three Euler angles (deg)."""
    a, b, c = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def expected_affine_lps(s: Scan) -> np.ndarray:
    nt, nz, nc, ny, nx = s.shape
    a = np.eye(4)
    rd, pd, sd = (np.array(v, float) for v in (s.read_dir, s.phase_dir, s.slice_dir))
    a[:3, 0], a[:3, 1] = rd * s.dx, pd * s.dy
    a[:3, 2] = sd * s.spacing if nz > 1 else sd * s.thickness
    a[:3, 3] = np.array(s.centre) - (nx // 2) * s.dx * rd - (ny // 2) * s.dy * pd
    return a


# ------------------------------------------------------------------------------------------------ MRD


def write_mrd(path: Path, s: Scan, trajectory: str = "cartesian", drop_limits: bool = False,
              coils_of_last: int | None = None, samples_of_last: int | None = None,
              noise_only: bool = False) -> Path:
    """Write ``s`` as an MRD file with ``ismrmrd``; the keyword arguments break it on purpose (bad-input tests)."""
    import ismrmrd
    import ismrmrd.xsd as x

    k = s.oversampled()
    nt, nz, nc, ny, nxo = k.shape
    nx = s.kspace.shape[-1]
    h = x.ismrmrdHeader(experimentalConditions=x.experimentalConditionsType(H1resonanceFrequency_Hz=123_000_000))
    h.acquisitionSystemInformation = x.acquisitionSystemInformationType(
        systemVendor="Siemens", systemModel="Vida", systemFieldStrength_T=3.0, receiverChannels=nc)
    if s.patient:
        h.subjectInformation = x.subjectInformationType(patientName=s.patient.get("name"),
                                                        patientID=s.patient.get("id"))
        h.studyInformation = x.studyInformationType(studyInstanceUID=s.patient.get("study_uid"))
    h.measurementInformation = x.measurementInformationType(patientPosition=x.patientPositionType.HFS,
                                                            protocolName=f"phantom {s.kind}")
    enc_space = x.encodingSpaceType(matrixSize=x.matrixSizeType(x=nxo, y=ny, z=1),
                                           fieldOfView_mm=x.fieldOfViewMm(x=nxo * s.dx, y=ny * s.dy, z=s.thickness))
    recon_space = x.encodingSpaceType(matrixSize=x.matrixSizeType(x=nx, y=ny, z=1),
                                         fieldOfView_mm=x.fieldOfViewMm(x=nx * s.dx, y=ny * s.dy, z=s.thickness))
    lim = x.encodingLimitsType()
    if not drop_limits:
        lim.kspace_encoding_step_1 = x.limitType(minimum=0, maximum=ny - 1, center=ny // 2)
    lim.slice = x.limitType(minimum=0, maximum=nz - 1, center=0)
    enc = x.encodingType(encodedSpace=enc_space, reconSpace=recon_space, encodingLimits=lim,
                         trajectory=x.trajectoryType(trajectory))
    if s.mask is not None:
        enc.parallelImaging = x.parallelImagingType(accelerationFactor=x.accelerationFactorType(
            kspace_encoding_step_1=round(ny * nt / s.lines().sum()), kspace_encoding_step_2=1))
    h.encoding.append(enc)
    sp = x.sequenceParametersType(TR=[3.2], TE=[1.4], flipAngle_deg=[40.0])
    if s.times and s.times_where == "ti":
        sp.TI = list(s.times)
    h.sequenceParameters = sp
    if s.times and s.times_where == "user":
        h.userParameters = x.userParametersType(userParameterDouble=[
            x.userParameterDoubleType(name=f"{s.times_name}_{i}", value=float(v)) for i, v in enumerate(s.times)])
    path.parent.mkdir(parents=True, exist_ok=True)
    with ismrmrd.Dataset(str(path), "dataset", create_if_needed=True) as d:
        d.write_xml_header(h.toXML())
        scan = 0
        if s.noise_cov is not None:
            a = ismrmrd.Acquisition.from_array(s.noise())
            a.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
            a.scan_counter = scan
            d.append_acquisition(a)
            scan += 1
        if noise_only:
            return path
        lines = s.lines()
        acs = set(s.acs_lines())
        pos = s.positions()
        for z in range(nz):
            for t in range(nt):
                for y in range(ny):
                    if not lines[t, y]:
                        continue
                    data = k[t, z, :, y]
                    last = z == nz - 1 and t == nt - 1 and y == ny - 1
                    if last and coils_of_last:
                        data = np.resize(data, (coils_of_last, nxo))
                    if last and samples_of_last:
                        data = np.resize(data, (data.shape[0], samples_of_last))
                    a = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data, np.complex64))
                    a.scan_counter = scan
                    scan += 1
                    a.idx.kspace_encode_step_1 = y
                    a.idx.slice = z
                    setattr(a.idx, s.weight_counter, t)
                    a.center_sample = nxo // 2
                    a.position[:] = pos[z]
                    a.read_dir[:] = s.read_dir
                    a.phase_dir[:] = s.phase_dir
                    a.slice_dir[:] = s.slice_dir
                    if s.trigger_ms:
                        a.physiology_time_stamp[0] = int(round(s.trigger_ms[t] / 2.5))
                    if s.times and s.times_where == "acq":
                        a.user_float[0] = s.times[t]
                    if y in acs:
                        a.set_flag(ismrmrd.ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING)
                    d.append_acquisition(a)
    return path


# ------------------------------------------------------------------------------------------------ twix


def _quaternion(rd: np.ndarray, pd: np.ndarray, sd: np.ndarray) -> list[float]:
    """The MDH quaternion (scalar first) whose ``twixtools.geometry.prs2sct_mdb`` rotation has columns
    (phase, read, slice) = (pd, rd, sd); ``sd`` must be ``pd x rd`` (a proper rotation after the sign flip)."""
    m = np.stack([-pd, -rd, sd], axis=1)  # undo prs2sct_mdb's flip of the first two columns
    w = np.sqrt(max(0.0, 1 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
    if w > 1e-6:
        return [w, (m[2, 1] - m[1, 2]) / (4 * w), (m[0, 2] - m[2, 0]) / (4 * w), (m[1, 0] - m[0, 1]) / (4 * w)]
    i = int(np.argmax(np.diag(m)))
    j, k = (i + 1) % 3, (i + 2) % 3
    r = np.sqrt(1 + m[i, i] - m[j, j] - m[k, k])
    q = [0.0, 0.0, 0.0, 0.0]
    q[0] = (m[k, j] - m[j, k]) / (2 * r)
    q[1 + i] = r / 2
    q[1 + j] = (m[j, i] + m[i, j]) / (2 * r)
    q[1 + k] = (m[k, i] + m[i, k]) / (2 * r)
    return q


def twix_protocol(s: Scan, trajectory: int = 1, drop: tuple[str, ...] = ()) -> bytes:
    """The twix header: buffers Config, Dicom, Meas, MeasYaps (ASCCONV), in the documented layout."""
    nt, nz, nc, ny, nx = s.shape
    yaps = {"sKSpace.lBaseResolution": nx, "sKSpace.lPhaseEncodingLines": ny, "sKSpace.ucDimension": "0x2",
            "sKSpace.ucTrajectory": f"0x{trajectory:x}", "sSliceArray.lSize": nz,
            "sSliceArray.asSlice[0].dReadoutFOV": nx * s.dx, "sSliceArray.asSlice[0].dPhaseFOV": ny * s.dy,
            "sSliceArray.asSlice[0].dThickness": s.thickness, "alTR[0]": 3200, "alTE[0]": 1400,
            "adFlipAngleDegree[0]": 40.0, "sProtConsistencyInfo.flNominalB0": 2.89362}
    for i, t in enumerate(s.times):
        yaps[f"alTI[{i}]"] = int(round(t * 1000))
    for k in drop:
        yaps.pop(k)
    text = "### ASCCONV BEGIN ###\n" + "".join(f"{k} = {v}\n" for k, v in yaps.items()) + "### ASCCONV END ###\n"
    bufs = {"Config": '<ParamString."tPatientName">  { "' + s.patient.get("name", "") + '" }\n'
                      if s.patient else "\n",
            "Dicom": '<ParamDouble."flReadoutOSFactor">  { <Precision> 6  ' + f"{float(s.oversampling):.6f}" + " }\n"
                     '<ParamString."tManufacturersModelName">  { "Vida" }\n',
            "Meas": "\n", "MeasYaps": text}
    body = b""
    for name, t in bufs.items():
        raw = t.encode("latin1")
        body += name.encode() + b"\x00" + np.uint32(len(raw)).tobytes() + raw
    return body


def _header_bytes(body: bytes, n_buffers: int, min_len: int) -> bytes:
    n = max(min_len, 8 + len(body))
    n += (32 - n % 32) % 32
    return np.uint32(n).tobytes() + np.uint32(n_buffers).tobytes() + body + b"\x00" * (n - 8 - len(body))


def _twix_lines(s: Scan, oversampled: np.ndarray) -> list[tuple[dict, np.ndarray]]:
    """``(mdh fields, data (nc, ns))`` of every line, noise lines first."""
    nt, nz, nc, ny, nxo = oversampled.shape
    rd, pd = (np.array(v, float) for v in (s.read_dir, s.phase_dir))
    sd = np.cross(pd, rd)
    quat = _quaternion(rd, pd, sd)
    pos = np.array(s.centre)[None] + np.arange(nz)[:, None] * s.spacing * sd[None]
    lines = s.lines()
    acs = set(s.acs_lines())
    out = []
    for z in range(nz):
        for t in range(nt):
            for y in range(ny):
                if not lines[t, y]:
                    continue
                c = {"Lin": y, "Sli": z, {"phase": "Phs", "contrast": "Eco", "set": "Set",
                                          "repetition": "Rep"}[s.weight_counter]: t}
                f = {"counter": c, "pos": pos[z], "quat": quat, "flags": ["PATREFANDIMASCAN"] if y in acs else [],
                     "trigger": int(s.trigger_ms[t]) if s.trigger_ms else 0, "center_lin": ny // 2,
                     "center_col": nxo // 2}
                out.append((f, oversampled[t, z, :, y]))
    return out


def _fill(mdh: object, f: dict) -> None:
    for k, v in f["counter"].items():
        setattr(mdh.Counter, k, v)
    mdh.SliceData.SlicePos.Sag, mdh.SliceData.SlicePos.Cor, mdh.SliceData.SlicePos.Tra = (float(v) for v in f["pos"])
    for i, q in enumerate(f["quat"]):
        mdh.SliceData.Quaternion[i] = q
    mdh.TimeSinceLastRF = f["trigger"]
    mdh.CenterLin = f["center_lin"]
    mdh.CenterCol = f["center_col"]


def twix_scan_geometry(s: Scan) -> np.ndarray:
    """The affine a reader must find for a twix file written from ``s`` (slice direction ``phase x read``)."""
    rd, pd = (np.array(v, float) for v in (s.read_dir, s.phase_dir))
    return expected_affine_lps(Scan(s.kspace, s.kind, s.dx, s.dy, s.thickness, s.spacing, s.read_dir, s.phase_dir,
                                    tuple(np.cross(pd, rd)), s.centre))


def write_twix_ve(path: Path, s: Scan, trajectory: int = 1, drop: tuple[str, ...] = (),
                  truncate: int = 0, coils_of_last: int | None = None, samples_of_last: int | None = None) -> Path:
    """A VE multi-raid twix file (noise adjustment scan, then the measurement) with ``twixtools.write_twix``."""
    import twixtools
    from twixtools.mdb import Mdb_local

    k = s.oversampled()
    scans = []
    if s.noise_cov is not None:
        m = Mdb_local(s.noise())
        m.add_flag("NOISEADJSCAN")
        scans.append({"hdr_str": np.frombuffer(_header_bytes(twix_protocol(s, trajectory, drop), 4, 0), "S1"),
                      "mdb": [m]})
    mdbs = []
    lines = _twix_lines(s, k)
    for n, (f, d) in enumerate(lines):
        if n == len(lines) - 1 and coils_of_last:
            d = np.resize(d, (coils_of_last, d.shape[1]))
        if n == len(lines) - 1 and samples_of_last:
            d = np.resize(d, (d.shape[0], samples_of_last))
        m = Mdb_local(np.ascontiguousarray(d, np.complex64))
        _fill(m.mdh, f)
        for fl in f["flags"]:
            m.add_flag(fl)
        mdbs.append(m)
    scans.append({"hdr_str": np.frombuffer(_header_bytes(twix_protocol(s, trajectory, drop), 4, 0), "S1"),
                  "mdb": mdbs})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        twixtools.write_twix(scans, str(path), version_is_ve=True)
    if truncate:
        with open(path, "r+b") as fh:
            fh.truncate(path.stat().st_size - truncate)
    return path


def write_twix_vb(path: Path, s: Scan) -> Path:
    """A VB twix file, byte by byte: header (>= 10,000 bytes, so that readers tell VB from VD/VE), then per line and
    channel a 128-byte ``VB17_header`` followed by the channel's samples, then an ACQEND header."""
    from twixtools import mdh_def

    k = s.oversampled()
    out = bytearray(_header_bytes(twix_protocol(s), 4, 10240))
    lines = _twix_lines(s, k)
    if s.noise_cov is not None:
        lines = [({"counter": {}, "pos": (0, 0, 0), "quat": (1, 0, 0, 0), "flags": ["NOISEADJSCAN"], "trigger": 0,
                   "center_lin": 0, "center_col": 0}, s.noise())] + lines
    for n, (f, d) in enumerate(lines):
        nc, ns = d.shape
        for c in range(nc):
            h = mdh_def.VB17_header()
            _fill(h, f)
            for fl in f["flags"]:
                mdh_def.add_flag(h, fl)
            h.SamplesInScan, h.UsedChannels, h.ChannelId, h.ScanCounter = ns, nc, c, n + 1
            mdh_def.set_dma_len(h, nc * (128 + 8 * ns))
            out += bytes(h) + np.ascontiguousarray(d[c], np.complex64).tobytes()
    end = mdh_def.VB17_header()
    mdh_def.add_flag(end, "ACQEND")
    out += bytes(end) + b"\x00" * 256
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


# ------------------------------------------------------------------------------------------------ cohorts

# the phantom series written as raw files: (modality, phantom family, phantom stem, file stem, weight counter)
COHORT_SERIES = (("cine", "Cine", "cine_sax", "cine_sax", "phase"), ("t1map", "Mapping", "T1map", "T1map", "set"))


def phantom_scans(src: Path, oblique: bool = True, undersample: bool = False, noise: bool = True,
                  oversampling: int = 2) -> dict[str, Scan]:
    """Scans of the phantom subject under ``src`` (tests/release_trees.phantom_source): cine and T1 map, an oblique
    slice orientation, oversampled readout, a noise scan, 16 ACS lines; ``undersample``: every third line plus
    the ACS (prospectively undersampled)."""
    from cardiomm.io import cmrxrecon as cio

    R = rotation((25.0, -10.0, 35.0)) if oblique else np.eye(3)
    out = {}
    for mod, fam, stem, _, counter in COHORT_SERIES:
        p = src / "MultiCoil" / fam / "TrainingSet" / "FullSample" / "P001" / f"{stem}.mat"
        k = cio.read_kspace(p)
        nt, nz, nc, ny, nx = k.shape
        times = list(cio.read_timing(p.with_suffix(".csv"))[0]) if mod != "cine" else []
        mask = None
        if undersample:
            mask = np.zeros((nt, ny), bool)
            for t in range(nt):
                mask[t, t % 3::3] = True
            mask[:, ny // 2 - 8:ny // 2 + 8] = True
        out[mod] = Scan(k, "cine" if mod == "cine" else "mapping", dx=4.5, dy=4.5, thickness=8.0,
                        spacing=20.0 if mod == "cine" else 20.0, read_dir=tuple(R[:, 0]), phase_dir=tuple(R[:, 1]),
                        slice_dir=tuple(R[:, 2]), centre=(12.0, -30.0, 45.0), oversampling=oversampling, acs=16,
                        mask=mask, noise_cov=(np.eye(nc) * 0.5 + 0.1) if noise else None, times=times,
                        trigger_ms=[40.0 * t for t in range(nt)] if mod == "cine" else [],
                        weight_counter=counter, patient={"name": "Doe^Jane", "id": "MRN-0001",
                                                         "study_uid": "1.2.826.0.1.3680043.2.1125.1.1"})
    return out


def write_cohort(src: Path, root: Path, layout: str, subjects: tuple[str, ...] = ("P001",),
                 undersample: bool = False, bad: dict[str, str] | None = None) -> Path:
    """A scanner-data cohort: ``root/<subject>/<stem>.h5`` (MRD) or ``.dat`` (twix VE for the first subject,
    VB for the others). ``bad``: ``{subject: what}`` writes that subject's cine broken (``truncated``)."""
    scans = phantom_scans(src, undersample=undersample)
    for i, sid in enumerate(subjects):
        for mod, _, _, stem, _ in COHORT_SERIES:
            s = scans[mod]
            if layout == "mrd":
                p = write_mrd(root / sid / f"{stem}.h5", s)
            elif i == 0:
                p = write_twix_ve(root / sid / f"{stem}.dat", s)
            else:
                p = write_twix_vb(root / sid / f"{stem}.dat", s)
            if (bad or {}).get(sid) == "truncated" and mod == "cine":
                with open(p, "r+b") as fh:
                    fh.truncate(p.stat().st_size // 2)
    return root
