"""The config schema: every key declared once, with its type, default and valid range or choices.

A `Section` maps key names to `Key`s; `check_section` checks one section of a config against it
(unknown keys refused, values checked and coerced, missing keys filled from the defaults). The
sections every entry shares are declared here (`TRAIN`, `PRUNE`, `DISTILL`, `RUNTIME`,
`REFERENCE`); data sections live in `kzoo.data.schemas`, and an entry's `model` section is read
from its builder's signature by `signature_section` (types from the annotations, ranges from
`Annotated[..., Range(...)]` markers such as `PositiveInt`, choices from `Literal[...]`).
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import difflib
import inspect
import types
import typing
from typing import Annotated, Any, Callable, Literal, Mapping, Union

from kzoo.errors import ConfigError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a key the config must set


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric range marker for `Annotated` annotations: `Annotated[float, Range(0, 1, max_open=True)]`."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its type (bool, int, float, str or list), default and valid values.

    `default` is REQUIRED for a key the config must set; a default of None also admits None
    (e.g. "computed from the data"). `min`/`max` bound numbers (open ends with `min_open` /
    `max_open`), `choices` lists the valid values, `items` is the Key every list item must pass.
    The default is checked (and coerced, e.g. a tuple to a list) when the Key is made.
    """

    type: type
    default: Any = REQUIRED
    _: dataclasses.KW_ONLY
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple | None = None
    items: Key | None = None
    nullable: bool = False
    doc: str = ""

    def __post_init__(self):
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"Key type must be one of {', '.join(t.__name__ for t in _TYPE_NAMES)}, got {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.default is None:
            object.__setattr__(self, "nullable", True)
        elif self.default is not REQUIRED:
            object.__setattr__(self, "default", check_value(self, self.default, "default", "Key"))


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list"}

# Aliases for builder annotations: `units: PositiveInt = 32`, `dropout: Fraction = 0.1`.
PositiveInt = Annotated[int, Range(0, min_open=True)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, min_open=True)]
NonNegativeFloat = Annotated[float, Range(0)]
Fraction = Annotated[float, Range(0, 1, max_open=True)]
UnitInterval = Annotated[float, Range(0, 1)]
# Keras 3.15's activation names (`keras.activations.get` accepts each; tests/test_trust_bad_commands.py checks the
# list against Keras), written out so a bad name is refused before a run directory is made, without
# importing Keras here.
Activation = Literal["celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
                     "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish", "relu",
                     "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign",
                     "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink",
                     "threshold"]

Section = dict[str, Key]


def _number(x: float) -> str:
    return f"{x:g}"


def describe_range(key: Key) -> str:
    """Return the valid range of a numeric Key in words: "in [0, 1)", "> 0", "<= 1" ("" if unbounded)."""
    if key.min is not None and key.max is not None:
        return (f"in {'(' if key.min_open else '['}{_number(key.min)}, "
                f"{_number(key.max)}{')' if key.max_open else ']'}")
    if key.min is not None:
        return f"{'>' if key.min_open else '>='} {_number(key.min)}"
    if key.max is not None:
        return f"{'<' if key.max_open else '<='} {_number(key.max)}"
    return ""


def _in_range(key: Key, x: float) -> bool:
    if key.min is not None and (x <= key.min if key.min_open else x < key.min):
        return False
    return not (key.max is not None and (x >= key.max if key.max_open else x > key.max))


def _typed(key: Key, value: Any, name: str, entry: str) -> Any:
    """Return `value` as the key's type, or raise ConfigError naming the type expected."""
    expected = key.type
    if expected is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" (no dot) as a string
            return float(value)
        except ValueError:
            pass
    elif expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif expected is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif expected is list and isinstance(value, (list, tuple)):
        return list(value)
    elif expected in (bool, str) and isinstance(value, expected):
        return value
    either = " or null" if key.nullable else ""
    raise ConfigError(f"{entry}: {name} must be {_TYPE_NAMES[expected]}{either}, got {value!r}")


def check_value(key: Key, value: Any, name: str, entry: str) -> Any:
    """Check one value against `key` and return it coerced (int -> float, "1e-4" -> 1e-4, tuple -> list).

    `name` is the dotted key and `entry` the entry name, both used in the ConfigError raised for
    a value of the wrong type, outside the range or not among the choices.
    """
    if value is None and key.nullable:
        return None
    value = _typed(key, value, name, entry)
    if key.choices is not None and value not in key.choices:
        valid = ", ".join(str(c) for c in key.choices)
        raise ConfigError(f"{entry}: {name} must be one of {valid}, got {value!r}")
    if key.type in (int, float) and not _in_range(key, value):
        raise ConfigError(f"{entry}: {name} must be {describe_range(key)}, got {value!r}")
    if key.type is list and key.items is not None:
        value = [check_value(key.items, item, f"{name}[{i}]", entry) for i, item in enumerate(value)]
    return value


