"""The synthetic cohort: per-subject specifications from one seed, and the files of one subject.

``cohort_specs(cfg)`` is a pure function of the phantom config (so every Snakemake job derives the same
cohort), ``write_subject(spec, cfg, root)`` renders one subject in the CMRxRecon layout of
:mod:`cardiomm.cohort` plus its ground truth.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cardiomm.atomic import write_csv
from cardiomm.conventions import LV_BLOOD, LV_MYO, MODALITIES, PHENOTYPES, RV_BLOOD, SPLITS, unit
from cardiomm.io.cmrxrecon import write_kspace, write_timing
from cardiomm.io.nifti import Geometry, save_image
from cardiomm.phantom import anatomy, coils, contrasts, texture
from cardiomm.phantom.tissues import TISSUE_INDEX, subject_tissue_params, tissue_params
from cardiomm.phantom.truth import wall_thickness_truth
from cardiomm.physics.fft import fft2c
from cardiomm.quantify.phases import ed_es_frames

# (centre, vendor, scanner, field strength in T). External centres have unseen field strengths and a
# vendor absent from training, for "unseen centre" tests.
CENTRES = (
    ("Center001", "Siemens", "Avanto", 1.5),
    ("Center002", "Siemens", "Prisma", 3.0),
    ("Center003", "UIH", "uMR790", 3.0),
    ("Center004", "GE", "SIGNA Artist", 1.5),
)
EXTERNAL_CENTRES = (
    ("Center005", "Philips", "Ingenia 0.55T", 0.55),
    ("Center006", "UIH", "uMR Jupiter 5T", 5.0),
)
DISEASES = ("normal", "dilated", "hypertrophic", "infarct", "oedema")


@dataclass(frozen=True)
class PhantomConfig:
    """Size and acquisition parameters of a synthetic cohort (mm, ms)."""

    nx: int = 128
    ny: int = 112
    dx: float = 2.25
    dy: float = 2.25
    nt: int = 12
    nz: int = 9
    thickness: float = 8.0
    gap: float = 2.0
    n_map_slices: int = 3
    coils_raw: tuple[int, ...] = (12, 16, 20, 24, 32)
    coils: int = 10
    snr: float = 25.0
    noise_correlation: float = 0.3
    supersample: int = 3
    t2_prep_ms: tuple[float, ...] = (0.0, 35.0, 55.0)
    tsl_ms: tuple[float, ...] = (0.0, 10.0, 20.0, 30.0, 40.0)
    molli_scheme: tuple[int, int, int] = (5, 3, 3)
    bssfp_flip_deg: float = 50.0
    bssfp_tr_ms: float = 3.0
    counts: dict = field(default_factory=lambda: {"train": 24, "val": 4, "test": 6, "external": 3})
    seed: int = 2025
    # realism switches (issue 15); all off reproduces the earlier, piecewise-constant phantom
    papillary_muscles: bool = True
    texture: bool = True
    texture_myocardium: float = 0.08  # bound of the relative PD modulation (cardiomm.phantom.texture)
    texture_blood: float = 0.15
    population_tissue: bool = True  # per-subject myocardial T1/T2/T1rho (cardiomm.phantom.tissues)

    @classmethod
    def from_dict(cls, d: dict) -> PhantomConfig:
        kw = dict(d)
        for k in ("coils_raw", "t2_prep_ms", "tsl_ms", "molli_scheme"):
            if k in kw:
                kw[k] = tuple(kw[k])
        unknown = set(kw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown phantom config keys: {sorted(unknown)}")
        return cls(**kw)


@dataclass(frozen=True)
class SubjectSpec:
    """Everything that defines one synthetic subject."""

    subject: str
    split: str
    centre: str
    vendor: str
    scanner: str
    field_strength_T: float
    disease: str
    heart_rate_bpm: float
    n_coils_raw: int
    heart: anatomy.HeartSpec
    body: anatomy.BodySpec
    seed: int

    def row(self, cfg: PhantomConfig) -> dict:
        """The ``subjects.csv`` row (see :data:`cardiomm.cohort.SUBJECT_COLUMNS`)."""
        return {
            "subject": self.subject, "split": self.split, "centre": self.centre, "vendor": self.vendor,
            "scanner": self.scanner, "field_strength_T": self.field_strength_T, "disease": self.disease,
            "heart_rate_bpm": round(self.heart_rate_bpm, 3), "dx_mm": cfg.dx, "dy_mm": cfg.dy,
            "thickness_mm": cfg.thickness, "gap_mm": cfg.gap,
            "frame_interval_s": round(frame_interval_s(self.heart_rate_bpm, cfg.nt), 6), "view": "sax",
            "map_spacing_mm": map_spacing(cfg),
        }


def frame_interval_s(heart_rate_bpm: float, nt: int) -> float:
    """Frame interval of a cine covering exactly one cardiac cycle, s."""
    return 60.0 / heart_rate_bpm / nt


def map_slice_indices(cfg: PhantomConfig) -> np.ndarray:
    """Cine slice indices at which the mapping slices are acquired (basal, mid, apical thirds)."""
    fr = (np.arange(cfg.n_map_slices) + 1) / (cfg.n_map_slices + 1)
    return np.round(fr * (cfg.nz - 1)).astype(int)


def map_spacing(cfg: PhantomConfig) -> float:
    """Distance between mapping slice centres, mm (mean over the stack)."""
    idx = map_slice_indices(cfg)
    spacing = cfg.thickness + cfg.gap
    return float(np.mean(np.diff(idx)) * spacing) if len(idx) > 1 else spacing


def _rng(seed: int, *tags: str) -> np.random.Generator:
    """A generator keyed by the seed and string tags, independent of global random state."""
    return np.random.default_rng([seed] + [zlib.crc32(t.encode()) for t in tags])


def _heart(rng: np.random.Generator, disease: str, nt: int, cfg: PhantomConfig) -> anatomy.HeartSpec:
    spacing = cfg.thickness + cfg.gap
    coverage = spacing * (cfg.nz - 1)
    r_endo, wall, ef, rv_ef, amp = 26.0, 8.5, 0.60, 0.55, 0.12
    if disease == "dilated":
        r_endo, wall, ef, rv_ef = 32.0, 7.5, 0.30, 0.40
    elif disease == "hypertrophic":
        r_endo, wall, ef, amp = 22.0, 14.5, 0.68, 0.25
    elif disease == "infarct":
        ef = 0.45
    j = lambda s: rng.normal(0, s)  # noqa: E731 - local jitter helper
    length = (coverage + 3.0) * (1 + j(0.03))  # apex near the last slice, as in a full SAX stack
    es_frame = max(1, int(round(0.35 * nt)))
    return anatomy.HeartSpec(
        cx=12 + j(3), cy=-6 + j(3), r_endo=r_endo * (1 + j(0.06)), wall=wall * (1 + j(0.06)),
        wall_amp=amp, wall_phase=float(np.pi + j(0.3)), length=length, apex_wall=max(wall * 0.8, 5.0),
        ef=float(np.clip(ef + j(0.04), 0.15, 0.8)), long_shortening=0.12 + j(0.015),
        rv_a=22 * (1 + j(0.07)) * (1.15 if disease == "dilated" else 1.0),
        rv_b=40 * (1 + j(0.07)) * (1.1 if disease == "dilated" else 1.0), rv_length=0.85 * length,
        rv_ef=float(np.clip(rv_ef + j(0.04), 0.15, 0.8)), rv_wall=3.0, es_phase=es_frame / nt,
        infarct_angle=float(-np.pi / 2 + j(0.4)) if disease == "infarct" else None,
    )


def cohort_specs(cfg: PhantomConfig) -> list[SubjectSpec]:
    """All subjects of the cohort, deterministic in ``cfg.seed``; ids ``P001..`` in split order."""
    specs, n = [], 0
    for split in SPLITS:
        for _ in range(int(cfg.counts.get(split, 0))):
            n += 1
            sid = f"P{n:03d}"
            rng = _rng(cfg.seed, sid)
            centres = EXTERNAL_CENTRES if split == "external" else CENTRES
            centre, vendor, scanner, b0 = centres[rng.integers(len(centres))]
            disease = DISEASES[(n - 1) % len(DISEASES)] if split != "train" else DISEASES[rng.integers(len(DISEASES))]
            body = anatomy.BodySpec(ax=132 * (1 + rng.normal(0, 0.04)), ay=95 * (1 + rng.normal(0, 0.04)),
                                    fat=9 + rng.normal(0, 2), muscle=9, liver_z=55 + rng.normal(0, 5), spine_y=70)
            specs.append(SubjectSpec(
                subject=sid, split=split, centre=centre, vendor=vendor, scanner=scanner, field_strength_T=b0,
                disease=disease, heart_rate_bpm=float(rng.uniform(55, 85)),
                n_coils_raw=int(cfg.coils_raw[rng.integers(len(cfg.coils_raw))]),
                heart=_heart(rng, disease, cfg.nt, cfg), body=body, seed=int(rng.integers(2**31)),
            ))
    return specs


def spec_by_id(cfg: PhantomConfig, subject: str) -> SubjectSpec:
    """The spec of one subject id (raises ``KeyError`` naming the id if absent)."""
    for s in cohort_specs(cfg):
        if s.subject == subject:
            return s
    raise KeyError(f"subject {subject!r} is not in the synthetic cohort defined by the config")


# ---------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------


def _slice_z(cfg: PhantomConfig) -> np.ndarray:
    """Depth (mm from the ED basal plane) of each cine slice centre; slice 0 just below the base."""
    return 3.0 + (cfg.thickness + cfg.gap) * np.arange(cfg.nz)


def render_slice(spec: SubjectSpec, cfg: PhantomConfig, z: float, f: float) -> tuple[np.ndarray, np.ndarray,
                                                                                     np.ndarray]:
    """Tissue fractions ``(n_tissues, ny, nx)``, labels ``(ny, nx)`` and centre tissue index ``(ny, nx)``."""
    ss = cfg.supersample
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx, ss)
    tissue, label = anatomy.rasterize(spec.heart, spec.body, z, f, x, y, papillary=cfg.papillary_muscles)
    return (anatomy.tissue_fractions(tissue, ss), anatomy.centre_samples(label, ss),
            anatomy.centre_samples(tissue, ss))


def _background_phase(cfg: PhantomConfig, z: float, rng: np.random.Generator) -> np.ndarray:
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    a, b, c = rng.normal(0, 0.004, 3)
    return np.exp(1j * (a * x + b * y + c * z + 0.5 * np.exp(-(x**2 + y**2) / 80.0**2)))


def _acquire(images: np.ndarray, spec: SubjectSpec, cfg: PhantomConfig, z: np.ndarray, tag: str,
             signal_ref: float) -> np.ndarray:
    """Multi-coil k-space of complex images ``(nt, nz, ny, nx)``: coils, noise at the target SNR, compression.

    ``signal_ref`` is the reference image magnitude (myocardium) that defines SNR = signal / noise std in
    the coil-combined image. The raw coils' noise has covariance ``sigma^2 Psi``; SVD compression to
    ``cfg.coils`` virtual coils uses the expected data covariance (signal + noise), and the compressed noise is
    drawn with its exact covariance ``sigma^2 A Psi A^H`` -- the same distribution as compressing noisy raw
    data, at a fraction of the cost and memory.
    """
    import torch

    rng = _rng(spec.seed, tag)
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    pos = coils.coil_positions(spec.n_coils_raw, spec.body.ax, spec.body.ay, 80.0, rng)
    nt, nz = images.shape[:2]
    C = spec.n_coils_raw
    raw = np.empty((nt, nz, C, cfg.ny, cfg.nx), np.complex64)
    smap_rss_heart = []
    cov = np.zeros((C, C), np.complex128)
    for k in range(nz):
        smaps = coils.sensitivities(pos, x, y, float(z[k] - 40.0), d0=110.0, rng=rng)
        heart = np.hypot(x - spec.heart.cx, y - spec.heart.cy) < 40
        smap_rss_heart.append(np.sqrt((np.abs(smaps) ** 2).sum(0))[heart].mean())
        raw[:, k] = fft2c(torch.from_numpy(smaps[None] * images[:, k, None].astype(np.complex64))).numpy()
        flat = np.moveaxis(raw[:, k], 1, 0).reshape(C, -1)
        cov += flat @ flat.conj().T
    sigma = signal_ref * float(np.mean(smap_rss_heart)) / cfg.snr
    psi = coils.noise_covariance(C, cfg.noise_correlation, rng)
    n_samples = raw.size // C
    A = coils.compression_matrix(cov + n_samples * sigma**2 * psi, cfg.coils)
    out = coils.apply_compression(raw, A)
    cov_v = sigma**2 * (A @ psi @ A.conj().T)
    for k in range(nz):
        out[:, k] += coils.correlated_noise(out[:, k].shape, cov_v, rng)
    return out


def subject_tissues(spec: SubjectSpec, cfg: PhantomConfig):
    """The subject's tissue parameters: per-subject population draws or the fixed class table."""
    oedema = spec.disease == "oedema"
    if cfg.population_tissue:
        return subject_tissue_params(spec.field_strength_T, _rng(spec.seed, "tissue"), oedema=oedema)
    return tissue_params(spec.field_strength_T, oedema=oedema)


