"""rule dicom: one subject's reconstructions, segmentations and maps as DICOM (MR images, DICOM-SEG, Parametric Map)."""

from cardiomm import stages
from cardiomm.io import dicom

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    dicom.export_subject(sm.params.subject, sm.input, sm.output[0], sm.params.dicom)
