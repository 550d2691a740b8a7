"""Scanner raw data (MRD/ISMRMRD, Siemens twix) as one series: the readouts placed by their counters, noise
pre-whitening, readout oversampling removal, the sampling mask from the data, the slice geometry and the timing.

The two readers (:mod:`cardiomm.io.mrd`, :mod:`cardiomm.io.twix`) only translate their format into
:class:`Readouts` (one row per readout line: counters, flags, samples) and :class:`Header` (matrix, FOV, sequence
times, identifiers); :func:`assemble` does the rest, the same for both, and returns a :class:`RawSeries` in the
package's axis order ``(nt, nz, nc, ny, nx)`` (``ny`` = phase encoding, ``nx`` = readout).

Conventions
-----------
* Positions and directions are in the DICOM patient coordinate system (LPS, mm), as MRD stores them and as
  the Siemens patient coordinate system is; :attr:`RawSeries.affine_lps` maps voxel indices ``(ix, iy, iz)`` of
  the reconstructed image (``ix`` readout column, ``iy`` phase row, ``iz`` slice) to it; the centre of the
  field of view is at index ``(nx // 2, ny // 2)``, as the centred FFT (:mod:`cardiomm.physics.fft`) puts it.
  :meth:`RawSeries.affine_ras` is the NIfTI (RAS) affine.
* The weighting axis ``nt``: the cardiac phase counter for cine, the one counter among ``contrast``, ``set``,
  ``repetition``, ``phase`` that varies for mapping (several varying: an error naming the file).
* Averages (``average`` counter) are averaged; segments are lines of the same grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: counters that may carry the weighting axis (mapping) or the cardiac phase (cine), in order of preference
WEIGHT_COUNTERS = ("phase", "contrast", "set", "repetition")


class RawDataError(ValueError):
    """A raw data file that cardiomm cannot map onto a Cartesian 2D series; the message names the file."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


@dataclass
class Readouts:
    """Every readout line of one file (``n`` lines of ``nc`` coils x ``ns`` samples).

    Attributes
    ----------
    data: complex64 ``(n, nc, ns)`` (one entry per line; lines of a different shape are refused earlier).
    counters: ``{name: int array (n,)}`` for ``line``, ``partition``, ``slice``, ``phase``, ``contrast``, ``set``,
        ``repetition``, ``average``.
    calibration, imaging: bool ``(n,)``: parallel-imaging calibration (ACS); an image line (a line flagged
        calibration *and* imaging is both). Noise lines are not readouts here (:func:`assemble` takes them apart).
    reverse: bool ``(n,)``: readout acquired in reverse.
    trigger_ms: float ``(n,)`` time after the cardiac trigger, NaN where unknown.
    user_float: float ``(n,)`` a per-acquisition time field (MRD ``user_float[0]``), NaN where absent.
    position, read_dir, phase_dir, slice_dir: float ``(n, 3)`` LPS (mm, unit vectors).
    """

    data: np.ndarray
    counters: dict[str, np.ndarray]
    calibration: np.ndarray
    imaging: np.ndarray
    reverse: np.ndarray
    trigger_ms: np.ndarray
    position: np.ndarray
    read_dir: np.ndarray
    phase_dir: np.ndarray
    slice_dir: np.ndarray
    user_float: np.ndarray | None = None


@dataclass
class Header:
    """What the file's header says about the series.

    Attributes
    ----------
    enc_matrix, recon_matrix: ``(x, y, z)`` encoded and reconstructed matrix.
    enc_fov_mm, recon_fov_mm: ``(x, y, z)``; for a 2D scan ``z`` is the slice thickness.
    step1_center: k-space centre line of the phase encoding (encoding limits), or ``None`` = ``ny // 2``.
    tr_ms, te_ms, ti_ms: sequence times (lists; empty when absent).
    flip_deg: flip angle(s).
    times: named per-weighting time lists found in the header (``{"TI": [...], "T2prep": [...]}``) with their
        source (``{"TI": "header sequenceParameters.TI"}``).
    meta: scanner and identifiers found (``vendor``, ``field_strength_T``, ``scanner``, ``protocol``,
        ``patient_name``, ``patient_id``, ``patient_birth_date``, ``patient_sex``, ``study_uid``,
        ``frame_of_reference_uid``, ``series_description``, ...); absent keys are unknown.
    """

    enc_matrix: tuple[int, int, int]
    recon_matrix: tuple[int, int, int]
    enc_fov_mm: tuple[float, float, float]
    recon_fov_mm: tuple[float, float, float]
    step1_center: int | None = None
    tr_ms: list[float] = field(default_factory=list)
    te_ms: list[float] = field(default_factory=list)
    ti_ms: list[float] = field(default_factory=list)
    flip_deg: list[float] = field(default_factory=list)
    times: dict[str, list[float]] = field(default_factory=dict)
    time_sources: dict[str, str] = field(default_factory=dict)
    meta: dict[str, object] = field(default_factory=dict)


