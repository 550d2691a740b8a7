"""rule quantify: phenotypes and myocardial biomarkers of one subject x method, every mask."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.get("method", "reference")
    mods = sm.params.modalities
    masks, recon, seg = plan.method_files(method, sid, mods)
    stages.quantify(plan.subject(sid), method, masks, mods, recon, seg, f"{plan.res}/seg/{method}/{sid}.csv",
                    f"{plan.res}/quant/{method}", sm.output.table, ed=sm.params.ed,
                    noise_floor=sm.params.noise_floor)
