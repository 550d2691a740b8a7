"""rule train_segmentation: train the MONAI U-Net on fully sampled images; write checkpoint + card."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    stages.train_segmentation(sm.params.cfg, plan, sm.params.modalities, sm.output.ckpt, sm.output.card,
                              sm.params.log_dir, sm.threads)
