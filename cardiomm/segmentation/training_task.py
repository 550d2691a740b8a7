"""The segmentation task of the training engine (:mod:`cardiomm.training`); save, verify and load checkpoints.

Training runs in :func:`cardiomm.training.fit` with :class:`SegTask` (model, batches, loss, validation,
"best"). It is resumable: after every epoch the full state (model, optimizer, scheduler, RNG, history,
best weights) is written atomically to ``<log_dir>/last.pt``; a new call with the same configuration
and the same data resumes after the last finished epoch. Augmentation and shuffling are reseeded
from ``seed + epoch`` at the start of each epoch, so a resumed run gives the same weights as an
uninterrupted one (on the same device and thread count).

The final checkpoint ``out_ckpt`` holds the weights of the epoch with the best mean validation
Dice (the last epoch when there is no validation data) with the architecture name, network and
training configuration, the validation metrics, and a SHA-256 of the weights that
:func:`load_segmenter` verifies.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from monai.data import DataLoader
from monai.losses import DiceCELoss

from cardiomm.atomic import atomic_path
from cardiomm.checkpoint import read_dict, state_sha256
from cardiomm.device import get_device
from cardiomm.segmentation.data import AugmentConfig, SegPair, as_pair, padded_size, training_pairs
from cardiomm.segmentation.metrics import CLASS_NAMES, dice_stack, hd95_stack
from cardiomm.segmentation.network import ARCH, build_segmenter, config_dict, net_config
from cardiomm.training import EpochStats, ModelCard, fit

log = logging.getLogger(__name__)

CKPT_FORMAT = "cardiomm-segmenter-v2"  # v2: weights digested by cardiomm.checkpoint.state_sha256 (the one digest)
LEGACY_FORMATS = ("cardiomm-segmenter-v1",)  # read (the shipped weights), never written
RESUME_FORMAT = "cardiomm-segmenter-resume-v1"
LAST_NAME = "last.pt"
LOG_NAME = "train_log.csv"
CURVE_NAME = "learning_curve.png"


@dataclass(frozen=True)
class SegTrainConfig:
    """Training hyper-parameters.

    Attributes
    ----------
    size: network size name (:data:`cardiomm.segmentation.network.SIZES`).
    epochs: number of passes over the training slices.
    batch_size: 2D slices per optimisation step.
    lr: AdamW learning rate (cosine-annealed to 1 % over the epochs).
    weight_decay: AdamW weight decay.
    seed: seed of weights init, shuffling and augmentation.
    steps_per_epoch: cap on steps per epoch (``None``: one full pass).
    augment: augmentation strengths.
    val_batch_size: slices per validation forward pass.
    """

    size: str = "small"
    epochs: int = 40
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    steps_per_epoch: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    val_batch_size: int = 32

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):  # e.g. SegTrainConfig(**yaml_dict) with a nested "augment" mapping
            aug = dict(self.augment)
            if "gamma" in aug:
                aug["gamma"] = tuple(aug["gamma"])
            object.__setattr__(self, "augment", AugmentConfig(**aug))
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"SegTrainConfig: epochs, batch_size and lr must be positive, got {self}")

    @classmethod
    def from_dict(cls, d: dict) -> SegTrainConfig:
        """Inverse of ``dataclasses.asdict`` (what checkpoints and Snakemake configs hold)."""
        return cls(**d)


class SegmenterCheckpointError(ValueError):
    """A segmenter checkpoint is missing, corrupt, or for another architecture."""


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def _legacy_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """The v1 digest (names, dtypes, shapes, bytes; other separators), kept only to verify v1 files."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.flatten().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_segmenter(
    model: torch.nn.Module, path: str | os.PathLike, train_config: SegTrainConfig | None = None,
    metrics: dict[str, Any] | None = None, state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """Atomically write a checkpoint: arch, network config, training config, metrics, weights, SHA-256.

    ``state_dict`` overrides the model's current weights (used to store the best epoch).
    """
    sd = {k: v.detach().cpu() for k, v in (state_dict or model.state_dict()).items()}
    ckpt = {
        "format": CKPT_FORMAT,
        "arch": ARCH,
        "net_config": config_dict(model),
        "train_config": asdict(train_config) if train_config is not None else None,
        "metrics": metrics or {},
        "state_dict": sd,
        "sha256": state_sha256(sd),
        "torch_version": str(torch.__version__),
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)


