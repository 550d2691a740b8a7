"""Preservation audit: literature tolerances and the Markdown report's cells, sentences and sections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiomm.compare.agreement import INDICATOR_COLUMNS, agreement_table
from cardiomm.compare.audit import audit_markdown, default_tolerances
from cardiomm.compare.tolerances import TOLERANCES
from cardiomm.conventions import INDICATORS, unit


def test_default_tolerances_cover_all_indicators_with_sources():
    tol, src = default_tolerances()
    assert set(tol) == set(INDICATORS) == set(src)
    assert all(np.isfinite(v) and v > 0 for v in tol.values())
    assert all(len(s) > 20 for s in src.values())
    # every value says what it is; where no source supports it, it says so instead of citing one
    for ind, t in TOLERANCES.items():
        assert t.value == tol[ind] and t.kind and t.source
        assert "project choice" in t.kind or "coefficient of repeatability" in t.kind, ind
    assert "Robison" in src["T1"] and "51.7 ms" in src["T1"]
    assert "no source found" in TOLERANCES["WT"].kind
    assert "between-subject SD" in src["T1rho"] and "not a reproducibility figure" in src["T1rho"]
    # clinically plausible magnitudes: EF in percentage points, T1 tens of ms, T2 / T1rho a few ms
    assert 3 <= tol["LVEF"] <= 8 and 10 <= tol["T1"] <= 80 and 1 <= tol["T2"] <= 6 and 1 <= tol["T1rho"] <= 8
    # fresh dicts: overriding one copy does not change the defaults
    tol["LVEF"] = 99.0
    assert default_tolerances()[0]["LVEF"] != 99.0


def test_no_import_cycle_between_agreement_and_audit():
    import ast
    from pathlib import Path

    import cardiomm.compare.agreement as agreement_mod

    tree = ast.parse(Path(agreement_mod.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "cardiomm.compare.audit" not in imported


def _scenario() -> pd.DataFrame:
    """CardioMM preserves LVEF and T1 at ktRadial24; SENSE loses T1 (+80 ms, the whole CI of its upper limit above
    +50 ms); VarNet has too few valid T1 pairs."""
    ref_ef = [55.0, 60.0, 48.0, 65.0, 58.0]
    ref_t1 = [1000.0, 1020.0, 980.0, 1050.0, 990.0]
    rows = []

    def add(method, mask, ind, vals, qc=None):
        qc = qc or [True] * len(vals)
        rows.extend(
            (f"P{i}", "test", method, mask, ind, unit(ind), v, q, "" if q else "fit failed")
            for i, (v, q) in enumerate(zip(vals, qc, strict=True))
        )

    add("reference", "full", "LVEF", ref_ef)
    add("reference", "full", "T1", ref_t1)
    add("cardiomm", "ktRadial24", "LVEF", [55.5, 60.5, 47.5, 65.5, 58.5])  # d = .5 .5 -.5 .5 .5
    add("cardiomm", "ktRadial24", "T1", [1005.0, 1015.0, 985.0, 1045.0, 995.0])
    add("sense", "ktRadial24", "LVEF", [57.0, 62.0, 46.0, 67.0, 58.0])  # d = 2 2 -2 2 0
    add("sense", "ktRadial24", "T1", [1080.0, 1105.0, 1055.0, 1132.0, 1068.0])  # T1 +80 ms, little scatter
    add("varnet", "ktRadial24", "LVEF", [55.0, 60.0, 48.0, 65.0, 58.0])
    add("varnet", "ktRadial24", "T1", [1000.0, 1020.0, np.nan, np.nan, np.nan], [True, True, False, False, False])
    return pd.DataFrame(rows, columns=list(INDICATOR_COLUMNS))


@pytest.fixture(scope="module")
def report() -> tuple[pd.DataFrame, str]:
    tol, src = default_tolerances()
    agr = agreement_table(_scenario(), tolerances=tol)
    return agr, audit_markdown(agr, tol, src, cohort="unit-test cohort")


def _summary(md: str) -> list[str]:
    return md.split("### Summary matrix", 1)[1].split("###", 1)[0].splitlines()


def test_summary_matrix_cells(report):
    agr, md = report
    assert md.startswith("# Clinical-indicator preservation audit: unit-test cohort")
    header = next(line for line in _summary(md) if line.startswith("| indicator (unit)"))
    assert "SENSE ktRadial24" in header and "E2E-VarNet ktRadial24" in header
    assert "CardioMM-style (ours) ktRadial24" in header
    ef_row = next(line for line in _summary(md) if line.startswith("| LVEF (%)"))
    t1_row = next(line for line in _summary(md) if line.startswith("| T1 (ms)"))
    assert "±5.0" in ef_row
    # CardioMM: d = .5 .5 -.5 .5 .5 -> bias 0.3, sd sqrt(0.8 / 4) = 0.447 -> LoA 0.3 -/+ 0.877
    assert "✓ 0.3 [-0.6, 1.2]" in ef_row
    assert "? n/a" in t1_row  # VarNet T1: 2 valid pairs
    cells = [c.strip() for c in t1_row.strip("|").split("|")]
    # columns: indicator, tolerance, SENSE, VarNet, CardioMM (methods in conventions order)
    assert cells[2].startswith("✗") and cells[3] == "? n/a" and cells[4].startswith("✓")
    # SENSE LVEF: d = 2 2 -2 2 0: LoA [-2.71, 4.31] inside ±5 but its CI reaches 8.40 at n = 5
    ef_cells = [c.strip() for c in ef_row.strip("|").split("|")]
    assert ef_cells[2].startswith("? 0.8 [-2.7, 4.3] (n ≥ ")


def test_at_a_glance_and_sentences(report):
    _, md = report
    assert "| CardioMM-style (ours) | 2 ✓ / 0 ✗ / 0 ? |" in md
    assert "| SENSE | 0 ✓ / 1 ✗ / 1 ? |" in md
    assert "| E2E-VarNet | 1 ✓ / 0 ✗ / 1 ? |" in md
    assert "**CardioMM-style (ours) at ktRadial24** preserves 2/2 indicators." in md
    sense = next(line for line in md.splitlines() if "**SENSE at ktRadial24**" in line)
    assert "preserves 0/2 indicators; not preserved: T1 (bias" in sense and "tolerance ±50.0 ms" in sense
    assert "inconclusive: LVEF (bias 0.8 %" in sense and "needed to decide)" in sense
    varnet = next(line for line in md.splitlines() if "**E2E-VarNet at ktRadial24**" in line)
    assert "preserves 1/2" in varnet and "not computable (inconclusive): T1 (" in varnet and "n<3" in varnet


def test_non_computable_section_and_sources(report):
    _, md = report
    section = md.split("### Non-computable cells")[1].split("## Tolerances")[0]
    assert "| T1 | E2E-VarNet | ktRadial24 | 2 |" in section
    assert "3 QC-failed pairs excluded" in section
    sources = md.split("## Tolerances")[1]
    for ind in INDICATORS:
        t = TOLERANCES[ind]
        assert f"| {ind} | {unit(ind)} |" in sources and t.source.replace("|", "\\|") in sources
        assert t.kind in sources


def test_report_tolerances_decide_the_verdict(report):
    agr, _ = report
    tol, src = default_tolerances()
    # CardioMM LVEF: LoA [-0.58, 1.18]; the upper limit's CI is [0.16, 2.20] (t(4) 2.776 x 0.447 x 0.825 = 1.02)
    tight = {**tol, "LVEF": 1.0}  # the point limit 1.18 exceeds ±1 %, but its CI reaches inside: not shown
    md = audit_markdown(agr, tight, src, cohort="c")
    ef_row = next(line for line in _summary(md) if line.startswith("| LVEF (%)"))
    assert "? 0.3 [-0.6, 1.2] (n ≥ " in ef_row and "±1.0" in ef_row
    tighter = {**tol, "LVEF": 0.1}  # the whole CI [0.16, 2.20] lies above +0.1: shown not preserved
    md = audit_markdown(agr, tighter, src, cohort="c")
    ef_row = next(line for line in _summary(md) if line.startswith("| LVEF (%)"))
    assert "✗ 0.30 [-0.58, 1.18]" in ef_row and "±0.10" in ef_row
    assert "**CardioMM-style (ours) at ktRadial24** preserves 1/2 indicators; not preserved: LVEF" in md


def test_two_comparators_give_two_sections():
    df = _scenario()
    truth = df[df["method"] == "reference"].assign(method="truth")
    df = pd.concat([df, truth], ignore_index=True)
    tol, src = default_tolerances()
    agr = pd.concat([agreement_table(df, "reference", tol), agreement_table(df, "truth", tol)])
    md = audit_markdown(agr, tol, src, "c")
    assert md.index("## Against the reference") < md.index("## Against the truth")
    assert "**Reference** preserves 2/2 indicators." in md  # reference == truth here


def test_bad_agreement_input():
    tol, src = default_tolerances()
    with pytest.raises(ValueError, match="missing columns"):
        audit_markdown(pd.DataFrame({"indicator": ["LVEF"]}), tol, src, "c")
    with pytest.raises(TypeError):
        audit_markdown("not a table", tol, src, "c")  # type: ignore[arg-type]


def test_markdown_to_html_renders_tables_lists_and_headings():
    from cardiomm.compare.markdown_html import markdown_to_html

    md = "# Title\n\nSome **bold** text with `code`.\n\n| a | b |\n|---|---|\n| ✓ 1 | <x> |\n\n- one\n- two\n"
    h = markdown_to_html(md, "t")
    assert "<h1>Title</h1>" in h and "<b>bold</b>" in h and "<code>code</code>" in h
    assert "<th>a</th>" in h and "<td>✓ 1</td>" in h and "&lt;x&gt;" in h
    assert h.count("<li>") == 2 and "|---|" not in h
def _with_control(offsets: list[float], ind: str = "LVEF") -> pd.DataFrame:
    """The scenario plus a null control whose LVEF differs from the reference's by ``offsets``."""
    df = _scenario()
    ref = df[(df["method"] == "reference")].copy()
    ctl = ref.assign(method="rescan")
    sel = ctl["indicator"] == ind
    ctl.loc[sel, "value"] = ctl.loc[sel, "value"].to_numpy() + np.asarray(offsets)
    return pd.concat([df, ctl], ignore_index=True)


