"""rule quantify: phenotypes and myocardial biomarkers of one subject x method, every mask."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.get("method", "reference")
    masks, mods = plan.masks_for(method), sm.params.modalities
    recon = {(m, mk): plan.recon(method, mk, sid, m) for m in mods for mk in masks}
    seg = {(m, mk): plan.seg(method, mk, sid, m) for m in mods for mk in masks}
    stages.quantify(plan.subject(sid), method, masks, mods, recon, seg, f"{plan.res}/seg/{method}/{sid}.csv",
                    f"{plan.res}/quant/{method}", sm.output.table, ed=sm.params.ed)
