"""Metadata prompts for CardioMM's dynamic adaptive mechanism: scan and undersampling tokens.

Two prompts condition the reconstruction network:

* the **scan prompt** (modality, view, field strength, vendor, scanner), five integer tokens;
* the **undersampling prompt** (pattern, acceleration R), two integer tokens plus one continuous
  feature ``log2(R)``.

Every field has an explicit ``UNKNOWN`` token at index 0. Values never seen in training (a 0.55 T or 5 T
scanner, a new vendor, a new view, R = 10) map to ``UNKNOWN`` instead of raising, so a trained model can be
applied zero-shot to any site. During training the tokens are randomly replaced by ``UNKNOWN``
(:func:`drop_tokens`) so that the ``UNKNOWN`` embeddings are trained and mean "average over sites".

Why learned token embeddings rather than a frozen text encoder (CLIP/BERT on a metadata sentence, as
language-prompted reconstruction models do):

* nothing is downloaded at run time (the workflow runs offline on clusters);
* tiny: a few thousand parameters instead of a 100M-parameter encoder per forward pass on 2 CPU cores;
* deterministic: same metadata, same vector, with no tokenizer or library version in the loop;
* explicit unknown handling: an unseen value is a defined token, not an arbitrary out-of-distribution
  text embedding whose effect nobody can audit.

Field strength is bucketed to the known values {1.5, 3.0} T (within 0.25 T); anything else is ``UNKNOWN``.
R is both a token over {4, 8, 12, 16, 20, 24} (+ ``UNKNOWN``) and the continuous ``log2(R)``, so an
unseen R still carries its magnitude.

The vocabularies below are part of the trained model: appending values is safe (old checkpoints keep their
embedding sizes through :class:`PromptConfig`), reordering is not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cardiomm.conventions import PATTERNS, SEGMENTED_MODALITIES, MaskName

UNKNOWN = 0  # token index of the UNKNOWN value in every field

SCAN_FIELDS = ("modality", "view", "field_strength", "vendor", "scanner")
US_FIELDS = ("pattern", "R")

# the vocabulary the shipped models were trained on (do not extend it without retraining); the image-only views and
# contrasts of conventions.MODALITIES get the UNKNOWN token
MODALITY_VOCAB: tuple[str, ...] = SEGMENTED_MODALITIES  # cine, t1map, t2map, t1rhomap
VIEW_VOCAB: tuple[str, ...] = ("sax", "lax", "2ch", "3ch", "4ch", "lvot")
FIELD_STRENGTH_VOCAB: tuple[float, ...] = (1.5, 3.0)
FIELD_STRENGTH_TOL_T = 0.25
VENDOR_VOCAB: tuple[str, ...] = ("siemens", "ge", "philips", "united_imaging", "canon")
SCANNER_VOCAB: tuple[str, ...] = (
    "aera", "avanto", "skyra", "prisma", "vida", "sola",  # Siemens
    "umr_780", "umr_790", "umr_880", "umr_890",  # United Imaging
    "ingenia", "achieva",  # Philips
    "signa", "discovery",  # GE
    "vantage",  # Canon
)
PATTERN_VOCAB: tuple[str, ...] = tuple(PATTERNS)  # Uniform, ktGaussian, ktRadial
R_VOCAB: tuple[int, ...] = (4, 8, 12, 16, 20, 24)

_VENDOR_ALIASES = {"uih": "united_imaging", "united": "united_imaging", "ge_healthcare": "ge",
                   "gehc": "ge", "toshiba": "canon"}


def _norm_text(value: object) -> str:
    """Lower-case, trimmed, spaces/hyphens as underscores; ``''`` for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return re.sub(r"[\s\-]+", "_", str(value).strip().lower())


def _lookup(value: str, vocab: Sequence[str]) -> int:
    try:
        return vocab.index(value) + 1
    except ValueError:
        return UNKNOWN