def describe_key(key: Key) -> str:
    """A Key in words, for a comment: its doc, then its type with the range or choices ("an integer > 0")."""
    if key.choices is not None:
        kind = "one of: " + ", ".join(str(c) for c in key.choices)
    elif key.type is list and key.items is not None:
        kind = f"a list (items: {describe_key(key.items)})"
    else:
        kind = " ".join(filter(None, [_TYPE_NAMES[key.type], describe_range(key)]))
    return "; ".join(filter(None, [key.doc, kind + (" or null" if key.nullable else "")]))


def did_you_mean(word: str, known: list[str], cutoff: float = 0.75) -> str:
    """" Did you mean 'x', 'y'?" for the names in `known` closest to `word` (any case), or ""."""
    folded = {name.lower(): name for name in known}
    close = difflib.get_close_matches(word.lower(), list(folded), n=3, cutoff=cutoff)
    return f" Did you mean {', '.join(repr(folded[c]) for c in close)}?" if close else ""


def unknown_key_error(key: str, entry: str, valid: list[str]) -> ConfigError:
    """The error for a key no schema declares; it suggests the closest keys and lists the valid ones."""
    return ConfigError(f"unknown config key {key!r} for entry {entry!r}.{did_you_mean(key, valid)} "
                       f"(valid keys: {', '.join(valid)})")


def check_section(schema: Mapping[str, Key], values: Mapping | None, section: str, entry: str) -> dict:
    """Return the section `values` (a mapping, None for none) checked against `schema`.

    Keys come back in the schema's order, missing ones filled with (copies of) their defaults.
    Raises ConfigError for a key the schema lacks (listing the valid keys), a bad value, or a
    missing key without a default.
    """
    values = {} if values is None else values
    if not isinstance(values, Mapping):
        raise ConfigError(f"{entry}: section {section!r} must be a mapping of keys to values, got {values!r}")
    for name in values:
        if name not in schema:
            raise unknown_key_error(f"{section}.{name}", entry, [f"{section}.{k}" for k in schema])
    checked = {}
    for name, key in schema.items():
        if name in values:
            checked[name] = check_value(key, values[name], f"{section}.{name}", entry)
        elif key.default is REQUIRED:
            raise ConfigError(f"{entry}: {section}.{name} has no default and must be set")
        else:
            checked[name] = copy.deepcopy(key.default)
    return checked


def key_from_annotation(annotation: Any, default: Any = REQUIRED, doc: str = "") -> Key:
    """Return the Key an annotation describes: bool/int/float/str, `Literal[...]` (choices),
    `Sequence[X]`/`list[X]`/`tuple[X, ...]` (a list of X), `X | None`, and `Annotated[X, Range(...)]`.

    Raises TypeError for any other annotation.
    """
    bounds, nullable = {}, False
    annotation = _strip_annotated(annotation, bounds)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) != 1 or len(typing.get_args(annotation)) != 2:
            raise TypeError(f"unsupported annotation {annotation!r}: only `X | None` unions are supported")
        annotation, nullable = _strip_annotated(args[0], bounds), True
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        kinds = {type(c) for c in choices}
        if len(kinds) != 1:
            raise TypeError(f"unsupported annotation {annotation!r}: Literal choices must share one type")
        return Key(kinds.pop(), default, choices=choices, nullable=nullable, doc=doc, **bounds)
    if origin in (list, tuple, collections.abc.Sequence):
        args = typing.get_args(annotation)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"unsupported annotation {annotation!r}: use tuple[X, ...] or Sequence[X]")
        items = key_from_annotation(args[0]) if args else None
        return Key(list, default, items=items, nullable=nullable, doc=doc)
    if annotation in _TYPE_NAMES and annotation is not list:
        return Key(annotation, default, nullable=nullable, doc=doc, **bounds)
    raise TypeError(f"unsupported annotation {annotation!r}")


def _strip_annotated(annotation: Any, bounds: dict) -> Any:
    """Return the type inside `Annotated[...]`, adding its Range markers' fields to `bounds`."""
    while typing.get_origin(annotation) is Annotated:
        for marker in annotation.__metadata__:
            if isinstance(marker, Range):
                bounds.update({f.name: getattr(marker, f.name) for f in dataclasses.fields(marker)})
        annotation = typing.get_args(annotation)[0]
    return annotation


