"""rule segment: MONAI segmentation, QC and Dice of every reconstruction of one subject x method."""

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config, threads=sm.threads):
    plan = workflow.plan_from_config(sm.config)
    sid, method = sm.wildcards.subject, sm.wildcards.get("method", "reference")
    mods = sm.params.modalities
    masks, recon, seg = plan.method_files(method, sid, mods)
    stages.segment(plan.subject(sid), method, masks, mods, recon, seg, sm.input.model, sm.output.table,
                   segmentation=sm.params.segmentation, ed=sm.params.ed)
