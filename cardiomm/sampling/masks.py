"""Undersampling masks: the CMRxRecon / CardioMM patterns ``Uniform``, ``ktGaussian`` and ``ktRadial``.

A mask is named ``<Pattern><R>`` (parsed by :func:`cardiomm.conventions.parse_mask_name`), e.g.
``Uniform8``, ``ktGaussian16``, ``ktRadial24``, and is an array of shape ``(nt, ny, nx)``, dtype ``uint8``,
1 = sampled. ``ny`` is the phase-encoding axis (rows), ``nx`` the readout axis (columns). The k-space
centre (DC) is at ``(ny // 2, nx // 2)``, the convention of :mod:`cardiomm.physics.fft`.

Patterns
--------
``Uniform`` (and the 2023 release's ``AccFactor<RR>``, the same comb under the release's name)
    Every R-th phase-encoding line, the same lines in every frame, plus ``acs`` central lines. The
    lattice is a single equispaced comb; its phase (offset 0..R-1 from the DC line) is the one whose count
    of lines outside the ACS band is closest to ``round(n_outer / R)`` (ties: the smallest offset, i.e.
    the comb through DC). The ``seed`` does not affect this pattern.
``ktUniform`` (2024 Task 2)
    The ``Uniform`` comb shifted by one line from frame to frame (frame ``t`` starts ``t mod R`` lines later).
``ktGaussian``
    In every frame, ``round(n_outer / R)`` lines drawn without replacement among the non-ACS lines with
    the density of the CMRxRecon 2024 generator, ``0.1 + 0.25 * exp(-(ky / (ny / 5))**2)`` (``ky``
    counted from DC), a different draw per frame, plus ``acs`` central lines.
``ktRadial``
    Pseudo-radial Cartesian spokes through the k-space centre on the ``(ny, nx)`` grid, equally spaced
    over 180 degrees, rotated by the golden angle (111.246 deg) from frame to frame (the start angle of
    frame 0 is drawn from the seed), plus an ``acs x acs`` central square: a genuinely 2D mask. The
    number of spokes is the smallest that reaches the target number of points outside the ACS square;
    the last spoke is shortened symmetrically about the centre so that the frame holds exactly
    ``round(n_outer / R)`` points outside the ACS square.

Acceleration convention (CMRxRecon's)
-------------------------------------
``R`` is the sampling density OUTSIDE the ACS region: 1 in R of the non-ACS lines (1D patterns) or
points (ktRadial) is sampled, and the ACS region is added on top. The achieved acceleration counting the
ACS (``total points / sampled points``, see :func:`mask_stats`) is therefore lower than ``R``.

Stated tolerance (tested)
-------------------------
* ``Uniform`` and ``ktGaussian``: in every frame the number of sampled non-ACS lines equals
  ``round(n_outer / R)`` within +-1 line, ``n_outer = ny - acs``. (ktGaussian is exact; Uniform is a comb
  and can be off by one.)
* ``ktRadial``: the fraction of sampled points outside the ACS square is within +-10 % (relative) of
  ``1 / R``. By construction every frame holds exactly ``round(n_outer / R)`` outer points
  (``n_outer = ny * nx - acs**2``), so the bound holds whenever that target is at least 5 points, i.e. on
  any realistic grid (it cannot hold on toy grids where ``n_outer / R`` is below a few points).

Seeding
-------
Masks are deterministic functions of ``(name, nt, ny, nx, seed, acs)``: each call builds its own
``numpy.random.Generator`` from ``seed`` and ``zlib.crc32(name)``, never the global random state.
Frame ``t`` of a mask does not depend on ``nt`` (a longer series extends a shorter one).
"""

from __future__ import annotations

import zlib

import numpy as np

from cardiomm.conventions import ACS_LINES, MaskName

