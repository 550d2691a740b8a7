"""Benchmark: why workflow jobs were 2-4x slower per frame than the recon benchmark (issue 19), side by side.

Snakemake with `--cores N` runs N single-threaded jobs at once. Before `cardiomm.device.limit_threads`, each job's
torch (and BLAS) still started one thread per core, so N jobs ran N x N busy threads on N cores. This script
starts as many concurrent worker processes as there are cores, each reconstructing the same cine slice series
with CardioMM and SENSE, once with the libraries' default threads ("before") and once limited to the job's one
thread ("after", what every workflow job now does), and reports seconds per 2D frame of each.

Goal: with the limit, per-frame time inside concurrent jobs is no worse than a lone process's. Met when the
"after" per-frame time is within 1.25x of the lone single-process time and below "before".

    python benchmarks/bench_threads.py          # writes benchmarks/results/threads.md
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = r"""
import json, sys, time
limit, method = sys.argv[1] == "1", sys.argv[2]
if limit:
    from cardiomm.device import limit_threads
    limit_threads(1)
import numpy as np, torch
from cardiomm.sampling.masks import make_mask, undersample
rng = np.random.default_rng(0)
nt, nc, ny, nx = 12, 10, 112, 128
k = (rng.normal(size=(nt, 1, nc, ny, nx)) + 1j * rng.normal(size=(nt, 1, nc, ny, nx))).astype(np.complex64)
m = make_mask("Uniform8", nt, ny, nx, seed=7)
kus = undersample(k, m)
t = time.perf_counter()
if method == "cardiomm":
    from cardiomm.acquisition import Acquisition
    from cardiomm.recon.learned.model_files import load_model
    from cardiomm.recon.learned.infer import reconstruct_series
    model, _ = load_model("cardiomm/weights/cardiomm.pt", arch="cardiomm")
    t = time.perf_counter()
    for _ in range(2):
        reconstruct_series(model, Acquisition.from_arrays(kus, m, "Uniform8", meta={"modality": "cine"}))
    frames = 2 * nt
else:
    from cardiomm.acquisition import Acquisition
    from cardiomm.recon.classical.sense import sense_recon_series
    sense_recon_series(Acquisition.from_arrays(kus, m, "Uniform8"), lamda=0.01, max_iter=30)
    frames = nt
print(json.dumps({"s_per_frame": (time.perf_counter() - t) / frames, "threads": torch.get_num_threads()}))
"""


def run(workers: int, limit: bool, method: str) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, "1" if limit else "0", method], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    out = []
    for p in procs:
        stdout, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed ({method}, limit={limit})")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    sys.path.insert(0, str(REPO))
    from cardiomm.provenance import cpu_name

    cores = os.cpu_count() or 1
    lines = ["# Threads per job: concurrent jobs with and without the thread limit", "",
             f"Machine: {cpu_name()}, {cores} cores. Date: {dt.date.today().isoformat()}. "
             "Command: `python benchmarks/bench_threads.py`.", "",
             f"{cores} concurrent workers (as `snakemake --cores {cores}` runs {cores} single-threaded jobs), each "
             "reconstructing one 12-frame 128x112 10-coil cine slice (Uniform8); the lone row is one worker alone "
             "with one thread. Seconds per 2D frame, mean over workers.", "",
             "| method | lone, 1 thread | concurrent, default threads (before) | concurrent, limited to 1 (after) "
             "| before / after | goal met |", "| --- | --- | --- | --- | --- | --- |"]
    for method in ("cardiomm", "sense"):
        lone = run(1, True, method)[0]["s_per_frame"]
        before = run(cores, False, method)
        after = run(cores, True, method)
        b = sum(r["s_per_frame"] for r in before) / len(before)
        a = sum(r["s_per_frame"] for r in after) / len(after)
        met = "yes" if a <= 1.25 * lone and a < b else "no"
        lines.append(f"| {method} | {lone:.3f} | {b:.3f} (torch threads {before[0]['threads']}) | {a:.3f} | "
                     f"{b / a:.2f}x | {met} |")
        print(lines[-1], flush=True)
    out = REPO / "benchmarks" / "results" / "threads.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
