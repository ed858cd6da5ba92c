"""Neural collaborative filtering (He et al., WWW 2017): `gmf`, `ncf_mlp` and `neumf`.

Every model takes `{"user_id": int32 [B], "item_id": int32 [B]}` — contiguous indices from the
data's id maps, 1..num_users and 1..num_items, with 0 for ids unseen in training — and returns one
float32 logit per pair, shape [B]. Embedding tables therefore have num + 1 rows.

- `gmf`: user ⊙ item embeddings -> Dense(1). `fixed_head=True` makes the head a frozen all-ones
  vector without bias, i.e. the plain dot product of the two embeddings (matrix factorisation).
- `ncf_mlp`: [user; item] embeddings -> ReLU tower -> Dense(1).
- `neumf`: both paths with separate embeddings; the GMF vector and the last MLP layer are
  concatenated -> Dense(1). Pretrained GMF and NCF-MLP models fuse into it with
  `neumf_from_pretrained` (He et al. §3.4.1: head = [alpha * h_gmf; (1 - alpha) * h_mlp]).

Regularisation: `l2` penalises the embeddings looked up in each batch, `l2 * mean_b ||e_b||^2`
per embedding table (an activity regulariser, so frequent users and items are pulled in more,
as in Rendle et al. 2020's tuned MF); NeuMF's `mlp_l2` sets it apart for the MLP path's tables
(they overfit sooner than the GMF path's); `dense_l2` is a weight penalty on the MLP kernels.

Layer names are shared between the three models (`gmf_user_embedding`, `mlp_dense_0`, ...) so
weights move between them by name. `gmf_factors(model)` reads the GMF path as a dot product
(user tower, item table, head weights), which serving uses for retrieval; whether that product is
the whole model comes from what the head reads (the GMF product alone, or beside the MLP path).
"""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np

from kzoo.entries import register_model
from kzoo.errors import ConfigError
from kzoo.saving import load_keras_file
from kzoo.schema import Fraction, NonNegativeFloat, PositiveInt, UnitInterval

# The GMF path's layers and the head, named alike in every model built here: a saved model (of any
# kzoo version) is read through these names, so they never change.
GMF_USER, GMF_ITEM, HEAD = "gmf_user_embedding", "gmf_item_embedding", "prediction"


@keras.saving.register_keras_serializable(package="kzoo")
class SqueezeLast(keras.layers.Layer):
    """[B, 1] -> [B]: one logit per (user, item) pair."""

    def call(self, inputs):
        return keras.ops.squeeze(inputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])


def _inputs():
    return {
        "user_id": keras.Input(shape=(), dtype="int32", name="user_id"),
        "item_id": keras.Input(shape=(), dtype="int32", name="item_id"),
    }


def _embedding(rows: int, size: int, l2: float, name: str):
    return keras.layers.Embedding(
        rows + 1,  # row 0: out-of-vocabulary
        size,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.01),
        activity_regularizer=keras.regularizers.L2(l2) if l2 else None,
        name=name,
    )


def _gmf_vector(inputs, num_users, num_items, size, l2):
    user = _embedding(num_users, size, l2, GMF_USER)(inputs["user_id"])
    item = _embedding(num_items, size, l2, GMF_ITEM)(inputs["item_id"])
    return keras.layers.Multiply(name="gmf_product")([user, item])


def _mlp_vector(inputs, num_users, num_items, size, hidden_units, l2, dense_l2, dropout):
    user = _embedding(num_users, size, l2, "mlp_user_embedding")(inputs["user_id"])
    item = _embedding(num_items, size, l2, "mlp_item_embedding")(inputs["item_id"])
    x = keras.layers.Concatenate(name="mlp_concat")([user, item])
    for i, units in enumerate(hidden_units):
        x = keras.layers.Dense(
            units,
            activation="relu",
            kernel_regularizer=keras.regularizers.L2(dense_l2) if dense_l2 else None,
            name=f"mlp_dense_{i}",
        )(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"mlp_dropout_{i}")(x)
    return x


def _head(x, fixed: bool = False):
    if fixed:
        dense = keras.layers.Dense(
            1, use_bias=False, kernel_initializer="ones", trainable=False, dtype="float32", name=HEAD
        )
    else:
        dense = keras.layers.Dense(1, dtype="float32", name=HEAD)
    return SqueezeLast(dtype="float32", name="logit")(dense(x))


def build_gmf(
    num_users: PositiveInt = 943,
    num_items: PositiveInt = 1682,
    embedding_size: PositiveInt = 8,
    l2: NonNegativeFloat = 0.0,
    fixed_head: bool = False,
    name: str = "gmf",
) -> keras.Model:
    """Generalized matrix factorisation: Dense(1)(user ⊙ item); `fixed_head` gives the dot product."""
    inputs = _inputs()
    x = _gmf_vector(inputs, num_users, num_items, embedding_size, l2)
    return keras.Model(inputs, _head(x, fixed=fixed_head), name=name)


