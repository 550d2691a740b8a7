"""The three public CMRxRecon releases on disk: how to tell them apart, where each file is, what the folders say.

What each release's tree holds (fully sampled training data; undersampled validation data are not used here)
----------------------------------------------------------------------------------------------------------
``2023`` (CmrxRecon/CMRxRecon, ``ChallengeDataFormat/Format_cine.txt`` and ``Format_mapping.txt``)::

    MultiCoil/Cine/TrainingSet/FullSample/P001/cine_sax.mat, cine_lax.mat          (kspace_full)
    MultiCoil/Mapping/TrainingSet/FullSample/P001/T1map.mat, T2map.mat             (kspace_full)
    MultiCoil/<Cine|Mapping>/TrainingSet/AccFactor04/P001/<stem>_mask.mat          (mask04; 08, 10 alike)
    MultiCoil/Mapping/TrainingSet/AccFactor04/P001/T1map.csv, T2map.csv            (inversion / T2-prep times)

  Single centre, Siemens 3T MAGNETOM Vida (cmrxrecon.github.io, "Task2: T1/T2 mapping", Data). 24 ACS lines.

``2024`` (CmrxRecon/CMRxRecon2024, ``ChallengeDataFormat/Format_Task1.txt`` and ``Format_Task2.txt``)::

    MultiCoil/<Cine|Mapping|Aorta|Tagging>/TrainingSet/FullSample/P001/<stem>.mat  (kspace_full; only .mat files)
    MultiCoil/<family>/TrainingSet/Mask_Task1/P001/<stem>_mask_Uniform4.mat        (mask; 2D, Uniform4/8/10)
    MultiCoil/<family>/TrainingSet/Mask_Task2/P001/<stem>_mask_ktGaussian4.mat     (mask; 3D, kt{Uniform,Gaussian,
                                                                                     Radial}{4,8,12,16,20,24})

  No timing file is shipped. 16 ACS lines (16 x 16 for ktRadial).

``2025`` (CmrxRecon/CMRxRecon2025 README; the 2025 snippets' mask paths such as
``MultiCoil/Cine/TestSet/Mask_TaskAll/Center015/Siemens_30T_Vida/P301/cine_sax_mask_ktGaussian16.mat``; a public
listing of the training tree)::

    MultiCoil/<family>/TrainingSet/FullSample/<Center>/<Vendor>_<BB>T_<Scanner>/P001/<stem>.mat  (+ <stem>_info.csv)
    MultiCoil/<family>/TrainingSet/Mask_TaskAll/<Center>/<Vendor>_<BB>T_<Scanner>/P001/<stem>_mask_<Name>.mat
    MultiCoil/T1rho/TrainingSet/FullSample/<Center>/<...>/P001/T1rho.mat

  ``<BB>T`` is the field strength with the decimal point after the first digit (``15T`` 1.5 T, ``30T`` 3.0 T,
  ``50T`` 5.0 T; read the same way, ``055T`` would be 0.55 T, an assumption: no such folder is listed); vendors seen
  in the listings: UIH, Siemens, GE, Philips; scanners e.g. ``umr780``, ``CIMA.X``, ``Vida``, ``Prisma``.
  20 ACS lines (20 x 20 for ktRadial). The content of ``<stem>_info.csv`` is not documented publicly: not read.

``generic``: the layout cardiomm itself writes (the synthetic cohort): 2024-style folders with ``T1rhomap.mat``
and timing CSVs beside the k-space.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from cardiomm.conventions import RELEASE_ACS, MaskName, modality

RELEASES = ("2023", "2024", "2025", "generic")
MULTICOIL = "MultiCoil"
TRAINING = "TrainingSet"
FULL = "FullSample"

# release facts the folders do not carry (source: the release's documentation, cited in the module docstring)
RELEASE_META: dict[str, dict[str, object]] = {
    "2023": {"vendor": "Siemens", "scanner": "Vida", "field_strength_T": 3.0},
}
# Official scoring protocol of each release (cardiomm.compare.image_quality.PROTOCOLS)
RELEASE_PROTOCOL = {"2023": "cmrxrecon2023", "2024": "cmrxrecon2024", "2025": "cmrxrecon2025",
                    "generic": "all-frames"}
# Files of a modality where a release departs from conventions.MODALITIES (family, stem)
_FILES: dict[tuple[str, str], tuple[str, str]] = {("2025", "t1rhomap"): ("T1rho", "T1rho")}
_CENTRE = re.compile(r"^Center\d+$")
_VENDOR_FOLDER = re.compile(r"^(?P<vendor>[A-Za-z]+)_(?P<b0>\d+)T(?:_(?P<scanner>.+))?$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ReleaseError(ValueError):
    """A tree that is not laid out as the release it is said (or detected) to be."""


@dataclass(frozen=True)
class Found:
    """A subject folder found in a release tree.

    Attributes
    ----------
    id: unique, wildcard-safe id (2025: ``Center001_UIH_30T_umr780_P001``; else the folder name).
    parts: the folder path below ``FullSample`` (``("P001",)`` or ``("Center001", "UIH_30T_umr780", "P001")``).
    meta: what the folder names say (centre, vendor, field_strength_T, scanner); absent keys are unknown.
    """

    id: str
    parts: tuple[str, ...]
    meta: dict


def modality_file(release: str, mod: str) -> tuple[str, str]:
    """``(family folder, file stem)`` of modality ``mod`` in ``release``."""
    m = modality(mod)
    return _FILES.get((release, mod), (m.family, m.stem))


def acs_lines(release: str) -> int:
    """ACS width of a release's masks (conventions.RELEASE_ACS; ``generic`` is the synthetic cohort's)."""
    return RELEASE_ACS.get(release, RELEASE_ACS["synthetic"])


def _families(root: Path) -> list[Path]:
    base = root / MULTICOIL
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def _is_accfactor(name: str) -> bool:
    """A 2023 mask folder: its name is the mask's (``AccFactor04``; :func:`cardiomm.conventions.parse_mask_name`)."""
    try:
        return MaskName.of(name).pattern == "AccFactor"
    except ValueError:
        return False


