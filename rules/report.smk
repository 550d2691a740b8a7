# Figures (paper style, from the tables plus one representative subject's images) and the report.
# `snakemake figures` regenerates them; `snakemake --report results/<cohort>/report.html` builds the report.


rule figures:
    input:
        unpack(_figure_inputs),
    output:
        [report(f, category="Figures", caption="../docs/report/figures.rst") for f in PLAN.figure_files()],
    log:
        f"logs/{COHORT}/figures.log",
    benchmark:
        f"benchmarks/runs/{COHORT}/figures.tsv"
    params:
        comparator=config.get("agreement", {}).get("comparator", "reference"),
        tolerances=config.get("tolerances", {}),
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
