"""The workflow configuration: checked against one JSON schema, with the schema's defaults filled in.

``cardiomm/schema/config.schema.json`` is the one source of the configuration's keys, their types and the defaults
of the workflow's own settings (``mask_seed``, ``agreement.comparator``, ``sense.lamda``, ...). Every object
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


@functools.lru_cache(maxsize=1)
def load_schema() -> dict:
    """The parsed schema (cached; treat as read-only: defaults are copied out of it, never shared).

    Objects are read as ``OrderedDict``, as :func:`snakemake.utils.validate` reads them, so that a default block
    filled into the config keeps the ``repr`` that Snakemake's params rerun trigger recorded for existing results.
    """
    return json.loads(SCHEMA_PATH.read_text(), object_pairs_hook=OrderedDict)


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
