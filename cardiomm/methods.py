"""The one registry of reconstruction methods: name, label, kind, entry point, config blocks, network.

A method is one :class:`Method` entry of :data:`REGISTRY`, and everything that knows a method reads it there:

* the entry point (``"module:attribute"``, called as ``attribute(name, params) -> Reconstructor``) is the only
  dispatch: no module picks a solver, a checkpoint loader or an input layout by a method's name;
* the config blocks the method reads (``config``: the top-level ``<name>:`` block of a classical method, with its
  defaults; ``train``: ``train.<name>``; ``published``: ``published.<name>``; ``tune``: ``tune_classical.grid.<name>``)
  are filled into the configuration schema when it is loaded (:func:`cardiomm.config.load_schema`), with the
  ``methods`` enum and ``models.<name>``; the JSON file holds no method name;
* the network (``network``, ``network_config``: ``"module:Class"``) of a method that reads a checkpoint is the
  architecture :mod:`cardiomm.recon.learned.architectures` builds and loads; ``port`` is how a published one is
  called (:mod:`cardiomm.recon.learned.published`);
* the workflow's wildcard constraints and GPU requests (:mod:`cardiomm.workflow`), the audit's labels and the
  figures' palette are built from it.

This module imports nothing of the package at run time (no torch): code is named by dotted paths and imported
on first use (:func:`load`), so the config, ``compare/`` and ``figures/`` read names, labels and blocks cheaply.
A method defined outside the package is added with :func:`register` (``tests/test_methods.py`` runs one through
the workflow that way).

One reconstruction is two steps, so that a job loads a model once and reconstructs each series with it::

    rec = REGISTRY["cardiomm"].prepare(ReconParams(model_path="cardiomm/weights/cardiomm.pt"))
    image = rec(acquisition)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from cardiomm.acquisition import Acquisition

#: the kinds of method: ``control`` (the gauge's null control: a second fully sampled acquisition, not an
#: acceleration; mask ``full``), ``direct`` (no iteration), ``classical`` (iterative, ESPIRiT maps, SigPy/BART),
#: ``neural`` (trained by this pipeline: ``train_recon``), ``published`` (a published architecture run with
#: third-party weights, opt-in)
KINDS = ("control", "direct", "classical", "neural", "published")


def load(path: str) -> Any:  # noqa: ANN401 - whatever the dotted path names
    """The object a ``"module:attribute"`` path names (the module imported on first use)."""
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class ReconParams:
    """What a method may need besides the series (its config block, the checkpoint).

    Attributes
    ----------
    model_path: checkpoint of a method that needs a model (``config["models"][name]``).
    config: the method's own top-level config block (``config["<name>"]``: ``lamda``, ``max_iter``, ``engine``, ...;
        defaults filled by the schema), empty for a method without one.
    published: the config section ``published:`` (``clip_dir``, per-method ``model_config``, ``batch_size``).
    """

    model_path: str | None = None
    config: Mapping = field(default_factory=dict)
    published: Mapping = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping, name: str, root: str | os.PathLike = ".") -> ReconParams:
        """What method ``name`` gets under a validated ``config`` (defaults filled): its checkpoint
        ``models.<name>`` under ``root`` (if it has one), its own block ``<name>:`` and the ``published`` section.
        The workflow's recon rule and the scripts that run a method outside the workflow (the benchmarks) both
        build it here."""
        model = config.get("models", {}).get(name)
        own = dict(config[name]) if method(name).config is not None else {}
        return cls(str(Path(root) / model) if model else None, own, dict(config.get("published") or {}))


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
    entry: ``"module:attribute"``; ``attribute(name, params) -> Reconstructor`` loads what the method needs once.
    config: JSON-schema block of the method's top-level config key ``<name>:`` (defaults inside), or ``None``.
    tune: JSON-schema block of ``tune_classical.grid.<name>`` with its ``default`` grid (tunable classical methods).
    train: JSON-schema block of ``train.<name>`` (methods trained by ``train_recon``).
    published: JSON-schema block of ``published.<name>`` (published architectures).
    network, network_config: ``"module:Class"`` of the network and of its config dataclass (methods with a model).
    port: ``"module:attribute"`` of the :class:`cardiomm.recon.learned.published.PublishedPort` a published
        architecture is called through.
    requires: config keys that must be set when the method runs, each with what it must hold.
    featured: the method the figures show beside the reference where they show one (the maps panel).
    """

    name: str
    label: str
    kind: str
    entry: str
    config: Mapping | None = None
    tune: Mapping | None = None
    train: Mapping | None = None
    published: Mapping | None = None
    network: str | None = None
    network_config: str | None = None
    port: str | None = None
    requires: Mapping[str, str] = field(default_factory=dict)
    featured: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"method {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        for what in ("entry", "network", "network_config", "port"):
            value = getattr(self, what)
            if value is not None and ":" not in value:
                raise ValueError(f"method {self.name!r}: {what} {value!r} is not 'module:attribute'")
        if self.needs_model != (self.network is not None):
            raise ValueError(f"method {self.name!r}: a {self.kind} method needs_model={self.needs_model} but "
                             f"network={self.network!r}")

    @property
    def needs_model(self) -> bool:
        """The method reads a checkpoint (``config["models"][name]``; its recon job asks for a GPU)."""
        return self.kind in ("neural", "published")

    @property
    def defaults(self) -> dict:
        """The defaults of the method's own config block (``{}`` without one)."""
        return {k: v["default"] for k, v in (self.config or {}).get("properties", {}).items() if "default" in v}

    def prepare(self, params: ReconParams | None = None) -> Reconstructor:
        """Import the method's code and load what it needs once (a model, the parameters): a per-series callable."""
        return load(self.entry)(self.name, params or ReconParams())


