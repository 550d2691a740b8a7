"""Label conventions: ours (UK Biobank style) <-> ACDC <-> CMRxRecon 2023, and label validation.

Our convention lives in :mod:`cardiomm.conventions` (0 background, 1 LV blood pool, 2 LV myocardium,
3 RV blood pool). Two external conventions are converted here, as pure lookup-table remaps:

ACDC (Bernard et al., IEEE TMI 2018; the challenge's ground-truth files)
    0 background, 1 RV cavity, 2 myocardium, 3 LV cavity.
    So ACDC swaps LV and RV relative to ours; myocardium keeps value 2.

CMRxRecon 2023 (``SegmentROI/<subject>/<stem>_label.nii.gz``)
    0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool, i.e. identical to ours.
    Source: the organisers' evaluation toolbox, ``CmrxRecon/CMRxRecon``,
    ``Mapping/Toolbox/cardiac_utils.py`` (``label = {'BG': 0, 'LV': 1, 'Myo': 2, 'RV': 3}``), which
    ``Mapping/Main_MapEvalution.py`` applies to the CMRxRecon 2023 ``SegmentROI`` label files.
    That evidence is from the mapping evaluation. For the cine labels we found no separate
    statement and assume the same convention, since both come from one dataset with one annotation
    protocol. If real cine labels disagree, only :data:`CMRXRECON2023` needs to change.

M&Ms (Campello et al., IEEE TMI 2021; M&Ms-2 uses the same values)
    0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool: identical to ours.

MONAI bundle ``ventricular_short_axis_3label`` (its ``configs/metadata.json``,
``network_data_format.outputs.pred.channel_def``)
    0 background, 1 ``lv_pool``, 2 ``myocardium``, 3 ``rv_pool``: identical to ours.

Foreign models declare their labels by *name* (a bundle's ``channel_def``, an nnU-Net
``dataset.json`` ``"labels"``). :func:`mapping_from_names` turns such a declaration into a value
lookup table, so each model has exactly one declared mapping: either a convention named in the config
(``segmentation.labels``) or the one its own metadata states (``auto``).

All functions take integer-valued label arrays of any shape. They return new ``uint8`` arrays of the
same shape and never change their input.
"""

from __future__ import annotations

import numpy as np

from cardiomm.conventions import BACKGROUND, LV_BLOOD, LV_MYO, N_CLASSES, RV_BLOOD

# External convention: structure name (our names, conventions.LABELS keys) -> value in that convention.
ACDC: dict[str, int] = {"background": 0, "rv_blood": 1, "lv_myo": 2, "lv_blood": 3}
CMRXRECON2023: dict[str, int] = {"background": 0, "lv_blood": 1, "lv_myo": 2, "rv_blood": 3}
_OURS: dict[str, int] = {"background": BACKGROUND, "lv_blood": LV_BLOOD, "lv_myo": LV_MYO, "rv_blood": RV_BLOOD}
MNMS: dict[str, int] = {"background": 0, "lv_blood": 1, "lv_myo": 2, "rv_blood": 3}
MONAI_VENTRICULAR_3LABEL: dict[str, int] = {"background": 0, "lv_blood": 1, "lv_myo": 2, "rv_blood": 3}
CONVENTIONS: dict[str, dict[str, int]] = {"ours": _OURS, "acdc": ACDC, "cmrxrecon2023": CMRXRECON2023,
                                          "mnms": MNMS, "monai_ventricular_3label": MONAI_VENTRICULAR_3LABEL}

# Structure names used by model metadata (lower-cased, spaces/dashes -> "_") -> our structure name.
# ACDC's nnU-Net datasets call them RV / MLV / LVC; bundles lv_pool / myocardium / rv_pool.
_NAME_ALIASES: dict[str, str] = {
    **{n: "background" for n in ("background", "bg", "bck", "clear_label")},
    **{n: "lv_blood" for n in ("lv", "lv_blood", "lv_pool", "lv_blood_pool", "lvc", "lv_cavity", "lvbp",
                               "left_ventricle", "left_ventricular_cavity", "left_ventricle_blood_pool")},
    **{n: "lv_myo" for n in ("myo", "lv_myo", "myocardium", "mlv", "lv_myocardium", "lvm",
                             "left_ventricular_myocardium", "left_ventricle_myocardium")},
    **{n: "rv_blood" for n in ("rv", "rv_blood", "rv_pool", "rv_blood_pool", "rvc", "rv_cavity", "rvbp",
                               "right_ventricle", "right_ventricular_cavity", "right_ventricle_blood_pool")},
}


class LabelError(ValueError):
    """A label map has values or a dtype that no supported convention allows."""


