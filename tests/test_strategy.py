from unittest import mock

import pytest
import tensorflow as tf

from kzoo.errors import StrategyError
from kzoo.training.strategy import get_strategy


def test_default_and_auto_on_cpu():
    assert get_strategy("default").num_replicas_in_sync == 1
    assert get_strategy("auto").num_replicas_in_sync == 1
    assert get_strategy("one_device").num_replicas_in_sync == 1


def test_unknown_strategy_lists_valid_names():
    with pytest.raises(StrategyError, match=r"unknown strategy 'mirored'; valid: auto, default"):
        get_strategy("mirored")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(StrategyError, match="TF_CONFIG"):
        get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(StrategyError, match="not valid JSON"):
        get_strategy("multi_worker")


def test_tpu_without_tpu_fails_clearly():
    failing = mock.Mock(side_effect=ValueError("Please provide a TPU Name to connect to."))
    with mock.patch.object(tf.distribute.cluster_resolver, "TPUClusterResolver", failing):
        with pytest.raises(StrategyError, match="no TPU could be resolved.*TPU_NAME"):
            get_strategy("tpu")


def test_tpu_path_connects_through_the_resolver():
    resolver = mock.Mock(name="resolver")
    with mock.patch.object(tf.distribute.cluster_resolver, "TPUClusterResolver", return_value=resolver) as cls, \
            mock.patch.object(tf.config, "experimental_connect_to_cluster") as connect, \
            mock.patch.object(tf.tpu.experimental, "initialize_tpu_system") as init, \
            mock.patch.object(tf.distribute, "TPUStrategy", return_value="tpu-strategy") as strategy:
        assert get_strategy("tpu", tpu_address="grpc://10.0.0.2:8470") == "tpu-strategy"
    cls.assert_called_once_with(tpu="grpc://10.0.0.2:8470")
    connect.assert_called_once_with(resolver)
    init.assert_called_once_with(resolver)
    strategy.assert_called_once_with(resolver)


def test_auto_picks_tpu_when_environment_names_one(monkeypatch):
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    with mock.patch("kzoo.training.strategy._connect_tpu", return_value="tpu") as connect:
        assert get_strategy("auto") == "tpu"
    connect.assert_called_once()


def test_multi_worker_reads_a_slurm_allocation_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "4")
    monkeypatch.setenv("SLURM_PROCID", "1")
    monkeypatch.setenv("KZOO_SLURM_PORT", "23456")
    resolver = mock.Mock(name="slurm-resolver")
    with mock.patch.object(tf.distribute.cluster_resolver, "SlurmClusterResolver", return_value=resolver) as cls, \
            mock.patch.object(tf.distribute, "MultiWorkerMirroredStrategy", return_value="mwms") as strategy:
        from kzoo.training.strategy import _make_strategy

        assert _make_strategy("multi_worker", None) == "mwms"
    cls.assert_called_once_with(port_base=23456)
    strategy.assert_called_once_with(cluster_resolver=resolver)


def test_tpu_on_jax_without_a_tpu_fails_clearly():
    pytest.importorskip("jax")
    from kzoo.training.strategy import get_jax_distribution

    with pytest.raises(StrategyError, match="JAX sees no TPU"):
        get_jax_distribution("tpu")
    with pytest.raises(StrategyError, match="KERAS_BACKEND=tensorflow"):
        get_jax_distribution("multi_worker")