# ------------------------------------------------------------------------------------------ config blocks
_ENGINE_DOC = "sigpy (default) or bart: run through `bart ecalib`/`bart pics` (needs the bart binary on PATH)"
_UNIT_DOC = "l1 weight relative to a unit-magnitude image (cardiomm.recon.classical.cs)"


def _block(description: str, **properties: dict) -> dict:
    """A fixed-key config block whose absent keys take their defaults."""
    return {"type": "object", "description": description, "additionalProperties": False, "default": {},
            "properties": properties}


def _number(default: float | None, description: str | None = None, nullable: bool = False) -> dict:
    out = {"type": ["number", "null"] if nullable else "number", "minimum": 0, "default": default}
    return out | ({"description": description} if description else {})


def _iterations(default: int, description: str | None = None) -> dict:
    return {"type": "integer", "minimum": 1, "default": default} | ({"description": description} if description else {})


def _engine(engines: tuple[str, ...] = ("sigpy", "bart"), description: str = _ENGINE_DOC) -> dict:
    return {"enum": list(engines), "default": "sigpy", "description": description}


_MAPPING = _number(None, "lamda for mapping series (default: lamda)", nullable=True)


def _weights(default: list[float] | None) -> dict:
    """A tuning grid: weights to try (``tune_classical.grid.<method>``; ``default``: the grid's default entry)."""
    out = {"type": "array", "minItems": 1, "items": {"type": "number", "exclusiveMinimum": 0}}
    return out if default is None else out | {"default": default}


def _trained(description: str, model: str, **extra: dict) -> dict:
    """``train.<name>``: the network's config dataclass (schema definition ``model``) and the training config."""
    return _block(description, model={"$ref": f"#/definitions/{model}"}, train={"$ref": "#/definitions/recon_train"},
                  **extra)


def _released(model: str) -> dict:
    """``published.<name>``: overrides of the released checkpoint's config, and the inference batch (no default of
    its own: an absent block stays absent, and the method reads its keys' defaults in code)."""
    return {"type": "object", "additionalProperties": False, "properties": {
        "model_config": {"description": "Architecture hyper-parameters (official argument names) overriding those "
                                        "stored in the checkpoint; needed for a plain state dict of a non-default "
                                        "configuration.", "default": {}, "$ref": f"#/definitions/{model}"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 1}}}


_CLASSICAL, _LEARNED = "cardiomm.recon.classical", "cardiomm.recon.learned"
_NETS = f"{_LEARNED}.networks"
_CLIP = ("a local folder with the Hugging Face openai/clip-vit-base-patch16 files; see README 'Published models'")

