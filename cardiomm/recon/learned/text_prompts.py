"""Text prompts of the published CardioMM: the two sentences, and the frozen CLIP text encoder from a local folder.

The official data transform writes the subject's metadata and the undersampling as two sentences (templates
of ``CardioMM_reconstruction/data/transforms_metausv3.py``; values as its ``datamapping.py`` names them)::

    "Adult cardiac MRI reconstruction.Vendor: 3.0T, Siemens, Vida. Modality: cine, short-axis."
    "Undersampling: 8x uniform."

(the missing space after "reconstruction." is the official template's). Both are encoded by a frozen CLIP
ViT-B/16 text tower (``get_text_features``: the pooled end-of-text token through the text projection, 512-d)
and then projected by the network's two heads (:class:`cardiomm.recon.learned.networks.cardiomm_official.LMHead`).

The encoder is read with ``transformers`` from a **local folder** in the Hugging Face ``clip-vit-base-patch16``
layout (``config.json``, ``model.safetensors`` or ``pytorch_model.bin``, ``vocab.json``, ``merges.txt``,
``tokenizer_config.json``...), named in the config; nothing is ever downloaded (``local_files_only``).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

import torch

from cardiomm.conventions import MaskName

__all__ = ["ClipTextEncoder", "ClipFolderError", "import_transformers", "metadata_sentence", "official_mask_type",
           "undersampling_sentence", "sentences_for"]

#: the project's modality names -> the official modality words
MODALITY_WORDS = {"cine": "cine", "t1map": "T1 mapping", "t2map": "T2 mapping", "t1rhomap": "T1 rho mapping"}
#: the project's views -> the official view words (official default for an unknown cine view: "unknown")
VIEW_WORDS = {"sax": "short-axis", "lax": "long-axis", "2ch": "long-axis", "3ch": "long-axis",
              "4ch": "long-axis", "lvot": "outflow tract"}
#: the project's mask patterns -> the official undersampling words (Gaussian is grouped with "random")
PATTERN_WORDS = {"Uniform": "uniform", "ktUniform": "uniform", "ktGaussian": "random", "Gaussian": "random",
                 "ktRadial": "radial", "Radial": "radial"}

_NEEDED = ("config.json",)
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_TOKENIZER = ("vocab.json", "merges.txt")
def _layout_help(key: str) -> str:
    """What to put in the CLIP folder, and which config key names it."""
    return ("put the Hugging Face 'openai/clip-vit-base-patch16' snapshot there: config.json, "
            "model.safetensors (or pytorch_model.bin), vocab.json, merges.txt, tokenizer_config.json, "
            "special_tokens_map.json (e.g. `huggingface-cli download openai/clip-vit-base-patch16 --local-dir "
            "<folder>` on a machine with network access), and name the folder in the config key "
            f"{key}")


def import_transformers():  # noqa: ANN201 - the transformers module
    """``transformers``, made importable when an installed ``torchvision`` is broken.

    CLIP's text tower needs no torchvision, but ``transformers`` imports it for image processing whenever it is
    installed; a torchvision built for another torch (``import torchvision`` raising
    ``RuntimeError: operator torchvision::nms does not exist``) would then break the text model too. In that
    case torchvision is marked absent (``sys.modules["torchvision"] = None``) before ``transformers`` looks.
    """
    if sys.modules.get("torchvision", False) is not None:
        try:
            importlib.import_module("torchvision")
        except ModuleNotFoundError:
            pass
        except Exception:  # noqa: BLE001 - a broken build raises RuntimeError, a second try other errors
            for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
                del sys.modules[name]
            sys.modules["torchvision"] = None  # type: ignore[assignment]
    try:
        return importlib.import_module("transformers")
    except ImportError as err:  # pragma: no cover - transformers is pinned in requirements.txt
        raise ImportError("the official CardioMM's text encoder needs `transformers` (requirements.txt)") from err


class ClipFolderError(FileNotFoundError):
    """The configured CLIP folder is missing or incomplete; the message says what to put where."""


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip()).replace("\n", "")


def _field_words(value: object) -> str:
    """``3.0`` -> ``"3.0T"``, ``1.5`` -> ``"1.5T"``, ``0.55`` -> ``"0.55T"``; unknown -> ``"unknown"``."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unknown"
    if math.isnan(v):
        return "unknown"
    return f"{v:.1f}T" if round(v, 1) == v else f"{v:g}T"


def _word(value: object) -> str:
    s = "" if value is None else str(value).strip()
    return s if s and s.lower() not in ("nan", "none") else "unknown"


