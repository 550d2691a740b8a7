# Tuning of the classical baselines (opt-in: `snakemake tune_classical`, not part of `rule all`): grid search of
# the cs / kttv weights on the first validation subjects; writes a table, a plot and the config lines to paste.

rule tune_classical:
    input:
        masks=list(_tune_files("mask").values()),
        kus=list(_tune_files("kus").values()),
        refs=list(_tune_refs().values()),
    output:
        table=f"{RES}/tuning/classical_grid.csv",
        summary=f"{RES}/tuning/classical_summary.csv",
        plot=f"{RES}/tuning/classical.png",
        md=f"{RES}/tuning/classical.md",
    log:
        f"logs/{COHORT}/tuning/classical.log",
    benchmark:
        f"benchmarks/runs/{COHORT}/tuning/classical.tsv"
    params:
        subjects=[s.id for s in _TUNE_SUBJECTS],
        modalities=_TUNE_MODS,
        masks=PLAN.masks,
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
