# Figures (paper style, from the tables plus one representative subject's images) and the report.
# `snakemake figures` regenerates them; `snakemake --report results/<cohort>/report.html` builds the report.


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


rule figures:
    input:
        unpack(_figure_inputs),
    output:
        [report(f, category="Figures", caption="../docs/report/figures.rst") for f in PLAN.figure_files()],
    log:
        f"logs/{COHORT}/figures.log",
    benchmark:
        f"benchmarks/runs/{COHORT}/figures.tsv"
    params:
        res=RES,
        comparator=config.get("agreement", {}).get("comparator", "reference"),
        tolerances=config.get("tolerances", {}),
    script:
        "../workflow_scripts/figures.py"
