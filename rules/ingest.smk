# Scanner raw data (data.layout mrd | twix; cardiomm/io/scanner_layout.py): each subject's MRD / twix files mapped
# onto the internal layout under results/<cohort>/ingested (fully sampled k-space, or for prospectively undersampled
# scans the undersampled k-space with its own mask), a sidecar per series (geometry, header values) and the mapping
# timing. Everything after it runs unchanged. Prospectively undersampled cohorts have no reference: their mask table
# is the scans' own sampling, and `no_reference` writes the (empty) agreement and image-quality tables and an audit
# that says why.

if PLAN.layout in ("mrd", "twix"):

    for _suffix, _ids, _mods in GROUPS:

        rule:
            name:
                f"ingest{_suffix}"
            wildcard_constraints:
                subject=group_subjects(_ids),
            input:
                lambda wc: [PLAN.subject(wc.subject).raw[m]["path"] for m in PLAN.mods(wc.subject)],
            output:
                **PLAN.ingest_outputs(mods=_mods),
            log:
                PLAN.log("ingest", "{subject}"),
            message:
                "[ingest] scanner raw data of {wildcards.subject}"
            benchmark:
                PLAN.bench("ingest", "{subject}")
            params:
                subject=lambda wc: PLAN.subject(wc.subject),
            resources:
                mem_mb=4000,
                runtime=20,
            conda:
                "../envs/cardiomm.yaml"
            script:
                "../workflow_scripts/ingest.py"

if PLAN.prospective:

    # these write the tables that rules mask_table, agreement and image_quality_table write for retrospective data
    ruleorder: acquired_mask_table > mask_table
    ruleorder: no_reference > agreement
    ruleorder: no_reference > image_quality_table

    rule acquired_mask_table:
        localrule: True
        input:
            **{wf.key(s.id, m, mk): PLAN.undersampled(s.id, m, mk, "mask")
               for s in PLAN.subjects for m in PLAN.mods(s.id) for mk in PLAN.masks},
        output:
            PLAN.table("masks"),
        log:
            PLAN.log("mask_table"),
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/acquired_mask_table.py"

    rule no_reference:
        localrule: True
        input:
            phenotypes=PLAN.table("phenotypes"),
            biomarkers=PLAN.table("biomarkers"),
        output:
            agreement=PLAN.table("agreement"),
            image_quality=PLAN.table("image_quality"),
            audit=PLAN.audit(),
            audit_html=PLAN.audit("html"),
        log:
            PLAN.log("agreement"),
        params:
            cohort=COHORT,
            methods=PLAN.methods,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/no_reference.py"
