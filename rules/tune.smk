# Tuning of the classical baselines (opt-in: `snakemake tune_classical`, not part of `rule all`): grid search of
# the cs / kttv / lps weights on the first validation subjects; writes a table, a plot and the config lines to paste.

rule tune_classical:
    input:
        **PLAN.tune_inputs([s.id for s in _TUNE_SUBJECTS], _TUNE_MODS),
    output:
        table=f"{RES}/tuning/classical_grid.csv",
        summary=f"{RES}/tuning/classical_summary.csv",
        plot=f"{RES}/tuning/classical.png",
        md=f"{RES}/tuning/classical.md",
    log:
        PLAN.log("tuning", "classical"),
    benchmark:
        PLAN.bench("tuning", "classical")
    params:
        subjects=_TUNE_SUBJECTS,
        tune=_TUNE,
        classical={m: config[m] for m in wf.CLASSICAL},
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/tune_classical.py"
