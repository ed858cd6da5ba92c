"""The few lines a person reads at the end of a run: what trained on what, how well, and what next."""

from __future__ import annotations

from typing import Mapping

from kzoo.tasks import get_task

SYNTHETIC_WARNING = "SYNTHETIC data (generated, not the real dataset): its scores say nothing about the model"


def sliced(used: Mapping, data: Mapping) -> int | None:
    """The `data.max_examples` cap a run's real data was read with (`--tiny`), None when it read every example."""
    cap = int(data.get("max_examples") or 0)
    return cap if cap and used["source"] != "synthetic" else None


def _split_size(split: str, rows: int, sizes: Mapping) -> str:
    """`train 22500`, or for data whose rows are not examples (a recommender's) what the rows hold."""
    if f"{split}_positives" in sizes:
        return f"{split} {rows} rows ({sizes[f'{split}_positives']} interactions + their sampled negatives)"
    if f"{split}_users" in sizes:
        return f"{split} {rows} rows ({sizes[f'{split}_users']} users' held-out items + their ranking candidates)"
    return f"{split} {rows}"


def data_line(used: Mapping, cap: int | None = None) -> str:
    """`imdb_reviews (tfds): train 22500, val 2500, test 25000` from `metrics.json`'s `data`, or a SYNTHETIC warning.

    With `cap` (see `sliced`) it says the run read only the first `cap` examples of each split.
    """
    sizes = ", ".join(_split_size(k, v, used["sizes"]) for k, v in used["sizes"].items() if k in ("train", "val", "test"))
    if used["source"] == "synthetic":
        return f"{SYNTHETIC_WARNING} — {sizes}"
    where = f", a slice: the first {cap} examples of each split" if cap else ""
    return f"{used['name']} ({used['source']}{where}): {sizes}"


def reference_line(test: Mapping, reference: Mapping, synthetic: bool, sliced: bool = False) -> str | None:
    """`accuracy 0.8812 against the reference 0.8428 (keras-io ...): met`, or None without a reference."""
    metric, value = reference.get("metric"), reference.get("value")
    if not metric or value is None or metric not in test:
        return None
    if synthetic or sliced:
        verdict = "not comparable (synthetic data)" if synthetic else "not comparable (a slice of the data)"
    else:
        verdict = "met" if test[metric] >= value else "NOT met"
    source = f" ({reference['source']})" if reference.get("source") else ""
    return f"{metric} {test[metric]:.4f} against the reference {value}{source}: {verdict}"


def format_summary(metrics: Mapping, config: Mapping, tool: str = "kzoo") -> str:
    """The end-of-run summary of a finished run's `metrics.json` and `config.yaml`, as printed lines."""
    run_dir, synthetic = metrics["run_dir"], metrics["data"]["source"] == "synthetic"
    cap = sliced(metrics["data"], config.get("data") or {})
    epochs = f"{metrics['epochs_run']} of {metrics['epochs_requested']} epochs"
    if metrics.get("refit"):
        epochs += f"; refit: {metrics['refit']['epochs']} epochs on train + validation"
    test = ", ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items())
    lines = [
        f"{config['entry']} finished in {metrics['train_seconds']:.0f} s of training ({epochs})",
        f"  data:   {data_line(metrics['data'], cap)}",
        f"  test:   {test}",
    ]
    reference = reference_line(metrics["test"], config.get("reference") or {}, synthetic, cap is not None)
    if reference:
        lines.append(f"  target: {reference}")
    if metrics.get("export"):
        lines.append(f"  export: {metrics['export']}")
    example = get_task(config["task"]).predict_example if config.get("task") else ""
    lines.append("  next:   " + "; ".join([
        f"{tool}-evaluate {run_dir}",
        *([f"{tool}-predict {metrics['export']} {example}".rstrip()] if metrics.get("export") else []),
        f"tensorboard --logdir {run_dir}/logs",
    ]))
    return "\n".join(lines)
