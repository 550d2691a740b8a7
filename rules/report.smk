# Figures (paper style, from the tables plus one representative subject's images) and the report.
# `snakemake figures` regenerates them; `snakemake --report results/<cohort>/report.html` builds the report.


rule figures:
    input:
        unpack(_figure_inputs),
    output:
        [report(f, category="Figures", caption="../docs/report/figures.rst") for f in PLAN.figure_files()],
    log:
        f"logs/{COHORT}/figures.log",
    message:
        "[figures] paper-style figures"
    benchmark:
        f"benchmarks/runs/{COHORT}/figures.tsv"
    params:
        comparator=config["agreement"]["comparator"],
        tolerances=config["tolerances"],
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/figures.py"


rule provenance:
    localrule: True
    input:
        list(USED_MODELS.values()),
    output:
        report(f"{RES}/provenance.json", category="Provenance", caption="../docs/report/provenance.rst"),
    log:
        f"logs/{COHORT}/provenance.log",
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
        reference=[PLAN.recon("reference", "full", s.id, m) for s in PLAN.subjects for m in PLAN.modalities],
    output:
        csv=report(f"{RES}/costs/stage_costs.csv", category="Stage costs", caption="../docs/report/stage_costs.rst"),
        md=f"{RES}/costs/stage_costs.md",
    log:
        f"logs/{COHORT}/stage_costs.log",
    params:
        runs=f"benchmarks/runs/{COHORT}",
        n_masks=len(PLAN.masks),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/stage_costs.py"
