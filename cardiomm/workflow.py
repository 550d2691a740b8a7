"""The workflow's plan: which subjects, modalities, masks and methods, and where every file lives.

The Snakefile asks a :class:`Plan` for paths; the stage functions in :mod:`cardiomm.stages` take paths.
One place therefore owns the results layout::

    results/<cohort>/undersampled/<subject>/<stem>_mask_<Mask>.mat, <stem>_kus_<Mask>.mat
    results/<cohort>/recon/<method>/<mask>/<subject>/<modality>.mat (reconimage) and .nii.gz
    results/<cohort>/seg/<method>/<mask>/<subject>/<modality>_seg.nii.gz
    results/<cohort>/quant/<method>/<subject>.csv          (long rows, all masks)
    results/<cohort>/tables/*.csv, figures/, audit.md, report.html, provenance.json, costs/, tuning/
    results/training/<name>.pt, <name>.md, <name>_logs/        (the training rules; no cohort level)
    logs/<cohort>/<stage>/..., benchmarks/runs/<cohort>/<stage>/...  (logs/training/, benchmarks/runs/training/)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cardiomm.cohort import Subject, load_cohort
from cardiomm.config import ConfigError, validate_config  # noqa: F401 (ConfigError: re-exported)
from cardiomm.conventions import (  # noqa: F401 (MAPPING_/SEGMENTED_MODALITIES: for the rules)
    FULLY_SAMPLED,
    MAPPING_MODALITIES,
    MODALITIES,
    REFERENCE,
    SEGMENTED_MODALITIES,
    parse_mask_name,
)
from cardiomm.io.releases import acs_lines  # noqa: F401 - re-exported for the rules (wf.acs_lines)
from cardiomm.methods import (  # noqa: F401 (for the rules)
    ACCELERATED,
    CLASSICAL,
    CONTROLS,
    FEATURED,
    METHODS,
    NEEDS_MODEL,
    REGISTRY,
    TRAINABLE,
    TRAINED,
    ReconParams,
)

TABLES = ("image_quality", "segmentation", "phenotypes", "biomarkers", "agreement", "masks")
NEURAL = NEEDS_MODEL  # methods that read a checkpoint (models.<method>) and ask for a GPU
RESCAN = CONTROLS[0]  # the null control (kind control in the registry): a second fully sampled acquisition


KEY_SEP = "__"


def key(*parts: str) -> str:
    """Name of a rule's input/output entry, e.g. ``key("cine", "Uniform8", "kus")`` = ``cine__Uniform8__kus``.

    Modality, mask and method names never contain ``__`` (:func:`cardiomm.conventions.parse_mask_name`), so
    :func:`unkey` inverts it; a part that does contain it (e.g. a subject folder ``P__01``) raises here, at
    start-up, rather than being split wrongly later.
    """
    for p in parts:
        if KEY_SEP in p:
            raise ValueError(f"name {p!r} contains {KEY_SEP!r}, which the workflow uses to join names: rename it")
    return KEY_SEP.join(parts)


def unkey(name: str) -> tuple[str, ...]:
    """Inverse of :func:`key`."""
    return tuple(name.split(KEY_SEP))


def named(entries: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """The entries of a rule's ``input``/``output`` named by :func:`key`, keyed by their parts.

    ``named(sm.output)`` = ``{("cine", "Uniform8", "kus"): path, ...}``; entries without ``__`` (e.g. ``table``,
    ``model``) are skipped. Snakemake's named lists and plain dicts both work.
    """
    return {unkey(name): path for name, path in entries.items() if KEY_SEP in name}


@dataclass
class Plan:
    cohort: str
    root: Path
    synthetic: bool
    subjects: list[Subject]  # the evaluated subjects (eval_splits)
    everyone: list[Subject]  # every subject of the cohort, training splits included
    modalities: list[str]
    masks: list[str]
    methods: list[str]
    config: dict
    release: str = "generic"
    skipped: dict | None = None  # real data: subject id -> why it is (partly) not evaluated (tables/subjects.csv)
    present: dict | None = None  # real data: subject id -> the run's modalities it has (None: all of them)
    layout: str = "cmrxrecon"  # cmrxrecon (a release tree or the synthetic cohort), mrd or twix (scanner raw data)
    prospective: bool = False  # scanner raw data already undersampled: its own mask, no reference
    null_control: str = ""  # why the run has no null control ("" when it has one), for the audit

    @property
    def accelerated_methods(self) -> list[str]:
        """The run's methods under test (one reconstruction per mask): every method but the null controls."""
        return [m for m in self.methods if m not in CONTROLS]

    def method_family(self, stage: str) -> list[tuple[str, str]]:
        """``(rule name, method)`` of a per-method stage (segment, quantify): the fully sampled ones by name
        (``<stage>_reference``, ``<stage>_<control>`` for this run's null controls: one "mask", full), then
        ``<stage>`` for the ``{method}`` wildcard (constrained by :func:`accelerated_only`)."""
        fixed = [REFERENCE] + [c for c in CONTROLS if c in self.methods]
        return [(f"{stage}_{m}", m) for m in fixed] + [(stage, "{method}")]

    @property
    def rescan_subjects(self) -> list[str]:
        """Synthetic runs with the null control: the evaluated subjects, whose phantom is acquired twice."""
        return [s.id for s in self.subjects] if self.synthetic and RESCAN in self.methods else []

    @property
    def iq_protocol(self) -> str:
        """Scoring protocol of the image-quality table: ``image_quality.protocol``, or with ``auto`` (the default)
        the release's official one for real data and ``all-frames`` for the synthetic cohort."""
        from cardiomm.io.releases import RELEASE_PROTOCOL

        chosen = self.config["image_quality"]["protocol"]
        if chosen != "auto":
            return chosen
        return "all-frames" if self.synthetic else RELEASE_PROTOCOL.get(self.release, "all-frames")

    @property
    def res(self) -> str:
        return f"results/{self.cohort}"

    @property
    def runs(self) -> str:
        """The run's Snakemake ``benchmark:`` files (:meth:`bench`), which :mod:`cardiomm.costs` reads."""
        return f"benchmarks/runs/{self.cohort}"

    def recon_params(self, method: str) -> ReconParams:
        """What the recon rule gives ``method`` (:meth:`cardiomm.methods.ReconParams.from_config`)."""
        return ReconParams.from_config(self.config, method)

    @property
    def compared(self) -> list[str]:
        """The reference (when there is one: not for prospectively undersampled data) and every method."""
        return ([] if self.prospective else [REFERENCE]) + list(self.methods)

    # ------------------------------------------------------- scanner raw data and DICOM (cardiomm.stages.ingest)
    @property
    def ingest_root(self) -> str:
        """Where the ingest job writes scanner raw data in the internal layout."""
        return f"{self.res}/ingested"

    def ingest_outputs(self, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, 'kspace' | 'sidecar' | 'timing')`` -> file (fully sampled), or ``key(mod, 'acquired', 'kus' |
        'mask')`` instead of the k-space (prospectively undersampled), for one subject (rule ingest)."""
        from cardiomm.io.releases import kspace_path
        from cardiomm.io.scanner_layout import ACQUIRED

        out = {}
        for m in self.mods(sid, mods):
            k = kspace_path(Path(self.ingest_root), self.layout, (sid,), m)
            if self.prospective:
                out |= {key(m, ACQUIRED, w): self.undersampled(sid, m, ACQUIRED, w) for w in ("mask", "kus")}
            else:
                out[key(m, "kspace")] = str(k)
            out[key(m, "sidecar")] = str(k.with_suffix(".json"))
            if MODALITIES[m].analysis == "biomarker":
                out[key(m, "timing")] = str(k.with_suffix(".csv"))
        return out

    @property
    def dicom_enabled(self) -> bool:
        return bool(self.config.get("dicom", {}).get("enabled", True))

    def dicom_dir(self, sid: str = "{subject}") -> str:
        return f"{self.res}/dicom/{sid}"

    def dicom_inputs(self, sid: str) -> dict[str, str]:
        """One subject's DICOM export: ``key('image', method, mask, mod)`` -> reconstruction NIfTI of every series,
        ``key('seg', ...)`` -> label map of the segmented ones, ``key('map', ...)`` -> biomarker map, and for
        scanner raw data ``key('sidecar', mod)`` -> the ingest sidecar (identifiers, sequence times). The null
        control is the gauge's check, not a result for a viewer: it is not exported."""
        files = {}
        for me in [m for m in self.compared if m not in CONTROLS]:
            for mk in self.masks_for(me):
                for m in self.mods(sid):
                    files[key("image", me, mk, m)] = self.recon(me, mk, sid, m)
                for m in self.seg_mods(sid):
                    files[key("seg", me, mk, m)] = self.seg(me, mk, sid, m)
                for m in self.mapping_modalities(sid):
                    files[key("map", me, mk, m)] = self.quant_map(me, mk, sid, m)
        s = self.subject(sid)
        if s.raw:
            files |= {key("sidecar", m): str(s.sidecar_path(m)) for m in self.mods(sid)}
        return files

    def dicom_files(self) -> list[str]:
        return [self.dicom_dir(s.id) for s in self.subjects] if self.dicom_enabled else []

    # ---------------------------------------------------------------- modalities per subject
    def mods(self, sid: str, mods: list[str] | None = None) -> list[str]:
        """The run's modalities that subject ``sid`` has (``mods`` when given: a rule group's, see :meth:`groups`).

        Every per-subject entry is built from this, so a subject without a modality's file has no input, output or
        table row for that modality (the reason is in ``tables/subjects.csv``). A wildcard ``sid`` (``{subject}``)
        without ``mods`` gets every modality of the run.
        """
        if mods is not None:
            return list(mods)
        if self.present is not None and sid in self.present:
            return list(self.present[sid])
        return list(self.modalities)

    def seg_mods(self, sid: str, mods: list[str] | None = None) -> list[str]:
        """The segmented (and quantified) modalities of a subject: cine SAX and the mapping series; the image-only
        views and contrasts (``conventions.Modality.analysis == "image"``) are reconstructed and scored only."""
        return [m for m in self.mods(sid, mods) if MODALITIES[m].segmented]

    @property
    def seg_subjects(self) -> list[Subject]:
        """The evaluated subjects with at least one segmented modality (the segmentation/quantification tables)."""
        return [s for s in self.subjects if self.seg_mods(s.id)]

    def groups(self) -> list[tuple[str, list[str], list[str]]]:
        """``(rule-name suffix, subject ids, modalities)``: the subjects (of everyone) that share one set of present
        modalities. Snakemake outputs cannot depend on a wildcard's value, so each per-subject rule is declared once
        per group, its ``subject`` wildcard constrained to the group's ids. One group (every synthetic run, a real
        tree where every subject has every modality) keeps the plain rule names (suffix ``""``)."""
        if self.present is None:
            return [("", [s.id for s in self.everyone], list(self.modalities))]
        by: dict[tuple[str, ...], list[str]] = {}
        for s in self.everyone:
            mods = tuple(self.mods(s.id))
            if mods:
                by.setdefault(mods, []).append(s.id)
        if len(by) == 1:
            (mods, ids), = by.items()
            return [("", ids, list(mods))]
        return [(f"_set{i + 1}", ids, list(mods)) for i, (mods, ids) in enumerate(by.items())]

    # ---------------------------------------------------------------- inputs
    def subject(self, sid: str) -> Subject:
        for s in self.everyone:
            if s.id == sid:
                return s
        raise KeyError(f"subject {sid!r} is not in cohort {self.cohort!r}")

    def kspace_files(self, sid: str) -> list[str]:
        s = self.subject(sid)
        return [str(s.kspace_path(m)) for m in self.mods(sid)] + self.timing_files(sid)

    def timing_files(self, sid: str) -> list[str]:
        """Timing CSVs of a subject's mapping series; for real data only those the tree has (2024 and 2025 ship
        none: their times come from the config, see :meth:`cardiomm.cohort.Subject.times`)."""
        s = self.subject(sid)
        paths = [s.timing_path(m) for m in self.mods(sid) if MODALITIES[m].analysis == "biomarker"]
        return [str(p) for p in paths if self.synthetic or s.raw or p.exists()]

    # ---------------------------------------------------------------- per-stage files
    # Every rule declares its files as named entries built here: the key of a series is
    # ``key(modality, mask, what)`` (:func:`key`), so a stage function finds each file by name, never by position.

    def undersampled(self, sid: str, mod: str, mask: str, what: str) -> str:
        return f"{self.res}/undersampled/{sid}/{MODALITIES[mod].stem}_{what}_{mask}.mat"

    def coilmaps(self, sid: str, mod: str, mask: str) -> str:
        return f"{self.res}/coilmaps/{sid}/{MODALITIES[mod].stem}_{mask}.npy"

    def recon(self, method: str, mask: str, sid: str, mod: str, ext: str = "nii.gz") -> str:
        return f"{self.res}/recon/{method}/{mask}/{sid}/{mod}.{ext}"

    def seg(self, method: str, mask: str, sid: str, mod: str) -> str:
        return f"{self.res}/seg/{method}/{mask}/{sid}/{mod}_seg.nii.gz"

    @property
    def segmenter_export(self) -> str:
        """The run's TorchScript export of the builtin segmenter (rule export_segmenter)."""
        return f"{self.res}/models/segmenter.torchscript"

    def seg_table(self, method: str, sid: str) -> str:
        """Per subject x method: QC flags (and Dice/HD95 when labels are known) of every series."""
        return f"{self.res}/seg/{method}/{sid}.csv"

    def quant_table(self, method: str, sid: str) -> str:
        """Per subject x method: long rows of every indicator, every mask."""
        return f"{self.res}/quant/{method}/{sid}.csv"

    def quant_map(self, method: str, mask: str, sid: str, mod: str) -> str:
        return f"{self.res}/quant/{method}/{mask}/{sid}/{MODALITIES[mod].biomarker}_map.nii.gz"

    def iq_table(self, method: str, sid: str) -> str:
        return f"{self.res}/iq/{method}/{sid}.csv"

    def log(self, stage: str, *parts: str) -> str:
        """``logs/<cohort>/<stage>/<part>/.../<last>.log`` (the last part is usually the subject)."""
        return "/".join([f"logs/{self.cohort}", stage, *parts]) + ".log"

    def bench(self, stage: str, *parts: str) -> str:
        """Snakemake ``benchmark:`` file; :mod:`cardiomm.costs` reads the same layout."""
        return "/".join([self.runs, stage, *parts]) + ".tsv"

    def masks_for(self, method: str) -> list[str]:
        """``[full]`` for the reference and the null controls (fully sampled), else the run's masks."""
        return [FULLY_SAMPLED] if method == REFERENCE or method in CONTROLS else list(self.masks)

    def rescan_inputs(self, sid: str) -> dict[str, str]:
        """The null control's job: ``key(mod, 'kspace')`` -> the repeated acquisition of every series of ``sid``."""
        s = self.subject(sid)
        return {key(m, "kspace"): str(s.rescan_path(m)) for m in self.mods(sid)}

    def iq_inputs(self, method: str, sid: str) -> dict[str, str]:
        """The image-quality job of one subject x method: ``key(mod, mask, 'method')`` -> the method's ``.mat`` and
        ``key(mod, 'full', 'reference')`` -> the reference's (a null control's mask is ``full`` too)."""
        files = {key(m, FULLY_SAMPLED, REFERENCE): self.recon(REFERENCE, FULLY_SAMPLED, sid, m, "mat")
                 for m in self.mods(sid)}
        files |= {key(m, mk, "method"): self.recon(method, mk, sid, m, "mat") for mk in self.masks_for(method)
                  for m in self.mods(sid)}
        return files

    def mapping_modalities(self, sid: str | None = None, mods: list[str] | None = None) -> list[str]:
        """The run's (or with ``sid``, that subject's) series with a biomarker fit."""
        chosen = self.modalities if sid is None and mods is None else self.mods(sid or "{subject}", mods)
        return [m for m in chosen if MODALITIES[m].analysis == "biomarker"]

    # named entries of the stage rules; ``mods``: the modalities of a rule group (:meth:`groups`), else the subject's
    def undersample_outputs(self, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask, 'mask' | 'kus')`` -> file, for every modality x mask of one subject."""
        return {key(m, mk, w): self.undersampled(sid, m, mk, w) for m in self.mods(sid, mods) for mk in self.masks
                for w in ("mask", "kus")}

    def shared_maps_methods(self) -> list[str]:
        """Classical methods of this run that take their ESPIRiT maps from the coil-maps job (SigPy engine; BART
        calibrates with its own ``ecalib``)."""
        return [m for m in self.methods if m in CLASSICAL
                and (self.config.get(m) or {}).get("engine", "sigpy") == "sigpy"]

    def coilmaps_outputs(self, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask, 'maps')`` -> ESPIRiT maps of every modality x mask of one subject (rule coilmaps)."""
        return {key(m, mk, "maps"): self.coilmaps(sid, m, mk) for m in self.mods(sid, mods) for mk in self.masks}

    def recon_inputs(self, sid: str, mask: str, method: str | None = None) -> dict[str, str]:
        """One reconstruction job (subject x method x mask): ``key(mod, 'mask' | 'kus')`` -> undersampled file, and
        ``key(mod, 'maps')`` -> the coil-maps job's maps for the methods of :meth:`shared_maps_methods`."""
        files = {key(m, w): self.undersampled(sid, m, mask, w) for m in self.mods(sid) for w in ("mask", "kus")}
        if method in self.shared_maps_methods():
            files.update({key(m, "maps"): self.coilmaps(sid, m, mask) for m in self.mods(sid)})
        return files

    def recon_outputs(self, method: str, mask: str, sid: str = "{subject}",
                      mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, 'mat' | 'nii')`` -> the reconstruction files of one subject x method x mask (the mask may be
        the wildcard ``{mask}``, so it is not part of the key)."""
        return {key(m, w): self.recon(method, mask, sid, m, ext) for m in self.mods(sid, mods)
                for w, ext in (("mat", "mat"), ("nii", "nii.gz"))}

    def method_images(self, method: str, sid: str = "{subject}", ext: str = "nii.gz",
                      mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask)`` -> reconstruction of every mask x modality of one subject x method."""
        return {key(m, mk): self.recon(method, mk, sid, m, ext) for mk in self.masks_for(method)
                for m in self.mods(sid, mods)}

    def seg_images(self, method: str, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask)`` -> reconstruction NIfTI of every mask x segmented modality (the segment rule's input)."""
        return {key(m, mk): self.recon(method, mk, sid, m) for mk in self.masks_for(method)
                for m in self.seg_mods(sid, mods)}

    def method_segs(self, method: str, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask)`` -> label map of every mask x segmented modality of one subject x method."""
        return {key(m, mk): self.seg(method, mk, sid, m) for mk in self.masks_for(method)
                for m in self.seg_mods(sid, mods)}

    def method_maps(self, method: str, sid: str = "{subject}", mods: list[str] | None = None) -> dict[str, str]:
        """``key(mod, mask)`` -> biomarker map of every mask x mapping modality of one subject x method."""
        return {key(m, mk): self.quant_map(method, mk, sid, m) for mk in self.masks_for(method)
                for m in self.mapping_modalities(sid, mods)}

    @property
    def noise_floor(self) -> str:
        """The mapping fits' noise-floor model (``quantify.noise_floor``), the same for every image of the run.
        Prospectively undersampled scans have no fully sampled acquisition to take the floor from: ``none``."""
        return "none" if self.prospective else self.config["quantify"]["noise_floor"]

    def quant_inputs(self, method: str, sid: str) -> dict[str, str]:
        """One quantify job (subject x method): ``key(mod, mask, 'image' | 'seg')`` -> reconstruction and labels of
        every segmented series, ``qc`` -> the segment job's table; per mapping series the acquisition's fully
        sampled image ``key(mod, 'noise')`` (the noise floor, the same for every method), the reference's labels
        ``key(mod, 'refseg')`` and QC table ``refqc`` (a method's reconstruction-only rows); for the reference of
        a synthetic subject the phantom's true map and labels ``key(mod, 'truth' | 'truthseg')`` (truth rows)."""
        files = {key(*unkey(k), "image"): v for k, v in self.seg_images(method, sid).items()}
        files |= {key(*unkey(k), "seg"): v for k, v in self.method_segs(method, sid).items()}
        files["qc"] = self.seg_table(method, sid)
        s, maps = self.subject(sid), self.mapping_modalities(sid)
        for mod in maps:
            if self.prospective:  # no fully sampled acquisition: no floor from it, no reference labels
                continue
            if method != REFERENCE:  # the reference's own image is its series' fully sampled data
                files[key(mod, "noise")] = self.recon(REFERENCE, FULLY_SAMPLED, sid, mod)
                files[key(mod, "refseg")] = self.seg(REFERENCE, FULLY_SAMPLED, sid, mod)
            elif self.synthetic:
                files[key(mod, "truth")] = str(s.truth_map_path(MODALITIES[mod].biomarker))
                files[key(mod, "truthseg")] = str(s.label_path(mod))
        if method != REFERENCE and maps and not self.prospective:
            files["refqc"] = self.seg_table(REFERENCE, sid)
        return files

    def tune_inputs(self, subjects: list[str], modalities: list[str]) -> dict[str, str]:
        """Files of the classical tuning (validation ``subjects``): ``key(subject, mod, mask, 'mask' | 'kus')``
        and ``key(subject, mod, 'full', 'ref')`` -> the reference ``.mat``."""
        files = {key(s, m, mk, w): self.undersampled(s, m, mk, w) for s in subjects for m in modalities
                 if m in self.mods(s) for mk in self.masks for w in ("mask", "kus")}
        files |= {key(s, m, FULLY_SAMPLED, "ref"): self.recon(REFERENCE, FULLY_SAMPLED, s, m, "mat")
                  for s in subjects for m in modalities if m in self.mods(s)}
        return files

    def table(self, name: str) -> str:
        return f"{self.res}/tables/{name}.csv"

    def verdict_map(self) -> str:
        """The audit's verdict map (PNG, a PDF twin beside it), shown at the top of ``audit.md``."""
        return f"{self.res}/figures/verdict_map.png"

    def audit(self, ext: str = "md") -> str:
        """The preservation audit, ``audit.md`` (``ext="html"``: its HTML twin shown in the report)."""
        return f"{self.res}/audit.{ext}"

    @property
    def provenance_file(self) -> str:
        return f"{self.res}/provenance.json"

    def tuning_outputs(self) -> dict[str, str]:
        """The classical tuning's files (rule tune_classical): ``table``, ``summary``, ``plot`` (PNG), ``md``."""
        t = f"{self.res}/tuning"
        return {"table": f"{t}/classical_grid.csv", "summary": f"{t}/classical_summary.csv",
                "plot": f"{t}/classical.png", "md": f"{t}/classical.md"}

    # ---------------------------------------------------------------- training (no cohort level: shared weights)
    TRAINING = "results/training"

    def checkpoint(self, name: str) -> str:
        """A trained checkpoint, ``name`` a trainable method (the rule's ``{model}``) or ``segmentation``."""
        return f"{self.TRAINING}/{name}.pt"

    def model_card(self, name: str) -> str:
        return f"{self.TRAINING}/{name}.md"

    def training_log_dir(self, name: str) -> str:
        """The training engine's files (resume state, CSV log, learning curve)."""
        return f"{self.TRAINING}/{name}_logs"

    def training_log(self, name: str) -> str:
        return f"logs/training/{name}.log"

    def training_bench(self, name: str) -> str:
        return f"benchmarks/runs/training/{name}.tsv"

    def training_targets(self) -> list[str]:
        """What ``train_all`` makes: the segmenter, the networks this pipeline ships (:data:`cardiomm.methods.TRAINED`)
        and the published architectures listed in ``train.published``."""
        names = ["segmentation", *TRAINED, *self.config["train"]["published"]]
        return [self.checkpoint(n) for n in dict.fromkeys(names)]

    @property
    def figure_subject(self) -> str:
        """The subject whose images the figures show: the first evaluated one with the most segmented modalities,
        then the most modalities (every one of them in a synthetic run). A real tree's richest subject may have
        image-only series alone; the segmentation figures need a segmented one."""
        return max(self.subjects, key=lambda s: (len(self.seg_mods(s.id)), len(self.mods(s.id)))).id

    def figure_modalities(self) -> list[str]:
        """The figure subject's modalities, segmented ones first (the first is the one the segmentation figures
        pick cases of)."""
        mods = self.mods(self.figure_subject)
        return [m for m in mods if MODALITIES[m].segmented] + [m for m in mods if not MODALITIES[m].segmented]

    def figure_outputs(self) -> dict[str, str]:
        """Every paper figure by name (PNG; a PDF twin is written beside each)."""
        fig = f"{self.res}/figures"
        files = {key(w, m): f for m in self.methods for w, f in self.figure_method_outputs(m).items()}
        files["image_quality"] = f"{fig}/image_quality.png"
        files |= {key("recon_panel", m, mk): f"{fig}/recon_panel_{m}_{mk}.png" for m in self.figure_modalities()
                  for mk in self.masks}
        if self.mapping_modalities(self.figure_subject):
            files["maps"] = f"{fig}/maps.png"
        if MODALITIES[self.figure_modalities()[0]].segmented:  # else nothing was segmented: no overlays
            files |= {key("segmentation", w): f"{fig}/segmentation_{w}.png" for w in ("typical", "worst")}
        return files

    def figure_method_outputs(self, method: str = "{method}") -> dict[str, str]:
        """One method's figures (rule figures_method): ``bland_altman`` and ``scatter`` -> PNG."""
        return {w: f"{self.res}/figures/{w}_{method}.png" for w in ("bland_altman", "scatter")}

    def figure_image_outputs(self) -> dict[str, str]:
        """Every figure that is not one method's (rule figures_images): image quality, recon panels, maps,
        segmentation overlays."""
        per_method = {key(w, m) for w in ("bland_altman", "scatter") for m in self.methods}
        return {k: f for k, f in self.figure_outputs().items() if k not in per_method}

    def figure_files(self) -> list[str]:
        return list(self.figure_outputs().values())

    def figure_inputs(self) -> dict[str, str]:
        """Images the figures show: every reconstruction of the figure subject (:attr:`figure_subject`), the label
        maps and reconstructions of its first segmented modality of everyone who has it (the typical and worst
        segmentation may be anyone's), and the reference's mapping labels and the maps of the figure subject."""
        sid0 = self.figure_subject
        mods0 = self.figure_modalities()
        every = [REFERENCE] + self.methods
        files = {key("image", me, mk, sid0, m): self.recon(me, mk, sid0, m) for me in every
                 for mk in self.masks_for(me) for m in mods0}
        m = mods0[0]
        for s in self.subjects if MODALITIES[m].segmented else []:
            if m not in self.mods(s.id):
                continue
            for me in every:
                for mk in self.masks_for(me):
                    files[key("image", me, mk, s.id, m)] = self.recon(me, mk, s.id, m)
                    files[key("seg", me, mk, s.id, m)] = self.seg(me, mk, s.id, m)
        for m in self.mapping_modalities(sid0):
            files[key("seg", REFERENCE, FULLY_SAMPLED, sid0, m)] = self.seg(REFERENCE, FULLY_SAMPLED, sid0, m)
            for me, mk in [(REFERENCE, FULLY_SAMPLED)] + [(me, self.masks[-1]) for me in self.methods
                                                          if me in FEATURED]:
                files[key("map", me, mk, sid0, m)] = self.quant_map(me, mk, sid0, m)
        return files

    def cost_file(self, ext: str) -> str:
        """The run's stage cost table (:mod:`cardiomm.costs`; ``ext``: ``csv`` or ``md``), machine-dependent, so
        outside ``tables/``."""
        return f"{self.res}/costs/stage_costs.{ext}"

    def cost_files(self) -> list[str]:
        return [self.cost_file("csv"), self.cost_file("md")]

    def final_targets(self) -> list[str]:
        subjects = [] if self.synthetic else [self.table("subjects")]
        if self.prospective:  # no reference: no image quality, agreement or figures against it (stages.ingest)
            return ([self.table(t) for t in TABLES] + subjects + [self.audit(), self.provenance_file]
                    + self.dicom_files())
        return ([self.table(t) for t in TABLES] + subjects + [self.audit(), self.provenance_file]
                + self.figure_files() + self.cost_files() + self.dicom_files())


def accelerated_only(method: str) -> dict[str, str]:
    """Wildcard constraint of a family's ``{method}`` rule (:meth:`Plan.method_family`): the accelerated methods
    (the null controls have rules of their own); ``{}`` for the named members."""
    return {"method": "|".join(ACCELERATED)} if method == "{method}" else {}


def export_pythonpath(basedir: str | Path) -> None:
    """Put the checkout on ``PYTHONPATH`` so every job (conda env, cluster node) imports this ``cardiomm``."""
    parts = [str(basedir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def _check_models(config: dict, methods: list[str]) -> None:
    for name in [m for m in methods if m in NEURAL] + ["segmentation"]:
        if not config.get("models", {}).get(name):
            raise ConfigError(f"config models.{name} is missing (needed for method {name!r})")
    for name in methods:  # what a method's registry entry says it needs (Method.requires)
        for path, what in REGISTRY[name].requires.items():
            value: object = config
            for part in path.split("."):
                value = (value or {}).get(part) if isinstance(value, Mapping) else None
            if not value:
                raise ConfigError(f"config {path} is missing (needed for method {name!r}): {what}")


def plan_from_config(config: dict, workdir: str | Path = ".") -> Plan:
    """Check the config (schema first: its defaults are filled in, in place) and build the :class:`Plan`
    (raises :class:`ConfigError`)."""
    validate_config(config)
    workdir = Path(workdir)
    masks = list(config["masks"])
    for m in masks:
        try:
            parse_mask_name(m)
        except ValueError as err:
            raise ConfigError(f"config masks: {err}") from None
    methods = list(config["methods"])
    _check_models(config, methods)
    data = config["data"]
    root = Path(data["root"])
    if not data["synthetic"] and not root.is_dir():
        raise ConfigError(f"config data.root: {root} is not a directory")
    everyone = all_subjects(config)
    eval_subjects = [s for s in everyone if s.split in config["eval_splits"]]
    modalities = list(config["modalities"])
    release = everyone[0].release if everyone else "generic"
    skipped: dict[str, str] = {}
    present: dict[str, list[str]] | None = None
    if not data["synthetic"]:
        modalities, eval_subjects, skipped, present = _real_selection(eval_subjects, everyone, modalities, release,
                                                                      root)
    if not eval_subjects:
        raise ConfigError(f"no subjects in splits {config['eval_splits']} with any of {modalities} "
                          f"under {root}")
    prospective = any(s.prospective for s in eval_subjects)
    if prospective:
        from cardiomm.io.scanner_layout import ACQUIRED

        print(f"cardiomm: prospectively undersampled scans: their own sampling (mask {ACQUIRED!r}) replaces "
              f"config masks {masks}; no reference, so no image quality or agreement", file=sys.stderr)
        masks = [ACQUIRED]
    if not data["synthetic"]:
        check_timing(eval_subjects, present)
    methods, null_control = _null_control(methods, bool(data["synthetic"]), eval_subjects, modalities, present)
    return Plan(config["cohort"], root, bool(data["synthetic"]), eval_subjects, everyone,
                modalities, masks, methods, config, release, skipped, present,
                release if release in ("mrd", "twix") else "cmrxrecon", prospective, null_control)


def check_timing(subjects: list[Subject], present: dict | None) -> None:
    """Every evaluated subject's timing files, checked against its images' counts at start-up (a bad file stops
    the run in seconds, naming the file, instead of in the quantify job after the reconstructions)."""
    from cardiomm.cohort import TimingMissing
    from cardiomm.io.cmrxrecon import CMRxReconFileError, kspace_shape

    for s in subjects:
        if s.raw:  # scanner data: the probe checked the file's times (cardiomm.io.scanner_layout)
            continue
        for m in (present or {}).get(s.id, []):
            if MODALITIES[m].analysis != "biomarker":
                continue
            try:
                nt, nz = kspace_shape(s.kspace_path(m))[:2]
                s.times(m, nz=nz, nt=nt)
            except TimingMissing:
                continue  # no timing anywhere: that biomarker is skipped with the reason (quantify)
            except (CMRxReconFileError, ValueError) as err:
                raise ConfigError(f"subject {s.id} {m}: {err}") from None


def _null_control(methods: list[str], synthetic: bool, subjects: list[Subject], modalities: list[str],
                  present: dict[str, list[str]] | None) -> tuple[list[str], str]:
    """The run's methods with the null control decided, and why it is absent (``""`` when present).

    Synthetic: ``rescan`` is always run (added, in registry order, when the config leaves it out): the phantom can
    acquire every subject twice. Real data: kept only when every evaluated subject has a repeated acquisition of
    every series it has (:meth:`cardiomm.cohort.Subject.rescan_path`); otherwise dropped with a logged line naming
    the first missing file. It is never invented.
    """
    if synthetic:
        if RESCAN not in methods:
            print("cardiomm: method rescan (the null control) added: every synthetic audit has it", file=sys.stderr)
            methods = [m for m in METHODS if m in {*methods, RESCAN}]
        return methods, ""
    missing = [s.rescan_path(m) for s in subjects for m in (present or {}).get(s.id, modalities)
               if not s.has_rescan(m)]
    if not missing:
        return methods, "" if RESCAN in methods else ("the data hold repeated acquisitions, but rescan is not "
                                                      "among the configured methods")
    why = (f"the data hold no repeated acquisition for every series (e.g. {missing[0]} is missing; "
           f"{len(missing)} series lack one), so there is no null control")
    if RESCAN in methods:
        print(f"cardiomm: method rescan dropped: {why}", file=sys.stderr)
    return [m for m in methods if m != RESCAN], why


def _real_selection(subjects: list[Subject], everyone: list[Subject], modalities: list[str], release: str,
                    root: Path) -> tuple[list[str], list[Subject], dict[str, str], dict[str, list[str]]]:
    """Real data: the configured modalities that the tree has, and which of them each subject has.

    A modality no evaluated subject has (e.g. T1rho outside the 2025 release) is dropped from the run with a
    logged line. A subject lacking one of the remaining modalities is skipped for that modality only (a logged
    line, and the reason in ``tables/subjects.csv``); a subject with none of them is skipped whole. Nothing fails
    because a file is absent, unless no subject is left at all, or no modality that is segmented and quantified
    (cine, the maps) is left: the tables of phenotypes, biomarkers and their agreement would have nothing to hold.

    Returns ``(modalities, evaluated subjects, reasons by subject id, modalities by subject id (everyone))``.
    """
    present = [m for m in modalities if any(s.has(m) for s in subjects)]
    for s in everyone:
        if not any(s.has(m) for m in modalities) and s.raw_problems:
            print(f"cardiomm: subject {s.id}: " + "; ".join(f"{k if k != '*' else 'subject'}: {v}"
                                                             for k, v in s.raw_problems.items()), file=sys.stderr)
    for m in modalities:
        if m not in present:
            print(f"cardiomm: modality {m} dropped: no subject of release {release} under {root} has it "
                  f"(expected e.g. {subjects[0].kspace_path(m) if subjects else '?'})"
                  + "".join(f"; {s.id}: {s.raw_problems[m]}" for s in subjects if m in s.raw_problems),
                  file=sys.stderr)
    if not present:
        raise ConfigError(f"config modalities: none of {modalities} is present under {root} (release {release})")
    if not any(MODALITIES[m].segmented for m in present):
        raise ConfigError(f"config modalities: of {present} (present under {root}) none is segmented and quantified; "
                          f"add one of {list(SEGMENTED_MODALITIES)} (the others are image-quality only)")
    per_subject = {s.id: [m for m in present if s.has(m)] for s in everyone}
    dropped = {s.id: "; ".join(f"{m} skipped: {s.raw_problems[m]}" for m in modalities
                               if m not in present and m in s.raw_problems) for s in everyone}
    ids = {s.id for s in subjects}
    skipped: dict[str, str] = {}
    evaluated = []
    for s in everyone:
        missing = [m for m in present if m not in per_subject[s.id]]
        if not missing:
            if s.id in ids:
                evaluated.append(s)
                if dropped[s.id]:  # scanner data: a series that could not be used, for tables/subjects.csv
                    skipped[s.id] = dropped[s.id]
            continue
        why = "; ".join([f"{m} skipped: {s.missing_reason(m)}" for m in missing]
                        + ([dropped[s.id]] if dropped[s.id] else []))
        if s.id in ids and per_subject[s.id]:
            evaluated.append(s)
            skipped[s.id] = why
            print(f"cardiomm: subject {s.id}: {why}", file=sys.stderr)
        elif s.id in ids:
            skipped[s.id] = f"none of {present}: {why}"
            print(f"cardiomm: skipping subject {s.id}: {skipped[s.id]}", file=sys.stderr)
    return present, evaluated, skipped, per_subject


def all_subjects(config: dict) -> list[Subject]:
    """Every subject of the configured cohort (all splits), for training rules."""
    validate_config(config)
    data = config["data"]
    root = Path(data["root"])
    if data["synthetic"]:
        from cardiomm.cohort import subject_from_row
        from cardiomm.phantom.generate import PhantomConfig, cohort_specs

        pcfg = PhantomConfig.from_dict(config["phantom"])
        return [subject_from_row(root, {k: str(v) for k, v in s.row(pcfg).items()}) for s in cohort_specs(pcfg)]
    from cardiomm.io.scanner_layout import RAW_LAYOUTS, detect_layout, load_raw_cohort

    layout = detect_layout(root) if data["layout"] == "auto" else data["layout"]
    if layout in RAW_LAYOUTS:
        return load_raw_cohort(root, layout, f"results/{config['cohort']}/ingested", data["defaults"],
                               data["timing"])
    return load_cohort(root, data["defaults"], data["release"], data["timing"])
