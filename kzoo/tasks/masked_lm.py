"""Masked language modelling: pretrain a BERT backbone on unlabelled text (`bert_mlm`).

The loss is the cross-entropy of the masked tokens only (the data's `mask_weights` are the
sample weights), and so is the accuracy. There is no labelled test split: the held-out slice of
the unlabelled text scores every epoch and the final model. What a run gives out is not a
SavedModel but a keras-hub preset (`RUN/preset/`: backbone + WordPiece tokenizer) that
`bert_cls` fine-tunes from (`--set model.preset=RUN/preset`) and keras-hub loads alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kzoo import pretrained
from kzoo.data.pretraining import check_splits, load_pretraining_data
from kzoo.data.schemas import PRETRAINING_DATA
from kzoo.data.text_preprocessing import TextPreprocessor
from kzoo.errors import DataError, ExportError
from kzoo.tasks.base import Task, register_task


@register_task
class MaskedLanguageModelling(Task):
    """`{"token_ids", "segment_ids", "padding_mask", "mask_positions"}` in, masked-token logits out."""

    name = "masked_lm"
    monitor, mode = "val_loss", "min"
    main_metrics = ("accuracy", "loss")
    data_schema = PRETRAINING_DATA
    exports_saved_model = False

    def check_config(self, config):
        check_splits(config.data.splits)
        return config

    def loss(self):
        import keras

        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def weighted_metrics(self):
        import keras

        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        return load_pretraining_data(config, source, data_dir, seed, batch_size, shard, preprocessor)

    def load_preprocessor(self, directory: Path) -> TextPreprocessor:
        if not Path(directory).is_dir():
            raise DataError(f"{directory} not found: a masked-language-model run must hold its saved tokenizer")
        return TextPreprocessor.load(directory)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        vocab, length = config.model.vocab_size, config.data.sequence_length
        selections = max(1, int(np.ceil(length * config.data.mask_rate)))
        ids = rng.integers(5, vocab, size=(batch_size, length)).astype("int32")
        ids[:, length // 2 + 1:][rng.random((batch_size, length - length // 2 - 1)) < 0.5] = 0
        positions = np.sort(rng.integers(1, length // 2 + 1, size=(batch_size, selections)), axis=1).astype("int32")
        inputs = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": ids != 0,
                  "mask_positions": positions}
        return inputs, np.take_along_axis(ids, positions, axis=1)

    def after_save(self, run_dir, model, preprocessor, config) -> dict:
        directory = pretrained.write_bert_preset(Path(run_dir.path) / pretrained.PRESET_DIR, model.backbone,
                                                 preprocessor.vocabulary)
        print(f"kzoo: keras-hub preset ({pretrained.describe(directory)}) in {directory}; fine-tune with: "
              f"kzoo-train --model bert_cls --set model.preset={directory}", flush=True)
        return {"preset": str(directory)}

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        raise self._no_export(config)

    def tensor_endpoint(self, model, config, preprocessor):
        raise self._no_export(config)

    def _no_export(self, config) -> ExportError:
        return ExportError(f"{config.get('entry')} is a pretraining entry: its output is the keras-hub preset in the "
                           f"run's {pretrained.PRESET_DIR}/ directory, not a SavedModel; fine-tune it with kzoo-train "
                           f"--model bert_cls --set model.preset=RUN/{pretrained.PRESET_DIR} and export that run")