def validate_labels(arr: np.ndarray, source: str) -> np.ndarray:
    """Check that a label map holds only the values ``{0, 1, 2, 3}`` and return it as ``uint8``.

    Parameters
    ----------
    arr: label map of any shape (integer or integer-valued float).
    source: what the array is (a file name or argument name), used in the error message.

    Returns
    -------
    ``uint8`` copy of ``arr`` with the same shape.

    Raises
    ------
    LabelError
        If ``arr`` is complex, holds NaN/Inf, non-integer values, or values outside ``0..N_CLASSES-1``.
    """
    a = np.asarray(arr)
    if np.iscomplexobj(a):
        raise LabelError(f"{source}: label map is complex ({a.dtype}); expected integer labels 0..{N_CLASSES - 1}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if not np.issubdtype(a.dtype, np.number):
        raise LabelError(f"{source}: label map has non-numeric dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise LabelError(f"{source}: label map contains {int((~np.isfinite(a)).sum())} NaN/Inf values")
        if not np.array_equal(a, np.round(a)):
            raise LabelError(f"{source}: label map holds non-integer values, e.g. {a[a != np.round(a)].flat[0]!r}")
    if a.size:
        bad = np.setdiff1d(np.unique(a), np.arange(N_CLASSES))
        if bad.size:
            raise LabelError(
                f"{source}: label map holds values {bad[:10].tolist()} outside {{0..{N_CLASSES - 1}}} "
                f"(0 background, {LV_BLOOD} LV blood, {LV_MYO} LV myocardium, {RV_BLOOD} RV blood)"
            )
    return a.astype(np.uint8)


def _lut(src: dict[str, int], dst: dict[str, int]) -> np.ndarray:
    lut = np.zeros(N_CLASSES, dtype=np.uint8)
    for name, v in src.items():
        lut[v] = dst[name]
    return lut


def convert_labels(arr: np.ndarray, src: str, dst: str, source: str = "labels") -> np.ndarray:
    """Remap a label map from convention ``src`` to ``dst`` (``"ours"``, ``"acdc"``, ``"cmrxrecon2023"``).

    Parameters
    ----------
    arr: integer label map of any shape, in convention ``src``.
    src, dst: convention names, keys of :data:`CONVENTIONS`.
    source: name of the array for error messages.

    Returns
    -------
    ``uint8`` label map of the same shape in convention ``dst``.
    """
    for name in (src, dst):
        if name not in CONVENTIONS:
            raise KeyError(f"unknown label convention {name!r}; known: {sorted(CONVENTIONS)}")
    a = validate_labels(arr, source)
    return _lut(CONVENTIONS[src], CONVENTIONS[dst])[a]


def from_acdc(arr: np.ndarray, source: str = "ACDC labels") -> np.ndarray:
    """ACDC labels (1 RV, 2 myocardium, 3 LV) -> ours (1 LV blood, 2 LV myocardium, 3 RV blood), ``uint8``."""
    return convert_labels(arr, "acdc", "ours", source)


def to_acdc(arr: np.ndarray, source: str = "labels") -> np.ndarray:
    """Our labels -> ACDC labels (1 RV, 2 myocardium, 3 LV), ``uint8``."""
    return convert_labels(arr, "ours", "acdc", source)


def from_cmrxrecon2023(arr: np.ndarray, source: str = "CMRxRecon 2023 labels") -> np.ndarray:
    """CMRxRecon 2023 ``*_label.nii.gz`` values -> ours (identity remap, validated), ``uint8``."""
    return convert_labels(arr, "cmrxrecon2023", "ours", source)


def to_cmrxrecon2023(arr: np.ndarray, source: str = "labels") -> np.ndarray:
    """Our labels -> CMRxRecon 2023 label values (identity remap, validated), ``uint8``."""
    return convert_labels(arr, "ours", "cmrxrecon2023", source)


def _norm_name(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def mapping_from_names(value_to_name: dict[int, str], source: str) -> np.ndarray:
    """Lookup table (model output value -> our value) from a model's own label names.

    Parameters
    ----------
    value_to_name: model output value -> structure name, e.g. a bundle's ``channel_def``
        ``{"0": "background", "1": "lv_pool", ...}`` or an inverted nnU-Net ``dataset.json`` ``labels``.
        Names are matched case-insensitively against known aliases (``lv_pool``, ``LVC``, ``MLV``, ``RV``, ...).
    source: the metadata file, for errors.

    Returns
    -------
    ``uint8`` table of length ``max(value) + 1``; values not declared map to background.

    Raises
    ------
    LabelError
        naming ``source`` if a name is unknown, a structure is declared twice, or one of LV blood,
        LV myocardium and RV blood is missing (set ``segmentation.labels`` explicitly then).
    """
    ours: dict[int, str] = {}
    for v, name in value_to_name.items():
        key = _NAME_ALIASES.get(_norm_name(name))
        if key is None:
            raise LabelError(f"{source}: label {v} is called {name!r}, which is not a known name for background, "
                             f"LV blood pool, LV myocardium or RV blood pool; set segmentation.labels to one of "
                             f"{sorted(CONVENTIONS)}")
        if key in ours.values():
            raise LabelError(f"{source}: structure {key!r} is declared twice ({value_to_name})")
        ours[int(v)] = key
    missing = sorted({"lv_blood", "lv_myo", "rv_blood"} - set(ours.values()))
    if missing:
        raise LabelError(f"{source}: the model's labels {value_to_name} lack {missing}")
    lut = np.zeros(max(ours) + 1, dtype=np.uint8)
    for v, key in ours.items():
        lut[v] = _OURS[key]
    return lut


def mapping_from_convention(name: str) -> np.ndarray:
    """Lookup table (value in convention ``name`` -> our value), ``uint8`` of length ``N_CLASSES``."""
    if name not in CONVENTIONS:
        raise KeyError(f"unknown label convention {name!r}; known: {sorted(CONVENTIONS)}")
    return _lut(CONVENTIONS[name], _OURS)


def apply_mapping(arr: np.ndarray, lut: np.ndarray, source: str) -> np.ndarray:
    """Remap a model's integer output with ``lut``; a value outside the table is an error naming ``source``."""
    a = np.asarray(arr)
    if a.size and (a.min() < 0 or a.max() >= len(lut)):
        raise LabelError(f"{source}: model output holds label values {np.unique(a)[:10].tolist()}, "
                         f"outside its declared labels 0..{len(lut) - 1}")
    return lut[a.astype(np.int64)]
