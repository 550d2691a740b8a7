"""The workflow's plan: which subjects, modalities, masks and methods, and where every file lives.

The Snakefile asks a :class:`Plan` for paths; the stage functions in :mod:`cardiomm.stages` take paths.
One place therefore owns the results layout::

    results/<cohort>/undersampled/<subject>/<stem>_mask_<Mask>.mat, <stem>_kus_<Mask>.mat
    results/<cohort>/recon/<method>/<mask>/<subject>/<modality>.mat (reconimage) and .nii.gz
    results/<cohort>/seg/<method>/<mask>/<subject>/<modality>_seg.nii.gz
    results/<cohort>/quant/<method>/<subject>.csv          (long rows, all masks)
    results/<cohort>/tables/*.csv, figures/, audit.md, report.html
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cardiomm.cohort import Subject, load_cohort
from cardiomm.config import ConfigError, validate_config  # noqa: F401 (ConfigError: re-exported)
from cardiomm.conventions import FULLY_SAMPLED, MODALITIES, REFERENCE, parse_mask_name
from cardiomm.io.releases import acs_lines  # noqa: F401 - re-exported for the rules (wf.acs_lines)
from cardiomm.methods import CLASSICAL, METHODS, NEEDS_MODEL, TRAINABLE  # noqa: F401 (for the rules)

TABLES = ("image_quality", "segmentation", "phenotypes", "biomarkers", "agreement", "masks")
NEURAL = NEEDS_MODEL  # methods that read a checkpoint (models.<method>) and ask for a GPU


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
    skipped: dict | None = None  # real data: subject id -> why it is not evaluated (tables/subjects.csv)

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

    # ---------------------------------------------------------------- inputs
    def subject(self, sid: str) -> Subject:
        for s in self.everyone:
            if s.id == sid:
                return s
        raise KeyError(f"subject {sid!r} is not in cohort {self.cohort!r}")

    def kspace_files(self, sid: str) -> list[str]:
        s = self.subject(sid)
        return [str(s.kspace_path(m)) for m in self.modalities] + self.timing_files(sid)

    def timing_files(self, sid: str) -> list[str]:
        """Timing CSVs of a subject's mapping series; for real data only those the tree has (2024 and 2025 ship
        none: their times come from the config, see :meth:`cardiomm.cohort.Subject.times`)."""
        s = self.subject(sid)
        paths = [s.timing_path(m) for m in self.modalities if MODALITIES[m].kind == "mapping"]
        return [str(p) for p in paths if self.synthetic or p.exists()]

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
        return "/".join([f"benchmarks/runs/{self.cohort}", stage, *parts]) + ".tsv"

    def masks_for(self, method: str) -> list[str]:
        return [FULLY_SAMPLED] if method == REFERENCE else list(self.masks)

    def mapping_modalities(self) -> list[str]:
        return [m for m in self.modalities if MODALITIES[m].kind == "mapping"]

    # named entries of the stage rules
    def undersample_outputs(self, sid: str = "{subject}") -> dict[str, str]:
        """``key(mod, mask, 'mask' | 'kus')`` -> file, for every modality x mask of one subject."""
        return {key(m, mk, w): self.undersampled(sid, m, mk, w) for m in self.modalities for mk in self.masks
                for w in ("mask", "kus")}

    def shared_maps_methods(self) -> list[str]:
        """Classical methods of this run that take their ESPIRiT maps from the coil-maps job (SigPy engine; BART
        calibrates with its own ``ecalib``)."""
        return [m for m in self.methods if m in CLASSICAL
                and (self.config.get(m) or {}).get("engine", "sigpy") == "sigpy"]

    def coilmaps_outputs(self, sid: str = "{subject}") -> dict[str, str]:
        """``key(mod, mask, 'maps')`` -> ESPIRiT maps of every modality x mask of one subject (rule coilmaps)."""
        return {key(m, mk, "maps"): self.coilmaps(sid, m, mk) for m in self.modalities for mk in self.masks}

    def recon_inputs(self, sid: str, mask: str, method: str | None = None) -> dict[str, str]:
        """One reconstruction job (subject x method x mask): ``key(mod, 'mask' | 'kus')`` -> undersampled file, and
        ``key(mod, 'maps')`` -> the coil-maps job's maps for the methods of :meth:`shared_maps_methods`."""
        files = {key(m, w): self.undersampled(sid, m, mask, w) for m in self.modalities for w in ("mask", "kus")}
        if method in self.shared_maps_methods():
            files.update({key(m, "maps"): self.coilmaps(sid, m, mask) for m in self.modalities})
        return files

    def recon_outputs(self, method: str, mask: str, sid: str = "{subject}") -> dict[str, str]:
        """``key(mod, 'mat' | 'nii')`` -> the reconstruction files of one subject x method x mask (the mask may be
        the wildcard ``{mask}``, so it is not part of the key)."""
        return {key(m, w): self.recon(method, mask, sid, m, ext) for m in self.modalities
                for w, ext in (("mat", "mat"), ("nii", "nii.gz"))}

    def method_images(self, method: str, sid: str = "{subject}", ext: str = "nii.gz") -> dict[str, str]:
        """``key(mod, mask)`` -> reconstruction of every mask x modality of one subject x method."""
        return {key(m, mk): self.recon(method, mk, sid, m, ext) for mk in self.masks_for(method)
                for m in self.modalities}

    def method_segs(self, method: str, sid: str = "{subject}") -> dict[str, str]:
        """``key(mod, mask)`` -> label map of every mask x modality of one subject x method."""
        return {key(m, mk): self.seg(method, mk, sid, m) for mk in self.masks_for(method) for m in self.modalities}

    def method_maps(self, method: str, sid: str = "{subject}") -> dict[str, str]:
        """``key(mod, mask)`` -> biomarker map of every mask x mapping modality of one subject x method."""
        return {key(m, mk): self.quant_map(method, mk, sid, m) for mk in self.masks_for(method)
                for m in self.mapping_modalities()}

    def tune_inputs(self, subjects: list[str], modalities: list[str]) -> dict[str, str]:
        """Files of the classical tuning (validation ``subjects``): ``key(subject, mod, mask, 'mask' | 'kus')``
        and ``key(subject, mod, 'full', 'ref')`` -> the reference ``.mat``."""
        files = {key(s, m, mk, w): self.undersampled(s, m, mk, w) for s in subjects for m in modalities
                 for mk in self.masks for w in ("mask", "kus")}
        files |= {key(s, m, FULLY_SAMPLED, "ref"): self.recon(REFERENCE, FULLY_SAMPLED, s, m, "mat")
                  for s in subjects for m in modalities}
        return files

    def table(self, name: str) -> str:
        return f"{self.res}/tables/{name}.csv"

    def figure_outputs(self) -> dict[str, str]:
        """Every paper figure by name (PNG; a PDF twin is written beside each)."""
        fig = f"{self.res}/figures"
        files = {key(w, m): f for m in self.methods for w, f in self.figure_method_outputs(m).items()}
        files["image_quality"] = f"{fig}/image_quality.png"
        files |= {key("recon_panel", m, mk): f"{fig}/recon_panel_{m}_{mk}.png" for m in self.modalities
                  for mk in self.masks}
        if self.mapping_modalities():
            files["maps"] = f"{fig}/maps.png"
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
        """Images the figures show: every reconstruction of the first evaluated subject, the label maps and
        reconstructions of the first modality of everyone (the typical and worst segmentation may be anyone's),
        and the reference's mapping labels and the maps of the first subject."""
        sid0 = self.subjects[0].id
        every = [REFERENCE] + self.methods
        files = {key("image", me, mk, sid0, m): self.recon(me, mk, sid0, m) for me in every
                 for mk in self.masks_for(me) for m in self.modalities}
        for s in self.subjects:
            for me in every:
                for mk in self.masks_for(me):
                    m = self.modalities[0]
                    files[key("image", me, mk, s.id, m)] = self.recon(me, mk, s.id, m)
                    files[key("seg", me, mk, s.id, m)] = self.seg(me, mk, s.id, m)
        for m in self.mapping_modalities():
            files[key("seg", REFERENCE, FULLY_SAMPLED, sid0, m)] = self.seg(REFERENCE, FULLY_SAMPLED, sid0, m)
            for me, mk in [(REFERENCE, FULLY_SAMPLED)] + [(me, self.masks[-1]) for me in self.methods
                                                          if me == "cardiomm"]:
                files[key("map", me, mk, sid0, m)] = self.quant_map(me, mk, sid0, m)
        return files

    def cost_files(self) -> list[str]:
        """The run's stage cost table (:mod:`cardiomm.costs`), machine-dependent, so outside ``tables/``."""
        return [f"{self.res}/costs/stage_costs.csv", f"{self.res}/costs/stage_costs.md"]

    def final_targets(self) -> list[str]:
        subjects = [] if self.synthetic else [self.table("subjects")]
        return ([self.table(t) for t in TABLES] + subjects + [f"{self.res}/audit.md", f"{self.res}/provenance.json"]
                + self.figure_files() + self.cost_files())