def field_strength_token(field_strength_T: object) -> int:
    """Token of a field strength in tesla: 1 for 1.5 T, 2 for 3.0 T, ``UNKNOWN`` otherwise (0.55 T, 5 T, NaN)."""
    try:
        b0 = float(field_strength_T)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return UNKNOWN
    if not math.isfinite(b0):
        return UNKNOWN
    for i, known in enumerate(FIELD_STRENGTH_VOCAB):
        if abs(b0 - known) <= FIELD_STRENGTH_TOL_T:
            return i + 1
    return UNKNOWN


def vendor_token(vendor: object) -> int:
    """Token of a vendor name (case/spacing insensitive, common aliases such as ``UIH``), else ``UNKNOWN``."""
    v = _norm_text(vendor)
    v = _VENDOR_ALIASES.get(v, v)
    return _lookup(v, VENDOR_VOCAB)


def scanner_token(scanner: object) -> int:
    """Token of a scanner model line; a vendor prefix and a suffix after the line name are ignored
    (``"Siemens Aera"`` and ``"SIGNA Artist"`` map to ``aera`` and ``signa``)."""
    s = _norm_text(scanner)
    for prefix in ("siemens_", "magnetom_", "philips_", "ge_", "uih_", "united_imaging_", "canon_"):
        s = s.removeprefix(prefix)
    s = re.sub(r"^umr(\d)", r"umr_\1", s)  # "uMR790" -> "umr_790"
    for i, known in enumerate(SCANNER_VOCAB):  # a model line with a suffix: "SIGNA Artist" -> "signa"
        if s == known or s.startswith(known + "_"):
            return i + 1
    return UNKNOWN


def encode_scan(meta: Mapping[str, object], modality: str | None = None) -> list[int]:
    """Scan prompt tokens, one per :data:`SCAN_FIELDS` entry.

    Parameters
    ----------
    meta: subject/scan metadata with keys ``modality`` (unless given), ``view``, ``field_strength_T``,
        ``vendor``, ``scanner``. Missing keys, ``None``, NaN and unseen values become ``UNKNOWN``.
    modality: overrides ``meta["modality"]``.

    Returns
    -------
    list of 5 ints in ``[0, vocab size]``.
    """
    mod = _norm_text(modality if modality is not None else meta.get("modality"))
    return [
        _lookup(mod, MODALITY_VOCAB),
        _lookup(_norm_text(meta.get("view")), VIEW_VOCAB),
        field_strength_token(meta.get("field_strength_T")),
        vendor_token(meta.get("vendor")),
        scanner_token(meta.get("scanner")),
    ]


def encode_undersampling(pattern: str | None, R: float) -> tuple[list[int], float]:
    """Undersampling prompt: tokens ``[pattern, R]`` and the continuous feature ``log2(R)``.

    Parameters
    ----------
    pattern: ``Uniform``/``ktGaussian``/``ktRadial``; anything else (or None) is ``UNKNOWN``.
    R: nominal acceleration (> 0). Values outside :data:`R_VOCAB` get the ``UNKNOWN`` token but keep
        their ``log2(R)``.
    """
    R = float(R)
    if not math.isfinite(R) or R <= 0:
        raise ValueError(f"acceleration R must be a positive finite number, got {R!r}")
    p_tok = _lookup(pattern, PATTERN_VOCAB) if pattern is not None else UNKNOWN
    r_tok = R_VOCAB.index(int(R)) + 1 if float(R).is_integer() and int(R) in R_VOCAB else UNKNOWN
    return [p_tok, r_tok], math.log2(R)


def encode_mask_name(mask_name: str | MaskName, mask: np.ndarray | None = None) -> tuple[list[int], float]:
    """Undersampling prompt of a mask name such as ``ktGaussian16``, parsed by the one mask grammar
    (:meth:`cardiomm.conventions.MaskName.of`, as the training samples are), or the parsed name itself.

    A name outside the grammar (``"custom"``, ``"Poisson10"``) needs ``mask`` (any shape, 1 = sampled): its pattern
    is then ``UNKNOWN`` and R the measured ``size / sum``.
    """
    try:
        mn = MaskName.of(mask_name.strip() if isinstance(mask_name, str) else mask_name)
    except ValueError as err:
        if mask is None:
            raise ValueError(f"{err}; and no mask was given to measure the acceleration") from None
    else:
        return encode_undersampling(mn.pattern, mn.R)
    n = float(np.count_nonzero(mask))
    if n == 0:
        raise ValueError(f"mask for {mask_name!r} samples nothing")
    return encode_undersampling(mask_name if mask_name in PATTERN_VOCAB else None, mask.size / n)


