"""Wall thickness and AHA segments on analytic rings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.io.nifti import Geometry
from cardiomm.quantify.aha import AHAOrientationWarning, orientation, slice_parts
from cardiomm.quantify.wall_thickness import aha_segments, closed_ring, wall_thickness, wall_thickness_details


def ring_slice(geom: Geometry, r_in: float, r_out, shape=(96, 112), rv: bool = True, offset=(0.3, -0.2)) -> np.ndarray:
    """One slice: LV blood disc of radius ``r_in`` mm, myocardium to ``r_out(theta)`` mm, RV crescent on the left.

    ``theta`` is the display angle (counter-clockwise, row axis down); the RV covers 120..240 degrees, so
    the anterior RV insertion is at 120 degrees.
    """
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    y = (yy - ny / 2 + offset[0]) * geom.dy
    x = (xx - nx / 2 + offset[1]) * geom.dx
    r = np.hypot(x, y)
    theta = np.mod(np.arctan2(-y, x), 2 * np.pi)
    outer = r_out(theta) if callable(r_out) else np.full_like(r, r_out)
    sl = np.zeros(shape, dtype=np.uint8)
    sl[r <= r_in] = LV_BLOOD
    sl[(r > r_in) & (r <= outer)] = LV_MYO
    if rv:
        sector = (theta >= np.deg2rad(120)) & (theta <= np.deg2rad(240))
        sl[(r > outer) & (r <= outer + 12.0) & sector] = RV_BLOOD
    return sl


@pytest.mark.parametrize("geom", [Geometry(1.0, 1.0, 8.0, 0.0), Geometry(1.2, 1.8, 8.0, 2.0), Geometry(1.8, 1.3, 6, 0)])
@pytest.mark.parametrize(("r_in", "r_out"), [(20.0, 28.0), (14.0, 19.0)])
def test_annulus_thickness_within_half_a_pixel(geom: Geometry, r_in: float, r_out: float) -> None:
    labels = np.stack([ring_slice(geom, r_in, r_out)] * 3)
    wt, segments = wall_thickness(labels, geom)
    half_pixel = 0.5 * max(geom.dx, geom.dy)
    assert abs(wt - (r_out - r_in)) < half_pixel
    assert set(segments) == set(range(1, 17))
    for s, v in segments.items():
        assert abs(v - (r_out - r_in)) < 2 * half_pixel, s


def test_thickness_varying_with_angle_is_followed_per_segment() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    r_in, mean_t, amp = 22.0, 6.0, 3.0
    # Thickest at the anterior wall (90 degrees), thinnest inferiorly (270 degrees).
    labels = np.stack([ring_slice(geom, r_in, lambda th: r_in + mean_t + amp * np.cos(th - np.pi / 2))] * 6)
    res = wall_thickness_details(labels, geom)
    assert not res.orientation.fallback
    assert np.rad2deg(res.orientation.origin_rad) == pytest.approx(120.0, abs=4.0)

    def expected(lo_deg: float, width_deg: float) -> float:
        th = np.deg2rad(np.linspace(lo_deg, lo_deg + width_deg, 721))
        return float(np.mean(mean_t + amp * np.cos(th - np.pi / 2)))

    # Basal / mid sectors of 60 degrees counter-clockwise from the anterior insertion (120 degrees).
    six = {2: 120, 3: 180, 4: 240, 5: 300, 6: 0, 1: 60}
    # Apical sectors of 90 degrees centred on the septum (180 degrees).
    four = {14: 135, 15: 225, 16: 315, 13: 45}
    want = {s: expected(lo, 60) for s, lo in six.items()}
    want |= {s + 6: v for s, v in want.items()}
    want |= {s: expected(lo, 90) for s, lo in four.items()}
    got = res.segments_mm
    for s in range(1, 17):
        assert got[s] == pytest.approx(want[s], abs=0.6), s
    seg_order = [1, 2, 3, 4, 5, 6]
    assert np.corrcoef([got[s] for s in seg_order], [want[s] for s in seg_order])[0, 1] > 0.98
    assert max(got, key=got.get) in (1, 7) and min(got, key=got.get) in (4, 10)
    assert res.global_mm == pytest.approx(mean_t, abs=0.5)


def test_slice_parts_split_myocardial_slices_in_thirds() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = ring_slice(geom, 20.0, 27.0)
    labels = np.stack([np.zeros_like(sl)] + [sl] * 7 + [np.zeros_like(sl)])
    assert slice_parts(labels).tolist() == [0, 1, 1, 1, 2, 2, 3, 3, 0]


def test_aha_segment_map_positions_and_septum_next_to_rv() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = ring_slice(geom, 20.0, 27.0, shape=(96, 96), offset=(0.0, 0.0))
    seg = aha_segments(np.stack([sl] * 3), geom)
    assert seg.dtype.kind == "i"
    assert np.array_equal(seg > 0, np.stack([sl] * 3) == LV_MYO)
    assert set(np.unique(seg[0])) == {0, 1, 2, 3, 4, 5, 6}
    assert set(np.unique(seg[1])) == {0, 7, 8, 9, 10, 11, 12}
    assert set(np.unique(seg[2])) == {0, 13, 14, 15, 16}
    c, r = 48, 23  # 23.5 mm from the centre, mid-wall
    at = {"up": (c - r, c), "left": (c, c - r), "down": (c + r, c), "right": (c, c + r)}
    assert [seg[0][at[k]] for k in ("up", "down")] == [1, 4]  # anterior, inferior
    assert seg[1][at["up"]] == 7 and seg[2][at["left"]] == 14 and seg[2][at["right"]] == 16
    # The septal segments are the ones touching the RV.
    rows, cols = np.nonzero(sl == RV_BLOOD)
    touching = set()
    for rr, cc in zip(rows, cols):
        touching |= {int(v) for v in seg[0, max(rr - 1, 0) : rr + 2, max(cc - 1, 0) : cc + 2].ravel() if v}
    assert touching <= {1, 2, 3, 4} and {2, 3} <= touching


def test_aha_segments_rotate_with_the_heart() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = ring_slice(geom, 20.0, 27.0, shape=(96, 96), offset=(0.0, 0.0))
    labels = np.stack([sl] * 3)
    seg = aha_segments(labels, geom)
    rotated = aha_segments(np.rot90(labels, k=1, axes=(1, 2)), geom)
    agree = np.mean(np.rot90(seg, k=1, axes=(1, 2))[rotated > 0] == rotated[rotated > 0])
    assert agree > 0.99


def test_no_rv_falls_back_to_image_axes_with_a_warning() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = ring_slice(geom, 20.0, 27.0, rv=False)
    with pytest.warns(AHAOrientationWarning):
        ori = orientation(np.stack([sl] * 3), geom)
    assert ori.fallback and set(ori.source) == {"image_axes"}
    with pytest.warns(AHAOrientationWarning):
        wt, _ = wall_thickness(np.stack([sl] * 3), geom)
    assert wt == pytest.approx(7.0, abs=0.5)


def test_mid_cavity_slice_without_rv_takes_the_nearest_slice_with_one() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    with_rv, without = ring_slice(geom, 20.0, 27.0), ring_slice(geom, 20.0, 27.0, rv=False)
    ori = orientation(np.stack([with_rv, without, without]), geom)  # mid-cavity slice 1 has no RV
    assert not ori.fallback and ori.septum_slice == 0 and set(ori.source) == {"mid_septum"}
    assert np.all(ori.origin_rad == ori.origin_rad[0])  # one origin for the stack, as UK Biobank


def _rv_arc_slice(geom: Geometry, lo_deg: float, hi_deg: float) -> np.ndarray:
    sl = ring_slice(geom, 20.0, 27.0, shape=(96, 96), offset=(0.0, 0.0), rv=False)
    yy, xx = np.mgrid[0:96, 0:96]
    y, x = (yy - 48) * geom.dy, (xx - 48) * geom.dx
    r, th = np.hypot(x, y), np.rad2deg(np.mod(np.arctan2(-y, x), 2 * np.pi))
    sl[(r > 27.0) & (r <= 39.0) & (th >= lo_deg) & (th <= hi_deg)] = RV_BLOOD
    return sl


@pytest.mark.parametrize(("lo", "hi"), [(120, 240), (150, 210), (120, 200), (100, 260)])
def test_origin_is_the_mid_septum_of_the_mid_cavity_slice_as_uk_biobank(lo, hi) -> None:
    """Sectors start 60 degrees before the middle of the RV contact arc, whatever the arc's width; the old rule
    (anterior RV insertion) agrees only for a 120-degree arc."""
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = _rv_arc_slice(geom, lo, hi)
    ori = orientation(np.stack([sl] * 3), geom)
    mid = (lo + hi) / 2
    assert np.rad2deg(ori.origin_rad[1]) == pytest.approx(mid - 60.0, abs=3.0)
    old_rule = lo  # anterior insertion
    assert (abs(old_rule - (mid - 60.0)) < 3.0) == (hi - lo == 120)
    seg = aha_segments(np.stack([sl] * 3), geom)
    c, rr = 48, 23
    at = (c - int(round(rr * np.sin(np.deg2rad(mid)))), c + int(round(rr * np.cos(np.deg2rad(mid)))))
    assert seg[2][at] == 14  # apical septal segment centred on the mid-septum
    assert seg[0][at] in (2, 3)  # the mid-septum is the border of antero- and inferoseptal


def test_open_rings_are_measured_and_caps_skipped_with_a_reason() -> None:
    """UK Biobank measures every slice with >= 10 LV blood and myocardium pixels, open ring or not."""
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    closed = ring_slice(geom, 20.0, 27.0)
    open_ring = closed.copy()
    open_ring[:40, 50:60][open_ring[:40, 50:60] == LV_MYO] = LV_BLOOD  # outflow-tract-like gap to the background
    septal_gap = closed.copy()
    yy, xx = np.mgrid[0:96, 0:112]
    gap = (np.abs(yy - 48) < 4) & (xx < 56) & (septal_gap == LV_MYO)
    septal_gap[gap] = LV_BLOOD  # blood touches the RV across the septum
    papillary = closed.copy()
    papillary[46:49, 62:65] = 0  # a 3x3 unlabelled hole in the blood pool
    cap = np.where(closed == LV_BLOOD, LV_MYO, closed)  # myocardium without a cavity
    assert closed_ring(closed) and not closed_ring(open_ring) and not closed_ring(cap)
    assert not closed_ring(septal_gap) and not closed_ring(papillary)
    res = wall_thickness_details(np.stack([open_ring, septal_gap, papillary, closed, closed, cap]), geom)
    assert res.measured.tolist() == [True, True, True, True, True, False]
    assert res.open_ring == (0, 1, 2)
    assert list(res.skipped) == [5] and "< 10" in res.skipped[5]
    for z in (2, 3, 4):  # the hole does not change the thickness
        assert res.per_slice_mm[z] == pytest.approx(7.0, abs=0.5)
    # across a gap the epicardium follows the blood pool, so those slices read thinner (as in UK Biobank)
    assert res.per_slice_mm[0] < res.per_slice_mm[3] and res.per_slice_mm[1] < res.per_slice_mm[3]
    assert math.isnan(res.per_slice_mm[5])


def test_errors_and_nan_without_a_measurable_slice() -> None:
    geom = Geometry(1.0, 1.0, 8.0, 0.0)
    sl = ring_slice(geom, 20.0, 27.0)
    with pytest.raises(ValueError, match="shape"):
        wall_thickness(sl, geom)
    with pytest.raises(ValueError, match="no LV myocardium"):
        wall_thickness(np.zeros((2, 10, 10), dtype=np.uint8), geom)
    cap = np.where(sl == LV_BLOOD, LV_MYO, sl)
    with pytest.warns(UserWarning, match="10 LV blood pool"):
        wt, segments = wall_thickness(np.stack([cap] * 3), geom)
    assert math.isnan(wt) and all(math.isnan(v) for v in segments.values())
