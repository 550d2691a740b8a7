# Tuning of the classical baselines (opt-in: `snakemake tune_classical`, not part of `rule all`): grid search of
# the cs / kttv weights on the first validation subjects; writes a table, a plot and the config lines to paste.

_TUNE = config["tune_classical"]  # filled with the schema's defaults by validate()
_TUNE_SUBJECTS = [s for s in PLAN.everyone if s.split == "val"][: _TUNE["subjects"]]
_TUNE_MODS = _TUNE.get("modalities") or PLAN.modalities


def _tune_files(what):
    return {(s.id, m, mk): PLAN.undersampled(s.id, m, mk, what) for s in _TUNE_SUBJECTS for m in _TUNE_MODS
            for mk in PLAN.masks}


def _tune_refs():
    return {(s.id, m): PLAN.recon("reference", "full", s.id, m, "mat") for s in _TUNE_SUBJECTS for m in _TUNE_MODS}


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
        classical={m: config.get(m, {}) for m in wf.CLASSICAL},
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/tune_classical.py"
