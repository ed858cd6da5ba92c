"""The resolved config: typed attribute reads, read-only, changed only through checked copies."""

import pickle

import pytest
import yaml

import kzoo
from kzoo.config import dump_yaml
from kzoo.entry_config import load_run_config
from kzoo.errors import ConfigError
from kzoo.run_config import ConfigSection, RunConfig


@pytest.mark.smoke
def test_sections_read_as_attributes_with_their_declared_types():
    config = kzoo.get_config("mlp", ["train.learning_rate=1e-4", "model.hidden_units=[12, 6]"])
    assert isinstance(config, RunConfig) and isinstance(config.train, ConfigSection)
    assert config.train.learning_rate == pytest.approx(1e-4) and type(config.train.learning_rate) is float
    assert config.model.hidden_units == [12, 6] and config.entry == "mlp" and config.task == "image_classification"
    assert config["train"]["learning_rate"] == config.train.learning_rate  # the mapping form, at the edges
    with pytest.raises(AttributeError, match=r"no key 'learning_rat' \(keys: optimizer, learning_rate"):
        config.train.learning_rat


@pytest.mark.smoke
def test_a_resolved_config_cannot_be_changed_in_place():
    config = kzoo.get_config("mlp")
    for change in (lambda: setattr(config.train, "epochs", 3), lambda: config.train.__setitem__("epochs", 3),
                   lambda: setattr(config, "train", {})):
        with pytest.raises(TypeError, match="read-only; make a changed copy with config.override"):
            change()
    units = config.model.hidden_units
    units.append(99)  # what a caller was given is a copy
    assert 99 not in config.model.hidden_units


@pytest.mark.smoke
def test_override_returns_a_checked_copy_and_replace_sets_top_level_keys():
    config = kzoo.get_config("mlp")
    changed = config.override({"train.epochs": 7, "model.dropout": None})  # None: left as it is
    assert changed.train.epochs == 7 and config.train.epochs != 7
    assert changed.model.dropout == config.model.dropout
    with pytest.raises(ConfigError, match="train.epochs must be > 0"):
        config.override({"train.epochs": 0})
    with pytest.raises(ConfigError, match="unknown config key 'train.epoch'"):
        config.override({"train.epoch": 3})
    sourced = config.replace(data_source={"kind": "synthetic"})
    assert sourced.data_source == {"kind": "synthetic"} and config.data_source is None
    with pytest.raises(ConfigError, match="set section keys with override"):
        config.replace(train={})


def test_to_dict_round_trips_through_yaml_and_pickle(tmp_path):
    config = kzoo.get_config("lstm", {"train.epochs": 2})
    plain = config.to_dict()
    assert type(plain) is dict and type(plain["train"]) is dict and yaml.safe_dump(plain)
    dump_yaml(config, tmp_path / "config.yaml")
    assert load_run_config(tmp_path / "config.yaml") == config
    assert pickle.loads(pickle.dumps(config)) == config


def test_a_resolved_config_carries_its_entry_task_through_copies():
    from kzoo.config import resolve
    from kzoo.tasks import get_task

    config = kzoo.get_config("gmf")
    assert config.task_object is get_task("recommendation")
    assert config.override({"train.epochs": 2}).task_object is config.task_object
    assert config.replace(data_source={}).task_object is config.task_object
    assert pickle.loads(pickle.dumps(config)).task_object.name == "recommendation"
    bare = resolve({"train": {}}, {"train": dict(config.sections["train"])}, "x")  # no entry's sections
    with pytest.raises(ConfigError, match="resolved without its entry's sections"):
        bare.task_object
