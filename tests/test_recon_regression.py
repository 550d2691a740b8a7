"""The shipped CardioMM and VarNet checkpoints reproduce their recorded outputs on a fixed input.

``tests/fixtures/recon_shipped_models_io.npz`` holds a 1-frame, 4-coil, 40 x 40 crop of the synthetic cohort's
undersampled cine k-space (Uniform8 and ktRadial24 masks, ACS 20) and the magnitude :func:`reconstruct_series`
returned for it with the checkpoints retrained on the issue-15 phantom (2026-12-02; first recorded before the
acquisition/operator refactor of issue 13 with that code's
``reconstruct_series(model, kus, mask, name, meta, acs=20)``). The checkpoints load with ``strict=True``, so
their parameter names are unchanged too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cardiomm.acquisition import Acquisition
from cardiomm.recon.learned.infer import reconstruct_series
from cardiomm.recon.learned.model_files import load_model

FIXTURE = Path(__file__).parent / "fixtures" / "recon_shipped_models_io.npz"
WEIGHTS = Path(__file__).parents[1] / "cardiomm" / "weights"
META = {"modality": "cine", "view": "sax", "vendor": "Siemens", "field_strength_T": 3.0}


@pytest.mark.parametrize("arch", ["cardiomm", "varnet"])
@pytest.mark.parametrize("mask_name", ["Uniform8", "ktRadial24"])
def test_shipped_model_output_is_unchanged(arch: str, mask_name: str) -> None:
    io = np.load(FIXTURE)
    model, _ = load_model(WEIGHTS / f"{arch}.pt", arch=arch)
    acq = Acquisition.from_arrays(io[f"kus_{mask_name}"], io[f"mask_{mask_name}"], mask_name, 20, META)
    got = reconstruct_series(model, acq)
    want = io[f"{arch}_{mask_name}"]
    assert got.shape == want.shape == (1, 1, 40, 40)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * float(np.abs(want).max()))
