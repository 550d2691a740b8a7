"""The null control `rescan`: the phantom's second acquisition, the registry entry, the plan, and the reference
itself fed through the method interface (every difference exactly 0, every verdict preserved)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cardiomm.cohort import Subject
from cardiomm.compare.agreement import agreement_table
from cardiomm.compare.verdict import PRESERVED
from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, INDICATORS, PHENOTYPES, REFERENCE
from cardiomm.io.cmrxrecon import read_kspace, read_recon
from cardiomm.methods import ACCELERATED, CONTROLS, REGISTRY
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.stages import data, quantify, recon, segment
from cardiomm.workflow import RESCAN, key, plan_from_config

REPO = Path(__file__).resolve().parents[1]
#: a small phantom (as tests/test_phantom.py's): one test subject renders in about a second
SMALL = PhantomConfig(nx=64, ny=56, dx=4.5, dy=4.5, nt=6, nz=5, thickness=8.0, gap=12.0, supersample=3,
                      coils_raw=(8,), coils=6, counts={"train": 1, "val": 0, "test": 2, "external": 1}, seed=3)


def test_registry_has_the_control_first_and_apart():
    assert CONTROLS == ("rescan",) and next(iter(REGISTRY)) == "rescan"
    assert REGISTRY["rescan"].kind == "control" and not REGISTRY["rescan"].needs_model
    assert "rescan" not in ACCELERATED and set(ACCELERATED) | set(CONTROLS) == set(REGISTRY)


def test_second_acquisition_leaves_the_first_bit_identical_and_adds_fresh_noise(tmp_path):
    spec = cohort_specs(SMALL)[1]
    write_subject(spec, SMALL, tmp_path / "once")
    out = write_subject(spec, SMALL, tmp_path / "twice", rescan=True)
    once, twice = Subject(spec.subject, tmp_path / "once", spec.split), Subject(spec.subject, tmp_path / "twice",
                                                                                 spec.split)
    for mod in ("cine", "t1map", "t2map", "t1rhomap"):
        first = read_kspace(twice.kspace_path(mod))
        np.testing.assert_array_equal(read_kspace(once.kspace_path(mod)), first)  # bit-identical
        assert out[f"{mod}_rescan"] == twice.rescan_path(mod) and not once.has_rescan(mod)
        again = read_kspace(twice.rescan_path(mod))
        assert again.shape == first.shape and again.dtype == first.dtype
        # same object and coils: the difference holds no signal, only noise, which is white across k-space (its
        # variance is the same at the centre, where the signal is orders of magnitude stronger, as at the edge)
        diff = again - first
        ny, nx = first.shape[-2:]
        centre = (Ellipsis, slice(ny // 2 - 4, ny // 2 + 4), slice(nx // 2 - 4, nx // 2 + 4))
        edge = (Ellipsis, slice(0, 8), slice(None))
        assert np.var(first[centre]) > 20 * np.var(first[edge])  # the signal is concentrated at the centre
        assert 0.8 < np.var(diff[centre]) / np.var(diff[edge]) < 1.25, mod
        assert np.var(diff) > 0
    # the repeated acquisition's noise: the same distribution (same coils, covariance, SNR), an independent draw
    from cardiomm.phantom.generate import _acquire, _slice_z

    blank = np.zeros((4, 2, SMALL.ny, SMALL.nx), np.complex64)
    n1, n2 = _acquire(blank, spec, SMALL, _slice_z(SMALL)[:2], "cine", 1.0, rescan=True)
    np.testing.assert_array_equal(n1, _acquire(blank, spec, SMALL, _slice_z(SMALL)[:2], "cine", 1.0))
    c1 = np.einsum("tzcyx,tzdyx->cd", n1, n1.conj()) / (n1.size / n1.shape[2])
    c2 = np.einsum("tzcyx,tzdyx->cd", n2, n2.conj()) / (n2.size / n2.shape[2])
    np.testing.assert_allclose(np.diag(c2).real, np.diag(c1).real, rtol=0.08)  # same coil noise levels
    assert abs(np.vdot(n1.ravel(), n2.ravel())) / (np.linalg.norm(n1) * np.linalg.norm(n2)) < 0.02  # independent


def test_rescan_method_needs_a_fully_sampled_acquisition():
    from cardiomm.acquisition import Acquisition

    k = (np.ones((2, 1, 2, 16, 16)) + 0j).astype(np.complex64)
    rec = REGISTRY["rescan"].prepare()
    assert rec(Acquisition.from_arrays(k, np.ones((1, 16, 16)), FULLY_SAMPLED)).shape == (2, 1, 16, 16)
    half = np.ones((1, 16, 16))
    half[:, ::2] = 0
    with pytest.raises(ValueError, match="needs a fully sampled acquisition"):
        rec(Acquisition.from_arrays(k, half, FULLY_SAMPLED, source="x.mat"))


def _config(tmp, counts, methods, synthetic=True):
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    cfg["data"]["root"] = str(tmp / "data")
    cfg["data"]["synthetic"] = synthetic
    cfg["phantom"]["counts"] = counts
    cfg["methods"] = methods
    return cfg


def test_plan_always_has_the_null_control_on_synthetic_data(tmp_path, capsys):
    plan = plan_from_config(_config(tmp_path, {"train": 1, "val": 0, "test": 2, "external": 0}, ["zerofilled"]))
    assert plan.methods == ["rescan", "zerofilled"] and plan.accelerated_methods == ["zerofilled"]
    assert "rescan (the null control) added" in capsys.readouterr().err
    assert plan.masks_for(RESCAN) == [FULLY_SAMPLED] and plan.null_control == ""
    assert plan.rescan_subjects == [s.id for s in plan.subjects] and len(plan.rescan_subjects) == 2
    sid = plan.subjects[0].id
    assert plan.rescan_inputs(sid)[key("cine", "kspace")].endswith("cine_sax_rescan.mat")
    assert plan.method_family("segment") == [("segment_reference", REFERENCE), ("segment_rescan", RESCAN),
                                             ("segment", "{method}")]
    from cardiomm.workflow import accelerated_only

    assert "rescan" not in accelerated_only("{method}")["method"].split("|") and accelerated_only(RESCAN) == {}
    iq = plan.iq_inputs(RESCAN, sid)
    assert iq[key("cine", FULLY_SAMPLED, REFERENCE)] != iq[key("cine", FULLY_SAMPLED, "method")]


def test_real_data_without_repeated_acquisitions_has_no_null_control(tmp_path, capsys, monkeypatch):
    """A real tree (here: the phantom's files under a real-data config) without `<stem>_rescan.mat`: rescan is
    dropped with the reason, never invented; with the files for every series it is kept. The files are empty, so
    the start-up timing check (tested in test_scanner_cohort.py) is left out here."""
    import cardiomm.workflow

    monkeypatch.setattr(cardiomm.workflow, "check_timing", lambda subjects, present: None)
    cfg = _config(tmp_path, {"train": 0, "val": 0, "test": 3, "external": 0}, ["rescan", "zerofilled"])
    pcfg = PhantomConfig.from_dict(cfg["phantom"])
    specs = cohort_specs(pcfg)
    root = tmp_path / "data"
    from cardiomm.cohort import write_subjects_csv

    write_subjects_csv(root / "subjects.csv", [s.row(pcfg) for s in specs])
    for s in specs:
        for mod in ("cine", "t1map", "t2map", "t1rhomap"):  # files only need to exist for the plan
            p = Subject(s.subject, root, s.split).kspace_path(mod)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(b"")
    real = {**cfg, "data": {**cfg["data"], "synthetic": False, "release": "generic"}}
    plan = plan_from_config(real)
    assert plan.methods == ["zerofilled"] and "no repeated acquisition" in plan.null_control
    assert "rescan dropped" in capsys.readouterr().err and plan.rescan_subjects == []
    for s in plan.subjects:
        for mod in plan.mods(s.id):
            s.rescan_path(mod).write_bytes(b"")
    plan = plan_from_config({**real, "data": {**real["data"]}})
    assert plan.methods == ["rescan", "zerofilled"] and plan.null_control == ""


def _measure(plan, sid: str, method: str, model: str) -> pd.DataFrame:
    """Segment and quantify one subject x method exactly as the rules do (the stage functions, the plan's files)."""
    subject = plan.subject(sid)
    seg_in = plan.seg_images(method, sid)
    segs = plan.method_segs(method, sid)
    segment.segment(subject, method, seg_in, segs, model, plan.seg_table(method, sid))
    maps = {key(*k.split("__"), "map"): v for k, v in plan.method_maps(method, sid).items()}
    quantify.quantify(subject, method, plan.quant_inputs(method, sid), maps, plan.seg_table(method, sid),
                      plan.quant_table(method, sid))
    return pd.read_csv(plan.quant_table(method, sid))


@pytest.mark.slow
def test_the_reference_fed_through_the_method_interface_gives_zero_differences_and_preserved(tmp_path,
                                                                                           monkeypatch):
    """The gauge's self-check: if the 'repeated acquisition' is the reference's own k-space, the null control's
    images are the reference's bit for bit, every measured value equals the reference's, and every one of the 14
    verdicts is preserved (bias 0, SD 0)."""
    monkeypatch.chdir(tmp_path)
    # four subjects: the tiny phantom's segmentation QC fails on one cine, and a verdict needs three pairs
    cfg = _config(tmp_path, {"train": 0, "val": 0, "test": 4, "external": 0}, ["rescan"])
    plan = plan_from_config(cfg)
    model = cfg["models"]["segmentation"]
    rows = []
    for s in plan.subjects:
        data.synthesize(cfg["phantom"], s.id, str(plan.root))  # acquired once: the control reads the original
        recon.reference(s, plan.recon_outputs(REFERENCE, FULLY_SAMPLED, s.id))
        own = {key(m, "kspace"): str(s.kspace_path(m)) for m in plan.mods(s.id)}
        recon.control(RESCAN, s, own, plan.recon_outputs(RESCAN, FULLY_SAMPLED, s.id))
        for m in plan.mods(s.id):
            np.testing.assert_array_equal(read_recon(plan.recon(RESCAN, FULLY_SAMPLED, s.id, m, "mat")),
                                          read_recon(plan.recon(REFERENCE, FULLY_SAMPLED, s.id, m, "mat")))
        ref, ctl = _measure(plan, s.id, REFERENCE, model), _measure(plan, s.id, RESCAN, model)
        ref = ref[ref["method"] == REFERENCE]  # the reference's job also writes the truth rows
        ctl = ctl[ctl["labels"] == "own"]  # measured like the reference (the reference-label rows are the same)
        assert list(ref["indicator"]) == list(ctl["indicator"])
        np.testing.assert_array_equal(ref["value"].to_numpy(), ctl["value"].to_numpy())  # exactly 0
        rows += [ref, ctl]
    table = pd.concat(rows, ignore_index=True)
    agr = agreement_table(table)
    assert set(agr["indicator"]) == set(INDICATORS) == set(PHENOTYPES) | set(BIOMARKERS)
    assert (agr["method"] == RESCAN).all() and (agr["mask"] == FULLY_SAMPLED).all()
    assert (agr["n"] >= 3).all(), agr[["indicator", "n", "reason"]]  # a QC failure fails on both sides alike
    assert (agr["n_qc_failed"] + agr["n"] == 4).all()
    assert (agr["bias"] == 0).all() and (agr["sd"] == 0).all()
    assert (agr["verdict"] == PRESERVED).all()
