"""Stage functions called by the workflow scripts: file in, file out, no Snakemake needed.

Each function takes explicit paths and parameters, reads with :mod:`cardiomm.io`, calls the science in the
subpackages, and writes atomically. The scripts under ``workflow_scripts/`` only unpack the ``snakemake``
object and call one of these.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cardiomm.atomic import write_csv
from cardiomm.cohort import Subject, write_subjects_csv
from cardiomm.conventions import MODALITIES, series_meta
from cardiomm.io import cmrxrecon as cio
from cardiomm.io.nifti import save_image
from cardiomm.workflow import key, named

if TYPE_CHECKING:
    pass

log = logging.getLogger("cardiomm")


@contextlib.contextmanager
def logged(log_path: str | None, config: dict | None = None, threads: int | None = None
           ) -> Iterator[logging.Logger]:
    """Send the ``cardiomm`` logger (and uncaught errors with their traceback) to ``log_path`` and stderr.

    With ``threads`` (the rule's Snakemake ``threads``), torch, BLAS and numba use at most that many threads
    (:func:`cardiomm.device.limit_threads`).

    An exception is logged and re-raised, so the job fails with a non-zero exit and the message names the file.
    With ``config``, outputs written inside are stamped with the code version and config hash
    (:mod:`cardiomm.provenance`), and the log starts with them.
    """
    from cardiomm import provenance

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    if threads is not None:
        from cardiomm.device import limit_threads

        limit_threads(threads)
    st = provenance.activate(config)
    if st:
        log.info("cardiomm %s, config sha256 %s", st["cardiomm_version"], st["config_sha256"])
    try:
        yield log
    except BaseException as err:
        log.error("FAILED: %s", err)
        log.debug("".join(traceback.format_exception(err)))
        raise
    finally:
        provenance.activate(None)
        for h in handlers:
            log.removeHandler(h)
            h.close()


# ------------------------------------------------------------------------------------------------ data


def cohort_table(phantom_cfg: dict, out_csv: str) -> None:
    """Write ``subjects.csv`` of the synthetic cohort defined by ``phantom_cfg``."""
    from cardiomm.phantom.generate import PhantomConfig, cohort_specs

    cfg = PhantomConfig.from_dict(phantom_cfg)
    write_subjects_csv(out_csv, [s.row(cfg) for s in cohort_specs(cfg)])


def synthesize(phantom_cfg: dict, subject: str, root: str, rescan: bool = False) -> None:
    """Generate one synthetic subject (k-space, timing, labels, truth) under ``root``; with ``rescan`` also the
    repeated acquisition of every series (the null control's k-space)."""
    from cardiomm.phantom.generate import PhantomConfig, spec_by_id, write_subject

    cfg = PhantomConfig.from_dict(phantom_cfg)
    spec = spec_by_id(cfg, subject)
    log.info("synthesising %s (%s, %s, %.2f T, %d raw coils%s)", subject, spec.split, spec.disease,
             spec.field_strength_T, spec.n_coils_raw, ", acquired twice" if rescan else "")
    write_subject(spec, cfg, root, rescan=rescan)


# ------------------------------------------------------------------------------------------------ undersampling


def undersample(subject: Subject, seed: int, outputs: Mapping[str, str], mask_source: str = "generate") -> None:
    """Write the challenge mask and the undersampled k-space of every modality x mask named in ``outputs``.

    ``outputs``: ``key(modality, mask, "mask" | "kus")`` -> file (:meth:`cardiomm.workflow.Plan.undersample_outputs`).
    One job per subject: the fully sampled k-space of a modality is read once for all its masks.
    ``mask_source``: ``official`` uses the release's own mask file where it has one (else generates), ``generate``
    always generates, with the release's ACS width (:mod:`cardiomm.sampling.release_masks`).
    """
    from cardiomm.io.releases import acs_lines
    from cardiomm.sampling.masks import mask_stats
    from cardiomm.sampling.masks import undersample as apply_mask
    from cardiomm.sampling.release_masks import subject_mask

    files = named(outputs)
    for mod in dict.fromkeys(m for m, _, _ in files):
        k = cio.read_kspace(subject.kspace_path(mod))
        for name in dict.fromkeys(mk for m, mk, _ in files if m == mod):
            m, origin = subject_mask(subject, mod, name, k.shape, seed, mask_source)
            st = mask_stats(m, name, acs_lines(subject.release))
            log.info("%s %s %s: %s, achieved R %.2f (nominal %d)", subject.id, mod, name, origin, st["achieved_R"],
                     st["nominal_R"])
            cio.write_mask(files[(mod, name, "mask")], m, source=origin)
            cio.write_kspace(files[(mod, name, "kus")], apply_mask(k, m), key="kus")


def coilmaps(subject: Subject, inputs: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    """ESPIRiT maps of every series named in ``outputs`` (``key(mod, mask, "maps")`` -> ``.npy``
    ``(nz, nc, ny, nx)`` complex64), for the classical methods' reconstruction jobs.

    One job per subject. Maps depend on the frame-averaged data in the central calibration square only
    (:func:`cardiomm.recon.sense.calibration`); the synthetic cohort's three masks share their 20 ACS lines, so
    ESPIRiT runs once per slice instead of once per slice x mask x classical method. A series whose calibration
    input equals (byte for byte) an earlier one's gets a hard link to that file; the maps are the ones each
    reconstruction job would compute itself. ``inputs``: ``key(mod, mask, "mask" | "kus")`` -> undersampled file.
    """
    import hashlib
    import shutil

    from cardiomm.acquisition import load_undersampled
    from cardiomm.atomic import atomic_path
    from cardiomm.io.releases import acs_lines
    from cardiomm.recon.sense import calibration, espirit_calibrated

    acs = acs_lines(subject.release)
    done: dict[str, str] = {}  # calibration digest -> maps file written in this job
    for (mod, mk, _), out in named(outputs).items():
        acq = load_undersampled(inputs[key(mod, mk, "kus")], inputs[key(mod, mk, "mask")], mk, acs,
                                series_meta(subject.meta, mod))
        calibs = [calibration(acq.kspace[:, z], acq.acs, acq.acs_width) for z in range(acq.shape[1])]
        h = hashlib.sha256()
        for c, w in calibs:
            h.update(c.tobytes())
            h.update(str(w).encode())
        digest = h.hexdigest()
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
                    np.save(f, np.stack([espirit_calibrated(c, w) for c, w in calibs]), allow_pickle=False)
                log.info("%s %s %s: ESPIRiT maps of %d slices", subject.id, mod, mk, len(calibs))
        done.setdefault(digest, out)


def mask_table(mask_files: Mapping[str, str], out_csv: str, acs: int | None = None) -> None:
    """One row per mask file: where it came from, nominal and achieved acceleration, sampled fraction outside the ACS.

    ``mask_files``: ``key(subject, modality, mask)`` -> mask file; ``acs``: the release's ACS width (default the
    synthetic cohort's).
    """
    import pandas as pd

    from cardiomm.conventions import ACS_LINES, parse_mask_name
    from cardiomm.sampling.masks import mask_stats

    rows = []
    for (sid, _mod, name), f in named(mask_files).items():
        p = Path(f)
        st = mask_stats(cio.read_mask(p), name, acs or ACS_LINES)
        mn = parse_mask_name(name)
        rows.append({"subject": sid, "file": p.name, "mask": name, "pattern": mn.pattern,
                     "source": cio.read_attr(p, "cardiomm_mask_source") or "generated", "acs": acs or ACS_LINES,
                     **{k: st[k] for k in ("nominal_R", "achieved_R", "outer_fraction", "acs_complete")}})
    write_csv(pd.DataFrame(rows), out_csv)


# ------------------------------------------------------------------------------------------------ reconstruction


def _write_recon(image: np.ndarray, mat_path: str, nii_path: str, subject: Subject, mod: str) -> None:
    cio.write_recon(mat_path, image)
    save_image(nii_path, image, subject.geometry_for(mod))


def _series(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(modality, mask)`` series named in a rule's entries (``key(mod, mask, ...)``), in their order."""
    return list(dict.fromkeys(k[:2] for k in named(files)))


def reference(subject: Subject, outputs: Mapping[str, str]) -> None:
    """Fully sampled RSS reference of each modality named in ``outputs`` (``key(mod, "mat" | "nii")``)."""
    from cardiomm.recon.zero_filled import zero_filled

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


def reconstruct(method: str, subject: Subject, mask_name: str, inputs: Mapping[str, str], outputs: Mapping[str, str],
                sense_params: dict, model_path: str | None, classical_params: dict | None = None,
                published: dict | None = None) -> None:
    """Reconstruct one subject x mask with ``method``: every modality named in ``outputs``.

    One job per subject x method x mask (so a cluster spreads the (GPU) work over masks); the model is loaded once
    per job for its modalities. ``inputs``: ``key(mod, "mask" | "kus")`` -> undersampled files;
    ``outputs``: ``key(mod, "mat" | "nii")`` (:meth:`cardiomm.workflow.Plan.recon_inputs` / ``recon_outputs``);
    ``inputs`` may hold ``key(mod, "maps")``, the coil-maps job's ESPIRiT maps (classical methods).
    ``classical_params``: the config blocks ``cs:``/``kttv:``/``lps:`` (and ``sense:``) by method name.
    ``published``: the config's ``published`` section (CLIP folder, model configs of the published methods).
    """
    from cardiomm.acquisition import load_undersampled
    from cardiomm.io.releases import acs_lines
    from cardiomm.methods import ReconParams
    from cardiomm.methods import method as registered

    acs = acs_lines(subject.release)  # the release's ACS width (the synthetic cohort's for generic trees)
    # the model (if any) is loaded once for every series of the job
    rec = registered(method).prepare(ReconParams(model_path, sense_params or {}, classical_params or {},
                                                 published or {}))
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


def image_quality(subject: Subject, method: str, inputs: Mapping[str, str], out_csv: str,
                  protocol: str = "all-frames") -> None:
    """PSNR/SSIM/NMSE of every series of one subject x method against the reference, under a scoring ``protocol``
    (:func:`cardiomm.compare.image_quality.protocol_metrics`); one long CSV, every row naming its protocol.

    ``inputs``: ``key(mod, mask, "method")`` -> the method's ``.mat`` reconstructions and ``key(mod, "full",
    "reference")`` -> the reference's (:meth:`cardiomm.workflow.Plan.iq_inputs`; one job per subject x method: each
    reference is read once for all masks; a null control's one "mask" is ``full``).
    """
    import pandas as pd

    from cardiomm.compare.image_quality import protocol_metrics
    from cardiomm.conventions import FULLY_SAMPLED, REFERENCE

    files = named(inputs)
    rows = []
    for mod in dict.fromkeys(m for m, _, who in files if who == REFERENCE):
        ref = cio.read_recon(files[(mod, FULLY_SAMPLED, REFERENCE)])
        for mk in [mk for m, mk, who in files if m == mod and who == "method"]:
            rec = cio.read_recon(files[(mod, mk, "method")])
            for r in protocol_metrics(ref, rec, protocol, MODALITIES[mod].ranking_kind):
                rows.append({"subject": subject.id, "split": subject.split, "modality": mod, "method": method,
                             "mask": mk, **r})
    df = pd.DataFrame(rows)
    cols = ["subject", "split", "modality", "slice", "frame", "method", "mask", "psnr", "ssim", "nmse", "protocol"]
    write_csv(df[cols], out_csv)


def stage_costs(runs_dir: str, reference_niftis: list[str], n_masks: int, cores: int, out_csv: str,
                out_md: str) -> None:
    """The run's cost per stage x method (:func:`cardiomm.costs.stage_cost_table`), as CSV and markdown.

    ``reference_niftis`` are ``.../recon/reference/full/<subject>/<modality>.nii.gz``: their headers give the
    2D frames per subject.
    """
    from cardiomm import costs
    from cardiomm.atomic import write_text

    frames: dict[str, int] = {}
    for f in reference_niftis:
        sid = Path(f).parent.name
        frames[sid] = frames.get(sid, 0) + costs.frames_in_nifti(f)
    table = costs.stage_cost_table(costs.read_benchmarks(runs_dir), frames, n_masks)
    write_csv(table, out_csv)
    write_text(out_md, costs.markdown(table, cores, f"# Stage costs of this run ({runs_dir})\n"))


def concat_tables(inputs: list[str], out_csv: str) -> None:
    """Concatenate long CSV tables (same columns) into one."""
    import pandas as pd

    frames = [pd.read_csv(f) for f in inputs]
    write_csv(pd.concat(frames, ignore_index=True), out_csv)


# ------------------------------------------------------------------------------------------------ segmentation


def segment(subject: Subject, method: str, inputs: Mapping[str, str], outputs: Mapping[str, str], model_path: str,
            out_csv: str, segmentation: dict | None = None, ed: str = "first") -> None:
    """Segment every reconstruction of one subject x method; QC each case; Dice/HD95 against truth if known.

    ``inputs``: ``key(mod, mask)`` -> reconstruction NIfTI; ``outputs``: ``key(mod, mask)`` -> label map
    (:meth:`cardiomm.workflow.Plan.method_images` / ``method_segs``). One job per subject x method: the segmenter
    is loaded once for all its series (a segmentation costs less than loading it).
    Mapping series get one label map per slice (softmax averaged over the weighted images).
    ``segmentation`` is ``config["segmentation"]`` (:mod:`cardiomm.segmentation.segmenters`); absent or
    ``kind: builtin`` without ``path`` = the checkpoint ``model_path``.
    """
    import pandas as pd

    from cardiomm.io.nifti import load_image
    from cardiomm.segmentation.metrics import dice_per_class, hd95_mm
    from cardiomm.segmentation.qc import qc_case
    from cardiomm.segmentation.segmenters import load_segmenter_from_config

    segmenter = load_segmenter_from_config({"segmentation": segmentation, "models": {"segmentation": model_path}})
    log.info("segmenter %s", segmenter.name)
    rows: list[dict] = []
    t0 = time.perf_counter()
    series = _series(outputs)
    for mod, mk in series:
        src = inputs[key(mod, mk)]
        img, geom = load_image(src)
        kind = MODALITIES[mod].kind
        lab = segmenter.segment(img, geom, kind, source=str(src))
        save_image(outputs[key(mod, mk)], lab, geom, is_label=True)
        ok, reason = qc_case(lab, geom, kind, ed=ed)
        row = {"subject": subject.id, "split": subject.split, "modality": mod, "method": method, "mask": mk,
               "qc_pass": bool(ok), "qc_reason": reason}
        gt_path = subject.label_path(mod)
        if gt_path.exists():
            gt, _ = load_image(gt_path)
            d, h = dice_per_class(lab, gt), hd95_mm(lab, gt, geom)
            row.update({f"dice_{c}": d[c] for c in d})
            row.update({f"hd95_mm_{c}": h[c] for c in h})
        rows.append(row)
        log.info("segmented %s %s %s %s: QC %s %s (%d/%d series, %.0f s elapsed)", method, mk, subject.id, mod,
                 ok, reason, len(rows), len(series), time.perf_counter() - t0)
    write_csv(pd.DataFrame(rows), out_csv)


# ------------------------------------------------------------------------------------------------ quantification


def _row(subject: Subject, method: str, mask: str, indicator: str, value: float, qc_pass: bool, reason: str,
         **extra: object) -> dict:
    from cardiomm.conventions import unit

    return {"subject": subject.id, "split": subject.split, "method": method, "mask": mask, "indicator": indicator,
            "unit": unit(indicator), "value": value, "qc_pass": bool(qc_pass), "qc_reason": reason, **extra}


def quantify(subject: Subject, method: str, inputs: Mapping[str, str], outputs: Mapping[str, str], seg_table: str,
             out_csv: str, ed: str = "first", noise_floor: str = "background") -> None:
    """Phenotypes (cine) and myocardial biomarkers (mapping) for every mask of one subject x method.

    ``inputs``: ``key(mod, mask, "image" | "seg")`` -> reconstruction and label map; ``outputs``:
    ``key(mod, mask, "map")`` -> biomarker map of each mapping series; ``seg_table`` the segment job's QC table.
    One job per subject x method (a quantification costs about the start-up of a job).

    A case that failed segmentation QC keeps its value with ``qc_pass = False`` and the reason; a quantity
    that cannot be computed is NaN with the reason. Nothing is dropped silently. ``noise_floor="background"``
    removes each image's RSS noise floor, estimated from its background air, before the mapping fits where that
    air is noise-only RSS magnitude, and applies the SNR criterion (:mod:`cardiomm.quantify.noise`); ``"none"``
    fits the magnitudes as they are. Each biomarker row says what was done (``noise_floor``) and the ROI
    statistic (``statistic``).
    """
    import pandas as pd

    from cardiomm.cohort import TimingMissing
    from cardiomm.io.nifti import load_image
    from cardiomm.quantify.cine import cine_phenotypes
    from cardiomm.quantify.mapping import map_series, myocardial_summary, series_noise
    from cardiomm.quantify.noise import floor_summary
    from cardiomm.quantify.wall_thickness import aha_segments

    qc = pd.read_csv(seg_table).set_index(["mask", "modality"])
    rows = []
    for mod, mk in _series(inputs):
        ok = bool(qc.loc[(mk, mod), "qc_pass"])
        qc_reason = "" if ok else f"segmentation QC: {qc.loc[(mk, mod), 'qc_reason']}"
        labels, geom = load_image(inputs[key(mod, mk, "seg")])
        labels = labels.astype(np.uint8)
        if MODALITIES[mod].analysis == "phenotypes":
            values, notes = cine_phenotypes(labels, geom, ed=ed)
            log.info("%s %s %s cine: %s", method, mk, subject.id, "; ".join(notes))
            for k, (v, why) in values.items():
                reason = "; ".join(r for r in (qc_reason, why) if r)
                rows.append(_row(subject, method, mk, k, v, ok and np.isfinite(v) and not why, reason))
            continue
        bm = MODALITIES[mod].biomarker
        images, _ = load_image(inputs[key(mod, mk, "image")])
        try:
            times, timing_source = subject.times(mod, nz=images.shape[1], nt=images.shape[0])
        except TimingMissing as err:  # a release without timing and none configured: this biomarker only
            log.warning("%s %s %s: %s skipped (its map file is all zero, the convention for no fit): %s",
                        subject.id, mod, mk, bm, err)
            save_image(outputs[key(mod, mk, "map")],
                       np.zeros((1, *images.shape[1:]), np.float32), geom)
            rows.append(_row(subject, method, mk, bm, float("nan"), False, f"no timing: {err}",
                             timing_source="none"))
            continue
        log.info("%s %s %s: timing from %s", subject.id, mod, mk, timing_source)
        body = images.mean(axis=0) > 0.05 * np.percentile(images.mean(axis=0), 99)
        noise = series_noise(images) if noise_floor == "background" else None
        floor = floor_summary(noise)
        log.info("%s %s %s %s: noise floor %s", method, mk, subject.id, mod, floor)
        vmap, valid = map_series(images, times, bm, mask=body, noise=noise)
        save_image(outputs[key(mod, mk, "map")], np.nan_to_num(vmap)[None].astype(np.float32),
                   geom)
        try:
            segs = aha_segments(labels[0], geom)
        except ValueError:
            segs = None
        summ = myocardial_summary(vmap, valid, labels[0], geom, segments=segs)
        v = float(summ["value"])
        reason = summ.get("reason") or ""
        reason = "; ".join(r for r in (qc_reason, reason) if r)
        rows.append(_row(subject, method, mk, bm, v, ok and np.isfinite(v), reason,
                         n_pixels=summ.get("n_pixels"), n_invalid=summ.get("n_invalid"),
                         timing_source=timing_source, statistic=summ["statistic"], noise_floor=floor))
    write_csv(pd.DataFrame(rows), out_csv)


def indicator_tables(quant_files: list[str], truth_files: list[str], splits: dict[str, str], out_phenotypes: str,
                     out_biomarkers: str) -> None:
    """Long tables of phenotypes and biomarkers: truth rows (phantom), reference and every method x mask."""
    import pandas as pd

    from cardiomm.conventions import BIOMARKERS, FULLY_SAMPLED, PHENOTYPES, TRUTH

    frames = [pd.read_csv(f) for f in quant_files]
    for f in truth_files:
        t = pd.read_csv(f)
        t["split"] = t["subject"].map(splits)
        t["method"], t["mask"], t["qc_pass"], t["qc_reason"] = TRUTH, FULLY_SAMPLED, True, ""
        frames.append(t)
    df = pd.concat(frames, ignore_index=True)
    cols = ["subject", "split", "method", "mask", "indicator", "unit", "value", "qc_pass", "qc_reason"]
    extra = [c for c in df.columns if c not in cols]
    df = df[cols + extra]
    write_csv(df[df["indicator"].isin(list(PHENOTYPES))][cols], out_phenotypes)
    write_csv(df[df["indicator"].isin(list(BIOMARKERS))], out_biomarkers)


# ------------------------------------------------------------------------------------------------ agreement


def tolerances_from_config(overrides: dict) -> tuple[dict[str, float], dict[str, str]]:
    """Literature tolerances (with their sources), overridden per indicator by the config."""
    from cardiomm.compare.audit import default_tolerances

    tol, src = default_tolerances()
    for k, v in (overrides or {}).items():
        tol[k] = float(v)
        src[k] = "set in the workflow config"
    return tol, src


def agreement(phenotypes_csv: str, biomarkers_csv: str, comparator: str, tolerance_overrides: dict, cohort: str,
              out_csv: str, out_md: str, out_html: str | None = None, out_heatmap: str | None = None,
              null_control: str = "", powered_n: int | None = None) -> None:
    """agreement.csv (against the comparator and, when truth rows exist, against the truth), audit.md, the verdict
    map ``out_heatmap`` (PNG, PDF twin; shown at the top of the audit) and the same audit as HTML with the map
    inlined (shown in the Snakemake report). ``null_control``: why the run has none (``""``: it has one);
    ``powered_n``: the powered audit's n (config ``agreement.powered_n``)."""
    import pandas as pd

    from cardiomm.atomic import write_text
    from cardiomm.compare.agreement import agreement_table
    from cardiomm.compare.audit import audit_markdown
    from cardiomm.conventions import TRUTH

    bio = pd.read_csv(biomarkers_csv)
    df = pd.concat([pd.read_csv(phenotypes_csv), bio], ignore_index=True)
    tol, src = tolerances_from_config(tolerance_overrides)
    main = agreement_table(df, comparator=comparator, tolerances=tol)
    tables = [main]
    for other in ("reference", TRUTH):
        if other != comparator and (df["method"] == other).any():
            tables.append(agreement_table(df, comparator=other, tolerances=tol))
    both = pd.concat(tables, ignore_index=True)
    write_csv(both, out_csv)
    heatmap = None
    if out_heatmap:
        from cardiomm.figures.plots import verdict_heatmap

        verdict_heatmap(both, tol, str(Path(out_heatmap).with_suffix("")), comparator)
        heatmap = os.path.relpath(out_heatmap, Path(out_md).parent)
    md = audit_markdown(both, tol, src, cohort, biomarkers=bio, heatmap=heatmap, null_control=null_control,
                        powered_n=powered_n)
    write_text(out_md, md)
    if out_html:
        from cardiomm.compare.markdown_html import markdown_to_html

        images = {heatmap: Path(out_heatmap).read_bytes()} if heatmap else {}
        write_text(out_html, markdown_to_html(md, f"cardiomm audit: {cohort}", images=images))


# ------------------------------------------------------------------------------------------------ training


def _split_subjects(subjects: list[Subject]) -> tuple[list[Subject], list[Subject]]:
    train = [s for s in subjects if s.split == "train"]
    val = [s for s in subjects if s.split == "val"]
    if not train:
        raise ValueError("no subjects in split 'train' for training")
    return train, val


def train_recon(kind: str, cfg: dict, subjects: list[Subject], cohort: str, modalities: list[str], out_ckpt: str,
                out_card: str, log_dir: str, threads: int) -> dict:
    """Train a reconstruction network (``cardiomm``, ``varnet``, or a published architecture, which reads its
    CLIP folder from ``cfg["clip_dir"]``) on the train/val ``subjects`` of ``cohort``; write checkpoint and model
    card (both by the training engine, :func:`cardiomm.training.fit`)."""
    import torch

    from cardiomm.methods import REGISTRY
    from cardiomm.recon.train import train_model
    from cardiomm.training import ModelCard

    torch.set_num_threads(max(1, int(threads)))
    train, val = _split_subjects(subjects)
    card = ModelCard(out_card, f"{REGISTRY[kind].label} checkpoint ({Path(out_ckpt).name})", {
        "data": f"synthetic cohort '{cohort}' at {train[0].root}: {len(train)} train / {len(val)} val subjects "
                f"({', '.join(s.id for s in train + val)})",
        "modalities": modalities, "model config": cfg.get("model") or "defaults",
        "train config": cfg.get("train") or "defaults",
        "command": f"snakemake --cores {threads} train_all   (rule train_recon, model={kind}; or `make train`)",
    }, notes=("Trained on the fully sampled synthetic phantom only: good for the synthetic cohort, not for real "
              "CMR. Retrain on real CMRxRecon data (README: 'Training for real data')."))
    return train_model(kind, cfg.get("model"), cfg.get("train"), train, val, modalities, out_ckpt, log_dir,
                       card=card, clip_dir=cfg.get("clip_dir"))


def train_segmentation(cfg: dict, subjects: list[Subject], cohort: str, modalities: list[str], out_ckpt: str,
                       out_card: str, log_dir: str, threads: int) -> dict:
    """Train the MONAI segmenter on fully sampled images of the train/val subjects; checkpoint + model card
    (both by the training engine, :func:`cardiomm.training.fit`)."""
    import torch

    from cardiomm.segmentation.data import build_training_pairs
    from cardiomm.segmentation.train import SegTrainConfig, train_segmenter
    from cardiomm.training import ModelCard

    torch.set_num_threads(max(1, int(threads)))
    train, val = _split_subjects(subjects)
    fps = cfg.get("frames_per_series")
    card = ModelCard(out_card, "Segmentation checkpoint (segmentation.pt)", {}, notes=(
        "MONAI 2D U-Net trained on fully sampled synthetic images only (as the paper's segmenter was "
        "trained on fully sampled data). Good for the synthetic cohort; retrain for real data."))
    tp = build_training_pairs(train, modalities, fps)
    vp = build_training_pairs(val, modalities, fps) if val else []
    card.body = {
        "data": f"synthetic cohort '{cohort}': {len(train)} train / {len(val)} val subjects "
                f"({train[0].id}..{(val or train)[-1].id}), fully sampled RSS images, {len(tp)} train / {len(vp)} "
                "val slices", "modalities": modalities, "train config (seed inside)": cfg.get("train") or "defaults",
        "frames per series": fps,
        "command": f"snakemake --cores {threads} train_all   (rule train_segmentation; or `make train`)",
    }
    return train_segmenter(tp, vp, SegTrainConfig.from_dict(cfg.get("train", {})), out_ckpt, log_dir, card=card)


# ------------------------------------------------------------------------------------------------ figures


def _stem(outputs: Mapping[str, str], name: str) -> str:
    return str(Path(outputs[name]).with_suffix(""))


def figures_method(method: str, tables: Mapping[str, str], outputs: Mapping[str, str], comparator: str,
                   tolerance_overrides: dict) -> None:
    """Bland-Altman and identity grids of one method against ``comparator``, from the indicator tables.

    ``tables``: ``phenotypes``, ``biomarkers``; ``outputs``: ``bland_altman``, ``scatter`` -> PNG
    (:meth:`cardiomm.workflow.Plan.figure_method_outputs`; a PDF twin is written beside each). One job per method.
    """
    import pandas as pd

    from cardiomm.figures import plots

    ind = pd.concat([pd.read_csv(tables["phenotypes"]), pd.read_csv(tables["biomarkers"])], ignore_index=True)
    tol, _ = tolerances_from_config(tolerance_overrides)
    plots.bland_altman_grid(ind, comparator, method, _stem(outputs, "bland_altman"), tolerances=tol)
    plots.scatter_identity(ind, comparator, method, _stem(outputs, "scatter"))
    _check_written(outputs)


def figures_images(tables: Mapping[str, str], inputs: Mapping[str, str], outputs: Mapping[str, str],
                   methods: list[str], masks: list[str], modalities: list[str], subject_id: str) -> None:
    """PSNR/SSIM distributions, and images of the first evaluated subject: recon panels, maps, overlays.

    ``tables``: ``image_quality``, ``segmentation``; ``inputs``: ``key("image" | "seg" | "map", method, mask,
    subject, modality)`` -> NIfTI (:meth:`cardiomm.workflow.Plan.figure_inputs`); ``outputs``: figure name -> PNG
    (a PDF twin is written beside each). It needs no agreement statistics, so it runs beside them.
    """
    import pandas as pd

    from cardiomm.compare.image_quality import frame_metrics
    from cardiomm.conventions import FULLY_SAMPLED, LV_MYO, REFERENCE
    from cardiomm.figures import plots
    from cardiomm.io.nifti import load_image

    def stem(name: str) -> str:
        return _stem(outputs, name)

    def load(what: str, method: str, mask: str, sid: str, mod: str) -> np.ndarray:
        return load_image(inputs[key(what, method, mask, sid, mod)])[0]

    plots.quality_distributions(pd.read_csv(tables["image_quality"]), stem("image_quality"))

    sid = subject_id
    for mod in modalities:
        ref = load("image", REFERENCE, FULLY_SAMPLED, sid, mod)
        t, z = 0, ref.shape[1] // 2
        for mk in masks:
            images, metrics = {}, {}
            for me in methods:
                rec = load("image", me, mk, sid, mod)
                images[me] = rec[t, z]
                r = frame_metrics(ref[t:t + 1, z:z + 1], rec[t:t + 1, z:z + 1])[0]
                metrics[me] = (r["psnr"], r["ssim"])
            plots.recon_panel(images, ref[t, z], metrics, f"{sid} {mod} {mk}: slice {z}, frame {t}",
                              stem(key("recon_panel", mod, mk)))

    mapping = [m for m in modalities if MODALITIES[m].analysis == "biomarker"]
    if mapping:
        maps, myo = {}, None
        for mod in mapping:
            bm = MODALITIES[mod].biomarker
            lab = load("seg", REFERENCE, FULLY_SAMPLED, sid, mod)
            z = lab.shape[1] // 2
            myo = lab[0, z] == LV_MYO if myo is None else myo
            for me, mk in [(REFERENCE, FULLY_SAMPLED)] + [(me, masks[-1]) for me in methods if me == "cardiomm"]:
                mp = load("map", me, mk, sid, mod)
                maps[f"{bm} {me}" + ("" if mk == FULLY_SAMPLED else f" {mk}")] = mp[0, z]
        plots.maps_panel(maps, myo, {}, stem("maps"), title=f"{sid}: myocardial maps (mid slice)")

    if key("segmentation", "typical") not in dict(outputs.items()):  # nothing segmented (Plan.figure_outputs)
        _check_written(outputs)
        return
    seg = pd.read_csv(tables["segmentation"])
    cine = seg[(seg["modality"] == modalities[0])].copy()
    if cine.empty:
        raise ValueError(f"figures: the segmentation table {tables['segmentation']} has no {modalities[0]} rows")
    score = cine.filter(like="dice_").mean(axis=1) if any(c.startswith("dice_") for c in cine) else None
    if score is not None and score.notna().any():
        cine["score"] = score
        cine = cine.dropna(subset=["score"]).sort_values("score")
        picks = {"worst": cine.iloc[0], "typical": cine.iloc[len(cine) // 2]}
    else:
        picks = {"worst": cine.iloc[0], "typical": cine.iloc[0]}
    for name, row in picks.items():
        where = (row["method"], row["mask"], row["subject"], row["modality"])
        img, lab = load("image", *where), load("seg", *where)
        z = lab.shape[1] // 2
        extra = f", mean Dice {row['score']:.3f}" if "score" in row else ""
        plots.segmentation_overlay(img[0, z], lab[0, z], f"{name}: {row['subject']} {row['method']} {row['mask']}"
                                   f"{extra}", stem(key("segmentation", name)))
    _check_written(outputs)


def _check_written(outputs: Mapping[str, str]) -> None:
    missing = [f for _, f in outputs.items() if not Path(f).exists()]
    if missing:
        raise RuntimeError(f"figures not written: {missing}")




def provenance_manifest(config: dict, models: dict[str, str], out_json: str) -> None:
    """``provenance.json``: code version, config hash, software versions, checkpoint hashes, the config."""
    import json

    from cardiomm.atomic import write_text
    from cardiomm.provenance import manifest

    write_text(out_json, json.dumps(manifest(config, models), indent=2, default=str) + "\n")


# ------------------------------------------------------------------------------------------------ tuning


def tune_classical(subjects: list[Subject], inputs: Mapping[str, str], tune_cfg: dict, classical_params: dict,
                   command: str, out_table: str, out_summary: str, out_plot_stem: str, out_md: str) -> None:
    """Grid search of the ``cs``/``kttv``/``lps`` weights on validation subjects (:mod:`cardiomm.recon.tune`).

    ``inputs``: ``key(subject, mod, mask, "mask" | "kus")`` -> undersampled files and ``key(subject, mod, "full",
    "ref")`` -> the reference ``.mat`` (:meth:`cardiomm.workflow.Plan.tune_inputs`); ``tune_cfg`` is the config
    block ``tune_classical:``.
    """
    from cardiomm.atomic import write_text
    from cardiomm.conventions import FULLY_SAMPLED
    from cardiomm.recon.cs import CSParams
    from cardiomm.recon.tune import TUNED, Case, central_slices, choose, config_lines, grid_search, plot

    bad = [s.id for s in subjects if s.split != "val"]
    if bad:
        raise ValueError(f"tune_classical: only validation subjects may be used for tuning, got {bad}")
    params = {m: CSParams.from_dict(m, classical_params.get(m, {})) for m in TUNED}
    files = named(inputs)
    modalities = list(dict.fromkeys(m for _, m, mk, _ in files if mk != FULLY_SAMPLED))
    masks = list(dict.fromkeys(mk for _, _, mk, _ in files if mk != FULLY_SAMPLED))
    cases = []
    for s in subjects:
        for mod in modalities:
            ref = cio.read_recon(files[(s.id, mod, FULLY_SAMPLED, "ref")])
            for mk in masks:
                kus = cio.read_kspace(files[(s.id, mod, mk, "kus")], key="kus")
                mask = cio.read_mask(files[(s.id, mod, mk, "mask")])
                for z in central_slices(kus.shape[1], int(tune_cfg["slices"])):
                    cases.append(Case(s.id, mod, mk, z, kus[:, z : z + 1], mask, ref[:, z : z + 1]))
    log.info("tuning on %d validation slices: %s", len(cases), ", ".join(s.id for s in subjects))
    table = grid_search(cases, tune_cfg["grid"], params)
    summary = choose(table)
    write_csv(table, out_table)
    write_csv(summary, out_summary)
    plot(summary, out_plot_stem)
    lines = ["# Classical baselines: weights from the validation split", "",
             f"subjects: {', '.join(s.id for s in subjects)}; modalities: {', '.join(modalities)}; masks: "
             f"{', '.join(masks)}; {len(cases)} slices", "", "```yaml", config_lines(summary, params, command).rstrip(),
             "```", "", summary.to_markdown(index=False, floatfmt=".4g")]
    write_text(out_md, "\n".join(lines) + "\n")
