"""End-to-end: the tiny cohort through the real Snakemake workflow, with the shipped checkpoints.

Runs in a temporary working directory, so the repository's results/ are never touched. Checks that every
table, the audit and every figure are produced, that the tables hold the rows they promise, and that a second
invocation has nothing left to do (outputs are complete and not rewritten).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cardiomm.conventions import BIOMARKERS, PHENOTYPES

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _config(tmp: Path) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    p = tmp / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = SNAKEMAKE + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp), "--configfile",
                       str(tmp / "config.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=1800)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    if not all((REPO / "cardiomm" / "weights" / f"{m}.pt").exists() for m in ("cardiomm", "varnet", "segmentation")):
        pytest.fail("shipped checkpoints missing under cardiomm/weights/ (run `make train weights`)")
    tmp = tmp_path_factory.mktemp("wf")
    _config(tmp)  # also the Snakefile's default configfile (config.yaml in the working directory)
    proc = _run(tmp)
    assert proc.returncode == 0, proc.stderr[-5000:]
    return tmp


@pytest.mark.slow
def test_every_table_and_figure_is_produced(tiny_run):
    res = tiny_run / "results" / "tiny"
    for t in ("image_quality", "segmentation", "phenotypes", "biomarkers", "agreement", "masks"):
        df = pd.read_csv(res / "tables" / f"{t}.csv")
        assert len(df) > 0, t
    audit = (res / "audit.md").read_text()
    assert audit.startswith("# Clinical-indicator preservation audit")
    figs = sorted(p.name for p in (res / "figures").glob("*.png"))
    assert "image_quality.png" in figs and "maps.png" in figs
    assert all((res / "figures" / f.replace(".png", ".pdf")).exists() for f in figs)


@pytest.mark.slow
def test_tables_hold_every_subject_method_mask_and_indicator(tiny_run):
    res = tiny_run / "results" / "tiny" / "tables"
    ph = pd.read_csv(res / "phenotypes.csv")
    bm = pd.read_csv(res / "biomarkers.csv")
    methods = {"truth", "reference", "rescan", "zerofilled", "sense", "varnet", "cardiomm"}  # rescan: always
    assert set(ph["method"]) == methods and set(bm["method"]) == methods
    assert set(ph["indicator"]) == set(PHENOTYPES)
    assert set(bm["indicator"]) == set(BIOMARKERS)
    # one procedure for every image: per biomarker one fit text for the reference and every method (issue 30),
    # the floor from the acquisition, the same P for every image of a series
    measured = bm[bm["method"] != "truth"]
    assert (measured.groupby("indicator")["procedure"].nunique() == 1).all()
    assert measured["procedure"].str.contains("P from the acquisition").all() and set(bm["statistic"]) == {"median"}
    assert (measured.groupby(["subject", "indicator"])["noise_floor"].nunique() == 1).all()
    # rows per ROI and label source: truth and reference own labels only, every method both
    from cardiomm.quantify.roi import ROIS

    assert set(bm["roi"]) == set(ROIS)
    assert set(bm.loc[bm["method"].isin(["truth", "reference"]), "labels"]) == {"own"}
    assert set(bm.loc[bm["method"] == "cardiomm", "labels"]) == {"own", "reference"}
    n_bm = bm["subject"].nunique() * len(BIOMARKERS) * len(ROIS)
    assert len(bm) == n_bm * (2 + 2 + 2 * 4 * 3)  # truth, reference; rescan, 4 methods x 3 masks: 2 label sources
    ok = bm[bm["qc_pass"]]
    assert (ok["n_valid"] > 0).all() and np.allclose(ok["valid_fraction"], ok["n_valid"] / ok["n_pixels"])
    assert set(ph["labels"]) == {"own"} and ph["roi"].isna().all()
    masks = {"Uniform8", "ktGaussian16", "ktRadial24"}
    assert set(ph.loc[ph["method"] == "cardiomm", "mask"]) == masks
    n_subj = ph["subject"].nunique()
    # one row per subject x method x mask x indicator
    assert len(ph) == n_subj * len(PHENOTYPES) * (3 + 4 * len(masks))  # truth, reference, rescan; 4 methods
    assert set(ph.loc[ph["method"] == "rescan", "mask"]) == {"full"}
    # a value is either finite or flagged with a reason: never a silent NaN
    silent = ph[ph["value"].isna() & ph["qc_reason"].isna()]
    assert silent.empty
    agr = pd.read_csv(res / "agreement.csv")
    for col in ("indicator", "unit", "method", "mask", "n", "bias", "loa_low", "loa_high", "icc", "icc_ci_low",
                "icc_ci_high", "pearson_r", "wilcoxon_p", "cov_pct", "preserved"):
        assert col in agr.columns
    assert set(agr["comparator"]) == {"reference", "truth"}
    iq = pd.read_csv(res / "image_quality.csv")
    assert set(iq["method"]) == {"rescan", "zerofilled", "sense", "varnet", "cardiomm"}
    assert (iq["ssim"] <= 1).all() and (iq["psnr"] > 0).all()
    assert set(iq.loc[iq["method"] == "rescan", "mask"]) == {"full"} and iq["psnr"].notna().all()


@pytest.mark.slow
def test_the_audit_opens_with_the_verdict_map_and_the_null_control(tiny_run):
    res = tiny_run / "results" / "tiny"
    audit = (res / "audit.md").read_text()
    top = audit.split("## The verdict rule")[0]
    assert "This audit's n is illustrative" in top and "benchmarks/results/audit_cohort/" in top
    assert "![Verdict map" in top and (res / "figures" / "verdict_map.png").exists()
    assert "Rescan (null control) full" in top and "## The gauge's proof: the null control" in top
    assert "data:image/png;base64," in (res / "audit.html").read_text()
    agr = pd.read_csv(res / "tables" / "agreement.csv")
    ctl = agr[(agr["method"] == "rescan") & (agr["comparator"] == "reference")]
    assert set(ctl["mask"]) == {"full"} and len(ctl) >= 14


@pytest.mark.slow
def test_reference_phenotypes_close_to_truth(tiny_run):
    """The shipped segmenter on fully sampled images recovers the phantom's LV volumes (sanity of the chain)."""
    ph = pd.read_csv(tiny_run / "results" / "tiny" / "tables" / "phenotypes.csv")
    piv = ph[ph["indicator"] == "LVEDV"].pivot_table(index="subject", columns="method", values="value")
    rel = (piv["reference"] - piv["truth"]).abs() / piv["truth"]
    assert rel.median() < 0.15