def _key_from_default(default: Any) -> Key:
    if default is REQUIRED:
        raise TypeError("no annotation and no default to tell its type: annotate it")
    if isinstance(default, (bool, int, float, str)):
        return Key(type(default), default)
    if isinstance(default, (list, tuple)):
        return Key(list, default)
    raise TypeError(f"cannot tell the type from the default {default!r}: annotate the parameter")


def signature_section(fn: Callable, skip: tuple[str, ...] = ()) -> Section:
    """Return the Section a function's keyword parameters declare (those in `skip` left out).

    Types and ranges come from the annotations (see `key_from_annotation`), else from the
    default's type; a parameter without a default is REQUIRED. Raises TypeError naming the
    parameter for an annotation or default the schema cannot express, or for `**kwargs`.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    section = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            raise TypeError(f"{fn.__qualname__} takes **{param.name}: its config keys must be named parameters")
        if param.name in skip or param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        default = REQUIRED if param.default is inspect.Parameter.empty else param.default
        try:
            if param.name in hints:
                section[param.name] = key_from_annotation(hints[param.name], default)
            else:
                section[param.name] = _key_from_default(default)
        except (TypeError, ConfigError) as err:
            raise TypeError(f"{fn.__qualname__}, parameter {param.name!r}: {err}") from None
    return section


# `kzoo-export --quantize` modes (kzoo.export.quantize_model); declared here so the tool checks them first.
QUANTIZE_MODES = ("int8",)

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")

TRAIN: Section = {
    "optimizer": Key(str, "adam", choices=("adam", "adamw", "rmsprop", "sgd")),
    "learning_rate": Key(float, 1e-3, min=0, min_open=True),
    "schedule": Key(str, "constant", choices=("constant", "cosine", "exponential"),
                    doc="cosine: decay to 0 over all epochs after warmup_steps; exponential: decay_rate per epoch"),
    "warmup_steps": Key(int, 0, min=0, doc="linear warm-up steps of the cosine schedule"),
    "decay_rate": Key(float, 0.9, min=0, max=1, min_open=True, doc="per-epoch factor of the exponential schedule"),
    "batch_size": Key(int, 32, min=0, min_open=True, doc="global batch size, split across replicas"),
    "epochs": Key(int, 1, min=0, min_open=True),
    "early_stopping_patience": Key(int, 0, min=0, doc="epochs without a better validation score; 0 = off"),
    "refit": Key(bool, False, doc="after early stopping picks the epoch count, train a fresh model that long on "
                                  "train + validation and score that one (kzoo.training.refit)"),
    "weight_decay": Key(float, 0.01, min=0, doc="decoupled weight decay of `optimizer: adamw`"),
    "momentum": Key(float, 0.9, min=0, max=1, doc="momentum of `optimizer: sgd`"),
    "clipnorm": Key(float, 0.0, min=0, doc="gradient clipping by global norm when > 0"),
    "jit_compile": Key(bool, False, doc="XLA on one replica (kzoo.tasks.compile_model)"),
    "steps_per_execution": Key(int, 1, min=0, min_open=True, doc="steps one compiled call runs, on one replica"),
    "lora_rank": Key(int, 0, min=0, doc="LoRA rank on a preset's keras-hub backbone (0 = full fine-tuning; "
                                        "kzoo.training.lora)"),
    "lora_layers": Key(list, [], items=Key(str), doc="backbone layer names LoRA adapts ([] = keras-hub's default: "
                                                     "the attention query and value projections)"),
    "init_from": Key(str, "", doc="a kzoo preset (PATH, hf://org/name, kaggle://owner/model/keras/variant) whose "
                                  "weights and preprocessing to start from (--init-from; kzoo.presets)"),
}

PRUNE: Section = {
    "target_sparsity": Key(float, 0.0, min=0, max=1, max_open=True, doc="0 = no pruning"),
    "initial_sparsity": Key(float, 0.0, min=0, max=1, max_open=True),
    "begin_step": Key(int, 0, min=0),
    "end_step": Key(int, 0, min=0, doc="0 = three quarters of the run (kzoo.compression.prune)"),
    "frequency": Key(int, 100, min=0, min_open=True, doc="steps between mask updates"),
    "from_run": Key(str, "", doc="a finished run of the entry whose weights (and preprocessing) to start from"),
    "exclude": Key(list, [], items=Key(str), doc="weight-path patterns (fnmatch, e.g. 'logits/*') left dense"),
}

DISTILL: Section = {
    "teacher": Key(str, "", doc="the teacher's run directory, set by tools/distill.py ('' = not distilled)"),
    "temperature": Key(float, 2.0, min=0, min_open=True),
    "alpha": Key(float, 0.1, min=0, max=1, doc="weight of the hard-label loss"),
}

RUNTIME: Section = {
    "strategy": Key(str, "auto", choices=STRATEGIES),
    "mixed_precision": Key(bool, False, doc="mixed_float16 on GPU, mixed_bfloat16 on CPU/TPU"),
    "jit_compile": Key(bool, False, doc="compile train/eval steps with XLA"),
    "seed": Key(int, 0, min=0),
    "deterministic": Key(bool, False, doc="TensorFlow op determinism"),
}

# The published figure an entry is measured against; read by people, not by the code.
REFERENCE: Section = {
    "metric": Key(str, ""),
    "value": Key(float, None),
    "source": Key(str, ""),
}


# `kzoo-tune --pruner` (kzoo.tuning.study.make_pruner) and the database schemes of `--study URL`
# (kzoo.tuning.storage), declared here so the tool checks them before Optuna or TensorFlow load.
TUNE_PRUNERS = ("median", "hyperband", "none")
TUNE_URL_SCHEMES = ("postgresql", "postgresql+psycopg2", "mysql", "mysql+pymysql", "sqlite")

# The `tune:` section of an entry's YAML: the search space of `kzoo-tune` (kzoo.tuning.space), one dotted
# config key per line, each a `{KIND: ...}` mapping. The ranges' ends and the choices are checked against the
# key's own declaration, so a space never proposes a value `--set` would refuse.
TUNE_KINDS = {
    "choice": "a list of values, e.g. {choice: [16, 32, 64]}",
    "int": "[low, high] integers, both included, e.g. {int: [1, 3]}",
    "float": "[low, high] numbers, sampled uniformly, e.g. {float: [0.1, 0.5]}",
    "log_float": "[low, high] numbers above 0, sampled uniformly in log scale, e.g. {log_float: [1e-4, 1e-2]}",
}


def check_tune_section(values: Any, sections: Mapping[str, Section], entry: str) -> dict:
    """Return the `tune` section `values` checked against the config's `sections`: `{dotted key: {kind: spec}}`.

    Each key must be a declared `section.key`; each spec one of `TUNE_KINDS`, its values valid for the key
    (an `int` range for an integer key, `float` / `log_float` for a number, choices of bools, numbers or
    strings). Raises ConfigError naming the key and what is valid.
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{entry}: section 'tune' must map dotted config keys to {{KIND: ...}}, got {values!r}")
    checked = {}
    for dotted, spec in values.items():
        section, _, leaf = str(dotted).partition(".")
        every_key = [f"{name}.{k}" for name, keys in sections.items() for k in keys]
        if section not in sections or leaf not in sections[section]:
            raise ConfigError(f"{entry}: tune: unknown config key {dotted!r}.{did_you_mean(str(dotted), every_key)} "
                              "Name it as section.key, e.g. train.learning_rate")
        checked[dotted] = _check_tune_spec(sections[section][leaf], spec, f"tune.{dotted}", entry)
    return checked


