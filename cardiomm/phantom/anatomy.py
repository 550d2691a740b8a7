"""Geometry of the numerical beating heart and torso, rasterised onto short-axis slices.

Coordinates are in mm: ``x`` along the readout axis (image columns, left-right), ``y`` along the phase
axis (image rows, negative = anterior), ``z`` along the long axis measured from the basal plane at end-
diastole towards the apex. The LV is a truncated half-ellipsoid shell (endocardium and epicardium share
the basal plane); the RV is a crescent: an ellipsoidal cavity wrapped around the septum, minus the LV.

Motion over one cardiac cycle (``f`` = 0 at end-diastole, 1 at end-systole):

* LV cavity volume ``V(f) = V_ED (1 - EF f)`` with longitudinal shortening ``L(f) = L_ED (1 - s f)``
  (the base descends towards the fixed apex), radius from ``V ~ R^2 L``;
* myocardial volume is conserved: the epicardial half-ellipsoid loses exactly the cavity's volume loss,
  so the wall thickens in systole;
* RV semi-axes scale so that the ellipsoid volume falls by the target RVEF.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cardiomm.conventions import BACKGROUND, LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.phantom.tissues import TISSUE_INDEX


@dataclass(frozen=True)
class HeartSpec:
    """Per-subject heart parameters (mm unless stated).

    ``ef``/``rv_ef`` are fractions of the ellipsoid models; the voxelised truth differs slightly and is what
    the truth tables report.
    """

    cx: float
    cy: float
    r_endo: float  # LV endocardial radius at the base, ED
    wall: float  # mean LV wall thickness at the base, ED
    wall_amp: float  # relative angular variation of wall thickness
    wall_phase: float  # rad, angle of the thickest wall
    length: float  # LV endocardial base-to-apex length, ED
    apex_wall: float  # myocardial thickness at the apex, ED
    ef: float
    long_shortening: float
    rv_a: float  # RV semi-axis along x at the base, ED
    rv_b: float  # RV semi-axis along y at the base, ED
    rv_length: float
    rv_ef: float
    rv_wall: float
    es_phase: float  # fraction of the cycle at end-systole
    infarct_angle: float | None = None  # rad, centre of an infarct sector (None: no infarct)
    infarct_width: float = 1.2  # rad
    infarct_thinning: float = 0.5  # wall thickness factor inside the infarct (distal to mid-ventricle)
    oedema_angle: float | None = None  # rad, centre of a regional (transmural, base to apex) oedema sector
    oedema_width: float = 1.6  # rad


# Coronary territories as (centre angle, angular span) about the LV centre in this module's convention
# (theta = atan2(y, x): -pi/2 anterior, pi septal (towards the RV), pi/2 inferior, 0 lateral), after the AHA
# 17-segment assignment (Cerqueira et al., Circulation 2002;105:539): LAD = anterior and anteroseptal segments
# (1, 2, 7, 8, 13, 14), RCA = inferior and inferoseptal (3, 4, 9, 10, 15), LCx = anterolateral and inferolateral
# (5, 6, 11, 12, 16). The usual variability of coronary dominance is not modelled.
CORONARY_TERRITORIES = {"LAD": (-2 * np.pi / 3, 2 * np.pi / 3), "RCA": (2 * np.pi / 3, 2 * np.pi / 3),
                        "LCx": (0.0, 2 * np.pi / 3)}


@dataclass(frozen=True)
class BodySpec:
    """Torso ellipse and organs (mm)."""

    ax: float
    ay: float
    fat: float
    muscle: float
    liver_z: float  # z (mm) below which (towards the apex) the liver appears
    spine_y: float


def cycle_fraction(phase: np.ndarray | float, es_phase: float) -> np.ndarray:
    """Contraction ``f`` in [0, 1] over one cycle (``phase`` in [0, 1); 0 = ED, ``es_phase`` = ES).

    Raised-cosine contraction until ES, raised-cosine relaxation back to ED.
    """
    p = np.mod(np.asarray(phase, float), 1.0)
    up = 0.5 * (1 - np.cos(np.pi * p / es_phase))
    down = 0.5 * (1 + np.cos(np.pi * (p - es_phase) / (1 - es_phase)))
    return np.where(p <= es_phase, up, down)


@dataclass(frozen=True)
class LVState:
    """Analytic LV shape at one contraction ``f``: basal plane z, endo/epi semi-lengths and base radii."""

    z_base: float
    l_endo: float
    r_endo: float
    l_epi: float
    r_epi: float


def lv_state(h: HeartSpec, f: float) -> LVState:
    """LV half-ellipsoids at contraction ``f`` (volume of each shell: shape constant x R^2 L)."""
    l0, r0 = h.length, h.r_endo
    le0, re0 = h.length + h.apex_wall, h.r_endo + h.wall
    l_endo = l0 * (1 - h.long_shortening * f)
    r_endo = r0 * np.sqrt((1 - h.ef * f) / (1 - h.long_shortening * f))
    z_base = l0 - l_endo  # apex fixed in space at z = l0
    l_epi = l_endo + h.apex_wall
    v_epi = re0**2 * le0 - (r0**2 * l0 - r_endo**2 * l_endo)  # in units of the shape constant
    r_epi = np.sqrt(v_epi / l_epi)
    return LVState(float(z_base), float(l_endo), float(r_endo), float(l_epi), float(r_epi))


# Exponent of the long-axis profile r = R (1 - u^p)^(1/p): p = 2 is an ellipsoid; real ventricles are more
# bullet-shaped. Endo- and epicardium share it, so every volume is (shape constant) x R^2 L and the
# myocardial-volume bookkeeping of lv_state holds exactly.
PROFILE_EXPONENT = 2.6


def _ellipsoid_radius(r_base: float, length: float, depth: float) -> float:
    """Radius of the (generalised) half-ellipsoid section at ``depth`` below its base (0 outside [0, length))."""
    if depth < 0 or depth >= length:
        return 0.0
    p = PROFILE_EXPONENT
    return float(r_base * (1 - (depth / length) ** p) ** (1 / p))


def slice_radii(h: HeartSpec, z: float, f: float) -> tuple[float, float, float, float]:
    """Analytic section of the heart at ``z``: (LV endo radius, LV mean epi radius, RV a, RV b), mm."""
    s = lv_state(h, f)
    d = z - s.z_base
    r_endo = _ellipsoid_radius(s.r_endo, s.l_endo, d)
    r_epi = _ellipsoid_radius(s.r_epi, s.l_epi, d)
    rv_scale = np.sqrt((1 - h.rv_ef * f) / (1 - h.long_shortening * f))
    rv_len = h.rv_length * (1 - h.long_shortening * f)
    a = _ellipsoid_radius(h.rv_a * rv_scale, rv_len, d)
    b = _ellipsoid_radius(h.rv_b * rv_scale, rv_len, d)
    return r_endo, r_epi, a, b


def _wall_profile(h: HeartSpec, theta: np.ndarray, depth_frac: float) -> np.ndarray:
    """Angular modulation (mean ~1) of the wall thickness, with infarct thinning distal to the base."""
    g = 1 + h.wall_amp * np.cos(theta - h.wall_phase)
    if h.infarct_angle is not None and depth_frac > 0.3:
        g = np.where(_in_sector(theta, h.infarct_angle, h.infarct_width), g * h.infarct_thinning, g)
    return g


def _in_sector(theta: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.abs(np.angle(np.exp(1j * (theta - centre)))) <= width / 2


@dataclass(frozen=True)
class FatSpec:
    """Epicardial and pericardial adipose tissue (mm), issue 15.

    Epicardial fat lies on the epicardium under the pericardium: a layer ``epi`` over the RV free wall and a
    thinner one (``LV_FREE_WALL_FAT`` of it) over the LV, thickened by ``groove`` in the anterior and inferior
    interventricular grooves and towards the base (atrioventricular groove). The pericardium is a
    ``pericardium`` thick fibrous layer outside it; pericardial (paracardial) fat is a pad of up to ``pad``
    outside the pericardium, anterior to the heart and growing towards the apex.
    """

    epi: float
    groove: float
    pad: float
    pericardium: float = 1.2


# epicardial fat over the LV free wall, relative to ``FatSpec.epi`` (the layer over the RV): thin in most people
LV_FREE_WALL_FAT = 0.3
# interventricular grooves: where the RV (at -x) meets the LV, anterior (-y) and inferior (+y), angle about the LV
GROOVE_ANGLES = (-0.72 * np.pi, 0.72 * np.pi)


def _fat_thickness(fat: FatSpec, theta: np.ndarray, depth_frac: float) -> np.ndarray:
    """Epicardial fat thickness at angle ``theta`` about the LV centre and relative depth (0 base, 1 apex), mm."""
    g = sum(np.exp(-((np.mod(theta - a + np.pi, 2 * np.pi) - np.pi) / 0.35) ** 2) for a in GROOVE_ANGLES)
    base = 1.0 + 1.5 * max(0.0, 1.0 - depth_frac / 0.3)  # atrioventricular groove
    return (LV_FREE_WALL_FAT * fat.epi + fat.groove * g) * base


#: label conventions of the papillary muscles and trabeculation (:func:`rasterize`), the default first
PAPILLARY_LABELS = ("myocardium", "blood")


def rasterize(h: HeartSpec, body: BodySpec, z: float, f: float, x: np.ndarray, y: np.ndarray,
              papillary: bool = False, atria: bool = False, fat: FatSpec | None = None, window: bool = True,
              papillary_label: str = PAPILLARY_LABELS[0]) -> tuple[np.ndarray, np.ndarray]:
    """Tissue index and label at points ``(x, y)`` of the slice at depth ``z`` and contraction ``f``.

    ``papillary``: paint two papillary muscles and apical trabeculation (myocardial *tissue*) inside the LV
    cavity. ``papillary_label`` is their label convention: ``"myocardium"`` (``LV_MYO``: part of the LV mass, not
    of the cavity volume) or ``"blood"`` (``LV_BLOOD``: contoured as part of the blood pool, the UK Biobank
    convention, Petersen et al. JCMR 2016;18:8 and 2017;19:18, so the truth volumes/mass are unchanged by them).
    Both are in clinical use; what matters is that one is applied consistently. The default (here and in
    :class:`cardiomm.phantom.generate.PhantomConfig`) is ``"myocardium"``: with ``"blood"``, the same myocardial
    intensity is labelled blood in the trabecular band and myocardium one pixel further out, and a segmenter
    trained on it labels the inner pixel of the compact wall as blood too (issue 30).

    ``atria``: above the basal plane (``z`` < the base at contraction ``f``, where the ventricles end) paint the
    left and right atria (blood, thin wall); labelled background, as the short-axis contours exclude the atria.
    With the base descending in systole the basal slice shows atrium towards ES.

    ``fat``: epicardial fat, pericardium and pericardial fat (:class:`FatSpec`) instead of the uniform 2.5 mm
    "fat" ring of the earlier phantom. Neither changes any label inside the ventricles.

    ``window``: compute the heart on :func:`heart_window` only (same result, a fraction of the points; ``x, y``
    must then be a regular grid from :func:`pixel_grid`).

    Parameters
    ----------
    x, y: point coordinates in mm, any equal shape ``S``.

    Returns
    -------
    tissue: int array ``S`` (index into :data:`cardiomm.phantom.tissues.TISSUES`);
    label: uint8 array ``S`` (0 bg, 1 LV blood, 2 LV myocardium, 3 RV blood).
    """
    if papillary_label not in PAPILLARY_LABELS:
        raise ValueError(f"papillary_label must be one of {PAPILLARY_LABELS}, got {papillary_label!r}")
    T = TISSUE_INDEX
    tissue = np.full(x.shape, T["air"], dtype=np.int16)
    label = np.full(x.shape, BACKGROUND, dtype=np.uint8)

    def ell(cx: float, cy: float, ax: float, ay: float) -> np.ndarray:
        if ax <= 0 or ay <= 0:
            return np.zeros(x.shape, bool)
        return ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1

    tissue[ell(0, 0, body.ax, body.ay)] = T["fat"]
    tissue[ell(0, 0, body.ax - body.fat, body.ay - body.fat)] = T["muscle"]
    inner_ax, inner_ay = body.ax - body.fat - body.muscle, body.ay - body.fat - body.muscle
    tissue[ell(0, 0, inner_ax, inner_ay)] = T["soft"]
    # lungs left and right of the mediastinum; the heart is painted over them
    tissue[ell(-0.52 * inner_ax, 0.05 * inner_ay, 0.42 * inner_ax, 0.80 * inner_ay)] = T["lung"]
    tissue[ell(0.55 * inner_ax, 0.05 * inner_ay, 0.40 * inner_ax, 0.80 * inner_ay)] = T["lung"]
    if z > body.liver_z:  # the liver rises into the inferior slices, patient's right = image left
        grow = min(1.0, (z - body.liver_z) / 30.0)
        tissue[ell(-0.5 * inner_ax, 0.3 * inner_ay, 0.45 * inner_ax * grow, 0.5 * inner_ay * grow)] = T["liver"]
    tissue[ell(0, body.spine_y, 16, 14)] = T["bone"]
    tissue[ell(14, body.spine_y - 22, 11, 11)] = T["blood"]  # descending aorta
    full_tissue, full_label = tissue, label
    if window:  # the heart is painted in a box around it only (views: the same pixels, far fewer to compute)
        win = heart_window(h, x, y)
        x, y, tissue, label = x[win], y[win], tissue[win], label[win]  # ``ell`` reads the rebound x, y

    r_endo, r_epi, rv_a, rv_b = slice_radii(h, z, f)
    s = lv_state(h, f)
    depth_frac = (z - s.z_base) / max(s.l_endo, 1e-6)
    dx, dy = x - h.cx, y - h.cy
    rho, theta = np.hypot(dx, dy), np.arctan2(dy, dx)
    wall = max(r_epi - r_endo, 0.0)
    r_epi_theta = r_endo + wall * _wall_profile(h, theta, depth_frac)
    # RV: ellipse left-anterior of the LV, overlapping the septum
    rv_cx = h.cx - (r_epi + 0.45 * rv_a)
    rv_cy = h.cy - 0.12 * rv_b
    if fat is not None and r_epi > 0:
        t_fat = _fat_thickness(fat, theta, depth_frac)
        t_rv = fat.epi * 1.5 + 0.5 * fat.groove  # fat over the RV free wall
        depth_pad = 0.4 + 0.6 * min(max(depth_frac, 0.0), 1.0)
        pad = fat.pad * np.clip(-np.sin(theta), 0, None) ** 2 * depth_pad  # anterior pad, growing to the apex
        pad_rv = 0.5 * fat.pad * depth_pad  # the RV lies anteriorly: half the pad all round it

        def envelope(extra_lv: float | np.ndarray, extra_rv: float) -> np.ndarray:
            e = rho <= r_epi_theta + t_fat + extra_lv
            if rv_a > 0:
                e |= ell(rv_cx, rv_cy, rv_a + h.rv_wall + t_rv + extra_rv, rv_b + h.rv_wall + t_rv + extra_rv)
            return e

        tissue[envelope(fat.pericardium + pad, fat.pericardium + pad_rv)] = T["pericardial_fat"]
        tissue[envelope(fat.pericardium, fat.pericardium)] = T["pericardium"]
        tissue[envelope(0.0, 0.0)] = T["epicardial_fat"]
    if rv_a > 0:
        if fat is None:
            peri = ell(rv_cx, rv_cy, rv_a + h.rv_wall + 2.5, rv_b + h.rv_wall + 2.5) | (rho <= r_epi_theta + 2.5)
            tissue[peri & (r_epi > 0)] = T["fat"]
        tissue[ell(rv_cx, rv_cy, rv_a + h.rv_wall, rv_b + h.rv_wall)] = T["rv_myocardium"]
        rv_cav = ell(rv_cx, rv_cy, rv_a, rv_b)
        tissue[rv_cav] = T["blood"]
        label[rv_cav] = RV_BLOOD
    elif r_epi > 0 and fat is None:
        tissue[rho <= r_epi_theta + 2.5] = T["fat"]
    if atria and z < s.z_base:
        _paint_atria(h, s, z, f, ell, tissue, fat)
    if r_epi > 0:
        myo = rho <= r_epi_theta
        tissue[myo] = T["myocardium"]
        if h.infarct_angle is not None and depth_frac > 0.3:
            tissue[myo & _in_sector(theta, h.infarct_angle, h.infarct_width)] = T["infarct"]
        if h.oedema_angle is not None:
            tissue[myo & _in_sector(theta, h.oedema_angle, h.oedema_width)] = T["oedema"]
        label[myo] = LV_MYO
    if r_endo > 0:
        cav = rho <= r_endo
        tissue[cav] = T["blood"]
        label[cav] = LV_BLOOD
        if papillary:
            pap = cav & _papillary_mask(h, rho, theta, r_endo, depth_frac)
            tissue[pap] = T["myocardium"]
            if papillary_label == "myocardium":
                label[pap] = LV_MYO
    return full_tissue, full_label


#: margin (mm) of the heart's box beyond the ventricles' ED extent: epicardial fat, pericardium and fat pad
HEART_WINDOW_MARGIN_MM = 35.0


def heart_window(h: HeartSpec, x: np.ndarray, y: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the regular grid ``(x, y)`` (from :func:`pixel_grid`) that contain the whole
    heart at every contraction (the ventricles are largest at ED), with its fat and the atria."""
    r_epi = h.r_endo + h.wall * (1 + h.wall_amp)
    m = HEART_WINDOW_MARGIN_MM
    left = r_epi + 1.45 * h.rv_a + h.rv_wall + m
    right = r_epi + m
    up = max(r_epi, 1.12 * h.rv_b + h.rv_wall) + m
    down = max(r_epi, 0.88 * h.rv_b + h.rv_wall) + m
    xs, ys = x[0], y[:, 0]
    cols = np.flatnonzero((xs >= h.cx - left) & (xs <= h.cx + right))
    rows = np.flatnonzero((ys >= h.cy - up) & (ys <= h.cy + down))
    if cols.size == 0 or rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


