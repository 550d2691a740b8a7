"""Image-quality metrics: closed forms, identities, normalisation invariances, crop, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cardiomm.compare.image_quality import central_crop, frame_metrics


def _images(shape: tuple[int, ...] = (3, 2, 40, 48), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : shape[-2], 0 : shape[-1]]
    blob = np.exp(-(((y - shape[-2] / 2) / 8) ** 2 + ((x - shape[-1] / 2) / 10) ** 2))
    ref = (blob + 0.05 * rng.random(shape)).astype(np.float32)
    rec = (ref + 0.03 * rng.standard_normal(shape)).clip(0).astype(np.float32)
    return ref, rec


def test_rows_cover_every_frame_with_keys() -> None:
    ref, rec = _images()
    rows = frame_metrics(ref, rec)
    assert len(rows) == 3 * 2
    assert {(r["slice"], r["frame"]) for r in rows} == {(z, t) for z in range(2) for t in range(3)}
    assert all(set(r) == {"slice", "frame", "psnr", "ssim", "nmse"} for r in rows)
    assert all(np.isfinite(r["psnr"]) and 0 < r["ssim"] < 1 and r["nmse"] > 0 for r in rows)


@pytest.mark.parametrize("normalize", [True, False])
def test_identical_images(normalize: bool) -> None:
    ref, _ = _images()
    for r in frame_metrics(ref, ref.copy(), normalize=normalize):
        assert r["psnr"] == math.inf
        assert r["ssim"] == pytest.approx(1.0)
        assert r["nmse"] == 0.0


def test_psnr_closed_form_on_constant_offset() -> None:
    ref, _ = _images(seed=1)
    c = 0.01
    for r, (t, z) in zip(frame_metrics(ref, ref + c, normalize=False), [(t, z) for z in range(2) for t in range(3)]):
        want = 20 * math.log10(float(ref[t, z].max()) / c)
        assert r["psnr"] == pytest.approx(want, abs=1e-3)
        want_nmse = c**2 * ref[t, z].size / float(np.sum(ref[t, z].astype(np.float64) ** 2))
        assert r["nmse"] == pytest.approx(want_nmse, rel=1e-3)


def test_nmse_of_zeros_is_one() -> None:
    ref, _ = _images()
    for norm in ("each", "reference"):
        for r in frame_metrics(ref, np.zeros_like(ref), norm=norm):
            assert r["nmse"] == pytest.approx(1.0)


@pytest.mark.parametrize("norm", ["each", "reference"])
def test_normalisation_invariant_to_joint_global_scale(norm: str) -> None:
    ref, rec = _images()
    base = frame_metrics(ref, rec, norm=norm)
    scaled = frame_metrics(37.5 * ref, 37.5 * rec, norm=norm)
    for a, b in zip(base, scaled):
        for key in ("psnr", "ssim", "nmse"):
            assert b[key] == pytest.approx(a[key], rel=1e-5)
    # without normalisation a wrong global scale of rec alone is penalised
    raw = frame_metrics(ref, rec, normalize=False)
    raw_scaled = frame_metrics(ref, 2 * rec, normalize=False)
    assert all(s["nmse"] > 10 * r["nmse"] for s, r in zip(raw_scaled, raw))


def test_each_mode_ignores_rec_scale_reference_mode_does_not() -> None:
    ref, rec = _images()
    each = [r["psnr"] for r in frame_metrics(ref, rec, norm="each")]
    each_scaled = [r["psnr"] for r in frame_metrics(ref, 3 * rec, norm="each")]
    np.testing.assert_allclose(each_scaled, each, rtol=1e-6)
    refmode_scaled = [r["psnr"] for r in frame_metrics(ref, 3 * rec, norm="reference")]
    assert all(s < e - 5 for s, e in zip(refmode_scaled, each))


def test_normalisation_uses_995_percentile() -> None:
    ref, rec = _images((1, 1, 32, 32))
    p_ref, p_rec = np.percentile(ref, 99.5), np.percentile(rec, 99.5)
    g, p = ref[0, 0] / p_ref, rec[0, 0] / p_rec
    want = 10 * math.log10(g.max() ** 2 / np.mean((g.astype(np.float64) - p) ** 2))
    assert frame_metrics(ref, rec)[0]["psnr"] == pytest.approx(want, rel=1e-5)


def test_central_crop_geometry() -> None:
    img = np.arange(112 * 128).reshape(1, 1, 112, 128)
    out = central_crop(img)
    assert out.shape == (1, 1, 56, 43)  # round(112/2) x round(128/3)
    # centred on the DC pixel (ny//2, nx//2)
    assert out[0, 0, 56 // 2, 43 // 2] == img[0, 0, 112 // 2, 128 // 2]
    assert central_crop(np.zeros((7, 9))).shape == (4, 3)  # MATLAB round(3.5) = 4


def test_crop_ignores_errors_at_the_border() -> None:
    ref, _ = _images()
    rec = ref.copy()
    rec[..., :3, :] += 1.0  # corrupt the top rows only
    assert all(r["psnr"] == math.inf for r in frame_metrics(ref, rec, crop=True, normalize=False))
    assert all(r["psnr"] < 40 for r in frame_metrics(ref, rec, crop=False, normalize=False))


def test_bad_input() -> None:
    ref, rec = _images()
    with pytest.raises(ValueError, match="shape mismatch"):
        frame_metrics(ref, rec[:, :, :-1])
    with pytest.raises(ValueError, match="nt, nz, ny, nx"):
        frame_metrics(ref[0], rec[0])
    bad = rec.copy()
    bad[1, 1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="rec contains 1 NaN"):
        frame_metrics(ref, bad)
    with pytest.raises(ValueError, match="ref contains"):
        frame_metrics(np.where(ref > 0.5, np.inf, ref), rec)
    with pytest.raises(ValueError, match="complex"):
        frame_metrics(ref.astype(np.complex64), rec)
    with pytest.raises(ValueError, match="norm"):
        frame_metrics(ref, rec, norm="max")
    with pytest.raises(ValueError, match="all zero"):
        frame_metrics(np.zeros_like(ref), rec, normalize=False)
    with pytest.raises(ValueError, match="SSIM window"):
        frame_metrics(ref[..., :5, :5], rec[..., :5, :5])


# ------------------------------------------------------------------ the releases' scoring protocols (issue 14)
# tests/fixtures/cmrxrecon_official_scores.json holds numbers computed by running the official scoring code
# (CmrxRecon/CMRxRecon Evaluation/Evaluation.py calmetric as Main_Score.py calls it; CMRxRecon2025-snippets
# evaluation-2024 and evaluation-2025 Evaluation.py calmetric as Val_Score2024.py / Val_Score2025.py call it) in a
# scratch folder outside this repository, on img4ranking arrays cut from the seeded series below (MATLAB axis
# order, as run4Ranking.m writes them). The official code is not part of this repository.
def _seeded_series(seed: int, shape: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    nt, nz, ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    base = np.exp(-(((yy - ny / 2) / (ny / 4)) ** 2 + ((xx - nx / 2) / (nx / 4)) ** 2))
    ref = (base[None, None] * (1 + 0.3 * rng.random((nt, nz, 1, 1))) + 0.05 * rng.random(shape)).astype(np.float32)
    rec = np.abs((0.9 * ref + 0.08 * rng.standard_normal(shape)).astype(np.float32)).astype(np.float32)
    return ref, rec


def _official_cases():
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "fixtures" / "cmrxrecon_official_scores.json").read_text())["cases"]


@pytest.mark.parametrize("protocol", ["cmrxrecon2023", "cmrxrecon2024", "cmrxrecon2025"])
def test_protocols_match_the_official_scoring_code(protocol):
    from cardiomm.compare.image_quality import protocol_metrics, ranking_selection

    for case in _official_cases():
        ref, rec = _seeded_series(case["seed"], tuple(case["shape"]))
        rows = protocol_metrics(ref, rec, protocol, case["kind"])
        frames, slices = ranking_selection(*ref.shape[:2], case["kind"])
        want = case[protocol]
        assert len(rows) == len(slices) * len(frames) == np.size(want["psnr"])
        for metric in ("psnr", "ssim", "nmse"):
            got = np.array([r[metric] for r in rows]).reshape(len(slices), len(frames))
            np.testing.assert_allclose(got, np.array(want[metric]), rtol=0, atol=1e-6, err_msg=f"{protocol} {metric}")
            assert abs(got.mean() - want[f"file_{metric}"]) < 1e-6
        assert {r["protocol"] for r in rows} == {protocol}


def test_ranking_selection_is_run4ranking():
    from cardiomm.compare.image_quality import ranking_selection

    # MATLAB round(sz/2)-1 : round(sz/2), 1-based -> 0-based
    assert ranking_selection(12, 5, "cine") == ([0, 1, 2], [1, 2])
    assert ranking_selection(12, 6, "cine") == ([0, 1, 2], [1, 2])
    assert ranking_selection(12, 7, "cine") == ([0, 1, 2], [2, 3])
    assert ranking_selection(9, 2, "mapping") == (list(range(9)), [0, 1])
    assert ranking_selection(2, 5, "cine") == ([0, 1], [1, 2])  # run4Ranking_2025.m: 1:min(3, t)
    assert ranking_selection(1, 4, "mapping") == ([0], [0, 1])  # a single-image series (T2w, BlackBlood)


def test_all_frames_protocol_is_the_previous_default():
    from cardiomm.compare.image_quality import frame_metrics, protocol_metrics

    ref, rec = _seeded_series(9, (2, 3, 24, 20))
    a = protocol_metrics(ref, rec, "all-frames", "cine")
    b = frame_metrics(ref, rec)
    assert [{k: v for k, v in r.items() if k != "protocol"} for r in a] == b and a[0]["protocol"] == "all-frames"
    with pytest.raises(ValueError, match="image_quality.protocol"):
        protocol_metrics(ref, rec, "cmrxrecon2022", "cine")


def test_protocols_differ_where_the_definitions_do():
    from cardiomm.compare.image_quality import protocol_metrics

    ref, rec = _seeded_series(5, (4, 5, 48, 60))
    means = {p: np.mean([r["psnr"] for r in protocol_metrics(ref, rec, p, "cine")])
             for p in ("all-frames", "cmrxrecon2023", "cmrxrecon2024", "cmrxrecon2025")}
    assert len({round(v, 3) for v in means.values()}) == 4


def test_every_modality_is_ranked_as_run4ranking_2025_selects_by_file_name():
    from cardiomm.compare.image_quality import ranking_selection
    from cardiomm.conventions import MODALITIES

    for name, m in MODALITIES.items():
        # run4Ranking_2025.m: contains(filetype, ...) on the file name decides
        every = any(x in m.stem for x in ("T1map", "T2map", "T2smap", "T1mappost", "T1rho"))
        single = any(x in m.stem for x in ("blackblood", "T1w", "T2w"))
        frames, _ = ranking_selection(12, 4, m.ranking_kind)
        assert frames == (list(range(12)) if every or single else [0, 1, 2]), name
