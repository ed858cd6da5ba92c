"""A study's results: every trial as JSON and CSV, a table, plots, and the best config as a YAML.

Everything is read back from the study's storage, so a report made on any machine sharing the
study lists every machine's trials.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from pathlib import Path
from typing import Mapping

import optuna
import yaml

TRIALS_JSON, TRIALS_CSV, BEST_CONFIG = "trials.json", "trials.csv", "best.yaml"


def trial_rows(study: optuna.Study) -> list[dict]:
    """One dict per trial: number, status (finished / pruned / diverged / killed / running ...), value,
    params, the validation metric per epoch, seconds, epochs, worker, run directory, reason."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        per_epoch = [t.intermediate_values[step] for step in sorted(t.intermediate_values)]
        attrs = t.user_attrs
        status = attrs.get("status") if t.state.is_finished() else t.state.name.lower()
        rows.append({
            "number": t.number, "state": t.state.name.lower(), "status": status or t.state.name.lower(),
            "value": t.value, "params": dict(t.params), "per_epoch": per_epoch,
            "seconds": attrs.get("seconds"), "epochs": attrs.get("epochs", len(per_epoch)),
            "worker": attrs.get("worker"), "run_dir": attrs.get("run_dir"), "reason": attrs.get("reason"),
            "retry_of": attrs.get("retry_of"),
        })
    return rows


def best_row(rows: list[dict], mode: str) -> dict | None:
    """The finished trial with the best value (`mode` max or min), or None when none finished."""
    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None and math.isfinite(r["value"])]
    if not done:
        return None
    return (max if mode == "max" else min)(done, key=lambda r: r["value"])


def write_trials(rows: list[dict], directory: Path) -> list[Path]:
    """`trials.json` (every field) and `trials.csv` (one column per parameter) in `directory`."""
    (directory / TRIALS_JSON).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    params = sorted({k for r in rows for k in r["params"]})
    with open(directory / TRIALS_CSV, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", "status", "value", "epochs", "seconds", *params, "per_epoch", "worker"])
        for r in rows:
            writer.writerow([r["number"], r["status"], r["value"], r["epochs"], r["seconds"],
                             *(r["params"].get(p) for p in params),
                             " ".join(f"{v:.6g}" for v in r["per_epoch"]), r["worker"]])
    return [directory / TRIALS_JSON, directory / TRIALS_CSV]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def format_table(rows: list[dict], monitor: str, best: dict | None = None) -> str:
    """The trials as a text table: trial, status, best validation `monitor`, epochs, seconds, parameters."""
    params = sorted({k for r in rows for k in r["params"]})
    table = [["trial", "status", monitor, "epochs", "seconds", *params]]
    for r in rows:
        mark = " *" if best is not None and r["number"] == best["number"] else ""
        table.append([f"{r['number']}{mark}", r["status"], _cell(r["value"]), _cell(r["epochs"]), _cell(r["seconds"]),
                      *(_cell(r["params"].get(p)) for p in params)])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)


def plot_study(study: optuna.Study, directory: Path) -> dict[str, str]:
    """Optuna's plots as PNGs: `metric_by_trial`, `metric_by_epoch`, `param_importances` (PED-ANOVA,
    which needs no scikit-learn). Returns `{name: path or "skipped: why"}` (a plot needs finished trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as optuna_plots

    plots = {
        "metric_by_trial": lambda: optuna_plots.plot_optimization_history(study),
        "metric_by_epoch": lambda: optuna_plots.plot_intermediate_values(study),
        "param_importances": lambda: optuna_plots.plot_param_importances(
            study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()),
    }
    written = {}
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                ax = plot()
            figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            path = directory / f"{name}.png"
            figure.savefig(path, dpi=100)
            plt.close(figure)
            written[name] = str(path)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            written[name] = f"skipped: {err}"
    return written


def write_best_config(config: Mapping, params: Mapping, path: Path, header: str) -> dict:
    """`config` with the best trial's `params` set, as a YAML file `kzoo-train --config` loads; returns it.

    The entry's own `train.refit` is kept (trials ran without it); `header` becomes comment lines.
    """
    from kzoo.entry_config import apply_overrides

    best = apply_overrides({k: v for k, v in config.items() if k != "data_source"}, dict(params), config.entry)
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    path.write_text(comments + yaml.safe_dump(best.to_dict(), sort_keys=False), encoding="utf-8")
    return best
