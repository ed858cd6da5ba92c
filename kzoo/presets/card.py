"""The Hugging Face model card (`README.md`) of a preset or a run: YAML front matter, then sections.

The front matter (`library_name: keras`, tags, datasets, `model-index`) carries the test metrics of
`metrics.json` unrounded, so the Hub's evaluation widget and a reader of the file see the same
numbers. A model trained on generated data says SYNTHETIC in its title, first line and limitations.
"""

from __future__ import annotations

from typing import Mapping

import yaml



def is_synthetic(metadata: Mapping) -> bool:
    """Whether the model was trained on kzoo's generated data (its scores mean nothing)."""
    kinds = {(metadata.get("data_source") or {}).get("kind"), metadata["data"].get("source")}
    return "synthetic" in kinds


def front_matter(config: Mapping, metadata: Mapping) -> dict:
    """The card's YAML header: library, tags, datasets, metrics and `model-index` (test metrics, unrounded)."""
    task_tag = str(config.task).replace("_", "-")
    dataset = metadata["data"].get("name") or config.data.dataset or "unknown"
    synthetic = is_synthetic(metadata)
    tags = ["kzoo", "keras", "tensorflow", config.entry, config.family or config.entry, task_tag]
    tags += ["synthetic-data"] if synthetic else []
    test = metadata.get("test") or {}  # a tuning trial has no test (None)
    return {
        "library_name": "keras",
        "tags": list(dict.fromkeys(t for t in tags if t)),
        "datasets": [dataset],
        "metrics": list(test),
        "model-index": [{
            "name": config.entry,
            "results": [{
                "task": {"type": task_tag, "name": str(config.task)},
                "dataset": {"type": dataset, "name": f"{dataset} (SYNTHETIC)" if synthetic else dataset,
                            "split": "test"},
                "metrics": [{"type": k, "name": f"test {k}", "value": v} for k, v in test.items()],
            }],
        }],
    }


def _table(rows: list[tuple]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in body])


def _size_lines(metadata: Mapping) -> list[str]:
    sizes, lines = metadata.get("sizes", {}), []
    if metadata.get("parameters") is not None:
        lines.append(f"- parameters: {metadata['parameters']:,}")
    for key, label in (("weights_bytes", "weights (`model.weights.h5`)"), ("model_keras_bytes", "`model.keras`"),
                       ("preprocessing_bytes", "preprocessing assets"),
                       ("saved_model_bytes", "newest SavedModel export")):
        if sizes.get(key):
            lines.append(f"- {label}: {sizes[key]:,} bytes")
    latency = metadata.get("serving_latency")
    if latency:
        lines.append(f"- serving latency (batch 1, `{latency.get('signature', 'serving_default')}`): "
                     f"p50 {latency['batch1_p50_ms']} ms, p99 {latency.get('batch1_p99_ms')} ms; batch 256: "
                     f"{latency.get('batch256_examples_per_sec')} examples/s")
    else:
        lines.append("- serving latency: not measured (`kzoo-benchmark --serving RUN/export/VERSION` measures it)")
    return lines


