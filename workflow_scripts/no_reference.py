"""rule no_reference: agreement and image quality of prospectively undersampled scans: none, and the audit says why."""

from cardiomm.stages import ingest, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config):
    ingest.no_reference(sm.params.cohort, sm.params.methods, sm.output.agreement, sm.output.image_quality,
                        sm.output.audit, sm.output.audit_html)
