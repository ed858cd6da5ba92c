"""The few lines a person reads at the end of a run: what trained on what, how well, and what next."""

from __future__ import annotations

from typing import Mapping

SYNTHETIC_WARNING = "SYNTHETIC data (generated, not the real dataset): its scores say nothing about the model"


def data_line(used: Mapping) -> str:
    """`imdb_reviews (tfds): train 22500, val 2500, test 25000` from `metrics.json`'s `data`, or a SYNTHETIC warning."""
    sizes = ", ".join(f"{k} {v}" for k, v in used["sizes"].items() if k in ("train", "val", "test"))
    if used["source"] == "synthetic":
        return f"{SYNTHETIC_WARNING} — {sizes}"
    return f"{used['name']} ({used['source']}): {sizes}"


def reference_line(test: Mapping, reference: Mapping, synthetic: bool) -> str | None:
    """`accuracy 0.8812 against the reference 0.8428 (keras-io ...): met`, or None without a reference."""
    metric, value = reference.get("metric"), reference.get("value")
    if not metric or value is None or metric not in test:
        return None
    verdict = "not comparable (synthetic data)" if synthetic else ("met" if test[metric] >= value else "NOT met")
    source = f" ({reference['source']})" if reference.get("source") else ""
    return f"{metric} {test[metric]:.4f} against the reference {value}{source}: {verdict}"


def format_summary(metrics: Mapping, config: Mapping, tool: str = "kzoo") -> str:
    """The end-of-run summary of a finished run's `metrics.json` and `config.yaml`, as printed lines."""
    run_dir, synthetic = metrics["run_dir"], metrics["data"]["source"] == "synthetic"
    epochs = f"{metrics['epochs_run']} of {metrics['epochs_requested']} epochs"
    if metrics.get("refit"):
        epochs += f"; refit: {metrics['refit']['epochs']} epochs on train + validation"
    test = ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items())
    lines = [
        f"{config['entry']} finished in {metrics['train_seconds']:.0f} s of training ({epochs})",
        f"  data:   {data_line(metrics['data'])}",
        f"  test:   {test}",
    ]
    reference = reference_line(metrics["test"], config.get("reference") or {}, synthetic)
    if reference:
        lines.append(f"  target: {reference}")
    if metrics.get("export"):
        lines.append(f"  export: {metrics['export']}")
    lines.append("  next:   " + "; ".join([
        f"{tool}-evaluate {run_dir}",
        *([f"{tool}-predict {metrics['export']} ..."] if metrics.get("export") else []),
        f"tensorboard --logdir {run_dir}/logs",
    ]))
    return "\n".join(lines)