def model_card(config: Mapping, metadata: Mapping, reference: str = "path/to/preset", run: bool = False) -> str:
    """The model card text of the model `config` describes, from its `metadata` (`kzoo.presets.metadata.describe`).

    `reference` is how the card's snippets name the model (a preset path or hub handle; with `run`, a
    run directory, whose `model.keras` the card also shows loading with `kzoo.load_model`).
    """
    entry, synthetic = config.entry, is_synthetic(metadata)
    used, test = metadata["data"], metadata.get("test") or {}
    sizes = used.get("sizes") or {}
    warning = ("**SYNTHETIC DATA: this model was trained and tested on data kzoo generated, not on a real dataset. "
               "Its scores mean nothing and it is not fit for any use but testing the tooling.**")
    description = " ".join(str(config.description or f"The kzoo `{entry}` model.").split())
    chance = metadata.get("chance")
    chance_line = (f"NO BETTER THAN CHANCE: its best validation {chance['metric']}, {chance['best']:.4g}, is not "
                   f"clearly above {chance['chance']:.4g}, what {chance['guess']} scores (margin "
                   f"{chance['margin']:.2g}); it learned nothing it can show." if chance else "")
    lines = [f"# {entry}{' (SYNTHETIC)' if synthetic else ''}: a kzoo model", ""]
    lines += [warning, ""] if synthetic else []
    lines += [f"**{chance_line}**", ""] if chance else []
    lines += [
        "## What it is", "",
        f"kzoo entry `{entry}` (family `{config.get('family')}`, task `{config.get('task')}`), "
        f"{metadata.get('parameters') or 0:,} parameters. {description}", "",
        "Architecture (the builder's arguments):", "", "```yaml",
        yaml.safe_dump(dict(config.model), sort_keys=False).rstrip(), "```", "",
        "## Intended use", "",
        f"Predictions for the `{config.get('task')}` task on inputs like its training data, and a starting point "
        "for fine-tuning on your own data:", "", "```python", "import kzoo",
        f'model, preprocessor = kzoo.load("{reference}")   # the Keras model (a classifier\'s logits), its preprocessor',
        *([f'predict = kzoo.predictor("{reference}")   # raw inputs in, what the exported SavedModel serves out']
          if config.task_object.exports_saved_model else []),
        # keras.saving.load_model after a bare `import kzoo` cannot find kzoo's layers: show the call that can.
        *([f'model = kzoo.load_model("{reference}")   # model.keras as saved (keras.saving.load_model, kzoo\'s '
           'layers registered)'] if run else []), "```", "",
        "```bash", f"python tools/train.py --model {entry} --init-from {reference} --data path/to/your/data", "```", "",
        "## Training data and command", "",
        f"- source: {'SYNTHETIC (generated by kzoo)' if synthetic else used.get('source')}; "
        f"dataset: `{used.get('name')}`",
        f"- sizes: {', '.join(f'{k} {v:,}' if isinstance(v, int) else f'{k} {v}' for k, v in sizes.items())}",
        *(f"- {note}" for note in used.get("notes", [])),
        f"- epochs run: {metadata.get('epochs_run')}; batch size {config['train'].get('batch_size')}, optimizer "
        f"{config['train'].get('optimizer')}, learning rate {config['train'].get('learning_rate')}, "
        f"seed {config.get('runtime', {}).get('seed')}",
    ]
    if metadata.get("init_from"):
        lines.append(f"- fine-tuned from the preset `{metadata['init_from']}`")
    base = metadata.get("base_checkpoint")
    if base:
        lines.append(f"- base checkpoint: `{base.get('handle')}` ({base.get('format')}; {base.get('architecture')}); "
                     f"licence: {base.get('license') or 'not stated by the checkpoint: check it before sharing'}; "
                     f"source: {base.get('source')}")
    lines += ["", f"Command: `{metadata['command']}`" if metadata.get("command") else
              "Command: not recorded (the run was not started from a kzoo tool).", ""]
    lines += ["## Evaluation results", "", f"On the test split of `{used.get('name')}` (`metrics.json`):", ""]
    lines += [_table([("metric", "value"), *((k, f"{v:.4f}") for k, v in test.items())]) if test else "none", ""]
    ref = config.reference
    if ref.get("value") is not None:
        lines += [f"Reference: {ref.get('metric')} {ref['value']:g} ({ref.get('source')}).", ""]
    lines += ["## Limitations", ""]
    if synthetic:
        lines += [f"- SYNTHETIC: {warning.strip('*')}"]
    if chance:
        lines += [f"- {chance_line}"]
    lines += [f"- Scored on one test split (`{used.get('name')}`) with one seed; other data will score differently.",
              "- Inputs must be preprocessed with the preprocessor shipped beside the weights (its vocabulary or id "
              "maps); out-of-vocabulary tokens and unknown ids map to the padding / unknown index.",
              "- Not evaluated for fairness, robustness or safety.", ""]
    lines += ["## Size and serving latency", "", *_size_lines(metadata), ""]
    found = metadata.get("versions", {})
    lines += ["## Versions", "", ", ".join(f"{k} {v}" for k, v in found.items() if v), ""]
    return "---\n" + yaml.safe_dump(front_matter(config, metadata), sort_keys=False) + "---\n\n" + "\n".join(lines)


def read_front_matter(text: str) -> dict:
    """The YAML front matter of a model card's text ({} when it has none)."""
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text[4:].split("\n---\n", 1)[0]) or {}
