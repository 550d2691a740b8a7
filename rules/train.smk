# Training of the shipped models on the training/validation splits of the cohort (fully sampled data only).
# `snakemake train_all` regenerates the segmenter and the networks this pipeline ships (cardiomm.methods.TRAINED)
# with model cards, and <name>.pt of each published architecture listed in train.published (a text-prompted one needs
# train.<name>.clip_dir); `make weights` copies them into cardiomm/weights/ (what make run uses). Every path is
# the Plan's (cardiomm/workflow.py: results/training/).

rule train_recon:
    input:
        _training_data,
    output:
        ckpt=PLAN.checkpoint("{model}"),
        card=PLAN.model_card("{model}"),
    log:
        PLAN.training_log("{model}"),
    benchmark:
        PLAN.training_bench("{model}")
    params:
        cfg=lambda wc: TRAIN_CFG[wc.model],
        modalities=TRAIN_MODALITIES,
        subjects=_TRAIN_SUBJECTS,
        cohort=COHORT,
        log_dir=PLAN.training_log_dir("{model}"),
    threads: 8  # capped by --cores on a laptop
    resources:
        mem_mb=16000,
        runtime=600,
        gpu=1,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/train_recon.py"


rule train_segmentation:
    input:
        _training_data,
    output:
        ckpt=PLAN.checkpoint("segmentation"),
        card=PLAN.model_card("segmentation"),
    log:
        PLAN.training_log("segmentation"),
    benchmark:
        PLAN.training_bench("segmentation")
    params:
        cfg=TRAIN_CFG["segmentation"],
        modalities=TRAIN_MODALITIES,
        subjects=_TRAIN_SUBJECTS,
        cohort=COHORT,
        log_dir=PLAN.training_log_dir("segmentation"),
    threads: 8  # capped by --cores on a laptop
    resources:
        mem_mb=16000,
        runtime=600,
        gpu=1,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/train_segmentation.py"


# `snakemake train_<name>`: one shipped network
for _name in wf.TRAINED:

    rule:
        name:
            f"train_{_name}"
        input:
            PLAN.checkpoint(_name),


rule train_all:
    input:
        PLAN.training_targets(),
