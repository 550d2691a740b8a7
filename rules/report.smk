# Figures (paper style, from the tables plus one representative subject's images) and the report.
# `snakemake figures` regenerates them; `snakemake --report results/<cohort>/report.html` builds the report.


# One job per method (Bland-Altman and identity grids, from the indicator tables) and one for the images, so the
# figures are drawn in parallel, and the images beside the agreement statistics.
rule figures_method:
    input:
        phenotypes=PLAN.table("phenotypes"),
        biomarkers=PLAN.table("biomarkers"),
    output:
        **_figures(PLAN.figure_method_outputs()),
    log:
        PLAN.log("figures", "{method}"),
    message:
        "[figures] Bland-Altman and identity grids of {wildcards.method}"
    benchmark:
        PLAN.bench("figures", "{method}")
    params:
        comparator=config["agreement"]["comparator"],
        tolerances=config["tolerances"],
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/figures_method.py"


rule figures_images:
    input:
        **PLAN.figure_inputs(),
        image_quality=PLAN.table("image_quality"),
        segmentation=PLAN.table("segmentation"),
    output:
        **_figures(PLAN.figure_image_outputs()),
    log:
        PLAN.log("figures", "images"),
    message:
        "[figures] quality distributions, reconstruction panels, maps, segmentation overlays"
    benchmark:
        PLAN.bench("figures", "images")
    params:
        methods=PLAN.accelerated_methods,  # the recon panels show one image per mask (the null control has none)
        masks=PLAN.masks,
        modalities=PLAN.figure_modalities(),
        subject=PLAN.figure_subject,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/figures_images.py"


# `snakemake figures` regenerates every figure
rule figures:
    localrule: True
    input:
        PLAN.figure_files(),


rule provenance:
    localrule: True
    input:
        list(USED_MODELS.values()),
    output:
        report(PLAN.provenance_file, category="Provenance", caption="../docs/report/provenance.rst"),
    log:
        PLAN.log("provenance"),
    params:
        models=USED_MODELS,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/provenance.py"


# What each stage of this run cost (from the benchmark: files of its jobs); runs last, since its inputs are
# the run's other final outputs. Machine-dependent, so it lives outside tables/ (which are reproducible).
rule stage_costs:
    localrule: True
    input:
        done=[t for t in PLAN.final_targets() if t not in PLAN.cost_files()],
        reference=[f for s in PLAN.subjects for f in PLAN.method_images(wf.REFERENCE, s.id).values()],
    output:
        csv=report(PLAN.cost_file("csv"), category="Stage costs", caption="../docs/report/stage_costs.rst"),
        md=PLAN.cost_file("md"),
    log:
        PLAN.log("stage_costs"),
    params:
        runs=PLAN.runs,
        n_masks=len(PLAN.masks),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/stage_costs.py"
