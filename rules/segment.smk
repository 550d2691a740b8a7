# Segmentation: MONAI U-Net on every reconstruction (reference and every method x mask), NIfTI label maps
# with the image's geometry, UK Biobank-style QC flags, and Dice/HD95 against the phantom's labels.


def _seg_inputs(wc):
    files = [PLAN.recon(wc.seg_method, mk, wc.subject, m) for mk in PLAN.masks_for(wc.seg_method)
             for m in PLAN.modalities]
    files.append(config["models"]["segmentation"])
    return files


rule segment:
    input:
        _seg_inputs,
    output:
        seg=PLAN.seg_files("{seg_method}"),
        table=f"{RES}/seg/{{seg_method}}/{{subject}}.csv",
    log:
        f"logs/{COHORT}/segment/{{seg_method}}/{{subject}}.log",
    benchmark:
        f"benchmarks/runs/{COHORT}/segment/{{seg_method}}/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
        model=config["models"]["segmentation"],
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../workflow_scripts/segment.py"


rule segmentation_table:
    input:
        [f"{RES}/seg/{m}/{s.id}.csv" for m in ["reference"] + PLAN.methods for s in PLAN.subjects],
    output:
        report(PLAN.table("segmentation"), category="Tables", caption="../docs/report/segmentation.rst"),
    log:
        f"logs/{COHORT}/segmentation_table.log",
    script:
        "../workflow_scripts/concat_tables.py"
