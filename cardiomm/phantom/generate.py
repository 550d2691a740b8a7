"""The synthetic cohort: per-subject specifications from one seed, and the files of one subject.

``cohort_specs(cfg)`` is a pure function of the phantom config (so every Snakemake job derives the same
cohort), ``write_subject(spec, cfg, root)`` renders one subject in the CMRxRecon layout of
:mod:`cardiomm.cohort` plus its ground truth.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from cardiomm.atomic import write_csv
from cardiomm.conventions import LV_BLOOD, LV_MYO, MYOCARDIAL_DENSITY_G_PER_ML, PHENOTYPES, RV_BLOOD, SPLITS, unit
from cardiomm.io.cmrxrecon import write_kspace, write_timing
from cardiomm.io.nifti import Geometry, save_image
from cardiomm.phantom import anatomy, coils, contrasts, render, texture
from cardiomm.phantom.tissues import TISSUE_INDEX, subject_tissue_params, tissue_params
from cardiomm.physics.fft import fft2c
from cardiomm.quantify.phases import ed_es_frames
from cardiomm.quantify.wall_thickness import wall_thickness

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
    # how papillary muscles and trabeculation are *labelled* (anatomy.rasterize): myocardium (in the LV mass, out of
    # the cavity) or blood (in the cavity, the UK Biobank convention). Myocardium is the default since issue 30:
    # with "blood" the segmenter cannot tell trabeculae from the compact wall and moves the endocardial border
    # ~1 pixel into the wall, LVESV +1 to +10 mL on the fully sampled reference (benchmarks/results/truth_recovery.md)
    papillary_label: str = anatomy.PAPILLARY_LABELS[0]  # "myocardium"
    texture: bool = True
    texture_myocardium: float = 0.08  # bound of the relative PD modulation (cardiomm.phantom.texture)
    texture_blood: float = 0.15
    population_tissue: bool = True  # per-subject myocardial T1/T2/T1rho (cardiomm.phantom.tissues)
    kspace_render: bool = True  # fine image brought to the grid in k-space (cardiomm.phantom.render), not by box mean
    breath_hold: bool = True  # each slice its own breath-hold position of the heart
    breath_hold_sd_mm: float = 1.5  # SD per axis (x, y, through-plane) of that position
    base_through_plane: bool = True  # atria above the descending base; slab partial volume at the basal plane
    cardiac_fat: bool = True  # epicardial fat, pericardium, pericardial fat (cardiomm.phantom.anatomy.FatSpec)
    b0_field: bool = True  # B0 map (lung susceptibility + shim residual) and bSSFP off-resonance in the cine
    b0_lung_ppm: float = 3.5  # field offset (ppm) between inside the lungs and far from them, after smoothing
    b1_field: bool = True  # relative B1 map acting on the mapping preparations (cardiomm.phantom.contrasts)
    b1_amplitude: float = 0.06  # peak |B1 - 1| at 3 T, scaled linearly with B0
    lesion_territories: bool = True  # infarct and (regional) oedema in a coronary territory (anatomy.CORONARY_...)

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


#: the realism switches of issue 15 set off: the earlier, piecewise-constant phantom (figures and benchmarks)
REALISM_OFF = {"papillary_muscles": False, "texture": False, "population_tissue": False, "kspace_render": False,
               "breath_hold": False, "base_through_plane": False, "cardiac_fat": False, "b0_field": False,
               "b1_field": False, "lesion_territories": False}


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


#: probability of the culprit coronary territory of a lesion (LAD most often)
TERRITORY_WEIGHTS = {"LAD": 0.5, "RCA": 0.3, "LCx": 0.2}


def _lesion_heart(spec: SubjectSpec) -> anatomy.HeartSpec:
    """The heart with its lesion placed in a coronary territory (:data:`anatomy.CORONARY_TERRITORIES`), seeded per
    subject: an infarct sector (its width unchanged) or a regional oedema sector (1.2-2.0 rad), inside the territory.
    ASSUMPTION: territory weights ``TERRITORY_WEIGHTS`` (LAD the most frequent culprit), no dominance variants."""
    if spec.disease not in ("infarct", "oedema"):
        return spec.heart
    rng = _rng(spec.seed, "lesion")
    names = list(TERRITORY_WEIGHTS)
    centre, span = anatomy.CORONARY_TERRITORIES[names[rng.choice(len(names), p=list(TERRITORY_WEIGHTS.values()))]]
    width = spec.heart.infarct_width if spec.disease == "infarct" else float(rng.uniform(1.2, 2.0))
    room = max(0.0, (span - width) / 2)
    angle = float(centre + rng.uniform(-room, room))
    if spec.disease == "infarct":
        return replace(spec.heart, infarct_angle=angle)
    return replace(spec.heart, oedema_angle=angle, oedema_width=width)


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
            if cfg.lesion_territories:  # drawn from the subject's own seed: the other draws stay as they were
                specs[-1] = replace(specs[-1], heart=_lesion_heart(specs[-1]))
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


def breath_hold_offsets(spec: SubjectSpec, cfg: PhantomConfig, n: int, series: str) -> np.ndarray:
    """Per-slice heart displacement ``(n, 3)`` (x, y, through-plane; mm) of the ``n`` breath-holds of a series.

    Each slice of a breath-held SAX stack is acquired in its own breath-hold, and the heart comes back to a
    slightly different position each time (an ASSUMPTION of the order of a few mm: Gaussian, SD
    ``cfg.breath_hold_sd_mm`` per axis, clipped at 3 SD). Seeded per subject and series; zeros when switched off.
    """
    if not cfg.breath_hold:
        return np.zeros((n, 3))
    z = np.clip(_rng(spec.seed, "breath_hold", series).standard_normal((n, 3)), -3, 3)
    return z * cfg.breath_hold_sd_mm


def fat_spec(spec: SubjectSpec, cfg: PhantomConfig) -> anatomy.FatSpec | None:
    """The subject's epicardial / pericardial fat (None: the earlier uniform ring). Thicknesses are an ASSUMPTION
    of representative magnitude (epicardial fat over the RV free wall a few mm, thicker in the grooves)."""
    if not cfg.cardiac_fat:
        return None
    rng = _rng(spec.seed, "fat")
    return anatomy.FatSpec(epi=float(rng.uniform(0.8, 2.0)), groove=float(rng.uniform(2.5, 6.0)),
                           pad=float(rng.uniform(2.0, 9.0)))


@dataclass(frozen=True)
class SliceRaster:
    """One rasterised slice: sub-sampled tissue maps ``(n_planes, NY, NX)`` (through-plane partial volume), the
    labels and centre tissue ``(ny, nx)`` of the slice-centre plane."""

    tissue: np.ndarray
    label: np.ndarray
    centre_tissue: np.ndarray


def _slab_planes(spec: SubjectSpec, cfg: PhantomConfig, z: float, f: float) -> list[float]:
    """Depths sampled across the slab: three (centre first) when the slab contains the basal plane at ``f`` and
    ``base_through_plane`` is on (the base moves through it), else the centre only."""
    if cfg.base_through_plane:
        zb = anatomy.lv_state(spec.heart, f).z_base
        if abs(z - zb) < cfg.thickness / 2:
            return [z, z - cfg.thickness / 3, z + cfg.thickness / 3]
    return [z]


def raster_slice(spec: SubjectSpec, cfg: PhantomConfig, z: float, f: float, offset: np.ndarray | None = None,
                 fat: anatomy.FatSpec | None = None) -> SliceRaster:
    """Rasterise the slice at depth ``z`` (+ the breath-hold ``offset`` (dx, dy, dz)) and contraction ``f``."""
    ss = cfg.supersample
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx, ss)
    h = spec.heart
    if offset is not None and np.any(offset):
        h = replace(h, cx=h.cx + float(offset[0]), cy=h.cy + float(offset[1]))
        z = z + float(offset[2])
    planes, label = [], None
    for k, zp in enumerate(_slab_planes(spec, cfg, z, f)):
        tissue, lab = anatomy.rasterize(h, spec.body, zp, f, x, y, papillary=cfg.papillary_muscles,
                                        papillary_label=cfg.papillary_label,
                                        atria=cfg.base_through_plane, fat=fat)
        planes.append(tissue)
        if k == 0:
            label, centre = anatomy.centre_samples(lab, ss), anatomy.centre_samples(tissue, ss)
    return SliceRaster(np.stack(planes), label, centre)


def slice_image(r: SliceRaster, signals: np.ndarray, cfg: PhantomConfig, pixel_index: np.ndarray) -> np.ndarray:
    """Acquisition-grid image ``(..., ny, nx)`` of a raster with per-pixel tissue signals ``(..., n_tissues, ny, nx)``:
    the fine images of the slab's planes averaged, then :func:`cardiomm.phantom.render.to_grid`."""
    fine = render.signal_image(r.tissue[0], signals, pixel_index)
    if len(r.tissue) > 1:
        for t in r.tissue[1:]:
            fine = fine + render.signal_image(t, signals, pixel_index)
        fine = fine / len(r.tissue)
    return render.to_grid(fine, cfg.supersample, cfg.kspace_render)