def build_ncf_mlp(
    num_users: PositiveInt = 943,
    num_items: PositiveInt = 1682,
    embedding_size: PositiveInt = 16,
    hidden_units: Sequence[PositiveInt] = (32, 16, 8),
    l2: NonNegativeFloat = 0.0,
    dense_l2: NonNegativeFloat = 0.0,
    dropout: Fraction = 0.0,
    name: str = "ncf_mlp",
) -> keras.Model:
    """NCF's MLP: a ReLU tower over the concatenated user and item embeddings -> Dense(1)."""
    inputs = _inputs()
    x = _mlp_vector(inputs, num_users, num_items, embedding_size, hidden_units, l2, dense_l2, dropout)
    return keras.Model(inputs, _head(x), name=name)


def build_neumf(
    num_users: PositiveInt = 943,
    num_items: PositiveInt = 1682,
    gmf_embedding_size: PositiveInt = 8,
    mlp_embedding_size: PositiveInt = 16,
    hidden_units: Sequence[PositiveInt] = (32, 16, 8),
    l2: NonNegativeFloat = 0.0,
    dense_l2: NonNegativeFloat = 0.0,
    dropout: Fraction = 0.0,
    mlp_l2: NonNegativeFloat | None = None,
    pretrained_gmf: str = "",
    pretrained_mlp: str = "",
    alpha: UnitInterval = 0.5,
    name: str = "neumf",
) -> keras.Model:
    """NeuMF: concat(GMF vector, last MLP layer) -> Dense(1).

    `l2` regularises the GMF embeddings and, unless `mlp_l2` is given, the MLP embeddings too.
    `pretrained_gmf` / `pretrained_mlp`: paths to trained `gmf` / `ncf_mlp` `.keras` files (both or
    neither); their weights initialise this model, the head weighted by `alpha` (see
    `neumf_from_pretrained`). Their sizes must match this model's.
    """
    if bool(pretrained_gmf) != bool(pretrained_mlp):
        raise ConfigError(
            "model.pretrained_gmf and model.pretrained_mlp must be given together "
            f"(got pretrained_gmf={pretrained_gmf!r}, pretrained_mlp={pretrained_mlp!r})"
        )
    if not hidden_units:
        raise ConfigError("model.hidden_units must name at least one MLP layer for neumf")
    inputs = _inputs()
    gmf = _gmf_vector(inputs, num_users, num_items, gmf_embedding_size, l2)
    mlp_l2 = l2 if mlp_l2 is None else mlp_l2
    mlp = _mlp_vector(inputs, num_users, num_items, mlp_embedding_size, hidden_units, mlp_l2, dense_l2, dropout)
    x = keras.layers.Concatenate(name="neumf_concat")([gmf, mlp])
    model = keras.Model(inputs, _head(x), name=name)
    if pretrained_gmf:
        gmf_model = _load(pretrained_gmf, "model.pretrained_gmf")
        mlp_model = _load(pretrained_mlp, "model.pretrained_mlp")
        try:
            load_pretrained_weights(model, gmf_model, mlp_model, alpha)
        except ValueError as err:  # not a gmf / ncf_mlp model, or one of other sizes
            raise ConfigError(f"model.pretrained_gmf={pretrained_gmf!r} and model.pretrained_mlp={pretrained_mlp!r} "
                              f"do not fit this neumf (they must be trained gmf and ncf_mlp models of its sizes): "
                              f"{str(err).splitlines()[0]}") from None
    return model


def _load(path: str, key: str) -> keras.Model:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{key}: no such file {path!r}")
    return load_keras_file(path, key)


