# Quantification: 11 phenotypes from the cine segmentation, 3 myocardial biomarkers from the mapping
# series (pixel-wise fits), for the reference and every method x mask; truth rows from the phantom.


for _name, _method, _masks in (("quantify_reference", "reference", ["full"]), ("quantify", "{method}", PLAN.masks)):

    rule:
        name:
            _name
        input:
            recon=[PLAN.recon(_method, mk, "{subject}", m) for mk in _masks for m in PLAN.modalities],
            seg=[PLAN.seg(_method, mk, "{subject}", m) for mk in _masks for m in PLAN.modalities],
            qc=f"{RES}/seg/{_method}/{{subject}}.csv",
            timing=_timing_inputs,
        output:
            table=f"{RES}/quant/{_method}/{{subject}}.csv",
            maps=[f"{RES}/quant/{_method}/{mk}/{{subject}}/{wf.MODALITIES[m].biomarker}_map.nii.gz"
                  for mk in _masks for m in PLAN.modalities if wf.MODALITIES[m].kind == "mapping"],
        log:
            f"logs/{COHORT}/quantify/{_method}/{{subject}}.log",
        message:
            f"[quantify] phenotypes and biomarkers, {_method.replace('{method}', '{wildcards.method}')}, {{wildcards.subject}}"
        benchmark:
            f"benchmarks/runs/{COHORT}/quantify/{_method}/{{subject}}.tsv"
        params:
            modalities=PLAN.modalities,
            ed=config["quantify"]["ed"],
            noise_floor=config["quantify"]["noise_floor"],
            method=_method,
        resources:
            mem_mb=3000,
            runtime=20,
        conda:
            "../envs/cardiomm.yaml"
        script:
            "../workflow_scripts/quantify.py"


rule indicator_tables:
    localrule: True
    input:
        quant=[f"{RES}/quant/{m}/{s.id}.csv" for m in ["reference"] + PLAN.methods for s in PLAN.subjects],
        truth=[str(s.truth_path()) for s in PLAN.subjects] if PLAN.synthetic else [],
    output:
        phenotypes=report(PLAN.table("phenotypes"), category="Tables", caption="../docs/report/phenotypes.rst"),
        biomarkers=report(PLAN.table("biomarkers"), category="Tables", caption="../docs/report/biomarkers.rst"),
    log:
        f"logs/{COHORT}/indicator_tables.log",
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/indicator_tables.py"
