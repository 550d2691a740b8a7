"""The whole Snakemake workflow on tiny scanner-data cohorts: MRD (with a subject whose cine file is truncated: that
series is skipped with the reason, the rest runs), twix (a VE multi-raid and a VB subject), and prospectively
undersampled MRD (its own mask, no reference: the audit says agreement needs one). Every table, the ingest sidecars
and the DICOM results are produced."""

from __future__ import annotations

import pandas as pd
import pydicom
import pytest
from release_trees import DEFAULTS, SEGMENTER, phantom_source, run_workflow
from scanner_files import write_cohort

RUNS = {"mrd": {"layout": "mrd", "subjects": ("P001", "P002"), "bad": {"P002": "truncated"}},
        "twix": {"layout": "twix", "subjects": ("P001", "P002")},
        "prospective": {"layout": "mrd", "subjects": ("P001",), "undersample": True}}


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return phantom_source(tmp_path_factory.mktemp("phantom"))


@pytest.fixture(scope="module", params=sorted(RUNS))
def scanner_run(request, src, tmp_path_factory):
    name = request.param
    run = RUNS[name]
    tmp = tmp_path_factory.mktemp(f"wf{name}")
    root = write_cohort(src, tmp / "data", run["layout"], subjects=run["subjects"],
                        undersample=run.get("undersample", False), bad=run.get("bad"))
    cfg = {"cohort": name, "data": {"root": str(root), "synthetic": False, "defaults": DEFAULTS},
           "eval_splits": ["test"], "modalities": ["cine", "t1map"], "masks": ["ktGaussian8"],
           "methods": ["zerofilled"],
           "models": {"segmentation": SEGMENTER}}
    run_workflow(tmp, cfg, timeout=1200)
    return name, tmp / "results" / name


@pytest.mark.slow
def test_scanner_cohort_runs_end_to_end(scanner_run):
    name, res = scanner_run
    tables = res / "tables"
    for t in ("segmentation", "phenotypes", "biomarkers", "masks", "subjects"):
        assert len(pd.read_csv(tables / f"{t}.csv")) > 0, t
    subj = pd.read_csv(tables / "subjects.csv")
    bio = pd.read_csv(tables / "biomarkers.csv")
    assert bio["timing_source"].str.contains("userParameterDouble|alTI").all()  # the file's own inversion times
    side = next((res / "ingested").rglob("cine_sax.json"))
    assert '"whitened": true' in side.read_text()
    dcm = sorted((res / "dicom" / "P001").rglob("IM_*.dcm"))
    assert dcm and (res / "dicom" / "P001" / "index.csv").exists()
    ds = pydicom.dcmread(dcm[0])
    assert str(ds.PatientName) == "Doe^Jane" and ds.Modality == "MR"  # the input's identifiers
    assert any((res / "dicom" / "P001").rglob("SEG_*.dcm")) and any((res / "dicom" / "P001").glob("*_T1map.dcm"))
    if name == "prospective":
        assert pd.read_csv(tables / "agreement.csv").empty and pd.read_csv(tables / "image_quality.csv").empty
        assert "Agreement needs a reference" in (res / "audit.md").read_text()
        masks = pd.read_csv(tables / "masks.csv")
        assert set(masks["mask"]) == {"acquired"} and (masks["achieved_R"] > 1.5).all() and masks["acs_complete"].all()
        assert set(pd.read_csv(tables / "phenotypes.csv")["method"]) == {"zerofilled"}  # no reference rows
        return
    for t in ("image_quality", "agreement"):
        assert len(pd.read_csv(tables / f"{t}.csv")) > 0, t
    assert subj["evaluated"].all()
    if name == "mrd":
        why = subj.set_index("subject").loc["P002", "reason"]
        assert "cine skipped" in why and "cine_sax.h5" in why and "truncated" in why
        assert set(pd.read_csv(tables / "phenotypes.csv")["subject"]) == {"P001"}
        assert "P002" in set(bio["subject"])  # the bad subject's other series ran
