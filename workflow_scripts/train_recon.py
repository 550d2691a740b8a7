"""rule train_recon: train CardioMM or E2E-VarNet on the cohort's train/val subjects."""

from cardiomm import stages

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    stages.train_recon(sm.wildcards.model, sm.params.cfg, sm.params.subjects, sm.params.cohort, sm.params.modalities,
                       sm.output.ckpt, sm.output.card, sm.params.log_dir, sm.threads)