def _audit(df: pd.DataFrame, **kw) -> str:
    tol, src = default_tolerances()
    return audit_markdown(agreement_table(df, tolerances=tol), tol, src, "c", **kw)


def test_top_of_the_audit_is_the_verdict_map_with_the_null_control_first():
    md = _audit(_with_control([0.1, -0.1, 0.0, 0.1, -0.1]), heatmap="figures/verdict_map.png", powered_n=40)
    head = md.split("## The verdict rule")[0]
    assert head.index("This audit's n is illustrative") < head.index("## Verdicts at a glance")
    assert "at most 5 paired subjects" in head and "benchmarks/results/audit_cohort/" in head
    assert "![Verdict map" in head and "(figures/verdict_map.png)" in head
    table = [line for line in head.split("## Verdicts at a glance")[1].splitlines() if line.startswith("|")]
    cols = [c.strip() for c in table[0].strip("|").split("|")]
    assert cols[:3] == ["indicator (unit)", "tolerance", "Rescan (null control) full"]
    ef = [c.strip() for c in next(r for r in table if r.startswith("| LVEF")).strip("|").split("|")]
    assert ef[2] == "✓ 0.0" and ef[3].startswith("?") and ef[5] == "✓ 0.3"  # rescan, SENSE, ..., CardioMM
    assert "**The gauge passes**" in head  # LVEF within ±0.1 of the reference and T1 equal to it: both shown
    gauge = head.split("## The gauge's proof")[1]
    assert "| LVEF (%) | 0.0 |" in gauge