# Atria above the basal plane: length (mm) of the half-ellipsoids, radii relative to the ED ventricular bases,
# and the relative growth of the atria as they fill during ventricular systole
ATRIUM_LENGTH = 45.0
LA_RADIUS, RA_RADIUS, ATRIAL_FILLING = 0.85, 0.75, 0.15
ATRIAL_WALL = 2.0


def _paint_atria(h: HeartSpec, s: LVState, z: float, f: float, ell, tissue: np.ndarray, fat: FatSpec | None
                 ) -> None:
    """Paint the left atrium (posterior, above the LV) and right atrium (above the RV) into ``tissue``."""
    T = TISSUE_INDEX
    up = s.z_base - z  # distance above the base
    grow = 1.0 + ATRIAL_FILLING * f
    r0 = _ellipsoid_radius(1.0, ATRIUM_LENGTH, up)  # 0..1 profile
    if r0 <= 0:
        return
    r_la = LA_RADIUS * h.r_endo * grow * r0
    r_ra_a, r_ra_b = RA_RADIUS * h.rv_a * grow * r0, RA_RADIUS * 0.7 * h.rv_b * grow * r0
    la = (h.cx + 2.0, h.cy + 0.25 * h.r_endo)
    ra = (h.cx - (s.r_epi + 0.45 * h.rv_a), h.cy + 0.1 * h.rv_b)
    ring = (fat.epi * 2.5 + fat.pericardium) if fat is not None else 2.5
    fat_t = T["epicardial_fat"] if fat is not None else T["fat"]
    for (cx, cy), (a, b) in ((la, (r_la, r_la)), (ra, (r_ra_a, r_ra_b))):
        tissue[ell(cx, cy, a + ATRIAL_WALL + ring, b + ATRIAL_WALL + ring)] = fat_t
    for (cx, cy), (a, b) in ((la, (r_la, r_la)), (ra, (r_ra_a, r_ra_b))):
        tissue[ell(cx, cy, a + ATRIAL_WALL, b + ATRIAL_WALL)] = T["rv_myocardium"]
    for (cx, cy), (a, b) in ((la, (r_la, r_la)), (ra, (r_ra_a, r_ra_b))):
        tissue[ell(cx, cy, a, b)] = T["blood"]


