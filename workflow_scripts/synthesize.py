"""rule synthesize: render one synthetic subject in the CMRxRecon layout with its ground truth."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    stages.synthesize(sm.params.phantom, sm.wildcards.subject, str(plan.root))
