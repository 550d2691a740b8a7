"""rule train_segmentation: train the segmenter on fully sampled images of the train/val subjects."""

from cardiomm.stages import job, train

sm = snakemake  # noqa: F821 - injected by Snakemake
with job.logged(sm.log[0], sm.config, threads=sm.threads):
    train.train_segmentation(sm.params.cfg, sm.params.subjects, sm.params.cohort, sm.params.modalities,
                             sm.output.ckpt, sm.output.card, sm.params.log_dir, sm.threads)
