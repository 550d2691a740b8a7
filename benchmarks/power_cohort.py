"""Benchmark: the powered audit's cohort size, from the project's power code and the measured spread of the
differences.

Goal (issue 30, item 7): choose the number of subjects so that the null control `rescan` and the best method at
Uniform8 reach a decision (preserved or not preserved, :mod:`cardiomm.compare.verdict`) on every indicator, and
estimate the powered audit's CPU time on 2 cores with every default method, k-t TV included, and one more network.

    python benchmarks/power_cohort.py --run       # measure (the workflow on config/power_cohort.yaml), then analyse
    python benchmarks/power_cohort.py             # analyse existing results

Inputs:

- the screen (``--screen``, default ``results/synthetic/tables/agreement.csv``: the default run, 3 subjects, every
  default method and mask): which method is best at Uniform8, by the median over the indicators of its relative
  point limit (|bias| + 1.96 SD) / tolerance against the reference;
- the measurement (``--measure``, default ``results/power_cohort/tables/agreement.csv``, from ``--run``: 20
  subjects, `rescan` and that method at Uniform8): each indicator's bias and SD of the differences;
- ``benchmarks/results/stage_costs.md`` (seconds per subject per stage and method) and
  ``benchmarks/results/classical.md`` (k-t TV's CPU per frame relative to SENSE's) for the time estimate.

For each indicator and each of the two, :func:`cardiomm.compare.power.n_for_power` gives the smallest n at which a
cohort decides the cell with probability 0.8 if the measured bias and SD were true (seeded Monte Carlo through
the verdict rule), and again with the SD at its one-sided 80% upper confidence bound (the SDs are estimates
too). The cohort size is the largest of them over the indicators that a feasible n (<= ``--n-max``) can decide;
the others are named. Writes ``benchmarks/results/power_cohort.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cardiomm.compare.agreement import headline  # noqa: E402
from cardiomm.compare.power import decision_probability, n_for_power  # noqa: E402
from cardiomm.compare.tolerances import default_tolerances  # noqa: E402
from cardiomm.compare.verdict import n_needed  # noqa: E402
from cardiomm.conventions import INDICATORS, REFERENCE  # noqa: E402
from cardiomm.methods import CONTROLS, label  # noqa: E402
from cardiomm.provenance import cpu_name  # noqa: E402

RESCAN = "rescan"
MASK = "Uniform8"
POWER = 0.8
#: the audit's methods (config/audit.yaml): the default methods, k-t TV, and one network not yet in the project,
#: costed like CardioMM-style (the dearest network measured)
AUDIT_METHODS = ("rescan", "zerofilled", "sense", "kttv", "varnet", "cardiomm", "promptmr")
NEW_NETWORK_LIKE = "cardiomm"
EXTERNAL_SHARE = 0.2  # external-centre subjects in the audit cohort (today's config/audit.yaml: 10 of 50)
#: the chosen cohort: the largest subjects-per-cell need x this margin (the SDs are estimates from 20 pairs),
#: rounded up to a multiple of 5
MARGIN = 1.25


def run_measurement(cores: int) -> float:
    """The measurement cohort's workflow (config.yaml + config/power_cohort.yaml); returns its wall seconds."""
    cmd = [str(REPO / ".venv/bin/snakemake"), "--cores", str(cores), "--rerun-incomplete", "--configfile",
           "config.yaml", "config/power_cohort.yaml"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True)
    return time.perf_counter() - t0


def relative_limit(r: pd.Series) -> float:
    return (abs(r["bias"]) + 1.96 * r["sd"]) / r["tolerance"]


def screen(agr: pd.DataFrame) -> pd.DataFrame:
    """Per method at Uniform8 (against the reference, headline cells): the median and the largest relative point
    limit over the indicators, and how many have one. The best method has the smallest median."""
    a = headline(agr[(agr["comparator"] == REFERENCE) & (agr["mask"] == MASK)])
    a = a[np.isfinite(a["sd"])]
    rows = []
    for m, sub in a.groupby("method"):
        rel = sub.apply(relative_limit, axis=1)
        rows.append({"method": m, "indicators": len(sub), "median_rel_limit": rel.median(), "max_rel_limit": rel.max(),
                     "n": int(sub["n"].max())})
    return pd.DataFrame(rows).sort_values("median_rel_limit").reset_index(drop=True)


def sd_upper(sd: float, n: int, conf: float = 0.8) -> float:
    """One-sided ``conf`` upper confidence bound of a normal SD estimated from ``n`` pairs."""
    return float(sd * math.sqrt((n - 1) / stats.chi2.ppf(1 - conf, n - 1)))


