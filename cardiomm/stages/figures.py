"""Stages of the figures: one method's agreement grids, and the images (rules/report.smk)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

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

    from cardiomm.compare.agreement import headline
    from cardiomm.compare.tolerances import tolerances_from_config
    from cardiomm.figures import plots

    ind = headline(pd.concat([pd.read_csv(tables["phenotypes"]), pd.read_csv(tables["biomarkers"])], ignore_index=True))
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

    from cardiomm.figures import images, plots
    from cardiomm.io.nifti import load_image

    def stem(*name: str) -> str:
        return _stem(outputs, key(*name))

    def load(what: str, method: str, mask: str, sid: str, mod: str) -> np.ndarray:
        return load_image(inputs[key(what, method, mask, sid, mod)])[0]

    plots.quality_distributions(pd.read_csv(tables["image_quality"]), stem("image_quality"))
    images.recon_panels(load, stem, methods, masks, modalities, subject_id)
    images.maps_figure(load, stem, methods, masks, modalities, subject_id)
    if key("segmentation", "typical") in dict(outputs.items()):  # else nothing segmented (Plan.figure_outputs)
        images.segmentation_overlays(load, stem, pd.read_csv(tables["segmentation"]), modalities[0],
                                     f"the segmentation table {tables['segmentation']}")
    _check_written(outputs)


def _check_written(outputs: Mapping[str, str]) -> None:
    missing = [f for _, f in outputs.items() if not Path(f).exists()]
    if missing:
        raise RuntimeError(f"figures not written: {missing}")
