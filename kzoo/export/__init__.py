"""Export a trained zoo model as a TensorFlow SavedModel that serves raw inputs.

    from kzoo.export import export_run
    path = export_run("runs/lstm-20250101-120000")   # -> runs/.../export/1

The SavedModel sits in TF Serving's layout (`OUTPUT/<version>/saved_model.pb`), is written
atomically, and needs only TensorFlow to load: preprocessing (text vectorisation, id lookup,
detokenisation) runs inside the graph. Signatures per task are listed in `kzoo.export.core`;
each Task builds its own (`kzoo/signatures/`).
"""

from kzoo.errors import ExportError
from kzoo.export.core import QUANTIZE_MODES, export_model, export_run, next_version, quantize_model

__all__ = ["QUANTIZE_MODES", "ExportError", "export_model", "export_run", "next_version", "quantize_model"]
