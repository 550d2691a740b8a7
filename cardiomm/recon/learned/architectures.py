"""The reconstruction architectures: the network of every registered method that reads a model.

The registry (:mod:`cardiomm.methods`) names each method's network and its config dataclass (``network``,
``network_config``: ``"module:Class"``); this module builds them (:func:`make_config`, :func:`build_model`) and
says which method a network belongs to (:func:`arch_of`), so a checkpoint records its method's name without the
network knowing it. The files they are saved in and read from are :mod:`cardiomm.recon.learned.model_files`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields

from torch import nn

from cardiomm.methods import REGISTRY, load

__all__ = ["ARCHS", "arch_of", "build_model", "config_class", "is_series", "make_config", "network_class"]


class _Archs(Mapping):
    """``{method: (network class, config class)}`` of the registered methods with a network, imported on access."""

    def _names(self) -> list[str]:
        return [n for n, m in REGISTRY.items() if m.network is not None]

    def __getitem__(self, name: str) -> tuple[type[nn.Module], type]:
        m = REGISTRY.get(name)
        if m is None or m.network is None:
            raise KeyError(name)
        return load(m.network), load(m.network_config)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


#: every architecture by method name (a live view of the registry)
ARCHS: Mapping[str, tuple[type[nn.Module], type]] = _Archs()


def network_class(arch: str) -> type[nn.Module]:
    """The network class of method ``arch``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model kind {arch!r}; known: {sorted(ARCHS)}")
    return ARCHS[arch][0]


def config_class(arch: str) -> type:
    """The config dataclass of method ``arch``'s network."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model kind {arch!r}; known: {sorted(ARCHS)}")
    return ARCHS[arch][1]


def make_config(arch: str, cfg: dict | None = None):  # noqa: ANN201 - the architecture's config dataclass
    """The config dataclass of ``arch`` from a (possibly partial) dict; unknown keys raise ``ValueError``."""
    cls = config_class(arch)
    cfg = dict(cfg or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - names)
    if unknown:
        raise ValueError(f"unknown {arch} model config keys {unknown}; known: {sorted(names)}")
    return cls(**cfg)


def build_model(arch: str, cfg: dict | None = None) -> nn.Module:
    """A freshly initialised network of method ``arch`` (e.g. ``"cardiomm"``)."""
    return network_class(arch)(make_config(arch, cfg))


def arch_of(model: nn.Module) -> str:
    """The registered method whose network ``model`` is (by its class's ``module:name``); ``ValueError`` if none."""
    path = f"{type(model).__module__}:{type(model).__qualname__}"
    for name, m in REGISTRY.items():
        if m.network == path:
            return name
    raise ValueError(f"{type(model).__name__} is the network of no registered method; known: {sorted(ARCHS)}")


def is_series(model: nn.Module) -> bool:
    """Whether ``model`` is a series network (class attribute ``series = True``, e.g.
    :class:`~cardiomm.recon.learned.networks.ktnet.KTNet`): it takes the series samples of
    :func:`cardiomm.recon.learned.data.prepare_series` and returns every frame (training and inference ask here)."""
    return bool(getattr(model, "series", False))
