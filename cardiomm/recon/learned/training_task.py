"""The reconstruction task of the training engine (:mod:`cardiomm.training`), for every recon architecture.

Loss: ``ssim_weight * (1 - SSIM) + l1_weight * L1`` on the magnitude of the coil-combined output against the
RSS of the fully sampled frame, both divided by the zero-filled scale (:mod:`cardiomm.recon.learned.data`).
The SSIM is our own differentiable implementation of the fastMRI/E2E-VarNet training SSIM (7x7 uniform
window, K1 = 0.01, K2 = 0.03, data range = per-image maximum of the target), not ``monai.losses.SSIMLoss``,
whose data range is one fixed number for the whole batch while our targets vary per image.

Optimiser AdamW, LR multiplied by ``gamma`` every ``step_size`` epochs, gradient-norm clipping; the final
(last-epoch) weights are kept. The loop, the resume state ``<log_dir>/resume.pt`` (refused for another
configuration, naming the keys), ``train_log.csv`` and ``loss_curve.png`` are the engine's
(:func:`cardiomm.training.fit`); this module supplies :class:`ReconTask`: the model, batches, forward and loss,
validation metrics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from cardiomm.atomic import atomic_path
from cardiomm.compare.image_quality import nmse, psnr
from cardiomm.conventions import ACS_LINES, PATTERNS
from cardiomm.device import autocast, get_device
from cardiomm.recon.learned.architectures import arch_of, build_model, is_series
from cardiomm.recon.learned.data import INPUT_NORMALISATION, FrameDataset, GroupedBatchSampler, MaskFn
from cardiomm.recon.learned.model_files import save_checkpoint
from cardiomm.recon.learned.networks.blocks import count_parameters
from cardiomm.recon.learned.prompts import drop_tokens
from cardiomm.recon.learned.published import port
from cardiomm.recon.learned.sample import FrameSample, collate_samples
from cardiomm.training import EpochStats, ModelCard, fit


@dataclass
class TrainConfig:
    """Training hyper-parameters (defaults: ~10-15 min on 2 CPU cores for the default models).

    Attributes
    ----------
    epochs, steps_per_epoch: epochs and the cap on optimiser steps per epoch (``None`` = whole epoch).
    val_frames: validation frames evaluated after every epoch (spread over the validation set).
    batch_size, lr, weight_decay: AdamW settings.
    step_size, gamma: LR x ``gamma`` every ``step_size`` epochs.
    clip: gradient-norm clipping threshold (``0`` = off).
    ssim_weight, l1_weight: loss weights.
    seed: initialisation, frame subset, masks, batch order and prompt dropout all derive from it.
    max_frames_per_subject: frames per subject and modality (``None`` = all).
    patterns, accelerations: masks drawn per sample from ``<pattern><R>``.
    token_dropout: probability of replacing each prompt token by UNKNOWN (teaches the unknown tokens).
    cache_files: k-space files held in memory by the dataset.
    acs_lines: ACS width of the masks.
    """

    epochs: int = 5
    steps_per_epoch: int | None = 300
    val_frames: int = 24
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 1e-2
    step_size: int = 2
    gamma: float = 0.3
    clip: float = 1.0
    ssim_weight: float = 1.0
    l1_weight: float = 0.1
    seed: int = 0
    max_frames_per_subject: int | None = 24
    patterns: tuple[str, ...] = PATTERNS
    accelerations: tuple[int, ...] = (4, 8, 16, 24)
    token_dropout: float = 0.1
    cache_files: int = 2
    acs_lines: int = ACS_LINES

    def __post_init__(self) -> None:
        self.patterns = tuple(self.patterns)
        self.accelerations = tuple(int(r) for r in self.accelerations)
        if self.epochs < 1 or self.batch_size < 1 or self.step_size < 1:
            raise ValueError(f"TrainConfig: epochs, batch_size and step_size must be >= 1 ({self})")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ValueError(f"TrainConfig.steps_per_epoch must be >= 1 or None, got {self.steps_per_epoch}")

    @classmethod
    def from_dict(cls, d: dict | None) -> TrainConfig:
        d = dict(d or {})
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown train config keys {unknown}; known: {[f.name for f in fields(cls)]}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


#: close to the public CardioMM training: AdamW lr 2e-4, wd 1e-2, x0.3 every 5 epochs, 15 epochs, full epochs
PAPER_TRAIN = TrainConfig(epochs=15, steps_per_epoch=None, val_frames=256, batch_size=1, lr=2e-4,
                          weight_decay=1e-2, step_size=5, gamma=0.3, clip=1.0, max_frames_per_subject=None)


# ---------------------------------------------------------------------------------------------
# Loss and metrics
# ---------------------------------------------------------------------------------------------


def ssim(pred: torch.Tensor, target: torch.Tensor, win: int = 7, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM per image (differentiable), fastMRI convention.

    Parameters
    ----------
    pred, target: real ``(B, H, W)``; the data range of image ``b`` is ``target[b].max()``.

    Returns
    -------
    ``(B,)`` SSIM values (1 = identical).
    """
    x, y = pred[:, None].float(), target[:, None].float()
    data_range = y.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    kernel = torch.ones(1, 1, win, win, device=x.device) / win**2
    n = win**2
    cov_norm = n / (n - 1)
    ux, uy = F.conv2d(x, kernel), F.conv2d(y, kernel)
    uxx, uyy, uxy = F.conv2d(x * x, kernel), F.conv2d(y * y, kernel), F.conv2d(x * y, kernel)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3))


