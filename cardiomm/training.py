"""The one training engine: every trained network (reconstruction, segmentation) runs through :func:`fit`.

The engine owns what all training shares; a :class:`Task` supplies what differs::

    seed (torch; + MONAI determinism if the task asks)      task.build_model()
    AdamW(lr, weight_decay)                                 task.scheduler(opt)
    resume from <log_dir>/<task.resume_name>                task.identity() (refused if it differs)
    for epoch in start..epochs:
        batches = task.epoch_batches(epoch)                 (reseeded from (seed, epoch): resumable)
        for each step: loss = task.loss(model, batch, ...)  (non-finite -> FloatingPointError)
            zero_grad, backward, clip_grad_norm_ (task.clip > 0), step
        lr read, scheduler.step()
        val = task.validate(model); row = task.row(...)     (CSV row; task.plot draws the curve)
        best epoch kept by task.score(row, epoch)           (higher wins; ties keep the earlier)
        atomic <log_dir>/<task.resume_name>: model, optimiser, scheduler, torch RNG, history, best
    model <- best epoch's weights; task.finish(...) writes the checkpoint and returns the metrics
    model card (cardiomm.checkpoint.write_model_card) when a ModelCard is given

A run interrupted after epoch ``e`` restarts after ``e`` and ends with the same weights as an uninterrupted
run (same device and thread count), since every random choice inside an epoch derives from ``(seed, epoch)``
and the global torch RNG state is stored and restored. Resume states written for another configuration are
refused by :func:`cardiomm.checkpoint.check_resume`, naming the keys. Progress bars go to the ``cardiomm``
logger (:func:`cardiomm.progress.tqdm_to_log`), one line per epoch is logged there too.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from cardiomm.atomic import atomic_path, write_csv
from cardiomm.checkpoint import check_resume, read_dict, write_model_card
from cardiomm.progress import tqdm_to_log

log = logging.getLogger("cardiomm")

__all__ = ["EpochStats", "ModelCard", "Task", "fit"]


@dataclass(frozen=True)
class EpochStats:
    """What the engine measured in one epoch, for :meth:`Task.row`."""

    epoch: int  #: 1-based
    losses: list[float]  #: per-step training losses
    lr: float  #: learning rate used in the epoch (before the scheduler step)
    train_seconds: float  #: wall time of the optimisation steps (including data loading)
    started: float  #: ``time.perf_counter()`` at the start of the epoch


@dataclass
class ModelCard:
    """A model card to write beside the checkpoint once training has finished.

    ``body`` rows come first, then the validation metrics of the best epoch, then the task's metrics and
    ``wall_seconds`` (since ``started``: create the card before preparing the data to include that time).
    """

    path: str | os.PathLike
    title: str
    body: dict[str, object]
    notes: str
    started: float = field(default_factory=time.perf_counter)


class Task(Protocol):
    """One trainable task. Attributes: ``name`` (progress label), ``seed``, ``epochs``, ``lr``,
    ``weight_decay``, ``clip`` (gradient-norm threshold, 0 = off), ``determinism`` (also call MONAI's
    ``set_determinism(seed)``), ``resume_name``, ``log_name``, ``curve_name`` (file names in ``log_dir``)."""

    name: str
    seed: int
    epochs: int
    lr: float
    weight_decay: float
    clip: float
    determinism: bool
    resume_name: str
    log_name: str
    curve_name: str

    def build_model(self, device: torch.device) -> nn.Module:
        """The freshly initialised network on ``device`` (called right after seeding)."""

    def scheduler(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        """The learning-rate schedule, stepped once per epoch."""

    def prepare(self, model: nn.Module, device: torch.device) -> None:
        """Build datasets and loaders (after model and optimiser, before resuming)."""

    def identity(self) -> tuple[dict[str, Any], tuple[str, ...]]:
        """What a resume state must match (``{"train_config": ..., ...}``) and the dotted keys that may change."""

    def epoch_batches(self, epoch: int) -> tuple[Iterable, int]:
        """The batches of 0-based ``epoch`` (reseeded from ``(seed, epoch)``) and the number of steps to take."""

    def loss(self, model: nn.Module, batch: Any, epoch: int, step: int) -> torch.Tensor:
        """Forward one training batch; the scalar loss to minimise."""

    def validate(self, model: nn.Module) -> dict[str, float]:
        """Validation metrics of the current weights (``{}`` without validation data)."""

    def row(self, stats: EpochStats, val: dict[str, float]) -> dict[str, Any]:
        """The epoch's row of the CSV log."""

    def score(self, row: dict[str, Any], epoch: int) -> float:
        """What "best" means: the epoch with the highest score is kept (``epoch`` 0-based)."""

    def plot(self, history: list[dict], step_losses: list[float], path: Path) -> None:
        """The learning-curve PNG (written atomically)."""

    def finish(self, model: nn.Module, history: list[dict], best: dict[str, Any], start: int,
               step_seconds: list[float], wall_seconds: float) -> dict[str, Any]:
        """Write the final checkpoint (``model`` holds the best epoch's weights); the returned metrics."""


