# Reconstruction: the fully sampled reference (RSS) and every method x mask, written as the challenge's
# `reconimage` .mat and as NIfTI with true geometry. Neural methods use the GPU when present.


rule reference:
    input:
        kspace_inputs,
    output:
        PLAN.recon_files("reference"),
    log:
        f"logs/{COHORT}/recon/reference/{{subject}}.log",
    message:
        "[recon] fully sampled reference of {wildcards.subject}"
    benchmark:
        f"benchmarks/runs/{COHORT}/reference/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/reference.py"


rule recon:
    input:
        _recon_inputs,
    output:
        PLAN.recon_files("{method}"),
    log:
        f"logs/{COHORT}/recon/{{method}}/{{subject}}.log",
    message:
        "[recon] {wildcards.method} on {wildcards.subject}, every mask (progress: {log})"
    benchmark:
        f"benchmarks/runs/{COHORT}/recon/{{method}}/{{subject}}.tsv"
    params:
        modalities=PLAN.modalities,
        masks=PLAN.masks,
        sense=config["sense"],
        classical={m: config[m] for m in wf.CLASSICAL},
        models=config["models"],
        published=config["published"],
    threads: 1
    resources:
        mem_mb=6000,
        runtime=60,
        gpu=lambda wc: 1 if wc.method in wf.NEURAL else 0,
    conda:
        "../envs/cardiomm.yaml"
    script:
        "../workflow_scripts/recon.py"
