"""rule tune_classical: grid search of the cs / kttv weights on validation subjects."""

from pathlib import Path

from cardiomm import stages, workflow

sm = snakemake  # noqa: F821 - injected by Snakemake
with stages.logged(sm.log[0], sm.config):
    plan = workflow.plan_from_config(sm.config)
    subs, mods, masks = sm.params.subjects, sm.params.modalities, sm.params.masks
    files = {w: {(s, m, mk): plan.undersampled(s, m, mk, w) for s in subs for m in mods for mk in masks}
             for w in ("mask", "kus")}
    refs = {(s, m): plan.recon("reference", "full", s, m, "mat") for s in subs for m in mods}
    stages.tune_classical([plan.subject(s) for s in subs], mods, masks, files["mask"], files["kus"], refs,
                          sm.params.tune, sm.params.classical, "snakemake tune_classical", sm.output.table,
                          sm.output.summary, str(Path(sm.output.plot).with_suffix("")), sm.output.md)
