"""The one state digest, the resume rule, and the shipped weights' fingerprints (which must never drift)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cardiomm.checkpoint import ResumeMismatchError, check_resume, config_diff, state_sha256
from cardiomm.recon.checkpoint import load_model
from cardiomm.segmentation.train import load_segmenter, read_checkpoint, save_segmenter

WEIGHTS = Path(__file__).resolve().parents[1] / "cardiomm" / "weights"
#: state_sha256 of the shipped weights (the recon ones are also in their model cards)
SHIPPED = {"cardiomm": "5a72df27fcf8f4954e0ed0d59ffe743151181327150efff3a36cf6ece7206263",
           "varnet": "9b95372bb98d39a858c7883181765be10041c354eaaa9ce126dad677c7c0472d",
           "segmentation": "5888654c8970bf09f4d27a12d122e6eabe2ccdd00ca5f449f8f7b4b27a0d1f28"}


@pytest.mark.parametrize("name", ["cardiomm", "varnet"])
def test_shipped_recon_weights_load_with_stable_fingerprints(name: str) -> None:
    model, meta = load_model(WEIGHTS / f"{name}.pt", name)
    assert meta["state_sha256"] == SHIPPED[name] == state_sha256(model.state_dict())
    assert SHIPPED[name] in (WEIGHTS / f"{name}.md").read_text()


def test_shipped_segmenter_v1_loads_and_resaves_in_the_one_digest(tmp_path: Path) -> None:
    model = load_segmenter(WEIGHTS / "segmentation.pt").cpu()
    assert read_checkpoint(WEIGHTS / "segmentation.pt")["format"] == "cardiomm-segmenter-v1"  # legacy, still read
    assert state_sha256(model.state_dict()) == SHIPPED["segmentation"]
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