def _load_dict(path: Path, what: str) -> dict:
    return read_dict(path, what, SegmenterCheckpointError)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load and verify a segmenter checkpoint dict (arch, format, SHA-256) without building the model."""
    path = Path(path)
    ckpt = _load_dict(path, "segmenter checkpoint")
    missing = [k for k in ("format", "arch", "net_config", "state_dict", "sha256") if k not in ckpt]
    if missing:
        raise SegmenterCheckpointError(f"{path}: not a cardiomm segmenter checkpoint (missing {missing})")
    if ckpt["arch"] != ARCH:
        raise SegmenterCheckpointError(
            f"{path}: checkpoint is for architecture {ckpt['arch']!r}, this code builds {ARCH!r}"
        )
    if ckpt["format"] != CKPT_FORMAT and ckpt["format"] not in LEGACY_FORMATS:
        raise SegmenterCheckpointError(f"{path}: checkpoint format {ckpt['format']!r}, expected {CKPT_FORMAT!r}")
    digest = _legacy_sha256 if ckpt["format"] in LEGACY_FORMATS else state_sha256
    if digest(ckpt["state_dict"]) != ckpt["sha256"]:
        raise SegmenterCheckpointError(f"{path}: weights do not match their stored SHA-256; the file is corrupt")
    return ckpt


def load_segmenter(path: str | os.PathLike) -> torch.nn.Module:
    """Build the network stored in a checkpoint and load its weights.

    Returns
    -------
    the model in eval mode on :func:`cardiomm.device.get_device`. Its checkpoint metadata (training
    config, metrics) is attached as ``model.checkpoint_meta``.

    Raises
    ------
    SegmenterCheckpointError
        naming the file when it is missing, unreadable, corrupt (SHA-256 mismatch), for another
        architecture, or its weights do not fit the stored network configuration.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    try:
        model = build_segmenter(net_config(ckpt["net_config"]))
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise SegmenterCheckpointError(f"{path}: weights do not fit the stored network configuration ({err})") from None
    model.checkpoint_meta = {k: ckpt.get(k) for k in ("train_config", "metrics", "net_config", "torch_version")}
    return model.to(get_device()).eval()


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def _fingerprint(pairs: list[SegPair]) -> str:
    """Cheap identity of a training set (count, shapes, label histograms) to refuse resuming on other data."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.image.shape}{np.bincount(p.label.ravel(), minlength=4).tolist()}".encode())
        h.update(np.float64(np.asarray(p.image, dtype=np.float64).sum()).tobytes())
    return h.hexdigest()


def _dataset(pairs: list[SegPair], augment: bool, cfg: SegTrainConfig, divisor: int):
    size = padded_size([p.image.shape for p in pairs], divisor)
    return training_pairs([p.image for p in pairs], [p.label for p in pairs], augment=augment, aug=cfg.augment,
                          spatial_size=size, divisor=divisor, seed=cfg.seed)


def _validate(model: torch.nn.Module, loader: DataLoader, spacings: list, loss_fn: DiceCELoss,
              device: torch.device) -> dict[str, float]:
    model.eval()
    preds, truths, losses = [], [], []
    with torch.inference_mode():
        for b in loader:
            x, y = b["image"].to(device), b["label"].to(device)
            logits = model(x)
            losses.append(float(loss_fn(logits, y)) * len(x))
            preds.append(logits.argmax(1).cpu().numpy().astype(np.uint8))
            truths.append(y[:, 0].cpu().numpy().astype(np.uint8))
    p, t = np.concatenate(preds), np.concatenate(truths)
    dice = dice_stack(p, t)
    hd = hd95_stack(p, t, spacings)
    out = {"val_loss": sum(losses) / len(p)}
    out.update({f"val_dice_{k}": v for k, v in dice.items()})
    out["val_dice_mean"] = float(np.nanmean(list(dice.values()))) if any(np.isfinite(list(dice.values()))) else 0.0
    out.update({f"val_hd95_mm_{k}": v for k, v in hd.items()})
    return out


def _plot_curve(history: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = pd.DataFrame(history)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(df["epoch"], df["train_loss"], "o-", label="train")
    if "val_loss" in df:
        a1.plot(df["epoch"], df["val_loss"], "s-", label="validation")
    a1.set_xlabel("epoch")
    a1.set_ylabel("Dice + cross-entropy loss")
    a1.legend()
    for name in CLASS_NAMES:
        col = f"val_dice_{name}"
        if col in df:
            a2.plot(df["epoch"], df[col], "o-", label=name)
    a2.set_ylim(0, 1)
    a2.set_xlabel("epoch")
    a2.set_ylabel("validation Dice")
    if any(f"val_dice_{n}" in df for n in CLASS_NAMES):
        a2.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


class SegTask:
    """The segmentation task for :func:`cardiomm.training.fit`.

    Batches: shuffled 2D slices with MONAI augmentation, both reseeded from ``seed + epoch``. Loss: MONAI
    ``DiceCELoss``. Scheduler: cosine annealing to 1 % of ``lr``. "Best": the highest mean validation Dice
    (the latest epoch without validation data). Files: ``last.pt``, ``train_log.csv``, ``learning_curve.png``.
    """

    determinism = True
    clip = 0.0
    resume_name, log_name, curve_name = LAST_NAME, LOG_NAME, CURVE_NAME

    def __init__(self, train: list[SegPair], val: list[SegPair], cfg: SegTrainConfig, out_ckpt: Path,
                 log_dir: Path) -> None:
        self.train, self.val, self.cfg, self.out_ckpt, self.log_dir = train, val, cfg, out_ckpt, log_dir
        self.name, self.seed, self.epochs = "segmenter", cfg.seed, cfg.epochs
        self.lr, self.weight_decay = cfg.lr, cfg.weight_decay

    def build_model(self, device: torch.device) -> torch.nn.Module:
        self.device = device
        return build_segmenter(self.cfg.size).to(device)

    def scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.cfg.epochs, eta_min=self.cfg.lr * 0.01)

    def prepare(self, model: torch.nn.Module, device: torch.device) -> None:
        cfg, divisor = self.cfg, net_config(self.cfg.size).divisor
        self.loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
        self.train_ds = _dataset(self.train, True, cfg, divisor)
        self.val_loader = (DataLoader(_dataset(self.val, False, cfg, divisor), batch_size=cfg.val_batch_size,
                                      shuffle=False, num_workers=0) if self.val else None)
        self.val_spacings = [p.spacing_mm for p in self.val]
        self.fingerprint = _fingerprint(self.train + self.val)
        n_batches = math.ceil(len(self.train_ds) / cfg.batch_size)
        self.n_steps = min(cfg.steps_per_epoch or n_batches, n_batches)

    def identity(self) -> tuple[dict, tuple[str, ...]]:
        return {"format": RESUME_FORMAT, "train_config": asdict(self.cfg), "data_fingerprint": self.fingerprint}, ()

    def epoch_batches(self, epoch: int) -> tuple[DataLoader, int]:
        # Reseed augmentation and shuffling per epoch: a resumed run replays exactly the same batches.
        self.train_ds.transform.set_random_state(self.cfg.seed + epoch)
        gen = torch.Generator().manual_seed(self.cfg.seed + epoch)
        loader = DataLoader(self.train_ds, batch_size=self.cfg.batch_size, shuffle=True, generator=gen,
                            num_workers=0)
        return loader, self.n_steps

    def loss(self, model: torch.nn.Module, batch: dict, epoch: int, step: int) -> torch.Tensor:
        return self.loss_fn(model(batch["image"].to(self.device)), batch["label"].to(self.device))

    def validate(self, model: torch.nn.Module) -> dict[str, float]:
        if self.val_loader is None:
            return {}
        return _validate(model, self.val_loader, self.val_spacings, self.loss_fn, self.device)

    def row(self, stats: EpochStats, val: dict[str, float]) -> dict[str, Any]:
        row: dict[str, Any] = {"epoch": stats.epoch, "train_loss": float(np.mean(stats.losses)), "lr": stats.lr}
        row.update(val)
        row["seconds"] = time.perf_counter() - stats.started
        return row

    def score(self, row: dict[str, Any], epoch: int) -> float:
        return row.get("val_dice_mean", float(epoch))  # without validation: the latest epoch wins

    def plot(self, history: list[dict], step_losses: list[float], path: Path) -> None:
        _plot_curve(history, path)

    def finish(self, model: torch.nn.Module, history: list[dict], best: dict[str, Any], start: int,
               step_seconds: list[float], wall_seconds: float) -> dict[str, Any]:
        metrics = {k: v for k, v in best["metrics"].items() if isinstance(v, int | float)}
        metrics.update({"best_epoch": best["epoch"], "n_train": len(self.train), "n_val": len(self.val)})
        save_segmenter(model, self.out_ckpt, self.cfg, metrics, state_dict=best["state_dict"])
        return {
            "checkpoint": str(self.out_ckpt), "log_csv": str(self.log_dir / LOG_NAME),
            "curve_png": str(self.log_dir / CURVE_NAME), "epochs": len(history), "resumed_from_epoch": start,
            "best_epoch": best["epoch"], "best_val_dice_mean": best["metrics"].get("val_dice_mean", math.nan),
            "final_train_loss": history[-1]["train_loss"] if history else math.nan,
            "seconds_per_step": float(np.mean(step_seconds)) if step_seconds else math.nan,
            "n_train": len(self.train), "n_val": len(self.val),
        }


def train_segmenter(
    train_pairs: list[SegPair | tuple],
    val_pairs: list[SegPair | tuple],
    cfg: SegTrainConfig,
    out_ckpt: str | os.PathLike,
    log_dir: str | os.PathLike,
    card: ModelCard | None = None,
) -> dict[str, Any]:
    """Train the 2D U-Net with :func:`cardiomm.training.fit` and write the checkpoint, a CSV log and a learning
    curve.

    Parameters
    ----------
    train_pairs: training slices: :class:`SegPair` or ``(image (ny, nx), label (ny, nx)[, (dy, dx)])``.
    val_pairs: validation slices, same form (may be empty: then the last epoch is kept).
    cfg: hyper-parameters.
    out_ckpt: final checkpoint path (``.pt``), written atomically.
    log_dir: folder for ``last.pt`` (resume state), ``train_log.csv`` and ``learning_curve.png``.
    card: model card to write beside the checkpoint.

    Returns
    -------
    dict with ``checkpoint``, ``log_csv``, ``curve_png`` (paths as str), ``epochs`` (finished),
    ``resumed_from_epoch`` (0 = fresh), ``best_epoch``, ``best_val_dice_mean``, ``final_train_loss``,
    ``seconds_per_step`` (mean over the steps run in this call), ``n_train``, ``n_val``.
    """
    train = [as_pair(p, i) for i, p in enumerate(train_pairs)]
    val = [as_pair(p, i) for i, p in enumerate(val_pairs)]
    if not train:
        raise ValueError("train_segmenter: no training pairs")
    task = SegTask(train, val, cfg, Path(out_ckpt), Path(log_dir))
    return fit(task, log_dir, get_device(), card=card)
