"""Ventricular volumes and function on analytic beating label volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiomm.conventions import LV_BLOOD, LV_MYO, MYOCARDIAL_DENSITY_G_PER_ML, PHENOTYPES, RV_BLOOD
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.volumes import VOLUME_PHENOTYPES, cardiac_phases, ventricular_phenotypes, volume_curve

GEOM = Geometry(dx=1.5, dy=1.25, thickness=8.0, gap=2.0, dt=0.04)


def beating_heart(nt: int = 20, nz: int = 6, lv_peak: int = 0, rv_min: int | None = None) -> np.ndarray:
    """Stacked concentric ellipses whose radii change as a cosine over the cycle.

    LV blood is largest at ``lv_peak`` and smallest half a cycle later; the myocardium is a ring of fixed
    width around it; the RV is an ellipse on the image left whose smallest frame is ``rv_min``.
    """
    ny, nx = 72, 80
    yy, xx = np.mgrid[0:ny, 0:nx]
    y_mm, x_mm = (yy - 36.3) * GEOM.dy, (xx - 44.6) * GEOM.dx
    rv_min = (lv_peak + nt // 2) % nt if rv_min is None else rv_min
    labels = np.zeros((nt, nz, ny, nx), dtype=np.uint8)
    for t in range(nt):
        lv_scale = 1.0 - 0.2 * (1.0 - math.cos(2 * math.pi * (t - lv_peak) / nt))  # 1 at peak, 0.6 half a cycle on
        rv_scale = 1.0 - 0.15 * (1.0 + math.cos(2 * math.pi * (t - rv_min) / nt))
        for z in range(nz):
            taper = 1.0 - 0.08 * z  # base to apex
            a, b = 18.0 * taper * lv_scale, 15.0 * taper * lv_scale
            r_lv = (x_mm / a) ** 2 + (y_mm / b) ** 2
            r_epi = (x_mm / (a + 8.0)) ** 2 + (y_mm / (b + 8.0)) ** 2
            r_rv = ((x_mm + 45.0) / (14.0 * rv_scale)) ** 2 + (y_mm / (22.0 * rv_scale)) ** 2
            sl = labels[t, z]
            sl[r_rv <= 1] = RV_BLOOD
            sl[r_epi <= 1] = LV_MYO
            sl[r_lv <= 1] = LV_BLOOD
    return labels


@pytest.fixture(scope="module")
def heart() -> np.ndarray:
    return beating_heart()


def count_ml(mask: np.ndarray) -> float:
    return float(np.count_nonzero(mask)) * GEOM.dx * GEOM.dy * (GEOM.thickness + GEOM.gap) / 1000.0


def test_keys_and_units_come_from_conventions(heart: np.ndarray) -> None:
    ph = ventricular_phenotypes(heart, GEOM)
    assert list(ph) == [k for k in PHENOTYPES if k != "WT"] == list(VOLUME_PHENOTYPES)
    assert all(isinstance(v, float) for v in ph.values())


def test_volumes_are_voxel_counts_times_voxel_volume_including_gap(heart: np.ndarray) -> None:
    ph = ventricular_phenotypes(heart, GEOM)
    es = 10  # half a cycle after the LV peak at frame 0
    assert ph["LVEDV"] == pytest.approx(count_ml(heart[0] == LV_BLOOD), rel=1e-12)
    assert ph["LVESV"] == pytest.approx(count_ml(heart[es] == LV_BLOOD), rel=1e-12)
    assert ph["RVEDV"] == pytest.approx(count_ml(heart[0] == RV_BLOOD), rel=1e-12)
    assert ph["RVESV"] == pytest.approx(count_ml(heart[es] == RV_BLOOD), rel=1e-12)
    assert ph["LVM"] == pytest.approx(count_ml(heart[0] == LV_MYO) * MYOCARDIAL_DENSITY_G_PER_ML, rel=1e-12)
    # The gap counts: the same labels with the gap folded into the thickness give the same volumes,
    # and without the gap they are smaller by thickness / spacing.
    no_gap = Geometry(GEOM.dx, GEOM.dy, GEOM.thickness, 0.0, GEOM.dt)
    assert ventricular_phenotypes(heart, no_gap)["LVEDV"] == pytest.approx(ph["LVEDV"] * 8.0 / 10.0)


def test_volumes_close_to_analytic_ellipse_volume(heart: np.ndarray) -> None:
    # Disc summation of ellipse areas pi*a*b*spacing, a = 18*taper, b = 15*taper at ED.
    analytic = sum(math.pi * 18.0 * 15.0 * (1.0 - 0.08 * z) ** 2 for z in range(6)) * 10.0 / 1000.0
    assert ventricular_phenotypes(heart, GEOM)["LVEDV"] == pytest.approx(analytic, rel=0.03)


def test_function_identities(heart: np.ndarray) -> None:
    ph = ventricular_phenotypes(heart, GEOM)
    assert ph["LVSV"] == pytest.approx(ph["LVEDV"] - ph["LVESV"])
    assert ph["RVSV"] == pytest.approx(ph["RVEDV"] - ph["RVESV"])
    assert ph["LVEF"] == pytest.approx(100.0 * ph["LVSV"] / ph["LVEDV"])
    assert ph["RVEF"] == pytest.approx(100.0 * ph["RVSV"] / ph["RVEDV"])
    hr = 60.0 / (GEOM.dt * heart.shape[0])  # one cycle of 20 frames at 40 ms = 75 bpm
    assert hr == pytest.approx(75.0)
    assert ph["LVCO"] == pytest.approx(ph["LVSV"] * hr / 1000.0)
    assert 0 < ph["LVEF"] < 100 and 0 < ph["RVEF"] < 100
    given = ventricular_phenotypes(heart, GEOM, heart_rate_bpm=60.0)
    assert given["LVCO"] == pytest.approx(ph["LVSV"] * 60.0 / 1000.0)


def test_ed_es_frame_choice() -> None:
    labels = beating_heart(lv_peak=4)  # largest LV at frame 4, smallest at 14
    lv = volume_curve(labels, GEOM, LV_BLOOD)
    assert cardiac_phases(lv, "first") == (0, 14)
    assert cardiac_phases(lv, "max") == (4, 14)
    first = ventricular_phenotypes(labels, GEOM, ed="first")
    peak = ventricular_phenotypes(labels, GEOM, ed="max")
    assert first["LVEDV"] == pytest.approx(lv[0]) and peak["LVEDV"] == pytest.approx(lv[4])
    assert peak["LVEDV"] > first["LVEDV"] and first["LVESV"] == peak["LVESV"] == pytest.approx(lv[14])
    assert peak["LVM"] == pytest.approx(count_ml(labels[4] == LV_MYO) * MYOCARDIAL_DENSITY_G_PER_ML)


def test_rv_is_read_at_the_lv_end_systole() -> None:
    labels = beating_heart(lv_peak=0, rv_min=6)  # RV smallest at 6, LV smallest at 10
    rv = volume_curve(labels, GEOM, RV_BLOOD)
    ph = ventricular_phenotypes(labels, GEOM)
    assert int(np.argmin(rv)) == 6
    assert ph["RVESV"] == pytest.approx(rv[10]) and ph["RVESV"] > rv.min()


def test_volume_curve_shape_and_units(heart: np.ndarray) -> None:
    curve = volume_curve(heart, GEOM, LV_MYO)
    assert curve.shape == (heart.shape[0],)
    assert curve[3] == pytest.approx(count_ml(heart[3] == LV_MYO))
    with pytest.raises(ValueError, match="label"):
        volume_curve(heart, GEOM, 7)


def test_missing_rv_gives_nan_ef_not_a_number_that_looks_valid(heart: np.ndarray) -> None:
    no_rv = np.where(heart == RV_BLOOD, 0, heart)
    ph = ventricular_phenotypes(no_rv, GEOM)
    # not RVEDV = 0 mL, RVSV = 0 mL: every RV value is NaN (the flagged form says why, tests/test_cine_flags.py)
    assert all(math.isnan(ph[k]) for k in ("RVEDV", "RVESV", "RVSV", "RVEF"))


def test_errors(heart: np.ndarray) -> None:
    with pytest.raises(ValueError, match="1 frame"):
        ventricular_phenotypes(heart[:1], GEOM)
    no_ed_blood = heart.copy()
    no_ed_blood[0][no_ed_blood[0] == LV_BLOOD] = LV_MYO
    with pytest.raises(ValueError, match="no LV blood pool"):
        ventricular_phenotypes(no_ed_blood, GEOM)
    static = Geometry(GEOM.dx, GEOM.dy, GEOM.thickness, GEOM.gap, dt=0.0)
    with pytest.raises(ValueError, match="dt"):
        ventricular_phenotypes(heart, static)
    assert ventricular_phenotypes(heart, static, heart_rate_bpm=70.0)["LVCO"] > 0
    with pytest.raises(ValueError, match="heart_rate_bpm"):
        ventricular_phenotypes(heart, GEOM, heart_rate_bpm=-5.0)
    with pytest.raises(ValueError, match="shape"):
        ventricular_phenotypes(heart[0], GEOM)
    with pytest.raises(ValueError, match="unknown label"):
        ventricular_phenotypes(np.where(heart == RV_BLOOD, 9, heart), GEOM)
    with pytest.raises(ValueError, match="integers"):
        ventricular_phenotypes(heart + 0.5, GEOM)
    with pytest.raises(ValueError, match="ed"):
        ventricular_phenotypes(heart, GEOM, ed="last")


def test_float_labels_with_whole_numbers_are_accepted(heart: np.ndarray) -> None:
    assert ventricular_phenotypes(heart.astype(np.float32), GEOM) == ventricular_phenotypes(heart, GEOM)