GOLDEN_ANGLE_DEG = 111.246  # golden angle for radial spokes: 180 * (sqrt(5) - 1) / 2
# ktGaussian density of the CMRxRecon 2024 generator (alpha = 0.2): floor + amplitude * exp(-(ky/sigma)^2)
_GAUSS_FLOOR = 0.1
_GAUSS_AMPLITUDE = 0.25
_GAUSS_SIGMA_FRACTION = 0.2  # sigma = ny / 5
_RADIAL_STEP = 0.5  # sub-pixel step along a spoke, so that a rasterised spoke has no gaps
RADIAL_TOLERANCE = 0.10  # relative tolerance on the ktRadial outer fraction
LINE_TOLERANCE = 1  # +- lines per frame for Uniform / ktGaussian


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------
def _central_slice(n: int, width: int) -> slice:
    """Indices of ``width`` points centred on ``n // 2`` (the DC index), as sigpy/MATLAB crop them."""
    start = n // 2 - width // 2
    return slice(start, start + width)


def _check_dims(nt: int, ny: int, nx: int, acs: int, pattern: str) -> None:
    for arg, val in (("nt", nt), ("ny", ny), ("nx", nx)):
        if not isinstance(val, int | np.integer) or val < 1:
            raise ValueError(f"make_mask: {arg} must be a positive integer, got {val!r}")
    if not isinstance(acs, int | np.integer) or acs < 0:
        raise ValueError(f"make_mask: acs must be a non-negative integer, got {acs!r}")
    if acs > ny or (pattern == "ktRadial" and acs > nx):
        raise ValueError(f"make_mask: acs={acs} does not fit the ({ny}, {nx}) grid for pattern {pattern}")


def acs_mask(name: str | MaskName, ny: int, nx: int, acs: int = ACS_LINES) -> np.ndarray:
    """The fully sampled auto-calibration (ACS) region of a pattern.

    Parameters
    ----------
    name: mask name, e.g. ``"ktRadial24"`` (only the pattern matters).
    ny, nx: phase-encoding and readout sizes.
    acs: ACS width in lines (1D patterns) or the side of the central square (ktRadial).

    Returns
    -------
    bool ``(ny, nx)``: ``acs`` central rows (Uniform, ktGaussian) or an ``acs x acs`` central square (ktRadial).
    """
    mname = MaskName.of(name)
    _check_dims(1, ny, nx, acs, mname.pattern)
    region = np.zeros((ny, nx), dtype=bool)
    if mname.radial:
        region[_central_slice(ny, acs), _central_slice(nx, acs)] = True
    else:
        region[_central_slice(ny, acs), :] = True
    return region


# Where the ACS block of a mask FILE may sit. The releases' generators (UniformSampling.m, ktUniformSampling.m,
# ktGaussianSampling.m, ktRadialSampling.m of CMRxReconMaskGeneration in CmrxRecon/CMRxRecon2024 and in the 2025
# repository; mySubsampling.m of CmrxRecon/CMRxRecon for 2023) all place it with Lustig's zpad.m (shipped in
# CMRxReconDemo/ESPIRiT/utils/ of the 2023 repository): 1-based rows floor(ny/2)+1+ceil(-acs/2) .. floor(ny/2)+
# ceil(acs/2), i.e. 0-based start ny//2 - acs//2 for every parity of ny and acs -- the centring of acs_mask above
# (ktRadial: the same along nx for the square). Other tools centre the block one line later for an odd ny
# (fastMRI's (ny - acs + 1) // 2, MATLAB's ceil(ny/2) - acs/2) or one line earlier (a DC taken at (ny - 1) // 2).
# A mask from a file is therefore accepted with its block at the official place or one line either side (along
# each axis of a ktRadial square), and its ACS region is the block found; anything further off is an error.
ACS_SHIFTS = (0, 1, -1)  # lines from the official place, in order of preference