def needs(agr: pd.DataFrame, method: str, mask: str, tol: dict[str, float], n_max: int) -> pd.DataFrame:
    """Per indicator: the measured bias, SD, n and the n for a decision with probability 0.8 (point SD and SD at
    its 80% upper bound)."""
    a = headline(agr[(agr["comparator"] == REFERENCE) & (agr["method"] == method) & (agr["mask"] == mask)])
    rows = []
    for ind in INDICATORS:
        hit = a[a["indicator"] == ind]
        if hit.empty or not np.isfinite(hit.iloc[0]["sd"]):
            rows.append({"indicator": ind, "n": 0, "kept": math.nan, "bias": math.nan, "sd": math.nan,
                         "verdict": "n/a", "rel_limit": math.nan, "n80": math.nan, "n80_sd_hi": math.nan,
                         "subjects": math.nan, "subjects_sd_hi": math.nan})
            continue
        r = hit.iloc[0]
        t, n = tol[ind], int(r["n"])
        # subjects lost to QC or non-finite values: the cohort must be larger than the pairs needed
        kept = n / max(1, n + int(r["n_qc_failed"]) + int(r["n_nonfinite"]) + int(r["n_unpaired"]))
        n80 = n_for_power(r["bias"], r["sd"], t, POWER, n_max=n_max)
        n80_hi = n_for_power(r["bias"], sd_upper(r["sd"], n), t, POWER, n_max=n_max)
        rows.append({"indicator": ind, "n": n, "kept": kept, "bias": r["bias"], "sd": r["sd"], "verdict": r["verdict"],
                     "rel_limit": relative_limit(r), "n80": n80, "n80_sd_hi": n80_hi,
                     "subjects": math.ceil(n80 / kept) if np.isfinite(n80) else n80,
                     "subjects_sd_hi": math.ceil(n80_hi / kept) if np.isfinite(n80_hi) else n80_hi})
    return pd.DataFrame(rows)


def _stage_costs() -> pd.DataFrame:
    """``benchmarks/results/stage_costs.md``'s table (stage, method, wall_s_per_subject, ...)."""
    lines = [ln for ln in (REPO / "benchmarks/results/stage_costs.md").read_text().splitlines()
             if ln.startswith("| ") and "---" not in ln]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[1:]]
    df = pd.DataFrame(body, columns=head)
    for c in head[2:]:
        df[c] = pd.to_numeric(df[c], errors="coerce")
    return df


def _kttv_vs_sense() -> float:
    """k-t TV's CPU per frame relative to SENSE's (SigPy), mean over the masks of ``classical.md``."""
    text = (REPO / "benchmarks/results/classical.md").read_text()
    ratios = [float(m.group(1)) for m in re.finditer(r"^\| \w+ \| kttv \| sigpy \|(?: [^|]+ \|){4} ([\d.]+) \|$",
                                                       text, re.M)]
    if not ratios:
        raise ValueError("benchmarks/results/classical.md: no kttv sigpy rows with a CPU ratio")
    return float(np.mean(ratios))


def cpu_estimate(n_subjects: int, cores: int = 2) -> tuple[float, list[str]]:
    """Job-seconds of the powered audit per subject from the default run's stage costs, and the wall time on
    ``cores`` (job-seconds / cores: the default run's measured wall was within 5% of that bound)."""
    sc = _stage_costs()
    per = {(r["stage"], r["method"] if isinstance(r["method"], str) else ""): r["wall_s_per_subject"]
           for _, r in sc.iterrows()}
    kttv = _kttv_vs_sense()
    notes = []

    def cost(stage: str, method: str) -> float:
        if (stage, method) in per:
            return float(per[(stage, method)])
        if method == "kttv" and stage == "recon":
            notes.append(f"k-t TV recon = SENSE's x {kttv:.2f} (CPU per frame, benchmarks/results/classical.md)")
            return float(per[("recon", "sense")]) * kttv
        if method in CONTROLS:  # the null control is made and measured as the reference is; scored as a method
            key = {"recon": ("reference", ""), "image_quality": ("image_quality", "zerofilled")}
            return float(per[key.get(stage, (stage, "reference"))])
        like = "sense" if method == "kttv" else NEW_NETWORK_LIKE
        notes.append(f"{stage} of {method} = {like}'s")
        return float(per[(stage, like)])

    total = 0.0
    for stage in ("synthesize", "undersample", "reference", "coilmaps"):
        total += float(per[(stage, "")])
    total += float(per[("segment", "reference")]) + float(per[("quantify", "reference")])
    for m in (*AUDIT_METHODS, "new network"):
        for stage in ("recon", "segment", "quantify", "image_quality"):
            total += cost(stage, m if m != "new network" else NEW_NETWORK_LIKE)
    fixed = float(sc.loc[sc["stage"] == "figures", "wall_s_total"].sum()) + 120.0  # figures; agreement and report
    return total * n_subjects / cores + fixed, sorted(set(notes))


