"""Drift monitoring: an export's training profile, and live traffic measured against it (PSI).

A new export carries `assets.extra/training_profile.json` made by its own signatures on a sample of
the run's training data; `kzoo.serve.drift` measures served calls with the same `features` and bins:
the training sample itself gives the profile's distribution back, traffic drawn like it stays stable,
skewed traffic (longer texts, inverted images, unknown ids) crosses the alert line, and the monitor's
counts never outgrow its window.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import monitoring
from kzoo.data import pipeline
from kzoo.export import export_model, export_run
from kzoo.serve.drift import DriftMonitor, features, load_profile
from kzoo.tasks import load_data

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import make_run, tiny_config, tiny_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _export(tmp_path_factory, name: str, record_source: bool = True) -> SimpleNamespace:
    """An untrained tiny `name` as a finished run on synthetic data (its config recording that source, as
    the trainer's does), exported: the version folder, the data bundle and the loaded signatures."""
    config = tiny_config(name)
    bundle = load_data(config, source="synthetic", seed=config.runtime.seed)
    sizes = getattr(bundle.preprocessor, "model_overrides", None)
    if callable(sizes):
        config = config.override({f"model.{key}": value for key, value in sizes().items()})
    if record_source:
        config = config.replace(data_source={"kind": bundle.source, "name": bundle.name})
    keras.utils.set_random_seed(0)
    model = kzoo.build_from_config(config, compile=False)
    version = export_run(make_run(tmp_path_factory.mktemp(name) / "run", model, config, bundle.preprocessor))
    return SimpleNamespace(version=version, bundle=bundle, config=config, model=model,
                           signatures=tf.saved_model.load(str(version)).signatures)


@pytest.fixture(scope="module")
def lstm(tmp_path_factory):
    return _export(tmp_path_factory, "lstm")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    return _export(tmp_path_factory, "cnn")


@pytest.fixture(scope="module")
def gmf(tmp_path_factory):
    return _export(tmp_path_factory, "gmf")


def serve(exported, signature: str, inputs: dict) -> dict:
    """The loaded SavedModel's `signature` on NumPy `inputs`: NumPy outputs, as a server has them."""
    outputs = exported.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def observe(monitor: DriftMonitor, exported, signature: str, inputs: dict) -> None:
    monitor.observe(signature, inputs, serve(exported, signature, inputs))


def draw(exported, count: int, seed: int) -> dict:
    """`count` raw training examples drawn with `seed` (the profile's own draw uses the run's seed)."""
    return pipeline.sample_rows(exported.bundle.raw_train, count, seed)


def calls(exported, sample: dict) -> dict:
    """{signature: inputs} of `sample` for each signature the export's profile describes (as the export fed them)."""
    return exported.config.task_object.profile_signatures(sample)


EXPECTED = {
    "lstm": {"serving_default": {"text_words", "probabilities_max", "label"}},
    "cnn": {"serving_default": {"image_mean", "probabilities_max", "label"},
            "serve_nhwc": {"image_mean", "probabilities_max", "label"}},
    "gmf": {"serving_default": {"user_id_known", "item_id_known", "score"},
            "recommend": {"user_id_known", "scores_max", "fallback"},
            "recommend_including_seen": {"user_id_known", "scores_max", "fallback"}},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_new_export_records_the_training_profile_of_each_signature(name, request):
    exported = request.getfixturevalue(name)
    profile = load_profile(exported.version)
    info = json.loads((exported.version / "assets.extra" / "kzoo.json").read_text())
    assert info["training_profile"] == {"file": "training_profile.json", "split": "train", "source": "synthetic",
                                        "examples": profile["data"]["examples"], "signatures": sorted(EXPECTED[name])}
    assert profile["data"]["examples"] == min(2000, exported.bundle.raw_train.cardinality())
    assert {s: set(entry["features"]) for s, entry in profile["signatures"].items()} == EXPECTED[name]
    for entry in profile["signatures"].values():
        for spec in entry["features"].values():
            assert len(spec["training"]) == monitoring.bin_count(spec) and sum(spec["training"]) == pytest.approx(1)
            assert spec["count"] == entry["examples"]
    if name == "gmf":  # every training id is known: coverage is one bin of two, the ids stored as ranges
        known = profile["signatures"]["serving_default"]["features"]["user_id_known"]
        assert known["training"] == [0.0, 1.0] and known["known_ranges"] == [[1, exported.config.model.num_users]]
    if name == "lstm":  # one class bin per class of the probabilities
        assert profile["signatures"]["serving_default"]["features"]["label"]["categories"] == [0, 1]


def test_the_training_sample_served_again_gives_the_profiles_own_distribution(lstm):
    profile = load_profile(lstm.version)
    sample = draw(lstm, 2000, lstm.config.runtime.seed)  # the export's own draw
    values = features("serving_default", sample, serve(lstm, "serving_default", sample), profile)
    for name, spec in profile["signatures"]["serving_default"]["features"].items():
        counts = np.bincount(monitoring.bin_index(values[name], spec), minlength=monitoring.bin_count(spec))
        np.testing.assert_allclose(counts / counts.sum(), spec["training"], atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_traffic_drawn_like_the_training_data_is_stable(name, request):
    exported = request.getfixturevalue(name)
    monitor = DriftMonitor(load_profile(exported.version))
    sample = draw(exported, 1000, seed=7)
    for signature, inputs in calls(exported, sample).items():
        observe(monitor, exported, signature, inputs)
    report = monitor.report()
    observed = {key: entry["psi"] for key, entry in report["features"].items() if entry["psi"] is not None}
    assert set(observed) == {f"{s}/{f}" for s, names in EXPECTED[name].items() for f in names}
    assert report["max_psi"] < monitoring.PSI_MODERATE and not report["alert"], observed


def test_much_longer_texts_raise_the_alert(lstm):
    monitor = DriftMonitor(load_profile(lstm.version))
    sample = draw(lstm, 300, seed=8)
    longer = {"text": np.array([b" ".join([t] * 3) for t in sample["text"]], dtype=object)}
    observe(monitor, lstm, "serving_default", longer)
    report = monitor.report()
    assert report["features"]["serving_default/text_words"]["psi"] >= monitoring.PSI_ALERT
    assert report["features"]["serving_default/text_words"]["level"] == "major" and report["alert"]


def test_inverted_images_raise_the_alert(cnn):
    monitor = DriftMonitor(load_profile(cnn.version))
    images = draw(cnn, 300, seed=8)["image"][..., 0]
    observe(monitor, cnn, "serving_default", {"image": 255 - images})
    report = monitor.report()
    assert report["features"]["serving_default/image_mean"]["psi"] >= monitoring.PSI_ALERT and report["alert"]
    assert report["features"]["serve_nhwc/image_mean"]["psi"] is None  # nothing served there yet


def test_unknown_ids_raise_the_alert_on_coverage_and_fallback(gmf):
    monitor = DriftMonitor(load_profile(gmf.version))
    unknown = np.arange(300, dtype=np.int64) + 10**9  # ids no training interaction has
    for signature, inputs in calls(gmf, {"user_id": unknown, "item_id": unknown}).items():
        observe(monitor, gmf, signature, inputs)
    psi = {key: entry["psi"] for key, entry in monitor.report()["features"].items()}
    for key in ("serving_default/user_id_known", "serving_default/item_id_known", "recommend/user_id_known",
                "recommend/fallback"):
        assert psi[key] >= monitoring.PSI_ALERT, key
    assert monitor.report()["features"]["recommend/fallback"]["live"] == [0.0, 1.0]


def test_the_monitor_keeps_only_its_window_and_forgets_old_drift(lstm):
    profile = load_profile(lstm.version)
    monitor = DriftMonitor(profile, window=500)
    sample = draw(lstm, 2000, seed=9)
    outputs = serve(lstm, "serving_default", sample)
    longer = {"text": np.array([b" ".join([t] * 3) for t in sample["text"]], dtype=object)}
    monitor.observe("serving_default", longer, outputs)  # one batch larger than the window
    assert monitor.report()["alert"]
    for start in range(0, 2000, 150):  # then traffic like training's, more than a window of it
        rows = slice(start, start + 150)
        monitor.observe("serving_default", {"text": sample["text"][rows]}, {k: v[rows] for k, v in outputs.items()})
        counts = [entry["count"] for entry in monitor.report()["features"].values()]
        assert max(counts) <= 500
    report = monitor.report()
    assert report["observed"] == 4000 and {e["count"] for e in report["features"].values()} == {500}
    assert report["features"]["serving_default/text_words"]["psi"] == pytest.approx(0, abs=1e-9)


def test_psi_waits_for_the_minimum_count_and_the_monitor_is_thread_safe(lstm):
    monitor = DriftMonitor(load_profile(lstm.version))
    sample = draw(lstm, 400, seed=10)
    outputs = serve(lstm, "serving_default", sample)
    monitor.observe("serving_default", {"text": sample["text"][:50]}, {k: v[:50] for k, v in outputs.items()})
    report = monitor.report()
    assert report["max_psi"] is None and not report["alert"]
    assert report["features"]["serving_default/label"]["count"] == 50
    monitor.observe("unknown_signature", {"text": sample["text"]}, outputs)  # not in the profile: ignored
    monitor.observe("serving_default", {"text": np.array([], object)},  # an empty batch counts nothing
                    {"label": np.zeros(0, np.int64), "probabilities": np.zeros((0, 2), np.float32)})

    def one_call(rows):
        monitor.observe("serving_default", {"text": sample["text"][rows]}, {k: v[rows] for k, v in outputs.items()})

    threads = [threading.Thread(target=one_call, args=(slice(i, i + 1),)) for i in range(50, 400)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = monitor.report()
    assert report["observed"] == 400 and report["features"]["serving_default/label"]["count"] == 400
    assert report["max_psi"] is not None
    json.dumps(report, allow_nan=False)  # JSON-ready as it is


def test_an_export_without_readable_training_data_has_no_profile_and_says_why(tmp_path_factory, lstm, monkeypatch):
    unrecorded = _export(tmp_path_factory, "lstm", record_source=False)
    assert load_profile(unrecorded.version) is None
    info = json.loads((unrecorded.version / "assets.extra" / "kzoo.json").read_text())
    assert info["training_profile"] is None and "records no data source" in info["training_profile_reason"]

    model, preprocessor = unrecorded.model, lstm.bundle.preprocessor
    gone = lstm.config.replace(data_source={"kind": "files", "name": str(tmp_path_factory.mktemp("gone") / "x.csv")})
    version = export_model(model, gone, preprocessor, tmp_path_factory.mktemp("gone-export"))
    assert "no longer exists" in json.loads((version / "assets.extra" / "kzoo.json").read_text())[
        "training_profile_reason"]

    def broken(sample):
        raise RuntimeError("profile bug")

    monkeypatch.setattr(lstm.config.task_object, "profile_signatures", broken)
    version = export_model(model, lstm.config, preprocessor, tmp_path_factory.mktemp("broken-export"))
    assert load_profile(version) is None  # the export itself is whole
    assert json.loads((version / "assets.extra" / "kzoo.json").read_text())["training_profile_reason"] == (
        "computing it failed: RuntimeError: profile bug")


def test_psi_bins_and_id_ranges_by_hand():
    assert monitoring.psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert monitoring.psi([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.25 * np.log(2) - 0.25 * np.log(2 / 3))
    assert monitoring.psi([0.0, 1.0], [0.05, 0.95]) == pytest.approx(
        0.0499 * np.log(500) - 0.05 * np.log(0.95), rel=1e-6)  # an empty training bin counts as 1e-4
    assert [monitoring.level(v) for v in (None, 0.05, 0.1, 0.25)] == [None, "stable", "moderate", "major"]
    spec = monitoring.fit({"of": "input", "array": "text", "measure": "words", "bins": "quantile"}, np.arange(1, 101))
    assert spec["range"] == [1, 100] and len(spec["edges"]) == 9 and spec["training"][0] == spec["training"][-1] == 0
    assert list(monitoring.bin_index([0, 1, 100, 101, np.nan], spec)) == [0, 1, 10, 11]
    assert monitoring.id_ranges([5, 1, 2, 3, 9, 3]) == [[1, 3], [5, 5], [9, 9]]
    assert list(monitoring.is_known(np.array([0, 1, 4, 5, 9, 10]), [[1, 3], [5, 5], [9, 9]])) == [
        False, True, False, True, True, False]


def test_the_drift_module_loads_without_tensorflow():
    code = "import sys, kzoo.serve.drift; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_trained_tiny_run_exports_with_its_profile(tmp_path_factory):
    # The trainer records the data source; its export reads that data again (360 training examples here).
    run = tiny_run(tmp_path_factory, "lstm", epochs=1, overrides=["data.synthetic_size=400"])
    profile = load_profile(run / "export" / "1")
    assert profile["data"] == {**profile["data"], "source": "synthetic", "split": "train", "examples": 360}
    assert set(profile["signatures"]["serving_default"]["features"]) == EXPECTED["lstm"]["serving_default"]
