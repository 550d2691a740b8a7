"""CMRxRecon 2023/2024/2025 trees: detection, discovery, metadata with sources, timing, official masks, bad trees."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from release_trees import DEFAULTS, TREE_MASKS, TREE_VIEWS, phantom_source, write_release_tree

from cardiomm.cohort import TimingMissing, load_cohort
from cardiomm.conventions import IMAGE_ONLY_MODALITIES, RELEASE_ACS
from cardiomm.io import cmrxrecon as cio
from cardiomm.io import releases
from cardiomm.sampling.masks import acs_mask
from cardiomm.sampling.release_masks import subject_mask
from cardiomm.workflow import ConfigError, plan_from_config


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return phantom_source(tmp_path_factory.mktemp("phantom"))


@pytest.fixture(scope="module")
def trees(src, tmp_path_factory):
    out = {}
    for rel in ("2023", "2024", "2025"):
        root = tmp_path_factory.mktemp(f"r{rel}")
        write_release_tree(src, root, rel, subjects=("P001", "P002") if rel == "2025" else ("P001",))
        out[rel] = root
    return out


def test_release_detected_from_the_tree(trees, src):
    for rel, root in trees.items():
        assert releases.detect(root) == rel
    assert releases.detect(src) == "generic"


def test_2025_ids_unique_wildcard_safe_and_metadata_from_folders(trees):
    subs = load_cohort(trees["2025"], DEFAULTS)
    assert [s.id for s in subs] == ["Center001_UIH_30T_umr780_P001", "Center002_Siemens_15T_Avanto_P002"]
    a, b = subs
    assert a.meta["centre"] == "Center001" and a.meta["vendor"] == "UIH" and a.meta["scanner"] == "umr780"
    assert a.meta["field_strength_T"] == 3.0 and b.meta["field_strength_T"] == 1.5
    assert a.sources["vendor"] == "folder" and a.sources["dx_mm"] == "config default"
    for mod in ("cine", "t1map", "t2map", "t1rhomap"):
        assert a.has(mod), mod
    assert a.kspace_path("t1rhomap").relative_to(trees["2025"]).parts == (
        "MultiCoil", "T1rho", "TrainingSet", "FullSample", "Center001", "UIH_30T_umr780", "P001", "T1rho.mat")


def test_vendor_folder_names_parse():
    assert releases.parse_vendor_folder("Siemens_30T_CIMA.X") == {"vendor": "Siemens", "field_strength_T": 3.0,
                                                                 "scanner": "CIMA.X"}
    assert releases.parse_vendor_folder("GE_15T") == {"vendor": "GE", "field_strength_T": 1.5}
    assert releases.parse_vendor_folder("UIH_50T_umr890")["field_strength_T"] == 5.0
    assert releases.parse_vendor_folder("Siemens_055T_FreeMax")["field_strength_T"] == 0.55
    assert releases.parse_vendor_folder("weird folder") == {}
    assert releases.safe_id(("Center001", "A B", "P001")) == "Center001_A-B_P001"


def test_subjects_csv_overrides_folder_and_default_with_source(trees, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(trees["2025"], root)
    (root / "subjects.csv").write_text("subject,vendor,dx_mm,split\nCenter001_UIH_30T_umr780_P001,United Imaging,"
                                       "1.25,train\n")
    a = {s.id: s for s in load_cohort(root, DEFAULTS)}["Center001_UIH_30T_umr780_P001"]
    assert a.meta["vendor"] == "United Imaging" and a.sources["vendor"] == "subjects.csv"
    assert a.geometry.dx == 1.25 and a.sources["dx_mm"] == "subjects.csv" and a.split == "train"
    assert a.meta["centre"] == "Center001" and a.sources["centre"] == "folder"
    (root / "subjects.csv").write_text("subject,vendor\nP999,GE\n")
    with pytest.raises(ValueError, match=r"\['P999'\] are not in the tree"):
        load_cohort(root, DEFAULTS)


def test_2023_release_docs_metadata_and_timing_csv(trees, src):
    (s,) = load_cohort(trees["2023"], DEFAULTS)
    assert s.meta["vendor"] == "Siemens" and s.sources["vendor"] == "release docs"
    k = cio.read_kspace(s.kspace_path("t1map"))
    times, where = s.times("t1map", nz=k.shape[1], nt=k.shape[0])
    want = cio.read_timing(src / "MultiCoil/Mapping/TrainingSet/FullSample/P001/T1map.csv")
    np.testing.assert_allclose(times, want, atol=1e-3)
    assert "AccFactor04" in where


def test_2023_t2map_csv_of_one_column_serves_every_slice(trees, src):
    (s,) = load_cohort(trees["2023"], DEFAULTS)
    p = s.timing_path("t2map")
    cells = [r.split(",") for r in p.read_text().splitlines()]
    assert all(c[2:] == ["0"] * (len(c) - 2) for c in cells[1:])  # one column of times, zero padding: the layout
    k = cio.read_kspace(s.kspace_path("t2map"))
    times, _ = s.times("t2map", nz=k.shape[1], nt=k.shape[0])
    want = cio.read_timing(src / "MultiCoil/Mapping/TrainingSet/FullSample/P001/T2map.csv")
    assert k.shape[1] > 1 and times.shape == want.shape
    np.testing.assert_allclose(times, want, atol=1e-3)


def test_timing_from_config_where_the_release_ships_none(trees):
    (s,) = load_cohort(trees["2024"], DEFAULTS, timing={"t2map": [0, 35, 55],
                                                        "subjects": {"P001": {"t1map": [100] * 8}}})
    k = cio.read_kspace(s.kspace_path("t2map"))
    nt, nz = k.shape[:2]
    assert nt == 3  # the phantom's T2 series has 3 weightings
    times, where = s.times("t2map", nz=nz, nt=nt)
    assert where == "config data.timing.t2map"
    np.testing.assert_array_equal(times, np.tile([0.0, 35.0, 55.0], (nz, 1)))
    k1 = cio.read_kspace(s.kspace_path("t1map"))
    times, where = s.times("t1map", nz=k1.shape[1], nt=k1.shape[0])
    assert where == "config data.timing.subjects.P001.t1map" and (times == 100).all()
    with pytest.raises(ValueError, match="does not fit the images"):
        s.times("t2map", nz=nz, nt=nt + 1)
    with pytest.raises(TimingMissing, match="set data.timing.t1rhomap"):
        s.times("t1rhomap", nz=nz, nt=nt)


@pytest.mark.parametrize("rel", ["2023", "2024", "2025"])
def test_official_masks_are_read_per_file_with_the_release_acs(trees, rel):
    s = load_cohort(trees[rel], DEFAULTS)[0]
    k = cio.read_kspace(s.kspace_path("cine"))
    for name in TREE_MASKS[rel]:
        m, origin = subject_mask(s, "cine", name, k.shape, seed=1, source="official")
        assert origin.startswith("official ") and str(s.official_mask("cine", name)[0]) in origin
        region = acs_mask(name, k.shape[-2], k.shape[-1], RELEASE_ACS[rel])
        assert (m[:, region] == 1).all()
        g, gorigin = subject_mask(s, "cine", name, k.shape, seed=1, source="generate")
        assert gorigin == f"generated (acs={RELEASE_ACS[rel]})" and g.shape[0] == k.shape[0]
    # a mask name the release does not ship for that file is generated
    m, origin = subject_mask(s, "cine", "ktGaussian12", k.shape, seed=1, source="official")
    assert origin.startswith("generated")


@pytest.mark.parametrize("rel", ["2023", "2024", "2025"])
def test_views_and_contrasts_are_found_read_and_masked_as_the_release_names_them(trees, rel):
    s = load_cohort(trees[rel], DEFAULTS)[0]
    cine = cio.read_kspace(s.kspace_path("cine"))
    for fam, stem, flat in TREE_VIEWS[rel]:
        mod = stem.lower()
        assert mod in IMAGE_ONLY_MODALITIES and s.has(mod)
        assert s.kspace_path(mod) == trees[rel].joinpath("MultiCoil", fam, "TrainingSet", "FullSample", *s.folder,
                                                         f"{stem}.mat")
        k = cio.read_kspace(s.kspace_path(mod))
        assert k.shape == ((1,) + cine.shape[1:] if flat else cine.shape)  # 4D file: one "frame"
        for name in TREE_MASKS[rel]:
            m, origin = subject_mask(s, mod, name, k.shape, seed=1, source="official")
            assert origin.startswith("official ") and stem in origin and m.shape[-2:] == k.shape[-2:]
    cfg = {"cohort": "v", "data": {"root": str(trees[rel]), "synthetic": False, "defaults": DEFAULTS},
           "eval_splits": ["test"], "modalities": ["cine"] + [st.lower() for _, st, _ in TREE_VIEWS[rel]],
           "masks": [TREE_MASKS[rel][0]], "methods": ["zerofilled"], "models": {"segmentation": "x"}}
    plan = plan_from_config(cfg)
    sid = plan.subjects[0].id
    views = [st.lower() for _, st, _ in TREE_VIEWS[rel]]
    # reconstructed and scored, not segmented or quantified
    assert {k.split("__")[0] for k in plan.recon_outputs("zerofilled", "{mask}", sid)} == {"cine", *views}
    assert {k.split("__")[0] for k in plan.method_images("zerofilled", sid)} == {"cine", *views}
    assert {k.split("__")[0] for k in plan.method_segs("zerofilled", sid)} == {"cine"}
    assert not plan.method_maps("zerofilled", sid)


def test_official_mask_of_wrong_shape_is_one_clear_error(trees, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(trees["2024"], root)
    s = load_cohort(root, DEFAULTS)[0]
    path, _ = s.official_mask("cine", "ktGaussian8")
    cio.write_mat(path, {"mask": np.ones((3, 40, 64), np.uint8)})
    k = cio.read_kspace(s.kspace_path("cine"))
    with pytest.raises(ValueError, match="does not match k-space") as e:
        subject_mask(s, "cine", "ktGaussian8", k.shape, seed=1)
    assert str(path) in str(e.value)


def test_subject_folder_without_kspace_is_skipped_with_reason(trees, tmp_path, capsys):
    root = tmp_path / "r"
    shutil.copytree(trees["2024"], root)
    (root / "MultiCoil/Cine/TrainingSet/FullSample/P007").mkdir()
    cfg = {"cohort": "x", "data": {"root": str(root), "synthetic": False, "defaults": DEFAULTS},
           "eval_splits": ["test"], "modalities": ["cine", "t1map", "t2map", "t1rhomap"], "masks": ["Uniform4"],
           "methods": ["zerofilled"], "models": {"segmentation": "x"}}
    plan = plan_from_config(cfg)
    err = capsys.readouterr().err
    assert plan.modalities == ["cine", "t1map", "t2map"] and "modality t1rhomap dropped" in err
    assert [s.id for s in plan.subjects] == ["P001"] and "skipping subject P007" in err
    assert "cine_sax.mat" in plan.skipped["P007"]
    cfg["data"]["release"] = "2025"  # forced release, wrong for this tree: one clear error naming the folder
    with pytest.raises(releases.ReleaseError, match=r"FullSample/<Center>/<Vendor>/<P> \(release 2025\)"):
        plan_from_config(cfg)
    cfg["data"]["release"] = "auto"
    cfg["modalities"] = ["t1rhomap"]  # no subject has it: nothing left to run
    with pytest.raises(ConfigError, match="none of"):
        plan_from_config(cfg)


def test_mixed_release_tree_is_an_error(trees, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(trees["2024"], root)
    (root / "MultiCoil/Cine/TrainingSet/AccFactor04").mkdir()
    with pytest.raises(releases.ReleaseError, match="several releases"):
        releases.detect(root)


def test_image_quality_protocol_defaults(trees):
    import yaml

    from cardiomm.workflow import plan_from_config as plan_of

    synthetic = yaml.safe_load(open("config/tiny.yaml"))
    assert plan_of(synthetic).iq_protocol == "all-frames"  # the synthetic default: existing results unchanged
    for rel, root in trees.items():
        cfg = {"cohort": "x", "data": {"root": str(root), "synthetic": False, "defaults": DEFAULTS},
               "eval_splits": ["test"], "modalities": ["cine"], "masks": ["Uniform4"], "methods": ["zerofilled"],
               "models": {"segmentation": "x"}}
        assert plan_of(cfg).iq_protocol == f"cmrxrecon{rel}"
        cfg["image_quality"] = {"protocol": "all-frames"}
        assert plan_of(cfg).iq_protocol == "all-frames"
