# Quantification: 11 phenotypes from the cine segmentation, 3 myocardial biomarkers from the mapping
# series (pixel-wise fits), for the reference and every method x mask; truth rows from the phantom.
# One job per subject x method (a quantification of all masks costs about a job's start-up).


for (_name, _method), (_suffix, _ids, _mods) in itertools.product(PLAN.method_family("quantify"), GROUPS):

    rule:
        name:
            f"{_name}{_suffix}"
        wildcard_constraints:
            subject=group_subjects(_ids),
            **wf.accelerated_only(_method),
        input:
            unpack(_quant_inputs(_method)),
            timing=_timing_inputs,
        output:
            table=PLAN.quant_table(_method, "{subject}"),
            **{wf.key(*wf.unkey(k), "map"): v for k, v in PLAN.method_maps(_method, mods=_mods).items()},
        log:
            PLAN.log("quantify", _method, "{subject}"),
        message:
            f"[quantify] phenotypes and biomarkers, {_method.replace('{method}', '{wildcards.method}')}, {{wildcards.subject}}"
        benchmark:
            PLAN.bench("quantify", _method, "{subject}")
        params:
            subject=lambda wc: PLAN.subject(wc.subject),
            ed=config["quantify"]["ed"],
            noise_floor=PLAN.noise_floor,
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
        quant=[PLAN.quant_table(m, s.id) for m in PLAN.compared for s in PLAN.seg_subjects],
        truth=[str(s.truth_path()) for s in PLAN.subjects] if PLAN.synthetic else [],
    output:
        phenotypes=report(PLAN.table("phenotypes"), category="Tables", caption="../docs/report/phenotypes.rst"),
        biomarkers=report(PLAN.table("biomarkers"), category="Tables", caption="../docs/report/biomarkers.rst"),
    log:
        PLAN.log("indicator_tables"),
    params:
        splits={s.id: s.split for s in PLAN.everyone},
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/indicator_tables.py"
