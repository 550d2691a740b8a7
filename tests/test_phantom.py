"""The numerical beating-heart phantom: determinism, geometry, physiology, signal equations, coils."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cardiomm.cohort import Subject, load_cohort
from cardiomm.conventions import LV_BLOOD, LV_MYO, PHENOTYPES, RV_BLOOD
from cardiomm.io.cmrxrecon import read_kspace, read_timing
from cardiomm.io.nifti import load_image
from cardiomm.phantom import anatomy, coils, contrasts
from cardiomm.phantom.generate import PhantomConfig, cohort_specs, write_subject
from cardiomm.phantom.tissues import TISSUE_INDEX, tissue_params
from cardiomm.physics.coils import normalize_smaps, rss

SMALL = PhantomConfig(nx=64, ny=56, dx=4.5, dy=4.5, nt=6, nz=5, thickness=8.0, gap=12.0, supersample=3,
                      coils_raw=(8,), coils=6, counts={"train": 1, "val": 0, "test": 2, "external": 1}, seed=3)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    specs = cohort_specs(SMALL)
    from cardiomm.cohort import write_subjects_csv

    write_subjects_csv(root / "subjects.csv", [s.row(SMALL) for s in specs])
    for s in specs[1:3]:
        write_subject(s, SMALL, root)
    return root, specs


def test_specs_are_deterministic_and_seeded():
    a, b = cohort_specs(SMALL), cohort_specs(SMALL)
    assert a == b
    c = cohort_specs(PhantomConfig(**{**SMALL.__dict__, "seed": 4}))
    assert [s.heart for s in a] != [s.heart for s in c]
    assert [s.split for s in a] == ["train", "test", "test", "external"]
    assert {s.field_strength_T for s in a if s.split == "external"} <= {0.55, 5.0}


def test_subject_files_are_deterministic(tmp_path):
    spec = cohort_specs(SMALL)[1]
    write_subject(spec, SMALL, tmp_path / "a")
    write_subject(spec, SMALL, tmp_path / "b")
    sa = Subject(spec.subject, tmp_path / "a", spec.split)
    sb = Subject(spec.subject, tmp_path / "b", spec.split)
    for mod in ("cine", "t1map"):
        np.testing.assert_array_equal(read_kspace(sa.kspace_path(mod)), read_kspace(sb.kspace_path(mod)))


def test_layout_shapes_and_cohort_table(cohort):
    root, specs = cohort
    subjects = load_cohort(root)
    assert [s.id for s in subjects] == [s.subject for s in specs]
    s = subjects[1]
    k = read_kspace(s.kspace_path("cine"))
    assert k.shape == (SMALL.nt, SMALL.nz, SMALL.coils, SMALL.ny, SMALL.nx)
    for mod, nw in (("t1map", 8), ("t2map", 3), ("t1rhomap", 5)):
        km = read_kspace(s.kspace_path(mod))
        assert km.shape == (nw, SMALL.n_map_slices, SMALL.coils, SMALL.ny, SMALL.nx)
        assert read_timing(s.timing_path(mod), nz=SMALL.n_map_slices, nt=nw).shape == (SMALL.n_map_slices, nw)
    lab, g = load_image(s.label_path("cine"))
    assert lab.shape == (SMALL.nt, SMALL.nz, SMALL.ny, SMALL.nx)
    assert g.spacing == pytest.approx(SMALL.thickness + SMALL.gap)
    assert g.dt == pytest.approx(s.geometry.dt, rel=1e-4)


def test_truth_table_has_every_indicator(cohort):
    root, specs = cohort
    t = pd.read_csv(root / "GroundTruth" / specs[1].subject / "truth.csv")
    assert list(t["indicator"]) == list(PHENOTYPES)  # the biomarkers' truth: the maps, on the measurement's ROIs
    assert t["value"].notna().all()
    for bm in ("T1", "T2", "T1rho"):
        assert Subject(specs[1].subject, root, "test").truth_map_path(bm).exists()
    v = dict(zip(t["indicator"], t["value"]))
    assert v["LVSV"] == pytest.approx(v["LVEDV"] - v["LVESV"])
    assert v["LVEF"] == pytest.approx(100 * v["LVSV"] / v["LVEDV"])
    assert 20 < v["LVEF"] < 80 and 20 < v["RVEF"] < 85
    assert 3 < v["WT"] < 20


def test_label_volumes_match_analytic_geometry():
    """Voxelised cavity volumes (disc summation) equal the analytic sections' areas x spacing within 2%."""
    cfg = PhantomConfig(nx=128, ny=112, dx=2.25, dy=2.25, nt=6, nz=9)
    spec = cohort_specs(cfg)[0]
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    zs = 3.0 + (cfg.thickness + cfg.gap) * np.arange(cfg.nz)
    for f in (0.0, 1.0):
        n_lv, area = 0, 0.0
        for z in zs:
            _, lab = anatomy.rasterize(spec.heart, spec.body, z, f, x, y)
            n_lv += int((lab == LV_BLOOD).sum())
            r_endo, _, _, _ = anatomy.slice_radii(spec.heart, z, f)
            area += np.pi * r_endo**2
        vox = n_lv * cfg.dx * cfg.dy
        assert vox == pytest.approx(area, rel=0.02)


