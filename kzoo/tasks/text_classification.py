"""Text classification: int32 token ids in, float32 logits over `num_classes` out (IMDB-style).

The preprocessor is the run's `TextPreprocessor` (a word vocabulary or a WordPiece tokenizer),
learned on the training split only and saved in `preprocessing/`; the export runs it in the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import tensorflow as tf

from kzoo.data.schemas import TEXT_DATA
from kzoo.data.text import load_text_data
from kzoo.data.text_preprocessing import TextPreprocessor
from kzoo.errors import ConfigError, DataError
from kzoo.signatures import text as text_signatures
from kzoo.tasks.base import register_task
from kzoo.tasks.classification import ClassificationTask, pair_name

# A long review, so latency benchmarks pay for a realistic sequence.
_REVIEW = ("This film was a wonderful surprise: the acting is superb, the story moves quickly "
           "and the ending stayed with me for days. ") * 8


# bert_cls's architecture keys and the BertBackbone arguments they set.
_BACKBONE_KEYS = {"vocab_size": "vocabulary_size", "num_layers": "num_layers", "num_heads": "num_heads",
                  "hidden_dim": "hidden_dim", "intermediate_dim": "intermediate_dim",
                  "max_sequence_length": "max_sequence_length", "attention_dropout": "dropout"}


@register_task
class TextClassification(ClassificationTask):
    """int32 token ids `[B, L]` in (the run's tokenizer makes them), logits out."""

    name = "text_classification"
    data_schema = TEXT_DATA
    input_name = "text"
    tensor_input = "token_ids"

    def check_config(self, config):
        data = config.data
        wordpiece = data.tokenizer == "wordpiece" or bool(config.model.get("preset"))
        if data.truncation != "head" and not wordpiece:
            raise ConfigError(f"data.truncation={data['truncation']} cuts WordPiece inputs; {config.get('entry')} "
                              f"tokenizes words (data.tokenizer: word), which keep the head only")
        preset = config.model.get("preset")  # keras-hub entries only (bert_cls)
        if preset:  # a missing directory or an unreachable hub: one line now, not a failed download later
            from kzoo import pretrained

            architecture = pretrained.backbone_config(preset)
            longest = int(architecture.get("max_sequence_length", 0) or 0)
            length = config.data.sequence_length
            if longest and length > longest:
                raise ConfigError(f"data.sequence_length={length} is longer than preset {preset} allows ({longest} "
                                  f"positions); pass --set data.sequence_length={longest}")
            # The resolved config records the checkpoint's architecture: config.yaml says what was trained,
            # and a preset of the run rebuilds the model without the checkpoint.
            config = config.override({f"model.{key}": architecture[name] for key, name in _BACKBONE_KEYS.items()
                                      if name in architecture and key in config.model})
        return config

    def after_save(self, run_dir, model, preprocessor, config) -> dict:
        """A fine-tuned checkpoint's base (handle, format, licence, source) for `metrics.json` and the model card."""
        preset = config.model.get("preset")  # keras-hub entries only (bert_cls)
        if not preset:
            return {}
        from kzoo import pretrained

        return {"base_checkpoint": pretrained.checkpoint_card(preset)}

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        extra = {"preprocessor": preprocessor} if preprocessor is not None else {}
        return load_text_data(config, source, data_dir, seed, batch_size, shard, **extra)

    def load_preprocessor(self, directory: Path) -> TextPreprocessor:
        if not Path(directory).is_dir():
            raise DataError(f"{directory} not found: a text classifier run must hold its saved tokenizer")
        return TextPreprocessor.load(directory)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        model, length = config.model, config.data.sequence_length
        x = rng.integers(1, model.vocab_size, size=(batch_size, length)).astype("int32")
        # Padding at the end of about half the rows, as real batches of short reviews have.
        x[:, length // 2 + 1 :][rng.random((batch_size, length - length // 2 - 1)) < 0.5] = 0
        return x, rng.integers(0, model.num_classes, size=(batch_size,))

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return text_signatures.add_endpoints(archive, model, config, preprocessor)

    def tensor_endpoint(self, model, config, preprocessor):
        """`token_ids` int32 `[None, sequence_length]` (what the raw signature pads to) -> `probabilities`, `label`."""
        endpoint = super().tensor_endpoint(model, config, preprocessor)
        length = int(preprocessor.sequence_length if preprocessor is not None else config.data.sequence_length)
        endpoint.specs = [tf.TensorSpec([None, length], spec.dtype, name=spec.name) for spec in endpoint.specs]
        return endpoint

    def write_preprocessing_assets(self, preprocessor, directory):
        return text_signatures.write_assets(preprocessor, directory)

    def tensor_inputs(self, raw, preprocessor):
        return {"token_ids": preprocessor(raw["text"]).numpy()}

    def serving_example(self, batch):
        return {"text": tf.constant([_REVIEW] * batch)}

    def check_student(self, teacher: Mapping, student: Mapping, preprocessor=None) -> None:
        super().check_student(teacher, student, preprocessor)
        name = pair_name(teacher, student)
        if preprocessor is not None and preprocessor.vocabulary_size != teacher.model.vocab_size:
            raise ConfigError(f"the teacher's vocabulary ({preprocessor.vocabulary_size} tokens) does not match "
                              f"its model (vocab_size {teacher.model.vocab_size})")
        tokenizer = student.data.tokenizer
        if preprocessor is not None and tokenizer != preprocessor.tokenizer:
            raise ConfigError(f"{name} have different vocabularies: the student tokenizes with {tokenizer}, the "
                              f"teacher's vocabulary is {preprocessor.tokenizer} ({preprocessor.vocabulary_size} tokens)")
        length = preprocessor.sequence_length if preprocessor is not None else teacher.data.sequence_length
        if student.data.sequence_length != int(length):
            raise ConfigError(f"{name} differ in data.sequence_length ({student.data.sequence_length} vs "
                              f"{length}); pass --set data.sequence_length={length}")
