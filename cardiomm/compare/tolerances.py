"""Agreement tolerances of the 14 indicators: the value, what kind of quantity it is, and its source.

Every tolerance is used as a **limit-of-agreement half-width**: an indicator is preserved when the 95%
confidence intervals of both Bland-Altman limits of agreement (bias -/+ 1.96 SD of the paired differences) lie
inside +/- the tolerance (:mod:`cardiomm.compare.verdict`). A source is therefore only cited as *supporting* a
value when it reports a quantity on that scale: a 95% limit of agreement, or a coefficient of repeatability
(CR = 1.96 x SD of the paired differences, which is the LoA half-width of an unbiased pair). Where the cited
work reports an SD, a CoV, or nothing comparable, :attr:`Tolerance.kind` and the source text say so, and the
value is marked as this project's choice.

This module holds only data (it imports nothing but :mod:`cardiomm.conventions`), so
:mod:`cardiomm.compare.agreement` and :mod:`cardiomm.compare.audit` can both use it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from cardiomm.conventions import INDICATORS

#: What the tolerance value is compared with in the verdict.
APPLIED_AS = "95% LoA half-width"


@dataclass(frozen=True)
class Tolerance:
    """One indicator's tolerance.

    Attributes
    ----------
    value: the tolerance in the indicator's unit, applied as a 95% LoA half-width.
    kind: what the *source* reports and how the value relates to it (e.g. "inter-reader CR (= LoA half-width)").
    source: the citation and the figure taken from it, or an explicit statement that none was found.
    """

    value: float
    kind: str
    source: str


_SUINESIAPUTRA = (
    "Suinesiaputra et al. 2015 JCMR 17:63 (7 core laboratories, 15 cases): inter-reader variability "
    "EDV 15.2-28.4 mL, ESV 14.0-21.5 mL, LVM 20.2-34.5 g, EF 4.6-7.5 % (abstract; the abstract does not say "
    "whether these are SDs or LoA half-widths, so the figure is an order of magnitude, not a derivation)"
)
_GROTHUES_LV = "Grothues et al. 2002 Am J Cardiol 90:29-34 (interstudy reproducibility of LV volumes, EF, mass)"
_GROTHUES_RV = "Grothues et al. 2004 Am Heart J 147:218-223 (interstudy reproducibility of RV volumes, EF)"
_CHOICE = "project choice"

TOLERANCES: dict[str, Tolerance] = {
    "LVEDV": Tolerance(12.0, f"{_CHOICE}, below the multi-centre inter-reader range",
                       f"{_SUINESIAPUTRA}; {_GROTHUES_LV} (figures not re-checked in this project)"),
    "LVESV": Tolerance(10.0, f"{_CHOICE}, below the multi-centre inter-reader range",
                       f"{_SUINESIAPUTRA}; {_GROTHUES_LV} (figures not re-checked in this project)"),
    "LVSV": Tolerance(10.0, f"{_CHOICE}, derived", "no direct source: of the order of the EDV and ESV tolerances"),
    "LVEF": Tolerance(5.0, f"{_CHOICE}, within the multi-centre inter-reader range (percentage points)",
                      f"{_SUINESIAPUTRA}; 5 points is also the usual threshold of a clinically relevant EF change"),
    "LVCO": Tolerance(0.7, f"{_CHOICE}, derived",
                      "no direct source: LVSV tolerance (10 mL) x a resting heart rate of about 70 bpm"),
    "LVM": Tolerance(10.0, f"{_CHOICE}, below the multi-centre inter-reader range",
                     f"{_SUINESIAPUTRA}; {_GROTHUES_LV} (figures not re-checked in this project)"),
    "RVEDV": Tolerance(15.0, f"{_CHOICE}; no verified RV LoA figure",
                       f"{_GROTHUES_RV} (figures not re-checked in this project)"),
    "RVESV": Tolerance(12.0, f"{_CHOICE}; no verified RV LoA figure",
                       f"{_GROTHUES_RV} (figures not re-checked in this project)"),
    "RVSV": Tolerance(12.0, f"{_CHOICE}, derived", "no direct source: of the order of the RV EDV and ESV tolerances"),
    "RVEF": Tolerance(6.0, f"{_CHOICE}; no verified RV LoA figure",
                      f"{_GROTHUES_RV} (figures not re-checked in this project)"),
    "WT": Tolerance(1.0, f"{_CHOICE}; no source found",
                    "no published LoA of automated global wall thickness was found in this project's search; "
                    "1 mm is about half a pixel of the default 2.25 mm grid"),
    "T1": Tolerance(50.0, "inter-reader coefficient of repeatability (= LoA half-width), rounded",
                    "Robison et al. 2018 J Comput Assist Tomogr 42:732-738 (58 patients, MOLLI at 1.5 T): "
                    "inter-reader CR 51.7 ms, intra-scan repeatability CR 72 ms"),
    "T2": Tolerance(3.0, f"{_CHOICE}; no LoA source found",
                    "no published LoA/CR of myocardial T2 was verified in this project; the previously cited "
                    "Giri et al. 2009 JCMR 11:56 and Messroghli et al. 2017 JCMR 19:75 describe T2 mapping and "
                    "its normal ranges, not a limit of agreement"),
    "T1rho": Tolerance(4.0, f"{_CHOICE}; no reproducibility source found",
                       "no published myocardial T1rho reproducibility was found; van Oorschot et al. 2014 JCMR "
                       "16:104 reports myocardial T1rho of about 50 ms at 1.5 T with a between-subject SD, which "
                       "is not a reproducibility figure"),
}  # fmt: skip
assert tuple(TOLERANCES) == tuple(INDICATORS), "one tolerance per indicator, in conventions order"


def default_tolerances() -> tuple[dict[str, float], dict[str, str]]:
    """Tolerances of all 14 indicators (indicator's unit, applied as a 95% LoA half-width) and their sources.

    Returns
    -------
    (tolerances, sources): fresh dicts, so a config can override entries without touching the defaults.
    ``sources[k]`` is ``"<kind>: <source>"``.
    """
    return ({k: t.value for k, t in TOLERANCES.items()}, {k: f"{t.kind}: {t.source}" for k, t in TOLERANCES.items()})


def tolerances_from_config(overrides: dict) -> tuple[dict[str, float], dict[str, str]]:
    """Literature tolerances (with their sources), overridden per indicator by the config."""
    tol, src = default_tolerances()
    for k, v in (overrides or {}).items():
        tol[k] = float(v)
        src[k] = "set in the workflow config"
    return tol, src