@pytest.mark.slow
def test_rerun_has_nothing_to_do(tiny_run):
    proc = _run(tiny_run, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_finished_audit_is_committed_with_how_it_was_made(tiny_run):
    """benchmarks/commit_audit_cohort.py on a real finished run: the audit, every table (gzipped ones equal to
    the run's), the figures, the truth recovery and a README with command, machine, code and wall time."""
    log = tiny_run / "segments.txt"
    log.write_text("rc=1 start=2026-12-07T10:00:00Z wall_s=600\nrc=0 start=2026-12-07T11:00:00Z wall_s=1200\n")
    out = tiny_run / "committed"
    cmd = [sys.executable, str(REPO / "benchmarks" / "commit_audit_cohort.py"), "--config", "config.yaml",
           "--wall-log", str(log), "--command", "snakemake --cores 2", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tiny_run, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = tiny_run / "results" / "tiny"
    assert (out / "audit.md").read_text() == (res / "audit.md").read_text()
    for t in ("agreement", "phenotypes", "biomarkers", "image_quality", "segmentation"):
        committed = next(out.glob(f"tables/{t}.csv*"))
        pd.testing.assert_frame_equal(pd.read_csv(committed), pd.read_csv(res / "tables" / f"{t}.csv"))
    assert (out / "figures" / "verdict_map.png").read_bytes() == (res / "figures" / "verdict_map.png").read_bytes()
    readme = (out / "README.md").read_text()
    assert "`snakemake --cores 2`" in readme and "**0.50 h** in 2 stretch(es)" in readme
    assert "cohort: `tiny`, 3 evaluated subjects" in readme and "code: 0.1.0+" in readme
    assert "| LVEF" in (out / "truth_recovery.md").read_text()
    # a run whose last stretch failed is not finished: refused, the committed folder left as it was
    log.write_text("rc=0 start=2026-12-07T10:00:00Z wall_s=600\nrc=1 start=2026-12-07T11:00:00Z wall_s=60\n")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tiny_run, timeout=600)
    assert proc.returncode != 0 and "exited with 1: not finished" in proc.stderr
    assert (out / "README.md").read_text() == readme


@pytest.mark.slow
def test_train_all_runs_through_the_rules(tmp_path):
    """`snakemake train_all` on a tiny cohort (1 train + 1 val subject, 2 steps each): every rule's script runs,
    writes a checkpoint that loads and a model card naming its data and command; the published architectures
    listed in train.published included."""
    import torch

    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    cfg["phantom"]["counts"] = {"train": 1, "val": 1, "test": 1, "external": 0}
    small = {"epochs": 1, "steps_per_epoch": 2, "batch_size": 1, "seed": 0, "max_frames_per_subject": 2}
    cfg["train"] = {"modalities": ["cine", "t1map"],
                    "segmentation": {"frames_per_series": 1,
                                     "train": {"size": "small", "epochs": 1, "steps_per_epoch": 2, "batch_size": 2,
                                               "seed": 0}},
                    "cardiomm": {"model": {"cascades": 1, "features": 4, "levels": 1}, "train": small},
                    "varnet": {"model": {"cascades": 1, "features": 4}, "train": small},
                    "ktnet": {"model": {"cascades": 1, "features": 4, "levels": 1}, "train": small}}
    # the published architectures through the same rule, tiny; the official CardioMM with a tiny random CLIP
    from clip_folder import tiny_clip_folder

    tiny_clip_folder(tmp_path / "clip")
    tiny = {"num_cascades": 1, "num_adj_slices": 3, "n_feat0": 4, "feature_dim": [6, 8, 12], "prompt_dim": [2, 4, 4],
            "sens_n_feat0": 4, "sens_feature_dim": [4, 6, 8], "sens_prompt_dim": [2, 2, 4], "len_prompt": [2, 2, 2],
            "prompt_size": [8, 4, 2], "n_enc_cab": [1, 1, 1], "n_dec_cab": [1, 1, 1], "n_skip_cab": [1, 1, 1],
            "n_bottleneck_cab": 1}
    cfg["train"].update({"published": ["cardiomm_official", "promptmr"],
                         "cardiomm_official": {"model": {**tiny, "llm_model_dim": 24, "llm_embd_dim": 8},
                                               "train": small, "clip_dir": str(tmp_path / "clip")},
                         "promptmr": {"model": {**tiny, "n_history": 1}, "train": small}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(tmp_path, "train_all")
    assert proc.returncode == 0, proc.stderr[-5000:]
    from cardiomm.recon.learned.model_files import load_model
    from cardiomm.segmentation.training_task import load_segmenter

    for arch in ("cardiomm", "varnet", "ktnet"):
        model, _ = load_model(tmp_path / f"results/training/{arch}.pt", arch=arch)
        assert sum(p.numel() for p in model.parameters()) > 0
        card = (tmp_path / f"results/training/{arch}.md").read_text()
        assert "train_all" in card and "1 train / 1 val subjects" in card
    from cardiomm.recon.learned.architectures import arch_of
    from cardiomm.recon.learned.model_files import load_any

    for arch in ("cardiomm_official", "promptmr"):
        model, _ = load_any(tmp_path / f"results/training/{arch}.pt", arch)
        assert arch_of(model) == arch and model.config.num_adj_slices == 3
        assert "train_all" in (tmp_path / f"results/training/{arch}.md").read_text()
    seg = load_segmenter(tmp_path / "results/training/segmentation.pt")
    assert isinstance(seg, torch.nn.Module)
    assert "1 train / 1 val subjects" in (tmp_path / "results/training/segmentation.md").read_text()


@pytest.mark.slow
def test_classical_methods_run_everywhere_downstream(tmp_path):
    """cs, kttv and lps (opt-in) go through the whole workflow like every method: recon on every modality and
    mask with the shared coil maps, segmentation, quantification, agreement, the audit and the figures."""
    from cardiomm.methods import label

    classical = ["cs", "kttv", "lps"]
    cfg = yaml.safe_load(_config(tmp_path).read_text())
    cfg["methods"] = ["zerofilled", *classical]
    # a smaller cohort than the other tiny runs (2 subjects, cine + T1 mapping): the path is the same for every
    # mapping series, and three iterative solvers on every series were this suite's slowest test (~15 min)
    cfg["phantom"]["counts"]["test"] = 2
    cfg["modalities"] = ["cine", "t1map"]
    cfg.update({"cs": {"max_iter": 5}, "kttv": {"max_iter": 10}, "lps": {"max_iter": 10}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-5000:]
    res = tmp_path / "results" / "tiny"
    ph = pd.read_csv(res / "tables" / "phenotypes.csv")
    bm = pd.read_csv(res / "tables" / "biomarkers.csv")
    iq = pd.read_csv(res / "tables" / "image_quality.csv")
    masks = {"Uniform8", "ktGaussian16", "ktRadial24"}
    for m in classical:
        assert set(ph.loc[ph["method"] == m, "mask"]) == masks, m
        assert set(bm.loc[bm["method"] == m, "indicator"]) == {"T1"}, m
        assert set(iq.loc[iq["method"] == m, "modality"]) == {"cine", "t1map"}, m
        assert (res / "figures" / f"bland_altman_{m}.png").exists()
        assert label(m) in (res / "audit.md").read_text()
    ag = pd.read_csv(res / "tables" / "agreement.csv")
    assert set(classical) <= set(ag["method"])
    # one ESPIRiT calibration per subject x modality, shared by the three masks (hard links)
    maps = sorted((res / "coilmaps").rglob("*.npy"))
    assert len(maps) == 2 * 2 * len(masks)
    inodes = {(p.parent.name, p.name.rsplit("_", 1)[0]): set() for p in maps}
    for p in maps:
        inodes[(p.parent.name, p.name.rsplit("_", 1)[0])].add(p.stat().st_ino)
    assert all(len(v) == 1 for v in inodes.values())
