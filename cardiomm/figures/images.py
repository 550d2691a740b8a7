"""The image figures of one run: quality distributions, reconstruction panels, myocardial maps, segmentation overlays.

What each figure shows is decided here (the frame, the slice, the featured method of the maps, the typical and the
worst segmentation); the drawing is :mod:`cardiomm.figures.plots`. Images come through ``load(what, method, mask,
subject, modality)`` (``what``: ``image``, ``seg`` or ``map``; an array ``(nt, nz, ny, nx)``) and figures go to
``stem(*name)`` (the file stem of a figure named by its parts, e.g. ``("recon_panel", "cine", "Uniform8")``), so
the rule's stage (:func:`cardiomm.stages.figures.figures_images`) only reads and writes files.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from cardiomm.compare.image_quality import frame_metrics
from cardiomm.conventions import FULLY_SAMPLED, LV_MYO, MODALITIES, REFERENCE
from cardiomm.figures import plots
from cardiomm.methods import FEATURED

Load = Callable[[str, str, str, str, str], np.ndarray]
Stem = Callable[..., str]


def recon_panels(load: Load, stem: Stem, methods: list[str], masks: list[str], modalities: list[str],
                 sid: str) -> None:
    """One panel per modality x mask: every method's first frame of the mid slice beside the reference, with its
    PSNR/SSIM on that frame."""
    for mod in modalities:
        ref = load("image", REFERENCE, FULLY_SAMPLED, sid, mod)
        t, z = 0, ref.shape[1] // 2
        for mk in masks:
            images, metrics = {}, {}
            for me in methods:
                rec = load("image", me, mk, sid, mod)
                images[me] = rec[t, z]
                r = frame_metrics(ref[t:t + 1, z:z + 1], rec[t:t + 1, z:z + 1])[0]
                metrics[me] = (r["psnr"], r["ssim"])
            plots.recon_panel(images, ref[t, z], metrics, f"{sid} {mod} {mk}: slice {z}, frame {t}",
                              stem("recon_panel", mod, mk))


def maps_figure(load: Load, stem: Stem, methods: list[str], masks: list[str], modalities: list[str],
                sid: str) -> None:
    """The mid-slice biomarker maps of the reference and of the featured methods (:data:`cardiomm.methods.FEATURED`)
    at the last mask, over the reference's myocardium; nothing without a mapping modality."""
    mapping = [m for m in modalities if MODALITIES[m].analysis == "biomarker"]
    if not mapping:
        return
    maps, myo = {}, None
    for mod in mapping:
        bm = MODALITIES[mod].biomarker
        lab = load("seg", REFERENCE, FULLY_SAMPLED, sid, mod)
        z = lab.shape[1] // 2
        myo = lab[0, z] == LV_MYO if myo is None else myo
        for me, mk in [(REFERENCE, FULLY_SAMPLED)] + [(me, masks[-1]) for me in methods if me in FEATURED]:
            mp = load("map", me, mk, sid, mod)
            maps[f"{bm} {me}" + ("" if mk == FULLY_SAMPLED else f" {mk}")] = mp[0, z]
    plots.maps_panel(maps, myo, {}, stem("maps"), title=f"{sid}: myocardial maps (mid slice)")


def segmentation_cases(seg: pd.DataFrame, modality: str, source: str = "the segmentation table"
                       ) -> dict[str, pd.Series]:
    """The ``worst`` and the ``typical`` (median) case of ``modality`` by mean Dice (``score``), or the first row
    twice when no Dice is known (real data without labels)."""
    cases = seg[(seg["modality"] == modality)].copy()
    if cases.empty:
        raise ValueError(f"figures: {source} has no {modality} rows")
    score = cases.filter(like="dice_").mean(axis=1) if any(c.startswith("dice_") for c in cases) else None
    if score is not None and score.notna().any():
        cases["score"] = score
        cases = cases.dropna(subset=["score"]).sort_values("score")
        return {"worst": cases.iloc[0], "typical": cases.iloc[len(cases) // 2]}
    return {"worst": cases.iloc[0], "typical": cases.iloc[0]}


def segmentation_overlays(load: Load, stem: Stem, seg: pd.DataFrame, modality: str, source: str) -> None:
    """The label maps of :func:`segmentation_cases` over their images (first frame, mid slice)."""
    for name, row in segmentation_cases(seg, modality, source).items():
        where = (row["method"], row["mask"], row["subject"], row["modality"])
        img, lab = load("image", *where), load("seg", *where)
        z = lab.shape[1] // 2
        extra = f", mean Dice {row['score']:.3f}" if "score" in row else ""
        plots.segmentation_overlay(img[0, z], lab[0, z], f"{name}: {row['subject']} {row['method']} {row['mask']}"
                                   f"{extra}", stem("segmentation", name))
