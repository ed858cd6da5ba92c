"""`train.lora_rank`: fine-tune a pretrained keras-hub backbone with LoRA, save plain merged weights.

keras-hub's `Backbone.enable_lora(rank)` freezes the backbone and adds rank-`rank` factors to its
attention query and value projections (or the layers `train.lora_layers` names); the task head outside the backbone keeps training. After
`fit`, the run's model is rebuilt without LoRA and given the merged kernels (Keras's
`save_own_variables` writes `kernel + A @ B` for a LoRA layer), so `model.keras` and the SavedModel
hold ordinary weights and serve exactly as a fully fine-tuned model does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping

import keras
import numpy as np

from kzoo.errors import ConfigError
from kzoo.plugin import RunPlugin


def lora_rank(config: Mapping) -> int:
    """The run's `train.lora_rank` (0: no LoRA)."""
    return config.train.lora_rank


def backbones(model: keras.Model) -> list:
    """The keras-hub backbones inside `model` (empty for models built without keras-hub)."""
    from keras_hub.models import Backbone

    return [layer for layer in [model, *model._flatten_layers(include_self=False)] if isinstance(layer, Backbone)]


def trainable_count(model: keras.Model) -> int:
    """Number of trainable parameters of `model`."""
    return int(sum(int(keras.ops.size(w)) for w in model.trainable_weights))


def merged_copy(model: keras.Model, config: Mapping) -> keras.Model:
    """A model of `config` without LoRA holding `model`'s weights, LoRA factors merged into the kernels."""
    from kzoo.zoo import build_from_config

    plain = build_from_config(config, compile=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "merged.weights.h5")
        model.save_weights(path)
        plain.load_weights(path)
    return plain


def check_rank(rank: int, backbone, names) -> None:
    """ConfigError when `rank` is not below the width of a layer LoRA would adapt.

    A layer's update `A @ B` (A: its input dims x rank, B: rank x its output width) has rank at most
    its narrowest side: a rank at or above it adapts nothing more than full fine-tuning of that
    kernel, with more parameters than the kernel itself (rank 4096 on a 64-wide head trained 99.98 %
    of the model as "LoRA").
    """
    widths = {}
    for layer in backbone._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None)
        if layer.name in names and hasattr(layer, "enable_lora") and kernel is not None:
            shape = [int(d) for d in kernel.shape]
            widths[layer.name] = min(int(np.prod(shape[:-1])), shape[-1])
    if widths and rank >= min(widths.values()):
        narrowest = min(widths, key=widths.get)
        raise ConfigError(f"train.lora_rank={rank} is not below the width of the layers it adapts ({narrowest}: "
                          f"{widths[narrowest]}): a low-rank update needs 1 <= train.lora_rank < "
                          f"{min(widths.values())} (usually 4 to 16)")


class LoRA(RunPlugin):
    """Trainer plug-in for `train.lora_rank` (see the module docstring)."""

    def __init__(self):
        self.counts: dict = {}

    def check(self, config: Mapping) -> None:
        """LoRA needs pretrained weights to adapt: an entry with `model.preset`, and the preset set."""
        if not lora_rank(config):
            return
        if "preset" not in config.model:
            raise ConfigError(f"train.lora_rank: {config.entry!r} has no pretrained keras-hub backbone "
                              f"(no model.preset key); LoRA fine-tunes entries such as bert_cls from a preset")
        if not config.model.preset:
            raise ConfigError("train.lora_rank needs pretrained weights to adapt: set model.preset=DIR|HANDLE "
                              "(e.g. a bert_mlm run's preset/)")

    def init_weights(self, net, config: Mapping) -> None:
        """Enable LoRA on every backbone of the freshly built (preset-loaded) `net`."""
        rank = lora_rank(config)
        if not rank:
            return
        found = backbones(net)
        if not found:
            raise ConfigError(f"train.lora_rank: {config.entry!r} holds no keras-hub backbone to adapt")
        names = config.train.lora_layers or None
        for backbone in found:
            known = {layer.name for layer in backbone._flatten_layers(include_self=False) if hasattr(layer, "enable_lora")}
            unknown = sorted(set(names or []) - known)
            if unknown:
                raise ConfigError(f"train.lora_layers: {unknown} are not LoRA-capable layers of the backbone "
                                  f"(valid: {', '.join(sorted(known))})")
            check_rank(rank, backbone, names or backbone.default_lora_layer_names())
            backbone.enable_lora(rank, target_layer_names=names)
        total = int(net.count_params())
        self.counts = {"rank": rank, "trainable_parameters": trainable_count(net), "total_parameters": total,
                       "layers": sorted(set(names or [n for b in found for n in b.default_lora_layer_names()]))}
        self.counts["trainable_share"] = round(self.counts["trainable_parameters"] / total, 6)
        print(f"kzoo: LoRA rank {rank}: {self.counts['trainable_parameters']:,} of {total:,} parameters train "
              f"({self.counts['trainable_share']:.2%})", flush=True)

    def after_fit(self, run) -> None:
        """Replace the trained LoRA model by a plain one with the merged weights (compiled for testing)."""
        if not lora_rank(run.config):
            return
        from kzoo.tasks import compile_model

        with run.scope():
            plain = merged_copy(run.net, run.config)
            compile_model(plain, run.config)
        run.net = plain

    def metrics(self, net, config: Mapping, total_steps) -> dict:
        return {"lora": dict(self.counts)} if self.counts else {}