def _background_phase(cfg: PhantomConfig, z: float, rng: np.random.Generator) -> np.ndarray:
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    a, b, c = rng.normal(0, 0.004, 3)
    return np.exp(1j * (a * x + b * y + c * z + 0.5 * np.exp(-(x**2 + y**2) / 80.0**2)))


GAMMA_MHZ_PER_T = 42.577
#: smoothing (mm) of the air/lung indicator that stands in for the susceptibility field of the lungs
B0_SMOOTH_MM = 10.0


def b0_map_hz(spec: SubjectSpec, cfg: PhantomConfig, centre_tissue: np.ndarray, z: float) -> np.ndarray:
    """Off-resonance ``(ny, nx)`` in Hz of a cine slice: lung/air susceptibility + a per-subject linear shim residual.

    The susceptibility term is ``b0_lung_ppm`` times the air/lung indicator smoothed over ``B0_SMOOTH_MM`` (a
    phenomenological stand-in for the dipole field: the offset rises towards the lungs and falls off over about a
    centimetre into tissue); the shim residual has a gradient of SD 0.1 ppm per 100 mm per axis. The centre
    frequency is set on the heart (the mean offset within 40 mm of the LV centre is zero). Scales with B0 (ppm).
    """
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    air = np.isin(centre_tissue, (TISSUE_INDEX["lung"], TISSUE_INDEX["air"])).astype(float)
    chi = ndimage.gaussian_filter(air, (B0_SMOOTH_MM / cfg.dy, B0_SMOOTH_MM / cfg.dx), mode="nearest")
    g = _rng(spec.seed, "b0").normal(0, 0.1, 3) / 100.0
    ppm = cfg.b0_lung_ppm * chi + g[0] * x + g[1] * y + g[2] * z
    heart = np.hypot(x - spec.heart.cx, y - spec.heart.cy) < 40
    ppm -= ppm[heart].mean()
    return ppm * GAMMA_MHZ_PER_T * spec.field_strength_T


