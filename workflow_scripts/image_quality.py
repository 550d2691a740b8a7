"""rule image_quality: per-frame PSNR/SSIM/NMSE of one subject x method against the reference."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.method
    mods, masks = sm.params.modalities, sm.params.masks
    ref = {m: plan.recon("reference", "full", sid, m, "mat") for m in mods}
    rec = {(m, mk): plan.recon(method, mk, sid, m, "mat") for m in mods for mk in masks}
    stages.image_quality(plan.subject(sid), method, mods, masks, ref, rec, sm.output[0], sm.params.protocol)
