"""Size of an exported SavedModel on disk: raw bytes and gzip-compressed tarball bytes."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path


def saved_model_size(directory: str | os.PathLike) -> dict:
    """Return {"raw_bytes", "gzip_bytes"} of a SavedModel folder.

    `gzip_bytes` is the size of the folder as a gzip-compressed tar (level 9), which is what
    sparse (pruned) weights gain: zeros compress, while the raw size does not change.
    """
    directory = Path(directory)
    raw = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            tar.add(str(directory), arcname=directory.name)
    return {"raw_bytes": raw, "gzip_bytes": buffer.tell()}
