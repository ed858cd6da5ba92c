"""Train an NCF entry on MovieLens leave-one-out and report test HR@K / NDCG@K per seed.

    python benchmarks/ncf_movielens.py gmf --seeds 0 1 2
    python benchmarks/ncf_movielens.py neumf --pretrain --seeds 0 1 2
    python benchmarks/ncf_movielens.py gmf --set model.embedding_size=16 train.learning_rate=0.002
    python benchmarks/ncf_movielens.py gmf --ensemble 4 --per-epoch     # 4 inits averaged; test per epoch

Data: `--data` (default: the shared raw ml-100k `u.data`; "tfds" reads `--data-dir`). Early
stopping watches val_hr@K (the second-latest interactions carved from training) and restores
the best epoch; `--pretrain` trains `gmf` and `ncf_mlp` first and fuses them into NeuMF.
`--per-epoch` also prints the test figures after every epoch (for the record: nothing is chosen on
them); `--ensemble K` trains K models from different initialisations on the same data and prints
the validation and test figures of their averaged logits after each member.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kzoo  # noqa: E402
from kzoo import ranking  # noqa: E402
from kzoo.data.recommender import load_recommender_data  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "datasets")


class TestEveryEpoch(keras.callbacks.Callback):
    """Print the validation and test figures after every epoch (reporting only)."""

    def __init__(self, bundle, name):
        super().__init__()
        self.bundle, self.name = bundle, name

    def on_epoch_end(self, epoch, logs=None):
        val = {k: round(v, 4) for k, v in self.bundle.evaluate(self.model, "val").items()}
        test = {k: round(v, 4) for k, v in self.bundle.evaluate(self.model, "test").items()}
        print(f"  {self.name} epoch {epoch + 1}: val {json.dumps(val)} test {json.dumps(test)}", flush=True)


def ensemble(name, overrides, data, data_dir, seed, members, per_epoch):
    """Train `members` models (init seeds seed*1000 + j) on the same data; print their averaged figures.

    Each member gets a fresh bundle, so every member sees the same per-epoch negatives (a shared
    bundle's sampler would go on counting epochs from where the previous member stopped).
    """
    total = {}
    for j in range(members):
        model, _, _, epochs, bundle = train_one(name, overrides, data, data_dir, seed, False,
                                                init_seed=1000 * seed + j, per_epoch=per_epoch)
        figures = {}
        for split in ("val", "test"):
            scores, valid = bundle.evaluate.candidate_scores(model, split)
            total[split] = total.get(split, 0) + scores
            ranks = ranking.rank_of_positive(total[split][:, 0], total[split][:, 1:], valid[:, 1:])
            figures[split] = {k: round(v, 4) for k, v in ranking.ranking_metrics(ranks, bundle.evaluate.top_k).items()}
        print(f"seed {seed} ensemble of {j + 1} ({epochs} epochs): val {json.dumps(figures['val'])} "
              f"test {json.dumps(figures['test'])}", flush=True)
    return figures["test"]


def train_one(name, overrides, data, data_dir, seed, verbose, bundle=None, init_seed=None, per_epoch=False):
    config = kzoo.get_config(name, overrides)
    if bundle is None:
        bundle = load_recommender_data(config, data, data_dir, seed=seed)
    config = config.override({"model.num_users": bundle.preprocessor.num_users,
                              "model.num_items": bundle.preprocessor.num_items})
    keras.utils.set_random_seed(seed if init_seed is None else init_seed)
    model = kzoo.build_from_config(config, steps_per_epoch=bundle.train.cardinality().numpy())
    k = config.data.top_k
    stop = keras.callbacks.EarlyStopping(
        monitor=f"val_hr@{k}", mode="max", patience=config.train.early_stopping_patience,
        restore_best_weights=True,
    )
    start = time.time()
    callbacks = [*bundle.callbacks, stop] if bundle.callbacks else []
    if per_epoch and bundle.callbacks:
        callbacks.insert(0, TestEveryEpoch(bundle, name))
    history = model.fit(bundle.train, epochs=config.train.epochs, callbacks=callbacks, verbose=0,
                        shuffle=False).history
    seconds = time.time() - start
    if verbose and bundle.callbacks:
        for e, (hr, nd, loss) in enumerate(zip(history[f"val_hr@{k}"], history[f"val_ndcg@{k}"], history["loss"])):
            print(f"  {name} epoch {e + 1}: loss {loss:.4f} val hr {hr:.4f} ndcg {nd:.4f}", flush=True)
    test = bundle.evaluate(model, "test")
    return model, test, seconds, len(history["loss"]), bundle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("entry")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--set", nargs="*", default=[], help="dotted overrides for the entry")
    parser.add_argument("--pretrain", action="store_true", help="neumf: pretrain gmf and ncf_mlp first")
    parser.add_argument("--gmf-set", nargs="*", default=[])
    parser.add_argument("--mlp-set", nargs="*", default=[])
    parser.add_argument("--data", default=os.path.join(SHARED, "raw", "ml-100k", "u.data"))
    parser.add_argument("--data-dir", default=os.path.join(SHARED, "tfds"))
    parser.add_argument("--refit", action="store_true",
                        help="then retrain on train+val (data.validation=false) for the best epoch count")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--per-epoch", action="store_true", help="print test figures after every epoch too")
    parser.add_argument("--ensemble", type=int, default=0, metavar="K",
                        help="average the logits of K models trained from different initialisations")
    args = parser.parse_args()
    rows = []
    for seed in args.seeds:
        if args.ensemble:
            rows.append(ensemble(args.entry, list(args.set), args.data, args.data_dir, seed, args.ensemble, args.per_epoch))
            continue
        total = 0.0
        overrides = list(args.set)
        bundle = None
        if args.pretrain:
            tmp = tempfile.mkdtemp()
            paths = {}
            for part, sets in (("gmf", args.gmf_set), ("ncf_mlp", args.mlp_set)):
                model, test, seconds, epochs, bundle = train_one(
                    part, sets, args.data, args.data_dir, seed, args.verbose, bundle)
                total += seconds
                paths[part] = os.path.join(tmp, f"{part}.keras")
                model.save(paths[part])
                print(f"seed {seed} pretrain {part}: {json.dumps(test)} ({epochs} epochs, {seconds:.0f} s)", flush=True)
            overrides += [f"model.pretrained_gmf={paths['gmf']}", f"model.pretrained_mlp={paths['ncf_mlp']}"]
        model, test, seconds, epochs, _ = train_one(
            args.entry, overrides, args.data, args.data_dir, seed, args.verbose, bundle, per_epoch=args.per_epoch)
        total += seconds
        print(f"seed {seed} {args.entry}: {json.dumps(test)} ({epochs} epochs, {seconds:.0f} s, total {total:.0f} s)", flush=True)
        if args.refit:
            best = int(np.argmax(model.history.history["val_hr@10"])) + 1
            refit = overrides + ["data.validation=false", f"train.epochs={best}"]
            _, test, seconds, epochs, _ = train_one(args.entry, refit, args.data, args.data_dir, seed, False)
            total += seconds
            print(f"seed {seed} {args.entry} refit: {json.dumps(test)} ({epochs} epochs, {seconds:.0f} s, total {total:.0f} s)", flush=True)
        rows.append(test)
    keys = rows[0].keys()
    print("mean", json.dumps({key: round(float(np.mean([r[key] for r in rows])), 4) for key in keys}))


if __name__ == "__main__":
    main()
