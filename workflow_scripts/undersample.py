"""rule undersample: masks and undersampled k-space for one subject, every modality x mask."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    stages.undersample(plan.subject(sm.wildcards.subject), sm.params.modalities, sm.params.masks, sm.params.seed,
                       list(sm.output.masks), list(sm.output.kus), sm.params.mask_source)
