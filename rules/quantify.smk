# Quantification: 11 phenotypes from the cine segmentation, 3 myocardial biomarkers from the mapping
# series (pixel-wise fits), for the reference and every method x mask; truth rows from the phantom.


def _quant_inputs(wc):
    files = []
    for mk in PLAN.masks_for(wc.seg_method):
        for m in PLAN.modalities:
            files += [PLAN.recon(wc.seg_method, mk, wc.subject, m), PLAN.seg(wc.seg_method, mk, wc.subject, m)]
    files += [str(PLAN.subject(wc.subject).timing_path(m)) for m in PLAN.modalities
              if wf.MODALITIES[m].kind == "mapping"]
    files.append(f"{RES}/seg/{wc.seg_method}/{wc.subject}.csv")
    return files


rule quantify:
    input:
        _quant_inputs,
    output:
        table=f"{RES}/quant/{{seg_method}}/{{subject}}.csv",
    log:
        f"logs/{COHORT}/quantify/{{seg_method}}/{{subject}}.log",
    benchmark:
        f"benchmarks/runs/{COHORT}/quantify/{{seg_method}}/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
        ed=config.get("quantify", {}).get("ed", "first"),
        maps_dir=f"{RES}/quant/{{seg_method}}",
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "../workflow_scripts/quantify.py"


rule indicator_tables:
    input:
        quant=[f"{RES}/quant/{m}/{s.id}.csv" for m in ["reference"] + PLAN.methods for s in PLAN.subjects],
        truth=[str(s.truth_path()) for s in PLAN.subjects] if PLAN.synthetic else [],
    output:
        phenotypes=report(PLAN.table("phenotypes"), category="Tables", caption="../docs/report/phenotypes.rst"),
        biomarkers=report(PLAN.table("biomarkers"), category="Tables", caption="../docs/report/biomarkers.rst"),
    log:
        f"logs/{COHORT}/indicator_tables.log",
    script:
        "../workflow_scripts/indicator_tables.py"
