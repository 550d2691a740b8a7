"""rule provenance: code version, config hash, software versions and checkpoint hashes of this run."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.provenance_manifest(sm.config, dict(sm.params.models), sm.output[0])
