"""What the two classification tasks share: logits over `num_classes`, accuracy, a carved validation split.

`ClassificationTask` is not registered itself; `ImageClassification` and `TextClassification`
subclass it and add their data, preprocessing and serving endpoints.
"""

from __future__ import annotations

from typing import Mapping

import keras
import numpy as np

from kzoo.errors import ConfigError
from kzoo.signatures import classifier_outputs, scoring
from kzoo.signatures.tensor import single_input
from kzoo.tasks.base import Task


def pair_name(teacher: Mapping, student: Mapping) -> str:
    """`student 'x' and teacher 'y'`, the subject of distillation error messages."""
    return f"student {student['entry']!r} and teacher {teacher['entry']!r}"


class ClassificationTask(Task):
    """Sparse categorical cross-entropy on float32 logits; accuracy; validation is `data.val_fraction`.

    `input_name` is the serving signature's input (`image`, `text`) that raw test inputs are fed to;
    `tensor_input` is the tensor-only signature's (`image` pixels, `token_ids`): the model's own input.
    """

    monitor, mode = "val_accuracy", "max"
    main_metrics = ("accuracy",)
    validation_key = "data.val_fraction"
    distillable = True
    evaluates_exports = True
    input_name = ""
    predict_example = '--text "A wonderful, moving film."'
    tensor_input = ""

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def has_validation(self, config):
        return config.data.val_fraction > 0

    def chance_level(self, config, bundle):
        """Always predicting the validation split's most frequent class: its share is the accuracy to beat."""
        if bundle.val is None:
            return None
        counts = np.zeros(config.model.num_classes, np.int64)
        for batch in bundle.val:
            labels = np.asarray(batch[1]).reshape(-1).astype(np.int64)
            counts += np.bincount(labels[(labels >= 0) & (labels < counts.size)], minlength=counts.size)
        if not counts.sum():
            return None
        return {"value": float(counts.max() / counts.sum()), "examples": int(counts.sum()),
                "guess": "always predicting the most frequent class"}

    def without_validation(self):
        return {"data.val_fraction": 0.0}

    def tensor_endpoint(self, model, config, preprocessor):
        """`tensor_input` (the model's input dtype and shape, any batch) -> `probabilities`, `label`."""
        return single_input(model, self.tensor_input, classifier_outputs, self.example_batch(config)[0])

    def evaluate_export(self, signature, config, info, data_dir, batch_size, max_examples):
        return scoring.evaluate_classifier_export(signature, config, info, self.input_name, data_dir, batch_size,
                                                  max_examples)

    def check_student(self, teacher: Mapping, student: Mapping, preprocessor=None) -> None:
        """The student must predict as many classes as the teacher (subclasses check their inputs)."""
        if student.model.num_classes != teacher.model.num_classes:
            raise ConfigError(f"{pair_name(teacher, student)} have different output shapes: num_classes "
                              f"{student.model.num_classes} vs {teacher.model.num_classes}")