def test_a_null_control_that_is_not_preserved_says_the_gauge_is_broken():
    md = _audit(_with_control([9.0, 10.0, 11.0, 10.5, 9.5]))  # a repeat scan reads LVEF 10 points higher
    gauge = md.split("## The gauge's proof")[1].split("## The verdict rule")[0]
    assert "**The gauge is broken** on LVEF" in gauge and "not the reconstructions" in gauge
    assert "Bias CI excluding 0" in gauge
    md = _audit(_with_control([0.0, 0.0, 0.0, 0.0, 0.0]))
    assert "**The gauge passes**: the repeat scan is shown preserved on all 2 indicators." in md
    md = _audit(_with_control([3.0, -3.0, 2.0, -2.5, 0.5]))  # undecided at n = 5
    assert "**The gauge is not yet proven** at n = 5 on LVEF (n ≥ " in md


def test_without_a_null_control_the_audit_says_why_and_never_invents_one():
    md = _audit(_scenario(), null_control="the data hold no repeated acquisition")
    assert "**No null control in this run**: the data hold no repeated acquisition." in md
    assert "Rescan" not in md.split("## The verdict rule")[0]
    assert "This audit's n is illustrative" not in _audit(_scenario(), powered_n=5)  # n = 5 is the powered n


def test_procedure_and_valid_fractions_from_the_mapping_columns():
    from cardiomm.compare.audit import procedure_markdown

    bio = pd.DataFrame([
        {"subject": f"P{i}", "method": m, "mask": k, "indicator": "T1", "roi": roi, "labels": "own",
         "procedure": "MOLLI 3-parameter, median", "valid_fraction": vf + 0.01 * i}
        for i in range(3) for m, k, vf in (("reference", "full", 0.95), ("sense", "Uniform8", 0.80))
        for roi in ("consensus", "global")])
    md = "\n".join(procedure_markdown(bio))
    assert "One procedure for every image (reference, null control, reconstructions): MOLLI 3-parameter" in md
    assert "| Reference | full | 0.96 [0.95] |" in md and "| SENSE | Uniform8 | 0.81 [0.80] |" in md
    two = bio.assign(procedure=np.where(bio["method"] == "reference", "a", "b"))
    assert "**More than one procedure ran**" in "\n".join(procedure_markdown(two))
    old = pd.DataFrame([{"subject": "P0", "method": "sense", "mask": "Uniform8", "indicator": "T2",
                         "n_pixels": 200, "n_invalid": 10}])
    md = "\n".join(procedure_markdown(old))
    assert "no `procedure` column" in md and "| SENSE | Uniform8 | 0.95 [0.95] |" in md


