"""Cost of the exported `recommend` signature against catalogue size: full scoring vs retrieval.

    PYTHONPATH=. python benchmarks/recommend_catalogue.py [--items 10000 100000 1000000] [--users 10000]
    PYTHONPATH=. python benchmarks/recommend_catalogue.py --modes "sasrec history" --items 1682 1000000

Synthetic catalogues (random weights, `--users` users with `--seen` random seen items each,
embedding size 64 as `zoo_configs/gmf.yaml`; neumf as `zoo_configs/neumf.yaml`). For each catalogue
and mode, one child process exports the model (`kzoo.export.export_model`), loads the SavedModel
with TensorFlow alone and times `recommend` (seen items left out) per call at batch 1 (median of
20) and batch 256 (median of 3), after warm-up calls. Modes: `gmf full` (`data.retrieval: false`),
`gmf retrieval` (keras-rs, one matrix product), `neumf full`, `neumf rerank 200`
(`data.rerank_candidates: 200`), and `sasrec history`: `zoo_configs/sasrec.yaml`'s architecture (hidden
size 64, 2 blocks, 1 head, max_length 200) over the catalogue, its `SequenceIdMaps` holding each user's
`--seen` items as their ordered history, timed on `recommend_from_history` instead: a batch of raw
item-id histories of `--seen // 2` to `--seen` random items, padded to `--seen` columns with -1
(`HISTORY_PADDING`), k = 10 (the history's items left out; one last-state x item-table product).
Any catalogue size works (`--items 1682` is ML-100k's). Full scoring at batch 256 runs only up to
`--full-batch-limit` items: it materialises batch x items x embedding floats (256 x 100k x 64 x 4 B = 6.5 GB).
Prints one JSON line per run: latency ms, ms per user, export MB, peak RSS MB of the serving process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = {"gmf full": ("gmf", {"data.retrieval": False}), "gmf retrieval": ("gmf", {}),
         "neumf full": ("neumf", {}), "neumf rerank 200": ("neumf", {"data.rerank_candidates": 200}),
         "sasrec history": ("sasrec", {})}
HISTORY_MODE = "sasrec history"  # serves `recommend_from_history`; the others `recommend`


def export_synthetic(mode: str, items: int, users: int, seen: int, folder: str) -> str:
    """Export `mode`'s model over a synthetic catalogue into `folder`; return the version directory."""
    import numpy as np

    import kzoo
    from kzoo.data.recommender import IdMaps, SeenItems
    from kzoo.data.recommender.sequences import Histories, SequenceIdMaps
    from kzoo.export import export_model

    entry, overrides = MODES[mode]
    sizes = {"model.num_items": items} if entry == "sasrec" else {"model.num_users": users, "model.num_items": items}
    config = kzoo.get_config(entry, {**sizes, **overrides})
    model = kzoo.build_from_config(config, compile=False)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    pairs = (np.repeat(np.arange(1, users + 1), seen), rng.integers(1, items + 1, users * seen))
    maps = IdMaps(np.arange(1, users + 1), np.arange(1, items + 1), SeenItems.from_pairs(*pairs, users))
    if entry == "sasrec":  # the pairs, grouped by user, are each user's history in time order
        maps = SequenceIdMaps(maps.user_ids, maps.item_ids, seen=maps.seen,
                              histories=Histories.from_ordered(*pairs, users), max_length=config.model.max_length)
    return str(export_model(model, config, maps, os.path.join(folder, "export")))


def time_calls(fn, calls: int) -> float:
    """Median wall time of `calls` calls of `fn`, in ms."""
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[len(times) // 2]


def history_batch(rng, batch: int, items: int, seen: int):
    """int64 `[batch, seen]`: rows of `seen // 2` to `seen` random item ids, padded at the end with -1."""
    import numpy as np

    from kzoo.data.recommender.sequences import HISTORY_PADDING

    rows = rng.integers(1, items + 1, (batch, seen))
    lengths = rng.integers(max(1, seen // 2), seen + 1, (batch, 1))
    return np.where(np.arange(seen)[None, :] < lengths, rows, HISTORY_PADDING)


def serve(version_dir: str, users: int, batches: list[int], history: bool = False, items: int = 0,
          seen: int = 0) -> dict:
    """Load the export with TensorFlow alone and time `recommend` (k = 10) at each batch size, or
    `recommend_from_history` on random histories (`history_batch`) when `history`."""
    import numpy as np
    import tensorflow as tf

    signatures = tf.saved_model.load(version_dir).signatures
    rng = np.random.default_rng(1)
    result = {}
    for batch in batches:
        if history:
            recommend = signatures["recommend_from_history"]
            ids = [tf.constant(history_batch(rng, batch, items, seen), tf.int64)]
            call = lambda: recommend(item_ids=ids[0], k=tf.constant(10))["item_ids"].numpy()  # noqa: E731
        else:
            recommend = signatures["recommend"]
            ids = [tf.constant(rng.integers(1, users + 1, batch), tf.int64) for _ in range(3)]
            call = lambda: recommend(user_id=ids[0], k=tf.constant(10))["item_ids"].numpy()  # noqa: E731
        for _ in range(2):
            call()
        ms = time_calls(call, 20 if batch == 1 else 3)
        result[f"batch_{batch}_ms"] = round(ms, 2)
        result[f"batch_{batch}_ms_per_user"] = round(ms / batch, 3)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return result


def child(args) -> None:
    """One (mode, catalogue) run in this process; prints its JSON line."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        version = export_synthetic(args.mode, args.child_items, args.users, args.seen, folder)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(version) for f in files)
        exported = time.perf_counter() - start
        # Serve in a fresh process, so its memory is the SavedModel's, not the exporter's.
        out = subprocess.run([sys.executable, __file__, "--serve", version, "--mode", args.mode,
                              "--users", str(args.users), "--child-items", str(args.child_items),
                              "--seen", str(args.seen), "--batches", *map(str, args.batches)],
                             capture_output=True, text=True, check=True)
        row = {"mode": args.mode, "items": args.child_items, "users": args.users, "embedding": 64,
               "seen_per_user": args.seen, "export_mb": round(size / 2**20, 1), "export_s": round(exported, 1)}
        row.update(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seen", type=int, default=20, help="seen items per user")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--full-batch-limit", type=int, default=10_000)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--child-items", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        print(json.dumps(serve(args.serve, args.users, args.batches, args.mode == HISTORY_MODE, args.child_items,
                               args.seen)))
        return
    if args.mode:
        child(args)
        return
    for items in args.items:
        for mode in args.modes:
            batches = [1] if "full" in mode and items > args.full_batch_limit else [1, 256]
            subprocess.run([sys.executable, __file__, "--mode", mode, "--child-items", str(items),
                            "--users", str(args.users), "--seen", str(args.seen), "--batches", *map(str, batches)],
                           check=True)


if __name__ == "__main__":
    main()
