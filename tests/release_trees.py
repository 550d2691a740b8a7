"""Tiny trees laid out exactly as each CMRxRecon release lays out its training data (see cardiomm.io.releases).

One phantom subject is rendered once (cardiomm.phantom) and its k-space is rewritten under the release's folders,
file stems and variable names (MATLAB v7.3 with the 512-byte user block, complex as real/imag compounds, MATLAB
axis order), with the release's own mask files (2023: v5 files as MATLAB's ``save`` writes small variables) and,
for 2023, timing tables in the release's layout (header, one row per weighting, one column per slice, 0-padded).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.io
import yaml

from cardiomm.conventions import RELEASE_ACS
from cardiomm.io import cmrxrecon as cio
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.sampling.masks import make_mask

SMALL = PhantomConfig(nx=64, ny=56, dx=4.5, dy=4.5, nt=3, nz=4, gap=12.0, coils_raw=(4,), coils=4,
                      counts={"train": 0, "val": 0, "test": 1, "external": 0}, seed=5)
DEFAULTS = {"dx_mm": 4.5, "dy_mm": 4.5, "thickness_mm": 8, "gap_mm": 12, "frame_interval_s": 0.1,
            "map_spacing_mm": 20}
# the views and contrasts (image quality only) written into the trees, as each release names them (family, stem, 4D):
# copies of the phantom's cine k-space under the release's own folder and file names
TREE_VIEWS = {"2023": [("Cine", "cine_lax", False)],
              "2024": [("Cine", "cine_lax", False), ("Cine", "cine_lvot", False)],
              "2025": [("Cine", "cine_lax_4ch", False), ("T2w", "T2w", True)]}
# the release's mask names written into the trees, per release
TREE_MASKS = {"2023": ["AccFactor04", "AccFactor08"], "2024": ["Uniform4", "ktGaussian8"],
              "2025": ["ktRadial8", "Uniform8"]}


REPO = Path(__file__).resolve().parents[1]
SEGMENTER = str(REPO / "cardiomm" / "weights" / "segmentation.pt")


def run_workflow(tmp: Path, cfg: dict, timeout: int) -> None:
    """Write ``cfg`` as ``tmp/config.yaml`` and run the repository's Snakemake workflow in ``tmp`` on 2 cores;
    fails the test with the end of Snakemake's log if the run fails."""
    (tmp / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp), "--configfile", str(tmp / "config.yaml"), "--cores", "2"],
                          capture_output=True, text=True, cwd=tmp, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-5000:]


def phantom_source(root: Path) -> Path:
    """One synthetic subject in the generic layout (k-space, timing) under ``root``; returns ``root``."""
    write_subject(cohort_specs(SMALL)[0], SMALL, root)
    shutil.rmtree(root / "GroundTruth")
    return root


def _src(src: Path, family: str, stem: str) -> Path:
    return src / "MultiCoil" / family / "TrainingSet" / "FullSample" / "P001" / f"{stem}.mat"


def _write_2023_timing(path: Path, times: np.ndarray, n_columns: int = 9) -> None:
    """The 2023 layout; times shared by every slice (the release's T2map.csv) are written as one column, as the
    release ships them."""
    if (times == times[:1]).all():
        times = times[:1]
    nz, nt = times.shape
    lines = ["," + ",".join(f"slice{z + 1}" for z in range(n_columns))]
    for t in range(nt):
        lines.append(f"TI{t + 1}," + ",".join(f"{times[z, t]:.3f}" if z < nz else "0" for z in range(n_columns)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _official(name: str, nt: int, ny: int, nx: int, acs: int, two_d: bool) -> np.ndarray:
    m = make_mask(name, 1 if two_d else nt, ny, nx, seed=99, acs=acs)
    return m[0] if two_d else m


def write_release_tree(src: Path, root: Path, release: str, subjects: tuple[str, ...] = ("P001",),
                       t1rho: bool = True, views: bool = True) -> dict[str, list[Path]]:
    """Write ``subjects`` (copies of the phantom subject) in ``release``'s layout under ``root``; ``views``: also
    the release's views/contrasts of :data:`TREE_VIEWS` (a 4D one, MATLAB ``(nx, ny, nc, nz)``, is the first
    frame of the cine k-space, with a 2D mask).

    Returns the written paths by kind (``kspace``, ``mask``, ``timing``).
    """
    out: dict[str, list[Path]] = {"kspace": [], "mask": [], "timing": []}
    acs = RELEASE_ACS[release]
    series = [("Cine", "cine_sax", "Cine", "cine_sax"), ("Mapping", "T1map", "Mapping", "T1map"),
              ("Mapping", "T2map", "Mapping", "T2map")]
    if release == "2025" and t1rho:
        series.append(("Mapping", "T1rhomap", "T1rho", "T1rho"))
    four_d = set()
    if views:
        series += [("Cine", "cine_sax", fam, stem) for fam, stem, _ in TREE_VIEWS[release]]
        four_d = {stem for _, stem, flat in TREE_VIEWS[release] if flat}
    for i, sid in enumerate(subjects):
        folder = (("Center001", "UIH_30T_umr780", sid) if i % 2 == 0 else ("Center002", "Siemens_15T_Avanto", sid)) \
            if release == "2025" else (sid,)
        for sfam, sstem, fam, stem in series:
            k = cio.read_kspace(_src(src, sfam, sstem))
            if stem in four_d:
                k = k[:1]
            nt, _, _, ny, nx = k.shape
            train = root / "MultiCoil" / fam / "TrainingSet"
            kpath = train.joinpath("FullSample", *folder, f"{stem}.mat")
            kpath.parent.mkdir(parents=True, exist_ok=True)
            cio.write_mat(kpath, {"kspace" if release == "2025" else "kspace_full": k[0] if stem in four_d else k},
                          compress=False)
            out["kspace"].append(kpath)
            if release == "2023":
                for name in TREE_MASKS["2023"]:
                    rr = name[-2:]
                    mpath = train.joinpath(name, *folder, f"{stem}_mask.mat")
                    mpath.parent.mkdir(parents=True, exist_ok=True)
                    old = scipy.io.loadmat(mpath) if mpath.exists() else {}
                    masks = {kk: v for kk, v in old.items() if not kk.startswith("__")}
                    masks[f"mask{rr}"] = _official(name, nt, ny, nx, acs, two_d=True).T.astype(np.float64)
                    scipy.io.savemat(mpath, masks)  # MATLAB (nx, ny) order, v5 file
                    out["mask"].append(mpath)
                if fam == "Mapping":
                    times = cio.read_timing(_src(src, sfam, sstem).with_suffix(".csv"))
                    tpath = train.joinpath("AccFactor04", *folder, f"{stem}.csv")
                    _write_2023_timing(tpath, times)
                    out["timing"].append(tpath)
            else:
                for name in TREE_MASKS[release]:
                    task = ("Mask_Task1" if name.startswith("Uniform") else "Mask_Task2") if release == "2024" \
                        else "Mask_TaskAll"
                    two_d = (release == "2024" and task == "Mask_Task1") or stem in four_d
                    mpath = train.joinpath(task, *folder, f"{stem}_mask_{name}.mat")
                    mpath.parent.mkdir(parents=True, exist_ok=True)
                    cio.write_mat(mpath, {"mask": _official(name, nt, ny, nx, acs, two_d).astype(np.uint8)})
                    out["mask"].append(mpath)
    return out
