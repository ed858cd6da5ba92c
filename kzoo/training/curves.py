"""`curves.png`: a finished run's loss and main metric per epoch, train and validation."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: dict, metric: str, path: Path, title: str = "", test_value: float | None = None,
                reference: float | None = None, refit_epochs: int | None = None) -> None:
    """Save `curves.png`: loss and `metric` per epoch, train and validation.

    The metric panel also draws the test value and the entry's reference value as horizontal
    lines, and the refit phase (a fresh model trained `refit_epochs` on train + validation) as a
    marked span; `title` names the entry and its data.
    """
    # Imported here, not at the top: choosing the Agg backend at import time would change the
    # backend of every program that imports kzoo (notebooks included).
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", metric)):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if history.get(name):
                ax.plot(range(1, len(history[name]) + 1), history[name], style, marker="o", label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(key)
    metric_ax = axes[1]
    if test_value is not None:
        metric_ax.axhline(test_value, color="black", linestyle=":", label=f"test {test_value:.4f}")
    if reference is not None:
        metric_ax.axhline(reference, color="red", linestyle="-.", label=f"reference {reference}")
    if refit_epochs:
        metric_ax.axvspan(0.5, refit_epochs + 0.5, color="grey", alpha=0.15, label=f"refit: {refit_epochs} epochs")
    for ax in axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