def detect(root: str | Path) -> str:
    """The release a tree is laid out as, from its folders (``generic`` when no release marker is present).

    Markers: ``Mask_TaskAll`` or ``Center*`` folders under ``FullSample`` (2025); ``Mask_Task1``/``Mask_Task2``
    (2024); ``AccFactor04/08/10`` (2023).
    """
    root = Path(root)
    seen: set[str] = set()
    for fam in _families(root):
        train = fam / TRAINING
        if not train.is_dir():
            continue
        names = {p.name for p in train.iterdir() if p.is_dir()}
        full = train / FULL
        if "Mask_TaskAll" in names or (full.is_dir() and any(_CENTRE.match(p.name) for p in full.iterdir())):
            seen.add("2025")
        if names & {"Mask_Task1", "Mask_Task2"}:
            seen.add("2024")
        if any(_is_accfactor(n) for n in names):
            seen.add("2023")
    if len(seen) > 1:
        raise ReleaseError(f"{root}: folders of several releases ({sorted(seen)}) under {MULTICOIL}/*/{TRAINING}; "
                           f"point data.root at one release")
    return seen.pop() if seen else "generic"


def parse_vendor_folder(name: str) -> dict:
    """``"UIH_30T_umr780"`` -> ``{"vendor": "UIH", "field_strength_T": 3.0, "scanner": "umr780"}``; ``{}`` when the
    name does not follow ``<Vendor>_<BB>T[_<Scanner>]``."""
    m = _VENDOR_FOLDER.match(name)
    if not m:
        return {}
    digits = m["b0"]  # the tag keeps one digit after the point: 15 -> 1.5, 30 -> 3.0; 055 -> 0.55, 7 -> 7
    out: dict[str, object] = {"vendor": m["vendor"], "field_strength_T": int(digits) / 10 ** (len(digits) - 1)}
    if m["scanner"]:
        out["scanner"] = m["scanner"]
    return out


def safe_id(parts: tuple[str, ...]) -> str:
    """Wildcard-safe subject id from folder names (characters outside ``[A-Za-z0-9_.-]`` become ``-``)."""
    return _UNSAFE.sub("-", "_".join(parts))