# Papillary muscles: anterolateral (lateral = +x, anterior = -y) and posteromedial, as angles about the LV centre
PAPILLARY_ANGLES = (-np.pi / 4, 0.65 * np.pi)


def _papillary_mask(h: HeartSpec, rho: np.ndarray, theta: np.ndarray, r_endo: float, depth_frac: float
                    ) -> np.ndarray:
    """Points of the cavity (radius ``r_endo``) occupied by papillary muscles (depth 15-80% of the LV) and by
    trabeculation (a 1.5 mm endocardial band, 14 trabeculae, distal 40-100%)."""
    out = np.zeros(rho.shape, bool)
    if 0.15 < depth_frac < 0.8:
        rp = min(4.5, 0.3 * r_endo) * np.sin(np.pi * (depth_frac - 0.15) / 0.65) ** 0.3
        for a in PAPILLARY_ANGLES:
            px, py = (r_endo - 0.8 * rp) * np.cos(a), (r_endo - 0.8 * rp) * np.sin(a)
            out |= (rho * np.cos(theta) - px) ** 2 + (rho * np.sin(theta) - py) ** 2 <= rp**2
    if depth_frac > 0.4:
        band = min(1.5, 0.2 * r_endo)
        out |= (rho > r_endo - band) & (np.cos(14 * theta + h.wall_phase) > 0.6)
    return out


def pixel_grid(ny: int, nx: int, dy: float, dx: float, ss: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (mm) of the pixel centres (``ss=1``) or of ``ss x ss`` sub-samples per pixel.

    Returns ``x, y`` of shape ``(ny*ss, nx*ss)``; pixel ``(i, j)`` is centred at
    ``((j - nx//2) dx, (i - ny//2) dy)``, so the centre pixel sits at the k-space DC convention's origin.
    """
    off = (np.arange(ss) + 0.5) / ss - 0.5
    yi = (np.arange(ny)[:, None] - ny // 2 + off[None]).reshape(-1) * dy
    xj = (np.arange(nx)[:, None] - nx // 2 + off[None]).reshape(-1) * dx
    return np.meshgrid(xj, yi)


def centre_samples(arr_ss: np.ndarray, ss: int) -> np.ndarray:
    """The centre sub-sample of each pixel (``ss`` odd) of a super-sampled map."""
    c = ss // 2
    return arr_ss[c::ss, c::ss]
