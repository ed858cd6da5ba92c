"""Run directories: create or reopen them safely, and write what a finished run leaves behind."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


class RunDirError(ValueError):
    """The output directory cannot be used as asked (exists, missing, or is a file)."""


def prepare_run_dir(output: str | None, model_name: str, resume: bool, root: str = "runs") -> Path:
    """Return the run directory to use, created if new.

    A new run never reuses an existing directory; `resume=True` requires one that holds a
    `config.yaml`. Paths that are files are rejected.
    """
    if output is None:
        if resume:
            raise RunDirError("--resume needs --output DIR naming the run to continue")
        output = os.path.join(root, f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    path = Path(output)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output {str(path)!r} is a file, not a directory")
    if resume:
        if not (path / "config.yaml").is_file():
            raise RunDirError(f"--resume: no run to continue at {str(path)!r} (config.yaml not found)")
        return path
    if path.exists() and any(path.iterdir()):
        raise RunDirError(
            f"output {str(path)!r} already holds a run; pass --resume to continue it or choose another --output"
        )
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(data: dict, path: Path) -> None:
    """Write JSON atomically (temporary file then rename), so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=float) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def plot_curves(history: dict, metric: str, path: Path) -> None:
    """Save `curves.png`: loss and the main metric per epoch, train and validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", metric)):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if history.get(name):
                ax.plot(range(1, len(history[name]) + 1), history[name], style, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