#: every method, in table order: the null control first (the audit's proof that the gauge works), classical,
#: then the peer, then CardioMM, then the published ports
REGISTRY: dict[str, Method] = {m.name: m for m in (
    Method("rescan", "Rescan (null control)", "control", f"{_CLASSICAL}.zero_filled:rescan_method"),
    Method("zerofilled", "Zero-filled", "direct", f"{_CLASSICAL}.zero_filled:method"),
    Method("sense", "SENSE", "classical", f"{_CLASSICAL}.sense:SENSE", config=_block(
        "SENSE baseline (method sense; cardiomm.recon.classical.sense)",
        lamda=_number(0.01), max_iter=_iterations(30), engine=_engine())),
    Method("cs", "CS (l1-wavelet)", "classical", f"{_CLASSICAL}.cs:CS", config=_block(
        "spatial compressed sensing: l1-wavelet SENSE (method cs)",
        lamda=_number(0.005, _UNIT_DOC), max_iter=_iterations(30), engine=_engine(), lamda_mapping=_MAPPING),
        tune=_weights([0.0001, 0.0003, 0.001, 0.003, 0.01])),
    Method("kttv", "k-t TV", "classical", f"{_CLASSICAL}.cs:KTTV", config=_block(
        "k-t reconstruction: temporal-TV SENSE (method kttv)",
        lamda=_number(0.02, _UNIT_DOC),
        max_iter=_iterations(100, "PDHG iterations per slice (benchmarks/results/kttv_convergence.md)"),
        engine=_engine(), lamda_mapping=_MAPPING),
        tune=_weights([0.001, 0.003, 0.01, 0.03, 0.1])),
    Method("lps", "L+S (low-rank + sparse)", "classical", f"{_CLASSICAL}.lps:LPS", config=_block(
        "k-t reconstruction: low-rank plus sparse SENSE (method lps; Otazo et al. 2015; cardiomm.recon.classical.lps)",
        lamda=_number(0.003, "l1 weight of the sparse part in the temporal Fourier (cine) or DCT (mapping) domain, "
                             "relative to a unit-magnitude image"),
        lamda_lowrank=_number(0.01, "nuclear-norm weight of the low-rank part, relative to the largest singular "
                                    "value of the slice's zero-filled Casorati matrix"),
        max_iter=_iterations(60, "FISTA iterations per slice"),
        engine=_engine(("sigpy",), "sigpy only: BART's pics has no L+S equivalent (cardiomm.recon.classical.lps)"),
        lamda_mapping=_MAPPING,
        lamda_lowrank_mapping=_number(None, "lamda_lowrank for mapping series (default: lamda_lowrank)",
                                      nullable=True)),
        tune={"type": "object", "additionalProperties": False, "required": ["lamda", "lamda_lowrank"],
              "description": "lps: every pair of the two lists (sparse weight x low-rank weight)",
              "properties": {"lamda": _weights(None), "lamda_lowrank": _weights(None)},
              "default": {"lamda": [0.001, 0.003, 0.01], "lamda_lowrank": [0.003, 0.01, 0.03]}}),
    Method("varnet", "E2E-VarNet", "neural", f"{_LEARNED}.infer:method",
           train=_trained("training of E2E-VarNet (rule train_recon)", "VarNetConfig"),
           network=f"{_NETS}.varnet:VarNet", network_config=f"{_NETS}.varnet:VarNetConfig"),
    Method("cardiomm", "CardioMM-style (ours)", "neural", f"{_LEARNED}.infer:method",
           train=_trained("training of CardioMM (rule train_recon)", "CardioMMConfig"),
           network=f"{_NETS}.cardiomm:CardioMM", network_config=f"{_NETS}.cardiomm:CardioMMConfig", featured=True),
    Method("ktnet", "k-t Net (ours, x-y-t)", "neural", f"{_LEARNED}.infer:method",
           train=_trained("training of the k-t Net (rule train_recon; series samples)", "KTNetConfig"),
           network=f"{_NETS}.ktnet:KTNet", network_config=f"{_NETS}.ktnet:KTNetConfig"),
    Method("cardiomm_official", "CardioMM (official arch.)", "published", f"{_LEARNED}.infer_published:method",
           train=_trained(
               "training of the official CardioMM architecture (rule train_recon; only when listed in "
               "train.published)", "CardioMMOfficialConfig",
               clip_dir={"type": ["string", "null"], "default": None, "description": (
                   "local folder with the Hugging Face openai/clip-vit-base-patch16 files: the frozen text encoder "
                   "whose features of the official sentences the network is trained with (required; never "
                   "downloaded)")}),
           published=_released("CardioMMOfficialConfig"),
           network=f"{_NETS}.cardiomm_official:CardioMMOfficial",
           network_config=f"{_NETS}.cardiomm_official:CardioMMOfficialConfig",
           port=f"{_LEARNED}.published:CARDIOMM_OFFICIAL", requires={"published.clip_dir": _CLIP}),
    Method("promptmr", "PromptMR+", "published", f"{_LEARNED}.infer_published:method",
           train=_trained("training of PromptMR+ (rule train_recon; only when listed in train.published)",
                          "PromptMRConfig"),
           published=_released("PromptMRConfig"),
           network=f"{_NETS}.promptmr:PromptMR", network_config=f"{_NETS}.promptmr:PromptMRConfig",
           port=f"{_LEARNED}.published:PROMPTMR"),
)}


