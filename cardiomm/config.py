"""The workflow configuration: checked against one JSON schema, with the schema's defaults filled in.

``cardiomm/schema/config.schema.json`` is the one source of the configuration's keys, their types and the defaults
of the workflow's own settings (``mask_seed``, ``agreement.comparator``, ...); the method registry
(:mod:`cardiomm.methods`) is the source of everything per method, filled in when the schema is loaded: the
``methods`` enum, each method's own block (``sense.lamda``, ...), ``models.<method>``, ``train.<method>``,
``train.published``, ``published.<method>`` and ``tune_classical.grid.<method>``. Every object
with fixed keys has ``additionalProperties: false``, so a misspelt key stops the run at start-up instead of
being ignored. The hyper-parameter blocks that a dataclass reads (``phantom``: :class:`PhantomConfig`,
``train.*``: :class:`TrainConfig`, :class:`SegTrainConfig`, the model configs; ``published.<method>.model_config``)
are typed here with the dataclass's field names; their defaults stay in the dataclasses (tests check that the
two agree).

:func:`validate_config` is called by the Snakefile before anything else and by
:func:`cardiomm.workflow.plan_from_config`, so the config a :class:`~cardiomm.workflow.Plan` holds is always
complete: code reads ``config["sense"]``, never ``config.get("sense", {})``.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError

SCHEMA_PATH = Path(__file__).resolve().parent / "schema" / "config.schema.json"

__all__ = ["ConfigError", "SCHEMA_PATH", "key_path", "load_schema", "validate_config"]


class ConfigError(ValueError):
    """The configuration breaks the schema, or is inconsistent in a way the schema cannot express."""


def load_schema() -> dict:
    """The parsed schema with the registry's methods filled in (cached per registry revision; treat as read-only:
    defaults are copied out of it, never shared).

    Objects are read as ``OrderedDict``, as :func:`snakemake.utils.validate` reads them, so that a default block
    filled into the config keeps the ``repr`` that Snakemake's params rerun trigger recorded for existing results.
    """
    from cardiomm import methods

    return _schema(methods.revision())


def _ordered(obj: object) -> object:
    """A registry block as the JSON reader gives it (``OrderedDict`` objects, lists), deep-copied."""
    if isinstance(obj, dict):
        return OrderedDict((k, _ordered(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return [_ordered(v) for v in obj]
    return obj


@functools.lru_cache(maxsize=4)
def _schema(revision: int) -> dict:
    """The JSON file with every registered method's part (``revision``: :func:`cardiomm.methods.revision`)."""
    from cardiomm.methods import REGISTRY

    schema = json.loads(SCHEMA_PATH.read_text(), object_pairs_hook=OrderedDict)
    props = schema["properties"]
    props["methods"]["items"]["enum"] = list(REGISTRY)
    # each method's own block sits where a reader of the file expects it: after the run's settings, before models
    blocks = [(n, _ordered(m.config)) for n, m in REGISTRY.items() if m.config is not None]
    at = list(props).index("models")
    items = list(props.items())
    schema["properties"] = props = OrderedDict(items[:at] + blocks + items[at:])
    models = props["models"]["properties"]
    for n in [n for n, m in REGISTRY.items() if m.needs_model][::-1]:  # before "segmentation", in table order
        models[n] = OrderedDict([("type", "string"), ("minLength", 1)])
        models.move_to_end(n, last=False)
    train = props["train"]["properties"]
    for n, m in REGISTRY.items():
        if m.train is not None:
            train[n] = _ordered(m.train)
    train["published"]["items"]["enum"] = [n for n, m in REGISTRY.items() if m.kind == "published"]
    for n, m in REGISTRY.items():
        if m.published is not None:
            props["published"]["properties"][n] = _ordered(m.published)
    tune = props["tune_classical"]
    for n, m in REGISTRY.items():
        if m.tune is not None:
            block = _ordered(m.tune)
            default = block.pop("default")
            tune["properties"]["grid"]["properties"][n] = block
            tune["properties"]["grid"]["default"][n] = default
            tune["default"]["grid"][n] = _ordered(default)
    return schema


def _with_defaults(base: type) -> type:
    """``base`` whose ``properties`` keyword first sets every absent property that has a ``default`` (a deep
    copy of it), then validates: nested defaults fill in as the validator descends into the filled objects.
    Only a ``default`` written on the property itself counts (not one behind a ``$ref``), as in
    :func:`snakemake.utils.validate`."""
    check_properties = base.VALIDATORS["properties"]

    def properties(validator, props: dict, instance: object, schema: dict) -> Iterable[ValidationError]:
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(base, {"properties": properties})


_Validator = _with_defaults(Draft202012Validator)


def key_path(path: Iterable[object]) -> str:
    """``("train", "cardiomm", "model")`` -> ``train.cardiomm.model``; ``("masks", 0)`` -> ``masks[0]``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _unknown_keys(err: ValidationError) -> str:
    allowed = sorted(err.schema.get("properties", {}))
    unknown = sorted(k for k in err.instance if k not in err.schema.get("properties", {}))
    parts = []
    for k in unknown:
        close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
        parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    word = "key" if len(unknown) == 1 else "keys"
    return f"unknown {word} {', '.join(parts)}; allowed keys: {', '.join(allowed) or 'none'}"


def _describe(err: ValidationError) -> str:
    """One line naming the key path and what is wrong."""
    path = list(err.absolute_path)
    where = f"config {key_path(path)}" if path else "config"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict) and err.validator_value is False:
        return f"{where}: {_unknown_keys(err)}"
    if err.validator == "required":
        missing = [k for k in err.validator_value if isinstance(err.instance, dict) and k not in err.instance]
        return f"{where}: missing required key {', '.join(map(repr, missing))}"
    if path and path[0] == "masks" and err.validator == "pattern" and isinstance(err.instance, str):
        from cardiomm.conventions import parse_mask_name

        try:
            parse_mask_name(err.instance)
        except ValueError as reason:
            return f"{where}: {reason}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    return f"{where}: {err.message}"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Check ``config`` against the schema and fill in its defaults, in place; returns ``config``.

    Raises :class:`ConfigError` with one line per problem, each naming the key path (``config sense: unknown key
    'lambda' (did you mean 'lamda'?); allowed keys: engine, lamda, max_iter``). Idempotent.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"config: expected a mapping of keys, got {type(config).__name__}")
    errors = sorted(_Validator(load_schema() if schema is None else schema).iter_errors(config),
                    key=lambda e: ([str(p) for p in e.absolute_path], e.validator != "additionalProperties"))
    if errors:
        lines = list(dict.fromkeys(_describe(e) for e in errors))
        raise ConfigError("\n".join(lines))
    return config
