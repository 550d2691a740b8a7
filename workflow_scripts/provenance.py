"""rule provenance: code version, config hash, software versions and checkpoint hashes of this run."""

from cardiomm.stages import job, provenance

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    provenance.provenance_manifest(sm.config, dict(sm.params.models), sm.output[0])
