"""Serving signatures per kind of model, written into a `keras.export.ExportArchive`.

Each module's `add_endpoints(archive, model, config, preprocessor) -> {name: endpoint}` is what a
Task's `add_serving_endpoints` calls; `kzoo.export` picks the Task, writes and versions the archive.
"""

from kzoo.errors import ExportError
from kzoo.signatures.core import add_endpoint, classifier_outputs, signature_summary

__all__ = ["ExportError", "add_endpoint", "classifier_outputs", "signature_summary"]