class _Names(Sequence):
    """The names of the registered methods that ``keep``: a live view of :data:`REGISTRY`, so that a method added
    with :func:`register` is seen by every module that imported the view before."""

    def __init__(self, keep: Callable[[Method], bool]) -> None:
        self._keep = keep

    def _names(self) -> tuple[str, ...]:
        return tuple(n for n, m in REGISTRY.items() if self._keep(m))

    def __getitem__(self, i):  # noqa: ANN001, ANN204 - Sequence's
        return self._names()[i]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, name: object) -> bool:
        m = REGISTRY.get(name) if isinstance(name, str) else None
        return m is not None and self._keep(m)

    def __eq__(self, other: object) -> bool:
        return tuple(self) == (tuple(other) if isinstance(other, Sequence) and not isinstance(other, str) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._names())


#: every method name, in table order
METHODS: Sequence[str] = _Names(lambda m: True)
#: iterative SigPy/BART baselines on ESPIRiT maps (:mod:`cardiomm.recon.classical`)
CLASSICAL: Sequence[str] = _Names(lambda m: m.kind == "classical")
#: networks this pipeline can train (``train_recon``; the ``{model}`` wildcard of ``rules/train.smk``): ours and
#: the published architectures (these only when listed in ``train.published``)
TRAINABLE: Sequence[str] = _Names(lambda m: m.train is not None)
#: networks this pipeline trains and ships (``train_all``, ``make weights``); the published ones only when listed
TRAINED: Sequence[str] = _Names(lambda m: m.train is not None and m.kind == "neural")
#: published architectures run with third-party weights, opt-in
#: (:func:`cardiomm.recon.learned.model_files.load_published`)
PUBLISHED_METHODS: Sequence[str] = _Names(lambda m: m.kind == "published")
#: methods that read a checkpoint (and whose recon jobs ask for a GPU)
NEEDS_MODEL: Sequence[str] = _Names(lambda m: m.needs_model)
#: the methods the figures show beside the reference (:attr:`Method.featured`)
FEATURED: Sequence[str] = _Names(lambda m: m.featured)
#: null controls: measured like a reconstruction, from a second fully sampled acquisition (mask ``full``, one set
#: of rows per subject); ``rescan`` needs the cohort's repeated acquisition (:meth:`cardiomm.cohort.Subject.
#: rescan_path`)
CONTROLS: Sequence[str] = _Names(lambda m: m.kind == "control")
#: the methods under test: every method but the controls (one reconstruction per undersampling mask)
ACCELERATED: Sequence[str] = _Names(lambda m: m.kind != "control")
_revision = 0


def revision() -> int:
    """How many times :func:`register` / :func:`unregister` changed the registry (the schema cache's key)."""
    return _revision


def register(m: Method) -> Method:
    """Add a method defined outside the package (a plugin, a test) to the registry, after the others.

    Every view of names (:data:`METHODS`, :data:`CLASSICAL`, ...) and the configuration schema see it at once,
    so a config naming it validates. A name already registered raises ``ValueError``.
    """
    global _revision
    if m.name in REGISTRY:
        raise ValueError(f"method {m.name!r} is already registered")
    REGISTRY[m.name] = m
    _revision += 1
    return m


def unregister(name: str) -> None:
    """Remove a method added with :func:`register` (tests)."""
    global _revision
    del REGISTRY[name]
    _revision += 1


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
