# Undersampling: challenge-format masks (<stem>_mask_<Mask>.mat) and undersampled k-space (<stem>_kus_<Mask>.mat)
# for every evaluated subject x modality x mask: the release's own mask file where it ships one and mask_source is
# official (the default), else generated with the release's ACS width, deterministic in mask_seed.


rule undersample:
    input:
        kspace_inputs,
    output:
        masks=[PLAN.undersampled("{subject}", m, mk, "mask") for m in PLAN.modalities for mk in PLAN.masks],
        kus=[PLAN.undersampled("{subject}", m, mk, "kus") for m in PLAN.modalities for mk in PLAN.masks],
    log:
        f"logs/{COHORT}/undersample/{{subject}}.log",
    message:
        "[undersample] masks and undersampled k-space of {wildcards.subject}"
    benchmark:
        f"benchmarks/runs/{COHORT}/undersample/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
        masks=PLAN.masks,
        seed=config["mask_seed"],
        mask_source=config["mask_source"],
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/undersample.py"


rule mask_table:
    localrule: True
    input:
        [PLAN.undersampled(s.id, m, mk, "mask") for s in PLAN.subjects for m in PLAN.modalities for mk in PLAN.masks],
    output:
        PLAN.table("masks"),
    log:
        f"logs/{COHORT}/mask_table.log",
    params:
        masks=PLAN.masks,
        acs=wf.acs_lines(PLAN.release),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/mask_table.py"
