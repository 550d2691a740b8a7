"""The configuration schema (cardiomm/schema/config.schema.json): every shipped config passes, the schema's
defaults are filled in, a misspelt key at any level stops the run at start-up with one line naming it, and the
schema's typed blocks have exactly the fields of the dataclasses that read them."""

from __future__ import annotations

import copy
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from snakemake.utils import update_config

from cardiomm.config import ConfigError, load_schema, validate_config

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.name for p in (REPO / "config").glob("*.yaml"))


def _yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _default_config() -> dict:
    return _yaml(REPO / "config.yaml")


def _minimal() -> dict:
    """Only the required keys."""
    return {"cohort": "x", "data": {"root": "data/x", "synthetic": True}, "eval_splits": ["test"],
            "modalities": ["cine"], "masks": ["Uniform8"], "methods": ["zerofilled"],
            "models": {"segmentation": "s.pt"}}


def _plain(value: object) -> object:
    """Tuples as lists, mappings as dicts (what YAML gives and JSON Schema checks)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _resolve(sub: dict) -> dict:
    """Follow a local ``$ref`` (``#/definitions/<name>``)."""
    while "$ref" in sub:
        sub = load_schema()["definitions"][sub["$ref"].rsplit("/", 1)[-1]]
    return sub


def _at(*path: str) -> dict:
    """The (resolved) subschema of a key path, e.g. ``_at("train", "cardiomm", "model")``."""
    sub = load_schema()
    for p in path:
        sub = _resolve(_resolve(sub)["properties"][p])
    return _resolve(sub)


# ------------------------------------------------------------------------------------------- shipped configs


@pytest.mark.parametrize("name", ["config.yaml"] + SHIPPED)
def test_every_shipped_config_validates(name):
    """config.yaml alone, and each config/*.yaml on top of it (as the Snakefile's configfile + --configfile)."""
    cfg = _default_config()
    if name != "config.yaml":
        update_config(cfg, _yaml(REPO / "config" / name))
    validate_config(cfg)


@pytest.mark.parametrize("name", ["tiny.yaml", "slurm_test.yaml", "paper.yaml"])
def test_complete_shipped_configs_validate_on_their_own(name):
    """The tests copy these to a fresh working directory's config.yaml: they must stand alone."""
    validate_config(_yaml(REPO / "config" / name))


def test_the_schema_itself_is_valid_and_every_default_fits_its_key():
    schema = load_schema()
    Draft202012Validator.check_schema(schema)

    def walk(sub: dict, path: str) -> None:
        sub = _resolve(sub) if "$ref" in sub and "default" not in sub else sub
        if "default" in sub:
            target = _resolve(sub)
            errors = list(Draft202012Validator(target).iter_errors(sub["default"]))
            assert not errors, f"default of {path} breaks its own schema: {errors[0].message}"
        for name, child in _resolve(sub).get("properties", {}).items():
            walk(child, f"{path}.{name}" if path else name)

    walk(schema, "")


# ------------------------------------------------------------------------------------------- defaults


def test_defaults_are_filled_in_at_every_level():
    from cardiomm.methods import CLASSICAL
    from cardiomm.recon.classical.series import CSParams

    DEFAULTS = {m: CSParams.from_dict(m, {}) for m in CLASSICAL}  # noqa: N806 - the registry's defaults, parsed
    cfg = validate_config(_minimal())
    assert cfg["mask_seed"] == 7 and cfg["mask_source"] == "official"
    assert cfg["agreement"] == {"comparator": "reference", "powered_n": 30}
    assert cfg["quantify"] == {"ed": "first", "noise_floor": "acquisition"}
    assert cfg["tolerances"] == {} and cfg["phantom"] == {}
    assert cfg["image_quality"] == {"protocol": "auto"}
    assert cfg["data"]["release"] == "auto" and cfg["data"]["timing"] == {} and cfg["data"]["defaults"] is None
    for m in ("sense", "cs", "kttv", "lps"):
        p = DEFAULTS[m]
        assert (cfg[m]["lamda"], cfg[m]["max_iter"], cfg[m]["engine"]) == (p.lamda, p.max_iter, p.engine), m
    assert cfg["lps"]["lamda_lowrank"] == DEFAULTS["lps"].lamda_lowrank and cfg["lps"]["lamda_lowrank_mapping"] is None
    assert cfg["cs"]["lamda_mapping"] is None and "lamda_mapping" not in cfg["sense"]
    assert cfg["segmentation"]["kind"] == "builtin" and cfg["segmentation"]["path"] is None
    assert cfg["published"] == {"clip_dir": None}
    assert cfg["train"] == {"modalities": None, "segmentation": {"frames_per_series": None}, "cardiomm": {},
                            "varnet": {}, "ktnet": {}, "published": [], "cardiomm_official": {"clip_dir": None},
                            "promptmr": {}}
    assert cfg["tune_classical"]["grid"]["cs"] and cfg["tune_classical"]["modalities"] is None


def test_nested_defaults_fill_inside_a_block_the_config_gives():
    cfg = _minimal()
    cfg.update(tune_classical={"subjects": 1}, sense={"lamda": 0.5}, published={"promptmr": {}})
    validate_config(cfg)
    assert cfg["tune_classical"]["slices"] == 1 and set(cfg["tune_classical"]["grid"]) == {"cs", "kttv", "lps"}
    assert cfg["sense"] == {"lamda": 0.5, "max_iter": 30, "engine": "sigpy"}  # what the config says wins
    assert cfg["published"]["promptmr"] == {"model_config": {}, "batch_size": 1}


def test_validation_is_idempotent_and_defaults_are_not_shared():
    a, b = validate_config(_minimal()), validate_config(_minimal())
    assert validate_config(copy.deepcopy(a)) == a
    a["tolerances"]["LVEF"] = 5.0
    a["tune_classical"]["grid"]["cs"].append(1.0)
    assert b["tolerances"] == {} and 1.0 not in b["tune_classical"]["grid"]["cs"]
    assert 1.0 not in validate_config(_minimal())["tune_classical"]["grid"]["cs"]  # the schema is untouched


def test_the_plan_holds_a_complete_config():
    from cardiomm.workflow import plan_from_config

    cfg = _yaml(REPO / "config" / "tiny.yaml")
    assert "tolerances" not in cfg and "train" not in cfg
    plan = plan_from_config(cfg)
    assert plan.config["tolerances"] == {} and plan.config["train"]["cardiomm"] == {}


# ------------------------------------------------------------------------------------------- misspelt keys


def _set(path: str, value: object):
    def mutate(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return mutate


@pytest.mark.parametrize(
    "path, key, hint",
    [
        ("", "sens", "sense"),                                      # top level
        ("data", "synthtic", "synthetic"),
        ("phantom", "coil", "coils"),
        ("phantom.counts", "tests", "test"),
        ("sense", "max_iters", "max_iter"),
        ("cs", "lamda_maping", "lamda_mapping"),
        ("quantify", "noisefloor", "noise_floor"),
        ("agreement", "compartor", "comparator"),
        ("tolerances", "LVEFF", "LVEF"),
        ("models", "cardiom", "cardiomm"),
        ("segmentation", "kinds", "kind"),
        ("train", "cardio", "cardiomm"),
        ("train.cardiomm.model", "cascade", "cascades"),           # four levels down
        ("train.varnet.train", "learning_rate", None),
        ("train.segmentation.train.augment", "rotate_degree", "rotate_deg"),  # five levels down
        ("published.promptmr.model_config", "num_cascade", "num_cascades"),
        ("tune_classical.grid", "kt_tv", "kttv"),
        ("image_quality", "protocl", "protocol"),
    ],
)
def test_a_misspelt_key_fails_naming_the_key_and_the_allowed_ones(path, key, hint):
    cfg = _default_config()
    _set(f"{path}.{key}" if path else key, 1)(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    msg = str(err.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"config {path}: unknown key {key!r}" if path else f"config: unknown key {key!r}"), msg
    allowed = sorted(_at(*path.split(".")).get("properties", {}) if path else load_schema()["properties"])
    assert msg.endswith("allowed keys: " + ", ".join(allowed)), msg
    assert (f"(did you mean {hint!r}?)" in msg) if hint else ("did you mean" not in msg), msg


def test_the_issues_example_names_both_keys():
    cfg = _default_config()
    cfg["sense"] = {"lambda": 0.01, "max_iters": 30}
    with pytest.raises(ConfigError, match=re.escape(
            "config sense: unknown keys 'lambda' (did you mean 'lamda'?), 'max_iters' (did you mean 'max_iter'?); "
            "allowed keys: engine, lamda, max_iter")):
        validate_config(cfg)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (_set("phantom.nx", "big"), "config phantom.nx: 'big' is not of type 'integer'"),
        (_set("train.cardiomm.train.epochs", 0), "config train.cardiomm.train.epochs: 0 is less than the minimum"),
        (_set("quantify.ed", "last"), "config quantify.ed: 'last' is not one of first, max"),
        (_set("masks", ["Uniform8", "Spiral8"]), "config masks[1]: invalid mask name 'Spiral8'"),
        (lambda c: c["data"].pop("root"), "config data: missing required key 'root'"),
        (_set("sense", None), "config sense: None is not of type 'object'"),
    ],
)
def test_other_schema_errors_name_the_key_path(mutate, message):
    cfg = _default_config()
    mutate(cfg)
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(cfg)


def test_several_errors_give_one_line_each():
    cfg = _default_config()
    cfg["sense"]["lambda"] = 1
    cfg["quantify"]["ed"] = "last"
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    lines = str(err.value).splitlines()
    assert len(lines) == 2 and lines[0].startswith("config quantify.ed") and lines[1].startswith("config sense")


def test_snakemake_stops_at_start_up_on_a_misspelt_key(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(REPO / "config" / "tiny.yaml"), "-n", "--config", "sense={lamda: 0.01, max_iters: 3}"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("config sense: unknown key 'max_iters' (did you mean 'max_iter'?); allowed keys: engine, lamda, "
            "max_iter") in out, out[-3000:]
    assert "Building DAG" not in out  # stopped before any job was planned


# ------------------------------------------------------------------------------------------- schema vs code


def _dataclass_blocks():
    from cardiomm.phantom.generate import PhantomConfig
    from cardiomm.recon.learned.networks.cardiomm import CardioMMConfig
    from cardiomm.recon.learned.networks.cardiomm_official import CardioMMOfficialConfig
    from cardiomm.recon.learned.networks.promptmr import PromptMRConfig
    from cardiomm.recon.learned.networks.varnet import VarNetConfig
    from cardiomm.recon.learned.training_task import TrainConfig
    from cardiomm.segmentation.data import AugmentConfig
    from cardiomm.segmentation.segmenters import SegmenterConfig
    from cardiomm.segmentation.training_task import SegTrainConfig

    return [
        (("phantom",), PhantomConfig),
        (("train", "cardiomm", "model"), CardioMMConfig),
        (("train", "cardiomm", "train"), TrainConfig),
        (("train", "varnet", "model"), VarNetConfig),
        (("train", "varnet", "train"), TrainConfig),
        (("train", "segmentation", "train"), SegTrainConfig),
        (("train", "segmentation", "train", "augment"), AugmentConfig),
        (("published", "cardiomm_official", "model_config"), CardioMMOfficialConfig),
        (("train", "cardiomm_official", "model"), CardioMMOfficialConfig),
        (("train", "cardiomm_official", "train"), TrainConfig),
        (("train", "promptmr", "model"), PromptMRConfig),
        (("train", "promptmr", "train"), TrainConfig),
        (("published", "promptmr", "model_config"), PromptMRConfig),
        (("segmentation",), SegmenterConfig),
    ]


@pytest.mark.parametrize("path, cls", _dataclass_blocks(), ids=[".".join(p) for p, _ in _dataclass_blocks()])
def test_schema_block_has_exactly_the_dataclass_fields(path, cls):
    """Same keys; the dataclass's defaults pass the block's schema (types and ranges agree); any default the
    schema states is the dataclass's."""
    sub = _at(*path)
    assert sub.get("additionalProperties") is False
    names, keys = {f.name for f in dataclasses.fields(cls)}, set(sub["properties"])
    assert keys == names, f"only in the schema: {sorted(keys - names)}; only in {cls.__name__}: {sorted(names - keys)}"
    defaults = _plain(dataclasses.asdict(cls()))
    errors = list(Draft202012Validator(sub).iter_errors(defaults))
    assert not errors, f"{cls.__name__}() breaks the schema: {errors[0].message} at {list(errors[0].path)}"
    for name, prop in sub["properties"].items():
        if "default" in prop:
            assert _plain(prop["default"]) == defaults[name], name


def test_every_architecture_has_a_typed_model_block():
    from cardiomm.recon.learned.architectures import ARCHS, make_config

    where = {"cardiomm": ("train", "cardiomm", "model"), "varnet": ("train", "varnet", "model"),
             "ktnet": ("train", "ktnet", "model"),
             "cardiomm_official": ("published", "cardiomm_official", "model_config"),
             "promptmr": ("published", "promptmr", "model_config")}
    assert set(where) == set(ARCHS)
    for arch in ("cardiomm_official", "promptmr"):  # the published ones are trained too, with the same block
        assert _at("train", arch, "model") == _at("published", arch, "model_config"), arch
    for arch, path in where.items():
        assert set(_at(*path)["properties"]) == {f.name for f in dataclasses.fields(make_config(arch))}, arch


def test_classical_blocks_match_their_parameters():
    """Each classical method's block (the registry's, filled into the schema) holds fields of CSParams, and the
    parameters parsed from an empty block are its defaults; a low-rank method's block has the low-rank keys."""
    from cardiomm.methods import CLASSICAL
    from cardiomm.methods import method as registered
    from cardiomm.recon.classical.series import LOWRANK_KEYS, CSParams, solver

    fields = {f.name for f in dataclasses.fields(CSParams)}
    for m in CLASSICAL:
        props = _at(m)["properties"]
        assert props == registered(m).config["properties"], m
        assert {"lamda", "max_iter", "engine"} <= set(props) <= fields, m
        assert (LOWRANK_KEYS <= set(props)) == solver(m).lowrank, m
        p = CSParams.from_dict(m, {})
        assert {k: getattr(p, k) for k in props} == {k: v["default"] for k, v in props.items()}, m
    assert _at("lps")["properties"]["lamda_lowrank"]["default"] == 0.01


def test_fixed_key_sets_are_the_codes():
    from cardiomm import workflow as wf
    from cardiomm.cohort import SUBJECT_COLUMNS
    from cardiomm.conventions import INDICATORS, MODALITIES, PATTERNS, SEGMENTED_MODALITIES
    from cardiomm.segmentation.network import SIZES

    assert set(_at("models")["properties"]) == set(wf.NEURAL) | {"segmentation"}
    assert set(_at("tolerances")["properties"]) == set(INDICATORS)
    assert set(_at("data", "defaults")["properties"]) == set(SUBJECT_COLUMNS) - {"subject"}
    assert set(_at("phantom", "counts")["properties"]) == set(_at("eval_splits")["items"]["enum"])
    assert _at("modalities")["items"]["enum"] == list(MODALITIES)
    assert _at("train", "modalities")["items"]["enum"] == list(SEGMENTED_MODALITIES)  # labelled (synthetic) only
    assert _at("tune_classical", "modalities")["items"]["enum"] == list(MODALITIES)
    assert _at("train", "cardiomm", "train", "patterns")["items"]["enum"] == list(PATTERNS)
    assert _at("train", "segmentation", "train", "size")["enum"] == list(SIZES)


def test_rules_leave_defaults_to_the_schema():
    """No rule re-states a default: they read ``config[...]`` the schema has filled."""
    pattern = re.compile(r"config(\[[^]]+\])*\.get\(|TRAIN_CFG\.get\(|_TUNE\.get\(")
    for f in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        for i, line in enumerate(f.read_text().splitlines(), 1):
            assert not pattern.search(line), f"{f.name}:{i}: {line}"
