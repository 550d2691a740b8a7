# Shared helpers: config checks beyond the schema, the subject list, wildcard constraints, final targets.
# Logic lives in cardiomm/workflow.py so that it is importable and tested without Snakemake.

from cardiomm import workflow as wf

# jobs (also in conda envs and on cluster nodes) import the `cardiomm` package from this checkout
wf.export_pythonpath(workflow.basedir)

PLAN = wf.plan_from_config(config, workdir=workflow.basedir)
COHORT = PLAN.cohort
ROOT = PLAN.root
RES = f"results/{COHORT}"
# checkpoints this run uses: the neural methods it runs and the segmenter
USED_MODELS = {m: config["models"][m] for m in config["models"] if m in PLAN.methods or m == "segmentation"}
# a foreign segmenter (MONAI bundle / nnU-Net folder, `segmentation.path`) is what the run uses: record that
if (config.get("segmentation") or {}).get("path"):
    USED_MODELS["segmentation"] = config["segmentation"]["path"]


wildcard_constraints:
    cohort=r"[A-Za-z0-9_.-]+",
    subject=r"[A-Za-z0-9_.-]+",
    method="|".join(wf.METHODS),
    modality=r"cine|t1map|t2map|t1rhomap",
    model="|".join(wf.TRAINABLE),


def kspace_inputs(wildcards):
    return PLAN.kspace_files(wildcards.subject)


def final_outputs():
    return PLAN.final_targets()


# ---------------------------------------------------------------- input functions of the stage rules


def _recon_inputs(wc):
    files = [PLAN.undersampled(wc.subject, m, mk, w) for m in PLAN.modalities for mk in PLAN.masks
             for w in ("mask", "kus")]
    if wc.method in wf.NEURAL:
        files.append(config["models"][wc.method])
    return files


def _timing_inputs(wc):
    return PLAN.timing_files(wc.subject)


def _figure_inputs(wc):
    sid = PLAN.subjects[0].id
    files = {
        "phenotypes": PLAN.table("phenotypes"),
        "biomarkers": PLAN.table("biomarkers"),
        "image_quality": PLAN.table("image_quality"),
        "segmentation": PLAN.table("segmentation"),
        "agreement": PLAN.table("agreement"),
    }
    imgs = [PLAN.recon("reference", "full", sid, m) for m in PLAN.modalities]
    imgs += [PLAN.recon(me, mk, sid, m) for me in PLAN.methods for mk in PLAN.masks for m in PLAN.modalities]
    imgs += [PLAN.seg(me, mk, s.id, m) for me in ["reference"] + PLAN.methods for mk in PLAN.masks_for(me)
             for s in PLAN.subjects for m in PLAN.modalities[:1]]
    files["images"] = imgs
    return files


TRAIN_CFG = config.get("train", {})
_TRAIN_SUBJECTS = [s for s in PLAN.everyone if s.split in ("train", "val")]


def _training_data(wc):
    files = []
    for s in _TRAIN_SUBJECTS:
        files += [str(s.kspace_path(m)) for m in TRAIN_CFG.get("modalities", PLAN.modalities)]
        files += [str(s.label_path(m)) for m in TRAIN_CFG.get("modalities", PLAN.modalities)]
    return files


# ---------------------------------------------------------------- tuning of the classical baselines (rules/tune.smk)

_TUNE = config["tune_classical"]  # filled with the schema's defaults by validate()
_TUNE_SUBJECTS = [s for s in PLAN.everyone if s.split == "val"][: _TUNE["subjects"]]
_TUNE_MODS = _TUNE.get("modalities") or PLAN.modalities


def _tune_files(what):
    return {(s.id, m, mk): PLAN.undersampled(s.id, m, mk, what) for s in _TUNE_SUBJECTS for m in _TUNE_MODS
            for mk in PLAN.masks}


def _tune_refs():
    return {(s.id, m): PLAN.recon("reference", "full", s.id, m, "mat") for s in _TUNE_SUBJECTS for m in _TUNE_MODS}
