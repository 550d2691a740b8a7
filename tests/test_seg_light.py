"""A segment job without MONAI: each piece it replaced computes exactly what MONAI computed.

- the intensity normalisation (:mod:`cardiomm.segmentation.intensity`) equals MONAI's
  ``ScaleIntensityRangePercentiles`` bit for bit, degenerate images included;
- Dice and HD95 (:mod:`cardiomm.segmentation.metrics`) equal MONAI's ``DiceMetric`` and
  ``HausdorffDistanceMetric(percentile=95)`` as the project called them before;
- the TorchScript export (:mod:`cardiomm.segmentation.compiled`) segments exactly as the checkpoint does, and a
  stale or foreign file is refused naming it;
- a process that runs the segment job's code path never imports MONAI.

(The largest-component cleanup's equality with MONAI is in ``tests/test_seg_train_infer.py``.)
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cardiomm.conventions import LABELS, LV_BLOOD, LV_MYO, RV_BLOOD
from cardiomm.segmentation.compiled import SegmenterExportError, export_segmenter, load_exported
from cardiomm.segmentation.intensity import NORM_ARGS, normalise_image
from cardiomm.segmentation.metrics import CLASS_NAMES, dice_stack, hd95_stack

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "cardiomm" / "weights" / "segmentation.pt"


# --------------------------------------------------------------------------------------------- normalisation


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    imgs = [rng.rayleigh(1.0, (48, 40)), rng.gamma(2.0, 3.0, (64, 64)) * 1e3, rng.random((17, 23)) * 1e-6,
            rng.standard_normal((32, 32)) + 5.0]
    sparse = np.zeros((50, 50))  # 99.6% zeros: p1 == p99, MONAI leaves the image unscaled
    sparse[3, 4], sparse[20, 30] = 7.0, 2.5
    imgs.append(sparse)
    imgs.append(rng.rayleigh(2.0, (1001, 1001)))  # above 1e6 pixels MONAI takes numpy's percentile
    return [i.astype(np.float32) for i in imgs]


def test_normalisation_equals_monais_transform_bit_for_bit() -> None:
    from monai.transforms import ScaleIntensityRangePercentiles

    monai_norm = ScaleIntensityRangePercentiles(**NORM_ARGS)
    for i, img in enumerate(_images()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MONAI warns "Divide by zero" on the sparse image
            theirs = np.asarray(monai_norm(img[None]))[0].astype(np.float32)
        ours = normalise_image(img, f"image {i}")
        assert ours.dtype == np.float32 and ours.shape == img.shape
        np.testing.assert_array_equal(ours, theirs, err_msg=f"image {i}")
    assert normalise_image(_images()[0]).min() == 0.0 and normalise_image(_images()[0]).max() == 1.0


def test_normalisation_refuses_bad_images_naming_them() -> None:
    with pytest.raises(ValueError, match="x.nii.*all zero"):
        normalise_image(np.zeros((8, 8)), "x.nii")
    with pytest.raises(ValueError, match="y: image contains 3 NaN"):
        normalise_image(np.where(np.eye(4) > 0, np.nan, 1.0)[:, :3], "y")


# --------------------------------------------------------------------------------------------- Dice, HD95


def _monai_dice(p: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """The project's Dice before it dropped MONAI (MONAI's DiceMetric on the stack as one volume)."""
    from monai.metrics import DiceMetric

    metric = DiceMetric(include_background=True, reduction="none", ignore_empty=False)
    out = {}
    for name in CLASS_NAMES:
        pc, tc = p == LABELS[name], t == LABELS[name]
        if not pc.any() and not tc.any():
            out[name] = math.nan
            continue
        out[name] = float(metric(torch.from_numpy(pc)[None, None].float(),
                                 torch.from_numpy(tc)[None, None].float()).item())
    return out


def _monai_hd95(p: np.ndarray, t: np.ndarray, spacings: list[tuple[float, float]]) -> dict[str, float]:
    """The project's HD95 before it dropped MONAI (MONAI's HausdorffDistanceMetric per slice, diagonal on a miss)."""
    from monai.metrics import HausdorffDistanceMetric

    n, ny, nx = p.shape
    diag = np.array([math.hypot(ny * s[0], nx * s[1]) for s in spacings])
    metric = HausdorffDistanceMetric(include_background=True, percentile=95.0, reduction="none")
    out = {}
    for name in CLASS_NAMES:
        pc, tc = p == LABELS[name], t == LABELS[name]
        has_p, has_t = pc.any(axis=(1, 2)), tc.any(axis=(1, 2))
        both, one = np.flatnonzero(has_p & has_t), np.flatnonzero(has_p ^ has_t)
        vals = list(diag[one])
        if both.size:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = metric(torch.from_numpy(pc[both])[:, None].float(), torch.from_numpy(tc[both])[:, None].float(),
                           spacing=[spacings[i] for i in both])
            vals += d[:, 0].tolist()
        out[name] = float(np.mean(vals)) if vals else math.nan
    return out


def _blob_stacks(seed: int, n: int = 12, size: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Two label stacks of jittered discs and ring (and stray specks), some classes missing on one side."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]

    def one() -> np.ndarray:
        lab = np.zeros((n, size, size), np.uint8)
        for i in range(n):
            cy, cx = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
            r, w = rng.uniform(4, 8), rng.uniform(2, 4)
            d = np.hypot(yy - cy, xx - cx)
            if rng.random() < 0.85:
                lab[i][d <= r + w] = LV_MYO
            if rng.random() < 0.9:
                lab[i][d <= r] = LV_BLOOD
            if rng.random() < 0.8:
                lab[i][np.hypot(yy - cy, xx - (cx - r - w - 6)) <= rng.uniform(4, 7)] = RV_BLOOD
            specks = rng.random((size, size)) < 0.004
            lab[i][specks] = rng.integers(1, 4, specks.sum())
        return lab

    p, t = one(), one()
    t[: n // 4, :, -1] = RV_BLOOD  # structures at the image border
    return p, t


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dice_and_hd95_equal_monais_metrics(seed: int) -> None:
    p, t = _blob_stacks(seed)
    rng = np.random.default_rng(100 + seed)
    spacings = [(float(rng.uniform(0.7, 2.5)), float(rng.uniform(0.7, 2.5))) for _ in range(len(p))]
    ours_d, theirs_d = dice_stack(p, t), _monai_dice(p, t)
    ours_h, theirs_h = hd95_stack(p, t, spacings), _monai_hd95(p, t, spacings)
    for name in CLASS_NAMES:
        assert ours_d[name] == theirs_d[name] or (math.isnan(ours_d[name]) and math.isnan(theirs_d[name])), name
        assert ours_h[name] == theirs_h[name], (name, ours_h[name], theirs_h[name])
    # one spacing for the whole stack, as hd95_mm passes it
    assert hd95_stack(p, t, (1.3, 0.9)) == _monai_hd95(p, t, [(1.3, 0.9)] * len(p))
    assert 0.0 < ours_d["lv_blood"] < 1.0 and ours_h["lv_blood"] > 0.0


def test_metrics_edge_cases_equal_monais() -> None:
    t = np.zeros((3, 20, 20), np.uint8)
    t[:, 5:12, 5:12] = LV_BLOOD
    p = t.copy()
    p[1] = 0  # a missed slice: the diagonal
    p[2, 5:12, 5:12] = RV_BLOOD  # the wrong class
    for a, b in ((p, t), (t, t), (np.zeros_like(t), t)):
        ours_d, theirs_d = dice_stack(a, b), _monai_dice(a, b)
        assert [np.isnan(ours_d[c]) or ours_d[c] == theirs_d[c] for c in CLASS_NAMES] == [True] * 3
        assert hd95_stack(a, b, (1.5, 1.5)).keys() == set(CLASS_NAMES)
        o, m = hd95_stack(a, b, (1.5, 1.5)), _monai_hd95(a, b, [(1.5, 1.5)] * 3)
        assert all(o[c] == m[c] or (math.isnan(o[c]) and math.isnan(m[c])) for c in CLASS_NAMES)


# --------------------------------------------------------------------------------------------- TorchScript export


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "segmenter.torchscript"
    meta = export_segmenter(CHECKPOINT, out)
    assert meta["divisor"] == 16 and len(meta["checkpoint_sha256"]) == 64
    return out


def test_export_segments_exactly_as_the_checkpoint(exported: Path) -> None:
    from cardiomm.segmentation.infer import segment_mapping_series, segment_series
    from cardiomm.segmentation.training_task import load_segmenter

    eager, traced = load_segmenter(CHECKPOINT), load_exported(exported, checkpoint=CHECKPOINT)
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:72, :88]
    heart = 1.0 + 4.0 * (np.hypot(yy - 36, xx - 44) < 12) + 2.0 * (np.hypot(yy - 36, xx - 20) < 10)
    series = (heart[None, None] * rng.uniform(0.8, 1.2, (5, 3, 1, 1)) + rng.rayleigh(0.3, (5, 3, 72, 88)))
    series = series.astype(np.float32)  # 72 x 88: not multiples of 16, so the padding path runs too
    np.testing.assert_array_equal(segment_series(traced, series), segment_series(eager, series))
    np.testing.assert_array_equal(segment_mapping_series(traced, series), segment_mapping_series(eager, series))
    x = torch.from_numpy(rng.random((7, 1, 48, 64)).astype(np.float32))
    with torch.inference_mode():
        assert torch.equal(traced(x), eager(x))


def test_export_refuses_stale_foreign_and_missing_files(exported: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    shutil.copy(CHECKPOINT, other)
    with open(other, "ab") as f:
        f.write(b"\0")  # another file: another SHA-256
    with pytest.raises(SegmenterExportError, match=r"segmenter.torchscript: exported from another version of .*other"):
        load_exported(exported, checkpoint=other)
    with pytest.raises(SegmenterExportError, match=r"nothere.torchscript: exported segmenter not found"):
        load_exported(tmp_path / "nothere.torchscript")
    with pytest.raises(SegmenterExportError, match=r"segmentation.pt: not a readable TorchScript file"):
        load_exported(CHECKPOINT)
    scripted = tmp_path / "plain.torchscript"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Identity()), str(scripted))
    with pytest.raises(SegmenterExportError, match=r"plain.torchscript: not an exported cardiomm segmenter"):
        load_exported(scripted)


def test_segment_job_code_path_never_imports_monai(exported: Path, tmp_path: Path) -> None:
    """A fresh process runs what a CPU segment job runs (load, segment, QC, Dice/HD95, write): no MONAI module."""
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import numpy as np
        from cardiomm.cohort import Subject
        from cardiomm.io.nifti import Geometry, save_image
        from cardiomm.stages.segment import segment

        rng = np.random.default_rng(0)
        yy, xx = np.mgrid[:64, :64]
        img = 1.0 + 4.0 * (np.hypot(yy - 32, xx - 36) < 10) + rng.rayleigh(0.3, (4, 2, 64, 64))
        geom = Geometry(dx=1.5, dy=1.5, thickness=8.0, gap=2.0, dt=0.04)
        save_image({str(tmp_path / 'cine.nii.gz')!r}, img.astype(np.float32), geom)
        subject = Subject(id="P001", split="test", root=Path({str(tmp_path)!r}))
        truth = np.zeros(img.shape, np.uint8)
        truth[..., 26:38, 30:42] = 1
        subject.label_path("cine").parent.mkdir(parents=True)
        save_image(subject.label_path("cine"), truth, geom, is_label=True)
        segment(subject, "reference", {{"cine__full": {str(tmp_path / 'cine.nii.gz')!r}}},
                {{"cine__full": {str(tmp_path / 'seg.nii.gz')!r}}}, {str(CHECKPOINT)!r},
                {str(tmp_path / 'seg.csv')!r}, exported={str(exported)!r})
        bad = sorted(m for m in sys.modules if m == "monai" or m.startswith("monai."))
        print("MONAI", len(bad), bad[:5])
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "MONAI 0 []" in res.stdout, res.stdout
    table = (tmp_path / "seg.csv").read_text()
    assert (tmp_path / "seg.nii.gz").exists() and "dice_lv_blood" in table and "hd95_mm_lv_blood" in table
