"""rule dicom: one subject's reconstructions, segmentations and maps as DICOM (MR images, DICOM-SEG, Parametric Map)."""

from cardiomm.stages import dicom, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    dicom.export(sm.params.subject, sm.input, sm.output[0], sm.params.dicom)
