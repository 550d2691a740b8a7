"""rule ingest: one subject's MRD / twix files in the internal layout (k-space or own mask, sidecar, timing)."""

from cardiomm.stages import ingest, job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    ingest.ingest(sm.params.subject, sm.output)