def test_myocardial_volume_is_conserved_over_the_cycle():
    h = cohort_specs(PhantomConfig())[0].heart
    vols = []
    for f in np.linspace(0, 1, 5):
        s = anatomy.lv_state(h, f)
        vols.append(s.r_epi**2 * s.l_epi - s.r_endo**2 * s.l_endo)
    np.testing.assert_allclose(vols, vols[0], rtol=1e-10)
    s0, s1 = anatomy.lv_state(h, 0), anatomy.lv_state(h, 1)
    assert s1.r_endo**2 * s1.l_endo == pytest.approx((1 - h.ef) * s0.r_endo**2 * s0.l_endo)
    assert (s1.r_epi - s1.r_endo) > (s0.r_epi - s0.r_endo)  # wall thickening


def test_cycle_fraction_has_ed_at_zero_and_es_at_es_phase():
    f = anatomy.cycle_fraction(np.array([0.0, 0.35, 0.999999]), 0.35)
    np.testing.assert_allclose(f, [0.0, 1.0, 0.0], atol=1e-6)


def test_labels_are_anatomically_consistent(cohort):
    root, specs = cohort
    lab, _ = load_image(root / "GroundTruth" / specs[1].subject / "cine_label.nii.gz")
    mid = lab[0, SMALL.nz // 2]
    assert (mid == LV_BLOOD).any() and (mid == LV_MYO).any() and (mid == RV_BLOOD).any()
    lv = (lab == LV_BLOOD).sum(axis=(1, 2, 3))
    assert lv[0] == lv.max() or lv[0] >= 0.95 * lv.max()  # ED = frame 0 (largest cavity)


def test_signal_equations_closed_forms():
    tp = tissue_params(1.5)
    # bSSFP at 90 deg with T1 = T2: S = PD (1 - E) / (1 + E) * ... reduces to PD/2 * sqrt(E2) when E1=E2 -> 0 TR
    s = contrasts.bssfp(np.array([1.0]), np.array([1000.0]), np.array([1000.0]), 90.0, 1e-6)
    assert s[0] == pytest.approx(0.5, rel=1e-4)
    # MOLLI: the Look-Locker correction is exact by construction
    ti = np.array([100.0, 900.0, 1700.0])
    sig = contrasts.molli(tp.pd, tp.t1, ti)
    t1s = contrasts.molli_apparent(tp.t1, 5000.0)
    a = tp.pd * t1s / tp.t1
    b = a + tp.pd
    has = tp.pd > 0  # air has no signal
    np.testing.assert_allclose(t1s[has] * (b[has] / a[has] - 1), tp.t1[has])
    np.testing.assert_allclose(sig[0], a - b * np.exp(-100.0 / t1s))
    # T2 prep and T1rho: mono-exponential decay in the prep time
    e = contrasts.t2prep(tp.pd, tp.t1, tp.t2, np.array([0.0, 50.0]))
    np.testing.assert_allclose(e[1][has] / e[0][has], np.exp(-50.0 / tp.t2[has]))
    r = contrasts.t1rho_prep(tp.pd, tp.t1, tp.t1rho, np.array([0.0, 30.0]))
    np.testing.assert_allclose(r[1][has] / r[0][has], np.exp(-30.0 / tp.t1rho[has]))
    assert tissue_params(3.0).t1[TISSUE_INDEX["myocardium"]] > tp.t1[TISSUE_INDEX["myocardium"]]
    assert tissue_params(1.5, oedema=True).t2[TISSUE_INDEX["myocardium"]] > tp.t2[TISSUE_INDEX["myocardium"]]


def test_molli_inversion_times_scheme():
    ti = contrasts.molli_inversion_times(1000.0, 100.0, 80.0, (5, 3, 3))
    np.testing.assert_allclose(ti, [100, 180, 1100, 1180, 2100, 2180, 3100, 4100])


def test_coil_maps_smooth_normalised_and_compression_keeps_energy():
    rng = np.random.default_rng(0)
    x, y = anatomy.pixel_grid(48, 56, 5.0, 5.0)
    pos = coils.coil_positions(12, 130, 95, 80, rng)
    s = coils.sensitivities(pos, x, y, 0.0, 110.0, rng)
    assert s.shape == (12, 48, 56)
    n = normalize_smaps(torch.from_numpy(s))
    np.testing.assert_allclose(rss(n).numpy(), 1.0, rtol=1e-4)
    img = rng.standard_normal((48, 56)).astype(np.complex64)
    k = np.fft.fft2(s * img)[None, None]
    kc = coils.compress(k, 6)
    assert kc.shape == (1, 1, 6, 48, 56)
    assert np.linalg.norm(kc) ** 2 == pytest.approx(np.linalg.norm(k) ** 2, rel=0.05)  # top modes hold the energy
    cov = coils.noise_covariance(12, 0.3, rng)
    np.testing.assert_allclose(cov, cov.conj().T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    w = coils.correlated_noise((4000, 12, 1, 1), cov, rng)[..., 0, 0]
    emp = (w.T @ w.conj()) / w.shape[0]
    np.testing.assert_allclose(emp, cov, atol=0.08)


def test_papillary_muscles_are_myocardial_tissue_labelled_by_the_chosen_convention():
    spec = cohort_specs(PhantomConfig())[0]
    x, y = anatomy.pixel_grid(112, 128, 2.25, 2.25)
    z = 0.5 * spec.heart.length
    t_old, l_old = anatomy.rasterize(spec.heart, spec.body, z, 0.0, x, y)
    t_blood, l_blood = anatomy.rasterize(spec.heart, spec.body, z, 0.0, x, y, papillary=True, papillary_label="blood")
    t_myo, l_myo = anatomy.rasterize(spec.heart, spec.body, z, 0.0, x, y, papillary=True,
                                     papillary_label="myocardium")
    np.testing.assert_array_equal(t_blood, t_myo)  # the convention changes labels, never the image
    pm = (t_blood == TISSUE_INDEX["myocardium"]) & (t_old == TISSUE_INDEX["blood"])
    assert pm.sum() > 5
    np.testing.assert_array_equal(l_blood, l_old)  # UK Biobank convention: labels unchanged, in the blood pool
    assert np.all(l_blood[pm] == LV_BLOOD)
    assert np.all(l_myo[pm] == LV_MYO)  # the default: in the LV mass
    np.testing.assert_array_equal(l_myo[~pm], l_old[~pm])
    assert PhantomConfig().papillary_label == "myocardium"
    with pytest.raises(ValueError, match="papillary_label"):
        anatomy.rasterize(spec.heart, spec.body, z, 0.0, x, y, papillary=True, papillary_label="mass")


def test_texture_is_bounded_smooth_and_seeded():
    from cardiomm.phantom import texture

    f = texture.random_field(np.random.default_rng(1), 12.0)
    x, y = anatomy.pixel_grid(112, 128, 2.25, 2.25)
    m = texture.bounded_modulation(f(x, y, 10.0), 0.08)
    assert np.abs(m - 1).max() < 0.08
    assert 0.02 < m.std() < 0.07 and abs(m.mean() - 1) < 0.02
    # smooth: neighbouring pixels (2.25 mm, well below the 12 mm wavelength) are strongly correlated
    assert np.corrcoef(m[:, :-1].ravel(), m[:, 1:].ravel())[0, 1] > 0.7
    g = texture.random_field(np.random.default_rng(1), 12.0)
    np.testing.assert_array_equal(f(x, y, 10.0), g(x, y, 10.0))
    with pytest.raises(ValueError, match="amplitude"):
        texture.bounded_modulation(m, 1.5)


def test_population_tissue_varies_between_subjects_and_is_seeded():
    from cardiomm.phantom.generate import subject_tissues

    cfg = PhantomConfig(counts={"train": 30, "val": 0, "test": 0, "external": 0})
    specs = [s for s in cohort_specs(cfg) if s.field_strength_T == 1.5 and s.disease != "oedema"]
    i = TISSUE_INDEX["myocardium"]
    t1 = np.array([subject_tissues(s, cfg).t1[i] for s in specs])
    assert t1.std() > 5.0 and abs(t1.mean() - tissue_params(1.5).t1[i]) < 30
    assert np.all(np.abs(t1 / tissue_params(1.5).t1[i] - 1) <= 3 * 0.025 + 1e-12)
    np.testing.assert_array_equal(t1, [subject_tissues(s, cfg).t1[i] for s in specs])
    off = PhantomConfig(population_tissue=False)
    assert {subject_tissues(s, off).t1[i] for s in specs} == {tissue_params(1.5).t1[i]}


def test_truth_biomarkers_are_the_per_subject_values(cohort):
    from cardiomm.phantom.generate import subject_tissues
    from cardiomm.quantify.measure import truth_rows

    root, specs = cohort
    s = specs[1]
    subj = Subject(s.subject, root, "test")
    labels, geom = load_image(subj.label_path("t2map"))
    t = pd.DataFrame(truth_rows(s.subject, "test", "T2", load_image(subj.truth_map_path("T2"))[0], labels, geom))
    tp = subject_tissues(s, SMALL)
    if s.disease not in ("infarct", "oedema"):  # without a lesion the eroded myocardium is one tissue class
        values = t.set_index("roi")["value"]
        assert np.isfinite(values["global"])  # 4.5 mm pixels: most AHA segments and the consensus ROI are empty
        np.testing.assert_allclose(values.dropna(), tp.t2[TISSUE_INDEX["myocardium"]], rtol=1e-6)


# --------------------------------------------------------------------------------- realism, second part (issue 15)


def test_kspace_render_is_aligned_band_limited_and_not_a_pixel_model():
    from cardiomm.phantom import render
    from cardiomm.phantom.generate import fat_spec, raster_slice

    # a band-limited object comes back exactly at the pixel centres (grid alignment of the crop, odd and even ss)
    for ny, nx, ss in ((56, 64, 3), (57, 63, 3), (56, 64, 4)):
        xf, yf = anatomy.pixel_grid(ny, nx, 4.5, 4.5, ss)
        xc, yc = anatomy.pixel_grid(ny, nx, 4.5, 4.5)
        g = lambda x, y: np.exp(-((x - 7) ** 2 + (y + 5) ** 2) / (2 * 15.0**2))  # noqa: E731
        np.testing.assert_allclose(render.kspace_crop(g(xf, yf), ss), g(xc, yc), atol=1e-6)
    # on the phantom: same mean intensity as the box (partial-volume) mean, but not the same pixel image
    cfg = PhantomConfig()
    spec = cohort_specs(cfg)[0]
    r = raster_slice(spec, cfg, 40.0, 0.0, fat=fat_spec(spec, cfg))
    fine = render.signal_image(r.tissue[0], tissue_params(1.5).pd[:, None, None] * np.ones((cfg.ny, cfg.nx)),
                               render.fine_to_coarse_index(cfg.ny, cfg.nx, cfg.supersample))
    k, box = render.kspace_crop(fine, cfg.supersample), render.block_mean(fine, cfg.supersample)
    assert k.mean() == pytest.approx(box.mean(), rel=1e-4)
    assert np.abs(k - box).max() > 0.05 * np.abs(box).max()  # edges ring: no exact pixel model


def test_breath_hold_offsets_are_seeded_per_slice_and_labels_follow_them():
    from cardiomm.phantom.generate import breath_hold_offsets, raster_slice

    cfg = PhantomConfig()
    spec = cohort_specs(cfg)[0]
    off = breath_hold_offsets(spec, cfg, cfg.nz, "cine")
    np.testing.assert_array_equal(off, breath_hold_offsets(spec, cfg, cfg.nz, "cine"))
    assert off.shape == (cfg.nz, 3) and len({tuple(o) for o in off}) == cfg.nz
    assert np.abs(off).max() <= 3 * cfg.breath_hold_sd_mm and off.std() > 0.3 * cfg.breath_hold_sd_mm
    assert not np.allclose(off, breath_hold_offsets(spec, cfg, cfg.nz, "mapping")[:1])
    assert not breath_hold_offsets(spec, PhantomConfig(breath_hold=False), cfg.nz, "cine").any()
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    shift = np.array([4.5, -2.25, 0.0])
    a, b = raster_slice(spec, cfg, 40.0, 0.0), raster_slice(spec, cfg, 40.0, 0.0, shift)
    for lab in (LV_BLOOD, LV_MYO):
        ca = np.array([x[a.label == lab].mean(), y[a.label == lab].mean()])
        cb = np.array([x[b.label == lab].mean(), y[b.label == lab].mean()])
        np.testing.assert_allclose(cb - ca, shift[:2], atol=0.3)


def test_base_descends_through_the_basal_slice_into_the_atria():
    from cardiomm.phantom.generate import _slab_planes, _slice_z, raster_slice

    cfg = PhantomConfig()
    spec = cohort_specs(cfg)[0]
    z0 = float(_slice_z(cfg)[0])
    ed, es = raster_slice(spec, cfg, z0, 0.0), raster_slice(spec, cfg, z0, 1.0)
    assert len(ed.tissue) == 3 and len(_slab_planes(spec, cfg, float(_slice_z(cfg)[4]), 1.0)) == 1
    assert (ed.label == LV_BLOOD).any() and not (es.label == LV_BLOOD).any()  # the base has passed the slice
    blood = TISSUE_INDEX["blood"]
    atrial = (es.centre_tissue == blood) & (es.label == 0)
    assert atrial.sum() > 200  # atrial blood, labelled background as the SAX contours exclude it
    # through-plane partial volume: some sub-planes of the ES basal slab still cut the ventricles
    off = raster_slice(spec, PhantomConfig(base_through_plane=False), z0, 1.0)
    assert len(off.tissue) == 1 and not ((off.centre_tissue == blood) & (off.label == 0)).sum() > 200
    np.testing.assert_array_equal(off.label, es.label)


def test_epicardial_fat_and_pericardium_surround_the_heart_without_changing_labels():
    from cardiomm.phantom.generate import fat_spec, raster_slice

    cfg = PhantomConfig()
    spec = cohort_specs(cfg)[0]
    fat = fat_spec(spec, cfg)
    assert fat == fat_spec(spec, cfg) and fat_spec(spec, PhantomConfig(cardiac_fat=False)) is None
    with_fat, without = raster_slice(spec, cfg, 40.0, 0.0, fat=fat), raster_slice(spec, cfg, 40.0, 0.0)
    np.testing.assert_array_equal(with_fat.label, without.label)
    t = with_fat.centre_tissue
    for name in ("epicardial_fat", "pericardium", "pericardial_fat"):
        assert (t == TISSUE_INDEX[name]).sum() > 10, name
    assert not np.isin(without.centre_tissue, [TISSUE_INDEX[n] for n in ("epicardial_fat", "pericardium")]).any()
    # thicker in the interventricular grooves than over the lateral wall
    th = anatomy._fat_thickness(fat, np.array([anatomy.GROOVE_ANGLES[0], 0.0]), 0.5)
    assert th[0] > th[1] + 2.0
    # bright on bSSFP: fat's steady state above the myocardium's
    tp = tissue_params(1.5)
    s = contrasts.bssfp(tp.pd, tp.t1, tp.t2, 50.0, 3.0)
    assert s[TISSUE_INDEX["epicardial_fat"]] > 1.5 * s[TISSUE_INDEX["myocardium"]]


def _bloch_bssfp(t1: float, t2: float, flip_deg: float, tr: float, df: float) -> complex:
    """Steady state at TE = TR/2 by iterating the Bloch matrices of an alternating-phase bSSFP train."""
    a, m = np.deg2rad(flip_deg), np.array([0.0, 0.0, 1.0])

    def rot_x(t):
        return np.array([[1, 0, 0], [0, np.cos(t), np.sin(t)], [0, -np.sin(t), np.cos(t)]])

    def free(t):
        phi = 2 * np.pi * df * t * 1e-3
        e1, e2 = np.exp(-t / t1), np.exp(-t / t2)
        r = np.array([[np.cos(phi), np.sin(phi), 0], [-np.sin(phi), np.cos(phi), 0], [0, 0, 1]])
        return np.diag([e2, e2, e1]) @ r, np.array([0, 0, 1 - e1])

    (A, b), (Ah, bh) = free(tr), free(tr / 2)
    for k in range(4000):
        m = A @ (rot_x(a * (-1) ** k) @ m) + b
    mte = Ah @ (rot_x(a * (-1) ** 4000) @ m) + bh
    return complex(mte[0], mte[1])


def test_bssfp_off_resonance_matches_bloch_and_bands_at_half_the_repetition_rate():
    pd, t1, t2 = np.array([1.0]), np.array([1000.0]), np.array([50.0])
    on = contrasts.bssfp(pd, t1, t2, 50.0, 3.0)[0]
    assert abs(contrasts.bssfp_offres(pd, t1, t2, 50.0, 3.0, 0.0)[0]) == pytest.approx(on, rel=1e-9)
    df = np.array([0.0, 40.0, 100.0, 150.0, 166.667])
    prof = np.abs(contrasts.bssfp_offres(pd, t1, t2, 50.0, 3.0, df[:, None])[:, 0])
    bloch = np.abs([_bloch_bssfp(1000.0, 50.0, 50.0, 3.0, f) for f in df])
    np.testing.assert_allclose(prof, bloch / abs(_bloch_bssfp(1000.0, 50.0, 50.0, 3.0, 0.0)) * on, rtol=2e-3)
    assert prof[-1] < 0.3 * prof[0]  # the band at 1 / (2 TR)
    np.testing.assert_allclose(np.abs(contrasts.bssfp_offres(pd, t1, t2, 50.0, 3.0, 40.0 + 1000 / 3.0)), prof[1],
                               rtol=1e-9)  # periodic in 1 / TR


def test_b0_map_is_centred_on_the_heart_rises_towards_the_lungs_and_scales_with_field():
    from cardiomm.phantom.generate import b0_map_hz, raster_slice

    cfg = PhantomConfig()
    specs = cohort_specs(cfg)
    spec = next(s for s in specs if s.field_strength_T == 3.0)
    r = raster_slice(spec, cfg, 40.0, 0.0)
    df = b0_map_hz(spec, cfg, r.centre_tissue, 40.0)
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx)
    heart = np.hypot(x - spec.heart.cx, y - spec.heart.cy) < 40
    assert abs(df[heart].mean()) < 1e-6
    lung = r.centre_tissue == TISSUE_INDEX["lung"]
    assert df[lung].mean() > df[r.label == LV_BLOOD].mean() + 100  # Hz at 3 T
    s15 = next(s for s in specs if s.field_strength_T == 1.5)
    r15 = raster_slice(s15, cfg, 40.0, 0.0)
    assert np.ptp(b0_map_hz(s15, cfg, r15.centre_tissue, 40.0)[heart]) < np.ptp(df[heart])


def test_b1_biases_the_prepared_fits_upwards_and_the_truth_is_the_tissue_value(cohort):
    from cardiomm.phantom.generate import b1_map, subject_tissues

    cfg = PhantomConfig()
    spec = next(s for s in cohort_specs(cfg) if s.field_strength_T == 3.0)
    b1 = b1_map(spec, cfg, 40.0)
    assert np.abs(b1 - 1).max() < cfg.b1_amplitude and np.abs(b1 - 1).max() > 0.2 * cfg.b1_amplitude
    t = np.array([0.0, 35.0, 55.0])
    np.testing.assert_allclose(contrasts.prepared_decay(t, np.array(45.0), 1.0), np.exp(-t / 45.0))
    s = contrasts.prepared_decay(t, np.array(45.0), 0.9)
    apparent = -np.polyfit(t, np.log(s), 1)[0] ** -1
    assert 45.5 < apparent < 50  # a B1 error lengthens the apparent T2
    root, specs = cohort
    s1 = specs[1]
    t2_true, _ = load_image(root / "GroundTruth" / s1.subject / "T2_truth.nii.gz")
    tp = subject_tissues(s1, SMALL)
    assert set(np.unique(t2_true)) <= set(np.float32(tp.t2))  # tissue values, whatever B1 does to the fit


def test_lesions_lie_in_coronary_territories_and_oedema_is_regional():
    from cardiomm.phantom.generate import raster_slice, subject_tissues

    cfg = PhantomConfig(counts={"train": 40, "val": 0, "test": 0, "external": 0})
    specs = [s for s in cohort_specs(cfg) if s.disease in ("infarct", "oedema")]
    assert len(specs) >= 6
    for s in specs:
        h = s.heart
        infarct = s.disease == "infarct"
        angle, width = (h.infarct_angle, h.infarct_width) if infarct else (h.oedema_angle, h.oedema_width)
        assert angle is not None and (s.disease == "oedema") == (h.oedema_angle is not None)
        inside = [abs(np.angle(np.exp(1j * (angle - c)))) <= (span - width) / 2 + 1e-9
                  for c, span in anatomy.CORONARY_TERRITORIES.values()]
        assert any(inside), (s.subject, angle)
    assert len({round(s.heart.infarct_angle or s.heart.oedema_angle, 3) for s in specs}) == len(specs)
    oed = next(s for s in specs if s.disease == "oedema")
    tp = subject_tissues(oed, cfg)
    i_myo, i_oed = TISSUE_INDEX["myocardium"], TISSUE_INDEX["oedema"]
    assert tp.t2[i_oed] > tp.t2[i_myo] + 10  # remote myocardium unshifted, the territory oedematous
    r = raster_slice(oed, cfg, 40.0, 0.0)
    oedema_px = r.centre_tissue == i_oed
    assert oedema_px.sum() > 10 and np.all(r.label[oedema_px] == LV_MYO)
    assert (r.centre_tissue[r.label == LV_MYO] == i_myo).sum() > oedema_px.sum() * 0.5  # regional, not global
    # switched off: global oedema of the whole myocardium, as before
    off = PhantomConfig(**{**cfg.__dict__, "lesion_territories": False})
    s_off = next(s for s in cohort_specs(off) if s.subject == oed.subject)
    assert s_off.heart.oedema_angle is None
    assert subject_tissues(s_off, off).t2[i_myo] == pytest.approx(tp.t2[i_oed])


def test_heart_window_changes_nothing():
    from cardiomm.phantom.generate import fat_spec

    cfg = PhantomConfig(counts={"train": 8, "val": 0, "test": 0, "external": 0})
    x, y = anatomy.pixel_grid(cfg.ny, cfg.nx, cfg.dy, cfg.dx, cfg.supersample)
    for s in cohort_specs(cfg):
        for z, f in ((-4.0, 0.0), (3.0, 1.0), (45.0, 0.0)):
            args = (s.heart, s.body, z, f, x, y, True, True, fat_spec(s, cfg))
            for a, b in zip(anatomy.rasterize(*args), anatomy.rasterize(*args, window=False), strict=True):
                np.testing.assert_array_equal(a, b)