def metadata_sentence(meta: Mapping[str, object]) -> str:
    """The official metadata sentence from the project's scan metadata.

    ``meta`` keys: ``modality`` (``cine``/``t1map``/``t2map``/``t1rhomap``), ``view``, ``vendor``, ``scanner``,
    ``field_strength_T``, optional ``lifespan`` (default ``Adult``, as the official mapping). Missing values
    are written ``unknown``.
    """
    modality = MODALITY_WORDS.get(str(meta.get("modality", "")).lower(), _word(meta.get("modality")))
    view = VIEW_WORDS.get(str(meta.get("view", "")).lower())
    if view is None:
        view = "unknown" if modality == "cine" else "short-axis"  # the official defaults
    text = (f"{_word(meta.get('lifespan', 'Adult'))} cardiac MRI reconstruction."
            f"Vendor: {_field_words(meta.get('field_strength_T'))}, {_word(meta.get('vendor'))}, "
            f"{_word(meta.get('scanner'))}. Modality: {modality}, {view}. ")
    return _squash(text)


def official_mask_type(mask_name: str | MaskName) -> str:
    """``"ktGaussian16"`` -> ``"random"`` (the official grouping); raises ``ValueError`` for another pattern."""
    pattern = MaskName.of(mask_name).pattern
    try:
        return PATTERN_WORDS[pattern]
    except KeyError:
        raise ValueError(f"mask {mask_name!r}: pattern {pattern!r} has no official CardioMM word "
                         f"(known: {sorted(PATTERN_WORDS)})") from None


def undersampling_sentence(mask_name: str | MaskName) -> str:
    """``"ktGaussian8"`` -> ``"Undersampling: 8x random."``."""
    return _squash(f"Undersampling: {MaskName.of(mask_name).R}x {official_mask_type(mask_name)}.")


def sentences_for(meta: Mapping[str, object], mask_name: str | MaskName) -> tuple[str, str]:
    """``(metadata sentence, undersampling sentence)``."""
    return metadata_sentence(meta), undersampling_sentence(mask_name)


def check_clip_folder(folder: str | os.PathLike | None, key: str = "published.clip_dir") -> Path:
    """The folder as a :class:`Path` if it holds a CLIP model and tokenizer; else :class:`ClipFolderError`."""
    if folder is None or str(folder) == "":
        raise ClipFolderError(f"{key} is not set: the official CardioMM needs the CLIP text encoder; "
                              + _layout_help(key))
    path = Path(folder)
    if not path.is_dir():
        raise ClipFolderError(f"{key} = {str(path)!r} is not a folder; " + _layout_help(key))
    missing = [n for n in _NEEDED + _TOKENIZER if not (path / n).is_file()]
    if not any((path / n).is_file() for n in _WEIGHTS):
        missing.append(" or ".join(_WEIGHTS))
    if missing:
        raise ClipFolderError(f"{key} = {str(path)!r} lacks {missing}; " + _layout_help(key))
    return path


class ClipTextEncoder:
    """Frozen CLIP text tower + tokenizer from a local folder (never downloaded).

    ``encode(["sentence", ...])`` returns ``(n, projection_dim)`` float32 text features, as the official
    ``LanguageModel_NoAutoTokenizer`` (``get_text_features``; tokenised with padding, truncation at 512 tokens
    as the official transform asks; here capped at the model's 77 positions).
    """

    def __init__(self, folder: str | os.PathLike | None, key: str = "published.clip_dir") -> None:
        path = check_clip_folder(folder, key)
        tf = import_transformers()
        try:
            self.tokenizer = tf.CLIPTokenizer.from_pretrained(str(path), local_files_only=True)
            kwargs: dict = {"local_files_only": True}
            if json.loads((path / "config.json").read_text()).get("model_type") == "clip":
                # a full CLIPModel snapshot: the text tower's projection width is the model's projection_dim
                full = tf.CLIPConfig.from_pretrained(str(path), local_files_only=True)
                text_cfg = full.text_config
                text_cfg.projection_dim = full.projection_dim
                kwargs["config"] = text_cfg
            self.model = tf.CLIPTextModelWithProjection.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise ClipFolderError(f"{key} = {str(path)!r} could not be read as a CLIP model ({type(err).__name__}: "
                                  f"{err}); " + _layout_help(key)) from None
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dim = int(self.model.config.projection_dim)
        self.max_length = int(min(self.tokenizer.model_max_length, self.model.config.max_position_embeddings))
        self._cache: dict[str, torch.Tensor] = {}

    def encode(self, texts: list[str]) -> torch.Tensor:
        """``(len(texts), dim)`` float32; identical sentences are encoded once."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        for t in todo:  # one at a time, as the official batch of one (no padding interaction)
            tok = self.tokenizer([t], padding=True, max_length=self.max_length, truncation=True,
                                 return_tensors="pt")
            with torch.no_grad():
                self._cache[t] = self.model(**tok).text_embeds[0].float()
        return torch.stack([self._cache[t] for t in texts])
