# Undersampling: challenge-format masks (<stem>_mask_<Mask>.mat) and undersampled k-space (<stem>_kus_<Mask>.mat)
# for every evaluated subject x modality x mask: the release's own mask file where it ships one and mask_source is
# official (the default), else generated with the release's ACS width, deterministic in mask_seed.
# One job per subject: it reads each fully sampled k-space once for all masks (undersampling costs less than that).


# prospectively undersampled scans (rules/ingest.smk) bring their own mask: no undersampling
if not PLAN.prospective:

    for _suffix, _ids, _mods in GROUPS:

        rule:
            name:
                f"undersample{_suffix}"
            wildcard_constraints:
                subject=group_subjects(_ids),
            input:
                kspace_inputs,
            output:
                **PLAN.undersample_outputs(mods=_mods),
            log:
                PLAN.log("undersample", "{subject}"),
            message:
                "[undersample] masks and undersampled k-space of {wildcards.subject}"
            benchmark:
                PLAN.bench("undersample", "{subject}")
            params:
                subject=lambda wc: PLAN.subject(wc.subject),
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
        **{wf.key(s.id, m, mk): PLAN.undersampled(s.id, m, mk, "mask")
           for s in PLAN.subjects for m in PLAN.mods(s.id) for mk in PLAN.masks},
    output:
        PLAN.table("masks"),
    log:
        PLAN.log("mask_table"),
    params:
        acs=wf.acs_lines(PLAN.release),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/mask_table.py"
