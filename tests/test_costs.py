"""Stage cost table from Snakemake benchmark files (cardiomm.costs): parsing, grouping, per-frame division."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardiomm import costs

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, s: float, rss: float, cpu: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_stage_cost_table_per_subject_and_frame(tmp_path):
    runs = tmp_path / "runs"
    _bench(runs / "recon" / "sense" / "P1.tsv", 30.0, 500.0, 28.0)
    _bench(runs / "recon" / "sense" / "P2.tsv", 50.0, 700.0, 44.0)
    _bench(runs / "segment" / "reference" / "P1.tsv", 4.0, 300.0, 3.0)
    _bench(runs / "synthesize" / "P1.tsv", 10.0, 800.0, 9.0)
    _bench(runs / "figures.tsv", 20.0, 900.0, 18.0)
    bench = costs.read_benchmarks(runs)
    assert len(bench) == 5
    assert set(bench["stage"]) == {"recon", "segment", "synthesize", "figures"}
    frames = {"P1": 100, "P2": 200}
    t = costs.stage_cost_table(bench, frames, n_masks=3).set_index(["stage", "method"])
    sense = t.loc[("recon", "sense")]
    assert sense["jobs"] == 2 and sense["subjects"] == 2
    assert sense["wall_s_total"] == pytest.approx(80.0)
    assert sense["wall_s_per_subject"] == pytest.approx(40.0)
    # per frame: each job handled frames x 3 masks; mean of 30/300 and 50/600
    assert sense["wall_s_per_frame"] == pytest.approx((30 / 300 + 50 / 600) / 2)
    assert sense["cpu_s_per_frame"] == pytest.approx((28 / 300 + 44 / 600) / 2)
    assert sense["max_rss_mb"] == 700.0
    # the reference is segmented once (fully sampled): no mask multiplier
    assert t.loc[("segment", "reference"), "wall_s_per_frame"] == pytest.approx(4 / 100)
    assert t.loc[("synthesize", ""), "frames_per_job"] == 100
    # a cohort-wide job has no subject and no per-frame figure
    fig = t.loc[("figures", "")]
    assert fig["subjects"] == 0 and np.isnan(fig["wall_s_per_frame"])
    # sorted by total cost, most expensive first
    assert list(t.index)[0] == ("recon", "sense")
    md = costs.markdown(t.reset_index(), cores=2)
    assert "114 job-seconds" in md and "0.9 min" in md


def test_not_a_benchmark_file_names_it(tmp_path):
    bad = tmp_path / "runs" / "recon" / "sense" / "P1.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="P1.tsv"):
        costs.read_benchmarks(tmp_path / "runs")


def test_frames_in_nifti(tmp_path):
    from cardiomm.io.nifti import Geometry, save_image

    f = tmp_path / "x.nii.gz"
    save_image(f, np.ones((5, 3, 8, 6), np.float32), Geometry(1.0, 1.0, 8.0, 2.0, 0.05))
    assert costs.frames_in_nifti(f) == 15


def test_tqdm_goes_to_the_log(caplog):
    import logging

    from tqdm import tqdm

    from cardiomm.progress import tqdm_to_log

    with caplog.at_level(logging.INFO, logger="cardiomm"):
        for _ in tqdm(range(3), desc="epoch 1/1", **tqdm_to_log(mininterval=0.0)):
            pass
    lines = [r.getMessage() for r in caplog.records if r.name == "cardiomm"]
    assert any("epoch 1/1" in m and "3/3" in m for m in lines), lines
    assert all("\r" not in m and "\n" not in m for m in lines)
