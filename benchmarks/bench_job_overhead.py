"""What a workflow job pays before it does any work: the imports and model loading of each job type.

Snakemake runs every job (``script:``) in a fresh Python process, so each job pays its imports again; the default
run has 138 jobs (``snakemake -n``). This benchmark times, in fresh subprocesses, side by side in one run, the
start-up of each job type, i.e. what its stage imports and loads before its first series:

- ``python``: the bare interpreter (``-c pass``), the floor of every job;
- ``numpy`` / ``torch`` / ``monai``: the libraries alone;
- ``segment``: what a CPU segment job imports and loads: the stage, QC and metrics modules and the run's
  TorchScript export of the shipped segmenter (:func:`cardiomm.segmentation.segmenters.load_segmenter_from_config`
  with ``exported=``; rule ``export_segmenter``); ``segment_checkpoint``: the same with the checkpoint loaded
  through MONAI, as every segment job did before the export (and a CUDA job still does);
- ``recon_cardiomm`` / ``recon_varnet``: the shipped network loaded as the recon stage loads it
  (:meth:`cardiomm.methods.Method.prepare`);
- ``recon_sense``, ``quantify``, ``dicom``: the stage module and the modules its function imports.

Goal (issue 28, item 3: "no heavy imports in light jobs"): no job type pays more than torch's import for its
start-up, i.e. ratio to ``torch`` <= 1.2. The table gives each median (of ``--repeat`` fresh processes) as a
ratio to ``torch`` and to ``python``; seconds are machine-dependent and printed for reference only.

Usage::

    python benchmarks/bench_job_overhead.py [--repeat 3] [--note "conditions"] [--results ...job_overhead.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cardiomm.provenance import cpu_name

REPO = Path(__file__).resolve().parents[1]
W = REPO / "cardiomm" / "weights"

SEGMENT_IMPORTS = ("import cardiomm.stages.segment, cardiomm.segmentation.metrics, cardiomm.segmentation.qc, "
                   "cardiomm.io.nifti, pandas\n")


def _segment_probe(exported: str | None) -> str:
    return (SEGMENT_IMPORTS + "from cardiomm.segmentation.segmenters import load_segmenter_from_config as f\n"
            f"f({{'segmentation': None, 'models': {{'segmentation': {str(W / 'segmentation.pt')!r}}}}}, "
            f"exported={exported!r})")


PROBES: dict[str, str] = {
    "python": "pass",
    "numpy": "import numpy",
    "torch": "import torch",
    "monai": "import monai",
    "segment": "",  # filled in main(): it needs the export file
    "segment_checkpoint": _segment_probe(None),
    "recon_cardiomm": ("from cardiomm.methods import method, ReconParams\n"
                       f"method('cardiomm').prepare(ReconParams(model_path={str(W / 'cardiomm.pt')!r}))"),
    "recon_varnet": ("from cardiomm.methods import method, ReconParams\n"
                     f"method('varnet').prepare(ReconParams(model_path={str(W / 'varnet.pt')!r}))"),
    "recon_sense": ("import cardiomm.stages.recon, cardiomm.acquisition\n"
                    "from cardiomm.methods import method, ReconParams\n"
                    "method('sense').prepare(ReconParams(config={'lamda': 0.01, 'max_iter': 30}))"),
    "quantify": "import cardiomm.stages.quantify, cardiomm.quantify.measure",
    "dicom": "import cardiomm.stages.dicom, cardiomm.io.dicom",
}


def _time(code: str) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    dt_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"probe failed:\n{code}\n{proc.stderr[-2000:]}")
    return dt_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--note", default="", help="conditions of the run, printed under the table")
    ap.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "job_overhead.md"))
    args = ap.parse_args(argv)

    from cardiomm.segmentation.compiled import export_segmenter

    tmp = tempfile.mkdtemp(prefix="bench_job_overhead_")
    export_segmenter(W / "segmentation.pt", Path(tmp) / "segmenter.torchscript")
    PROBES["segment"] = _segment_probe(str(Path(tmp) / "segmenter.torchscript"))
    _time("import torch, monai")  # warm the file cache once, so that no probe pays the first read
    times: dict[str, list[float]] = {k: [] for k in PROBES}
    for _ in range(args.repeat):  # interleaved, so that a change of machine load touches every probe alike
        for name, code in PROBES.items():
            times[name].append(_time(code))
    med = {k: statistics.median(v) for k, v in times.items()}
    goal = 1.2
    lines = [
        "# Job start-up overhead: what each workflow job pays before its work",
        "",
        "Goal (issue 28, item 3, \"no heavy imports in light jobs\"): no job type's start-up costs more than "
        f"{goal}x torch's import. Made by `python benchmarks/bench_job_overhead.py --repeat {args.repeat}`.",
        "",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- medians of {args.repeat} fresh processes per probe, interleaved; seconds for reference only",
        "",
        "| probe | x torch | x python | median s | goal met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in PROBES:
        r = med[k] / med["torch"]
        met = "" if k in ("python", "numpy", "torch", "monai") else ("met" if r <= goal else "NOT met")
        lines.append(f"| {k} | {r:.2f} | {med[k] / med['python']:.1f} | {med[k]:.2f} | {met} |")
    slow = [k for k in PROBES if k not in ("python", "numpy", "torch", "monai") and med[k] / med["torch"] > goal]
    lines += ["", f"**Goal {'met' if not slow else 'NOT met'}**" + (f": {', '.join(slow)} exceed it." if slow else "."),
              "", "Reading: `import monai` loads every MONAI submodule (its package `__init__` calls "
              "`load_submodules`), so any job that touches one MONAI class (E2E-VarNet's blocks; the segmenter's "
              "U-Net when loaded from its checkpoint: `segment_checkpoint`) pays the whole library; a CPU segment "
              "job runs the run's TorchScript export instead (`segment`); "
              "SENSE's start-up is SigPy's (numba). Each job pays this once, "
              "so it weighs most in short jobs (the segment jobs, every job of the tiny test workflows)."]
    if args.note:
        lines += ["", f"Conditions: {args.note}"]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.results).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
