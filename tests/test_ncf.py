"""NCF models beyond the registry battery: fixed-head GMF, pretrained NeuMF fusion, OOV ids."""

import numpy as np
import pytest
import keras

import kzoo
from kzoo.models.ncf import build_gmf, build_ncf_mlp, build_neumf, neumf_from_pretrained

SIZES = dict(num_users=12, num_items=20)


def batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "user_id": rng.integers(0, SIZES["num_users"] + 1, n).astype("int32"),
        "item_id": rng.integers(0, SIZES["num_items"] + 1, n).astype("int32"),
    }


def randomize(model, seed=0):
    """Give every weight a visible random value (the 0.01-stddev init makes products tiny)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if layer.trainable and layer.weights:
            layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in layer.get_weights()])
    return model


def scores(model, x):
    return np.asarray(model(x, training=False))


def test_gmf_fixed_head_is_the_embedding_dot_product():
    model = randomize(build_gmf(**SIZES, embedding_size=5, fixed_head=True))
    x = batch()
    users = model.get_layer("gmf_user_embedding").get_weights()[0][x["user_id"]]
    items = model.get_layer("gmf_item_embedding").get_weights()[0][x["item_id"]]
    np.testing.assert_allclose(scores(model, x), np.sum(users * items, axis=1), rtol=1e-5, atol=1e-5)
    head = model.get_layer("prediction")
    assert not head.trainable and not head.trainable_weights
    assert scores(model, x).shape == (16,)


def test_neumf_from_pretrained_reproduces_its_components(tmp_path):
    gmf = randomize(build_gmf(**SIZES, embedding_size=4), seed=1)
    mlp = randomize(build_ncf_mlp(**SIZES, embedding_size=3, hidden_units=[6, 5]), seed=2)
    x = batch(seed=3)
    s_gmf, s_mlp = scores(gmf, x), scores(mlp, x)
    np.testing.assert_allclose(scores(neumf_from_pretrained(gmf, mlp, alpha=1.0), x), s_gmf, atol=1e-4)
    np.testing.assert_allclose(scores(neumf_from_pretrained(gmf, mlp, alpha=0.0), x), s_mlp, atol=1e-4)
    fused = neumf_from_pretrained(gmf, mlp, alpha=0.5)
    np.testing.assert_allclose(scores(fused, x), 0.5 * (s_gmf + s_mlp), atol=1e-4)
    # The registry entry does the same from .keras files named in the config.
    gmf.save(tmp_path / "gmf.keras")
    mlp.save(tmp_path / "mlp.keras")
    model = kzoo.build(
        "neumf", compile=False, **SIZES, gmf_embedding_size=4, mlp_embedding_size=3, hidden_units=[6, 5],
        pretrained_gmf=str(tmp_path / "gmf.keras"), pretrained_mlp=str(tmp_path / "mlp.keras"),
    )
    np.testing.assert_allclose(scores(model, x), scores(fused, x), atol=1e-5)


def test_neumf_pretrained_errors(tmp_path):
    gmf = build_gmf(**SIZES, embedding_size=4)
    mlp = build_ncf_mlp(**SIZES, embedding_size=3, hidden_units=[6, 5])
    gmf.save(tmp_path / "gmf.keras")
    mlp.save(tmp_path / "mlp.keras")
    with pytest.raises(ValueError, match="given together"):
        build_neumf(**SIZES, pretrained_gmf=str(tmp_path / "gmf.keras"))
    with pytest.raises(FileNotFoundError, match="pretrained_mlp"):
        build_neumf(**SIZES, pretrained_gmf=str(tmp_path / "gmf.keras"), pretrained_mlp=str(tmp_path / "none.keras"))
    with pytest.raises(ValueError, match="do not fit"):  # config sizes differ from the files'
        build_neumf(**SIZES, gmf_embedding_size=8, mlp_embedding_size=3, hidden_units=[6, 5],
                    pretrained_gmf=str(tmp_path / "gmf.keras"), pretrained_mlp=str(tmp_path / "mlp.keras"))
    other = build_ncf_mlp(num_users=5, num_items=20, embedding_size=3, hidden_units=[6, 5])
    with pytest.raises(ValueError, match="different id maps"):
        neumf_from_pretrained(gmf, other)


@pytest.mark.parametrize("builder", [build_gmf, build_ncf_mlp, build_neumf])
def test_out_of_vocabulary_index_gives_a_finite_score(builder):
    model = builder(**SIZES)
    x = {"user_id": np.array([0, 0, 3], "int32"), "item_id": np.array([0, 5, 0], "int32")}
    out = scores(model, x)
    assert out.shape == (3,) and out.dtype == np.float32 and np.isfinite(out).all()


def test_mixed_precision_keeps_float32_logits():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_neumf(**SIZES, gmf_embedding_size=4, mlp_embedding_size=4, hidden_units=[8])
        out = model(batch(4), training=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_l2_adds_a_per_batch_penalty():
    model = build_gmf(**SIZES, embedding_size=4, l2=0.1)
    model(batch(), training=True)
    assert len(model.losses) == 2  # one per embedding table


@pytest.mark.parametrize("mlp_l2, expected_mlp_l2", [(None, 0.1), (0.5, 0.5), (0.0, None)])
def test_neumf_mlp_l2_regularises_only_the_mlp_embeddings(mlp_l2, expected_mlp_l2):
    model = randomize(build_neumf(**SIZES, gmf_embedding_size=4, mlp_embedding_size=3, hidden_units=[6], l2=0.1, mlp_l2=mlp_l2))
    x = batch()
    model(x, training=True)
    for name, ids in (("user", x["user_id"]), ("item", x["item_id"])):
        for path, l2 in (("gmf", 0.1), ("mlp", expected_mlp_l2)):
            layer = model.get_layer(f"{path}_{name}_embedding")
            rows = layer.get_weights()[0][ids]
            if l2 is None:
                assert not layer.losses, f"{layer.name} should carry no penalty with mlp_l2=0"
                continue
            expected = l2 * np.mean(np.sum(rows**2, axis=1))
            np.testing.assert_allclose(float(sum(layer.losses)), expected, rtol=1e-4, err_msg=layer.name)
