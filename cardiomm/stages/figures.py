"""Stages of the figures: one method's agreement grids, and the images (rules/report.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cardiomm.conventions import MODALITIES
from cardiomm.workflow import key

log = logging.getLogger("cardiomm")


def _stem(outputs: Mapping[str, str], name: str) -> str:
    return str(Path(outputs[name]).with_suffix(""))


def figures_method(method: str, tables: Mapping[str, str], outputs: Mapping[str, str], comparator: str,
                   tolerance_overrides: dict) -> None:
    """Bland-Altman and identity grids of one method against ``comparator``, from the indicator tables.

    ``tables``: ``phenotypes``, ``biomarkers``; ``outputs``: ``bland_altman``, ``scatter`` -> PNG
    (:meth:`cardiomm.workflow.Plan.figure_method_outputs`; a PDF twin is written beside each). One job per method.
    """
    import pandas as pd

    from cardiomm.compare.tolerances import tolerances_from_config
    from cardiomm.figures import plots

    ind = pd.concat([pd.read_csv(tables["phenotypes"]), pd.read_csv(tables["biomarkers"])], ignore_index=True)
    tol, _ = tolerances_from_config(tolerance_overrides)
    plots.bland_altman_grid(ind, comparator, method, _stem(outputs, "bland_altman"), tolerances=tol)
    plots.scatter_identity(ind, comparator, method, _stem(outputs, "scatter"))
    _check_written(outputs)


def figures_images(tables: Mapping[str, str], inputs: Mapping[str, str], outputs: Mapping[str, str],
                   methods: list[str], masks: list[str], modalities: list[str], subject_id: str) -> None:
    """PSNR/SSIM distributions, and images of the first evaluated subject: recon panels, maps, overlays.

    ``tables``: ``image_quality``, ``segmentation``; ``inputs``: ``key("image" | "seg" | "map", method, mask,
    subject, modality)`` -> NIfTI (:meth:`cardiomm.workflow.Plan.figure_inputs`); ``outputs``: figure name -> PNG
    (a PDF twin is written beside each). It needs no agreement statistics, so it runs beside them.
    """
    import pandas as pd

    from cardiomm.compare.image_quality import frame_metrics
    from cardiomm.conventions import FULLY_SAMPLED, LV_MYO, REFERENCE
    from cardiomm.figures import plots
    from cardiomm.io.nifti import load_image

    def stem(name: str) -> str:
        return _stem(outputs, name)

    def load(what: str, method: str, mask: str, sid: str, mod: str) -> np.ndarray:
        return load_image(inputs[key(what, method, mask, sid, mod)])[0]

    plots.quality_distributions(pd.read_csv(tables["image_quality"]), stem("image_quality"))

    sid = subject_id
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
                              stem(key("recon_panel", mod, mk)))

    mapping = [m for m in modalities if MODALITIES[m].analysis == "biomarker"]
    if mapping:
        maps, myo = {}, None
        for mod in mapping:
            bm = MODALITIES[mod].biomarker
            lab = load("seg", REFERENCE, FULLY_SAMPLED, sid, mod)
            z = lab.shape[1] // 2
            myo = lab[0, z] == LV_MYO if myo is None else myo
            for me, mk in [(REFERENCE, FULLY_SAMPLED)] + [(me, masks[-1]) for me in methods if me == "cardiomm"]:
                mp = load("map", me, mk, sid, mod)
                maps[f"{bm} {me}" + ("" if mk == FULLY_SAMPLED else f" {mk}")] = mp[0, z]
        plots.maps_panel(maps, myo, {}, stem("maps"), title=f"{sid}: myocardial maps (mid slice)")

    if key("segmentation", "typical") not in dict(outputs.items()):  # nothing segmented (Plan.figure_outputs)
        _check_written(outputs)
        return
    seg = pd.read_csv(tables["segmentation"])
    cine = seg[(seg["modality"] == modalities[0])].copy()
    if cine.empty:
        raise ValueError(f"figures: the segmentation table {tables['segmentation']} has no {modalities[0]} rows")
    score = cine.filter(like="dice_").mean(axis=1) if any(c.startswith("dice_") for c in cine) else None
    if score is not None and score.notna().any():
        cine["score"] = score
        cine = cine.dropna(subset=["score"]).sort_values("score")
        picks = {"worst": cine.iloc[0], "typical": cine.iloc[len(cine) // 2]}
    else:
        picks = {"worst": cine.iloc[0], "typical": cine.iloc[0]}
    for name, row in picks.items():
        where = (row["method"], row["mask"], row["subject"], row["modality"])
        img, lab = load("image", *where), load("seg", *where)
        z = lab.shape[1] // 2
        extra = f", mean Dice {row['score']:.3f}" if "score" in row else ""
        plots.segmentation_overlay(img[0, z], lab[0, z], f"{name}: {row['subject']} {row['method']} {row['mask']}"
                                   f"{extra}", stem(key("segmentation", name)))
    _check_written(outputs)


def _check_written(outputs: Mapping[str, str]) -> None:
    missing = [f for _, f in outputs.items() if not Path(f).exists()]
    if missing:
        raise RuntimeError(f"figures not written: {missing}")
