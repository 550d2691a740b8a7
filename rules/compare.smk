# Comparison: image quality of every reconstruction against the fully sampled reference, agreement statistics
# of every indicator, and the clinical-indicator preservation audit.
# image_quality: one job per subject x method (each reference is read once for every mask).


rule image_quality:
    input:
        # every series the subject has, the image-only views and contrasts included
        unpack(lambda wc: PLAN.iq_inputs(wc.method, wc.subject)),
    output:
        PLAN.iq_table("{method}", "{subject}"),
    log:
        PLAN.log("image_quality", "{method}", "{subject}"),
    message:
        "[compare] image quality of {wildcards.method} on {wildcards.subject}"
    benchmark:
        PLAN.bench("image_quality", "{method}", "{subject}")
    params:
        subject=lambda wc: PLAN.subject(wc.subject),
        protocol=PLAN.iq_protocol,  # image_quality.protocol (auto: the release's official one; synthetic all-frames)
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/image_quality.py"


rule image_quality_table:
    localrule: True
    input:
        [PLAN.iq_table(m, s.id) for m in PLAN.methods for s in PLAN.subjects],
    output:
        report(PLAN.table("image_quality"), category="Tables", caption="../docs/report/image_quality.rst"),
    log:
        PLAN.log("image_quality_table"),
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/concat_tables.py"


rule agreement:
    localrule: True
    input:
        phenotypes=PLAN.table("phenotypes"),
        biomarkers=PLAN.table("biomarkers"),
    output:
        agreement=report(PLAN.table("agreement"), category="Tables", caption="../docs/report/agreement.rst"),
        audit=PLAN.audit(),
        audit_html=report(PLAN.audit("html"), category="Audit", caption="../docs/report/audit.rst"),
        heatmap=PLAN.verdict_map(),
    log:
        PLAN.log("agreement"),
    params:
        comparator=config["agreement"]["comparator"],
        tolerances=config["tolerances"],
        cohort=COHORT,
        null_control=PLAN.null_control,  # why there is none ("" when rescan runs)
        powered_n=config["agreement"]["powered_n"],
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/agreement.py"
