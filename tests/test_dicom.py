"""DICOM output read back with pydicom and highdicom: geometry = the NIfTI affine, pixel data = the reconstruction
after the documented rescale, SEG frames = the label maps, Parametric Map values = the map, frame timing, stable
UIDs, identifiers only from the input, ``dicom.anonymise``."""

from __future__ import annotations

import csv

import numpy as np
import pydicom
import pytest

from cardiomm.cohort import Subject
from cardiomm.io.dicom import SEGMENTS, export_subject
from cardiomm.io.nifti import Geometry, load_image, save_image
from cardiomm.io.scanner_sidecar import write_sidecar
from cardiomm.workflow import key


def _oblique_ras(dx: float, dy: float, spacing: float) -> tuple:
    a, b = np.deg2rad(30.0), np.deg2rad(-20.0)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    rz = np.array([[np.cos(b), -np.sin(b), 0], [np.sin(b), np.cos(b), 0], [0, 0, 1]])
    r = rz @ rx
    aff = np.eye(4)
    aff[:3, :3] = r * np.array([dx, dy, spacing])
    aff[:3, 3] = (-60.0, 40.5, 12.25)
    return tuple(map(tuple, aff.tolist()))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("dicom")
    rng = np.random.default_rng(3)
    nt, nz, ny, nx = 4, 3, 24, 20
    g = Geometry(1.5, 1.75, 8.0, 2.0, 0.045, _oblique_ras(1.5, 1.75, 10.0))
    img = (rng.random((nt, nz, ny, nx)) * 300 + 5).astype(np.float32)
    lab = rng.integers(0, 4, (nt, nz, ny, nx)).astype(np.uint8)
    gm = Geometry(1.5, 1.75, 8.0, 12.0, 0.0, _oblique_ras(1.5, 1.75, 20.0))
    t1 = (rng.random((5, 2, ny, nx)) * 100).astype(np.float32)
    t1lab = rng.integers(0, 4, (1, 2, ny, nx)).astype(np.uint8)
    t1map = (rng.random((1, 2, ny, nx)) * 1500).astype(np.float32)
    for name, arr, geom, is_label in (("cine", img, g, False), ("cine_seg", lab, g, True), ("t1", t1, gm, False),
                                      ("t1_seg", t1lab, gm, True), ("t1_map", t1map, gm, False)):
        save_image(d / f"{name}.nii.gz", arr, geom, is_label)
    side = {"header": {"patient_name": "Doe^Jane", "patient_id": "MRN-0001", "study_uid": "1.2.3.4.5"},
            "tr_ms": [3.1], "te_ms": [1.5], "flip_deg": [45.0], "trigger_ms": [0.0, 45.0, 90.0, 135.0]}
    write_sidecar(d / "cine.json", side)
    write_sidecar(d / "t1.json", {**side, "trigger_ms": []})
    s = Subject("P001", d, "test", {"vendor": "Siemens", "scanner": "Vida", "field_strength_T": 3.0}, g,
                timing={"t1map": [100, 180, 260, 1100, 1180]})
    inputs = {key("image", "sense", "Uniform8", "cine"): str(d / "cine.nii.gz"),
              key("seg", "sense", "Uniform8", "cine"): str(d / "cine_seg.nii.gz"),
              key("image", "sense", "Uniform8", "t1map"): str(d / "t1.nii.gz"),
              key("seg", "sense", "Uniform8", "t1map"): str(d / "t1_seg.nii.gz"),
              key("map", "sense", "Uniform8", "t1map"): str(d / "t1_map.nii.gz"),
              key("sidecar", "cine"): str(d / "cine.json"), key("sidecar", "t1map"): str(d / "t1.json")}
    export_subject(s, inputs, d / "out", {})
    export_subject(s, inputs, d / "again", {})
    export_subject(s, inputs, d / "anon", {"anonymise": True})
    return d, s, inputs


def _series(folder):
    dss = [pydicom.dcmread(p) for p in sorted(folder.glob("IM_*.dcm"))]
    return sorted(dss, key=lambda ds: ds.InstanceNumber)


def _ras_affine(dss: list, nz: int) -> np.ndarray:
    """The NIfTI affine a viewer reconstructs from the DICOM patient geometry of one frame's slices."""
    first = dss[0]
    row, col = np.array(first.ImageOrientationPatient[:3]), np.array(first.ImageOrientationPatient[3:])
    dy, dx = (float(v) for v in first.PixelSpacing)
    p0 = np.array(first.ImagePositionPatient, float)
    step = (np.array(dss[1].ImagePositionPatient, float) - p0) if nz > 1 else np.cross(row, col) * \
        float(first.SpacingBetweenSlices)
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = row * dx, col * dy, step, p0
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def test_mr_images_geometry_equals_the_nifti_affine(exported):
    d, _, _ = exported
    img, geom = load_image(d / "cine.nii.gz")
    dss = _series(d / "out" / "cine_sense_Uniform8")
    assert len(dss) == 4 * 3
    np.testing.assert_allclose(_ras_affine(dss[:3], 3), np.asarray(geom.affine), atol=1e-3)
    assert float(dss[0].SliceThickness) == 8.0 and float(dss[0].SpacingBetweenSlices) == 10.0