def texture_fields(spec: SubjectSpec, cfg: PhantomConfig) -> dict[str, tuple]:
    """Per-subject random fields of the textured tissues: name -> (amplitude, field at ED, field at ES).

    Myocardial heterogeneity (12 mm wavelength, static) and blood-pool flow inhomogeneity (30 mm wavelength, varying
    over the cycle); RV and LV myocardium share one field.
    """
    rng = _rng(spec.seed, "texture")
    myo = texture.random_field(rng, 12.0)
    blood0, blood1 = texture.random_field(rng, 30.0), texture.random_field(rng, 30.0)
    return {"myocardium": (cfg.texture_myocardium, myo, myo), "rv_myocardium": (cfg.texture_myocardium, myo, myo),
            "blood": (cfg.texture_blood, blood0, blood1)}


def texture_maps(spec: SubjectSpec, cfg: PhantomConfig, fields: dict, z: float, phase: float,
                 cache: dict | None = None) -> dict[str, np.ndarray]:
    """Bounded PD modulations ``(ny, nx)`` per textured tissue at slice depth ``z`` and cycle ``phase`` in [0, 1).

    Fields are in heart-centred coordinates; the blood field rotates between two independent fields over the
    cycle (``cos`` / ``sin`` mixing keeps unit variance). ``cache`` (a dict kept by the caller) holds the
    evaluated fields per ``z`` so the frames of one slice only re-mix them.
    """
    cache = {} if cache is None else cache
    c, s = np.cos(2 * np.pi * phase), np.sin(2 * np.pi * phase)
    out, done = {}, {}
    for name, (amp, f0, f1) in fields.items():
        key = (id(f0), id(f1), amp)
        if key in done:  # LV and RV myocardium share one field
            out[name] = done[key]
            continue
        if (key, z) not in cache:
            x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
            xh, yh = x - spec.heart.cx, y - spec.heart.cy
            cache[key, z] = (f0(xh, yh, z), None if f0 is f1 else f1(xh, yh, z))
        g0, g1 = cache[key, z]
        done[key] = out[name] = texture.bounded_modulation(g0 if g1 is None else c * g0 + s * g1, amp)
    return out


