"""IMDB accuracy against the number of labelled reviews, for each starting point (issue 35's learning curve).

Every cell is one `tools/train.py` run on a seeded, class-balanced subset of the training split
(`data.train_examples=N`, validation carved from those N), scored on the same test reviews
(`data.test_examples=T`, one fixed subset for every run; 0 = the whole test split). Results are
appended to a JSONL file as each run ends, and cells already there are skipped, so an interrupted
sweep resumes where it stopped.

    PYTHONPATH=. python benchmarks/learning_curve.py --data-dir ../shared/datasets/tfds \
        --checkpoint ../shared/checkpoints/all-MiniLM-L6-v2 --starts published,random \
        --sizes 500,2000 --seeds 0,1,2 --test-examples 5000
    PYTHONPATH=. python benchmarks/learning_curve.py --table --plot benchmarks/learning_curve.png

Starting points (`--starts`): `published` fine-tunes the checkpoint `--checkpoint` (any BERT
checkpoint kzoo's `model.preset` takes), `lora` the same with `train.lora_rank`, `pretrained`
fine-tunes kzoo's own `bert_mlm` preset (`--own-preset`), `random` is `bert_cls` from random
weights with the same recipe, `lstm` and `transformer_cls` are those entries from scratch with their
own configs. The fine-tuning recipe (FINETUNE below) is shared by the BERT rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "learning_curve.jsonl"

# The BERT rows' recipe (chosen on validation; BENCHMARKS.md): AdamW with a short warm-up and cosine decay,
# WordPiece head+tail truncation at 128 tokens, bf16 on the CPU, mean pooling (what all-MiniLM was trained with).
FINETUNE = {"train.optimizer": "adamw", "train.learning_rate": "5e-5", "train.weight_decay": "0.01",
            "train.schedule": "cosine", "train.batch_size": "16", "train.epochs": "3",
            "train.early_stopping_patience": "0", "train.clipnorm": "1.0",
            "data.sequence_length": "128", "data.truncation": "head_tail", "runtime.mixed_precision": "true"}


def cell_overrides(start: str, args) -> tuple[str, dict]:
    """The entry and `--set` overrides of one starting point."""
    if start in ("lstm", "transformer_cls"):
        return start, {}
    recipe = dict(FINETUNE)
    recipe["train.learning_rate"] = args.learning_rate or recipe["train.learning_rate"]
    recipe["data.sequence_length"] = str(args.sequence_length)
    if start == "published":
        return "bert_cls", {**recipe, "model.preset": args.checkpoint}
    if start == "lora":
        return "bert_cls", {**recipe, "model.preset": args.checkpoint, "train.lora_rank": str(args.lora_rank),
                            "train.learning_rate": args.lora_learning_rate}
    if start == "pretrained":
        return "bert_cls", {**recipe, "model.preset": args.own_preset}
    if start == "random":
        # bert_cls's own architecture from random weights: a from-scratch model learns faster than 5e-5
        # allows, so it keeps its entry's learning rate (the recipe's other settings are shared).
        return "bert_cls", {**recipe, "train.learning_rate": args.random_learning_rate,
                            "data.sequence_length": str(args.sequence_length)}
    raise SystemExit(f"learning_curve: unknown start {start!r} (valid: published, lora, pretrained, random, lstm, "
                     f"transformer_cls)")


def run_cell(start: str, labels: int, seed: int, args) -> dict:
    """Train one cell in a temporary run directory; return its JSONL record."""
    entry, sets = cell_overrides(start, args)
    sets = {**sets, "data.train_examples": str(labels), "data.test_examples": str(args.test_examples)}
    for extra in args.set:
        key, value = extra.split("=", 1)
        sets[key] = value
    if entry == "bert_cls" and "train.warmup_steps" not in sets:
        # warm up over the first tenth of the steps, whatever the labelled size and epochs (after --set)
        steps = -(-int(labels * 0.9) // int(sets["train.batch_size"])) * int(sets["train.epochs"])
        sets["train.warmup_steps"] = str(max(1, steps // 10))
    run = Path(tempfile.mkdtemp(prefix=f"lc-{start}-{labels}-{seed}-", dir=args.work_dir))
    command = [sys.executable, str(ROOT / "tools" / "train.py"), "--model", entry, "--data-dir", args.data_dir,
               "--seed", str(seed), "--no-export", "--output", str(run / "run")]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    started = time.time()
    # The run's output goes to a file as it comes, so a long cell can be watched (`tail -f`).
    log_path = Path(args.log) if args.log else run / "train.log"
    with open(log_path, "w") as log_file:
        done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    seconds = time.time() - started
    log = log_path.read_text()
    result = next((json.loads(line) for line in reversed(log.splitlines()) if line.startswith('{"')), None)
    metrics = json.loads((run / "run" / "metrics.json").read_text()) if (run / "run" / "metrics.json").exists() else {}
    shutil.rmtree(run, ignore_errors=True)
    if done.returncode != 0 or result is None:
        raise SystemExit(f"learning_curve: {start} {labels} seed {seed} failed (exit {done.returncode}):\n{log[-3000:]}")
    history = metrics.get("history") or {}
    return {"start": start, "labels": labels, "seed": seed, "entry": entry,
            "test_accuracy": result["test"]["accuracy"], "test_examples": args.test_examples or 25000,
            "val_accuracy": (history.get("val_accuracy") or [None])[-1], "epochs_run": result.get("epochs_run"),
            "seconds": round(seconds, 1), "sets": sets, **({"lora": metrics["lora"]} if metrics.get("lora") else {}),
            "command": "python tools/train.py " + " ".join(command[2:]).replace(str(ROOT) + "/", "")}


def read_records(path: Path) -> list[dict]:
    """The records of a learning-curve JSONL file ([] when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _recipe_note(record: dict) -> str:
    """", 256 tokens, 1 epoch": where a BERT cell's length or epochs differ from FINETUNE's (else "")."""
    sets = record.get("sets") or {}
    if record.get("entry") != "bert_cls":
        return ""
    notes = [f"{sets[key]} {unit}" for key, unit in (("data.sequence_length", "tokens"), ("train.epochs", "epochs"))
             if key in sets and sets[key] != FINETUNE[key]]
    return "".join(f", {note.replace('1 epochs', '1 epoch')}" for note in notes)


def table(records: list[dict]) -> str:
    """A markdown table: one row per starting point, one column per labelled size, mean ± std (seeds)."""
    import numpy as np

    starts = list(dict.fromkeys(r["start"] for r in records))
    sizes = sorted({r["labels"] for r in records})
    lines = ["| start | " + " | ".join(f"{n:,} labels" for n in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for start in starts:
        cells = []
        for n in sizes:
            cell = [r for r in records if r["start"] == start and r["labels"] == n]
            values = [r["test_accuracy"] for r in cell]
            if not values:
                cells.append("—")
            elif len(values) == 1:
                cells.append(f"{values[0]:.4f} (1 seed{_recipe_note(cell[0])})")
            else:
                cells.append(f"{np.mean(values):.4f} ± {np.std(values):.4f} ({len(values)} seeds)")
        lines.append(f"| {start} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(records: list[dict], path: Path) -> None:
    """Accuracy against labelled examples (log x), one line per starting point, seeds' mean with min–max bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for start in dict.fromkeys(r["start"] for r in records):
        sizes = sorted({r["labels"] for r in records if r["start"] == start})
        values = [[r["test_accuracy"] for r in records if r["start"] == start and r["labels"] == n] for n in sizes]
        means = np.array([np.mean(v) for v in values])
        low, high = means - [min(v) for v in values], [max(v) for v in values] - means
        axes.errorbar(sizes, means, yerr=[low, high], marker="o", capsize=3, label=start)
    axes.set_xscale("log")
    axes.set_xlabel("labelled training reviews (log scale)")
    axes.set_ylabel("IMDB test accuracy")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="tfds data_dir holding imdb_reviews")
    parser.add_argument("--checkpoint", default="", help="the published checkpoint (directory or hub handle)")
    parser.add_argument("--own-preset", default="", help="kzoo's own bert_mlm preset (a run's preset/)")
    parser.add_argument("--starts", default="published,random,lstm,transformer_cls")
    parser.add_argument("--sizes", default="500,2000,25000")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test-examples", type=int, default=0, help="the fixed test subset (0 = all 25,000)")
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--learning-rate", default="", help="the BERT recipe's learning rate (default 5e-5)")
    parser.add_argument("--random-learning-rate", default="5e-4")
    parser.add_argument("--lora-rank", type=int, default=16)
    parser.add_argument("--lora-learning-rate", default="1e-3")
    parser.add_argument("--set", action="append", default=[], help="an extra KEY=VALUE for every run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--log", default="", help="a file that gets each run's progress as it comes")
    parser.add_argument("--work-dir", default=None, help="where the temporary run directories go")
    parser.add_argument("--table", action="store_true", help="print the table of --out and exit")
    parser.add_argument("--plot", type=Path, help="write the learning-curve plot (PNG) of --out")
    args = parser.parse_args(argv)
    if not args.table:
        if not args.data_dir:
            parser.error("--data-dir is needed to train")
        done = {(r["start"], r["labels"], r["seed"], json.dumps(r.get("sets", {}).get("model.preset", "")))
                for r in read_records(args.out)}
        for labels in [int(n) for n in args.sizes.split(",")]:
            for start in args.starts.split(","):
                for seed in [int(s) for s in args.seeds.split(",")]:
                    entry, sets = cell_overrides(start, args)
                    if (start, labels, seed, json.dumps(sets.get("model.preset", ""))) in done:
                        continue
                    record = run_cell(start, labels, seed, args)
                    with args.out.open("a") as out:
                        out.write(json.dumps(record) + "\n")
                    print(f"{start:>16} {labels:>6} labels seed {seed}: test accuracy {record['test_accuracy']:.4f} "
                          f"({record['seconds']:.0f} s)", flush=True)
    records = read_records(args.out)
    print(table(records))
    if args.plot:
        plot(records, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