def recon_loss(pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 1.0, l1_weight: float = 0.0
               ) -> torch.Tensor:
    """``ssim_weight * (1 - SSIM) + l1_weight * L1``, averaged over the batch; pred/target real ``(B, H, W)``."""
    loss = ssim_weight * (1 - ssim(pred, target)).mean()
    if l1_weight:
        loss = loss + l1_weight * (pred.float() - target.float()).abs().mean()
    return loss


# ---------------------------------------------------------------------------------------------
# Loop
# ---------------------------------------------------------------------------------------------


def frames_of(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A series batch's images ``(B, T, H, W)`` as frames ``(B * T, H, W)`` (frame batches unchanged), so that the
    loss and the metrics weigh every frame alike."""
    if pred.ndim == 4:
        return pred.flatten(0, 1), target.flatten(0, 1)
    return pred, target


def run_batch(model: nn.Module, batch: FrameSample, device: torch.device) -> torch.Tensor:
    """Forward one collated :class:`~cardiomm.recon.learned.sample.FrameSample` (:func:`collate_samples`);
    returns the magnitude image ``(B, H, W)`` float32 in normalised units (``(B, T, H, W)`` from a series network
    on series samples: :func:`frames_of` flattens them).

    The published architectures (those with a :class:`~cardiomm.recon.learned.published.PublishedPort`) take the
    sample's adjacent frames in their own layout (:func:`cardiomm.recon.learned.infer_published.published_forward`,
    as at inference), one item at a time (each item has its own ACS rule)."""
    arch = arch_of(model)
    with autocast(device):
        if port(arch) is not None:
            from cardiomm.recon.learned.infer_published import network_input, published_forward

            b = batch.to(device, non_blocking=True)
            if b.adjacent is None:
                raise ValueError(f"run_batch: {arch} needs the adjacent frames (FrameDataset(adjacent=F))")
            out = torch.cat([published_forward(model, *network_input(b.adjacent[i:i + 1], b.adjacent_mask[i:i + 1]),
                                               int(b.acs_width[i]), bool(b.square_acs[i]),
                                               None if b.text is None else b.text[i:i + 1])
                             for i in range(b.adjacent.shape[0])])
        else:
            out = model(batch.to(device, non_blocking=True))
    return out.abs().float()


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, cfg: TrainConfig) -> dict[str, float]:
    """Mean loss, SSIM, PSNR and NMSE over a loader (no gradients)."""
    model.eval()
    vals: dict[str, list[float]] = {"loss": [], "ssim": [], "psnr": [], "nmse": []}
    with torch.inference_mode():
        for batch in loader:
            pred, tgt = frames_of(run_batch(model, batch, device), batch.target.to(device))
            vals["loss"].append(float(recon_loss(pred, tgt, cfg.ssim_weight, cfg.l1_weight)) * len(pred))
            vals["ssim"] += ssim(pred, tgt).tolist()
            for p, t in zip(pred.float().cpu().numpy(), tgt.float().cpu().numpy()):  # the evaluation's metrics
                vals["psnr"].append(psnr(t, p, float(t.max())))
                vals["nmse"].append(nmse(t, p))
    n = len(vals["ssim"])
    return {"loss": sum(vals["loss"]) / n, **{k: float(np.mean(vals[k])) for k in ("ssim", "psnr", "nmse")}}


def plot_losses(history: list[dict], step_losses: list[float], path: str | os.PathLike) -> None:
    """Loss curve PNG: per-step training loss (running mean) and per-epoch train/val loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    if step_losses:
        s = np.asarray(step_losses, dtype=float)
        w = max(1, min(50, len(s) // 10))
        smooth = np.convolve(s, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, len(s) + 1), smooth, color="0.6", lw=1, label=f"train (running mean of {w} steps)")
    steps = np.cumsum([h["steps"] for h in history])
    ax.plot(steps, [h["train_loss"] for h in history], "o-", label="train (epoch mean)")
    if history and np.isfinite(history[0].get("val_loss", np.nan)):
        ax.plot(steps, [h["val_loss"] for h in history], "s-", label="validation")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss  (1 - SSIM + w L1)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def _val_loader(subjects, modalities, cfg: TrainConfig, temporal_context: int,  # noqa: ANN001
                mask_fns: tuple[MaskFn, MaskFn] | None, adjacent: int = 0,
                text_fn: Callable[[Mapping, str], torch.Tensor] | None = None,
                series: bool = False) -> DataLoader | None:
    """``val_frames`` validation samples (series samples of a series network) spread over the validation set."""
    if not subjects or cfg.val_frames < 1:
        return None
    ds = FrameDataset(subjects, modalities, cfg.patterns, cfg.accelerations, cfg.max_frames_per_subject,
                      seed=cfg.seed + 1, temporal_context=temporal_context, fixed_masks=True,
                      cache_files=cfg.cache_files, acs_lines=cfg.acs_lines, mask_fns=mask_fns,
                      adjacent=adjacent, text_fn=text_fn, series=series)
    # evenly spread frames, in dataset order so files are read one after the other
    idx = np.unique(np.linspace(0, len(ds) - 1, min(cfg.val_frames, len(ds))).round().astype(int)).tolist()
    return DataLoader(Subset(ds, idx), batch_size=1, shuffle=False, num_workers=0, collate_fn=collate_samples)


class ReconTask:
    """The reconstruction task for :func:`cardiomm.training.fit` (one model for all ``modalities``).

    Batches: :class:`FrameDataset` frames grouped by shape (:class:`GroupedBatchSampler`), masks and order
    reseeded per epoch; prompt tokens dropped to UNKNOWN with a generator seeded by ``(seed, epoch)``.
    Scheduler: StepLR. "Best": the last epoch (the final weights are kept, as the paper's training does).
    Files: ``resume.pt``, ``train_log.csv``, ``loss_curve.png``. The published architectures get their
    ``num_adj_slices`` adjacent frames, and a port that takes text features (the official CardioMM) gets them from
    the CLIP folder ``clip_dir`` (required for it; :class:`cardiomm.recon.learned.text_prompts.ClipTextEncoder`).
    """

    determinism = False
    resume_name, log_name, curve_name = "resume.pt", "train_log.csv", "loss_curve.png"

    def __init__(self, kind: str, model_cfg: dict | None, cfg: TrainConfig, train_subjects: list,
                 val_subjects: list, modalities: list[str], out_ckpt: str | os.PathLike,
                 mask_fns: tuple[MaskFn, MaskFn] | None, clip_dir: str | os.PathLike | None = None) -> None:
        self.kind, self.model_cfg, self.cfg, self.clip_dir = kind, model_cfg, cfg, clip_dir
        self.train_subjects, self.val_subjects, self.modalities = train_subjects, val_subjects, list(modalities)
        self.out_ckpt, self.mask_fns = out_ckpt, mask_fns
        self.name, self.seed, self.epochs = kind, cfg.seed, cfg.epochs
        self.lr, self.weight_decay, self.clip = cfg.lr, cfg.weight_decay, cfg.clip

    def build_model(self, device: torch.device) -> nn.Module:
        model = build_model(self.kind, self.model_cfg).to(device)
        self.device = device
        self.model_cfg_full = model.config.to_dict()
        self.kctx = int(getattr(model.config, "temporal_context", 0))
        p = port(self.kind)
        self.adjacent = int(model.config.num_adj_slices) if p is not None else 0
        self.text_fn = _text_features(model, self.clip_dir, self.kind) if p is not None and p.texts else None
        self.series = is_series(model)
        return model

    def scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.StepLR(opt, step_size=self.cfg.step_size, gamma=self.cfg.gamma)

    def prepare(self, model: nn.Module, device: torch.device) -> None:
        cfg = self.cfg
        self.train_ds = FrameDataset(self.train_subjects, self.modalities, cfg.patterns, cfg.accelerations,
                                     cfg.max_frames_per_subject, seed=cfg.seed, temporal_context=self.kctx,
                                     cache_files=cfg.cache_files, acs_lines=cfg.acs_lines, mask_fns=self.mask_fns,
                                     adjacent=self.adjacent, text_fn=self.text_fn, series=self.series)
        self.sampler = GroupedBatchSampler(self.train_ds, cfg.batch_size, seed=cfg.seed)
        self.loader = DataLoader(self.train_ds, batch_sampler=self.sampler, num_workers=0,
                                 collate_fn=collate_samples)
        self.val_loader = _val_loader(self.val_subjects, self.modalities, cfg, self.kctx, self.mask_fns,
                                      self.adjacent, self.text_fn, self.series)

    def identity(self) -> tuple[dict, tuple[str, ...]]:
        return ({"arch": self.kind, "model_config": _jsonable(self.model_cfg_full),
                 "train_config": _jsonable(self.cfg.to_dict())},
                ("train_config.epochs",))  # more epochs may be added

    def epoch_batches(self, epoch: int) -> tuple[DataLoader, int]:
        self.train_ds.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        self.gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        n = len(self.sampler)
        return self.loader, n if self.cfg.steps_per_epoch is None else min(self.cfg.steps_per_epoch, n)

    def loss(self, model: nn.Module, batch: FrameSample, epoch: int, step: int) -> torch.Tensor:
        cfg = self.cfg
        if batch.scan_tokens is not None:  # a series sample has no prompts
            batch = batch.replace(scan_tokens=drop_tokens(batch.scan_tokens, cfg.token_dropout, self.gen),
                                  us_tokens=drop_tokens(batch.us_tokens, cfg.token_dropout, self.gen))
        pred, target = frames_of(run_batch(model, batch, self.device), batch.target.to(self.device))
        return recon_loss(pred, target, cfg.ssim_weight, cfg.l1_weight)

    def validate(self, model: nn.Module) -> dict[str, float]:
        return evaluate(model, self.val_loader, self.device, self.cfg) if self.val_loader is not None else {}

    def row(self, stats: EpochStats, val: dict[str, float]) -> dict:
        n = len(stats.losses)
        return {"epoch": stats.epoch, "steps": n, "train_loss": float(np.mean(stats.losses)),
                "val_loss": val.get("loss", float("nan")), "val_ssim": val.get("ssim", float("nan")),
                "val_psnr": val.get("psnr", float("nan")), "val_nmse": val.get("nmse", float("nan")),
                "lr": stats.lr, "train_seconds": stats.train_seconds, "seconds_per_step": stats.train_seconds / n}

    def score(self, row: dict, epoch: int) -> float:
        return float(epoch)  # the latest epoch wins

    def plot(self, history: list[dict], step_losses: list[float], path: Path) -> None:
        plot_losses(history, step_losses, path)

    def finish(self, model: nn.Module, history: list[dict], best: dict, start: int, step_seconds: list[float],
               wall_seconds: float) -> dict:
        last = history[-1]
        metrics = {
            "arch": self.kind, "n_parameters": count_parameters(model), "epochs": len(history),
            "steps": int(sum(h["steps"] for h in history)), "train_loss": last["train_loss"],
            "val_loss": last["val_loss"], "val_ssim": last["val_ssim"], "val_psnr": last["val_psnr"],
            "val_nmse": last["val_nmse"],
            "seconds": float(sum(h["train_seconds"] for h in history)),
            "seconds_per_step": float(np.mean([h["seconds_per_step"] for h in history])),
            "device": self.device.type, "torch_threads": torch.get_num_threads(),
            "n_train_frames": (sum(self.train_ds.shapes[(r.subject, r.modality)][0] for r in self.train_ds.frames)
                               if self.series else len(self.train_ds)),
            "n_train_samples": len(self.train_ds), "modalities": self.modalities,
            "wall_seconds_this_run": wall_seconds,
        }
        model.to("cpu")
        # the published archs can also run released weights, which take raw k-space: record that ours do not
        extra = {"input_normalisation": INPUT_NORMALISATION} if port(self.kind) is not None else None
        metrics["state_sha256"] = save_checkpoint(self.out_ckpt, model, self.cfg.to_dict(), metrics, extra)
        return metrics


def train_model(
    kind: str,
    model_cfg: dict | None,
    train_cfg: dict | None,
    train_subjects: list,
    val_subjects: list,
    modalities: list[str],
    out_ckpt: str | os.PathLike,
    log_dir: str | os.PathLike,
    mask_fns: tuple[MaskFn, MaskFn] | None = None,
    progress: bool = True,
    card: ModelCard | None = None,
    clip_dir: str | os.PathLike | None = None,
) -> dict:
    """Train a reconstruction network with :func:`cardiomm.training.fit` and write its checkpoint.

    Parameters
    ----------
    kind: a method with a network (:data:`cardiomm.recon.learned.architectures.ARCHS`: ``"cardiomm"``, ...).
    model_cfg: fields of the architecture's config dataclass (missing = defaults).
    train_cfg: fields of :class:`TrainConfig` (missing = defaults).
    train_subjects, val_subjects: :class:`cardiomm.cohort.Subject` lists (validation may be empty).
    modalities: modality names to train on (one model for all of them).
    out_ckpt: final checkpoint (:func:`cardiomm.recon.learned.model_files.save_checkpoint`), written atomically.
    log_dir: ``train_log.csv``, ``loss_curve.png`` and ``resume.pt`` (resumed from when present).
    mask_fns: optional ``(make_mask, acs_mask)`` replacement (tests).
    progress: show a progress bar per epoch (in the log).
    card: model card to write beside the checkpoint.
    clip_dir: the local CLIP folder whose text features a text-prompted port is trained with (required for it).

    Returns
    -------
    dict of final metrics: ``arch, n_parameters, epochs, steps, train_loss, val_loss, val_ssim, val_psnr,
    val_nmse, seconds, seconds_per_step, state_sha256``.
    """
    cfg = TrainConfig.from_dict(train_cfg)
    task = ReconTask(kind, model_cfg, cfg, train_subjects, val_subjects, modalities, out_ckpt, mask_fns, clip_dir)
    return fit(task, log_dir, get_device(), progress=progress, card=card)


def _text_features(model: nn.Module, clip_dir: str | os.PathLike | None, kind: str | None = None
                   ) -> Callable[[Mapping, str], torch.Tensor]:
    """``(meta, mask name) -> (2, D)`` CLIP text features of the two official sentences (cached per sentence);
    ``kind``: the method (default: the model's, :func:`~cardiomm.recon.learned.architectures.arch_of`), named in
    errors as ``train.<kind>.clip_dir``."""
    from cardiomm.recon.learned.text_prompts import ClipTextEncoder, sentences_for

    kind = kind or arch_of(model)

    enc = ClipTextEncoder(clip_dir, key=f"train.{kind}.clip_dir")
    if enc.dim != model.config.llm_model_dim:
        raise ValueError(f"CLIP folder {clip_dir}: text features have {enc.dim} dims, the network's heads expect "
                         f"llm_model_dim={model.config.llm_model_dim} (train.{kind}.model)")

    def text(meta: Mapping, mask_name: str) -> torch.Tensor:
        return enc.encode(list(sentences_for(meta, mask_name)))

    return text


def _jsonable(d: dict) -> dict:
    """Configs compared across save/load: tuples become lists (what a resume file gives back)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


# ---------------------------------------------------------------------------------------------
# Cost measurement
# ---------------------------------------------------------------------------------------------


def measure_step_seconds(kind: str, model_cfg: dict | None = None, nc: int = 10, ny: int = 112, nx: int = 128,
                         steps: int = 6, batch_size: int = 1, infer_batch: int = 8, infer_repeats: int = 3,
                         seed: int = 0, series_frames: int = 12) -> dict:
    """Median seconds per training step and per inference frame on random data with the current torch threads,
    through the training forward (:func:`run_batch`) of any architecture of
    :data:`cardiomm.recon.learned.architectures.ARCHS`.

    The published architectures get random adjacent frames (their ``num_adj_slices``) with a line ACS of
    ``ACS_LINES``, and a text-prompted port random text features in place of the frozen CLIP tower's (that
    tower runs once per distinct sentence and is cached, so it is not in these times). A series network gets
    series of ``series_frames`` frames (one per training sample and per inference pass; ``infer_frame_s`` is per
    frame). The first training step is a warm-up and is not counted.

    Returns ``{"train_step_s", "infer_frame_s", "n_parameters", "threads", "device"}``.
    """
    device = get_device()
    torch.manual_seed(seed)
    model = build_model(kind, model_cfg).to(device)
    kctx = int(getattr(model.config, "temporal_context", 0))
    p = port(kind)
    n_adj = int(model.config.num_adj_slices) if p is not None else 0
    series = is_series(model)
    if series:  # one series of a cine's length per sample; times per frame below
        n_adj = series_frames
    text_dim = int(model.config.llm_model_dim) if p is not None and p.texts else 0

    def batch(b: int) -> FrameSample:
        masks = (torch.rand(b, max(n_adj, 1), ny, nx) < 0.15).float()  # (b, frames, ny, nx)
        masks[..., ny // 2 - ACS_LINES // 2: ny // 2 + ACS_LINES // 2, :] = 1.0
        mask = masks[:, n_adj // 2: n_adj // 2 + 1]
        acs = torch.zeros(b, 1, ny, nx, dtype=torch.bool)
        acs[..., ny // 2 - ACS_LINES // 2: ny // 2 + ACS_LINES // 2, :] = True
        published = {}
        if n_adj:
            published = dict(adjacent=torch.randn(b, n_adj, nc, ny, nx, dtype=torch.complex64) * masks[:, :, None],
                             adjacent_mask=masks, square_acs=torch.zeros(b, dtype=torch.bool),
                             acs_width=torch.full((b,), ACS_LINES, dtype=torch.long),
                             text=torch.randn(b, 2, text_dim) if text_dim else None)
        if series:
            published = dict(adjacent=published["adjacent"], adjacent_mask=masks,
                             circular=torch.ones(b, dtype=torch.bool))
            return FrameSample(kspace=published["adjacent"].mean(1), mask=masks.amax(1, keepdim=True), acs=acs,
                               scale=torch.ones(b), target=torch.rand(b, n_adj, ny, nx), **published)
        return FrameSample(kspace=torch.randn(b, nc, ny, nx, dtype=torch.complex64) * mask, mask=mask, acs=acs,
                           scale=torch.ones(b), scan_tokens=torch.ones(b, 5, dtype=torch.long),
                           us_tokens=torch.ones(b, 2, dtype=torch.long), us_cont=torch.full((b, 1), 3.0),
                           target=torch.rand(b, ny, nx),
                           context=torch.randn(b, 2 * kctx, ny, nx, dtype=torch.complex64) if kctx else None,
                           **published)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    b = batch(batch_size)
    times = []
    model.train()
    for _ in range(steps):
        t = time.perf_counter()
        loss = recon_loss(*frames_of(run_batch(model, b, device), b.target.to(device)), 1.0, 0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        times.append(time.perf_counter() - t)
    model.eval()
    bi = batch(1 if series else infer_batch)
    per = n_adj if series else infer_batch  # frames per forward pass
    itimes = []
    with torch.inference_mode():
        for _ in range(infer_repeats):
            t = time.perf_counter()
            run_batch(model, bi, device)
            sync()
            itimes.append((time.perf_counter() - t) / per)
    return {"train_step_s": float(np.median(times[1:] or times)), "infer_frame_s": float(np.median(itimes)),
            "n_parameters": count_parameters(model), "threads": torch.get_num_threads(), "device": device.type}
