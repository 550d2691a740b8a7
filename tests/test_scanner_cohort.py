"""Scanner-data cohorts at start-up (no job runs): layout detection, subjects and series from the files, a bad file
skips its series with the reason, missing mapping times name the file and the field (a config override fixes it),
a prospectively undersampled cohort has its own mask and no reference; timing tables as the releases write them,
checked up front."""

from __future__ import annotations

import numpy as np
import pytest
from release_trees import DEFAULTS, phantom_source, write_release_tree
from scanner_files import phantom_scans, write_cohort, write_mrd

from cardiomm.io import cmrxrecon as cio
from cardiomm.io.rawdata import RawDataError
from cardiomm.io.scanner_layout import ACQUIRED, detect_layout, load_raw_cohort
from cardiomm.workflow import ConfigError, plan_from_config


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return phantom_source(tmp_path_factory.mktemp("phantom"))


def _cfg(root, cohort="raw", timing=None) -> dict:
    return {"cohort": cohort, "data": {"root": str(root), "synthetic": False, "defaults": DEFAULTS,
                                       "timing": timing or {}},
            "eval_splits": ["test"], "modalities": ["cine", "t1map"], "masks": ["Uniform8"], "methods": ["zerofilled"],
            "models": {"segmentation": "cardiomm/weights/segmentation.pt"}}


@pytest.mark.parametrize("layout", ["mrd", "twix"])
def test_cohort_from_files_with_one_bad_subject(src, tmp_path, layout):
    root = write_cohort(src, tmp_path / layout, layout, subjects=("P001", "P002"), bad={"P002": "truncated"})
    assert detect_layout(root) == layout
    plan = plan_from_config(_cfg(root))
    assert plan.layout == layout and not plan.prospective and plan.masks == ["Uniform8"]
    assert plan.mods("P001") == ["cine", "t1map"] and plan.mods("P002") == ["t1map"]
    why = plan.skipped["P002"]
    assert "cine skipped" in why and str(root / "P002" / "cine_sax") in why and "truncated" in why
    s = plan.subject("P001")
    assert s.meta["vendor"] == "Siemens" and s.sources["vendor"] == "header"
    out = plan.ingest_outputs("P001")
    assert set(k.split("__")[1] for k in out) == {"kspace", "sidecar", "timing"}
    assert all(v.startswith("results/raw/ingested/") for v in out.values())
    assert "results/raw/dicom/P001" in plan.final_targets()


def test_missing_inversion_times_name_the_file_and_field_and_the_override(src, tmp_path):
    scans = phantom_scans(src)
    root = tmp_path / "mrd"
    write_mrd(root / "P001" / "cine_sax.h5", scans["cine"])
    t1 = scans["t1map"]
    t1.times = []
    write_mrd(root / "P001" / "T1map.h5", t1)
    plan = plan_from_config(_cfg(root))
    assert plan.mods("P001") == ["cine"]
    why = plan.skipped["P001"]
    assert str(root / "P001" / "T1map.h5") in why and "no inversion times" in why
    assert "userParameterDouble" in why and "sequenceParameters.TI" in why and "data.timing.subjects.P001.t1map" in why
    times = [100.0, 180.0, 260.0, 1100.0, 1180.0, 1260.0, 2100.0, 2180.0, 3100.0][: t1.shape[0]]
    plan = plan_from_config(_cfg(root, timing={"subjects": {"P001": {"t1map": times}}}))
    assert plan.mods("P001") == ["cine", "t1map"]


def test_prospective_cohort_own_mask_and_no_reference(src, tmp_path):
    root = write_cohort(src, tmp_path / "pro", "mrd", undersample=True)
    plan = plan_from_config(_cfg(root))
    assert plan.prospective and plan.masks == [ACQUIRED] and plan.compared == ["zerofilled"]
    out = plan.ingest_outputs("P001")
    assert plan.undersampled("P001", "cine", ACQUIRED, "kus") in out.values()
    assert not any(k.endswith("__kspace") for k in out)
    targets = plan.final_targets()
    assert not any("/figures/" in t for t in targets) and f"{plan.res}/audit.md" in targets


def test_a_cohort_mixing_full_and_prospective_scans_is_refused(src, tmp_path):
    root = tmp_path / "mixed"
    write_cohort(src, root, "mrd", subjects=("P001",))
    write_cohort(src, root, "mrd", subjects=("P002",), undersample=True)
    with pytest.raises(RawDataError, match="mixes fully sampled .*P001.* and prospectively undersampled .*P002"):
        load_raw_cohort(root, "mrd", tmp_path / "ingested")


# ------------------------------------------------------------------------------------------------ timing files


def _write_2023(path, times_by_column):
    lines = ["," + ",".join(f"slice{i + 1}" for i in range(len(times_by_column[0])))]
    for t, row in enumerate(times_by_column):
        lines.append(f"TI{t + 1}," + ",".join(f"{v:g}" for v in row))
    path.write_text("\n".join(lines) + "\n")


def test_2023_t2map_one_column_applies_to_every_slice(tmp_path):
    p = tmp_path / "T2map.csv"
    _write_2023(p, [[0.0, 0, 0], [35.0, 0, 0], [55.0, 0, 0]])  # one column of times, zero padding
    np.testing.assert_array_equal(cio.read_timing(p, nz=4, nt=3), np.tile([0.0, 35.0, 55.0], (4, 1)))
    _write_2023(p, [[100.0, 110], [200.0, 210], [300.0, 310]])  # two slices: stays per slice, checked
    with pytest.raises(cio.CMRxReconFileError, match=f"{p}: timing has 2 slices, images have 4"):
        cio.read_timing(p, nz=4, nt=3)


def test_ours_one_row_applies_to_every_slice(tmp_path):
    p = tmp_path / "T1map.csv"
    cio.write_timing(p, np.array([[100.0, 200.0, 300.0]]))
    np.testing.assert_array_equal(cio.read_timing(p, nz=3, nt=3), np.tile([100.0, 200.0, 300.0], (3, 1)))


def test_bad_timing_file_fails_at_start_up_naming_it(src, tmp_path):
    root = tmp_path / "r2023"
    written = write_release_tree(src, root, "2023", views=False)
    bad = next(p for p in written["timing"] if p.name == "T1map.csv")
    bad.write_text(",slice1\nTI1,100\nTI2,200\n")  # two times for a series of more weightings
    cfg = _cfg(root, cohort="r2023")
    cfg["masks"] = ["AccFactor04"]
    with pytest.raises(ConfigError, match=f"subject P001 t1map: {bad}: timing has 2 times per slice"):
        plan_from_config(cfg)
