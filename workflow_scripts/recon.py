"""rule recon: reconstruct one subject with one method, every mask x modality."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.method
    masks, mods = sm.params.masks, sm.params.modalities
    mask_files = {(m, mk): plan.undersampled(sid, m, mk, "mask") for m in mods for mk in masks}
    kus_files = {(m, mk): plan.undersampled(sid, m, mk, "kus") for m in mods for mk in masks}
    stages.reconstruct(method, plan.subject(sid), mods, masks, mask_files, kus_files, list(sm.output),
                       sm.params.sense, sm.params.models.get(method),
                       classical_params=sm.params.classical, published=sm.params.published)
