"""Benchmark: synthetic cohort generation time and peak memory, default and paper sizes.

Each size renders one subject in a fresh subprocess (so peak RSS is that of one generation job, as in the
workflow's `synthesize` rule) and extrapolates the default cohort's wall time from the per-subject time.

    python benchmarks/bench_cohort.py            # writes benchmarks/results/cohort.md
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, resource, sys, time
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
cfg = PhantomConfig.from_dict(json.loads(sys.argv[1]))
spec = [s for s in cohort_specs(cfg) if s.n_coils_raw == max(cfg.coils_raw)] or cohort_specs(cfg)
t = time.perf_counter()
write_subject(spec[0], cfg, sys.argv[2])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": peak, "coils_raw": spec[0].n_coils_raw}))
"""


def run(size: str, phantom: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(phantom), tmp], capture_output=True, text=True,
                             check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        res = json.loads(out.stdout.strip().splitlines()[-1])
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 1e6
    res.update(size=size, disk_mb=size_mb)
    return res


def main() -> None:
    default = yaml.safe_load((REPO / "config.yaml").read_text())["phantom"]
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())["phantom"]
    rows = [run("default", default), run("paper", paper)]
    n_eval = default["counts"]["test"] + default["counts"]["external"]
    n_all = sum(default["counts"].values())
    load = os.getloadavg()
    lines = [
        "# Synthetic cohort generation", "",
        f"- date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- load average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other jobs were running)",
        "- command: `OMP_NUM_THREADS=1 python benchmarks/bench_cohort.py`",
        "- one subject per size (the subject with the most raw coils), one fresh process each, 1 thread", "",
        "| size | matrix | raw coils | seconds / subject | peak RSS (MB) | disk / subject (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r, p in zip(rows, (default, paper), strict=True):
        lines.append(f"| {r['size']} | {p['ny']}x{p['nx']}, {p['nt']} frames, {p['nz']} slices | {r['coils_raw']} | "
                     f"{r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | {r['disk_mb']:.0f} |")
    per = rows[0]["seconds"]
    lines += ["", f"Default cohort: {n_eval} evaluated subjects (what `make run` generates) take about "
              f"{per * n_eval / 2:.0f} s on 2 cores ({per * n_eval:.0f} s on one); all {n_all} subjects including "
              f"the training splits about {per * n_all / 2:.0f} s on 2 cores (upper bound: the subject timed has the "
              "most raw coils). Goal: the default cohort in under 2 minutes on 2 cores."]
    out = REPO / "benchmarks" / "results" / "cohort.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
