# Tuning of the classical baselines (opt-in: `snakemake tune_classical`, not part of `rule all`): grid search of
# the weights of the methods with a tuning grid (cardiomm/methods.py) on the first validation subjects; writes a
# table, a plot and the config lines to paste.

rule tune_classical:
    input:
        **PLAN.tune_inputs([s.id for s in _TUNE_SUBJECTS], _TUNE_MODS),
    output:
        **PLAN.tuning_outputs(),
    log:
        PLAN.log("tuning", "classical"),
    benchmark:
        PLAN.bench("tuning", "classical")
    params:
        subjects=_TUNE_SUBJECTS,
        tune=_TUNE,
        classical={m: config[m] for m in wf.CLASSICAL if m in config},
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/tune_classical.py"
