"""Adding a reconstruction method is one new file plus one registry line (docs/ARCHITECTURE.md, "To add X").

This module is the new file: the method's entry point and its config block. The registry line is
:func:`cardiomm.methods.register` (in the package it is one ``Method(...)`` entry of ``REGISTRY``). Nothing else is
edited, and a tiny workflow runs the method: the config names it and validates (the schema's method enum and its
block come from the registry), Snakemake builds its jobs (wildcard constraints from the registry), and the stage
functions the rules call reconstruct, score, segment, quantify, audit and draw it beside a built-in method.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cardiomm import methods
from cardiomm.acquisition import Acquisition
from cardiomm.methods import Method, ReconParams, Reconstructor

REPO = Path(__file__).resolve().parents[1]
TOY = "toy"


def toy_method(name: str, params: ReconParams) -> Reconstructor:
    """The new method's entry point: the zero-filled image times ``gain`` (its one config key)."""
    from cardiomm.recon.classical.zero_filled import zero_filled

    gain = float(params.config["gain"])

    def rec(acq: Acquisition) -> np.ndarray:
        return (gain * zero_filled(acq.kspace)).astype(np.float32)

    return rec


#: the registry line
ENTRY = Method(TOY, "Toy (gain x zero-filled)", "direct", f"{__name__}:toy_method",
               config={"type": "object", "description": "the toy method of tests/test_add_a_method.py",
                       "additionalProperties": False, "default": {},
                       "properties": {"gain": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}}})


@pytest.fixture
def toy():
    methods.register(ENTRY)
    yield ENTRY
    methods.unregister(TOY)


def _config(root: Path) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["data"]["root"] = str(root / "data" / "tiny")
    cfg["phantom"]["counts"] = {"train": 0, "val": 0, "test": 2, "external": 0}
    cfg.update(modalities=["cine", "t1map"], masks=["Uniform8"], methods=["zerofilled", TOY], toy={"gain": 2.0})
    cfg["models"] = {"segmentation": str(REPO / "cardiomm/weights/segmentation.pt")}
    return cfg


def test_the_registry_line_makes_the_config_and_the_rules_accept_the_method(toy, tmp_path, monkeypatch,
                                                                           capfd) -> None:
    from snakemake.cli import main as snakemake_main

    from cardiomm.config import ConfigError, validate_config
    from cardiomm.workflow import plan_from_config

    cfg = validate_config(_config(tmp_path))
    assert cfg[TOY] == {"gain": 2.0} and validate_config({**_config(tmp_path), "toy": {}})[TOY] == {"gain": 1.0}
    with pytest.raises(ConfigError, match="config toy: unknown key 'gian'"):
        validate_config({**_config(tmp_path), "toy": {"gian": 2}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(_config(tmp_path)))
    monkeypatch.chdir(tmp_path)
    plan = plan_from_config(_config(tmp_path), tmp_path)
    target = plan.table("agreement")  # the audit: every method's recon, segmentation, quantification upstream
    with pytest.raises(SystemExit) as done:  # a dry run, in this process (where the method is registered)
        snakemake_main([target, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                        "--configfile", str(tmp_path / "config.yaml"), "--cores", "1", "--dry-run"])
    assert done.value.code == 0
    out = "".join(capfd.readouterr())
    assert f"recon/{TOY}/Uniform8/" in out and f"quant/{TOY}/" in out  # its recon and quantification jobs
    methods.unregister(TOY)  # without the registry line the same config is refused
    try:
        with pytest.raises(ConfigError, match="'toy' is not one of"):
            validate_config(_config(tmp_path))
    finally:
        methods.register(ENTRY)


def test_a_registered_method_runs_through_the_stages_of_a_tiny_workflow(toy, tmp_path, monkeypatch) -> None:
    from cardiomm.conventions import FULLY_SAMPLED, REFERENCE
    from cardiomm.methods import CONTROLS
    from cardiomm.stages import compare, data, figures, quantify, recon, segment, undersample
    from cardiomm.workflow import key, plan_from_config, unkey

    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path)
    plan = plan_from_config(copy.deepcopy(cfg), tmp_path)
    assert TOY in plan.methods and plan.recon_params(TOY).config == {"gain": 2.0}
    every = [REFERENCE] + plan.methods
    for s in plan.subjects:  # the rules' jobs, in their order, with the Plan's files
        data.synthesize(plan.config["phantom"], s.id, str(plan.root), rescan=s.id in plan.rescan_subjects)
        undersample.undersample(s, plan.config["mask_seed"], plan.undersample_outputs(s.id))
        recon.reference(s, plan.recon_outputs(REFERENCE, FULLY_SAMPLED, s.id))
        for c in [m for m in plan.methods if m in CONTROLS]:  # the null control: the repeated acquisition
            recon.control(c, s, plan.rescan_inputs(s.id), plan.recon_outputs(c, FULLY_SAMPLED, s.id))
        for m in plan.accelerated_methods:
            for mk in plan.masks:
                recon.reconstruct(m, s, mk, plan.recon_inputs(s.id, mk, m), plan.recon_outputs(m, mk, s.id),
                                  plan.recon_params(m))
        for m in every:
            if m != REFERENCE:
                compare.image_quality(s, m, plan.iq_inputs(m, s.id), plan.iq_table(m, s.id))
            segment.segment(s, m, plan.seg_images(m, s.id), plan.method_segs(m, s.id), cfg["models"]["segmentation"],
                            plan.seg_table(m, s.id))
            maps = {key(*unkey(k), "map"): v for k, v in plan.method_maps(m, s.id).items()}
            quantify.quantify(s, m, plan.quant_inputs(m, s.id), maps, plan.seg_table(m, s.id),
                              plan.quant_table(m, s.id))
    quantify.indicator_tables([plan.quant_table(m, s.id) for m in every for s in plan.subjects],
                              [str(s.truth_path()) for s in plan.subjects], {s.id: s.split for s in plan.everyone},
                              plan.table("phenotypes"), plan.table("biomarkers"))
    compare.agreement(plan.table("phenotypes"), plan.table("biomarkers"), "reference", {}, plan.cohort,
                      plan.table("agreement"), plan.audit())
    figures.figures_method(TOY, {"phenotypes": plan.table("phenotypes"), "biomarkers": plan.table("biomarkers")},
                           plan.figure_method_outputs(TOY), "reference", {})

    from cardiomm.io.cmrxrecon import read_recon

    s = plan.subjects[0]
    toy_img, zf = (read_recon(plan.recon(m, "Uniform8", s.id, "cine", "mat")) for m in (TOY, "zerofilled"))
    np.testing.assert_allclose(toy_img, 2 * zf, rtol=1e-6)  # its config block reached it
    iq = pd.concat([pd.read_csv(plan.iq_table(m, s.id)) for m in plan.methods for s in plan.subjects])
    by = iq.groupby("method")["psnr"].mean()
    assert by[TOY] == pytest.approx(by["zerofilled"], abs=1e-6)  # per-image normalisation: the gain cancels
    ph = pd.read_csv(plan.table("phenotypes"))
    assert set(ph.loc[ph["method"] == TOY, "subject"]) == {s.id for s in plan.subjects}
    bm = pd.read_csv(plan.table("biomarkers"))
    assert set(bm.loc[bm["method"] == TOY, "indicator"]) == {"T1"}
    assert TOY in set(pd.read_csv(plan.table("agreement"))["method"])
    assert ENTRY.label in Path(plan.audit()).read_text()
    assert all(Path(f).stat().st_size > 0 for f in plan.figure_method_outputs(TOY).values())
