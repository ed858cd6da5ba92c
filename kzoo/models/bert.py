"""The BERT family: `bert_cls` (token ids -> keras-hub `BertBackbone` -> pooled features -> head)
and `bert_mlm` (the same backbone under keras-hub's `BertMaskedLM`, pretrained on unlabelled text).

The backbone is built from the config's small architecture (trained from scratch), or loaded
from the checkpoint `model.preset` names (a keras-hub preset, e.g. a `bert_mlm` run's, a Hugging
Face transformers BERT directory, or a hub handle; `kzoo.pretrained`); the architecture keys are
then ignored. The model
takes one input, `token_ids` `[B, L]` with 0 = [PAD]: the padding mask and the all-zero segment
ids are computed inside it, so serving passes the ids only.
"""

from __future__ import annotations

from typing import Literal

import keras
import keras_hub
from keras import ops

from kzoo.models._transformer_blocks import MaskedMeanPooling
from kzoo.entries import register_model
from kzoo.schema import Fraction, PositiveInt


def build_bert_backbone(
    preset: str = "",
    vocab_size: int = 20000,
    num_layers: int = 2,
    num_heads: int = 2,
    hidden_dim: int = 128,
    intermediate_dim: int = 256,
    max_sequence_length: int = 512,
    attention_dropout: float = 0.1,
) -> keras_hub.models.BertBackbone:
    """Return a `BertBackbone`: with the weights of the checkpoint `preset` when given, else fresh from the arguments."""
    if preset:
        from kzoo.pretrained import load_backbone

        return load_backbone(preset, name="backbone")
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocab_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        dropout=attention_dropout,
        max_sequence_length=max_sequence_length,
        name="backbone",
    )


def build_bert_classifier(
    preset: str = "",
    vocab_size: PositiveInt = 20000,
    num_layers: PositiveInt = 2,
    num_heads: PositiveInt = 2,
    hidden_dim: PositiveInt = 128,
    intermediate_dim: PositiveInt = 256,
    max_sequence_length: PositiveInt = 512,
    attention_dropout: Fraction = 0.1,
    pooling: Literal["mean", "cls"] = "mean",
    dropout: Fraction = 0.1,
    num_classes: PositiveInt = 2,
    name: str = "bert_cls",
) -> keras.Model:
    """Return a BERT text classifier on int32 token ids `[B, L]` (0 = [PAD], L <= max length).

    `pooling`: `mean` averages the final hidden states of the real tokens; `cls` uses BERT's
    pooled output (tanh dense on position 0, meaningful when the data side puts [CLS] first).
    Output: float32 logits `[B, num_classes]`.
    """
    if pooling not in ("mean", "cls"):
        raise ValueError(f"model.pooling must be 'mean' or 'cls', got {pooling!r}")
    backbone = build_bert_backbone(
        preset, vocab_size, num_layers, num_heads, hidden_dim, intermediate_dim,
        max_sequence_length, attention_dropout,
    )
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    mask = ops.not_equal(token_ids, 0)
    features = backbone(
        {
            "token_ids": token_ids,
            "segment_ids": ops.zeros_like(token_ids, dtype="int32"),
            "padding_mask": mask,
        }
    )
    if pooling == "cls":
        x = features["pooled_output"]
    else:
        backbone.get_layer("pooled_dense").trainable = False  # unused: no "gradients do not exist" warning
        x = MaskedMeanPooling(name="mean_pool")(features["sequence_output"], mask)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(token_ids, logits, name=name)


def build_bert_masked_lm(
    vocab_size: PositiveInt = 20000,
    num_layers: PositiveInt = 2,
    num_heads: PositiveInt = 2,
    hidden_dim: PositiveInt = 128,
    intermediate_dim: PositiveInt = 256,
    max_sequence_length: PositiveInt = 512,
    attention_dropout: Fraction = 0.1,
) -> keras_hub.models.BertMaskedLM:
    """Return keras-hub's `BertMaskedLM` over a fresh `BertBackbone` of these sizes (bert_cls's by default).

    Inputs: `{"token_ids", "segment_ids", "padding_mask", "mask_positions"}` (see
    `kzoo.data.pretraining`); output: float32 logits `[B, masked positions, vocab_size]`. The
    prediction head shares the token embedding, so the backbone is all a preset needs to keep.
    """
    backbone = build_bert_backbone("", vocab_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                                   max_sequence_length, attention_dropout)
    backbone.get_layer("pooled_dense").trainable = False  # the masked-token head does not use it
    return keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None, name="bert_mlm")


@register_model(task="text_classification", builder=build_bert_classifier)
def bert_cls(**kwargs) -> keras.Model:
    """IMDB BERT classifier; hyperparameters in `zoo_configs/bert_cls.yaml`."""
    return build_bert_classifier(**kwargs)


@register_model(task="masked_lm", builder=build_bert_masked_lm)
def bert_mlm(**kwargs) -> keras_hub.models.BertMaskedLM:
    """BERT masked-language-model pretraining on IMDB's unlabelled reviews; see `zoo_configs/bert_mlm.yaml`."""
    return build_bert_masked_lm(**kwargs)
