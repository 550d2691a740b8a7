"""Stage functions called by the workflow scripts: file in, file out, no Snakemake needed.

Each function takes explicit paths and parameters, reads with :mod:`cardiomm.io`, calls the science in the
subpackages, and writes atomically. The scripts under ``workflow_scripts/`` only unpack the ``snakemake``
object and call one of these.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject, write_subjects_csv
from cardiomm.conventions import MODALITIES
from cardiomm.io import cmrxrecon as cio
from cardiomm.io.nifti import save_image

log = logging.getLogger("cardiomm")


@contextlib.contextmanager
def logged(log_path: str | None) -> Iterator[logging.Logger]:
    """Send the ``cardiomm`` logger (and uncaught errors with their traceback) to ``log_path`` and stderr.

    An exception is logged and re-raised, so the job fails with a non-zero exit and the message names the file.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    try:
        yield log
    except BaseException as err:
        log.error("FAILED: %s", err)
        log.debug("".join(traceback.format_exception(err)))
        raise
    finally:
        for h in handlers:
            log.removeHandler(h)
            h.close()


# ------------------------------------------------------------------------------------------------ data


def cohort_table(phantom_cfg: dict, out_csv: str) -> None:
    """Write ``subjects.csv`` of the synthetic cohort defined by ``phantom_cfg``."""
    from cardiomm.phantom.generate import PhantomConfig, cohort_specs

    cfg = PhantomConfig.from_dict(phantom_cfg)
    write_subjects_csv(out_csv, [s.row(cfg) for s in cohort_specs(cfg)])


def synthesize(phantom_cfg: dict, subject: str, root: str) -> None:
    """Generate one synthetic subject (k-space, timing, labels, truth) under ``root``."""
    from cardiomm.phantom.generate import PhantomConfig, spec_by_id, write_subject

    cfg = PhantomConfig.from_dict(phantom_cfg)
    spec = spec_by_id(cfg, subject)
    log.info("synthesising %s (%s, %s, %.2f T, %d raw coils)", subject, spec.split, spec.disease,
             spec.field_strength_T, spec.n_coils_raw)
    write_subject(spec, cfg, root)


# ------------------------------------------------------------------------------------------------ undersampling


def undersample(subject: Subject, modalities: list[str], masks: list[str], seed: int,
                mask_out: list[str], kus_out: list[str]) -> None:
    """Write challenge masks and undersampled k-space for every modality x mask (outputs in that order)."""
    from cardiomm.sampling.masks import make_mask, mask_stats
    from cardiomm.sampling.masks import undersample as apply_mask

    i = 0
    for mod in modalities:
        src = subject.kspace_path(mod)
        k = cio.read_kspace(src)
        nt, _, _, ny, nx = k.shape
        for name in masks:
            m = make_mask(name, nt, ny, nx, seed=seed)
            st = mask_stats(m, name)
            log.info("%s %s %s: achieved R %.2f (nominal %d)", subject.id, mod, name, st["achieved_R"], st["nominal_R"])
            cio.write_mask(mask_out[i], m)
            cio.write_kspace(kus_out[i], apply_mask(k, m), key="kus")
            i += 1


def mask_table(mask_files: list[str], out_csv: str) -> None:
    """One row per mask file: nominal and achieved acceleration, sampled fraction outside the ACS."""
    from cardiomm.conventions import parse_mask_name
    from cardiomm.sampling.masks import mask_stats

    rows = []
    for f in mask_files:
        p = Path(f)
        name = p.stem.rsplit("_mask_", 1)[1]
        st = mask_stats(cio.read_mask(p), name)
        mn = parse_mask_name(name)
        rows.append({"subject": p.parent.name, "file": p.name, "mask": name, "pattern": mn.pattern,
                     **{k: st[k] for k in ("nominal_R", "achieved_R", "outer_fraction", "acs_complete")}})
    write_csv(pd.DataFrame(rows), out_csv)


# ------------------------------------------------------------------------------------------------ reconstruction


def _write_recon(image: np.ndarray, mat_path: str, nii_path: str, subject: Subject, mod: str) -> None:
    cio.write_recon(mat_path, image)
    save_image(nii_path, image, subject.geometry_for(mod))


def reference(subject: Subject, modalities: list[str], outputs: list[str]) -> None:
    """Fully sampled RSS reference for each modality; ``outputs`` alternate ``.mat``, ``.nii.gz``."""
    from cardiomm.recon.zero_filled import zero_filled

    for i, mod in enumerate(modalities):
        img = zero_filled(cio.read_kspace(subject.kspace_path(mod)))
        _write_recon(img, outputs[2 * i], outputs[2 * i + 1], subject, mod)


def reconstruct(method: str, subject: Subject, modalities: list[str], masks: list[str], mask_files: dict,
                kus_files: dict, outputs: list[str], sense_params: dict, model_path: str | None) -> None:
    """Reconstruct every mask x modality of one subject with ``method``.

    ``mask_files``/``kus_files`` map ``(modality, mask)`` to paths; ``outputs`` are in
    :meth:`cardiomm.workflow.Plan.recon_files` order (mask-major, then modality, then .mat/.nii.gz).
    """
    from cardiomm.sampling.masks import check_mask

    model = None
    if method in ("cardiomm", "varnet"):
        from cardiomm.recon.checkpoint import load_model

        model, _ = load_model(model_path, expected_arch=method)
    i = 0
    for mk in masks:
        for mod in modalities:
            kus = cio.read_kspace(kus_files[(mod, mk)], key="kus")
            mask = cio.read_mask(mask_files[(mod, mk)])
            check_mask(mask, kus.shape, mk, source=str(mask_files[(mod, mk)]))
            if method == "zerofilled":
                from cardiomm.recon.zero_filled import zero_filled

                img = zero_filled(kus)
            elif method == "sense":
                from cardiomm.recon.sense import sense_recon_series

                img = sense_recon_series(kus, mask, mk, **sense_params)
            else:
                from cardiomm.recon.infer import reconstruct_series

                meta = {**subject.meta, "modality": mod}
                img = reconstruct_series(model, kus, mask, mk, meta)
            log.info("%s %s %s %s done", method, subject.id, mk, mod)
            _write_recon(img, outputs[i], outputs[i + 1], subject, mod)
            i += 2


def image_quality(subject: Subject, method: str, modalities: list[str], masks: list[str], ref_files: dict,
                  rec_files: dict, out_csv: str) -> None:
    """Per-frame PSNR/SSIM/NMSE of every mask x modality against the reference; one long CSV."""
    from cardiomm.compare.image_quality import frame_metrics

    rows = []
    for mod in modalities:
        ref = cio.read_recon(ref_files[mod])
        for mk in masks:
            rec = cio.read_recon(rec_files[(mod, mk)])
            for r in frame_metrics(ref, rec):
                rows.append({"subject": subject.id, "split": subject.split, "modality": mod, "method": method,
                             "mask": mk, **r})
    df = pd.DataFrame(rows)
    cols = ["subject", "split", "modality", "slice", "frame", "method", "mask", "psnr", "ssim", "nmse"]
    write_csv(df[cols], out_csv)


def concat_tables(inputs: list[str], out_csv: str) -> None:
    """Concatenate long CSV tables (same columns) into one."""
    frames = [pd.read_csv(f) for f in inputs]
    write_csv(pd.concat(frames, ignore_index=True), out_csv)


def modality_stem(mod: str) -> str:
    return MODALITIES[mod].stem
