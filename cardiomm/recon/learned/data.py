"""Training data for the reconstruction networks: 2D frames of fully sampled k-space, undersampled on the fly.

One sample is one frame ``(t, z)`` of one modality of one subject. Each time a sample is drawn, a mask is
drawn too (pattern and R uniformly from the configured sets, seeded by ``(seed, epoch, index)`` so an epoch
is reproducible and a resumed run sees the same masks). Normalisation uses only what inference also has:
the scale is computed from the **zero-filled undersampled** image (:func:`normalisation_scale`), and the
target is the RSS of the fully sampled coil images divided by the same scale.

Memory: k-space files are read lazily and kept in a small LRU cache of whole files; the
:class:`GroupedBatchSampler` visits the frames file by file (a few files interleaved) so the cache is hit.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from cardiomm.conventions import ACS_LINES, MODALITIES, PATTERNS, MaskName, modality
from cardiomm.io.cmrxrecon import KSPACE_KEYS, read_kspace
from cardiomm.physics.coilmaps import acs_smaps, zero_filled_image
from cardiomm.physics.coils import rss
from cardiomm.physics.fft import ifft2c
from cardiomm.recon.learned.prompts import encode_scan, encode_undersampling
from cardiomm.recon.learned.sample import (  # noqa: F401 - NORM_QUANTILE, INPUT_NORMALISATION re-exported
    INPUT_NORMALISATION,
    NORM_QUANTILE,
    FrameSample,
    normalisation_scale,
    series_scale,
)

MaskFn = Callable[..., np.ndarray]


# ---------------------------------------------------------------------------------------------
# Per-frame preparation (shared with inference)
# ---------------------------------------------------------------------------------------------


def context_indices(t: int, nt: int, k: int, kind: str) -> list[int]:
    """Frames fed as temporal context to frame ``t``: ``t-k .. t-1, t+1 .. t+k``.

    Cine frames tile one cardiac cycle, so neighbours wrap around (frame ``nt-1`` precedes frame 0);
    mapping series (different contrasts) get the centre frame ``t`` repeated.
    """
    if kind == "cine":
        return [(t + d) % nt for d in [*range(-k, 0), *range(1, k + 1)]]
    return [t] * (2 * k)


def prepare_frame(
    kus: torch.Tensor,
    mask: torch.Tensor,
    t: int,
    acs: torch.Tensor,
    temporal_context: int = 0,
    kind: str = "cine",
    kfull: torch.Tensor | None = None,
) -> FrameSample:
    """Network inputs of frame ``t`` of one slice (without prompt tokens: the caller adds them).

    Parameters
    ----------
    kus: complex ``(nt, C, H, W)`` k-space of the slice (values outside ``mask`` are ignored).
    mask: ``(nt, H, W)``, non-zero = sampled.
    t: frame index.
    acs: bool ``(H, W)`` ACS region (intersected with the frame's mask).
    temporal_context: neighbours on each side (0 = none).
    kind: ``"cine"`` or ``"mapping"`` (see :func:`context_indices`).
    kfull: optional complex ``(C, H, W)`` fully sampled frame; adds ``target``.

    Returns
    -------
    :class:`~cardiomm.recon.learned.sample.FrameSample` with ``kspace`` complex64 ``(C, H, W)`` (normalised, zero
    outside the mask), ``mask`` float32 ``(1, H, W)``, ``acs`` bool ``(1, H, W)``, ``scale`` float32 ``()``, ``context``
    complex64 ``(2k, H, W)`` if ``temporal_context > 0``, ``target`` float32 ``(H, W)`` if ``kfull`` is given.
    """
    m = mask[t] > 0
    k_t = torch.where(m, kus[t], torch.zeros((), dtype=kus.dtype))
    scale = normalisation_scale(k_t)
    acs_t = acs.bool() & m
    context = target = None
    if temporal_context > 0:
        idx = context_indices(t, kus.shape[0], temporal_context, kind)
        smaps = acs_smaps(k_t, acs_t[None])
        kn = torch.where(mask[idx, None] > 0, kus[idx], torch.zeros((), dtype=kus.dtype))
        context = (zero_filled_image(kn, smaps[None]) / scale).to(torch.complex64)
    if kfull is not None:
        target = (rss(ifft2c(kfull)) / scale).float()
    return FrameSample(kspace=(k_t / scale).to(torch.complex64), mask=m.float()[None], acs=acs_t[None],
                       scale=scale.float(), context=context, target=target)


def prepare_series(
    kus: torch.Tensor,
    mask: torch.Tensor,
    acs: torch.Tensor,
    kind: str = "cine",
    kfull: torch.Tensor | None = None,
) -> FrameSample:
    """The series sample of one slice (the input of a series network: training and inference alike).

    Parameters
    ----------
    kus: complex ``(T, C, H, W)`` k-space of the slice (values outside ``mask`` are ignored).
    mask: ``(T, H, W)``, non-zero = sampled.
    acs: bool ``(H, W)`` ACS region (intersected with the points some frame sampled).
    kind: ``"cine"`` (periodic time: ``circular``) or ``"mapping"``.
    kfull: optional complex ``(T, C, H, W)`` fully sampled series; adds ``target`` ``(T, H, W)``.

    Returns
    -------
    Series :class:`~cardiomm.recon.learned.sample.FrameSample`: ``adjacent`` complex64 ``(T, C, H, W)`` and
    ``adjacent_mask`` float32 ``(T, H, W)``, divided by one :func:`series_scale`; ``kspace`` complex64 ``(C, H, W)``
    the time average of the sampled data (where sampled) and ``mask`` ``(1, H, W)`` the union of the masks;
    ``acs`` bool ``(1, H, W)``, ``scale`` float32 ``()``, ``circular`` bool ``()``.
    """
    if kus.ndim != 4 or tuple(mask.shape) != (kus.shape[0], *kus.shape[-2:]):
        raise ValueError(f"prepare_series: kspace (T, C, H, W) {tuple(kus.shape)} and mask (T, H, W) "
                         f"{tuple(mask.shape)} disagree")
    m = mask > 0
    k = torch.where(m[:, None], kus, torch.zeros((), dtype=kus.dtype))
    scale = series_scale(k)
    hits = m.sum(0)
    k_avg = k.sum(0) / hits.clamp_min(1).to(k.real.dtype)
    target = None if kfull is None else (rss(ifft2c(kfull)) / scale).float()
    return FrameSample(kspace=(k_avg / scale).to(torch.complex64), mask=(hits > 0).float()[None],
                       acs=(acs.bool() & (hits > 0))[None], scale=scale.float(),
                       adjacent=(k / scale).to(torch.complex64), adjacent_mask=m.float(), target=target,
                       circular=torch.tensor(kind == "cine"))


# ---------------------------------------------------------------------------------------------
# Masks (the sampling module is imported lazily so this module loads without it)
# ---------------------------------------------------------------------------------------------


def default_mask_fns() -> tuple[MaskFn, MaskFn]:
    """``(make_mask, acs_mask)`` from :mod:`cardiomm.sampling.masks`."""
    from cardiomm.sampling.masks import acs_mask, make_mask

    return make_mask, acs_mask


def kspace_shape(path) -> tuple[int, ...]:  # noqa: ANN001 - str | PathLike
    """Shape ``(nt, nz, nc, ny, nx)`` of a k-space file without reading its data (falls back to reading)."""
    try:
        with h5py.File(path, "r") as f:
            for key in (*KSPACE_KEYS, *sorted(k for k in f if k.startswith("kspace_sub"))):
                if key in f and len(f[key].shape) == 5:
                    return tuple(int(s) for s in f[key].shape)
    except OSError:
        pass
    return read_kspace(path).shape  # raises a clear CMRxReconFileError for bad files


# ---------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameRef:
    """One training frame: subject index, modality, frame ``t`` and slice ``z``."""

    subject: int
    modality: str
    t: int
    z: int


class FrameDataset(Dataset):
    """2D frames of a list of subjects, undersampled on the fly.

    Parameters
    ----------
    subjects: :class:`cardiomm.cohort.Subject` list; subjects without a modality's file are skipped.
    modalities: modality names (keys of :data:`cardiomm.conventions.MODALITIES`).
    patterns, accelerations: masks are drawn uniformly from ``<pattern><R>``.
    max_frames_per_subject: at most this many frames per subject and modality (spread over t and z,
        chosen once with ``seed``); ``None`` = all.
    seed: base seed; masks depend on ``(seed, epoch, index)``.
    temporal_context: neighbours on each side added as ``context`` (0 = none).
    fixed_masks: ignore the epoch (validation: the same masks every epoch).
    cache_files: k-space files kept in memory.
    acs_lines: ACS width passed to the mask generator.
    mask_fns: ``(make_mask, acs_mask)`` with the signatures of :mod:`cardiomm.sampling.masks` (tests).
    adjacent: ``F > 0`` (odd) adds the published architectures' inputs: ``adjacent``, ``adjacent_mask``,
        ``square_acs``, ``acs_width`` (see :class:`~cardiomm.recon.learned.sample.FrameSample`).
    text_fn: ``(meta with modality, mask name) -> (2, D)`` text features, added as ``text`` (``cardiomm_official``).
    series: one sample per slice, every frame of it (:func:`prepare_series`; the series networks); then
        ``max_frames_per_subject`` keeps ``max(1, max_frames_per_subject // T)`` slices per subject and modality,
        the same frame budget.
    """

    def __init__(
        self,
        subjects: Sequence,
        modalities: Sequence[str],
        patterns: Sequence[str] = PATTERNS,
        accelerations: Sequence[int] = (4, 8, 16, 24),
        max_frames_per_subject: int | None = None,
        seed: int = 0,
        temporal_context: int = 0,
        fixed_masks: bool = False,
        cache_files: int = 2,
        acs_lines: int = ACS_LINES,
        mask_fns: tuple[MaskFn, MaskFn] | None = None,
        adjacent: int = 0,
        text_fn: Callable[[Mapping, str], torch.Tensor] | None = None,
        series: bool = False,
    ) -> None:
        if series and (adjacent or temporal_context):
            raise ValueError("FrameDataset: a series dataset takes every frame already (no adjacent, temporal_context)")
        self.series = bool(series)
        if adjacent < 0 or (adjacent and adjacent % 2 == 0):
            raise ValueError(f"FrameDataset: adjacent must be 0 or odd, got {adjacent}")
        self.adjacent, self.text_fn = int(adjacent), text_fn
        for mod in modalities:
            modality(mod)  # clear KeyError for unknown names
        bad = [p for p in patterns if p not in PATTERNS]
        if bad or not patterns:
            raise ValueError(f"patterns must be a non-empty subset of {PATTERNS}, got {list(patterns)}")
        if not accelerations or any(int(r) < 2 for r in accelerations):
            raise ValueError(f"accelerations must be integers >= 2, got {list(accelerations)}")
        self.subjects = list(subjects)
        self.patterns = tuple(patterns)
        self.accelerations = tuple(int(r) for r in accelerations)
        self.seed = int(seed)
        self.epoch = 0
        self.temporal_context = int(temporal_context)
        self.fixed_masks = fixed_masks
        self.acs_lines = acs_lines
        self._mask_fns = mask_fns
        self._cache: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self.cache_files = max(int(cache_files), 1)
        self.frames: list[FrameRef] = []
        self.shapes: dict[tuple[int, str], tuple[int, ...]] = {}
        rng = np.random.default_rng(self.seed)
        for si, subj in enumerate(self.subjects):
            for mod in modalities:
                if not subj.has(mod):
                    continue
                shape = kspace_shape(subj.kspace_path(mod))
                self.shapes[(si, mod)] = shape
                nt, nz = shape[0], shape[1]
                pairs = [(0, z) for z in range(nz)] if series else [(t, z) for z in range(nz) for t in range(nt)]
                cap = max_frames_per_subject
                if cap is not None and series:
                    cap = max(1, cap // nt)
                if cap is not None and len(pairs) > cap:
                    keep = np.sort(rng.choice(len(pairs), size=cap, replace=False))
                    pairs = [pairs[i] for i in keep]
                self.frames += [FrameRef(si, mod, t, z) for t, z in pairs]
        if not self.frames:
            raise ValueError(f"no frames: none of {len(self.subjects)} subjects has any of {list(modalities)}")

    def __len__(self) -> int:
        return len(self.frames)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose masks are drawn (no effect with ``fixed_masks``)."""
        self.epoch = int(epoch)

    def _kspace(self, key: tuple[int, str]) -> np.ndarray:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        arr = read_kspace(self.subjects[key[0]].kspace_path(key[1]))
        self._cache[key] = arr
        while len(self._cache) > self.cache_files:
            self._cache.popitem(last=False)
        return arr

    def draw_mask(self, index: int, nt: int, ny: int, nx: int) -> tuple[str, np.ndarray, np.ndarray]:
        """Mask of sample ``index`` in the current epoch: ``(name, mask (nt, ny, nx) uint8, acs (ny, nx) bool)``."""
        make_mask, acs_mask = self._mask_fns or default_mask_fns()
        epoch = 0 if self.fixed_masks else self.epoch
        rng = np.random.default_rng([self.seed, epoch, index])
        pattern = self.patterns[rng.integers(len(self.patterns))]
        name = f"{pattern}{self.accelerations[rng.integers(len(self.accelerations))]}"
        mask = make_mask(name, nt, ny, nx, seed=int(rng.integers(2**31 - 1)), acs=self.acs_lines)
        return name, mask, acs_mask(name, ny, nx, acs=self.acs_lines)

    def __getitem__(self, index: int) -> FrameSample:
        ref = self.frames[index]
        subj = self.subjects[ref.subject]
        k = self._kspace((ref.subject, ref.modality))
        nt, _, _, ny, nx = k.shape
        name, mask, acs = self.draw_mask(index, nt, ny, nx)
        kslice = torch.from_numpy(np.ascontiguousarray(k[:, ref.z]))
        if self.series:
            return prepare_series(kslice, torch.from_numpy(mask), torch.from_numpy(acs),
                                  MODALITIES[ref.modality].kind, kfull=kslice)
        sample = prepare_frame(
            kslice, torch.from_numpy(mask), ref.t, torch.from_numpy(acs), self.temporal_context,
            MODALITIES[ref.modality].kind, kfull=kslice[ref.t],
        )
        mname = MaskName.of(name)
        us_tokens, us_cont = encode_undersampling(mname.pattern, mname.R)
        sample = sample.replace(scan_tokens=torch.tensor(encode_scan(subj.meta, ref.modality), dtype=torch.long),
                                us_tokens=torch.tensor(us_tokens, dtype=torch.long),
                                us_cont=torch.tensor([us_cont], dtype=torch.float32))
        if self.adjacent:
            from cardiomm.recon.learned.infer_published import adjacent_frames, square_acs

            idx = adjacent_frames(ref.t, nt, self.adjacent)
            m = torch.from_numpy(mask[idx] > 0)
            k_adj = torch.where(m[:, None], kslice[idx], torch.zeros((), dtype=kslice.dtype)) / sample.scale
            sample = sample.replace(adjacent=k_adj.to(torch.complex64), adjacent_mask=m.float(),
                                    square_acs=torch.tensor(square_acs(name)),
                                    acs_width=torch.tensor(int(self.acs_lines)))
        if self.text_fn is not None:
            sample = sample.replace(text=self.text_fn({**subj.meta, "modality": ref.modality}, name).float())
        return sample


class GroupedBatchSampler(Sampler[list[int]]):
    """Batches drawn file by file so the dataset's LRU cache is hit.

    Per epoch (seeded by ``(seed, epoch)``): the files are shuffled, ``window`` files at a time are opened,
    their frames shuffled and cut into batches; batches never mix files, so every batch has one image size.
    """

    def __init__(self, dataset: FrameDataset, batch_size: int, seed: int = 0, window: int | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.window = int(window or dataset.cache_files)
        self.epoch = 0
        groups: dict[tuple[int, str], list[int]] = {}
        for i, ref in enumerate(dataset.frames):
            groups.setdefault((ref.subject, ref.modality), []).append(i)
        self.groups = list(groups.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return sum(math.ceil(len(g) / self.batch_size) for g in self.groups)

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch, 7919])
        order = rng.permutation(len(self.groups))
        for w in range(0, len(order), self.window):
            batches = []
            for gi in order[w: w + self.window]:
                g = [self.groups[gi][j] for j in rng.permutation(len(self.groups[gi]))]
                batches += [g[i: i + self.batch_size] for i in range(0, len(g), self.batch_size)]
            for bi in rng.permutation(len(batches)):
                yield batches[bi]
