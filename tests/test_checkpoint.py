"""The one state digest, the resume rule, and the shipped weights' fingerprints (which must never drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cardiomm.checkpoint import ResumeMismatchError, check_resume, config_diff, state_sha256
from cardiomm.recon.learned.model_files import load_model
from cardiomm.segmentation.training_task import (
    CKPT_FORMAT,
    LEGACY_FORMATS,
    _legacy_sha256,
    load_segmenter,
    read_checkpoint,
    save_segmenter,
)

WEIGHTS = Path(__file__).resolve().parents[1] / "cardiomm" / "weights"
#: state_sha256 of the shipped weights (the recon ones are also in their model cards)
SHIPPED = {"cardiomm": "80334e5d7bf934048939cc2d7adf841f33cb530acaf59a0824c95be958fcb720",
           "varnet": "a00ef902f8535d0031217994f0b19eabd8d1a0b838b3fedd7485da08edf16c14",
           "segmentation": "a7eb8570ac1dd88654acbbc03d909e1ae86a9e3409fc17b91db524a2ee83e77c",
           "promptmr": "52db9db626295a7af475b93b54d1db4f1c5bf29a68d33e761525fe2d136cfb53",
           "ktnet": "4053b9ac979fde273413d555707893b4d69fc5cffcb000913cff075206560049"}


@pytest.mark.parametrize("name", ["cardiomm", "varnet", "ktnet"])
def test_shipped_recon_weights_load_with_stable_fingerprints(name: str) -> None:
    model, meta = load_model(WEIGHTS / f"{name}.pt", name)
    assert meta["state_sha256"] == SHIPPED[name] == state_sha256(model.state_dict())
    assert SHIPPED[name] in (WEIGHTS / f"{name}.md").read_text()


def test_shipped_promptmr_loads_through_the_published_loader_with_its_fingerprint() -> None:
    from cardiomm.recon.learned.model_files import load_any
    from cardiomm.recon.learned.sample import INPUT_NORMALISATION

    model, meta = load_any(WEIGHTS / "promptmr.pt", "promptmr")
    assert meta["state_sha256"] == SHIPPED["promptmr"] == state_sha256(model.state_dict())
    assert SHIPPED["promptmr"] in (WEIGHTS / "promptmr.md").read_text()
    # our training normalised the input: inference must apply the same scale (README 'Published models')
    assert meta["extra"]["input_normalisation"] == INPUT_NORMALISATION


def test_shipped_segmenter_loads_with_its_fingerprint() -> None:
    model = load_segmenter(WEIGHTS / "segmentation.pt").cpu()
    assert read_checkpoint(WEIGHTS / "segmentation.pt")["format"] == CKPT_FORMAT
    assert state_sha256(model.state_dict()) == SHIPPED["segmentation"]


def test_a_legacy_v1_segmenter_loads_and_resaves_in_the_one_digest(tmp_path: Path) -> None:
    """Segmenters written before the one digest (format v1, its own hash) are still read, and verified."""
    model = load_segmenter(WEIGHTS / "segmentation.pt").cpu()
    v1 = dict(read_checkpoint(WEIGHTS / "segmentation.pt"))
    v1["format"], v1["sha256"] = LEGACY_FORMATS[0], _legacy_sha256(v1["state_dict"])
    torch.save(v1, tmp_path / "v1.pt")
    assert state_sha256(load_segmenter(tmp_path / "v1.pt").state_dict()) == SHIPPED["segmentation"]
    v1["sha256"] = "0" * 64  # a v1 file whose digest does not match is refused
    torch.save(v1, tmp_path / "bad.pt")
    with pytest.raises(Exception, match="bad.pt"):
        load_segmenter(tmp_path / "bad.pt")
    save_segmenter(model, tmp_path / "v2.pt")
    ck = read_checkpoint(tmp_path / "v2.pt")
    assert ck["sha256"] == SHIPPED["segmentation"]  # a re-saved file carries the one digest
    x = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(load_segmenter(tmp_path / "v2.pt").cpu()(x), model(x))


def test_config_diff_and_resume_rule_name_the_keys(tmp_path: Path) -> None:
    saved = {"arch": "varnet", "model_config": {"features": 4, "gamma": (0.7, 1.5)}, "train_config": {"epochs": 2}}
    same = {"arch": "varnet", "model_config": {"features": 4, "gamma": [0.7, 1.5]}, "train_config": {"epochs": 2}}
    assert config_diff(saved, same) == []  # a tuple read back as a list is the same config
    check_resume(tmp_path / "r.pt", saved, dict(same, train_config={"epochs": 5}), may_change=["train_config.epochs"])
    other = {"arch": "cardiomm", "model_config": {"features": 5, "gamma": [0.7, 1.5]}, "train_config": {"epochs": 2,
             "lr": 1.0}}
    with pytest.raises(ResumeMismatchError, match=r"r\.pt.*arch \('varnet' -> 'cardiomm'\).*model_config\.features "
                                                  r"\(4 -> 5\).*train_config\.lr \(absent -> 1\.0\)"):
        check_resume(tmp_path / "r.pt", saved, other)
