"""The typed config schema: every key declared once, checked before anything runs (kzoo.schema)."""

import inspect
import re
from pathlib import Path
from typing import Literal, Sequence

import pytest

import kzoo
from kzoo.data.schemas import TINY_MAX_EXAMPLES
from kzoo import schema
from kzoo.config import ConfigError, dump_yaml, find_config_file, load_yaml
from kzoo.entry_config import apply_overrides, entry_sections, load_entry_config, load_run_config
from kzoo.tasks import get_task, list_tasks
from kzoo.schema import REQUIRED, Fraction, Key, PositiveInt

ROOT = Path(__file__).resolve().parent.parent


def test_keys_the_code_reads_are_accepted_by_set():
    config = kzoo.get_config("gmf", ["train.momentum=0.5", "train.warmup_steps=10", "data.synthetic_users=50",
                                     "train.learning_rate=1e-4", "runtime.seed=3"])
    assert config["train"]["momentum"] == 0.5 and config["train"]["warmup_steps"] == 10
    assert config["data"]["synthetic_users"] == 50
    assert config["train"]["learning_rate"] == pytest.approx(1e-4)  # YAML 1.1 reads "1e-4" as a string
    assert config["runtime"]["seed"] == 3


def test_momentum_reaches_the_optimizer():
    from kzoo.tasks import make_optimizer

    config = kzoo.get_config("lstm", ["train.optimizer=sgd", "train.momentum=0.5"])
    assert float(make_optimizer(config["train"]).momentum) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "entry, override, message",
    [
        ("gmf", "train.optimizer=adamx", "gmf: train.optimizer must be one of adam, adamw, rmsprop, sgd, got 'adamx'"),
        ("lstm", "model.pooling=avg", "lstm: model.pooling must be one of last, max, mean, got 'avg'"),
        ("bert_cls", "model.pooling=max", "bert_cls: model.pooling must be one of mean, cls, got 'max'"),
        ("lstm", "model.dropout=1.5", "lstm: model.dropout must be in [0, 1), got 1.5"),
        ("gmf", "runtime.strategy=gpu",
         "gmf: runtime.strategy must be one of auto, default, one_device, mirrored, multi_worker, tpu, got 'gpu'"),
        ("gmf", "train.schedule=linear", "train.schedule must be one of constant, cosine, exponential"),
        ("lstm", "data.tokenizer=bpe", "lstm: data.tokenizer must be one of word, wordpiece, got 'bpe'"),
        ("lstm", "train.epochs=2.5", "lstm: train.epochs must be an integer, got 2.5"),
        ("lstm", "model.units=true", "lstm: model.units must be an integer, got True"),  # bools are not ints
        ("lstm", "train.refit=maybe", "lstm: train.refit must be true or false, got 'maybe'"),
        ("lstm", "train.learning_rate=fast", "lstm: train.learning_rate must be a number, got 'fast'"),
        ("mlp", "model.hidden_units=8", "mlp: model.hidden_units must be a list, got 8"),
        ("mlp", "model.hidden_units=[8,0]", "mlp: model.hidden_units[1] must be > 0, got 0"),
        ("neumf", "model.mlp_l2=none", "neumf: model.mlp_l2 must be a number or null, got 'none'"),
        ("neumf", "model.alpha=1.5", "neumf: model.alpha must be in [0, 1], got 1.5"),
        ("lstm", "data.val_fraction=1", "lstm: data.val_fraction must be in [0, 1), got 1.0"),
        ("gmf", "data.synthetic_users=0", "gmf: data.synthetic_users must be > 0, got 0"),
        ("gmf", "train.warmup_steps=-1", "gmf: train.warmup_steps must be >= 0, got -1"),
        ("gmf", "train.decay_rate=1.5", "gmf: train.decay_rate must be in (0, 1], got 1.5"),
        ("gmf", "runtime.seed=-1", "gmf: runtime.seed must be >= 0, got -1"),
        ("gmf", "runtime.mixed_precision=1", "gmf: runtime.mixed_precision must be true or false, got 1"),
        ("cnn", "prune.exclude=[3]", "cnn: prune.exclude[0] must be a string, got 3"),
        ("cnn", "distill.temperature=0", "cnn: distill.temperature must be > 0, got 0.0"),
    ],
)
def test_bad_values_are_refused_naming_the_key_and_valid_values(entry, override, message):
    with pytest.raises(ConfigError) as err:
        kzoo.get_config(entry, [override])
    assert message in str(err.value)


@pytest.mark.smoke
def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        kzoo.get_config("gmf", ["data.synthetic_size=100"])  # the recommender loader does not read it
    assert "'data.synthetic_size'" in str(err.value) and "data.synthetic_users" in str(err.value)
    with pytest.raises(ConfigError, match=r"no section 'modle'; valid sections: model, data, train"):
        kzoo.get_config("gmf", ["modle.units=3"])
    with pytest.raises(ConfigError, match=r"'model.name'.*valid keys: model.num_users"):
        kzoo.get_config("gmf", ["model.name=x"])  # the Keras model name is the entry's, not a hyperparameter


