"""Benchmark: per-subject synthesis time of the realistic phantom (issue 15) against the old one (all realism
switches off), side by side in one run, and the default cohort's extrapolated wall time on 2 cores.

    OMP_NUM_THREADS=1 python benchmarks/bench_phantom.py [n_subjects]   # writes benchmarks/results/phantom.md
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import yaml

from cardiomm.phantom.generate import REALISM_OFF, PhantomConfig, cohort_specs, write_subject

REPO = Path(__file__).resolve().parents[1]
GOAL_S = 120.0


def main(n: int = 3) -> None:
    cfg = PhantomConfig.from_dict(yaml.safe_load((REPO / "config.yaml").read_text())["phantom"])
    old = dataclasses.replace(cfg, **REALISM_OFF)
    specs = cohort_specs(cfg)[:n]
    times = {"old": [], "new": []}
    with tempfile.TemporaryDirectory() as tmp:
        for s in specs:  # alternate old/new per subject so load changes hit both alike
            for name, c in (("old", old), ("new", cfg)):
                t = time.perf_counter()
                write_subject(s, c, Path(tmp) / name)
                times[name].append(time.perf_counter() - t)
    n_cohort = sum(int(v) for v in cfg.counts.values())
    mean = {k: sum(v) / len(v) for k, v in times.items()}
    cohort_s = mean["new"] * n_cohort / 2  # two synthesize jobs in parallel on 2 cores
    load = os.getloadavg()
    lines = [
        "# Phantom synthesis time (issue 15)", "",
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}. Machine: {platform.node()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared (load average "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}: measured under load).",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} "
        f"python benchmarks/bench_phantom.py {n}`.",
        "", "| subject | raw coils | old s (switches off) | new s | ratio |", "|---|---|---|---|---|",
    ]
    for s, a, b in zip(specs, times["old"], times["new"], strict=True):
        lines.append(f"| {s.subject} | {s.n_coils_raw} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
    lines += ["", f"Mean: old {mean['old']:.2f} s, new {mean['new']:.2f} s per subject (ratio "
              f"{mean['new'] / mean['old']:.2f}).",
              f"Default cohort ({n_cohort} subjects, 2 parallel jobs on 2 cores): about {cohort_s:.0f} s; "
              f"goal < {GOAL_S:.0f} s: {'met' if cohort_s < GOAL_S else 'NOT met'}.", ""]
    out = REPO / "benchmarks" / "results" / "phantom.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
