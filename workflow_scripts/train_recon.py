"""rule train_recon: train CardioMM or E2E-VarNet on the cohort's train/val splits; write checkpoint + card."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    stages.train_recon(sm.wildcards.model, sm.params.cfg, plan, sm.params.modalities, sm.output.ckpt,
                       sm.output.card, sm.params.log_dir, sm.threads)
