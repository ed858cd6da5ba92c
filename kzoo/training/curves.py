"""`curves.png`: a finished run's loss and main metric per epoch, train and validation."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: dict, metric: str, path: Path) -> None:
    """Save `curves.png`: loss and the main metric per epoch, train and validation."""
    # Imported here, not at the top: choosing the Agg backend at import time would change the
    # backend of every program that imports kzoo (notebooks included).
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
