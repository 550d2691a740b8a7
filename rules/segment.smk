# Segmentation: MONAI U-Net on every reconstruction (reference and every method x mask), NIfTI label maps
# with the image's geometry, UK Biobank-style QC flags, and Dice/HD95 against the phantom's labels.
# config segmentation.kind picks the segmenter (builtin | monai_bundle | nnunetv2; cardiomm/segmentation/segmenters.py);
# its checkpoint or model folder is the `model` input, so a new model re-runs segmentation.
SEGMENTATION = config["segmentation"]  # the schema's defaults: kind builtin, path null (= models.segmentation)
SEG_MODEL = SEGMENTATION["path"] or config["models"]["segmentation"]


# One rule per method family, because the reference has one "mask" (full) and the methods have several.
for _name, _method, _masks in (("segment_reference", "reference", ["full"]), ("segment", "{method}", PLAN.masks)):

    rule:
        name:
            _name
        input:
            recon=[PLAN.recon(_method, mk, "{subject}", m) for mk in _masks for m in PLAN.modalities],
            model=SEG_MODEL,
        output:
            seg=[PLAN.seg(_method, mk, "{subject}", m) for mk in _masks for m in PLAN.modalities],
            table=f"{RES}/seg/{_method}/{{subject}}.csv",
        log:
            f"logs/{COHORT}/segment/{_method}/{{subject}}.log",
        message:
            f"[segment] {_method.replace('{method}', '{wildcards.method}')} reconstructions of {{wildcards.subject}}, segmenter {{input.model}}"
        benchmark:
            f"benchmarks/runs/{COHORT}/segment/{_method}/{{subject}}.tsv"
        params:
            modalities=PLAN.modalities,
            method=_method,
            segmentation=SEGMENTATION,
            ed=config["quantify"]["ed"],
        resources:
            mem_mb=4000,
            runtime=30,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/segment.py"


rule segmentation_table:
    localrule: True
    input:
        [f"{RES}/seg/{m}/{s.id}.csv" for m in ["reference"] + PLAN.methods for s in PLAN.subjects],
    output:
        report(PLAN.table("segmentation"), category="Tables", caption="../docs/report/segmentation.rst"),
    log:
        f"logs/{COHORT}/segmentation_table.log",
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/concat_tables.py"
