# Shared helpers: config checks beyond the schema, the subject list, wildcard constraints, final targets.
# Logic lives in cardiomm/workflow.py so that it is importable and tested without Snakemake.

import itertools
import re

from cardiomm import workflow as wf

# jobs (also in conda envs and on cluster nodes) import the `cardiomm` package from this checkout
wf.export_pythonpath(workflow.basedir)

PLAN = wf.plan_from_config(config, workdir=workflow.basedir)
COHORT = PLAN.cohort
ROOT = PLAN.root
# checkpoints this run uses: the neural methods it runs and the segmenter
USED_MODELS = {m: config["models"][m] for m in config["models"] if m in PLAN.methods or m == "segmentation"}
# a foreign segmenter (MONAI bundle / nnU-Net folder, `segmentation.path`) is what the run uses: record that
if config["segmentation"]["path"]:
    USED_MODELS["segmentation"] = config["segmentation"]["path"]


wildcard_constraints:
    cohort=r"[A-Za-z0-9_.-]+",
    subject=r"[A-Za-z0-9_.-]+",
    method="|".join(wf.METHODS),
    modality="|".join(wf.MODALITIES),
    model="|".join(wf.TRAINABLE),
    mask="|".join(re.escape(m) for m in PLAN.masks),


# Rules whose outputs list one file per modality are declared once per group of subjects that share their present
# modalities (PLAN.groups(): one group, with the plain rule names, unless a real tree lacks a modality somewhere).
GROUPS = PLAN.groups()


def group_subjects(ids):
    """The `subject` wildcard constraint of one group's rules."""
    return "|".join(re.escape(i) for i in ids)



def kspace_inputs(wildcards):
    return PLAN.kspace_files(wildcards.subject)


def final_outputs():
    return PLAN.final_targets()


# ---------------------------------------------------------------- input functions of the stage rules


def _recon_inputs(wc):
    files = PLAN.recon_inputs(wc.subject, wc.mask, wc.method)
    if wc.method in wf.NEURAL:
        files["model"] = config["models"][wc.method]
    return files


def _timing_inputs(wc):
    return PLAN.timing_files(wc.subject)


def _quant_inputs(method):
    def inputs(wc):
        m = wc.method if method == "{method}" else method  # input functions get no wildcard expansion
        return PLAN.quant_inputs(m, wc.subject)

    return inputs


TRAIN_CFG = config["train"]  # the schema fills train.modalities, train.segmentation and train.<method> of each trainable
# training needs labels: the segmented series only (the image-only views and contrasts have none)
TRAIN_MODALITIES = TRAIN_CFG["modalities"] or [m for m in PLAN.modalities if wf.MODALITIES[m].segmented]
_TRAIN_SUBJECTS = [s for s in PLAN.everyone if s.split in ("train", "val")]


def _training_data(wc):
    files = []
    for s in _TRAIN_SUBJECTS:
        files += [str(s.kspace_path(m)) for m in TRAIN_MODALITIES]
        files += [str(s.label_path(m)) for m in TRAIN_MODALITIES]
    return files


# ---------------------------------------------------------------- tuning of the classical baselines (rules/tune.smk)

_TUNE = config["tune_classical"]  # filled with the schema's defaults by validate_config()
_TUNE_SUBJECTS = [s for s in PLAN.everyone if s.split == "val"][: _TUNE["subjects"]]
_TUNE_MODS = _TUNE["modalities"] or PLAN.modalities


# figure outputs of a rule, shown in the report's Figures category
def _figures(outputs):
    return {k: report(f, category="Figures", caption="../docs/report/figures.rst") for k, f in outputs.items()}
