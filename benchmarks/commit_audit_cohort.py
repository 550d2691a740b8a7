"""Commit a finished powered audit: its ``audit.md``, tables and figures, with how it was made (issue 30, item 7).

Goal: the powered audit (``config/audit.yaml``: 24 test + 6 external subjects, every default method and k-t TV)
is committed under ``benchmarks/results/audit_cohort/`` with the command, the machine, the date, the code version
and the wall time, so that the default run's audit can point to it and the README's headline verdicts can come
from it. It also writes the truth recovery of that cohort's reference (``benchmarks/bench_truth_recovery.py``,
issue 30 item 3's goal "on the fully sampled reference of the powered cohort") beside it.

Usage, from the checkout that ran the audit::

    snakemake --cores 2 --configfile config/audit.yaml       # hours on 2 cores; resumes where it stopped
    python benchmarks/commit_audit_cohort.py --config config.yaml --config config/audit.yaml \\
        --wall-log audit_segments.txt --command "snakemake --cores 2 --configfile config/audit.yaml"

``--wall-log`` is a text file with one line per uninterrupted stretch of the run (an interrupted run resumes, so a
run of several hours may come in stretches): ``rc=<exit status> start=<ISO time> wall_s=<seconds>``. The total
wall time is their sum, and each stretch is listed.

It refuses (one error naming what is missing) a run that is not finished: no ``audit.md``, a table missing, or
fewer paired subjects per cell than the run's cohort holds. Nothing is re-run. The folder is replaced as a whole
(written beside it, then renamed), so a failure leaves the previous commit in place. Tables over 1 MB are written
gzipped (``pandas.read_csv`` reads them as they are).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.compare.audit import POWERED_RESULT  # noqa: E402
from cardiomm.provenance import cpu_name  # noqa: E402
from cardiomm.workflow import plan_from_config  # noqa: E402

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_truth_recovery import merged  # noqa: E402

GZIP_OVER_BYTES = 1_000_000
_SEGMENT = re.compile(r"rc=(?P<rc>-?\d+)\s+start=(?P<start>\S+)\s+wall_s=(?P<wall>\d+(?:\.\d+)?)")


def read_wall_log(path: Path) -> list[dict]:
    """The stretches of a run, ``[{rc, start, wall_s}, ...]``; a line that is not one names the file and line."""
    out = []
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        m = _SEGMENT.fullmatch(line.strip())
        if m is None:
            raise ValueError(f"{path}:{i}: expected 'rc=<int> start=<ISO time> wall_s=<seconds>', got {line!r}")
        out.append({"rc": int(m["rc"]), "start": m["start"], "wall_s": float(m["wall"])})
    if not out:
        raise ValueError(f"{path}: no stretch of the run recorded")
    return out


def check_finished(res: Path, n_expected: int) -> pd.DataFrame:
    """The run's agreement table, once the run is finished; else one error naming what is missing."""
    for f in ("audit.md", "provenance.json", "tables/agreement.csv", "figures/verdict_map.png"):
        if not (res / f).exists():
            raise FileNotFoundError(f"{res / f}: missing; the audit has not finished (rerun the snakemake command; "
                                    "it resumes)")
    agr = pd.read_csv(res / "tables" / "agreement.csv")
    n = int(agr["n"].max()) if len(agr) else 0
    if n < n_expected:
        raise ValueError(f"{res / 'tables/agreement.csv'}: at most {n} paired subjects per cell, the cohort has "
                         f"{n_expected}: the audit is not the powered one")
    return agr


