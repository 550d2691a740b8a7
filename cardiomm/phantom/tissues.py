"""Tissue classes and their relaxation parameters by field strength.

Values are representative literature values (ms) for native tissue; they are approximate by design
(the phantom only needs realistic contrast and exact knowledge of what it used). Field strengths
without a table entry are interpolated linearly in B0 between the tabulated ones, so 0.55 T and 5 T
"unseen centre" subjects get plausible, different values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Tissue classes of the phantom (index into the fraction maps). Order is part of the convention.
TISSUES = (
    "air", "lung", "fat", "muscle", "soft", "liver", "bone", "blood", "myocardium", "infarct", "rv_myocardium",
    "epicardial_fat", "pericardial_fat", "pericardium", "oedema",
)
TISSUE_INDEX = {name: i for i, name in enumerate(TISSUES)}

_B0 = np.array([0.55, 1.5, 3.0, 5.0])
# name: (PD, T1 at B0s, T2 at B0s, T1rho at B0s); ms
_TABLE: dict[str, tuple[float, tuple, tuple, tuple]] = {
    "air": (0.0, (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1)),
    "lung": (0.08, (1000, 1250, 1350, 1450), (35, 30, 25, 20), (40, 35, 30, 25)),
    "fat": (0.90, (200, 260, 370, 450), (90, 80, 70, 60), (75, 70, 65, 60)),
    "muscle": (0.75, (650, 1000, 1400, 1600), (40, 38, 35, 32), (45, 42, 40, 38)),
    "soft": (0.70, (700, 1100, 1450, 1650), (55, 50, 45, 42), (60, 55, 50, 47)),
    "liver": (0.75, (450, 580, 810, 950), (55, 50, 40, 35), (50, 45, 42, 40)),
    "bone": (0.35, (420, 550, 700, 800), (60, 55, 50, 45), (60, 55, 50, 45)),
    "blood": (0.95, (1100, 1550, 1900, 2200), (280, 250, 200, 150), (300, 250, 210, 170)),
    "myocardium": (0.80, (700, 1000, 1200, 1400), (58, 50, 45, 40), (56, 52, 50, 47)),
    "infarct": (0.85, (900, 1300, 1560, 1820), (64, 55, 50, 44), (73, 68, 65, 61)),
    "rv_myocardium": (0.80, (700, 1000, 1200, 1400), (58, 50, 45, 40), (56, 52, 50, 47)),
    # epicardial / pericardial adipose tissue: the relaxation of (subcutaneous) fat, its own class so that it can
    # be switched and located; the fibrous pericardium is a thin, low-PD layer between them (dark on bSSFP)
    "epicardial_fat": (0.90, (200, 260, 370, 450), (90, 80, 70, 60), (75, 70, 65, 60)),
    "pericardial_fat": (0.90, (200, 260, 370, 450), (90, 80, 70, 60), (75, 70, 65, 60)),
    "pericardium": (0.25, (650, 1000, 1400, 1600), (30, 28, 26, 24), (35, 32, 30, 28)),
    # regional oedema (a coronary territory, cardiomm.phantom.anatomy.CORONARY_TERRITORIES): the myocardium's values,
    # shifted by _with_oedema; with global oedema (lesion territories off) the whole myocardium is shifted instead
    "oedema": (0.80, (700, 1000, 1200, 1400), (58, 50, 45, 40), (56, 52, 50, 47)),
}

# Oedema raises the whole LV myocardium's relaxation times (additive T2, multiplicative T1/T1rho).
OEDEMA_T2_MS = 12.0
OEDEMA_T1_FACTOR = 1.10
OEDEMA_T1RHO_FACTOR = 1.18


@dataclass(frozen=True)
class TissueParams:
    """Relaxation parameters of every tissue class at one field strength.

    Attributes: arrays of shape ``(n_tissues,)`` in :data:`TISSUES` order; PD unitless, times in ms.
    """

    pd: np.ndarray
    t1: np.ndarray
    t2: np.ndarray
    t1rho: np.ndarray


def tissue_params(field_strength_T: float, oedema: bool = False, regional: bool = False) -> TissueParams:
    """Tissue parameters at ``field_strength_T`` (interpolated in B0), with optional myocardial oedema: of the
    whole LV myocardium, or (``regional``) of the ``oedema`` tissue only."""
    b0 = float(np.clip(field_strength_T, _B0[0], _B0[-1]))
    pd, t1, t2, t1rho = [], [], [], []
    for name in TISSUES:
        p, a, b, c = _TABLE[name]
        pd.append(p)
        t1.append(np.interp(b0, _B0, a))
        t2.append(np.interp(b0, _B0, b))
        t1rho.append(np.interp(b0, _B0, c))
    tp = TissueParams(np.array(pd), np.array(t1), np.array(t2), np.array(t1rho))
    return _with_oedema(tp, regional) if oedema else tp


def _with_oedema(tp: TissueParams, regional: bool = False) -> TissueParams:
    """The oedema shift (T2 up, T1 and T1rho scaled) of the LV myocardium, or (``regional``) of the ``oedema``
    tissue; in place; returns ``tp``."""
    i = TISSUE_INDEX["oedema" if regional else "myocardium"]
    tp.t2[i] += OEDEMA_T2_MS
    tp.t1[i] *= OEDEMA_T1_FACTOR
    tp.t1rho[i] *= OEDEMA_T1RHO_FACTOR
    return tp


# Between-subject variation of native myocardial relaxation times, as coefficients of variation (SD / mean) of
# healthy volunteers, applied around the class means above. Sources, checked against the papers' abstracts on
# 2026-12-02 (issue 15; "verified" = the figure is in the abstract, "not verified" = not found there):
# - T1 (MOLLI-type): Dabir et al., JCMR 2014;16:69 (International T1 Multicenter study, MOLLI 3(3)3(3)5, Philips):
#   950 +/- 21 ms at 1.5 T and 1052 +/- 23 ms at 3 T (verified), i.e. CV ~2.2%; Piechnik et al., JCMR 2013;15:13
#   (ShMOLLI, 1.5 T, n = 342): 962 +/- 25 ms (verified), CV ~2.6%. Messroghli et al., JCMR 2017;19:75 (SCMR/EACVI
#   consensus) asks for local reference ranges (not verified here). We take CV 2.5% at every field strength.
# - T2 (T2-prepared): Wassmuth et al., JCMR 2013;15:27 (1.5 T, n = 73): 52 +/- 5 ms with a FLASH readout (verified;
#   the SSFP figure is cut off in the abstract we could read), i.e. CV ~10% including measurement variability;
#   von Knobelsdorff-Brenkenhoff et al., JCMR 2013;15:53 (3 T, n = 60, T2-prepared SSFP): 44.1 / 45.1 / 46.9 ms
#   base / mid / apex and a between-subject "scatter factor" of 1.08 (verified; no SD in the abstract). Hanson et
#   al., Radiology 2020;297:344 (meta-analysis): pooled 52 ms at 1.5 T and 46 ms at 3 T (verified). The CV 5% used
#   here (the biological share, below the measured spread) is an ASSUMPTION consistent with these.
# - T1rho: no population study we can cite with confidence; CV 6% is an ASSUMPTION (similar to T2).
# - 0.55 T and 5 T: no population data used; the same CVs are an ASSUMPTION.
# The class means are representative values, not these papers' means (kept so the contrast of the
# shipped models' training data does not move).
POPULATION_CV = {"t1": 0.025, "t2": 0.05, "t1rho": 0.06}
#: draws are clipped at this many SDs so no subject is physiologically absurd
POPULATION_CLIP_SD = 3.0
MYOCARDIAL_CLASSES = ("myocardium", "infarct", "rv_myocardium", "oedema")


def subject_tissue_params(field_strength_T: float, rng: np.random.Generator, oedema: bool = False,
                          regional: bool = False) -> TissueParams:
    """Tissue parameters of one subject: the class table with the myocardial T1, T2 and T1rho drawn from the
    population (one z-score per parameter per subject, shared by LV, RV myocardium and infarct, so the lesion's
    contrast against the remote myocardium is preserved), then the oedema shift. Deterministic in ``rng``.
    """
    tp = tissue_params(field_strength_T, oedema=False)
    idx = [TISSUE_INDEX[n] for n in MYOCARDIAL_CLASSES]
    for name, cv in POPULATION_CV.items():
        zs = float(np.clip(rng.standard_normal(), -POPULATION_CLIP_SD, POPULATION_CLIP_SD))
        getattr(tp, name)[idx] *= 1.0 + cv * zs
    return _with_oedema(tp, regional) if oedema else tp
