"""The quantify stage on a generated subject, without Snakemake: one procedure for the reference and a method, the
truth on the same ROIs, and the reference fed through the method interface reads exactly the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from snakemake.iocontainers import InputFiles

from cardiomm.cohort import subject_from_row
from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, MODALITIES, PHENOTYPES
from cardiomm.io.cmrxrecon import read_kspace
from cardiomm.io.nifti import load_image, save_image
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.quantify.roi import ROIS
from cardiomm.recon.classical.zero_filled import zero_filled
from cardiomm.stages import compare, quantify
from cardiomm.workflow import key

# config/tiny.yaml's phantom
CFG = PhantomConfig(nx=80, ny=72, nt=4, nz=6, gap=6.0, coils=8, coils_raw=(8,), seed=11,
                    counts={"train": 0, "val": 0, "test": 1, "external": 0})
MODS = ["cine", "t1map", "t2map", "t1rhomap"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Quantify the reference, a smoothed copy of it as method ``sense`` (true labels as everyone's segmentation),
    and the reference itself as method ``zerofilled``."""
    root = tmp_path_factory.mktemp("q")
    spec = cohort_specs(CFG)[0]
    write_subject(spec, CFG, root / "data")
    s = subject_from_row(root / "data", {k: str(v) for k, v in spec.row(CFG).items()})
    ref_img, seg = {}, {}
    for mod in MODS:
        img = zero_filled(read_kspace(s.kspace_path(mod)))
        ref_img[mod] = root / f"ref_{mod}.nii.gz"
        save_image(ref_img[mod], img, s.geometry_for(mod))
        seg[mod] = s.label_path(mod)
        if mod != "cine":
            smooth = ndimage.gaussian_filter(img, (0, 0, 0.7, 0.7))
            save_image(root / f"sense_{mod}.nii.gz", smooth, s.geometry_for(mod))
    qc = root / "qc.csv"
    pd.DataFrame([{"mask": mk, "modality": m, "qc_pass": True, "qc_reason": ""} for m in MODS
                  for mk in (FULLY_SAMPLED, "Uniform8")]).to_csv(qc, index=False)
    tables = {}
    for method, mask in (("reference", FULLY_SAMPLED), ("sense", "Uniform8"), ("zerofilled", "Uniform8")):
        inputs, outputs = {}, {}
        for mod in MODS:
            own = ref_img[mod] if method != "sense" or mod == "cine" else root / f"sense_{mod}.nii.gz"
            inputs[key(mod, mask, "image")], inputs[key(mod, mask, "seg")] = str(own), str(seg[mod])
            if mod == "cine":
                continue
            if method == "reference":  # as the rule: the reference's own image is the fully sampled series
                bm = MODALITIES[mod].biomarker
                inputs[key(mod, "truth")], inputs[key(mod, "truthseg")] = str(s.truth_map_path(bm)), str(seg[mod])
            else:
                inputs[key(mod, "noise")], inputs[key(mod, "refseg")] = str(ref_img[mod]), str(seg[mod])
            outputs[key(mod, mask, "map")] = str(root / f"{method}_{mod}_map.nii.gz")
        if method != "reference":
            inputs["refqc"] = str(qc)
        out = root / f"{method}.csv"
        # as the rule passes it: Snakemake's named input, a list (`in` on it tests values, not names)
        quantify.quantify(s, method, InputFiles(fromdict=inputs), outputs, str(qc), str(out))
        tables[method] = pd.read_csv(out)
    return root, tables


def test_rows_per_roi_label_source_and_truth(run):
    root, t = run
    ref, sense = t["reference"], t["sense"]
    bio = ref[ref["indicator"].isin(BIOMARKERS)]
    assert set(bio["method"]) == {"reference", "truth"} and set(bio["labels"]) == {"own"}
    assert len(bio) == 2 * len(BIOMARKERS) * len(ROIS)  # reference + truth, every ROI
    ph = ref[ref["indicator"].isin(PHENOTYPES)]
    assert len(ph) == len(PHENOTYPES) and set(ph["labels"]) == {"own"} and ph["roi"].isna().all()
    sb = sense[sense["indicator"].isin(BIOMARKERS)]
    assert set(sb["labels"]) == {"own", "reference"} and len(sb) == 2 * len(BIOMARKERS) * len(ROIS)
    # one procedure: per biomarker the same text and the same floor for the reference and the method
    for bm in BIOMARKERS:
        a = bio[(bio["indicator"] == bm) & (bio["method"] == "reference")]
        b = sb[sb["indicator"] == bm]
        assert set(a["procedure"]) == set(b["procedure"]) and a["procedure"].nunique() == 1
        assert set(a["noise_floor"]) == set(b["noise_floor"]) and "P = " in a["noise_floor"].iloc[0]
    head = bio[(bio["roi"] == "consensus") & bio["qc_pass"]]
    assert len(head) == 2 * len(BIOMARKERS), head  # a headline value for the reference and the truth
    for bm in BIOMARKERS:
        mp, _ = load_image(root / f"reference_{next(m for m in MODS if MODALITIES[m].biomarker == bm)}_map.nii.gz")
        assert mp.shape[0] == 1 and np.isfinite(mp).all() and (mp > 0).any()


def test_reference_through_the_method_interface_reads_the_reference_exactly(run):
    """The null case of the audit at the measurement level: same images, same labels, same procedure, so every
    value (own and reference labels) equals the reference's own row exactly."""
    _, t = run
    ref = t["reference"]
    ref = ref[(ref["method"] == "reference") & ref["indicator"].isin(BIOMARKERS)].set_index(["indicator", "roi"])
    zf = t["zerofilled"]
    for labels in ("own", "reference"):
        z = zf[(zf["labels"] == labels) & zf["indicator"].isin(BIOMARKERS)].set_index(["indicator", "roi"])
        pd.testing.assert_series_equal(z["value"], ref.loc[z.index, "value"], check_exact=True)
        assert (z["n_valid"] == ref.loc[z.index, "n_valid"]).all()


def test_tables_and_audit_take_the_new_rows(run, tmp_path):
    """indicator_tables concatenates phenotypes (``labels = own``, empty ``roi``) and every biomarker row; the
    agreement reads the headline rows only (consensus ROI, own labels) and runs to the audit."""
    root, _ = run
    truth_csv = next((root / "data" / "GroundTruth").glob("*/truth.csv"))
    sid = truth_csv.parent.name
    ph, bm = tmp_path / "phenotypes.csv", tmp_path / "biomarkers.csv"
    quantify.indicator_tables([str(root / f"{m}.csv") for m in ("reference", "sense", "zerofilled")], [str(truth_csv)],
                            {sid: "test"}, str(ph), str(bm))
    p, b = pd.read_csv(ph), pd.read_csv(bm)
    assert set(p["method"]) == {"truth", "reference", "sense", "zerofilled"} and set(p["labels"]) == {"own"}
    assert p["roi"].isna().all() and set(b["indicator"]) == set(BIOMARKERS)
    assert set(b["roi"]) == set(ROIS) and (b[b["method"] == "truth"]["labels"] == "own").all()
    compare.agreement(str(ph), str(bm), "reference", {}, "t", str(tmp_path / "agreement.csv"), str(tmp_path / "a.md"))
    agr = pd.read_csv(tmp_path / "agreement.csv")
    assert set(agr["indicator"]) >= set(BIOMARKERS) and not agr.duplicated(["indicator", "roi", "labels", "method",
                                                                          "mask", "comparator"]).any()
