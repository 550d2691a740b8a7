"""rule reference: fully sampled RSS reconstruction of one subject, every modality."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    stages.reference(plan.subject(sm.wildcards.subject), sm.params.modalities, list(sm.output))
