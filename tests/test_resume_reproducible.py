"""Interruption and reproducibility, through the real workflow on a small config.

Run A goes straight through. Run B is killed (SIGKILL, the whole process group) while reconstructions are
being written, then rerun: it resumes, finishes, and every table is byte-identical to run A's. This shows that
no half-written file is taken as done (outputs are written atomically) and that CPU runs are bitwise
reproducible under the same config and seed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["indicator_tables", "image_quality_table", "mask_table"]


def _setup(tmp: Path) -> list[str]:
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    cfg.update(modalities=["cine", "t2map"], masks=["ktRadial24"], methods=["zerofilled", "cardiomm"])
    cfg["phantom"]["counts"] = {**cfg["phantom"]["counts"], "test": 2}  # two subjects: each run is one third shorter
    cfg["models"] = {k: str(REPO / v) for k, v in cfg["models"].items()}
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp),
            "--configfile", str(tmp / "config.yaml"), "--cores", "2", "--rerun-incomplete", *TARGETS]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not (REPO / "cardiomm" / "weights" / "cardiomm.pt").exists():
        pytest.fail("shipped checkpoints missing under cardiomm/weights/")
    a = tmp_path_factory.mktemp("runA")
    proc = subprocess.run(_setup(a), capture_output=True, text=True, cwd=a, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-4000:]

    b = tmp_path_factory.mktemp("runB")
    cmd = _setup(b)
    p = subprocess.Popen(cmd, cwd=b, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    recon = b / "results" / "tiny" / "recon"
    t0 = time.time()
    while time.time() - t0 < 600 and p.poll() is None:
        if recon.exists() and any(recon.rglob("*.mat")):
            break
        time.sleep(0.2)
    killed = p.poll() is None
    if killed:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        # a killed Snakemake leaves its lock; `make run` removes a stale lock the same way before resuming
        subprocess.run(cmd[: cmd.index("--cores")] + ["--unlock"], capture_output=True, cwd=b, timeout=300, check=True)
    resumed = subprocess.run(cmd, capture_output=True, text=True, cwd=b, timeout=1200)
    return a, b, killed, resumed


@pytest.mark.slow
def test_killed_run_resumes_and_matches_an_uninterrupted_run(runs):
    a, b, killed, resumed = runs
    assert killed, "the run finished before it could be interrupted"
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    tables = sorted((a / "results" / "tiny" / "tables").glob("*.csv"))
    assert {t.name for t in tables} == {"phenotypes.csv", "biomarkers.csv", "image_quality.csv", "masks.csv"}
    for t in tables:
        assert t.read_bytes() == (b / "results" / "tiny" / "tables" / t.name).read_bytes(), t.name


@pytest.mark.slow
def test_no_temporary_files_left_behind(runs):
    _, b, _, _ = runs
    leftovers = [p for p in (b / "results").rglob("*") if ".tmp" in p.name]
    assert leftovers == []