def discover(root: str | Path, release: str) -> list[Found]:
    """Every subject folder under ``MultiCoil/*/TrainingSet/FullSample`` of a release, sorted by id.

    Raises
    ------
    ReleaseError when nothing is found, or when two folders map to the same id.
    """
    root = Path(root)
    depth = 3 if release == "2025" else 1
    found: dict[tuple[str, ...], Found] = {}
    for fam in _families(root):
        full = fam / TRAINING / FULL
        if not full.is_dir():
            continue
        for p in sorted(full.glob("/".join(["*"] * depth))):
            if not p.is_dir():
                continue
            parts = p.relative_to(full).parts
            meta: dict[str, object] = {}
            if depth == 3:
                if not _CENTRE.match(parts[0]):
                    raise ReleaseError(f"{p}: a 2025 subject folder must be <Center>/<Vendor>_<BB>T_<Scanner>/<P>; "
                                       f"{parts[0]!r} is not a Center folder")
                meta = {"centre": parts[0], **parse_vendor_folder(parts[1])}
            found.setdefault(parts, Found(safe_id(parts), parts, meta))
    if not found:
        layout = "<Center>/<Vendor>/<P>" if depth == 3 else "<P>"
        raise ReleaseError(f"{root}: no subjects found under {MULTICOIL}/*/{TRAINING}/{FULL}/{layout} "
                           f"(release {release})")
    ids: dict[str, tuple[str, ...]] = {}
    for f in found.values():
        if f.id in ids and ids[f.id] != f.parts:
            raise ReleaseError(f"{root}: folders {'/'.join(ids[f.id])} and {'/'.join(f.parts)} give the same subject "
                               f"id {f.id!r}")
        ids[f.id] = f.parts
    return sorted(found.values(), key=lambda f: f.id)


def kspace_path(root: Path, release: str, parts: tuple[str, ...], mod: str) -> Path:
    """The fully sampled k-space file of one subject x modality."""
    fam, stem = modality_file(release, mod)
    return root.joinpath(MULTICOIL, fam, TRAINING, FULL, *parts, f"{stem}.mat")


def timing_path(root: Path, release: str, parts: tuple[str, ...], mod: str) -> Path:
    """The timing CSV of a mapping series: beside the k-space, or (2023) in the first ``AccFactorNN`` folder that
    holds one. The path is returned whether or not it exists (2024 and 2025 ship none)."""
    beside = kspace_path(root, release, parts, mod).with_suffix(".csv")
    if release == "2023" and not beside.exists():
        fam, stem = modality_file(release, mod)
        for acc in sorted((root / MULTICOIL / fam / TRAINING).glob("AccFactor[0-9][0-9]")):
            p = acc.joinpath(*parts, f"{stem}.csv")
            if p.exists():
                return p
    return beside


def official_mask(root: Path, release: str, parts: tuple[str, ...], mod: str, mask: str) -> tuple[Path, str] | None:
    """``(file, variable)`` of the release's own mask for one subject x modality x mask name, or ``None`` when the
    release has no mask of that name (the file itself may still be missing: the caller checks).

    2023: ``AccFactorNN/<P>/<stem>_mask.mat`` variable ``maskNN`` (names ``AccFactor04/08/10``);
    2024: ``Mask_Task1`` (Uniform) or ``Mask_Task2`` (kt patterns) ``/<P>/<stem>_mask_<Name>.mat`` variable ``mask``;
    2025: ``Mask_TaskAll/<Center>/<Vendor>/<P>/<stem>_mask_<Name>.mat`` variable ``mask``.
    """
    mn = MaskName.of(mask)
    fam, stem = modality_file(release, mod)
    train = root / MULTICOIL / fam / TRAINING
    if release == "2023":
        if mn.pattern != "AccFactor":
            return None
        return train.joinpath(str(mn), *parts, f"{stem}_mask.mat"), f"mask{mn.R:02d}"
    if release == "2024":
        folder = "Mask_Task1" if mn.pattern == "Uniform" else "Mask_Task2"
        return train.joinpath(folder, *parts, f"{stem}_mask_{mask}.mat"), "mask"
    if release == "2025":
        return train.joinpath("Mask_TaskAll", *parts, f"{stem}_mask_{mask}.mat"), "mask"
    return None