@dataclass
class RawSeries:
    """One 2D multi-slice series read from a scanner file, in the package's conventions.

    Attributes
    ----------
    kspace: complex64 ``(nt, nz, nc, ny, nx)``, readout oversampling removed, coils pre-whitened when the file
        has noise data, zero where not sampled.
    mask: uint8 ``(nt, ny, nx)``, 1 = sampled (the lines the file holds).
    fully_sampled: every line of the encoded grid is sampled in every frame and slice.
    acs_lines: phase-encoding lines flagged as parallel-imaging calibration (sorted; empty if none).
    affine_lps: float ``(4, 4)`` voxel index -> patient LPS (mm).
    dx, dy, thickness, spacing: mm.
    trigger_ms: ``(nt,)`` time after the trigger per frame (NaN where unknown).
    tr_ms, te_ms, ti_ms, flip_deg: the header's sequence times.
    times: per-weighting times found in the file, by name (``TI``, ``T2prep``, ``spinlock``) with ``time_sources``.
    whitened: True when noise data pre-whitened the coils (``noise_samples`` of them).
    removed_oversampling: the readout samples before the crop (``None`` when nothing was cropped).
    meta: what the header says (see :class:`Header`).
    source: the file.
    """

    kspace: np.ndarray
    mask: np.ndarray
    fully_sampled: bool
    acs_lines: list[int]
    affine_lps: np.ndarray
    dx: float
    dy: float
    thickness: float
    spacing: float
    trigger_ms: np.ndarray
    tr_ms: list[float]
    te_ms: list[float]
    ti_ms: list[float]
    flip_deg: list[float]
    times: dict[str, list[float]]
    time_sources: dict[str, str]
    whitened: bool
    noise_samples: int
    removed_oversampling: int | None
    weight_counter: str
    meta: dict[str, object]
    source: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.kspace.shape)

    def affine_ras(self) -> np.ndarray:
        """The NIfTI affine (RAS, mm) of the image ``(nx, ny, nz)`` voxel indices."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine_lps


def whitening_matrix(noise: np.ndarray) -> np.ndarray:
    """Coil pre-whitening ``W`` ``(nc, nc)`` from noise samples ``(nc, n)``: ``W C W^H = I`` for the sample
    covariance ``C = noise noise^H / (n - 1)`` (``W = L^-1``, ``L`` its Cholesky factor)."""
    n = noise.shape[1]
    cov = noise @ noise.conj().T / max(n - 1, 1)
    return np.linalg.inv(np.linalg.cholesky(cov)).astype(np.complex64)


def remove_readout_oversampling(k: np.ndarray, n_keep: int) -> np.ndarray:
    """Crop the readout (last axis) of centred k-space to the central ``n_keep`` image pixels: centred inverse FFT
    along x, keep ``[nx//2 - n_keep//2, ... + n_keep)``, centred FFT back (shape ``(..., n_keep)``)."""
    import torch

    from cardiomm.physics.fft import fft1c, ifft1c

    nx = k.shape[-1]
    img = ifft1c(torch.from_numpy(np.ascontiguousarray(k, np.complex64)), dim=-1)
    start = nx // 2 - n_keep // 2
    return fft1c(img[..., start:start + n_keep].contiguous(), dim=-1).numpy().astype(np.complex64)


def _weight_axis(ro: Readouts, kind: str, path: object) -> str:
    """The counter along which the weightings (mapping) or frames (cine) lie."""
    sel = ro.imaging
    varying = [c for c in WEIGHT_COUNTERS if np.unique(ro.counters[c][sel]).size > 1]
    if kind == "cine" and "phase" in varying:
        others = [c for c in varying if c != "phase"]
        if others:
            raise RawDataError(path, f"cine frames along 'phase' and also along {others}: only one frame axis is "
                                     f"supported")
        return "phase"
    if len(varying) > 1:
        raise RawDataError(path, f"the images vary along several counters {varying}; cardiomm reads one weighting "
                                 f"axis (one of {list(WEIGHT_COUNTERS)})")
    return varying[0] if varying else ("phase" if kind == "cine" else "contrast")


def assemble(ro: Readouts, hdr: Header, kind: str, path: object, noise: np.ndarray | None = None) -> RawSeries:
    """Place every readout on the Cartesian grid and return the series (see the module docstring).

    ``kind``: ``"cine"`` or ``"mapping"`` (:attr:`cardiomm.conventions.Modality.kind`); ``noise``: noise samples
    ``(nc, n)`` of the file's noise measurement, which pre-whiten the coils (:func:`whitening_matrix`), or
    ``None``. Raises :class:`RawDataError` naming ``path``.
    """
    if ro.data.ndim != 3:
        raise RawDataError(path, f"readouts of shape {ro.data.shape}; expected (lines, coils, samples)")
    img_sel = ro.imaging | ro.calibration
    if not ro.imaging.any():
        raise RawDataError(path, "no image acquisitions (only noise, calibration or other lines): nothing to "
                                 "reconstruct")
    if np.unique(ro.counters["partition"][img_sel]).size > 1:
        raise RawDataError(path, "3D encoding (several kspace_encode_step_2 / partition values): only 2D "
                                 "multi-slice series are supported")
    nc, ns = ro.data.shape[1:]
    enc_x, enc_y, _ = hdr.enc_matrix
    if ns != enc_x:
        raise RawDataError(path, f"readouts have {ns} samples but the header's encoded matrix x is {enc_x}")
    ny = int(enc_y)
    centre = ny // 2 if hdr.step1_center is None else int(hdr.step1_center)
    ky = ro.counters["line"] + (ny // 2 - centre)
    if (ky[img_sel] < 0).any() or (ky[img_sel] >= ny).any():
        bad = int(ro.counters["line"][img_sel][(ky[img_sel] < 0) | (ky[img_sel] >= ny)][0])
        raise RawDataError(path, f"line {bad} lies outside the encoded matrix y = {ny} (encoding limits)")

    # noise pre-whitening
    whitened, n_noise, W = False, 0, None
    if noise is not None and noise.size:
        if noise.shape[0] != nc:
            raise RawDataError(path, f"inconsistent coil counts: the noise data have {noise.shape[0]} coils, the "
                                     f"image data {nc}")
        W, whitened, n_noise = whitening_matrix(noise), True, int(noise.shape[1])

    weight = _weight_axis(ro, kind, path)
    slices = np.unique(ro.counters["slice"][ro.imaging])
    frames = np.unique(ro.counters[weight][ro.imaging])
    nz, nt = slices.size, frames.size
    zi = {int(s): i for i, s in enumerate(slices)}
    ti = {int(f): i for i, f in enumerate(frames)}
    acc = np.zeros((nt, nz, nc, ny, ns), np.complex64)
    count = np.zeros((nt, nz, ny), np.int32)
    order = [i for i in np.flatnonzero(ro.imaging)] + [i for i in np.flatnonzero(ro.calibration & ~ro.imaging)]
    for i in order:
        s, f = int(ro.counters["slice"][i]), int(ro.counters[weight][i])
        if s not in zi or f not in ti:
            continue  # a calibration line outside the imaged slices / frames
        z, t, y = zi[s], ti[f], int(ky[i])
        if not ro.imaging[i] and count[t, z, y] > 0:
            continue  # calibration-only line where an image line exists: the image line counts
        line = ro.data[i][:, ::-1] if ro.reverse[i] else ro.data[i]
        acc[t, z, :, y] += line
        count[t, z, y] += 1
    k = np.where(count[:, :, None, :, None] > 0, acc / np.maximum(count, 1)[:, :, None, :, None], 0).astype(
        np.complex64)
    if W is not None:
        k = np.einsum("ij,tzjyx->tziyx", W, k).astype(np.complex64)
    sampled = count > 0  # (nt, nz, ny)
    if not (sampled == sampled[:, :1]).all():
        raise RawDataError(path, "slices are sampled with different line sets; cardiomm needs one mask per frame "
                                 "for every slice")
    mask = np.broadcast_to(sampled[:, 0, :, None], (nt, ny, ns)).astype(np.uint8)

    # readout oversampling: the header's encoded FOV x exceeds the reconstructed one
    removed = None
    if hdr.enc_fov_mm[0] > hdr.recon_fov_mm[0] * (1 + 1e-6):
        n_keep = int(round(ns * hdr.recon_fov_mm[0] / hdr.enc_fov_mm[0]))
        k = remove_readout_oversampling(k, n_keep) * sampled[:, :, None, :, None]
        k = k.astype(np.complex64)
        mask = np.ascontiguousarray(mask[..., :n_keep])
        removed = ns
    nx = k.shape[-1]
    dx = float(hdr.enc_fov_mm[0]) / ns
    dy = float(hdr.enc_fov_mm[1]) / ny
    thickness = float(hdr.enc_fov_mm[2])

    # geometry: the first image line of each slice
    first = {z: int(np.flatnonzero(ro.imaging & (ro.counters["slice"] == s))[0]) for s, z in zi.items()}
    pos = np.array([ro.position[first[z]] for z in range(nz)], float)
    rd, pd, sd = (np.asarray(getattr(ro, a)[first[0]], float) for a in ("read_dir", "phase_dir", "slice_dir"))
    for name, v in (("read_dir", rd), ("phase_dir", pd), ("slice_dir", sd)):
        if not np.isclose(np.linalg.norm(v), 1.0, atol=1e-3):
            raise RawDataError(path, f"{name} {v.tolist()} of the first image line is not a unit vector")
    if nz > 1:
        step = pos[1] - pos[0]
        d = np.diff(pos, axis=0)
        if not np.allclose(d, step, atol=1e-2):
            raise RawDataError(path, f"slice positions are not equally spaced along one line: {pos.tolist()}")
        spacing = float(np.linalg.norm(step))
    else:
        step, spacing = sd * thickness, thickness
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1], affine[:3, 2] = rd * dx, pd * dy, step
    affine[:3, 3] = pos[0] - (nx // 2) * dx * rd - (ny // 2) * dy * pd

    trig = np.full(nt, np.nan)
    for f, t in ti.items():
        vals = ro.trigger_ms[ro.imaging & (ro.counters[weight] == f)]
        vals = vals[np.isfinite(vals)]
        if vals.size:
            trig[t] = float(np.median(vals))
    times, sources = dict(hdr.times), dict(hdr.time_sources)
    if ro.user_float is not None:
        per = []
        for f in frames:
            v = ro.user_float[ro.imaging & (ro.counters[weight] == f)]
            per.append(float(v[0]) if v.size and np.all(v == v[0]) and np.isfinite(v[0]) else np.nan)
        if np.isfinite(per).all() and np.any(np.asarray(per) != 0) and np.unique(per).size == nt:
            times["acquisition"] = per
            sources["acquisition"] = "acquisition user_float[0] (constant per weighting)"
    fully = bool(sampled.all())
    acs = sorted(int(v) for v in np.unique(ky[ro.calibration]))
    return RawSeries(k, mask, fully, acs, affine, dx, dy, thickness, spacing, trig, list(hdr.tr_ms),
                     list(hdr.te_ms), list(hdr.ti_ms), list(hdr.flip_deg), times, sources, whitened, n_noise,
                     removed, weight, dict(hdr.meta), str(path))


# the names under which a header may carry a mapping series' per-weighting times, by biomarker
TIME_NAMES: dict[str, tuple[str, ...]] = {
    "T1": ("TI", "InversionTime", "InversionTimes", "TIs"),
    "T2": ("T2prep", "T2Prep", "T2PrepTime", "T2PreparationTime", "T2prepTimes", "TE_prep"),
    "T1rho": ("SpinLockTime", "SpinLock", "TSL", "spinlock", "SpinLockTimes"),
}


def mapping_times(series: RawSeries, biomarker: str) -> tuple[list[float], str] | None:
    """The per-weighting times (ms) of a mapping series and where they came from, or ``None``.

    Order: a header list under one of :data:`TIME_NAMES` (``TI`` also from ``sequenceParameters.TI`` / the
    protocol's ``alTI`` when it has one value per weighting), then the per-acquisition field.
    """
    nt = series.kspace.shape[0]
    for name in TIME_NAMES[biomarker]:
        vals = series.times.get(name)
        if vals is not None and len(vals) == nt:
            return [float(v) for v in vals], series.time_sources.get(name, name)
    if biomarker == "T1" and len(series.ti_ms) == nt and nt > 1:
        return [float(v) for v in series.ti_ms], series.time_sources.get("ti_ms", "header TI")
    if "acquisition" in series.times:
        return list(series.times["acquisition"]), series.time_sources["acquisition"]
    return None
