"""Stages of the reconstruction: the fully sampled reference, the classical methods' shared coil maps, one
subject x method x mask (rules/recon.smk).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cardiomm.cohort import Subject
from cardiomm.conventions import series_meta
from cardiomm.io import cmrxrecon as cio
from cardiomm.io.nifti import save_image
from cardiomm.methods import ReconParams
from cardiomm.workflow import key, named

log = logging.getLogger("cardiomm")


def _write_recon(image: np.ndarray, mat_path: str, nii_path: str, subject: Subject, mod: str) -> None:
    cio.write_recon(mat_path, image)
    save_image(nii_path, image, subject.geometry_for(mod))


def reference(subject: Subject, outputs: Mapping[str, str]) -> None:
    """Fully sampled RSS reference of each modality named in ``outputs`` (``key(mod, "mat" | "nii")``)."""
    from cardiomm.recon.classical.zero_filled import zero_filled

    for mod in dict.fromkeys(k[0] for k in named(outputs)):
        img = zero_filled(cio.read_kspace(subject.kspace_path(mod)))
        _write_recon(img, outputs[key(mod, "mat")], outputs[key(mod, "nii")], subject, mod)


def control(method: str, subject: Subject, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    """A null control (``rescan``) of one subject: its registry entry on each repeated, fully sampled acquisition
    (``inputs``: ``key(mod, "kspace")`` -> :meth:`cardiomm.cohort.Subject.rescan_path`), written like the
    reference (``outputs``: ``key(mod, "mat" | "nii")``)."""
    from cardiomm.acquisition import Acquisition
    from cardiomm.conventions import FULLY_SAMPLED
    from cardiomm.io.releases import acs_lines
    from cardiomm.methods import method as registered

    rec = registered(method).prepare()
    for mod in dict.fromkeys(k[0] for k in named(outputs)):
        path = inputs[key(mod, "kspace")]
        k = cio.read_kspace(path)
        acq = Acquisition.from_arrays(k, np.ones((1, *k.shape[-2:]), np.uint8), FULLY_SAMPLED,
                                      acs_lines(subject.release), series_meta(subject.meta, mod), source=str(path))
        _write_recon(rec(acq), outputs[key(mod, "mat")], outputs[key(mod, "nii")], subject, mod)


def coilmaps(subject: Subject, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    """ESPIRiT maps of every series named in ``outputs`` (``key(mod, mask, "maps")`` -> ``.npy``
    ``(nz, nc, ny, nx)`` complex64), for the classical methods' reconstruction jobs.

    One job per subject. Maps depend on the frame-averaged data in the central calibration square only
    (:func:`cardiomm.recon.classical.espirit.calibrations`); the synthetic cohort's three masks share their 20 ACS
    lines, so ESPIRiT runs once per slice instead of once per slice x mask x classical method. A series whose
    calibration input equals (byte for byte, :func:`~cardiomm.recon.classical.espirit.calibration_digest`) an
    earlier one's gets a hard link to that file; the maps are the ones each reconstruction job would compute
    itself. ``inputs``: ``key(mod, mask, "mask" | "kus")`` -> undersampled file.
    """
    import shutil

    from cardiomm.acquisition import load_undersampled
    from cardiomm.atomic import atomic_path
    from cardiomm.io.releases import acs_lines
    from cardiomm.recon.classical.espirit import calibration_digest, calibrations, series_maps

    acs = acs_lines(subject.release)
    done: dict[str, str] = {}  # calibration digest -> maps file written in this job
    for (mod, mk, _), out in named(outputs).items():
        acq = load_undersampled(inputs[key(mod, mk, "kus")], inputs[key(mod, mk, "mask")], mk, acs,
                                series_meta(subject.meta, mod))
        calibs = calibrations(acq)
        digest = calibration_digest(calibs)
        with atomic_path(out) as tmp:
            if digest in done:
                tmp.unlink()
                try:
                    os.link(done[digest], tmp)
                except OSError:  # a file system without hard links
                    shutil.copyfile(done[digest], tmp)
                log.info("%s %s %s: same ACS data as %s, maps shared", subject.id, mod, mk, Path(done[digest]).name)
            else:
                with open(tmp, "wb") as f:
                    np.save(f, series_maps(calibs), allow_pickle=False)
                log.info("%s %s %s: ESPIRiT maps of %d slices", subject.id, mod, mk, len(calibs))
        done.setdefault(digest, out)


def reconstruct(method: str, subject: Subject, mask_name: str, inputs: Mapping[str, str], outputs: Mapping[str, str],
                params: ReconParams | None = None) -> None:
    """Reconstruct one subject x mask with ``method``: every modality named in ``outputs``.

    One job per subject x method x mask (so a cluster spreads the (GPU) work over masks); the model is loaded once
    per job for its modalities. ``inputs``: ``key(mod, "mask" | "kus")`` -> undersampled files;
    ``outputs``: ``key(mod, "mat" | "nii")`` (:meth:`cardiomm.workflow.Plan.recon_inputs` / ``recon_outputs``);
    ``inputs`` may hold ``key(mod, "maps")``, the coil-maps job's ESPIRiT maps (classical methods).
    ``params``: what the method gets from the config (:meth:`cardiomm.methods.ReconParams.from_config`: its
    checkpoint, its own block, the ``published`` section).
    """
    from cardiomm.acquisition import load_undersampled
    from cardiomm.io.releases import acs_lines
    from cardiomm.methods import method as registered

    acs = acs_lines(subject.release)  # the release's ACS width (the synthetic cohort's for generic trees)
    rec = registered(method).prepare(params)  # the model (if any) is loaded once for every series of the job
    mods = list(dict.fromkeys(k[0] for k in named(outputs)))
    mk = mask_name
    t0, frames = time.perf_counter(), 0
    for n, mod in enumerate(mods, 1):
        acq = load_undersampled(inputs[key(mod, "kus")], inputs[key(mod, "mask")], mk, acs,
                                series_meta(subject.meta, mod),  # validated once, here
                                maps_path=inputs.get(key(mod, "maps")))
        img = rec(acq)
        _write_recon(img, outputs[key(mod, "mat")], outputs[key(mod, "nii")], subject, mod)
        frames += acq.kspace.shape[0] * acq.kspace.shape[1]
        log.info("%s %s %s %s done: %d/%d series, %d 2D frames, %.0f s elapsed", method, subject.id, mk, mod,
                 n, len(mods), frames, time.perf_counter() - t0)