def _clone(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def fit(task: Task, log_dir: str | os.PathLike, device: torch.device, progress: bool = True,
        card: ModelCard | None = None) -> dict[str, Any]:
    """Train ``task`` (see the module docstring); returns :meth:`Task.finish`'s metrics.

    Parameters
    ----------
    task: the task definition.
    log_dir: folder of the resume state, the CSV log and the learning curve (created).
    device: where the model and batches live.
    progress: show a progress bar per epoch (sent to the ``cardiomm`` logger).
    card: model card written after the checkpoint (``None``: none).
    """
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    resume_path = log_dir / task.resume_name
    if task.determinism:
        from monai.utils import set_determinism

        set_determinism(seed=task.seed)
    torch.manual_seed(task.seed)
    model = task.build_model(device)
    opt = torch.optim.AdamW(model.parameters(), lr=task.lr, weight_decay=task.weight_decay)
    sched = task.scheduler(opt)
    task.prepare(model, device)
    ident, may_change = task.identity()

    history: list[dict] = []
    step_losses: list[float] = []
    best: dict[str, Any] = {"epoch": 0, "score": -math.inf, "state_dict": None, "metrics": {}}
    start = 0
    if resume_path.exists():
        st = read_dict(resume_path, "resume state")
        check_resume(resume_path, {k: st.get(k) for k in ident}, ident, may_change=may_change)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        if st.get("torch_rng") is not None:
            torch.set_rng_state(st["torch_rng"])
        history, step_losses, start = list(st["history"]), list(st.get("step_losses", [])), int(st["epoch"])
        best = st.get("best") or best
        log.info("resuming %s training from %s after epoch %d", task.name, resume_path, start)

    t_run = time.perf_counter()
    step_seconds: list[float] = []
    for epoch in range(start, task.epochs):
        t0 = time.perf_counter()
        batches, n_steps = task.epoch_batches(epoch)
        model.train()
        losses: list[float] = []
        bar = tqdm(total=n_steps, desc=f"{task.name} epoch {epoch + 1}/{task.epochs}", disable=not progress,
                   **tqdm_to_log(mininterval=20.0, leave=False))
        for i, batch in enumerate(batches):
            if i >= n_steps:
                break
            ts = time.perf_counter()
            loss = task.loss(model, batch, epoch, i)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{task.name}: non-finite training loss at epoch {epoch + 1} step {i + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if task.clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), task.clip)
            opt.step()
            losses.append(float(loss.detach()))
            step_seconds.append(time.perf_counter() - ts)
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
        bar.close()
        if not losses:
            raise ValueError(f"{task.name}: epoch {epoch + 1} has no training batches")
        lr = opt.param_groups[0]["lr"]
        sched.step()
        train_s = time.perf_counter() - t0
        row = task.row(EpochStats(epoch + 1, losses, lr, train_s, t0), task.validate(model))
        history.append(row)
        step_losses += losses
        score = task.score(row, epoch)
        if score > best["score"]:
            best = {"epoch": epoch + 1, "score": score, "metrics": dict(row), "state_dict": _clone(model.state_dict())}
        write_csv(pd.DataFrame(history), log_dir / task.log_name)
        task.plot(history, step_losses, log_dir / task.curve_name)
        with atomic_path(resume_path) as tmp:
            torch.save({**ident, "epoch": epoch + 1, "model": model.state_dict(), "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(), "history": history,
                        "step_losses": step_losses, "best": best}, tmp)
        log.info("%s epoch %d/%d: %s", task.name, epoch + 1, task.epochs,
                 " ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))

    if best["state_dict"] is not None:
        model.load_state_dict(best["state_dict"])
    metrics = task.finish(model, history, best, start, step_seconds, time.perf_counter() - t_run)
    if card is not None:
        val = {k: round(float(v), 4) for k, v in best["metrics"].items()
               if str(k).startswith("val_") and isinstance(v, int | float)}
        write_model_card(str(card.path), card.title, {
            **card.body, "validation metrics at the best epoch": val, **metrics,
            "wall_seconds": time.perf_counter() - card.started}, card.notes)
    return metrics