def locate_acs(name: str | MaskName, mask: np.ndarray, acs: int = ACS_LINES
               ) -> tuple[np.ndarray, tuple[int, int]] | None:
    """The ACS block of a named mask where it actually is (see :data:`ACS_SHIFTS`).

    Parameters
    ----------
    name: mask name (gives the geometry: lines, or a square for ktRadial).
    mask: ``(nt, ny, nx)`` or ``(ny, nx)``, non-zero = sampled.
    acs: ACS width.

    Returns
    -------
    ``(region, (dy, dx))``: bool ``(ny, nx)`` block sampled in every frame and its shift from the official place
    (``(0, 0)`` for every mask the releases' generators and :func:`make_mask` write); ``None`` if no candidate
    block is fully sampled.
    """
    m = np.asarray(mask)
    m = m.reshape(-1, *m.shape[-2:])
    ny, nx = m.shape[-2:]
    always = np.all(m != 0, axis=0)
    base = acs_mask(name, ny, nx, acs)
    if acs == 0:
        return base, (0, 0)
    rows = np.flatnonzero(base.any(axis=1))
    cols = np.flatnonzero(base.any(axis=0))
    x_shifts = ACS_SHIFTS if MaskName.of(name).radial else (0,)
    for dy in ACS_SHIFTS:
        for dx in x_shifts:
            if rows[0] + dy < 0 or rows[-1] + dy >= ny or cols[0] + dx < 0 or cols[-1] + dx >= nx:
                continue
            region = np.roll(base, (dy, dx), axis=(0, 1))
            if always[region].all():
                return region, (dy, dx)
    return None


def acs_from_mask(mask: np.ndarray, acs: int = ACS_LINES) -> np.ndarray:
    """ACS region of an arbitrary mask, for masks whose name does not say it.

    Parameters
    ----------
    mask: ``(nt, ny, nx)``, non-zero = sampled.
    acs: the largest ACS width to look for.

    Returns
    -------
    bool ``(ny, nx)``: the central block of whole phase-encoding lines sampled in every frame (line masks);
    if the central line is not whole, the largest centred square sampled in every frame (radial-like masks);
    at most ``acs`` lines/pixels wide, grown symmetrically around ``(ny // 2, nx // 2)``.
    """
    always = np.all(np.asarray(mask) > 0, axis=0)  # (ny, nx)
    ny, nx = always.shape
    cy = ny // 2
    region = np.zeros((ny, nx), dtype=bool)

    def grow(ok) -> int:  # noqa: ANN001 - callable(width) -> bool
        w = 0
        while w < acs and ok(w + 1):
            w += 1
        return w

    full_rows = always.all(axis=1)
    w = grow(lambda v: 0 <= cy - v // 2 and cy - v // 2 + v <= ny and full_rows[_central_slice(ny, v)].all())
    if w:
        region[_central_slice(ny, w)] = True
        return region
    w = grow(lambda v: v <= min(ny, nx) and always[_central_slice(ny, v), _central_slice(nx, v)].all())
    region[_central_slice(ny, w), _central_slice(nx, w)] = True
    return region


def acs_region(name: str | MaskName, mask: np.ndarray, acs: int = ACS_LINES) -> np.ndarray:
    """The one ACS rule: the pattern's region (:func:`acs_mask`) for a named pattern, else measured on the mask.

    Parameters
    ----------
    name: mask name; a name :func:`cardiomm.conventions.parse_mask_name` does not know (or an ``acs`` that
        does not fit the grid) falls back to :func:`acs_from_mask`. For a named pattern the block is where the
        mask has it (:func:`locate_acs`: the official place or one line off), else the official place.
    mask: ``(nt, ny, nx)``, non-zero = sampled.
    acs: ACS width (the release's, :func:`cardiomm.io.releases.acs_lines`).

    Returns
    -------
    bool ``(ny, nx)``.
    """
    ny, nx = np.shape(mask)[-2:]
    try:
        found = locate_acs(name, mask, acs)
        return found[0] if found is not None else acs_mask(name, ny, nx, acs=acs)
    except ValueError:  # custom mask name: measure it
        return acs_from_mask(np.asarray(mask).reshape(-1, ny, nx), acs)


def central_square_width(region: np.ndarray) -> int:
    """Side of the largest square centred on DC ``(ny // 2, nx // 2)`` (sigpy's crop convention) inside ``region``
    (bool ``(ny, nx)``): the ESPIRiT calibration width an ACS region allows."""
    ny, nx = region.shape
    best = 0
    for w in range(1, min(ny, nx) + 1):
        if not region[_central_slice(ny, w), _central_slice(nx, w)].all():
            break
        best = w
    return best


def _rng(name: str, seed: int) -> np.random.Generator:
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"make_mask: seed must be a non-negative integer, got {seed!r}")
    # crc32 is stable across runs and platforms, unlike hash(str)
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode("utf-8"))]))