def _fmt_n(v: float) -> str:
    return "never" if v == math.inf else ("n/a" if not np.isfinite(v) else f"{int(v)}")


def _argv_without_note() -> str:
    argv, out = sys.argv[1:], []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            out.append(a)
    return " ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="run the measurement cohort's workflow first")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--screen", default="results/synthetic/tables/agreement.csv")
    ap.add_argument("--measure", default="results/power_cohort/tables/agreement.csv")
    ap.add_argument("--best", help="the method at Uniform8 to size for (default: the screen's best)")
    ap.add_argument("--n-max", type=int, default=120, help="largest cohort considered feasible")
    ap.add_argument("--out", default="benchmarks/results/power_cohort.md")
    ap.add_argument("--note", default="", help="where the inputs came from (printed under the command)")
    args = ap.parse_args()
    wall = run_measurement(args.cores) if args.run else None
    tol = default_tolerances()[0]
    scr = screen(pd.read_csv(REPO / args.screen, keep_default_na=False, na_values=[""]))
    scr = scr[~scr["method"].isin(CONTROLS)]
    best = args.best or scr.iloc[0]["method"]
    meas = pd.read_csv(REPO / args.measure, keep_default_na=False, na_values=[""])
    t_r = needs(meas, RESCAN, "full", tol, args.n_max)
    t_b = needs(meas, best, MASK, tol, args.n_max)
    both = pd.concat([t_r.assign(who=RESCAN), t_b.assign(who=best)])
    feasible = both[np.isfinite(both["subjects"]) & (both["subjects"] <= args.n_max)]
    n_point = int(feasible["subjects"].max()) if len(feasible) else math.nan
    hi = both[np.isfinite(both["subjects_sd_hi"]) & (both["subjects_sd_hi"] <= args.n_max)]
    n_hi = int(hi["subjects_sd_hi"].max()) if len(hi) else math.nan
    undecidable = both[~(np.isfinite(both["subjects"]) & (both["subjects"] <= args.n_max))]
    chosen = int(5 * math.ceil(MARGIN * n_point / 5))
    n_ext = int(round(EXTERNAL_SHARE * chosen))
    n_test = chosen - n_ext
    wall_s, notes = cpu_estimate(chosen)
    # decision probability of every cell at the chosen cohort (its valid pairs), point SD and SD at its upper bound
    for t in (t_r, t_b):
        pts, his = [], []
        for _, r in t.iterrows():
            if not np.isfinite(r["sd"]):
                pts.append(math.nan)
                his.append(math.nan)
                continue
            k = int(chosen * r["kept"])
            ok, bad = decision_probability(r["bias"], r["sd"], k, tol[r["indicator"]])
            pts.append(float(ok + bad))
            ok, bad = decision_probability(r["bias"], sd_upper(r["sd"], int(r["n"])), k, tol[r["indicator"]])
            his.append(float(ok + bad))
        t["p_chosen"], t["p_chosen_sd_hi"] = pts, his
        t["n_needed_obs"] = [n_needed(b, sd, tol[i]) for b, sd, i in zip(t["bias"], t["sd"], t["indicator"],
                                                                         strict=True)]

    out = [
        "# Power analysis: the size of the powered audit's cohort", "",
        f"Machine: {cpu_name()}, {args.cores} cores. Date: {dt.date.today().isoformat()}. "
        f"Command: `python benchmarks/power_cohort.py {_argv_without_note()}`"
        + (f" (measurement workflow: {wall / 60:.1f} min wall)." if wall else "."), *([args.note] if args.note else []),
        "",
        "Goal (issue 30, item 7): the cohort size at which the null control `rescan` and the best method at Uniform8 "
        "reach a decision (preserved or not preserved) on every indicator, with probability 0.8 per cell, by the "
        "project's own power code (`cardiomm.compare.power.n_for_power`: seeded Monte Carlo of whole cohorts "
        "through the verdict rule `cardiomm.compare.verdict.classify`), at the measured bias and SD.", "",
        "## 1. The best method at Uniform8 (screen)", "",
        f"From `{args.screen}` (n = {int(scr['n'].max()) if len(scr) else 0} subjects): the median over the "
        "indicators of the relative point limit (|bias| + 1.96 SD) / tolerance against the reference (smaller is "
        "better; above 1 a decision can only be 'not preserved').", "",
        "| method | indicators | median relative limit | largest | n |", "|---|---|---|---|---|"]
    out += [f"| {label(r['method'])} | {r['indicators']} | {r['median_rel_limit']:.2f} | {r['max_rel_limit']:.2f} | "
            f"{r['n']} |" for _, r in scr.iterrows()]
    out += ["", f"Best: **{label(best)}**" + (" (given with --best)." if args.best else "."), "",
            "## 2. Measured spread (measurement cohort) and the n each cell needs", "",
            f"From `{args.measure}` (`config/power_cohort.yaml`: 16 test + 4 external subjects, Uniform8, `rescan` "
            f"and {label(best)}; against the reference, end to end). n80: the smallest n at which a cohort decides "
            "the cell with probability 0.8 if the measured bias and SD were true; n80 (SD hi): the same with the SD "
            "at its one-sided 80% upper confidence bound; subjects: n80 divided by the fraction of subjects whose "
            "pair was valid (QC passed, finite) in the measurement. 'never': not within "
            f"{args.n_max} pairs (the true limit too close to the tolerance).", "",
            "| indicator | tolerance | who | pairs | valid | bias | SD | relative limit | verdict at n | n80 | "
            "n80 (SD hi) | subjects | subjects (SD hi) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for ind in INDICATORS:
        for who, t in ((RESCAN, t_r), (best, t_b)):
            r = t[t["indicator"] == ind].iloc[0]
            out.append(f"| {ind} | ±{tol[ind]:g} | {label(who)} | {r['n']} | {r['kept']:.0%} | {r['bias']:.3g} | "
                       f"{r['sd']:.3g} | {r['rel_limit']:.2f} | {r['verdict']} | {_fmt_n(r['n80'])} | "
                       f"{_fmt_n(r['n80_sd_hi'])} | {_fmt_n(r['subjects'])} | {_fmt_n(r['subjects_sd_hi'])} |")
    out += ["", "## 3. Result", ""]
    out.append(f"- The most subjects any cell needs, among those a feasible n decides: **{n_point}** at the measured "
               f"SDs ({_fmt_n(n_hi)} with every SD at its 80% upper bound).")
    out.append(f"- **Chosen cohort: {chosen} subjects ({n_test} test + {n_ext} external-centre)**: {n_point} x "
               f"{MARGIN} (a margin for SDs estimated from 20 pairs), rounded up to a multiple of 5. Probability "
               "that the cohort decides each cell (point SD / SD at its 80% upper bound; the n a cell with exactly "
               "the measured bias and SD would need):")
    out += ["", "| indicator | rescan | rescan n needed | " + f"{label(best)} | {label(best)} n needed |",
            "|---|---|---|---|---|"]
    for ind in INDICATORS:
        rr, rb = (t[t["indicator"] == ind].iloc[0] for t in (t_r, t_b))
        out.append(f"| {ind} | {rr['p_chosen']:.2f} / {rr['p_chosen_sd_hi']:.2f} | {_fmt_n(rr['n_needed_obs'])} | "
                   f"{rb['p_chosen']:.2f} / {rb['p_chosen_sd_hi']:.2f} | {_fmt_n(rb['n_needed_obs'])} |")
    out.append("")
    if len(undecidable):
        out.append("- Not decidable within the feasible n (the point limit sits near the tolerance, so no cohort "
                   "of that size decides it with probability 0.8): " + ", ".join(
                       f"{label(r['who'])} {r['indicator']} (relative limit {r['rel_limit']:.2f})"
                       for _, r in undecidable.iterrows()) + ".")
    else:
        out.append("- Every indicator of both is decidable within the feasible n.")
    out += [f"- CPU time of the powered audit on 2 cores, every method of `config/audit.yaml` "
            f"({', '.join(AUDIT_METHODS)}) plus one new network costed like CardioMM-style: about "
            f"**{wall_s / 3600:.1f} h** for {chosen} subjects ({wall_s / chosen / 60:.1f} min per subject; "
            "job-seconds per subject from "
            "`benchmarks/results/stage_costs.md` (the default run, AMD EPYC, 2 cores) / 2, plus the figures and the "
            "agreement). Assumptions: " + "; ".join(notes) + "; the null control costs the reference's recon, "
            "segmentation and quantification; the mapping and segmentation work of issue 30 may change the "
            "quantification cost (not measured here).",
            "- The measurement used the gauge as it stands on this branch (before the mapping fit, consensus ROI and "
            "segmenter changes of issue 30 merge). Those change the SDs, above all T1's and the volumes'; rerun "
            "this benchmark after they merge, then set `config/audit.yaml` and the schema's `agreement.powered_n`."]
    Path(REPO / args.out).write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
