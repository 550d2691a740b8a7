# Comparison: image quality of every reconstruction against the fully sampled reference, agreement statistics
# of every indicator, and the clinical-indicator preservation audit.


rule image_quality:
    input:
        ref=[PLAN.recon("reference", "full", "{subject}", m, "mat") for m in PLAN.modalities],
        rec=[PLAN.recon("{method}", mk, "{subject}", m, "mat") for mk in PLAN.masks for m in PLAN.modalities],
    output:
        f"{RES}/iq/{{method}}/{{subject}}.csv",
    log:
        f"logs/{COHORT}/image_quality/{{method}}/{{subject}}.log",
    message:
        "[compare] image quality of {wildcards.method} on {wildcards.subject}"
    benchmark:
        f"benchmarks/runs/{COHORT}/image_quality/{{method}}/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
        masks=PLAN.masks,
        protocol=PLAN.iq_protocol,  # image_quality.protocol (auto: the release's official one; synthetic all-frames)
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/image_quality.py"


rule image_quality_table:
    localrule: True
    input:
        [f"{RES}/iq/{m}/{s.id}.csv" for m in PLAN.methods for s in PLAN.subjects],
    output:
        report(PLAN.table("image_quality"), category="Tables", caption="../docs/report/image_quality.rst"),
    log:
        f"logs/{COHORT}/image_quality_table.log",
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
        audit=f"{RES}/audit.md",
        audit_html=report(f"{RES}/audit.html", category="Audit", caption="../docs/report/audit.rst"),
    log:
        f"logs/{COHORT}/agreement.log",
    params:
        comparator=config["agreement"]["comparator"],
        tolerances=config["tolerances"],
        cohort=COHORT,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/agreement.py"
