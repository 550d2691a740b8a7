# Training of the shipped models on the training/validation splits of the cohort (fully sampled data only).
# `snakemake train_all` regenerates results/training/{cardiomm,varnet,segmentation}.pt with model cards, and
# <name>.pt of each published architecture listed in train.published (cardiomm_official needs
# train.cardiomm_official.clip_dir); `make weights` copies them into cardiomm/weights/ (what make run uses).

rule train_recon:
    input:
        _training_data,
    output:
        ckpt="results/training/{model}.pt",
        card="results/training/{model}.md",
    log:
        "logs/training/{model}.log",
    benchmark:
        "benchmarks/runs/training/{model}.tsv"
    params:
        cfg=lambda wc: TRAIN_CFG[wc.model],
        modalities=TRAIN_MODALITIES,
        subjects=_TRAIN_SUBJECTS,
        cohort=COHORT,
        log_dir="results/training/{model}_logs",
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
        ckpt="results/training/segmentation.pt",
        card="results/training/segmentation.md",
    log:
        "logs/training/segmentation.log",
    benchmark:
        "benchmarks/runs/training/segmentation.tsv"
    params:
        cfg=TRAIN_CFG["segmentation"],
        modalities=TRAIN_MODALITIES,
        subjects=_TRAIN_SUBJECTS,
        cohort=COHORT,
        log_dir="results/training/segmentation_logs",
    threads: 8  # capped by --cores on a laptop
    resources:
        mem_mb=16000,
        runtime=600,
        gpu=1,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/train_segmentation.py"


rule train_cardiomm:
    input:
        "results/training/cardiomm.pt",


rule train_varnet:
    input:
        "results/training/varnet.pt",


rule train_all:
    input:
        expand("results/training/{name}.pt", name=["segmentation", "cardiomm", "varnet", *TRAIN_CFG["published"]]),
