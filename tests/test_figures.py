"""Figures: every function writes non-empty PNG and PDF files atomically; bad inputs raise clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiomm.compare.agreement import INDICATOR_COLUMNS
from cardiomm.conventions import LV_BLOOD, LV_MYO, RV_BLOOD, unit
from cardiomm.figures import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check_outputs(paths: list[Path], out_stem: Path) -> None:
    assert [p.name for p in paths] == [f"{out_stem.name}.png", f"{out_stem.name}.pdf"]
    png, pdf = paths
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert png.stat().st_mode & 0o044  # readable by group/others (the report links them)
    leftovers = [p.name for p in out_stem.parent.iterdir() if ".tmp" in p.name]
    assert leftovers == []


@pytest.fixture(scope="module")
def indicators() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for s in range(5):
        truth = {"LVEF": 55 + 5 * rng.standard_normal(), "T1": 1000 + 40 * rng.standard_normal()}
        for ind, t in truth.items():
            rows.append((f"P{s}", "test", "reference", "full", ind, unit(ind), t, True, ""))
            for mask, noise in (("Uniform8", 0.01), ("ktRadial24", 0.03)):
                v = t * (1 + noise * rng.standard_normal())
                ok = not (ind == "T1" and mask == "ktRadial24" and s < 3)  # leaves 2 pairs: not computable
                rows.append((f"P{s}", "test", "cardiomm", mask, ind, unit(ind), v if ok else np.nan, ok, ""))
    return pd.DataFrame(rows, columns=list(INDICATOR_COLUMNS))


def test_bland_altman_grid(indicators, tmp_path):
    stem = tmp_path / "figs" / "ba.cardiomm"  # dots in the stem must not be mistaken for an extension
    _check_outputs(plots.bland_altman_grid(indicators, "reference", "cardiomm", stem), stem)


def test_scatter_identity(indicators, tmp_path):
    stem = tmp_path / "scatter"
    _check_outputs(plots.scatter_identity(indicators, "reference", "cardiomm", stem), stem)


def test_grid_rejects_missing_method(indicators, tmp_path):
    with pytest.raises(ValueError, match="no rows with method 'sense'"):
        plots.bland_altman_grid(indicators, "reference", "sense", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_quality_distributions(tmp_path):
    rng = np.random.default_rng(2)
    rows = [
        ("P0", "test", "cine", 0, f, m, k, 30 + rng.standard_normal(), 0.9 + 0.01 * rng.standard_normal(), 0.01)
        for m in ("zerofilled", "cardiomm")
        for k in ("Uniform8", "ktRadial24")
        for f in range(4)
    ]
    rows.append(("P0", "test", "cine", 0, 0, "reference", "full", np.inf, 1.0, 0.0))  # must be ignored
    iq = pd.DataFrame(rows, columns=list(plots.IQ_COLUMNS))
    stem = tmp_path / "iq"
    _check_outputs(plots.quality_distributions(iq, stem), stem)
    with pytest.raises(ValueError, match="missing columns"):
        plots.quality_distributions(iq.drop(columns="ssim"), tmp_path / "bad")


def _phantom(n: int = 48) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:n, :n]
    r = np.hypot(yy - n / 2, xx - n / 2)
    myo = (r > 7) & (r < 11)
    labels = np.zeros((n, n), dtype=np.int16)
    labels[r <= 7] = LV_BLOOD
    labels[myo] = LV_MYO
    labels[(np.hypot(yy - n / 2, xx - n / 2 - 15) < 6) & (labels == 0)] = RV_BLOOD
    image = 0.2 + (labels == LV_BLOOD) * 1.0 + (labels == RV_BLOOD) * 0.9 + myo * 0.4
    return image, labels, myo


def test_recon_panel(tmp_path):
    ref, _, _ = _phantom()
    rng = np.random.default_rng(3)
    images = {"SENSE ktRadial24": ref + 0.05 * rng.standard_normal(ref.shape), "CardioMM ktRadial24": ref * 0.98}
    metrics = {"SENSE ktRadial24": (28.3, 0.81), "CardioMM ktRadial24": (36.0, 0.95)}
    stem = tmp_path / "recon"
    _check_outputs(plots.recon_panel(images, ref, metrics, "cine, mid slice, ED", stem), stem)
    with pytest.raises(ValueError, match="differs from the reference shape"):
        plots.recon_panel({"bad": ref[:-1]}, ref, {}, "t", tmp_path / "bad")


def test_maps_panel(tmp_path):
    _, _, myo = _phantom()
    rng = np.random.default_rng(4)
    maps = {
        "T1": 1000 + 30 * rng.standard_normal(myo.shape),
        "T2": 50 + 2 * rng.standard_normal(myo.shape),
        "T1rho": 52 + 2 * rng.standard_normal(myo.shape),
    }
    stem = tmp_path / "maps"
    _check_outputs(plots.maps_panel(maps, myo, {"T1": (800, 1300), "T2": (30, 70)}, stem), stem)
    with pytest.raises(ValueError, match="2D"):
        plots.maps_panel({"T1": np.zeros((2, 3, 4))}, myo, {}, tmp_path / "bad")


def test_segmentation_overlay(tmp_path):
    image, labels, _ = _phantom()
    stem = tmp_path / "seg"
    _check_outputs(plots.segmentation_overlay(image, labels, "predicted labels", stem), stem)
    with pytest.raises(ValueError, match="unexpected values"):
        plots.segmentation_overlay(image, labels + 4 * (labels > 0), "bad", tmp_path / "bad")


def test_maps_of_one_biomarker_share_a_window(tmp_path):
    _, _, myo = _phantom()
    rng = np.random.default_rng(5)
    ref = 1000 + 30 * rng.standard_normal(myo.shape)
    maps = {"T1 reference": ref, "T1 cardiomm ktRadial24": ref + 40.0, "T2 reference": 50 + 0 * ref}
    win = plots._shared_windows(maps, myo)
    assert set(win) == {"T1", "T2"}
    lo, hi = win["T1"]
    both = np.r_[ref[myo], ref[myo] + 40.0]
    assert lo < np.percentile(both, 2) and hi > np.percentile(both, 98)  # one window covers both maps
    assert win["T2"][0] < 50 < win["T2"][1]  # a constant map still gets a non-empty window
    stem = tmp_path / "maps_methods"
    _check_outputs(plots.maps_panel(maps, myo, {}, stem, title="T1 by method"), stem)


def test_verdict_heatmap_colours_follow_the_verdicts(tmp_path):
    from matplotlib.image import imread

    from cardiomm.compare.agreement import agreement_table
    from cardiomm.compare.audit import default_tolerances

    rows = []
    for s in range(6):
        for ind, ref in (("LVEF", 55.0 + s), ("T1", 1000.0 + 10 * s)):
            rows.append((f"P{s}", "test", "reference", "full", ind, unit(ind), ref, True, ""))
            rows.append((f"P{s}", "test", "rescan", "full", ind, unit(ind), ref + 0.01 * (-1) ** s, True, ""))
            rows.append((f"P{s}", "test", "sense", "Uniform8", ind, unit(ind), ref * 1.5 + 0.01 * s, True, ""))
    tol = default_tolerances()[0]
    agr = agreement_table(pd.DataFrame(rows, columns=list(INDICATOR_COLUMNS)), tolerances=tol)
    assert set(agr.loc[agr["method"] == "rescan", "verdict"]) == {"preserved"}
    assert set(agr.loc[agr["method"] == "sense", "verdict"]) == {"not preserved"}
    stem = tmp_path / "verdict_map"
    _check_outputs(plots.verdict_heatmap(agr, tol, stem), stem)
    img = imread(f"{stem}.png")[..., :3]

    def share(hex_colour: str) -> float:
        rgb = np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        return float(np.mean(np.all(np.abs(img - rgb) < 0.02, axis=-1)))

    green, red, grey = (plots.VERDICT_STYLE[v][1] for v in ("preserved", "not preserved", "inconclusive"))
    # two columns of two cells each: as much green (rescan) as red (SENSE); only the legend's swatch is grey
    assert share(green) > 0.01 and share(red) > 0.01 and abs(share(green) - share(red)) < 0.2 * share(red)
    assert share(grey) < 0.01