def _image(sig: np.ndarray, frac: np.ndarray, mods: dict[str, np.ndarray] | None) -> np.ndarray:
    """``sum_tissue frac * signal * modulation``: ``sig (..., n_tissues)``, ``frac (n_tissues, ny, nx)``."""
    img = np.tensordot(sig, frac, axes=1)
    for name, m in (mods or {}).items():
        i = TISSUE_INDEX[name]
        img = img + sig[..., i, None, None] * frac[i] * (m - 1.0)
    return img


def _signals(tp, mod: str, times: np.ndarray, cfg: PhantomConfig) -> np.ndarray:
    """Signal per weighted image and tissue ``(nw, n_tissues)`` for a mapping modality."""
    if mod == "t1map":
        return contrasts.molli(tp.pd, tp.t1, times)
    if mod == "t2map":
        return contrasts.t2prep(tp.pd, tp.t1, tp.t2, times)
    if mod == "t1rhomap":
        return contrasts.t1rho_prep(tp.pd, tp.t1, tp.t1rho, times)
    raise ValueError(f"no signal model for modality {mod!r}")


def mapping_times(spec: SubjectSpec, cfg: PhantomConfig, mod: str) -> np.ndarray:
    """Per-slice timing ``(n_map_slices, nw)`` in ms, as in the challenge's timing files."""
    n = cfg.n_map_slices
    if mod == "t1map":
        rr = 60000.0 / spec.heart_rate_bpm
        return np.stack([contrasts.molli_inversion_times(rr, 100.0 + 12.0 * k, scheme=cfg.molli_scheme)
                         for k in range(n)])
    if mod == "t2map":
        return np.tile(np.asarray(cfg.t2_prep_ms, float), (n, 1))
    return np.tile(np.asarray(cfg.tsl_ms, float), (n, 1))