def test_pixel_data_is_the_reconstruction_after_the_rescale(exported):
    d, _, _ = exported
    img, _ = load_image(d / "cine.nii.gz")
    for ds in _series(d / "out" / "cine_sense_Uniform8"):
        t, z = int(ds.TemporalPositionIdentifier) - 1, (int(ds.InstanceNumber) - 1) % 3
        slope, icpt = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        back = ds.pixel_array.astype(np.float64) * slope + icpt
        assert ds.pixel_array.shape == img.shape[2:]
        assert np.abs(back - img[t, z]).max() <= slope / 2 + 1e-4 * slope


def test_frame_timing_and_sequence_values(exported):
    d, _, _ = exported
    dss = _series(d / "out" / "cine_sense_Uniform8")
    assert [float(ds.TriggerTime) for ds in dss[::3]] == [0.0, 45.0, 90.0, 135.0]  # the scan's trigger times
    assert int(dss[0].CardiacNumberOfImages) == 4 and float(dss[0].RepetitionTime) == 3.1
    t1 = _series(d / "out" / "t1map_sense_Uniform8")
    assert sorted({float(ds.InversionTime) for ds in t1}) == [100.0, 180.0, 260.0, 1100.0, 1180.0]


def test_seg_frames_equal_the_label_maps(exported):
    import highdicom as hd

    d, _, _ = exported
    lab, _ = load_image(d / "cine_seg.nii.gz")
    images = _series(d / "out" / "cine_sense_Uniform8")
    by_uid = {ds.SOPInstanceUID: (int(ds.TemporalPositionIdentifier) - 1, (int(ds.InstanceNumber) - 1) % 3)
              for ds in images}
    segs = sorted((d / "out" / "cine_sense_Uniform8_SEG").glob("SEG_*.dcm"))
    assert len(segs) == 4
    for f in segs:
        seg = hd.seg.segread(f)
        assert [s.SegmentLabel for s in seg.SegmentSequence] == [s[1] for s in SEGMENTS]
        codes = [s.SegmentedPropertyTypeCodeSequence[0].CodeValue for s in seg.SegmentSequence]
        assert codes == ["87878005", "49848007", "53085002"]
        for uid in seg.get_source_image_uids():
            sop = uid[2]
            t, z = by_uid[sop]
            mask = seg.get_pixels_by_source_instance(source_sop_instance_uids=[sop], segment_numbers=[1, 2, 3],
                                                     combine_segments=True, relabel=True,
                                                     assert_missing_frames_are_empty=True)[0]
            want = np.zeros_like(lab[t, z])
            for n, (value, *_) in enumerate(SEGMENTS, 1):
                want[lab[t, z] == value] = n
            np.testing.assert_array_equal(mask, want)


def test_parametric_map_values_in_ms(exported):
    d, _, _ = exported
    vmap, _ = load_image(d / "t1_map.nii.gz")
    pm = pydicom.dcmread(d / "out" / "t1map_sense_Uniform8_T1map.dcm")
    assert pm.SOPClassUID == "1.2.840.10008.5.1.4.1.1.30"  # Parametric Map Storage
    frames = pm.pixel_array.reshape(-1, *vmap.shape[2:])
    rwvm = pm.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
    assert rwvm.MeasurementUnitsCodeSequence[0].CodeValue == "ms"
    positions = [np.array(f.PlanePositionSequence[0].ImagePositionPatient, float)
                 for f in pm.PerFrameFunctionalGroupsSequence]
    order = np.argsort([p @ np.cross(np.array(pm.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                                              .ImageOrientationPatient[:3]),
                                     np.array(pm.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0]
                                              .ImageOrientationPatient[3:])) for p in positions])
    np.testing.assert_allclose(frames[order], vmap[0], rtol=1e-6)


def test_uids_are_stable_and_identifiers_come_from_the_input_only(exported):
    d, _, _ = exported
    rows = {p: list(csv.DictReader(open(p / "index.csv"))) for p in (d / "out", d / "again")}
    assert rows[d / "out"] == rows[d / "again"]  # same results, same UIDs
    ds = _series(d / "out" / "cine_sense_Uniform8")[0]
    assert str(ds.PatientName) == "Doe^Jane" and ds.PatientID == "MRN-0001" and ds.StudyInstanceUID == "1.2.3.4.5"
    assert ds.PatientBirthDate == "" and ds.PatientSex == ""  # not in the input: not invented
    anon = _series(d / "anon" / "cine_sense_Uniform8")[0]
    assert str(anon.PatientName) == "" and anon.PatientID == "P001" and anon.PatientIdentityRemoved == "YES"
    assert anon.StudyInstanceUID != "1.2.3.4.5"
    seg = pydicom.dcmread(next((d / "anon" / "cine_sense_Uniform8_SEG").glob("*.dcm")))
    assert str(seg.PatientName) == "" and seg.PatientID == "P001"