def export_pythonpath(basedir: str | Path) -> None:
    """Put the checkout on ``PYTHONPATH`` so every job (conda env, cluster node) imports this ``cardiomm``."""
    parts = [str(basedir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def _check_models(config: dict, methods: list[str]) -> None:
    for name in [m for m in methods if m in NEURAL] + ["segmentation"]:
        if not config.get("models", {}).get(name):
            raise ConfigError(f"config models.{name} is missing (needed for method {name!r})")
    if "cardiomm_official" in methods and not (config.get("published") or {}).get("clip_dir"):
        raise ConfigError("config published.clip_dir is missing (needed for method 'cardiomm_official'): a local "
                          "folder with the Hugging Face openai/clip-vit-base-patch16 files; see README "
                          "'Published models'")


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
    if not data["synthetic"]:
        modalities, eval_subjects, skipped = _real_selection(eval_subjects, modalities, release, root)
    if not eval_subjects:
        raise ConfigError(f"no subjects in splits {config['eval_splits']} with all of {modalities} "
                          f"under {root}")
    return Plan(config["cohort"], root, bool(data["synthetic"]), eval_subjects, everyone,
                modalities, masks, methods, config, release, skipped)


def _real_selection(subjects: list[Subject], modalities: list[str], release: str,
                    root: Path) -> tuple[list[str], list[Subject], dict[str, str]]:
    """Real data: the configured modalities that the tree has, and the subjects that have all of them.

    A modality no evaluated subject has (e.g. T1rho outside the 2025 release) is dropped from the run with a
    logged line; a subject lacking one of the remaining modalities is skipped with its reason. Nothing fails
    because a file is absent, unless no subject is left at all.
    """
    present = [m for m in modalities if any(s.has(m) for s in subjects)]
    for m in modalities:
        if m not in present:
            print(f"cardiomm: modality {m} dropped: no subject of release {release} under {root} has it "
                  f"(expected e.g. {subjects[0].kspace_path(m) if subjects else '?'})", file=sys.stderr)
    if not present:
        raise ConfigError(f"config modalities: none of {modalities} is present under {root} (release {release})")
    skipped: dict[str, str] = {}
    complete = []
    for s in subjects:
        missing = [str(s.kspace_path(m)) for m in present if not s.has(m)]
        if missing:
            skipped[s.id] = f"missing {', '.join(missing)}"
            print(f"cardiomm: skipping subject {s.id}: {skipped[s.id]}", file=sys.stderr)
        else:
            complete.append(s)
    return present, complete, skipped


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
    return load_cohort(root, data["defaults"], data["release"], data["timing"])
