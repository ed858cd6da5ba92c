import pytest

import kzoo
from kzoo.config import ConfigError, parse_override
from kzoo.entry_config import apply_overrides


def test_list_models_wildcards_and_sorting():
    names = kzoo.list_models()
    assert names == sorted(names)
    assert kzoo.list_models("ml*") == ["mlp"]
    assert kzoo.list_models("nothing*") == []
    assert "lstm_sentiment" in kzoo.list_models("lstm*", include_aliases=True)


def test_alias_resolves_to_entry():
    assert kzoo.get_entry("lstm_sentiment").name == "lstm"


@pytest.mark.smoke
def test_unknown_model_suggests_closest():
    with pytest.raises(kzoo.UnknownModelError, match=r"unknown model 'lsmt'.*Did you mean 'lstm'"):
        kzoo.build("lsmt")


def test_entry_names_are_found_in_any_case():
    assert kzoo.get_entry("LSTM").name == "lstm" and kzoo.get_entry("Lstm_Sentiment").name == "lstm"
    assert kzoo.get_config("CNN_small")["entry"] == "cnn_small"
    with pytest.raises(kzoo.UnknownModelError, match=r"unknown model 'LSMT'.*Did you mean 'lstm'"):
        kzoo.get_entry("LSMT")


def test_a_mistyped_key_or_section_gets_the_key_meant():
    with pytest.raises(ConfigError, match=r"'model.unit'.*Did you mean 'model.units'\?"):
        kzoo.get_config("lstm", ["model.unit=3"])
    with pytest.raises(ConfigError, match=r"no section 'modle'.*Did you mean 'model.units'\?"):
        kzoo.get_config("lstm", ["modle.units=3"])
    with pytest.raises(ConfigError) as err:
        kzoo.get_config("lstm", ["train.lr=3"])  # nothing close: no guess, the valid keys
    assert "Did you mean" not in str(err.value) and "train.learning_rate" in str(err.value)


def test_unknown_override_names_key_entry_and_valid_keys():
    with pytest.raises(ConfigError) as err:
        kzoo.build("lstm", unitz=3)
    message = str(err.value)
    assert "'model.unitz'" in message and "'lstm'" in message and "model.units" in message


@pytest.mark.parametrize(
    "override, fragment",
    [
        ({"dropout": 1.5}, "model.dropout must be in [0, 1)"),
        ({"units": -4}, "model.units must be > 0"),
        ({"units": "many"}, "model.units must be an integer"),
        ({"bidirectional": "yes"}, "model.bidirectional must be true or false"),
        ({"train.learning_rate": 0}, "train.learning_rate must be > 0"),
    ],
)
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as err:
        kzoo.build("lstm", **override)
    assert fragment in str(err.value)


def test_overrides_are_typed_and_applied():
    config = kzoo.get_config("lstm", ["model.units=16", "train.epochs=3", "train.learning_rate=1e-4"])
    assert config["model"]["units"] == 16
    assert config["train"]["epochs"] == 3
    assert config["train"]["learning_rate"] == pytest.approx(1e-4)
    assert parse_override("model.bidirectional=false") == ("model.bidirectional", False)


def test_optimizer_settings_reach_entries_whose_file_omits_them():
    import keras

    from kzoo.tasks import make_optimizer

    config = kzoo.get_config("lstm", ["train.optimizer=adamw", "train.weight_decay=0.05", "train.clipnorm=1.0"])
    optimizer = make_optimizer(config["train"], steps_per_epoch=10)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.weight_decay == pytest.approx(0.05) and optimizer.clipnorm == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="train.weight_decay must be >= 0"):
        kzoo.get_config("lstm", ["train.weight_decay=-0.1"])


def test_compile_settings_reach_entries_whose_file_omits_them():
    from kzoo.tasks import compile_model

    config = kzoo.get_config("gmf", ["train.jit_compile=true", "train.steps_per_execution=8"])
    model = compile_model(kzoo.build_from_config(config, compile=False), config)
    assert model.jit_compile is True and model.steps_per_execution == 8
    with pytest.raises(ConfigError, match="train.steps_per_execution must be > 0"):
        kzoo.get_config("gmf", ["train.steps_per_execution=0"])


def test_none_override_keeps_default():
    default = kzoo.get_config("lstm")
    config = apply_overrides(default, {"model.units": None}, "lstm")
    assert config["model"]["units"] == default["model"]["units"]


def test_build_compiles_unless_asked_not_to():
    assert kzoo.build("mlp").compiled
    assert not kzoo.build("mlp", compile=False).compiled


def test_override_without_equals_is_explained():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("model.units")


def test_register_model_adds_an_entry(tmp_path, monkeypatch):
    (tmp_path / "tiny_mlp_test.yaml").write_text(
        "model: {hidden_units: [4], num_classes: 3}\ndata: {dataset: mnist}\ntrain: {epochs: 1}\n"
    )
    monkeypatch.setenv("KZOO_CONFIG_DIR", str(tmp_path))
    from kzoo import entries as registry
    from kzoo.models.mlp import build_mlp

    @kzoo.register_model("tiny_mlp_test", task="image_classification", builder=build_mlp)
    def tiny_mlp_test(**kw):
        return build_mlp(**kw)

    try:
        assert "tiny_mlp_test" in kzoo.list_models("tiny*")
        assert kzoo.build("tiny_mlp_test").output_shape == (None, 3)
    finally:
        registry._ENTRIES.pop("tiny_mlp_test")


def test_bad_yaml_names_the_file_and_line(tmp_path):
    from kzoo.config import load_yaml

    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  units: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line \d+"):
        load_yaml(bad)