def test_reconstruction_only_cells_get_their_own_matrix():
    df = _scenario()
    df["roi"], df["labels"] = np.where(df["indicator"] == "T1", "consensus", ""), "own"
    extra = df[(df["indicator"] == "T1") & (df["method"] == "cardiomm")].assign(labels="reference")
    tol, src = default_tolerances()
    agr = agreement_table(pd.concat([df, extra], ignore_index=True), tolerances=tol)
    md = audit_markdown(agr, tol, src, "c")
    section = md.split("### Reconstruction only")[1].split("###")[0]
    assert "| T1 (ms) | ±50.0 | ✓ " in section and "CardioMM-style (ours) ktRadial24" in section
    summary = md.split("### Summary matrix")[1].split("###")[0]
    assert summary.count("| T1 (ms)") == 1  # the headline keeps the end-to-end row only


def test_markdown_to_html_inlines_the_verdict_map():
    from cardiomm.compare.markdown_html import markdown_to_html

    h = markdown_to_html("# t\n\n![map](figures/m.png)\n", images={"figures/m.png": b"\x89PNG"})
    assert "<img src='data:image/png;base64,iVBORw==' alt='map'" in h
    assert "src='figures/x.png'" in markdown_to_html("![x](figures/x.png)")


def test_the_n_note_points_to_the_powered_result_only_where_one_is_committed(monkeypatch):
    from pathlib import Path

    import cardiomm.compare.audit as audit_mod

    repo = Path(audit_mod.__file__).resolve().parents[2]
    committed = (repo / audit_mod.POWERED_RESULT / "audit.md").exists()
    text = audit_mod._powered_result_text()
    assert ("is committed in" in text) == committed
    assert ("No powered audit has been committed yet" in text) == (not committed)
    monkeypatch.setattr(audit_mod, "POWERED_RESULT", "no/such/dir/")
    assert "No powered audit has been committed yet" in audit_mod._powered_result_text()
