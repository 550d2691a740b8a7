"""rule subjects_table: tables/subjects.csv of a real cohort (what was discovered, from where, what is evaluated)."""

from cardiomm import stages, workflow
from cardiomm.cohort import write_subject_table

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    write_subject_table(workflow.plan_from_config(sm.config), sm.output[0])
