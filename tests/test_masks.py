"""Undersampling masks: shapes, ACS, the stated R tolerance, determinism, frame variation, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cardiomm.conventions import ACS_LINES, PATTERNS
from cardiomm.sampling.masks import (
    LINE_TOLERANCE,
    RADIAL_TOLERANCE,
    acs_mask,
    acs_region,
    check_mask,
    locate_acs,
    make_mask,
    mask_stats,
    undersample,
)

NT, NY, NX = 6, 112, 128
RS = (4, 8, 12, 16, 20, 24)
CASES = [(p, r) for p in PATTERNS for r in RS]


def _assert_r_tolerance(mask: np.ndarray, name: str, pattern: str, R: int, acs: int = ACS_LINES) -> None:
    ny, nx = mask.shape[1:]
    region = acs_mask(name, ny, nx, acs)
    if pattern == "ktRadial":
        frac = mask_stats(mask, name, acs)["outer_fraction"]
        assert abs(frac * R - 1) <= RADIAL_TOLERANCE, f"{name}: outer fraction {frac:.4f} vs 1/R={1 / R:.4f}"
    else:
        outer_rows = ~region[:, 0]
        target = round(int(outer_rows.sum()) / R)
        for t in range(mask.shape[0]):
            rows = mask[t].any(axis=1)
            n = int(rows[outer_rows].sum())
            assert abs(n - target) <= LINE_TOLERANCE, f"{name} frame {t}: {n} outer lines, expected {target}+-1"


@pytest.fixture(scope="module")
def masks() -> dict[str, np.ndarray]:
    return {f"{p}{r}": make_mask(f"{p}{r}", NT, NY, NX, seed=7) for p, r in CASES}


@pytest.mark.parametrize("pattern, R", CASES)
def test_shape_dtype_acs_and_tolerance(masks: dict[str, np.ndarray], pattern: str, R: int) -> None:
    name = f"{pattern}{R}"
    m = masks[name]
    assert m.shape == (NT, NY, NX)
    assert m.dtype == np.uint8
    assert set(np.unique(m)) <= {0, 1}
    region = acs_mask(name, NY, NX)
    assert m[:, region].all(), "ACS must be sampled in every frame"
    _assert_r_tolerance(m, name, pattern, R)
    stats = mask_stats(m, name)
    assert stats["nominal_R"] == R
    assert stats["acs_complete"] is True
    # ACS is added on top, so the achieved acceleration is below the nominal one but above 1
    assert 1.0 < stats["achieved_R"] < R
    assert stats["achieved_R"] == pytest.approx(m.size / m.sum())
    check_mask(m, (NT, 2, 4, NY, NX), name, source="test")  # must not raise


@pytest.mark.parametrize("pattern", PATTERNS)
def test_geometry_of_patterns(masks: dict[str, np.ndarray], pattern: str) -> None:
    m = masks[f"{pattern}8"].astype(bool)
    region = acs_mask(f"{pattern}8", NY, NX)
    if pattern == "ktRadial":
        assert region.sum() == ACS_LINES**2
        assert region[NY // 2, NX // 2] and region[NY // 2 - ACS_LINES // 2, NX // 2 - ACS_LINES // 2]
        # genuinely 2D: some rows are only partly sampled
        partial = m.any(axis=2) & ~m.all(axis=2)
        assert partial.any()
    else:
        assert region.sum() == ACS_LINES * NX
        # readout fully sampled: each row is all or nothing
        assert np.array_equal(m.any(axis=2), m.all(axis=2))
    assert m[:, NY // 2, NX // 2].all(), "DC must be sampled"


def test_uniform_is_an_equispaced_comb_outside_acs(masks: dict[str, np.ndarray]) -> None:
    for R in RS:
        m = masks[f"Uniform{R}"]
        outer = ~acs_mask(f"Uniform{R}", NY, NX)[:, 0]
        rows = np.flatnonzero(m[0, :, 0].astype(bool) & outer)
        assert len(set(rows % R)) == 1, f"Uniform{R}: outer lines {rows} are not on one comb"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_variation_across_frames(masks: dict[str, np.ndarray], pattern: str) -> None:
    m = masks[f"{pattern}8"]
    same = all(np.array_equal(m[0], m[t]) for t in range(1, NT))
    if pattern == "Uniform":
        assert same
    else:
        assert not same
        assert len({m[t].tobytes() for t in range(NT)}) == NT, "every frame should differ"


@pytest.mark.parametrize("pattern", PATTERNS)
def test_deterministic_under_seed(pattern: str) -> None:
    a = make_mask(f"{pattern}12", 4, 64, 72, seed=3)
    b = make_mask(f"{pattern}12", 4, 64, 72, seed=3)
    assert np.array_equal(a, b)
    c = make_mask(f"{pattern}12", 4, 64, 72, seed=4)
    if pattern == "Uniform":
        assert np.array_equal(a, c)  # Uniform has no randomness
    else:
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_frames_do_not_depend_on_nt(pattern: str) -> None:
    long = make_mask(f"{pattern}8", 5, 48, 56, seed=1)
    short = make_mask(f"{pattern}8", 2, 48, 56, seed=1)
    assert np.array_equal(long[:2], short)


def test_global_random_state_untouched() -> None:
    # the legacy global state is exactly what must stay untouched, hence the legacy calls
    np.random.seed(123)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    for p in PATTERNS:
        make_mask(f"{p}8", 3, 64, 64, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_different_names_give_different_streams() -> None:
    # the name enters the seed: ktGaussian8 and ktGaussian9 must not share draws
    a = make_mask("ktGaussian8", 3, 96, 32, seed=0)
    b = make_mask("ktGaussian9", 3, 96, 32, seed=0)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("bad", ["Uniform1", "Uniform33", "Random8", "uniform8", "ktRadial"])
def test_invalid_names(bad: str) -> None:
    with pytest.raises(ValueError):
        make_mask(bad, 2, 32, 32, seed=0)


@pytest.mark.parametrize(
    "kwargs",
    [dict(nt=0), dict(ny=0), dict(seed=-1), dict(acs=-1), dict(acs=40), dict(name="ktRadial8", nx=16)],
)
def test_invalid_dimensions(kwargs: dict) -> None:
    args = dict(name="Uniform8", nt=2, ny=32, nx=32, seed=0, acs=20) | kwargs
    with pytest.raises(ValueError):
        make_mask(**args)


def test_check_mask_errors() -> None:
    m = make_mask("ktGaussian8", 4, 64, 48, seed=0)
    shape = (4, 1, 3, 64, 48)
    check_mask(m, shape, "ktGaussian8", source="ok")
    check_mask(m[:1], shape, "ktGaussian8", source="broadcast")  # nt = 1 broadcasts
    with pytest.raises(ValueError, match="maskfile.mat"):
        check_mask(m, (4, 1, 3, 64, 50), "ktGaussian8", source="maskfile.mat")
    with pytest.raises(ValueError, match="maskfile.mat.*frames"):
        check_mask(m[:3], shape, "ktGaussian8", source="maskfile.mat")
    with pytest.raises(ValueError, match="ny, nx"):
        check_mask(m[..., :40], shape, "ktGaussian8", source="x")
    holed = m.copy()
    holed[2, 64 // 2, :] = 0  # DC line missing in frame 2
    with pytest.raises(ValueError, match=r"frame\(s\) \[2\]"):
        check_mask(holed, shape, "ktGaussian8", source="holed")
    with pytest.raises(ValueError):
        check_mask(m[0], shape, "ktGaussian8", source="2d")
    # a ktRadial mask samples only the central ACS square, not the full ACS lines that Uniform requires
    radial = make_mask("ktRadial8", 4, 64, 48, seed=0)
    with pytest.raises(ValueError, match="ACS"):
        check_mask(radial, shape, "Uniform8", source="radial-as-uniform")


def test_undersample() -> None:
    rng = np.random.default_rng(0)
    k = (rng.standard_normal((3, 2, 4, 32, 40)) + 1j * rng.standard_normal((3, 2, 4, 32, 40))).astype(np.complex64)
    m = make_mask("ktRadial4", 3, 32, 40, seed=0, acs=8)
    ku = undersample(k, m)
    assert ku.shape == k.shape and ku.dtype == np.complex64
    keep = np.broadcast_to(m[:, None, None].astype(bool), k.shape)
    assert np.array_equal(ku[keep], k[keep])
    assert not ku[~keep].any()
    # one-frame mask broadcasts over all frames
    assert np.array_equal(undersample(k, m[:1]), k * m[:1, None, None])
    bad = k.copy()
    bad[1, 0, 2, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        undersample(bad, m)
    with pytest.raises(ValueError, match="mask shape"):
        undersample(k, m[:2])


@settings(max_examples=25, deadline=None)
@given(
    pattern=st.sampled_from(PATTERNS),
    ny=st.integers(24, 160),
    nx=st.integers(24, 160),
    R=st.integers(2, 32),
    acs=st.sampled_from([8, 12, 20, 24]),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_random_geometry(pattern: str, ny: int, nx: int, R: int, acs: int, seed: int) -> None:
    name = f"{pattern}{R}"
    if pattern == "ktRadial":  # the stated bound needs a target of >= 5 outer points (see module docstring)
        assume(round((ny * nx - acs * acs) / R) >= 5)
    m = make_mask(name, 2, ny, nx, seed=seed, acs=acs)
    assert m.shape == (2, ny, nx) and m.dtype == np.uint8
    assert mask_stats(m, name, acs)["acs_complete"]
    _assert_r_tolerance(m, name, pattern, R, acs)
    check_mask(m, (2, 1, 1, ny, nx), name, source="hypothesis", acs=acs)


# ------------------------------------------------------------------ the releases' mask names (issue 14)
def test_release_mask_names_parse_and_print_back():
    from cardiomm.conventions import MaskName, parse_mask_name

    for name, want in [("ktUniform8", MaskName("ktUniform", 8)), ("AccFactor04", MaskName("AccFactor", 4)),
                       ("AccFactor10", MaskName("AccFactor", 10)), ("ktRadial24", MaskName("ktRadial", 24))]:
        assert parse_mask_name(name) == want
        assert str(want) == name
    for bad in ("AccFactor4", "AccFactor40", "ktuniform8", "Radial8", "AccFactor01"):
        with pytest.raises(ValueError, match="invalid mask name"):
            parse_mask_name(bad)


def test_schema_mask_pattern_accepts_exactly_the_grammar():
    import json
    import re
    from pathlib import Path

    from cardiomm.conventions import parse_mask_name

    schema = json.loads((Path(__file__).parents[1] / "cardiomm/schema/config.schema.json").read_text())
    rx = re.compile(schema["properties"]["masks"]["items"]["pattern"])
    names = [f"{p}{r}" for p in ("Uniform", "ktUniform", "ktGaussian", "ktRadial") for r in range(0, 40)]
    names += [f"AccFactor{r:02d}" for r in range(0, 40)] + ["AccFactor4", "ktRadial032"]
    for n in names:
        try:
            parse_mask_name(n)
            ok = True
        except ValueError:
            ok = False
        assert bool(rx.match(n)) == ok, n


@pytest.mark.parametrize("acs", [16, 20, 24])
def test_ktuniform_interleaves_and_accfactor_is_the_uniform_comb(acs):
    ny, nx, nt, R = 96, 40, 6, 4
    kt = make_mask("ktUniform4", nt, ny, nx, seed=0, acs=acs)
    region = acs_mask("ktUniform4", ny, nx, acs)
    assert kt[:, region].all()
    outer_rows = [set(np.flatnonzero(kt[t, :, 0] & ~region[:, 0])) for t in range(nt)]
    phases = [{(r - t) % R for r in rows} for t, rows in enumerate(outer_rows)]
    assert all(p == phases[0] and len(p) == 1 for p in phases)  # frame t = the frame-0 comb moved by t lines
    assert outer_rows[0] != outer_rows[1]
    union = set().union(*outer_rows[:R])
    assert union == set(np.flatnonzero(~region[:, 0]))  # R consecutive frames cover every outer line
    np.testing.assert_array_equal(make_mask("AccFactor04", nt, ny, nx, seed=3, acs=acs),
                                  make_mask("Uniform4", nt, ny, nx, seed=3, acs=acs))
    st = mask_stats(kt, "ktUniform4", acs)
    assert st["nominal_R"] == 4 and st["acs_complete"]


def _zpad_rows(n: int, width: int) -> np.ndarray:
    """0-based indices zpad.m (Lustig; CMRxRecon's mask generators) pads ``width`` ones to: 1-based
    floor(n/2)+1+ceil(-width/2) .. floor(n/2)+ceil(width/2), written out from its formula."""
    first = n // 2 + 1 + math.ceil(-width / 2)
    last = n // 2 + math.ceil(width / 2)
    return np.arange(first, last + 1) - 1


@pytest.mark.parametrize("ny", [55, 56])
@pytest.mark.parametrize("acs", [16, 17, 20, 24])
def test_acs_at_the_official_zpad_place_for_every_parity(ny: int, acs: int) -> None:
    nx, nt = 48, 3
    m = np.zeros((nt, ny, nx), np.uint8)
    m[:, _zpad_rows(ny, acs)] = 1
    m[:, ::5] = 1  # a comb outside
    assert (acs_mask("Uniform4", ny, nx, acs).any(axis=1).nonzero()[0] == _zpad_rows(ny, acs)).all()
    check_mask(m, (nt, 1, 2, ny, nx), "Uniform4", source="zpad", acs=acs)
    region, shift = locate_acs("Uniform4", m, acs)
    assert shift == (0, 0) and (region == acs_mask("Uniform4", ny, nx, acs)).all()


@pytest.mark.parametrize("shift", [1, -1])
def test_acs_one_line_off_is_accepted_where_it_is_and_two_lines_off_is_an_error(shift: int) -> None:
    ny, nx, nt, acs = 55, 40, 2, 16
    start = (ny - acs + 1) // 2 if shift == 1 else ny // 2 - acs // 2 - 1  # fastMRI's centring for odd ny: +1
    m = np.zeros((nt, ny, nx), np.uint8)
    m[:, start:start + acs] = 1
    check_mask(m, (nt, 1, 1, ny, nx), "ktGaussian8", source="shifted", acs=acs)
    region = acs_region("ktGaussian8", m, acs)
    assert np.flatnonzero(region.any(axis=1)).tolist() == list(range(start, start + acs))
    assert mask_stats(m, "ktGaussian8", acs)["acs_complete"]
    far = np.zeros_like(m)
    far[:, start + shift:start + shift + acs] = 1
    with pytest.raises(ValueError, match=r"far.mat: ACS region of ktGaussian8 \(acs=16, rows 19..34 of ny=55"):
        check_mask(far, (nt, 1, 1, ny, nx), "ktGaussian8", source="far.mat", acs=acs)


def test_radial_acs_square_one_pixel_off_along_nx() -> None:
    ny, nx, acs = 56, 45, 16
    m = np.zeros((1, ny, nx), np.uint8)
    rows, cols = _zpad_rows(ny, acs), (nx - acs + 1) // 2 + np.arange(acs)  # odd nx: one pixel later
    m[0, rows[:, None], cols[None, :]] = 1
    region, shift = locate_acs("ktRadial8", m, acs)
    assert shift == (0, 1) and region.sum() == acs * acs and m[0][region].all()
    with pytest.raises(ValueError, match="ACS region of ktRadial8"):
        check_mask(np.roll(m, 3, axis=2), (1, 1, 1, ny, nx), "ktRadial8", source="x", acs=acs)
