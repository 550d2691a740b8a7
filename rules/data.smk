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
            PLAN.log("cohort_table"),
        params:
            phantom=config["phantom"],
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/cohort_table.py"

    # The evaluated subjects of a run with the null control are acquired twice (rule synthesize_twice: a second
    # k-space per series, same object and coils, fresh noise); the others once (rule synthesize).
    _TWICE = PLAN.rescan_subjects
    for _name, _ids, _twice in (("synthesize", [s.id for s in PLAN.everyone if s.id not in _TWICE], False),
                                ("synthesize_twice", _TWICE, True)):
        if not _ids:
            continue

        rule:
            name:
                _name
            wildcard_constraints:
                subject=group_subjects(_ids),
            output:
                # the phantom renders the segmented series (cine SAX, T1/T2/T1rho maps), not the image-only views
                kspace=[str(_S.kspace_path(m)) for m in wf.SEGMENTED_MODALITIES],
                timing=[str(_S.timing_path(m)) for m in wf.MAPPING_MODALITIES],
                labels=[str(_S.label_path(m)) for m in wf.SEGMENTED_MODALITIES],
                truth=str(_S.truth_path()),
                truth_maps=[str(_S.truth_map_path(wf.MODALITIES[m].biomarker)) for m in wf.MAPPING_MODALITIES],
                **({"repeats": [str(_S.rescan_path(m)) for m in wf.SEGMENTED_MODALITIES]} if _twice else {}),
            log:
                PLAN.log("synthesize", "{subject}"),
            message:
                "[data] synthesising subject {wildcards.subject}"
            benchmark:
                PLAN.bench("synthesize", "{subject}")
            params:
                phantom=config["phantom"],
                root=lambda wc, output: output.truth.rsplit("/GroundTruth/", 1)[0],  # the cohort root
                rescan=_twice,
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
        params:
            everyone=PLAN.everyone,
            evaluated=[s.id for s in PLAN.subjects],
            skipped=PLAN.skipped or {},
            modalities=PLAN.modalities,
        log:
            PLAN.log("subjects_table"),
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/subjects_table.py"
