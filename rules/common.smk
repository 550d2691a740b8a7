# Shared helpers: config checks beyond the schema, the subject list, wildcard constraints, final targets.
# Logic lives in cardiomm/workflow.py so that it is importable and tested without Snakemake.

from cardiomm import workflow as wf

PLAN = wf.plan_from_config(config, workdir=workflow.basedir)
COHORT = PLAN.cohort
ROOT = PLAN.root
RES = f"results/{COHORT}"


wildcard_constraints:
    cohort=r"[A-Za-z0-9_.-]+",
    subject=r"[A-Za-z0-9_.-]+",
    method=r"zerofilled|sense|varnet|cardiomm",
    modality=r"cine|t1map|t2map|t1rhomap",
    model=r"cardiomm|varnet",


def kspace_inputs(wildcards):
    return PLAN.kspace_files(wildcards.subject)


def recon_outputs(method):
    return PLAN.recon_files(method)


def final_outputs():
    return PLAN.final_targets()