# --------------------------------------------------------------------------------------------
# Patterns: each returns (nt, ny, nx) bool WITHOUT the ACS region (added by make_mask)
# --------------------------------------------------------------------------------------------
def _uniform(nt: int, ny: int, nx: int, R: int, acs_rows: np.ndarray, interleave: bool = False) -> np.ndarray:
    """Equispaced comb; ``interleave`` (ktUniform) shifts it by one line per frame (k-t interleaving)."""
    rows = np.arange(ny)
    outer = ~acs_rows
    target = round(int(outer.sum()) / R)
    best_offset, best_err = 0, None
    for offset in range(R):  # comb phase whose outer line count is closest to the target
        err = abs(int((((rows - ny // 2 - offset) % R == 0) & outer).sum()) - target)
        if best_err is None or err < best_err:
            best_offset, best_err = offset, err
    if not interleave:
        lines = (rows - ny // 2 - best_offset) % R == 0
        return np.broadcast_to(lines[None, :, None], (nt, ny, nx)).copy()
    t = np.arange(nt)[:, None]
    lines = (rows[None, :] - ny // 2 - best_offset - t) % R == 0
    return np.broadcast_to(lines[:, :, None], (nt, ny, nx)).copy()


def _kt_gaussian(nt: int, ny: int, nx: int, R: int, acs_rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ky = np.arange(ny) - ny // 2
    sigma = _GAUSS_SIGMA_FRACTION * ny
    density = _GAUSS_FLOOR + _GAUSS_AMPLITUDE * np.exp(-((ky / sigma) ** 2))
    outer_rows = np.flatnonzero(~acs_rows)
    n_lines = round(outer_rows.size / R)
    out = np.zeros((nt, ny, nx), dtype=bool)
    if n_lines == 0:  # the ACS covers (almost) everything: nothing to draw
        return out
    p = density[outer_rows] / density[outer_rows].sum()
    for t in range(nt):
        picked = rng.choice(outer_rows, size=n_lines, replace=False, p=p)
        out[t, picked, :] = True
    return out


def _spoke_points(ny: int, nx: int, angles_deg: np.ndarray) -> np.ndarray:
    """Rasterised spokes through the centre.

    Returns
    -------
    flat indices ``(n_spokes, m)`` into the ``(ny, nx)`` grid (-1 outside the grid), each spoke ordered by
    distance from the centre (alternating sides).
    """
    half = np.hypot(ny, nx) / 2 + 1
    t = np.arange(-half, half + _RADIAL_STEP / 2, _RADIAL_STEP)
    order = np.argsort(np.abs(t), kind="stable")
    t = t[order]
    theta = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))[:, None]
    y = np.rint(ny // 2 + t[None, :] * np.sin(theta)).astype(np.int64)
    x = np.rint(nx // 2 + t[None, :] * np.cos(theta)).astype(np.int64)
    inside = (y >= 0) & (y < ny) & (x >= 0) & (x < nx)
    return np.where(inside, y * nx + x, -1)


def _radial_frame(ny: int, nx: int, acs_region: np.ndarray, target: int, theta0: float) -> np.ndarray:
    allowed = ~acs_region.ravel()

    def outer_union(n: int) -> int:
        idx = _spoke_points(ny, nx, theta0 + 180.0 * np.arange(n) / n)
        idx = idx[idx >= 0]
        hit = np.zeros(ny * nx, dtype=bool)
        hit[idx] = True
        return int((hit & allowed).sum())

    frame = np.zeros(ny * nx, dtype=bool)
    if target <= 0:
        return frame.reshape(ny, nx)
    # a spoke holds at most ny + nx grid points, which bounds the number of spokes from below
    n = max(1, -(-target // (ny + nx)))
    while outer_union(n) < target:
        n += 1
        if n > 4 * (ny + nx):  # every outer point is reachable long before this
            raise RuntimeError(f"ktRadial: cannot reach {target} points on a ({ny}, {nx}) grid")
    idx = _spoke_points(ny, nx, theta0 + 180.0 * np.arange(n) / n)
    count = 0
    for k in range(n):
        pts = idx[k][idx[k] >= 0]
        _, first = np.unique(pts, return_index=True)
        pts = pts[np.sort(first)]  # unique, still ordered from the centre outwards
        new = pts[allowed[pts] & ~frame[pts]]
        take = min(new.size, target - count)
        frame[new[:take]] = True  # the last spoke is cut symmetrically about the centre
        count += take
        if count >= target:
            break
    return frame.reshape(ny, nx)


def _kt_radial(nt: int, ny: int, nx: int, R: int, acs_region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    target = round(int((~acs_region).sum()) / R)
    start = rng.uniform(0.0, 180.0)
    out = np.zeros((nt, ny, nx), dtype=bool)
    for t in range(nt):
        out[t] = _radial_frame(ny, nx, acs_region, target, (start + t * GOLDEN_ANGLE_DEG) % 180.0)
    return out


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def make_mask(name: str | MaskName, nt: int, ny: int, nx: int, seed: int, acs: int = ACS_LINES) -> np.ndarray:
    """Generate an undersampling mask.

    Parameters
    ----------
    name: ``<Pattern><R>``, e.g. ``"Uniform8"``, ``"ktUniform8"``, ``"ktGaussian16"``, ``"ktRadial24"``, or
        ``"AccFactor04"`` (R in 2..32).
    nt: frames (cine) or weightings (mapping).
    ny: phase-encoding lines (rows; undersampled).
    nx: readout points (columns; fully sampled for the 1D patterns).
    seed: non-negative integer; with ``name`` it fully determines the random patterns.
    acs: ACS width: central lines (1D patterns) or the side of the central square (ktRadial).

    Returns
    -------
    uint8 ``(nt, ny, nx)``, 1 = sampled, DC at ``(ny // 2, nx // 2)``; the ACS region is sampled in
    every frame.
    """
    mname = MaskName.of(name)
    _check_dims(nt, ny, nx, acs, mname.pattern)
    rng = _rng(str(mname), seed)
    region = acs_mask(name, ny, nx, acs)
    if mname.pattern in ("Uniform", "AccFactor", "ktUniform"):
        outer = _uniform(nt, ny, nx, mname.R, region[:, 0], interleave=mname.pattern == "ktUniform")
    elif mname.pattern == "ktGaussian":
        outer = _kt_gaussian(nt, ny, nx, mname.R, region[:, 0], rng)
    else:
        outer = _kt_radial(nt, ny, nx, mname.R, region, rng)
    return (outer | region[None]).astype(np.uint8)


def mask_stats(mask: np.ndarray, name: str | MaskName, acs: int = ACS_LINES) -> dict:
    """Acceleration bookkeeping of a mask.

    Parameters
    ----------
    mask: ``(nt, ny, nx)`` (or ``(ny, nx)``), nonzero = sampled.
    name: the mask's name (gives the nominal R and the ACS geometry).
    acs: ACS width used to build the mask.

    Returns
    -------
    dict with ``nominal_R`` (int, from the name), ``achieved_R`` (total / sampled points, ACS counted;
    ``inf`` for an empty mask), ``outer_fraction`` (sampled fraction of the points outside the ACS region,
    over all frames; ``nan`` if there are none) and ``acs_complete`` (ACS fully sampled in every frame).
    """
    m = np.asarray(mask)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"mask_stats: mask must be (nt, ny, nx), got shape {m.shape}")
    sampled = m != 0
    found = locate_acs(name, m, acs)
    region = found[0] if found is not None else acs_mask(name, m.shape[1], m.shape[2], acs)
    n_sampled = int(sampled.sum())
    outer = sampled[:, ~region]
    return {
        "nominal_R": MaskName.of(name).R,
        "achieved_R": float(sampled.size / n_sampled) if n_sampled else float("inf"),
        "outer_fraction": float(outer.mean()) if outer.size else float("nan"),
        "acs_complete": bool(sampled[:, region].all()),
    }


def check_mask(mask: np.ndarray, kspace_shape: tuple, name: str | MaskName, source: str, acs: int = ACS_LINES) -> None:
    """Validate a mask against the k-space it will be applied to.

    Parameters
    ----------
    mask: ``(nt, ny, nx)``; ``nt == 1`` broadcasts over all frames.
    kspace_shape: ``(nt, nz, nc, ny, nx)`` of the k-space.
    name: the mask's name (gives the ACS geometry).
    source: where the mask comes from (a file path or argument name), quoted in the error.
    acs: ACS width the mask must sample.

    Raises
    ------
    ValueError naming ``source`` when the shapes disagree or the ACS region is not fully sampled in every
    frame, at the official place or one line off (:func:`locate_acs`).
    """
    m = np.asarray(mask)
    if m.ndim != 3:
        raise ValueError(f"{source}: mask must have shape (nt, ny, nx), got {m.shape}")
    if len(kspace_shape) != 5:
        raise ValueError(f"{source}: k-space shape must be (nt, nz, nc, ny, nx), got {tuple(kspace_shape)}")
    nt, _, _, ny, nx = kspace_shape
    if m.shape[1:] != (ny, nx):
        raise ValueError(f"{source}: mask (ny, nx) = {m.shape[1:]} does not match k-space (ny, nx) = {(ny, nx)}")
    if m.shape[0] not in (1, nt):
        raise ValueError(f"{source}: mask has {m.shape[0]} frames, k-space has nt={nt} (only 1 or {nt} allowed)")
    if locate_acs(name, m, acs) is not None:  # at the official place, or one line off (ACS_SHIFTS)
        return
    region = acs_mask(name, ny, nx, acs)
    holes = ~(m[:, region] != 0).all(axis=1)
    frames = np.flatnonzero(holes).tolist()
    raise ValueError(f"{source}: ACS region of {name} (acs={acs}, rows {ny // 2 - acs // 2}.."
                     f"{ny // 2 - acs // 2 + acs - 1} of ny={ny}, or one line either side) is not fully sampled in "
                     f"frame(s) {frames}")


def undersample(kspace: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Apply a mask to multi-coil k-space.

    Parameters
    ----------
    kspace: complex ``(nt, nz, nc, ny, nx)``.
    mask: ``(nt, ny, nx)`` or ``(1, ny, nx)``, broadcast to ``(nt, 1, 1, ny, nx)``.

    Returns
    -------
    complex64 ``(nt, nz, nc, ny, nx)``, zero where the mask is zero.
    """
    k = np.asarray(kspace)
    m = np.asarray(mask)
    if k.ndim != 5:
        raise ValueError(f"undersample: kspace must be (nt, nz, nc, ny, nx), got shape {k.shape}")
    if m.ndim != 3 or m.shape[1:] != k.shape[-2:] or m.shape[0] not in (1, k.shape[0]):
        raise ValueError(f"undersample: mask shape {m.shape} does not broadcast to k-space shape {k.shape}")
    if not np.isfinite(k).all():
        raise ValueError(f"undersample: kspace contains {int((~np.isfinite(k)).sum())} NaN/Inf values")
    return (k * (m != 0)[:, None, None]).astype(np.complex64, copy=False)
