"""rule stage_costs: per stage x method seconds per job / subject / 2D frame and peak RSS of this run."""

import os

from cardiomm.stages import job, provenance

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    provenance.stage_costs(sm.params.runs, list(sm.input.reference), sm.params.n_masks, os.cpu_count() or 1,
                           sm.output.csv, sm.output.md)
