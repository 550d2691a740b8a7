"""The whole Snakemake workflow on a tiny tree of each CMRxRecon release (cine + one mapping series, zero-filled).

2023 and 2025 run with their official masks (``mask_source: official``), 2024 with generated ones
(``mask_source: generate``), so both sources go through the workflow; 2024 and 2025 get their mapping timing
from the config (the releases ship none), 2023 from its own CSV layout.
"""

from __future__ import annotations

import pandas as pd
import pytest
from release_trees import DEFAULTS, SEGMENTER, phantom_source, run_workflow, write_release_tree

from cardiomm.cohort import load_cohort

RUNS = {
    # 2023: T1 and T2 (its T2map.csv: one column of times for every slice, as the release ships it)
    "2023": {"mapping": "t1map", "mask": "AccFactor04", "source": "official", "timing": {}, "views": [],
             "extra": ["t2map"]},
    # 2024: a view (image quality only), and a second subject without it: skipped for that view only
    "2024": {"mapping": "t2map", "mask": "ktGaussian8", "source": "generate", "timing": {"t2map": [0, 35, 55]},
             "views": ["cine_lax"], "without": ("P002", "cine_lax")},
    "2025": {"mapping": "t1rhomap", "mask": "ktRadial8", "source": "official",
             "timing": {"t1rhomap": [0, 10, 20, 30, 40]}, "views": ["t2w"]},  # T2w: a 4D (single-image) series
}


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return phantom_source(tmp_path_factory.mktemp("phantom"))


@pytest.fixture(scope="module", params=sorted(RUNS))
def release_run(request, src, tmp_path_factory):
    rel = request.param
    run = RUNS[rel]
    tmp = tmp_path_factory.mktemp(f"wf{rel}")
    root = tmp / "data"
    if "without" in run:
        sid, mod = run["without"]
        write_release_tree(src, root, rel, subjects=("P001", sid))
        load_cohort(root, DEFAULTS)[1].kspace_path(mod).unlink()
    else:
        write_release_tree(src, root, rel)
    cfg = {"cohort": f"r{rel}",
           "data": {"root": str(root), "synthetic": False, "defaults": DEFAULTS, "timing": run["timing"]},
           "eval_splits": ["test"], "modalities": ["cine", run["mapping"], *run.get("extra", []), *run["views"]],
           "masks": [run["mask"]],
           "mask_source": run["source"], "methods": ["zerofilled"],
           "models": {"segmentation": SEGMENTER}}
    run_workflow(tmp, cfg, timeout=900)
    return rel, tmp / "results" / f"r{rel}" / "tables"


@pytest.mark.slow
def test_release_runs_end_to_end(release_run):
    rel, tables = release_run
    run = RUNS[rel]
    for t in ("image_quality", "segmentation", "phenotypes", "biomarkers", "agreement", "masks", "subjects"):
        assert len(pd.read_csv(tables / f"{t}.csv")) > 0, t
    subj = pd.read_csv(tables / "subjects.csv")
    assert (subj["release"].astype(str) == rel).all() and subj["evaluated"].all()
    if rel == "2025":
        assert subj.loc[0, "vendor"] == "UIH" and subj.loc[0, "vendor_source"] == "folder"
        assert subj.loc[0, "field_strength_T"] == 3.0 and "t1rhomap" in subj.loc[0, "modalities_found"]
    masks = pd.read_csv(tables / "masks.csv")
    assert set(masks["mask"]) == {run["mask"]}
    want = "official " if run["source"] == "official" else "generated"
    assert masks["source"].str.startswith(want).all(), masks["source"].tolist()
    assert (masks["acs"] == {"2023": 24, "2024": 16, "2025": 20}[rel]).all() and masks["acs_complete"].all()
    iq = pd.read_csv(tables / "image_quality.csv")
    assert set(iq["protocol"]) == {f"cmrxrecon{rel}"}  # real data: the release's own scoring protocol
    assert set(iq.loc[iq["modality"] == "cine", "frame"]) == {0, 1, 2}  # ranking: first 3 cine frames
    assert iq.groupby(["modality", "mask"])["slice"].nunique().max() <= 2  # the central 2 slices
    bm = pd.read_csv(tables / "biomarkers.csv")
    bm = bm[bm["method"] != "truth"]
    assert len(bm) > 0
    src = bm["timing_source"].astype(str)
    assert (src.str.contains("AccFactor04") if rel == "2023" else src.str.startswith("config data.timing")).all()
    silent = bm[bm["value"].isna() & bm["qc_reason"].isna()]
    assert silent.empty
    # views/contrasts: reconstructed and scored under the release's protocol, never segmented or quantified
    seg = pd.read_csv(tables / "segmentation.csv")
    for view in run["views"]:
        assert (iq["modality"] == view).any() and not (seg["modality"] == view).any()
    if "without" in run:  # skipped for that modality only: evaluated for the rest, the reason in subjects.csv
        sid, mod = run["without"]
        row = subj.set_index("subject").loc[sid]
        assert bool(row["evaluated"]) and f"{mod} skipped: missing" in row["reason"]
        assert mod not in row["modalities_evaluated"].split() and "cine" in row["modalities_evaluated"].split()
        assert set(iq.loc[iq["modality"] == mod, "subject"]) == {"P001"}
        assert sid in set(iq["subject"]) and sid in set(pd.read_csv(tables / "phenotypes.csv")["subject"])