def load_pretrained_weights(neumf: keras.Model, gmf: keras.Model, mlp: keras.Model, alpha: float = 0.5):
    """Copy a trained GMF and NCF-MLP into `neumf` in place; return `neumf`.

    Embeddings and MLP layers are copied by name. The fused head is
    kernel = [alpha * w_gmf; (1 - alpha) * w_mlp], bias = alpha * b_gmf + (1 - alpha) * b_mlp,
    so alpha = 1 reproduces the GMF logits and alpha = 0 the MLP logits exactly.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    for source in (gmf, mlp):
        for layer in source.layers:
            if layer.name.startswith(("gmf_", "mlp_")) and layer.weights:
                target = neumf.get_layer(layer.name)
                _set_weights(target, layer.get_weights(), f"{source.name}/{layer.name}")
    w_gmf, b_gmf = _head_weights(gmf)
    w_mlp, b_mlp = _head_weights(mlp)
    head = neumf.get_layer("prediction")
    kernel = np.concatenate([alpha * w_gmf, (1.0 - alpha) * w_mlp], axis=0)
    _set_weights(head, [kernel, np.asarray(alpha * b_gmf + (1.0 - alpha) * b_mlp)], "prediction")
    return neumf


def gmf_factors(model: keras.Model) -> dict | None:
    """The GMF path of `gmf` / `neumf` as a dot product, or None (`ncf_mlp`, or a quantized model).

    GMF's logit is `sum_d w_d u_d i_d + b = (u * w) . i + b`, so a user's scores over every item are
    one matrix product of the query `u * w` with the item table. Returns `{"user": user Embedding,
    "item": item Embedding, "head": the Dense head, "size": the GMF embedding size (the head
    kernel's first rows), "exact": True when that dot product is the whole model (`gmf`), False
    when it is one path of it (`neumf`: a candidate generator to re-rank)}`.
    """
    if not {GMF_USER, GMF_ITEM, HEAD} <= {layer.name for layer in model.layers}:
        return None  # no GMF path (ncf_mlp)
    parts = {"user": model.get_layer(GMF_USER), "item": model.get_layer(GMF_ITEM), "head": model.get_layer(HEAD)}
    if any(getattr(layer.dtype_policy, "quantization_mode", None) for layer in parts.values()):
        return None  # int8 tables are not plain matrices to multiply; the full model scores them
    parts["size"] = parts["user"].output_dim
    # The head reads the GMF product alone (gmf: one kernel row per factor) or beside the MLP path's
    # last layer (neumf: more rows), so its kernel says whether the dot product is the whole model.
    parts["exact"] = parts["head"].kernel.shape[0] == parts["size"]
    return parts


def _head_weights(model: keras.Model):
    head = model.get_layer("prediction")
    kernel = np.asarray(head.kernel)
    bias = np.asarray(head.bias) if head.use_bias else np.zeros((1,), kernel.dtype)
    return kernel, bias


def _set_weights(layer, weights, what: str) -> None:
    expected = [tuple(w.shape) for w in layer.get_weights()]
    got = [tuple(np.shape(w)) for w in weights]
    if expected != got:
        raise ValueError(f"pretrained weights {what}: shapes {got} do not fit NeuMF layer {layer.name!r} {expected}")
    layer.set_weights(weights)


def neumf_from_pretrained(gmf_model: keras.Model, mlp_model: keras.Model, alpha: float = 0.5, **kwargs):
    """Return a NeuMF initialised from a trained `gmf` and `ncf_mlp` (sizes read from them).

    `kwargs` override the other NeuMF hyperparameters (`l2`, `mlp_l2`, `dense_l2`, `dropout`, `name`).
    The result is not compiled.
    """
    user = gmf_model.get_layer("gmf_user_embedding")
    item = gmf_model.get_layer("gmf_item_embedding")
    mlp_user = mlp_model.get_layer("mlp_user_embedding")
    mlp_item = mlp_model.get_layer("mlp_item_embedding")
    if (user.input_dim, item.input_dim) != (mlp_user.input_dim, mlp_item.input_dim):
        raise ValueError(
            f"GMF ({user.input_dim - 1} users, {item.input_dim - 1} items) and MLP "
            f"({mlp_user.input_dim - 1} users, {mlp_item.input_dim - 1} items) were trained on different id maps"
        )
    dense = sorted(
        (layer for layer in mlp_model.layers if layer.name.startswith("mlp_dense_")),
        key=lambda layer: int(layer.name.rsplit("_", 1)[-1]),
    )
    sizes = dict(
        num_users=user.input_dim - 1,
        num_items=item.input_dim - 1,
        gmf_embedding_size=user.output_dim,
        mlp_embedding_size=mlp_user.output_dim,
        hidden_units=[layer.units for layer in dense],
    )
    model = build_neumf(**sizes, **kwargs)
    return load_pretrained_weights(model, gmf_model, mlp_model, alpha)


@register_model(task="recommendation", builder=build_gmf)
def gmf(**kwargs) -> keras.Model:
    """NCF's generalized matrix factorisation; hyperparameters in `zoo_configs/gmf.yaml`."""
    return build_gmf(**kwargs)


@register_model(task="recommendation", builder=build_ncf_mlp)
def ncf_mlp(**kwargs) -> keras.Model:
    """NCF's MLP tower; hyperparameters in `zoo_configs/ncf_mlp.yaml`."""
    return build_ncf_mlp(**kwargs)


@register_model(task="recommendation", builder=build_neumf)
def neumf(**kwargs) -> keras.Model:
    """NeuMF (GMF + MLP fused), optionally from pretrained parts; `zoo_configs/neumf.yaml`."""
    return build_neumf(**kwargs)
