# Segmentation: MONAI U-Net on every reconstruction (reference and every method x mask), NIfTI label maps
# with the image's geometry, UK Biobank-style QC flags, and Dice/HD95 against the phantom's labels.
# config segmentation.kind picks the segmenter (builtin | monai_bundle | nnunetv2; cardiomm/segmentation/segmenters.py);
# its checkpoint or model folder is the `model` input, so a new model re-runs segmentation.
# One job per subject x method: the segmenter is loaded once for every mask (a series costs less than the load).
SEGMENTATION = config["segmentation"]  # the schema's defaults: kind builtin, path null (= models.segmentation)
SEG_MODEL = SEGMENTATION["path"] or config["models"]["segmentation"]
# The builtin checkpoint runs in segment jobs as the run's TorchScript export: same logits, no MONAI import (~8 s a
# job; cardiomm/segmentation/compiled.py). Foreign segmenters (bundle, nnU-Net) run as they are.
SEG_EXPORTED = {"exported": PLAN.segmenter_export} if SEGMENTATION["kind"] == "builtin" else {}


rule export_segmenter:
    input:
        model=SEG_MODEL,
    output:
        PLAN.segmenter_export,
    log:
        PLAN.log("export_segmenter"),
    message:
        "[segment] TorchScript export of the segmenter {input.model}"
    benchmark:
        PLAN.bench("export_segmenter")
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/export_segmenter.py"


# One rule per method family, because the reference and the null controls have one "mask" (full) and the methods
# have several (Plan.method_family).
for (_name, _method), (_suffix, _ids, _mods) in itertools.product(PLAN.method_family("segment"), GROUPS):

    rule:
        name:
            f"{_name}{_suffix}"
        wildcard_constraints:
            subject=group_subjects(_ids),
            **wf.accelerated_only(_method),
        input:
            **PLAN.seg_images(_method, mods=_mods),  # the segmented series only
            model=SEG_MODEL,
            **SEG_EXPORTED,
        output:
            **PLAN.method_segs(_method, mods=_mods),
            table=PLAN.seg_table(_method, "{subject}"),
        log:
            PLAN.log("segment", _method, "{subject}"),
        message:
            f"[segment] {_method.replace('{method}', '{wildcards.method}')} reconstructions of {{wildcards.subject}}, segmenter {{input.model}}"
        benchmark:
            PLAN.bench("segment", _method, "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
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
        [PLAN.seg_table(m, s.id) for m in PLAN.compared for s in PLAN.seg_subjects],
    output:
        report(PLAN.table("segmentation"), category="Tables", caption="../docs/report/segmentation.rst"),
    log:
        PLAN.log("segmentation_table"),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/concat_tables.py"