def copy_results(res: Path, dest: Path) -> list[str]:
    """Copy ``audit.md``, ``audit.html``, ``provenance.json``, ``tables/*.csv`` and ``figures/*.png`` into ``dest``
    (CSVs over :data:`GZIP_OVER_BYTES` gzipped); returns the files written, relative to ``dest``."""
    written = []
    for f in ("audit.md", "audit.html", "provenance.json"):
        if (res / f).exists():
            shutil.copy2(res / f, dest / f)
            written.append(f)
    for sub, pattern in (("tables", "*.csv"), ("figures", "*.png")):
        (dest / sub).mkdir(parents=True, exist_ok=True)
        for p in sorted((res / sub).glob(pattern)):
            if p.suffix == ".csv" and p.stat().st_size > GZIP_OVER_BYTES:
                with p.open("rb") as src, gzip.open(dest / sub / (p.name + ".gz"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                written.append(f"{sub}/{p.name}.gz")
            else:
                shutil.copy2(p, dest / sub / p.name)
                written.append(f"{sub}/{p.name}")
    return written


def header(args: argparse.Namespace, plan, segments: list[dict], prov: dict, agr: pd.DataFrame,
           written: list[str]) -> str:
    """The folder's README: what the run was and how it was made."""
    wall = sum(s["wall_s"] for s in segments)
    splits = pd.Series([s.split for s in plan.subjects]).value_counts().to_dict()
    lines = [
        "# The powered audit (issue 30, item 7)",
        "",
        f"- command: `{args.command}`" if args.command else "- command: (not recorded)",
        f"- configs: {', '.join('`' + c + '`' for c in args.config)}",
        f"- cohort: `{plan.cohort}`, {len(plan.subjects)} evaluated subjects "
        f"({', '.join(f'{v} {k}' for k, v in sorted(splits.items()))}); at most {int(agr['n'].max())} paired "
        "subjects per cell",
        f"- methods: {', '.join(plan.methods)}; masks: {', '.join(plan.masks)}",
        f"- code: {prov.get('cardiomm_version', '(not in provenance.json)')}, "
        f"config sha256 {prov.get('config_sha256', '?')}",
        f"- machine: {cpu_name()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- wall time: **{wall / 3600:.2f} h** in {len(segments)} stretch(es) (an interrupted run resumes):",
    ]
    lines += [f"  - started {s['start']}, {s['wall_s'] / 60:.1f} min, exit status {s['rc']}" for s in segments]
    lines += [
        f"- committed: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/commit_audit_cohort.py "
        f"{' '.join('--config ' + c for c in args.config)} --wall-log {args.wall_log}`",
        "",
        "Files: `audit.md` (the audit, read it first; `audit.html` the same as a page), `truth_recovery.md` (the "
        "reference against the phantom truth on this cohort), `provenance.json` (versions, checkpoints, config), "
        "`tables/` (" + ", ".join(f"`{w.split('/', 1)[1]}`" for w in written if w.startswith("tables/")) + "), "
        f"`figures/` ({sum(w.startswith('figures/') for w in written)} PNGs).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", required=True, help="the run's workflow config(s), in order")
    ap.add_argument("--wall-log", required=True, type=Path, help="the run's stretches (see the module docstring)")
    ap.add_argument("--command", default="", help="the command that made the run")
    ap.add_argument("--out", type=Path, default=REPO / POWERED_RESULT)
    args = ap.parse_args()

    plan = plan_from_config(merged(args.config))
    res = Path(plan.res)
    segments = read_wall_log(args.wall_log)
    if segments[-1]["rc"] != 0:
        sys.exit(f"{args.wall_log}: the last stretch of the run exited with {segments[-1]['rc']}: not finished")
    agr = check_finished(res, n_expected=len(plan.subjects))
    prov = json.loads((res / "provenance.json").read_text())

    out = args.out.resolve()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    written = copy_results(res, tmp)
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_truth_recovery.py"),
                    *sum((["--config", c] for c in args.config), []), "--results", str(tmp / "truth_recovery.md"),
                    "--command", args.command], check=True)
    (tmp / "README.md").write_text(header(args, plan, segments, prov, agr, written))
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    print(f"committed the powered audit to {out} ({len(written) + 2} files)")


if __name__ == "__main__":
    main()
