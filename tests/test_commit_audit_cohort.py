"""Committing the powered audit (benchmarks/commit_audit_cohort.py): a run that is not finished is refused with
one error naming what is missing, the stretches of a resumed run add up, and big tables are gzipped losslessly.
The end-to-end commit of a real run is in tests/test_workflow.py (the tiny run)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import commit_audit_cohort as cac  # noqa: E402


def test_wall_log_stretches_are_read_and_a_bad_line_is_named(tmp_path):
    log = tmp_path / "segments.txt"
    log.write_text("rc=1 start=2026-12-07T16:55:49Z wall_s=4200\n\nrc=0 start=2026-12-08T09:00:00Z wall_s=9000.5\n")
    segs = cac.read_wall_log(log)
    assert [s["rc"] for s in segs] == [1, 0] and sum(s["wall_s"] for s in segs) == pytest.approx(13200.5)
    log.write_text("rc=0 start=2026-12-07T16:55:49Z wall_s=4200\nfinished in 3 h\n")
    with pytest.raises(ValueError, match=r"segments.txt:2: expected"):
        cac.read_wall_log(log)
    log.write_text("\n")
    with pytest.raises(ValueError, match="no stretch"):
        cac.read_wall_log(log)


def _finished(res: Path, n: int) -> None:
    for d in ("tables", "figures"):
        (res / d).mkdir(parents=True, exist_ok=True)
    (res / "audit.md").write_text("# audit\n")
    (res / "provenance.json").write_text("{}")
    (res / "figures" / "verdict_map.png").write_bytes(b"\x89PNG")
    pd.DataFrame({"indicator": ["LVEF", "LVM"], "n": [n, n - 1]}).to_csv(res / "tables" / "agreement.csv")


def test_an_unfinished_or_underpowered_run_is_refused(tmp_path):
    res = tmp_path / "results" / "synthetic_audit"
    _finished(res, 30)
    assert len(cac.check_finished(res, 30)) == 2
    with pytest.raises(ValueError, match="at most 12 paired subjects per cell, the cohort has 30"):
        _finished(res, 12)
        cac.check_finished(res, 30)
    (res / "audit.md").unlink()
    with pytest.raises(FileNotFoundError, match=r"audit\.md: missing"):
        cac.check_finished(res, 12)


def test_tables_over_the_limit_are_gzipped_losslessly(tmp_path):
    res, dest = tmp_path / "res", tmp_path / "dest"
    _finished(res, 3)
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"value": rng.normal(size=120_000), "subject": "P001"})
    big.to_csv(res / "tables" / "biomarkers.csv", index=False)
    assert (res / "tables" / "biomarkers.csv").stat().st_size > cac.GZIP_OVER_BYTES
    dest.mkdir()
    written = cac.copy_results(res, dest)
    assert "tables/biomarkers.csv.gz" in written and "tables/agreement.csv" in written
    assert "figures/verdict_map.png" in written and "audit.md" in written
    back = pd.read_csv(dest / "tables" / "biomarkers.csv.gz")
    pd.testing.assert_frame_equal(back, pd.read_csv(res / "tables" / "biomarkers.csv"))
