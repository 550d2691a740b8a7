# Data: the built-in synthetic cohort (generated per subject, deterministic in the config's seed).
# For real CMRxRecon data (data.synthetic: false) these rules are absent and the files must exist.

from cardiomm.cohort import Subject as _Subject

_S = _Subject("{subject}", ROOT, "test")

if PLAN.synthetic:

    rule cohort_table:
        localrule: True
        output:
            f"{ROOT}/subjects.csv",
        log:
            f"logs/{COHORT}/cohort_table.log",
        params:
            phantom=config["phantom"],
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/cohort_table.py"

    rule synthesize:
        output:
            kspace=[str(_S.kspace_path(m)) for m in wf.MODALITIES],
            timing=[str(_S.timing_path(m)) for m in wf.MODALITIES if wf.MODALITIES[m].kind == "mapping"],
            labels=[str(_S.label_path(m)) for m in wf.MODALITIES],
            truth=str(_S.truth_path()),
        log:
            f"logs/{COHORT}/synthesize/{{subject}}.log",
        message:
            "[data] synthesising subject {wildcards.subject}"
        benchmark:
            f"benchmarks/runs/{COHORT}/synthesize/{{subject}}.tsv"
        params:
            phantom=config["phantom"],
        resources:
            mem_mb=4000,
            runtime=20,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/synthesize.py"

if not PLAN.synthetic:

    rule subjects_table:
        # every discovered subject: release, metadata with its source, modalities found, evaluated or why not
        localrule: True
        output:
            PLAN.table("subjects"),
        log:
            f"logs/{COHORT}/subjects_table.log",
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/subjects_table.py"
