"""Image classification: uint8 images in, float32 logits over `num_classes` out (MNIST-style)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf

from kzoo.data.images import load_image_data
from kzoo.data.schemas import IMAGE_DATA
from kzoo.errors import ConfigError
from kzoo.signatures import image as image_signatures
from kzoo.tasks.base import register_task
from kzoo.tasks.classification import ClassificationTask, pair_name


@register_task
class ImageClassification(ClassificationTask):
    """uint8 images `[B, H, W, C]` in (the models rescale them), logits out; no preprocessor."""

    name = "image_classification"
    data_schema = IMAGE_DATA
    input_name = tensor_input = "image"
    predict_example = "--image-npy digits.npy"  # uint8 [N, 28, 28]
    calibrates_int8 = True  # convolutions and dense layers on pixels: int8 activations lose little

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        return load_image_data(config, source, data_dir, seed, batch_size, shard)

    def example_batch(self, config, batch_size=8, seed=0):
        rng = np.random.default_rng(seed)
        model = config.model
        x = rng.integers(0, 256, size=(batch_size, *model.image_shape), dtype=np.uint8)
        return x, rng.integers(0, model.num_classes, size=(batch_size,))

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return image_signatures.add_endpoints(archive, model, config, preprocessor)

    def write_preprocessing_assets(self, preprocessor, directory):
        return {"image": "uint8 pixels 0..255, [B, H, W, C]: the model rescales them itself"}

    def tensor_inputs(self, raw, preprocessor):
        images = np.asarray(raw["image"], np.uint8)
        return {"image": images[..., None] if images.ndim == 3 else images}  # serving_default's [B, H, W]

    def profile_signatures(self, sample):
        images = np.asarray(sample["image"], np.uint8)  # [N, H, W, C], as the loader reads them
        if images.shape[-1] != 1:
            return {"serving_default": {"image": images}}
        return {"serving_default": {"image": images[..., 0]}, "serve_nhwc": {"image": images}}

    def serving_example(self, batch):
        rng = np.random.default_rng(0)
        return {"image": tf.constant(rng.integers(0, 256, (batch, 28, 28), dtype=np.uint8))}

    def check_student(self, teacher: Mapping, student: Mapping, preprocessor=None) -> None:
        super().check_student(teacher, student, preprocessor)
        if list(student.model.image_shape) != list(teacher.model.image_shape):
            raise ConfigError(f"{pair_name(teacher, student)} take different images: image_shape "
                              f"{student.model.image_shape} vs {teacher.model.image_shape}")