def _truth_rows(spec: SubjectSpec, cfg: PhantomConfig, cine_labels: np.ndarray,
                param_maps: dict[str, np.ndarray], map_labels: np.ndarray) -> pd.DataFrame:
    """True 11 phenotypes (from the voxelised labels; WT analytic, :mod:`cardiomm.phantom.truth`) and 3 biomarkers
    (the tissue mean over the measurement's ROI, :func:`cardiomm.quantify.mapping.myocardial_roi`). ED is frame 0
    (the phantom's cycle starts at ED) and ES comes from the same rule as the measurement
    (:func:`cardiomm.quantify.phases.ed_es_frames`)."""
    geom = Geometry(cfg.dx, cfg.dy, cfg.thickness, cfg.gap, frame_interval_s(spec.heart_rate_bpm, cfg.nt))
    lv = (cine_labels == LV_BLOOD).sum(axis=(1, 2, 3)) * geom.voxel_ml
    rv = (cine_labels == RV_BLOOD).sum(axis=(1, 2, 3)) * geom.voxel_ml
    _, es, _ = ed_es_frames(lv, "first")
    vals = {"LVEDV": lv[0], "LVESV": lv[es], "RVEDV": rv[0], "RVESV": rv[es]}
    vals["LVSV"] = vals["LVEDV"] - vals["LVESV"]
    vals["RVSV"] = vals["RVEDV"] - vals["RVESV"]
    vals["LVEF"] = 100 * vals["LVSV"] / vals["LVEDV"]
    vals["RVEF"] = 100 * vals["RVSV"] / vals["RVEDV"]
    vals["LVCO"] = vals["LVSV"] * spec.heart_rate_bpm / 1000.0
    vals["LVM"] = (cine_labels[0] == LV_MYO).sum() * geom.voxel_ml * 1.05
    # analytic ED wall thickness, defined as the pipeline measures it (cardiomm.phantom.truth)
    vals["WT"] = wall_thickness_truth(spec.heart, _slice_z(cfg), cine_labels[0])
    rows = [{"subject": spec.subject, "indicator": k, "unit": unit(k), "value": float(vals[k])} for k in PHENOTYPES]
    from cardiomm.quantify.mapping import myocardial_roi

    myo = myocardial_roi(map_labels)  # the measurement's ROI; the truth is the tissue mean over it
    for mod in ("t1map", "t2map", "t1rhomap"):
        bm = MODALITIES[mod].biomarker
        rows.append({"subject": spec.subject, "indicator": bm, "unit": unit(bm),
                     "value": float(param_maps[bm][myo].mean())})
    return pd.DataFrame(rows)


