"""Translation (task id `seq2seq`): source and shifted target ids in, logits over the target vocabulary out.

Id 0 is padding in targets (ignored by the loss and the token accuracy). The test metrics add
corpus BLEU of the translations decoded as the export decodes (`export.beam_size`, greedy at 1);
the export translates raw strings inside the graph. The id
`seq2seq` is kept from before tasks were objects: it is written in existing runs and exports.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.schemas import TRANSLATION_DATA, TRANSLATION_EXPORT
from kzoo.data.seq2seq import load_seq2seq_data
from kzoo.data.seq2seq_preprocessing import Seq2SeqPreprocessor
from kzoo.errors import DataError
from kzoo.models.transformer_seq2seq import decode
from kzoo.signatures import scoring
from kzoo.signatures import translation as translation_signatures
from kzoo.tasks.base import Task, register_task


@keras.saving.register_keras_serializable(package="kzoo")
def masked_token_accuracy(y_true, y_pred):
    """Token accuracy of seq2seq logits, ignoring padding (id 0) in `y_true`."""
    y_true = keras.ops.cast(y_true, "int32")
    predicted = keras.ops.cast(keras.ops.argmax(y_pred, axis=-1), "int32")
    mask = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
    hits = keras.ops.cast(keras.ops.equal(y_true, predicted), "float32") * mask
    return keras.ops.sum(hits) / keras.ops.maximum(keras.ops.sum(mask), 1.0)


@register_task
class Translation(Task):
    """Teacher-forced cross-entropy ignoring padding; token accuracy; test BLEU; no refit."""

    name = "seq2seq"
    monitor, mode = "val_accuracy", "max"
    main_metrics = ("bleu", "accuracy")
    data_schema = TRANSLATION_DATA
    predict_example = '--text "Zwei Hunde spielen im Schnee."'
    export_schema = TRANSLATION_EXPORT
    evaluates_exports = True

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

    def metrics(self):
        return [keras.metrics.MeanMetricWrapper(masked_token_accuracy, name="accuracy")]

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        options = translation_signatures.decoding_options(config)  # test BLEU decodes as the export will

        def decode_fn(model, encoder_inputs, max_length, start_id, end_id):
            return decode(model, encoder_inputs, max_length, start_id, end_id, **options)

        return load_seq2seq_data(config, source, data_dir, seed, batch_size, shard, preprocessor, decode_fn=decode_fn)

    def load_preprocessor(self, directory: Path) -> Seq2SeqPreprocessor:
        if not Path(directory).is_dir():
            raise DataError(f"{directory} not found: a seq2seq run must hold its saved vocabularies")
        return Seq2SeqPreprocessor.load(directory)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        model, data = config.model, config.data
        src = rng.integers(1, model.source_vocab_size, size=(batch_size, data.source_length))
        tgt = rng.integers(1, model.target_vocab_size, size=(batch_size, data.target_length + 1))
        x = {"encoder_inputs": src.astype("int32"), "decoder_inputs": tgt[:, :-1].astype("int32")}
        return x, tgt[:, 1:].astype("int32")

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return translation_signatures.add_endpoints(archive, model, config, preprocessor)

    def tensor_endpoint(self, model, config, preprocessor):
        return translation_signatures.tensor_endpoint(model, config, preprocessor, self.example_batch(config)[0])

    def write_preprocessing_assets(self, preprocessor, directory):
        return translation_signatures.write_assets(preprocessor, directory)

    def tensor_inputs(self, raw, preprocessor):
        return {"source_ids": preprocessor.encode_source(raw["text"]).numpy()}

    def serving_outputs(self, outputs, preprocessor):
        return {"translation": preprocessor.detokenize(tf.constant(outputs["target_ids"])).numpy()}

    def serving_example(self, batch):
        return {"text": tf.constant(["Ein Mann fährt mit dem Fahrrad über eine Brücke."] * batch)}

    def evaluate_export(self, signature, config, info, data_dir, batch_size, max_examples):
        sources, references = scoring.raw_test_pairs(config.data, data_dir)
        if max_examples:
            sources, references = sources[:max_examples], references[:max_examples]
        return scoring.evaluate_translation(signature, sources, references)