@pytest.mark.parametrize("name", kzoo.list_models())
def test_model_section_defaults_are_the_builders_signature_defaults(name):
    entry = kzoo.get_entry(name)
    params = {p.name: p for p in inspect.signature(entry.model_builder).parameters.values() if p.name != "name"}
    section = entry.model_section
    assert list(section) == list(params)
    for key, param in params.items():
        default = REQUIRED if param.default is inspect.Parameter.empty else param.default
        expected = list(default) if isinstance(default, tuple) else default
        assert section[key].default == expected and type(section[key].default) is type(expected), key
    # And the resolved config's model section holds exactly the builder's parameters.
    assert set(kzoo.get_config(name)["model"]) == set(params)


@pytest.mark.parametrize("name", kzoo.list_models())
def test_every_resolved_value_survives_a_set_of_itself(name):
    config = kzoo.get_config(name)
    sections = entry_sections(kzoo.get_entry(name))
    flat = {f"{s}.{k}": config[s][k] for s in sections for k in sections[s]}
    assert apply_overrides(config, flat, name) == config


def test_every_key_the_code_reads_is_declared():
    """A scan of kzoo/ for the section keys the code reads; each must be in its section's schema."""
    pattern = re.compile(
        r'(?:\b(?P<var>train|data|p)(?:\.get\(|\[)'
        r'|\b(?:config|student|teacher)\["(?P<sec>train|data|prune|distill|runtime)"\](?:\.get\(|\[)'
        r'|\bconfig\.get\("(?P<sec2>train|data|prune|distill|runtime)", \{\}\)\.get\()"(?P<key>[a-z_]+)"'
        # typed reads: config.train.momentum, teacher.data.sequence_length, data.val_fraction
        r'|(?:\b(?:config|student|teacher)\.(?P<sec3>train|data|prune|distill|runtime)|(?<![\w./`])(?P<var2>train|data))'
        r'\.(?P<key2>(?!get\b|items\b|keys\b|values\b)[a-z_]+)\b(?!\()'
    )
    declared = {"train": set(schema.TRAIN), "prune": set(schema.PRUNE), "distill": set(schema.DISTILL),
                "runtime": set(schema.RUNTIME), "data": set().union(*(get_task(t).data_schema for t in list_tasks()))}
    found = set()
    for path in (ROOT / "kzoo").rglob("*.py"):
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            var = match["var"] or match["var2"]
            if match["var2"] and not re.search(rf"\b{var} = (?:self\.)?config\.{var}\b|\({var}: ConfigSection",
                                               path.read_text(encoding="utf-8")):
                continue  # a `train` / `data` that is not a config section (a dataset, a file name)
            section = match["sec"] or match["sec2"] or match["sec3"] or {"p": "prune"}.get(var, var)
            found.add((section, match["key"] or match["key2"], path.name))
    assert {"momentum", "warmup_steps", "decay_rate"} <= {k for s, k, _ in found if s == "train"}
    missing = sorted((s, k, f) for s, k, f in found if k not in declared[s])
    assert not missing, missing