def _check_tune_spec(key: Key, spec: Any, name: str, entry: str) -> dict:
    kinds = ", ".join(TUNE_KINDS)
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in TUNE_KINDS:
        raise ConfigError(f"{entry}: {name} must be one {{KIND: ...}} with KIND one of {kinds}, got {spec!r}")
    kind, given = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(given, (list, tuple)) or not given:
            raise ConfigError(f"{entry}: {name}: choice must be a non-empty list of values, got {given!r}")
        if any(not isinstance(v, (bool, int, float, str)) for v in given):
            raise ConfigError(f"{entry}: {name}: choice values must be booleans, numbers or strings, got {given!r}")
        choices = [check_value(key, v, name, entry) for v in given]
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{entry}: {name}: choice lists a value twice: {given!r}")
        return {"choice": choices}
    wanted = int if kind == "int" else float
    if key.type is not wanted:
        fits = "int" if key.type is int else "float or log_float" if key.type is float else "choice"
        raise ConfigError(f"{entry}: {name}: {kind} needs a key that is {_TYPE_NAMES[wanted]}; "
                          f"the key is {_TYPE_NAMES[key.type]}: use {fits}")
    if not isinstance(given, (list, tuple)) or len(given) != 2:
        raise ConfigError(f"{entry}: {name}: {kind} must be {TUNE_KINDS[kind]}, got {given!r}")
    low, high = (check_value(key, v, name, entry) for v in given)
    if low is None or high is None or not low < high:
        raise ConfigError(f"{entry}: {name}: {kind} range must have low < high, got {list(given)!r}")
    if kind == "log_float" and low <= 0:
        raise ConfigError(f"{entry}: {name}: log_float range must be above 0, got {list(given)!r}")
    return {kind: [low, high]}
