"""Portable runtimes: a run's tensor-only signature as LiteRT (`.tflite`) and ONNX models, checked at export.

    from kzoo.runtimes import export_runtime
    export_runtime("runs/lstm-X", "litert")                    # -> runs/lstm-X/export/litert/1
    export_runtime("runs/mlp-X", "litert", quantize="int8")    # the converter's int8 (calibrated for images)
    export_runtime("runs/neumf-X", "onnx")                     # -> runs/neumf-X/export/onnx/1
    export_runtime("runs/transformer_seq2seq-X", "onnx", overrides=["export.beam_size=4"])  # beam search inside

Each export is a versioned folder beside the SavedModels, `OUTPUT/<runtime>/<version>/` (OUTPUT
defaults to `RUN/export`; TF Serving ignores the non-numeric `litert`/`onnx` folders), written
whole or not at all:

    model.tflite | model.onnx   the tensor-only signature (`Task.tensor_endpoint`)
    preprocessing/              vocabularies / id maps as plain files (`Task.write_preprocessing_assets`)
    kzoo.json                   entry, task, inputs/outputs, fixed shapes, quantization, the
                                preprocessing spec, the parity check (tolerance, max |diff|), versions

The model is converted with the ecosystem's converters (`tf.lite.TFLiteConverter`, builtins only;
tf2onnx), then run in the runtime a client uses (the LiteRT interpreter, onnxruntime) on the
entry's example batch and compared with the Keras model; beyond the tolerance nothing is written.
The converters are the `runtimes` extra (`pip install -e ".[runtimes]"`).
"""

from kzoo.runtimes.formats import FORMATS, INSTALL_HINT, RUNTIMES, missing_packages, parse_formats


def export_runtime(run, runtime: str, output=None, quantize: str | None = None, tolerance: float | None = None,
                   overrides=()):
    """Export a finished run for `runtime` ("litert", "onnx"); return its version folder (`kzoo.runtimes.export`).

    `overrides` ("export.beam_size=4") are the run's serving options for this export.
    """
    from kzoo.runtimes.export import export_runtime as export

    return export(run, runtime, output=output, quantize=quantize, tolerance=tolerance, overrides=overrides)


__all__ = ["FORMATS", "INSTALL_HINT", "RUNTIMES", "export_runtime", "missing_packages", "parse_formats"]
