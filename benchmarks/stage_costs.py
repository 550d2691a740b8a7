"""Benchmark: the whole default run, timed, and what each of its stages cost.

Goal (DEVELOPERS.md, issue 19): `make run` finishes in <= 15 minutes after the install on 2 cores, with every
stage and method of the default config.

    python benchmarks/stage_costs.py --run "make run"              # time a run, then tabulate its stages
    python benchmarks/stage_costs.py --cohort synthetic_full        # tabulate an earlier run's benchmark files

It reads every Snakemake `benchmark:` file of the run (`benchmarks/runs/<cohort>/`) with
:mod:`cardiomm.costs` and writes `benchmarks/results/stage_costs[_<cohort>].md`: per stage and method the wall
and CPU seconds per job, per subject and per 2D frame, and peak RSS, with machine, command and date. For a
timed run, start from a state in which the run's outputs do not exist (a fresh clone, or `make clean-results`
and removing `benchmarks/runs/<cohort>`), or the figure means nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm import costs  # noqa: E402
from cardiomm.provenance import cpu_name  # noqa: E402

GOAL_S = 15 * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", help="command to time first (e.g. 'make run'), from the repository root")
    ap.add_argument("--cohort", help="cohort name (default: config.yaml's)")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", help="markdown output (default benchmarks/results/stage_costs[_<cohort>].md)")
    args = ap.parse_args()
    cohort = args.cohort or yaml.safe_load((REPO / "config.yaml").read_text())["cohort"]
    wall = None
    if args.run:
        t0 = time.perf_counter()
        subprocess.run(args.run, shell=True, cwd=REPO, check=True)
        wall = time.perf_counter() - t0
    res = REPO / "results" / cohort
    frames: dict[str, int] = {}
    for f in sorted((res / "recon" / "reference" / "full").glob("*/*.nii.gz")):
        frames[f.parent.name] = frames.get(f.parent.name, 0) + costs.frames_in_nifti(f)
    masks = [p.name for p in (res / "recon").glob("*/*") if p.is_dir() and p.name != "full"]
    n_masks = len(set(masks)) or 1
    table = costs.stage_cost_table(costs.read_benchmarks(REPO / "benchmarks" / "runs" / cohort), frames, n_masks)
    head = [f"# Stage costs: cohort `{cohort}`", "",
            f"Machine: {cpu_name()}, {args.cores} cores. Date: {dt.date.today().isoformat()}. "
            f"Command: `python benchmarks/stage_costs.py {' '.join(sys.argv[1:])}`.",
            f"Subjects evaluated: {len(frames)}; masks: {n_masks}.", ""]
    if wall is not None:
        met = "met" if wall <= GOAL_S else "NOT met"
        head += [f"Goal: the run finishes in <= {GOAL_S // 60} min on 2 cores. Measured: `{args.run}` took "
                 f"{wall / 60:.1f} min wall: **{met}**.", ""]
    else:
        head += [f"Goal: `make run` <= {GOAL_S // 60} min on 2 cores; this table was not timed as a whole "
                 "(no --run).", ""]
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / (
        "stage_costs.md" if args.run or cohort == "synthetic" else f"stage_costs_{cohort}.md")
    out.write_text("\n".join(head) + costs.markdown(table, args.cores))
    print(out.read_text())


if __name__ == "__main__":
    main()
