"""The published architectures as this package calls them: their released file layout and their forward call.

A published method's registry entry names its :class:`PublishedPort` (``port``, :mod:`cardiomm.methods`); training
(:mod:`cardiomm.recon.learned.training_task`), inference (:mod:`cardiomm.recon.learned.infer_published`) and the
checkpoint reader (:func:`cardiomm.recon.learned.model_files.load_published`) take everything that differs
between the ports from it, so none of them asks which port it holds. The ports themselves (the networks) are in
:mod:`cardiomm.recon.learned.networks`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from cardiomm.methods import REGISTRY, load
from cardiomm.methods import method as registered


@dataclass(frozen=True)
class PublishedPort:
    """How one published architecture is called and read.

    Attributes
    ----------
    call: ``call(model, k, mask, acs_lines, square, texts)``: the network on the frame-major adjacent-frame layout
        (:func:`cardiomm.recon.learned.infer_published.network_input`), ``texts`` ``(B, 2, D)`` or ``None``;
        returns the RSS magnitude ``(B, nx, ny)`` in the network's layout.
    texts: the network takes CLIP text features of the official sentences
        (:mod:`cardiomm.recon.learned.text_prompts`).
    lightning_prefix: key prefix of the network in the official Lightning module (stripped), ``""`` if kept.
    network_prefixes: the prefixes of the network's keys in the port's layout.
    bare_prefixes, bare_to: a plain state dict of the network alone starts with ``bare_prefixes``; ``bare_to`` is
        prefixed to its keys.
    not_network: prefixes of the official module's non-network state (reported, not loaded), with what they are.
    signature: key prefixes that identify a file of this architecture (the hint of a mismatched load).
    """

    call: Callable[[nn.Module, torch.Tensor, torch.Tensor, int, bool, torch.Tensor | None], torch.Tensor]
    texts: bool
    lightning_prefix: str
    network_prefixes: tuple[str, ...]
    bare_prefixes: tuple[str, ...]
    bare_to: str
    not_network: Mapping[str, str] = field(default_factory=dict)
    signature: tuple[str, ...] = ()


def _cardiomm_official(model: nn.Module, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square: bool,
                       texts: torch.Tensor | None) -> torch.Tensor:
    if texts is None:
        raise ValueError("the official CardioMM needs the text features")
    return model(k, mask, acs_lines, square, texts[:, 0], texts[:, 1])


def _promptmr(model: nn.Module, k: torch.Tensor, mask: torch.Tensor, acs_lines: int, square: bool,
              texts: torch.Tensor | None) -> torch.Tensor:
    return model(k, mask, acs_lines, "square" if square else "lines")


#: the official CardioMM (``cardiomm_official``): the port keeps the official module layout
CARDIOMM_OFFICIAL = PublishedPort(
    _cardiomm_official, texts=True, lightning_prefix="",
    network_prefixes=("metausunetlight.", "lm_head_meta.", "lm_head_us."), bare_prefixes=("sens_net.", "cascades."),
    bare_to="metausunetlight.", signature=("metausunetlight.",),
    not_network={"language_model_no.": "the frozen text encoder (loaded from the CLIP folder instead)",
                 "loss.": "the SSIM loss window buffer"})
#: PromptMR+ (``promptmr``)
PROMPTMR = PublishedPort(
    _promptmr, texts=False, lightning_prefix="promptmr.", network_prefixes=("sens_net.", "cascades."),
    bare_prefixes=("sens_net.", "cascades."), bare_to="", signature=("promptmr.",),
    not_network={"loss.": "the SSIM loss window buffer"})


def published() -> list[str]:
    """The registered methods with a published port, in table order."""
    return [n for n, m in REGISTRY.items() if m.port is not None]


def port(arch: str) -> PublishedPort | None:
    """The :class:`PublishedPort` of registered method ``arch``, ``None`` for one of ours (or an unknown name)."""
    m = REGISTRY.get(arch)
    return None if m is None or m.port is None else load(registered(arch).port)
