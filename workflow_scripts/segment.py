"""rule segment: MONAI segmentation, QC and Dice of every reconstruction of one subject x method."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.get("method", "reference")
    masks, mods = plan.masks_for(method), sm.params.modalities
    recon = {(m, mk): plan.recon(method, mk, sid, m) for m in mods for mk in masks}
    seg = {(m, mk): plan.seg(method, mk, sid, m) for m in mods for mk in masks}
    stages.segment(plan.subject(sid), method, masks, mods, recon, seg, sm.input.model, sm.output.table)