def write_subject(spec: SubjectSpec, cfg: PhantomConfig, root: str | Path) -> dict[str, Path]:
    """Render one subject and write its k-space, timing files and ground truth under ``root``.

    Returns the written paths by name. Deterministic in ``spec.seed``.
    """
    from cardiomm.cohort import Subject

    root = Path(root)
    row = spec.row(cfg)
    subj = Subject(spec.subject, root, spec.split)
    gt_dir = root / "GroundTruth" / spec.subject
    tp = subject_tissues(spec, cfg)
    fields = texture_fields(spec, cfg) if cfg.texture else None
    tex_cache: dict = {}
    geom = Geometry(cfg.dx, cfg.dy, cfg.thickness, cfg.gap, row["frame_interval_s"])
    out: dict[str, Path] = {}

    # --- cine: bSSFP over one cardiac cycle
    z_all = _slice_z(cfg)
    fr = anatomy.cycle_fraction(np.arange(cfg.nt) / cfg.nt, spec.heart.es_phase)
    sig = contrasts.bssfp(tp.pd, tp.t1, tp.t2, cfg.bssfp_flip_deg, cfg.bssfp_tr_ms)
    rng = _rng(spec.seed, "phase")
    phases = [_background_phase(cfg, z, rng) for z in z_all]
    images = np.empty((cfg.nt, cfg.nz, cfg.ny, cfg.nx), np.complex64)
    labels = np.empty((cfg.nt, cfg.nz, cfg.ny, cfg.nx), np.uint8)
    for t in range(cfg.nt):
        for k, z in enumerate(z_all):
            frac, lab, _ = render_slice(spec, cfg, z, float(fr[t]))
            mods = texture_maps(spec, cfg, fields, z, t / cfg.nt, tex_cache) if fields else None
            images[t, k] = _image(sig, frac, mods) * phases[k]
            labels[t, k] = lab
    myo_sig = float(sig[TISSUE_INDEX["myocardium"]])
    ksp = _acquire(images, spec, cfg, z_all, "cine", myo_sig)
    out["cine"] = subj.kspace_path("cine")
    write_kspace(out["cine"], ksp)
    save_image(gt_dir / "cine_label.nii.gz", labels, geom, is_label=True)

    # --- mapping: three slices (base/mid/apex thirds) at end-diastole
    idx = map_slice_indices(cfg)
    z_map = z_all[idx]
    map_geom = Geometry(cfg.dx, cfg.dy, cfg.thickness, row["map_spacing_mm"] - cfg.thickness, 0.0)
    fracs, map_labels, centre_tissue = [], [], []
    for z in z_map:
        fr_, lab, ct = render_slice(spec, cfg, z, 0.0)
        fracs.append(fr_)
        map_labels.append(lab)
        centre_tissue.append(ct)
    map_labels_a = np.stack(map_labels)
    centre = np.stack(centre_tissue)
    param_maps = {"T1": tp.t1[centre], "T2": tp.t2[centre], "T1rho": tp.t1rho[centre]}
    for mod in ("t1map", "t2map", "t1rhomap"):
        times = mapping_times(spec, cfg, mod)
        imgs = np.empty((times.shape[1], len(z_map), cfg.ny, cfg.nx), np.complex64)
        for k in range(len(z_map)):
            s = _signals(tp, mod, times[k], cfg)  # (nw, n_tissues)
            mods = texture_maps(spec, cfg, fields, z_map[k], 0.0) if fields else None
            imgs[:, k] = _image(s, fracs[k], mods) * phases[idx[k]][None]
        ref = float(np.abs(_signals(tp, mod, times[0], cfg)[:, TISSUE_INDEX["myocardium"]]).max())
        ksp = _acquire(imgs, spec, cfg, z_map, mod, ref)
        out[mod] = subj.kspace_path(mod)
        write_kspace(out[mod], ksp)
        write_timing(subj.timing_path(mod), times)
        save_image(gt_dir / f"{mod}_label.nii.gz", map_labels_a[None], map_geom, is_label=True)
    for bm, arr in param_maps.items():
        save_image(gt_dir / f"{bm}_truth.nii.gz", arr[None].astype(np.float32), map_geom)

    truth = _truth_rows(spec, cfg, labels, param_maps, map_labels_a)
    out["truth"] = subj.truth_path()
    write_csv(truth, out["truth"])
    return out


def spec_dict(spec: SubjectSpec) -> dict:
    """A JSON-friendly view of a spec (for provenance)."""
    return asdict(spec)
