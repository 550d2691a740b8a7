"""The one registry of reconstruction methods: name, label, kind, whether it needs a model, and its entry point.

Everything that names methods takes the names from here: :mod:`cardiomm.conventions` re-exports
:data:`METHODS`, :data:`CLASSICAL` and :data:`PUBLISHED_METHODS`; the workflow's wildcard constraints and GPU
requests (:mod:`cardiomm.workflow`), the audit's labels and the figures' palette are built from it; the
literals that must stay literal (the schema's ``methods`` enum, ``checkpoint.ARCHS``) are checked against it
by ``tests/test_methods.py``.

This module imports nothing of the package (no torch): the per-method code is named by a dotted path
(``"module:function"``) and imported by :meth:`Method.prepare` on first use, so ``compare/`` and ``figures/``
can read names and labels cheaply.

One reconstruction is two steps, so that a job loads a model once and reconstructs each series with it::

    rec = REGISTRY["cardiomm"].prepare(ReconParams(model_path="cardiomm/weights/cardiomm.pt"))
    image = rec(kspace, mask, "ktGaussian16", {**subject.meta, "modality": "cine"}, acs=20)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

if TYPE_CHECKING:
    from cardiomm.acquisition import Acquisition

#: the kinds of method: ``control`` (the gauge's null control: a second fully sampled acquisition, not an
#: acceleration; mask ``full``), ``direct`` (no iteration), ``classical`` (iterative, ESPIRiT maps, SigPy/BART),
#: ``neural`` (trained by this pipeline: ``train_recon``), ``published`` (a published architecture run with
#: third-party weights, opt-in)
KINDS = ("control", "direct", "classical", "neural", "published")


@dataclass(frozen=True)
class ReconParams:
    """What a method may need besides the series (the config blocks, the checkpoint).

    Attributes
    ----------
    model_path: checkpoint of a method that needs a model (``config["models"][name]``).
    sense: the config block ``sense:`` (``engine``, ``lamda``, ``max_iter``, ...).
    classical: the config blocks of the other classical methods by name (``{"cs": {...}, "kttv": {...},
        "lps": {...}}``).
    published: the config section ``published:`` (``clip_dir``, per-method ``model_config``, ``batch_size``).
    """

    model_path: str | None = None
    sense: dict = field(default_factory=dict)
    classical: dict = field(default_factory=dict)
    published: dict = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping, name: str, root: str | os.PathLike = ".") -> ReconParams:
        """What the workflow's recon rule gives method ``name`` under a validated ``config`` (defaults filled):
        its checkpoint ``models.<name>`` under ``root`` (if it has one), and the ``sense``, classical and
        ``published`` blocks. For scripts that run a method outside the workflow (the benchmarks)."""
        model = config.get("models", {}).get(name)
        return cls(str(Path(root) / model) if model else None, dict(config["sense"]),
                   {m: config[m] for m in CLASSICAL if m in config}, dict(config.get("published") or {}))


class Reconstructor(Protocol):
    """One series in, one image out (the model, if any, already loaded by :meth:`Method.prepare`)."""

    def __call__(self, acq: Acquisition) -> np.ndarray:
        """Reconstruct one series.

        Parameters
        ----------
        acq: the validated acquisition (:class:`cardiomm.acquisition.Acquisition`): undersampled k-space
            ``(nt, nz, nc, ny, nx)``, mask, mask name, ACS region and width, metadata with ``"modality"``.

        Returns
        -------
        float32 magnitude image ``(nt, nz, ny, nx)``.
        """
        ...


@dataclass(frozen=True)
class Method:
    """A reconstruction method.

    Attributes
    ----------
    name: the name in configs, paths and tables.
    label: the display name in the audit and the figures.
    kind: one of :data:`KINDS`.
    needs_model: the method reads a checkpoint (``config["models"][name]``; its recon job asks for a GPU).
    entry: ``"module:function"``; ``function(name, params) -> Reconstructor`` loads what the method needs once.
    """

    name: str
    label: str
    kind: str
    needs_model: bool
    entry: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if ":" not in self.entry:
            raise ValueError(f"method {self.name!r}: entry {self.entry!r} is not 'module:function'")

    def prepare(self, params: ReconParams | None = None) -> Reconstructor:
        """Import the method's code and load what it needs once (a model, the parameters): a per-series callable."""
        module, func = self.entry.split(":")
        return getattr(importlib.import_module(module), func)(self.name, params or ReconParams())


_R = "cardiomm.recon.reconstructors"
#: every method, in table order: the null control first (the audit's proof that the gauge works), classical,
#: then the peer, then CardioMM, then the published ports
REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("rescan", "Rescan (null control)", "control", False, f"{_R}:rescan_method"),
    Method("zerofilled", "Zero-filled", "direct", False, f"{_R}:zero_filled_method"),
    Method("sense", "SENSE", "classical", False, f"{_R}:classical_method"),
    Method("cs", "CS (l1-wavelet)", "classical", False, f"{_R}:classical_method"),
    Method("kttv", "k-t TV", "classical", False, f"{_R}:classical_method"),
    Method("lps", "L+S (low-rank + sparse)", "classical", False, f"{_R}:classical_method"),
    Method("varnet", "E2E-VarNet", "neural", True, f"{_R}:trained_method"),
    Method("cardiomm", "CardioMM-style (ours)", "neural", True, f"{_R}:trained_method"),
    Method("cardiomm_official", "CardioMM (official arch.)", "published", True, f"{_R}:published_method"),
    Method("promptmr", "PromptMR+", "published", True, f"{_R}:published_method"),
)}

METHODS: tuple[str, ...] = tuple(REGISTRY)
#: iterative SigPy/BART baselines on ESPIRiT maps (:mod:`cardiomm.recon.cs`)
CLASSICAL: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.kind == "classical")
#: networks this pipeline can train (``train_recon``; the ``{model}`` wildcard of ``rules/train.smk``): ours and
#: the published architectures (these only when listed in ``train.published``)
TRAINABLE: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.kind in ("neural", "published"))
#: published architectures run with third-party weights (:func:`cardiomm.recon.checkpoint.load_published`); opt-in
PUBLISHED_METHODS: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.kind == "published")
#: methods that read a checkpoint (and whose recon jobs ask for a GPU)
NEEDS_MODEL: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.needs_model)
#: null controls: measured like a reconstruction, from a second fully sampled acquisition (mask ``full``, one set
#: of rows per subject); ``rescan`` needs the cohort's repeated acquisition (:meth:`cardiomm.cohort.Subject.
#: rescan_path`)
CONTROLS: tuple[str, ...] = tuple(n for n, m in REGISTRY.items() if m.kind == "control")
#: the methods under test: every method but the controls (one reconstruction per undersampling mask)
ACCELERATED: tuple[str, ...] = tuple(n for n in REGISTRY if n not in CONTROLS)


def method(name: str) -> Method:
    """The :class:`Method` called ``name``, or a ``KeyError`` naming the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {list(REGISTRY)}") from None


def label(name: str) -> str:
    """Display name of a method; any other name (``reference``, ``truth``) is returned as it is."""
    m = REGISTRY.get(name)
    return m.label if m else name
