"""Stages of the training: a reconstruction network and the segmenter (rules/train.smk)."""

from __future__ import annotations

import logging
from pathlib import Path

from cardiomm.cohort import Subject

log = logging.getLogger("cardiomm")


def _split_subjects(subjects: list[Subject]) -> tuple[list[Subject], list[Subject]]:
    train = [s for s in subjects if s.split == "train"]
    val = [s for s in subjects if s.split == "val"]
    if not train:
        raise ValueError("no subjects in split 'train' for training")
    return train, val


def train_recon(kind: str, cfg: dict, subjects: list[Subject], cohort: str, modalities: list[str], out_ckpt: str,
                out_card: str, log_dir: str, threads: int) -> dict:
    """Train a reconstruction network (``cardiomm``, ``varnet``, or a published architecture, which reads its
    CLIP folder from ``cfg["clip_dir"]``) on the train/val ``subjects`` of ``cohort``; write checkpoint and model
    card (both by the training engine, :func:`cardiomm.training.fit`)."""
    import torch

    from cardiomm.methods import REGISTRY
    from cardiomm.recon.learned.training_task import train_model
    from cardiomm.training import ModelCard

    torch.set_num_threads(max(1, int(threads)))
    train, val = _split_subjects(subjects)
    card = ModelCard(out_card, f"{REGISTRY[kind].label} checkpoint ({Path(out_ckpt).name})", {
        "data": f"synthetic cohort '{cohort}' at {train[0].root}: {len(train)} train / {len(val)} val subjects "
                f"({', '.join(s.id for s in train + val)})",
        "modalities": modalities, "model config": cfg.get("model") or "defaults",
        "train config": cfg.get("train") or "defaults",
        "command": f"snakemake --cores {threads} train_all   (rule train_recon, model={kind}; or `make train`)",
    }, notes=("Trained on the fully sampled synthetic phantom only: good for the synthetic cohort, not for real "
              "CMR. Retrain on real CMRxRecon data (README: 'Training for real data')."))
    return train_model(kind, cfg.get("model"), cfg.get("train"), train, val, modalities, out_ckpt, log_dir,
                       card=card, clip_dir=cfg.get("clip_dir"))


def train_segmentation(cfg: dict, subjects: list[Subject], cohort: str, modalities: list[str], out_ckpt: str,
                       out_card: str, log_dir: str, threads: int) -> dict:
    """Train the MONAI segmenter on fully sampled images of the train/val subjects; checkpoint + model card
    (both by the training engine, :func:`cardiomm.training.fit`)."""
    import torch

    from cardiomm.segmentation.data import build_training_pairs
    from cardiomm.segmentation.training_task import SegTrainConfig, train_segmenter
    from cardiomm.training import ModelCard

    torch.set_num_threads(max(1, int(threads)))
    train, val = _split_subjects(subjects)
    fps = cfg.get("frames_per_series")
    card = ModelCard(out_card, "Segmentation checkpoint (segmentation.pt)", {}, notes=(
        "MONAI 2D U-Net trained on fully sampled synthetic images only (as the paper's segmenter was "
        "trained on fully sampled data). Good for the synthetic cohort; retrain for real data."))
    tp = build_training_pairs(train, modalities, fps)
    vp = build_training_pairs(val, modalities, fps) if val else []
    card.body = {
        "data": f"synthetic cohort '{cohort}': {len(train)} train / {len(val)} val subjects "
                f"({train[0].id}..{(val or train)[-1].id}), fully sampled RSS images, {len(tp)} train / {len(vp)} "
                "val slices", "modalities": modalities, "train config (seed inside)": cfg.get("train") or "defaults",
        "frames per series": fps,
        "command": f"snakemake --cores {threads} train_all   (rule train_segmentation; or `make train`)",
    }
    return train_segmenter(tp, vp, SegTrainConfig.from_dict(cfg.get("train", {})), out_ckpt, log_dir, card=card)
