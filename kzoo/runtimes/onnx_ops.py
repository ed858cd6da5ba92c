"""ONNX mappings tf2onnx lacks, registered with tf2onnx's own `tf_op` handler decorator on import.

`XlaDynamicUpdateSlice`: Keras' TensorFlow `ops.slice_update` emits it, and keras-hub's cached
attention updates its key/value caches with it, so the translator's decoding loop holds it; tf2onnx
1.17 has no mapping for it ("op XlaDynamicUpdateSlice has no ONNX mapping"). It is written here, in
ONNX ops onnxruntime runs, because no converter release provides it.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from tf2onnx import utils
from tf2onnx.handler import tf_op


@tf_op("XlaDynamicUpdateSlice")
class XlaDynamicUpdateSlice:
    """`out = x` with `update` written at `start` (each start clamped to [0, dim(x) - dim(update)], as XLA does).

    As ONNX: pad `update` (and a mask of ones) out to x's shape at the clamped start, then `Where(mask, padded, x)`.
    """

    @classmethod
    def version_11(cls, ctx, node, **kwargs):
        x, update, start = node.input
        shapes, dtypes = node.output_shapes, node.output_dtypes
        int64 = TensorProto.INT64

        def op(kind, inputs, **attrs):
            return ctx.make_node(kind, inputs, attr=attrs).output[0]

        x_shape, update_shape = op("Shape", [x]), op("Shape", [update])
        room = op("Sub", [x_shape, update_shape])
        zero = ctx.make_const(utils.make_name("zero"), np.zeros([1], np.int64)).output[0]
        begin = op("Max", [op("Min", [op("Cast", [start], to=int64), room]), zero])
        pads = op("Concat", [begin, op("Sub", [room, begin])], axis=0)
        padded = op("Pad", [update, pads])
        ones = op("ConstantOfShape", [update_shape], value=helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0]))
        mask = op("Cast", [op("Pad", [ones, pads])], to=TensorProto.BOOL)
        ctx.remove_node(node.name)
        ctx.make_node("Where", [mask, padded, x], outputs=node.output, name=node.name, shapes=shapes, dtypes=dtypes)
