"""rule subjects_table: every discovered subject of a real release, evaluated or why not."""

from cardiomm.cohort import write_subject_table
from cardiomm.stages import job

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    write_subject_table(sm.params.everyone, sm.params.evaluated, sm.params.skipped, sm.params.modalities,
                        sm.output[0])
