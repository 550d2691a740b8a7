"""Stage ``dicom``: one subject's reconstructions, segmentations and maps as DICOM (the writers are
:mod:`cardiomm.io.dicom`: MR images, DICOM-SEG, Parametric Map)."""

from __future__ import annotations

from collections.abc import Mapping

from cardiomm.cohort import Subject


def export(subject: Subject, inputs: Mapping[str, str], out_dir: str, dicom_cfg: Mapping) -> None:
    """Write ``results/<c>/dicom/<subject>/`` from the rule's named ``inputs``
    (:meth:`cardiomm.workflow.Plan.dicom_inputs`) with the config block ``dicom:``."""
    from cardiomm.io.dicom import export_subject

    export_subject(subject, inputs, out_dir, dicom_cfg)