def drop_tokens(tokens: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each token by ``UNKNOWN`` with probability ``p`` (training-time prompt dropout).

    Parameters
    ----------
    tokens: LongTensor of any shape.
    """
    if p <= 0:
        return tokens
    drop = torch.rand(tokens.shape, generator=generator, device=tokens.device) < p
    return torch.where(drop, torch.zeros_like(tokens), tokens)


# ---------------------------------------------------------------------------------------------
# Learned embeddings
# ---------------------------------------------------------------------------------------------


@dataclass
class PromptConfig:
    """Sizes of the prompt encoder. Vocabulary sizes include the UNKNOWN token."""

    scan_dim: int = 32
    us_dim: int = 16
    token_dim: int = 8
    scan_vocab: tuple[int, ...] = (
        len(MODALITY_VOCAB) + 1, len(VIEW_VOCAB) + 1, len(FIELD_STRENGTH_VOCAB) + 1,
        len(VENDOR_VOCAB) + 1, len(SCANNER_VOCAB) + 1,
    )
    us_vocab: tuple[int, ...] = (len(PATTERN_VOCAB) + 1, len(R_VOCAB) + 1)


class PromptEncoder(nn.Module):
    """Embeds scan and undersampling tokens into two vectors.

    ``forward(scan_tokens (B, 5) long, us_tokens (B, 2) long, us_cont (B, 1) float)``
    returns ``(scan_vec (B, scan_dim), us_vec (B, us_dim))``. Tokens outside a field's vocabulary are
    treated as ``UNKNOWN`` (clamped to 0) so that a newer prompt vocabulary never crashes an older model.
    """

    def __init__(self, cfg: PromptConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.scan_emb = nn.ModuleList(nn.Embedding(n, cfg.token_dim) for n in cfg.scan_vocab)
        self.us_emb = nn.ModuleList(nn.Embedding(n, cfg.token_dim) for n in cfg.us_vocab)
        self.scan_mlp = nn.Sequential(
            nn.Linear(cfg.token_dim * len(cfg.scan_vocab), cfg.scan_dim), nn.GELU(),
            nn.Linear(cfg.scan_dim, cfg.scan_dim),
        )
        self.us_mlp = nn.Sequential(
            nn.Linear(cfg.token_dim * len(cfg.us_vocab) + 1, cfg.us_dim), nn.GELU(), nn.Linear(cfg.us_dim, cfg.us_dim)
        )

    @staticmethod
    def _embed(tokens: torch.Tensor, tables: nn.ModuleList, what: str) -> torch.Tensor:
        if tokens.ndim != 2 or tokens.shape[1] != len(tables):
            raise ValueError(f"{what} must be (B, {len(tables)}) integer tokens, got shape {tuple(tokens.shape)}")
        parts = []
        for i, table in enumerate(tables):
            t = tokens[:, i].long()
            t = torch.where((t < 0) | (t >= table.num_embeddings), torch.zeros_like(t), t)
            parts.append(table(t))
        return torch.cat(parts, dim=1)

    def forward(
        self, scan_tokens: torch.Tensor, us_tokens: torch.Tensor, us_cont: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scan = self.scan_mlp(self._embed(scan_tokens, self.scan_emb, "scan_tokens"))
        cont = us_cont.reshape(us_cont.shape[0], 1).float()
        us = self.us_mlp(torch.cat([self._embed(us_tokens, self.us_emb, "us_tokens"), cont], dim=1))
        return scan, us
