"""Image classifier signatures: raw uint8 pixels in, `probabilities` and `label` out.

`serving_default` takes `image` `[None, H, W]` (grey images without the channel axis, as MNIST
arrives) or `[None, H, W, C]` when C > 1; `serve_nhwc` always takes `[None, H, W, C]`.
The models rescale pixels themselves, so the graph only adds the channel axis and the softmax.
"""

from __future__ import annotations

import tensorflow as tf

from kzoo.signatures.core import add_endpoint, classifier_outputs


def add_endpoints(archive, model, config, preprocessor) -> dict:
    """Add `serving_default` (and `serve_nhwc` for one-channel images) to `archive`."""
    height, width, channels = (int(d) for d in model.inputs[0].shape[1:])  # the model's uint8 image input

    def serve_nhwc(image):
        return classifier_outputs(model(image, training=False))

    def serve_nhw(image):
        return serve_nhwc(tf.expand_dims(image, -1))

    nhwc = tf.TensorSpec([None, height, width, channels], tf.uint8, name="image")
    if channels != 1:
        return {"serving_default": add_endpoint(archive, "serving_default", serve_nhwc, [nhwc])}
    nhw = tf.TensorSpec([None, height, width], tf.uint8, name="image")
    return {
        "serving_default": add_endpoint(archive, "serving_default", serve_nhw, [nhw]),
        "serve_nhwc": add_endpoint(archive, "serve_nhwc", serve_nhwc, [nhwc]),
    }
