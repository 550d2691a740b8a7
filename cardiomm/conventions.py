"""The one place for every naming convention shared across stages.

Everything else imports from here: label values, modality names and file stems, mask names,
phenotype and biomarker names with their units. Method names are not conventions: the method registry
(:mod:`cardiomm.methods`) owns them. This module imports nothing of the package: it is the ground floor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Segmentation labels (UK Biobank / CMRxRecon convention)
# --------------------------------------------------------------------------------------------
BACKGROUND = 0
LV_BLOOD = 1
LV_MYO = 2
RV_BLOOD = 3
LABELS: dict[str, int] = {"background": BACKGROUND, "lv_blood": LV_BLOOD, "lv_myo": LV_MYO, "rv_blood": RV_BLOOD}
N_CLASSES = 4

# --------------------------------------------------------------------------------------------
# Modalities: name -> (CMRxRecon file stem, family folder, kind)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Modality:
    """A CMR series type.

    Attributes
    ----------
    name: our short name (used in paths and tables).
    stem: the CMRxRecon file stem (``<stem>.mat``, ``<stem>_mask_<Mask>.mat``).
    family: the CMRxRecon top folder under ``MultiCoil/``.
    kind: what the ``nt`` axis is: ``"cine"`` (cardiac phases of one cycle: periodic, the ranking scores the first
        3) or ``"mapping"`` (contrast weightings or another non-periodic series, a single image included: every
        one is scored).
    timing_unit: unit of the per-image timing in the mapping ``.csv`` (``None`` for cine).
    biomarker: the biomarker this series measures (``None`` for cine).
    analysis: what the workflow does with it after reconstruction: ``"phenotypes"`` (segmented, cine
        phenotypes), ``"biomarker"`` (segmented, pixel-wise map fit) or ``"image"`` (reconstructed and scored for
        image quality only: the views and contrasts that no segmenter or fit of this package covers).
    view: the imaging plane the series itself fixes (``"lax"``, ``"2ch"``, ``"lvot"``, ...; the words of the
        reconstruction prompts, :mod:`cardiomm.recon.learned.prompts`), or ``None``: the subject's ``view`` metadata
        (cine SAX and the maps). :func:`series_meta` applies it.
    ranking: which frames the releases' ranking scores, where it differs from ``kind``: ``"cine"`` (the first 3)
        or ``"mapping"`` (every one). run4Ranking.m (2024) and run4Ranking_2025.m (2025) keep every weighting
        of the T1map/T2map (2025 also T2smap, T1mappost, T1rho) files, one image of BlackBlood/T1w/T2w, and the
        first 3 frames of every other file: LGE and perfusion too, whose ``kind`` is non-periodic.
    """

    name: str
    stem: str
    family: str
    kind: str
    timing_unit: str | None = None
    biomarker: str | None = None
    analysis: str = "image"
    ranking: str | None = None
    view: str | None = None

    @property
    def ranking_kind(self) -> str:
        """``kind`` as the releases' ranking selection sees it
        (:func:`cardiomm.compare.image_quality.ranking_selection`)."""
        return self.ranking or self.kind

    @property
    def segmented(self) -> bool:
        """True for the series that are segmented and quantified (cine SAX and the fitted maps)."""
        return self.analysis != "image"


ANALYSES = ("phenotypes", "biomarker", "image")


def _view(name: str, family: str, kind: str = "cine", stem: str | None = None, ranking: str | None = None,
          view: str | None = None) -> Modality:
    """An image-only series (reconstructed and scored, not segmented or quantified)."""
    return Modality(name, stem or name, family, kind, ranking=ranking, view=view)


MODALITIES: dict[str, Modality] = {
    "cine": Modality("cine", "cine_sax", "Cine", "cine", analysis="phenotypes"),
    "t1map": Modality("t1map", "T1map", "Mapping", "mapping", "ms", "T1", "biomarker"),
    "t2map": Modality("t2map", "T2map", "Mapping", "mapping", "ms", "T2", "biomarker"),
    "t1rhomap": Modality("t1rhomap", "T1rhomap", "Mapping", "mapping", "ms", "T1rho", "biomarker"),
    # Views and contrasts that the releases ship besides cine SAX and T1/T2/T1rho mapping: image quality only.
    # File stems (= our names, lower case as the releases write them), per release:
    #   2023 Cine: cine_lax (CmrxRecon/CMRxRecon ChallengeDataFormat/Format_cine.txt)
    #   2024 Cine: cine_lax (3CH, 2CH and 4CH views along nz), cine_lvot (CmrxRecon/CMRxRecon2024
    #        ChallengeDataFormat/Format_Task1.txt); Aorta: aorta_sag, aorta_tra; Tagging: tagging (the file lists of
    #        the 2024 scorer, filelist = ['aorta_sag', 'aorta_tra'], and public training code on the release)
    #   2025 Cine: cine_lax_2ch, cine_lax_3ch, cine_lax_4ch, cine_lax (one centre keeps one LAX file) (the 2025
    #        Format_TaskR1.txt, a public copy of CmrxRecon/CMRxRecon2025); the other 2025 stems (cine_lvot, cine_rvot,
    #        lge_*, perfusion, T1w, T2w, blackblood, flow2d, T1mappost, T2smap) are those public training code on the
    #        2025 download lists: the official format text names only their folders (BlackBlood, Flow2d, LGE,
    #        Mapping, Perfusion, T1rho, T1w, T2w). BlackBlood, T1w and T2w are 4D (nx, ny, nc, nz): nt = 1.
    "cine_lax": _view("cine_lax", "Cine", view="lax"),
    "cine_lax_2ch": _view("cine_lax_2ch", "Cine", view="2ch"),
    "cine_lax_3ch": _view("cine_lax_3ch", "Cine", view="3ch"),
    "cine_lax_4ch": _view("cine_lax_4ch", "Cine", view="4ch"),
    "cine_lvot": _view("cine_lvot", "Cine", view="lvot"),
    "cine_rvot": _view("cine_rvot", "Cine", view="rvot"),
    "aorta_sag": _view("aorta_sag", "Aorta", view="sagittal"),
    "aorta_tra": _view("aorta_tra", "Aorta", view="transversal"),
    "tagging": _view("tagging", "Tagging"),
    "flow2d": _view("flow2d", "Flow2d"),
    "lge_sax": _view("lge_sax", "LGE", "mapping", ranking="cine", view="sax"),
    "lge_lax": _view("lge_lax", "LGE", "mapping", ranking="cine", view="lax"),
    "lge_lax_2ch": _view("lge_lax_2ch", "LGE", "mapping", ranking="cine", view="2ch"),
    "lge_lax_3ch": _view("lge_lax_3ch", "LGE", "mapping", ranking="cine", view="3ch"),
    "lge_lax_4ch": _view("lge_lax_4ch", "LGE", "mapping", ranking="cine", view="4ch"),
    "perfusion": _view("perfusion", "Perfusion", "mapping", ranking="cine"),
    "t1w": _view("t1w", "T1w", "mapping", "T1w"),
    "t2w": _view("t2w", "T2w", "mapping", "T2w"),
    "blackblood": _view("blackblood", "BlackBlood", "mapping"),
    "t1mappost": _view("t1mappost", "Mapping", "mapping", "T1mappost"),
    "t2smap": _view("t2smap", "Mapping", "mapping", "T2smap"),
}
MAPPING_MODALITIES = tuple(k for k, m in MODALITIES.items() if m.analysis == "biomarker")
SEGMENTED_MODALITIES = tuple(k for k, m in MODALITIES.items() if m.segmented)
IMAGE_ONLY_MODALITIES = tuple(k for k, m in MODALITIES.items() if not m.segmented)


def series_meta(subject_meta: dict, mod: str) -> dict:
    """The metadata of one series of a subject: the subject's, with ``modality`` and the view the series fixes
    (:attr:`Modality.view`; a long-axis cine is never prompted as the subject's short-axis ``view``)."""
    view = modality(mod).view
    return {**subject_meta, "modality": mod, **({"view": view} if view else {})}


def modality(name: str) -> Modality:
    """Return the :class:`Modality` called ``name`` or raise a clear ``KeyError``."""
    try:
        return MODALITIES[name]
    except KeyError:
        raise KeyError(f"unknown modality {name!r}; known: {sorted(MODALITIES)}") from None


# --------------------------------------------------------------------------------------------
# Undersampling masks: "<Pattern><R>", e.g. Uniform8, ktGaussian16, ktRadial24; the releases' own names too
# --------------------------------------------------------------------------------------------
# PATTERNS are those the shipped models were trained on (their prompt vocabulary: do not extend it without
# retraining). RELEASE_PATTERNS are the other names the CMRxRecon releases give their masks:
#   ktUniform<R>   2024 Task 2 (ChallengeDataFormat/Format_Task2.txt of CmrxRecon/CMRxRecon2024)
#   AccFactor<RR>  2023 (folders AccFactor04/08/10 holding <stem>_mask.mat with mask04/mask08/mask10;
#                  ChallengeDataFormat/Format_cine.txt of CmrxRecon/CMRxRecon): equispaced lines, one mask for all
#                  frames, the name keeps the release's two digits.
PATTERNS = ("Uniform", "ktGaussian", "ktRadial")
RELEASE_PATTERNS = ("ktUniform", "AccFactor")
ALL_PATTERNS = PATTERNS + RELEASE_PATTERNS
R_MIN, R_MAX = 2, 32
ACS_LINES = 20
# ACS width (central lines, or the side of the central square for ktRadial) of each release:
#   2023: "the central 24 lines (ky) are always full sampled" (CMRxRecon Format_cine.txt / README)
#   2024: "the central 16 lines (ny ...) or central 16*16 regions (... ktRadial)" (CMRxRecon2024 Format_Task1/2.txt)
#   2025: "autocalibration signals (ACS, 20 lines or 20x20 regions)" (CMRxRecon2025 README, Documentation)
RELEASE_ACS: dict[str, int] = {"2023": 24, "2024": 16, "2025": 20, "synthetic": ACS_LINES}
PAPER_MASKS = ("Uniform8", "ktGaussian16", "ktRadial24")
FULLY_SAMPLED = "full"  # the "mask" name used for the reference rows
_MASK_RE = re.compile(r"^(?:(Uniform|ktUniform|ktGaussian|ktRadial)([1-9]\d*)|(AccFactor)(\d{2}))$")


@dataclass(frozen=True)
class MaskName:
    """A parsed mask name: pattern and nominal acceleration."""

    pattern: str
    R: int

    def __str__(self) -> str:
        return f"{self.pattern}{self.R:02d}" if self.pattern == "AccFactor" else f"{self.pattern}{self.R}"

    @property
    def radial(self) -> bool:
        """True for the 2D (point-wise) pattern whose ACS is a square, False for the line patterns."""
        return self.pattern == "ktRadial"

    @classmethod
    def of(cls, name: str | MaskName) -> MaskName:
        """``name`` itself if already parsed, else :func:`parse_mask_name` of it: code takes either and parses a
        name once, where it enters (the config, a mask file, :class:`cardiomm.acquisition.Acquisition`), then
        passes the parsed value on."""
        return name if isinstance(name, MaskName) else parse_mask_name(name)


def parse_mask_name(name: str) -> MaskName:
    """Parse ``"ktGaussian16"`` into ``MaskName("ktGaussian", 16)`` (``"AccFactor04"`` into ``("AccFactor", 4)``);
    raise ``ValueError`` if invalid."""
    m = _MASK_RE.match(name)
    if not m:
        raise ValueError(f"invalid mask name {name!r}: expected <Pattern><R> with Pattern in "
                         f"{PATTERNS + RELEASE_PATTERNS[:1]}, or AccFactor<RR> (two digits, the 2023 release)")
    pattern, digits = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    R = int(digits)
    if not R_MIN <= R <= R_MAX:
        raise ValueError(f"invalid mask name {name!r}: R={R} outside [{R_MIN}, {R_MAX}]")
    return MaskName(pattern, R)


# --------------------------------------------------------------------------------------------
# Reconstruction methods
# --------------------------------------------------------------------------------------------
# The methods themselves (names, labels, kinds, entry points) are the registry cardiomm.methods; these two names
# are the rows that are not methods.
REFERENCE = "reference"  # the fully sampled RSS image (cardiomm.recon.classical.zero_filled on the full k-space)
TRUTH = "truth"

# --------------------------------------------------------------------------------------------
# Clinical indicators: name -> unit
# --------------------------------------------------------------------------------------------
PHENOTYPES: dict[str, str] = {
    "LVEDV": "mL",
    "LVESV": "mL",
    "LVSV": "mL",
    "LVEF": "%",
    "LVCO": "L/min",
    "LVM": "g",
    "RVEDV": "mL",
    "RVESV": "mL",
    "RVSV": "mL",
    "RVEF": "%",
    "WT": "mm",  # global mean myocardial wall thickness at ED
}
BIOMARKERS: dict[str, str] = {"T1": "ms", "T2": "ms", "T1rho": "ms"}
INDICATORS: dict[str, str] = {**PHENOTYPES, **BIOMARKERS}
MYOCARDIAL_DENSITY_G_PER_ML = 1.05


def unit(indicator: str) -> str:
    """Unit of a phenotype or biomarker."""
    try:
        return INDICATORS[indicator]
    except KeyError:
        raise KeyError(f"unknown indicator {indicator!r}; known: {list(INDICATORS)}") from None


# --------------------------------------------------------------------------------------------
# Cohort splits
# --------------------------------------------------------------------------------------------
SPLITS = ("train", "val", "test", "external")
EVAL_SPLITS = ("test", "external")