def test_yaml_key_that_is_not_a_builder_parameter_is_an_error(tmp_path):
    path = tmp_path / "gmf.yaml"
    path.write_text("model: {num_users: 5, unitz: 3}\ndata: {}\ntrain: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        kzoo.get_config("gmf", config_path=str(path))
    message = str(err.value)
    assert str(path) in message and "'model.unitz'" in message and "'gmf'" in message
    assert "model.num_users, model.num_items, model.embedding_size, model.l2, model.fixed_head" in message


def _build_needs_width(width: PositiveInt, depth: int = 1, name: str = "x"):
    return (width, depth, name)


def test_builder_parameter_without_default_must_be_set(tmp_path, monkeypatch):
    (tmp_path / "needs_width_test.yaml").write_text("model: {depth: 2}\ndata: {}\ntrain: {}\n", encoding="utf-8")
    monkeypatch.setenv("KZOO_CONFIG_DIR", str(tmp_path))
    from kzoo import entries as registry

    kzoo.register_model("needs_width_test", task="image_classification", builder=_build_needs_width)(
        lambda **kw: _build_needs_width(**kw))
    try:
        with pytest.raises(ConfigError, match="needs_width_test: model.width has no default and must be set"):
            kzoo.get_config("needs_width_test")
        (tmp_path / "needs_width_test.yaml").write_text("model: {width: 4, depth: 2}\ndata: {}\ntrain: {}\n")
        config = kzoo.get_config("needs_width_test")
        assert config["model"] == {"width": 4, "depth": 2}
        assert kzoo.build_from_config(config, compile=False) == (4, 2, "x")
    finally:
        registry._ENTRIES.pop("needs_width_test")


def test_register_model_needs_a_declared_signature():
    with pytest.raises(TypeError, match=r"register_model\('opaque_test'\).*\*\*kw.*builder="):
        kzoo.register_model("opaque_test", task="image_classification")(lambda **kw: None)
    assert "opaque_test" not in kzoo.list_models()


def test_annotations_give_types_ranges_and_choices():
    def builder(
        width: PositiveInt = 4,
        rate: Fraction = 0.5,
        scale: float = 1,
        mode: Literal["a", "b"] = "a",
        sizes: Sequence[PositiveInt] = (2, 3),
        limit: "float | None" = None,
        flag=False,
        name: str = "builder",
    ):
        pass

    section = schema.signature_section(builder, skip=("name",))
    assert list(section) == ["width", "rate", "scale", "mode", "sizes", "limit", "flag"]
    assert (section["width"].type, section["width"].min, section["width"].min_open) == (int, 0, True)
    assert (section["rate"].max, section["rate"].max_open) == (1, True)
    assert section["scale"].default == 1.0 and isinstance(section["scale"].default, float)
    assert section["mode"].choices == ("a", "b")
    assert section["sizes"].default == [2, 3] and section["sizes"].items.min == 0
    assert section["limit"].nullable and section["flag"].type is bool
    with pytest.raises(TypeError, match="parameter 'bad'"):
        schema.signature_section(lambda bad: None)  # no annotation, no default: no type

    def out_of_range(width: PositiveInt = 0):
        pass

    with pytest.raises(TypeError, match=r"parameter 'width'.*default must be > 0"):
        schema.signature_section(out_of_range)  # a builder default outside its own range


def test_check_value_coerces_and_checks():
    number = Key(float, 1.0, min=0, max=1)
    assert schema.check_value(number, 1, "s.k", "e") == 1.0
    assert schema.check_value(number, "1e-1", "s.k", "e") == pytest.approx(0.1)
    for bad, message in ((True, "must be a number"), (2, r"must be in \[0, 1\]"), ("x", "must be a number")):
        with pytest.raises(ConfigError, match=message):
            schema.check_value(number, bad, "s.k", "e")
    assert schema.check_section({"k": number}, None, "s", "e") == {"k": 1.0}
    listed = Key(list, [], items=Key(str))
    section = {"k": listed}
    first, second = (schema.check_section(section, {}, "s", "e") for _ in range(2))
    first["k"].append("x")
    assert second["k"] == []  # defaults are copied, never shared


def test_runtime_section_and_strategies():
    from kzoo.training.strategy import STRATEGIES

    assert STRATEGIES is schema.STRATEGIES == schema.RUNTIME["strategy"].choices
    config = kzoo.get_config("mlp")
    assert config["runtime"] == {"strategy": "auto", "mixed_precision": False, "jit_compile": False, "seed": 0,
                                 "deterministic": False}


def test_config_written_before_the_runtime_section_still_loads(tmp_path):
    config = kzoo.get_config("cnn")
    old = {k: v for k, v in config.items() if k != "runtime"}
    old["model"] = {k: v for k, v in old["model"].items() if k != "head_dropout"}  # a key added since
    dump_yaml(old, tmp_path / "config.yaml")
    loaded = load_run_config(tmp_path / "config.yaml")
    assert loaded["runtime"]["strategy"] == "auto" and loaded["model"]["head_dropout"] == 0.5
    assert {k: v for k, v in loaded.items() if k not in ("runtime", "model")} == \
        {k: v for k, v in config.items() if k not in ("runtime", "model")}
    # ... also as --config for a new run
    again = kzoo.get_config("cnn", config_path=str(tmp_path / "config.yaml"))
    assert again["runtime"] == config["runtime"]


def test_run_config_without_entry_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("model: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no 'entry' key"):
        load_run_config(tmp_path / "config.yaml")


def test_non_utf8_config_file_names_the_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model:\n  units: 8\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1.yaml: line 3 is not valid UTF-8"):
        kzoo.get_config("lstm", config_path=str(path))


def test_tiny_overrides_come_between_the_file_and_set(tmp_path):
    tiny = load_yaml(find_config_file("lstm.yaml"))["tiny"]
    # every entry's smoke run also reads a slice of the data (kzoo.data.schemas.TINY_MAX_EXAMPLES)
    assert kzoo.get_config("lstm", tiny=True) == kzoo.get_config("lstm", {"data.max_examples": TINY_MAX_EXAMPLES, **tiny})
    config = kzoo.get_config("lstm", ["model.units=4"], tiny=True)
    assert config["model"]["units"] == 4 and config["train"]["epochs"] == tiny["train.epochs"]
    text = find_config_file("lstm.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "lstm.yaml"
    bad.write_text(text.replace("  model.units: 8", "  model.unitz: 8"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lstm.yaml: unknown config key 'model.unitz'"):
        load_entry_config("lstm.yaml", "lstm", bad)  # checked even when the smoke run is not asked for


def test_shuffle_buffer_default_is_the_whole_split():
    assert kzoo.get_config("lstm")["data"]["shuffle_buffer"] == 25000
    assert get_task("image_classification").data_schema["shuffle_buffer"].default is None
    with pytest.raises(ConfigError, match="data.shuffle_buffer must be > 0"):
        kzoo.get_config("mlp", ["data.shuffle_buffer=0"])