def b1_map(spec: SubjectSpec, cfg: PhantomConfig, z: float) -> np.ndarray:
    """Relative B1 (flip-angle scale) ``(ny, nx)`` on a mapping slice: ``1 + A tanh(g)``, ``g`` a smooth random
    field (wavelength about 250 mm), ``A = b1_amplitude * B0 / 3 T`` (transmit inhomogeneity grows with field)."""
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    g = texture.random_field(_rng(spec.seed, "b1"), 250.0, n_modes=8)
    return 1.0 + cfg.b1_amplitude * spec.field_strength_T / 3.0 * np.tanh(g(x, y, z))
def _acquire(images: np.ndarray, spec: SubjectSpec, cfg: PhantomConfig, z: np.ndarray, tag: str,
             signal_ref: float, rescan: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Multi-coil k-space of complex images ``(nt, nz, ny, nx)``: coils, noise at the target SNR, compression.

    With ``rescan``, also a second acquisition of the same object with the same coils and compression and an
    independent noise draw of the same covariance, from its own stream (``_rng(seed, tag, "repeat")``), so the first
    k-space is bit-identical with or without it: returns ``(kspace, rescan_kspace)``.

    ``signal_ref`` is the reference image magnitude (myocardium) that defines SNR = signal / noise std in
    the coil-combined image. The raw coils' noise has covariance ``sigma^2 Psi``; SVD compression to
    ``cfg.coils`` virtual coils uses the expected data covariance (signal + noise), and the compressed noise is
    drawn with its exact covariance ``sigma^2 A Psi A^H`` -- the same distribution as compressing noisy raw
    data, at a fraction of the cost and memory. The signal covariance is computed in image space (Parseval) and
    only the virtual coils are Fourier transformed (``A F(s m) = F((A s) m)``).
    """
    import torch

    rng = _rng(spec.seed, tag)
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    pos = coils.coil_positions(spec.n_coils_raw, spec.body.ax, spec.body.ay, 80.0, rng)
    nt, nz = images.shape[:2]
    C = spec.n_coils_raw
    smaps_all, smap_rss_heart = [], []
    cov = np.zeros((C, C), np.complex128)
    heart = np.hypot(x - spec.heart.cx, y - spec.heart.cy) < 40
    for k in range(nz):
        smaps = coils.sensitivities(pos, x, y, float(z[k] - 40.0), d0=110.0, rng=rng)
        smap_rss_heart.append(np.sqrt((np.abs(smaps) ** 2).sum(0))[heart].mean())
        # the raw coils' data covariance, by Parseval (orthonormal FFT) in image space without the raw k-space:
        # sum over frames and pixels of (s m)(s m)^H = sum_p (sum_t |m_t(p)|^2) s(p) s(p)^H
        w = (np.abs(images[:, k]) ** 2).sum(0).reshape(-1)
        sf = smaps.reshape(C, -1).astype(np.complex128)
        cov += (sf * w) @ sf.conj().T
        smaps_all.append(smaps)
    sigma = signal_ref * float(np.mean(smap_rss_heart)) / cfg.snr
    psi = coils.noise_covariance(C, cfg.noise_correlation, rng)
    n_samples = nt * nz * cfg.ny * cfg.nx
    A = coils.compression_matrix(cov + n_samples * sigma**2 * psi, cfg.coils)
    # compression commutes with the FFT: FFT the virtual coils' images only (A s m), not the raw coils
    out = np.empty((nt, nz, A.shape[0], cfg.ny, cfg.nx), np.complex64)
    for k in range(nz):
        vmaps = np.einsum("vc,cyx->vyx", A, smaps_all[k])
        out[:, k] = fft2c(torch.from_numpy(vmaps[None] * images[:, k, None].astype(np.complex64))).numpy()
    cov_v = sigma**2 * (A @ psi @ A.conj().T)
    again = out.copy() if rescan else None  # the noiseless virtual-coil k-space, acquired a second time below
    for k in range(nz):
        out[:, k] += coils.correlated_noise(out[:, k].shape, cov_v, rng)
    if again is None:
        return out
    rng_again = _rng(spec.seed, tag, "repeat")
    for k in range(nz):
        again[:, k] += coils.correlated_noise(again[:, k].shape, cov_v, rng_again)
    return out, again


def subject_tissues(spec: SubjectSpec, cfg: PhantomConfig):
    """The subject's tissue parameters: per-subject population draws or the fixed class table."""
    oedema, regional = spec.disease == "oedema", cfg.lesion_territories
    if cfg.population_tissue:
        return subject_tissue_params(spec.field_strength_T, _rng(spec.seed, "tissue"), oedema=oedema,
                                     regional=regional)
    return tissue_params(spec.field_strength_T, oedema=oedema, regional=regional)


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


def _with_texture(signals: np.ndarray, mods: dict[str, np.ndarray] | None, ny: int, nx: int) -> np.ndarray:
    """Per-pixel tissue signals ``(..., n_tissues, ny, nx)`` from per-tissue ``(..., n_tissues)`` or per-pixel
    signals, the textured tissues multiplied by their PD modulation ``(ny, nx)``."""
    if signals.ndim < 3 or signals.shape[-2:] != (ny, nx):
        signals = signals[..., None, None] * np.ones((ny, nx), np.float32)
    else:
        signals = signals.copy()
    for name, m in (mods or {}).items():
        signals[..., TISSUE_INDEX[name], :, :] *= m
    return signals


def _signals(tp, mod: str, times: np.ndarray, cfg: PhantomConfig, b1: np.ndarray | None = None) -> np.ndarray:
    """Signal per weighted image and tissue of a mapping modality: ``(nw, n_tissues)``, or per pixel
    ``(nw, n_tissues, ny, nx)`` with a relative B1 map ``b1 (ny, nx)``.

    B1 scales the flip angles: the MOLLI readout's Look-Locker rate (``1/tau_LL ~ flip^2``; the three-parameter
    correction stays exact in this model, so the apparent T1 is unbiased) and the tip-down / tip-up pulses of the T2
    and spin-lock preparations, which leave a non-decaying fraction (:func:`cardiomm.phantom.contrasts.prepared_decay`;
    the apparent T2 / T1rho are then longer than the tissue's).
    """
    if b1 is None:
        if mod == "t1map":
            return contrasts.molli(tp.pd, tp.t1, times)
        if mod == "t2map":
            return contrasts.t2prep(tp.pd, tp.t1, tp.t2, times)
        if mod == "t1rhomap":
            return contrasts.t1rho_prep(tp.pd, tp.t1, tp.t1rho, times)
        raise ValueError(f"no signal model for modality {mod!r}")
    pd, t1 = tp.pd[:, None, None], tp.t1[:, None, None]
    if mod == "t1map":
        t1s = 1.0 / (1.0 / t1 + b1[None] ** 2 / 5000.0)
        a = pd * t1s / t1
        return a[None] - (a + pd)[None] * np.exp(-np.asarray(times, float)[:, None, None, None] / t1s[None])
    if mod in ("t2map", "t1rhomap"):
        t = (tp.t2 if mod == "t2map" else tp.t1rho)[:, None, None]
        return (pd * (1 - np.exp(-3000.0 / t1)))[None] * contrasts.prepared_decay(times, t, b1[None])
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


def cine_heart_depths(spec: SubjectSpec, cfg: PhantomConfig) -> np.ndarray:
    """``(nz,)`` depth in the heart (mm from the ED basal plane) of each cine slice centre, its breath-hold's
    through-plane shift included: where each slice cuts the analytic heart."""
    return _slice_z(cfg) + breath_hold_offsets(spec, cfg, cfg.nz, "cine")[:, 2]


def _truth_rows(spec: SubjectSpec, cfg: PhantomConfig, cine_labels: np.ndarray) -> pd.DataFrame:
    """True 11 phenotypes, every one from the voxelised true labels, as the pipeline measures them: volumes and LVM
    by counting voxels, WT by the measurement's own code (:func:`cardiomm.quantify.wall_thickness.wall_thickness`,
    UK Biobank's method) on the true ED labels. ED is frame 0 (the phantom's cycle starts at ED) and ES comes from
    the same rule as the measurement (:func:`cardiomm.quantify.phases.ed_es_frames`).

    WT was the analytic heart's thickness (:func:`cardiomm.phantom.truth.wall_thickness_truth`) until issue 30: with
    papillary muscles and trabeculae labelled myocardium (the default ``papillary_label``) the measured wall includes
    them where they touch it, and the analytic compact wall does not, so a perfect segmentation read +0.5 mm "too
    thick". The analytic value stays as the check of the measurement code under ``papillary_label: blood``
    (tests/test_truth_recovery.py, with :func:`cine_heart_depths`).

    The biomarkers' truth is not here: it is the true parameter maps (``GroundTruth/<subject>/<T1|T2|T1rho>_truth``)
    summarised by the measurement's own ROI code on the true labels, in the quantify stage
    (:func:`cardiomm.quantify.measure.truth_rows`), so that it follows any change of the ROI definition."""
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
    vals["LVM"] = (cine_labels[0] == LV_MYO).sum() * geom.voxel_ml * MYOCARDIAL_DENSITY_G_PER_ML
    vals["WT"] = wall_thickness(cine_labels[0], geom)[0]
    rows = [{"subject": spec.subject, "indicator": k, "unit": unit(k), "value": float(vals[k])} for k in PHENOTYPES]
    return pd.DataFrame(rows)


def _write_acquisitions(ksp: np.ndarray | tuple[np.ndarray, np.ndarray], subj, mod: str, out: dict) -> None:
    """Write a series' k-space (and, given a pair from :func:`_acquire`, its repeated acquisition)."""
    first, again = ksp if isinstance(ksp, tuple) else (ksp, None)
    out[mod] = subj.kspace_path(mod)
    write_kspace(out[mod], first)
    if again is not None:
        out[f"{mod}_rescan"] = subj.rescan_path(mod)
        write_kspace(out[f"{mod}_rescan"], again)


def write_subject(spec: SubjectSpec, cfg: PhantomConfig, root: str | Path, rescan: bool = False) -> dict[str, Path]:
    """Render one subject and write its k-space, timing files and ground truth under ``root``.

    With ``rescan``, every series is acquired a second time (same object, coils and SNR, independent noise;
    :func:`_acquire`) and written to :meth:`cardiomm.cohort.Subject.rescan_path` (the null control ``rescan``;
    the first k-space is bit-identical either way). Returns the written paths by name (``"<modality>_rescan"``
    for the second acquisitions). Deterministic in ``spec.seed``.
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

    # --- cine: bSSFP over one cardiac cycle, one breath-hold per slice
    z_all = _slice_z(cfg)
    fr = anatomy.cycle_fraction(np.arange(cfg.nt) / cfg.nt, spec.heart.es_phase)
    sig = contrasts.bssfp(tp.pd, tp.t1, tp.t2, cfg.bssfp_flip_deg, cfg.bssfp_tr_ms)
    rng = _rng(spec.seed, "phase")
    phases = [_background_phase(cfg, z, rng) for z in z_all]
    fat = fat_spec(spec, cfg)
    pix = render.fine_to_coarse_index(cfg.ny, cfg.nx, cfg.supersample)
    off_cine = breath_hold_offsets(spec, cfg, cfg.nz, "cine")
    images = np.empty((cfg.nt, cfg.nz, cfg.ny, cfg.nx), np.complex64)
    labels = np.empty((cfg.nt, cfg.nz, cfg.ny, cfg.nx), np.uint8)
    for k, z in enumerate(z_all):
        sig_k = sig
        for t in range(cfg.nt):
            r = raster_slice(spec, cfg, z, float(fr[t]), off_cine[k], fat)
            if t == 0 and cfg.b0_field:  # static field of the (static) lungs of this slice
                df = b0_map_hz(spec, cfg, r.centre_tissue, z)
                sig_k = np.moveaxis(contrasts.bssfp_offres(tp.pd, tp.t1, tp.t2, cfg.bssfp_flip_deg, cfg.bssfp_tr_ms,
                                                           df[..., None]), -1, 0).astype(np.complex64)
            mods = texture_maps(spec, cfg, fields, z, t / cfg.nt, tex_cache) if fields else None
            images[t, k] = slice_image(r, _with_texture(sig_k, mods, cfg.ny, cfg.nx), cfg, pix) * phases[k]
            labels[t, k] = r.label
    myo_sig = float(sig[TISSUE_INDEX["myocardium"]])
    _write_acquisitions(_acquire(images, spec, cfg, z_all, "cine", myo_sig, rescan), subj, "cine", out)
    save_image(gt_dir / "cine_label.nii.gz", labels, geom, is_label=True)

    # --- mapping: three slices (base/mid/apex thirds) at end-diastole, each in its own breath-hold
    idx = map_slice_indices(cfg)
    z_map = z_all[idx]
    off_map = breath_hold_offsets(spec, cfg, len(z_map), "mapping")
    map_geom = Geometry(cfg.dx, cfg.dy, cfg.thickness, row["map_spacing_mm"] - cfg.thickness, 0.0)
    rasters = [raster_slice(spec, cfg, z, 0.0, off_map[k], fat) for k, z in enumerate(z_map)]
    map_labels_a = np.stack([r.label for r in rasters])
    centre = np.stack([r.centre_tissue for r in rasters])
    # the truth is the tissue's value, whatever B1 makes the acquisition read
    param_maps = {"T1": tp.t1[centre], "T2": tp.t2[centre], "T1rho": tp.t1rho[centre]}
    b1 = [b1_map(spec, cfg, z) if cfg.b1_field else None for z in z_map]
    for mod in ("t1map", "t2map", "t1rhomap"):
        times = mapping_times(spec, cfg, mod)
        imgs = np.empty((times.shape[1], len(z_map), cfg.ny, cfg.nx), np.complex64)
        for k in range(len(z_map)):
            s = _signals(tp, mod, times[k], cfg, b1[k])  # (nw, n_tissues[, ny, nx])
            mods = texture_maps(spec, cfg, fields, z_map[k], 0.0) if fields else None
            sk = _with_texture(s, mods, cfg.ny, cfg.nx)
            imgs[:, k] = slice_image(rasters[k], sk, cfg, pix) * phases[idx[k]][None]
        ref = float(np.abs(_signals(tp, mod, times[0], cfg)[:, TISSUE_INDEX["myocardium"]]).max())
        _write_acquisitions(_acquire(imgs, spec, cfg, z_map, mod, ref, rescan), subj, mod, out)
        write_timing(subj.timing_path(mod), times)
        save_image(gt_dir / f"{mod}_label.nii.gz", map_labels_a[None], map_geom, is_label=True)
    for bm, arr in param_maps.items():
        save_image(subj.truth_map_path(bm), arr[None].astype(np.float32), map_geom)

    truth = _truth_rows(spec, cfg, labels)
    out["truth"] = subj.truth_path()
    write_csv(truth, out["truth"])
    return out


def spec_dict(spec: SubjectSpec) -> dict:
    """A JSON-friendly view of a spec (for provenance)."""
    return asdict(spec)
