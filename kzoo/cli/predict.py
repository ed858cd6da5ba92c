"""Query a kzoo SavedModel export with TensorFlow alone and print the predictions as JSON.

    python tools/predict.py runs/lstm-X/export --text "a fine film" --text "dull"
    python tools/predict.py runs/mlp-X/export --image-npy digits.npy     # uint8 [N, 28, 28] or [28, 28]
    python tools/predict.py runs/neumf-X/export --user-id 196 186 --item-id 242 302
    python tools/predict.py runs/neumf-X/export --user-id 196 --k 10      # unseen items, with titles
    python tools/predict.py runs/gmf-X/export --user-id 196 --k 10 --include-seen
    python tools/predict.py runs/sasrec-X/export --history 50 172 181 --k 10   # a history (oldest first), any user
    python tools/predict.py runs/transformer_seq2seq-X/export --text "ein Hund läuft"

    python tools/predict.py runs/lstm-X/export/litert --input token_ids=12,7,0,0   # LiteRT / ONNX exports
    python tools/predict.py runs/neumf-X/export/onnx/1/model.onnx --input user_index=3,4 --input item_index=9,9

EXPORT_DIR is the versioned folder (its highest version is used) or one version folder. This
client needs no kzoo and no Keras: everything it runs is inside the SavedModel. A LiteRT or ONNX
export (`EXPORT/litert`, `EXPORT/onnx`, one version of them, or its model file) takes the tensor
inputs its `kzoo.json` lists, `--input NAME=V1,V2,...` (one example, or a batch for `[B]` inputs)
or `--input NAME=FILE.npy` (a batch); it runs in ai-edge-litert's interpreter or onnxruntime. This file imports
TensorFlow, NumPy and the standard library only, so it can be copied alone to a serving machine and
run there as `python predict.py EXPORT_DIR ...`. Recommendations (`--k`) leave out the items the
user already rated unless `--include-seen`; a sequential recommender (`sasrec`) also takes `--history`,
raw item ids in time order (repeat the flag for a batch of histories), and says how many of them it
did not know (`unknown_items`); they carry `titles` where the export has them
(`assets.extra/item_titles.tsv`, from MovieLens `u.item` / `movies.dat` / `movies.csv`), and a
row's padding (item id -1: a user with fewer than K unseen items) is dropped. Where kzoo is installed, it borrows one optional
helper, `kzoo.cli.quiet` (TensorFlow's start-up lines hidden unless --verbose); copied alone, the
same is done as far as `TF_CPP_MIN_LOG_LEVEL` reaches.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

import numpy as np

try:
    from kzoo.cli.quiet import framework_start
    from kzoo.errors import UsageError
except ImportError:  # this file copied alone to a serving machine
    framework_start = None

    class UsageError(Exception):  # kzoo.errors.UsageError's stand-in where kzoo is not installed
        """Bad arguments or export folder; printed as `error: ...` with exit status 2."""

# What pads a history in `recommend_from_history` (kzoo.data.recommender.sequences.HISTORY_PADDING; restated so this
# file runs alone on a serving machine).
HISTORY_PADDING = -1

# TensorFlow is imported inside the functions that use it, after the arguments parse: it takes seconds
# to load (start-up latency), and `--help` or a bad flag should not wait for it.


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `error: ...` line with exit status 2, as the other tools'."""

    def error(self, message):
        """Print `error: message` to stderr and exit 2."""
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def quiet_start(verbose: bool):
    """Context for importing TensorFlow: its start-up lines hidden unless `verbose` (kzoo's filter when installed)."""
    if framework_start is not None:
        return framework_start(verbose)
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return contextlib.nullcontext()


def resolve_version_dir(path: str) -> str:
    """Return `path` when it holds `saved_model.pb`, else its highest integer subfolder that does."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        raise UsageError(f"export directory {path!r} does not exist")
    versions = [int(n) for n in os.listdir(path)
                if n.isdigit() and os.path.isfile(os.path.join(path, n, "saved_model.pb"))]
    if not versions:
        raise UsageError(f"{path!r} holds no SavedModel (no saved_model.pb, no numbered version folder)")
    return os.path.join(path, str(max(versions)))


def load(path: str):
    """Return `(version_dir, loaded SavedModel)`; TensorFlow Text ops are imported only when needed."""
    import tensorflow as tf

    version_dir = resolve_version_dir(path)
    try:
        return version_dir, tf.saved_model.load(version_dir)
    except (tf.errors.NotFoundError, RuntimeError, ValueError) as err:
        if "Op type not registered" not in str(err):
            raise
        try:
            import tensorflow_text  # noqa: F401  (WordPiece tokenizers: registers their ops)
        except ImportError:
            raise UsageError("this export uses TensorFlow Text ops: pip install tensorflow-text") from None
        return version_dir, tf.saved_model.load(version_dir)


def metadata(version_dir: str, name: str = os.path.join("assets.extra", "kzoo.json")) -> dict:
    """The export's `assets.extra/kzoo.json` (class names, quantization), or {} when absent."""
    path = os.path.join(version_dir, name)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def input_spec(loaded, signature: str, name: str) -> tf.TensorSpec:
    """The `tf.TensorSpec` of input `name` of `signature` (UsageError when either is missing)."""
    if signature not in loaded.signatures:
        raise UsageError(f"this export has no {signature!r} signature (it has {sorted(loaded.signatures)})")
    specs = loaded.signatures[signature].structured_input_signature[1]
    if name not in specs:
        raise UsageError(f"signature {signature!r} takes {sorted(specs)}, not {name!r}")
    return specs[name]


def image_request(loaded, path: str) -> tuple[str, np.ndarray]:
    """Pick `serving_default` or `serve_nhwc` by the array's shape; add a batch axis to one image."""
    images = np.load(path)
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number) or images.min() < 0 or images.max() > 255:
            raise UsageError(f"{path}: expected raw pixels 0..255, got dtype {images.dtype}")
        images = images.astype(np.uint8)
    for signature in ("serving_default", "serve_nhwc"):
        if signature not in loaded.signatures:
            continue
        sample = input_spec(loaded, signature, "image").shape[1:]
        if images.shape == tuple(sample):
            images = images[None]
        if images.shape[1:] == tuple(sample):
            return signature, images
    raise UsageError(f"{path}: image shape {images.shape} fits no signature of this export")


PORTABLE_FILES = ("model.tflite", "model.onnx")


def portable_dir(path: str) -> str | None:
    """The LiteRT / ONNX export folder `path` names (a model file, a version, or its versioned parent), else None."""
    if os.path.isfile(path) and os.path.basename(path) in PORTABLE_FILES:
        path = os.path.dirname(path) or "."
    if any(os.path.isfile(os.path.join(path, name)) for name in PORTABLE_FILES):
        return path
    if not os.path.isdir(path) or os.path.isfile(os.path.join(path, "saved_model.pb")):
        return None
    versions = [int(n) for n in os.listdir(path) if n.isdigit()
                and any(os.path.isfile(os.path.join(path, n, name)) for name in PORTABLE_FILES)]
    return os.path.join(path, str(max(versions))) if versions else None


def portable_inputs(folder: str, values: list[str]) -> dict:
    """`{name: array}` from `--input NAME=V1,V2,...` / `NAME=FILE.npy`, shaped as the export's kzoo.json says."""
    specs = metadata(folder, "kzoo.json")["signature"]["inputs"]
    inputs = {}
    for value in values:
        name, sep, data = value.partition("=")
        if not sep or name not in specs:
            raise UsageError(f"--input {value}: give NAME=VALUES with NAME one of {sorted(specs)}")
        dtype, shape = specs[name]
        try:
            array = np.load(data) if data.endswith(".npy") else np.array([float(v) for v in data.split(",")])
        except (OSError, ValueError) as err:
            raise UsageError(f"--input {name}: {str(err).splitlines()[0]}") from None
        if array.ndim == len(shape) - 1:
            array = array[None]  # one example
        if array.ndim != len(shape) or any(d not in (-1, a) for d, a in zip(shape[1:], array.shape[1:])):
            raise UsageError(f"--input {name}: shape {list(array.shape)} does not fit {shape} (-1: any size)")
        check_ids(name, array, dtype, metadata(folder, "kzoo.json").get("preprocessing") or {})
        inputs[name] = array.astype(dtype)
    missing = sorted(set(specs) - set(inputs))
    if missing:
        raise UsageError(f"this export also takes {', '.join(missing)}: give --input NAME=VALUES for each")
    return inputs


def check_ids(name: str, array: np.ndarray, dtype: str, preprocessing: dict) -> None:
    """Refuse integer inputs the cast would change or the runtimes would misread (UsageError).

    A fractional value would be truncated, a negative id counts from the table's end in ONNX's
    Gather (and uint8 pixels wrap), and a token id past the vocabulary the export records reads
    out of bounds: each would give a prediction for an input nobody sent.
    """
    if not np.issubdtype(np.dtype(dtype), np.integer) or array.size == 0:
        return
    if not np.issubdtype(array.dtype, np.number):
        raise UsageError(f"--input {name}: values of dtype {array.dtype}; {name} takes {dtype} ids")
    values = array.ravel().astype(np.float64)
    fractional = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
    if fractional.size:
        raise UsageError(f"--input {name}: {values[fractional[0]]:g} is not an integer; {name} takes {dtype} ids")
    high = np.iinfo(np.dtype(dtype)).max
    size = preprocessing.get("vocabulary_size") if name == "token_ids" else None
    if size:
        high = min(high, int(size) - 1)
    outside = np.flatnonzero((values < 0) | (values > high))  # ids, indices and pixels are never negative
    if outside.size:
        what = f"the vocabulary's ids 0..{high}" if size else f"0..{high}"
        raise UsageError(f"--input {name}: {values[outside[0]]:g} is outside {what}")


def portable_runner(folder: str):
    """`(runtime, run)`: `run({name: array}) -> {output: array}` in ai-edge-litert or onnxruntime."""
    info = metadata(folder, "kzoo.json")
    path = os.path.join(folder, info["file"])
    if info["runtime"] == "litert":
        try:
            import ai_edge_litert.interpreter
        except ImportError:
            raise UsageError("LiteRT exports run in ai-edge-litert: pip install ai-edge-litert") from None
        interpreter = ai_edge_litert.interpreter.Interpreter(model_path=path)
        runner = interpreter.get_signature_runner(info["signature"].get("key") or "serving_default")
        return "litert", lambda inputs: runner(**inputs)
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("ONNX exports run in onnxruntime: pip install onnxruntime") from None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(inputs):
        try:
            return dict(zip(names, session.run(names, inputs)))
        except Exception as err:  # onnxruntime's InvalidArgument / Fail are neither ValueError nor RuntimeError
            raise RuntimeError(str(err).partition("Status Message: ")[2] or str(err)) from None

    return "onnx", run


def predict_portable(folder: str, inputs: dict) -> dict:
    """Run a LiteRT / ONNX export on tensor `inputs` (one call per row under a fixed batch); JSON-able result."""
    info = metadata(folder, "kzoo.json")
    runtime, run = portable_runner(folder)
    size = len(next(iter(inputs.values())))
    if (info.get("fixed_shapes") or {}).get("batch") == 1:
        rows = [run({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(size)]
        outputs = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
    else:
        outputs = run(inputs)
    names = info.get("class_names") or []
    predictions = []
    for i in range(size):
        row = {k: to_json(v[i]) for k, v in outputs.items()}
        if "label" in row and row["label"] < len(names):
            row["label_name"] = names[row["label"]]
        predictions.append(row)
    return {"export": folder, "runtime": runtime, "predictions": predictions}


def check_arguments(args) -> None:
    """Refuse, before TensorFlow loads, arguments no export could take (UsageError)."""
    if portable_dir(args.export_dir) is not None:
        if not args.input:
            raise UsageError("a LiteRT / ONNX export takes tensor inputs: give --input NAME=VALUES (see its kzoo.json)")
        return
    if args.input:
        raise UsageError("--input goes with a LiteRT / ONNX export; a SavedModel takes --text, --image-npy, "
                         "--user-id or --history")
    resolve_version_dir(args.export_dir)
    if not (args.text or args.image_npy or args.user_id or args.history):
        raise UsageError("give --text, --image-npy, --user-id with --item-id or --k, or --history with --k")
    if args.history and (args.k is None or args.user_id or args.include_seen):
        raise UsageError("--history goes with --k K (and without --user-id or --include-seen: the history's items "
                         "are never recommended back)")
    if args.image_npy and not os.path.isfile(args.image_npy):
        raise UsageError(f"--image-npy {args.image_npy}: no such file")
    if args.include_seen and args.k is None:
        raise UsageError("--include-seen goes with --user-id and --k")
    if args.user_id and args.k is not None and args.k < 0:
        raise UsageError(f"--k must be >= 0, got {args.k}")
    if args.user_id and args.k is None and (not args.item_id or len(args.item_id) != len(args.user_id)):
        raise UsageError("--user-id needs --k K, or as many --item-id values as user ids")


def build_request(args, loaded) -> tuple[str, dict]:
    """Return `(signature name, {input name: value})` for the command-line arguments."""
    import tensorflow as tf

    if args.text:
        return "serving_default", {"text": tf.constant(args.text)}
    if args.image_npy:
        signature, images = image_request(loaded, args.image_npy)
        return signature, {"image": tf.constant(images)}
    if args.history:
        if args.k < 0:
            raise UsageError(f"--k must be >= 0, got {args.k}")
        width = max(len(h) for h in args.history)  # rows padded with -1, the signature's padding id
        rows = [list(h) + [HISTORY_PADDING] * (width - len(h)) for h in args.history]
        return "recommend_from_history", {"item_ids": tf.constant(rows, tf.int64, shape=[len(rows), width]),
                                          "k": tf.constant(args.k, tf.int32)}
    if args.user_id:
        users = tf.constant(args.user_id, tf.int64)
        if args.k is not None:
            if args.k < 0:  # checked here too: exports made before the signature refused it return []
                raise UsageError(f"--k must be >= 0, got {args.k}")
            signature = "recommend_including_seen" if args.include_seen else "recommend"
            return signature, {"user_id": users, "k": tf.constant(args.k, tf.int32)}
        if not args.item_id or len(args.item_id) != len(args.user_id):
            raise UsageError("--user-id needs --k K, or as many --item-id values as user ids")
        return "serving_default", {"user_id": users, "item_id": tf.constant(args.item_id, tf.int64)}
    raise UsageError("give --text, --image-npy, or --user-id with --item-id or --k")


def rejection_reason(err: Exception) -> str:
    """One line saying why a signature refused its inputs: an assertion's own message, else the first line."""
    # A failed tf.debugging assert reads "Graph execution error: ... assertion failed: [MESSAGE] ...".
    message = str(err).partition("assertion failed: [")[2].partition("]")[0]
    return message or str(err).splitlines()[0]


def item_titles(version_dir: str) -> dict:
    """{raw item id: title} of a recommender export (`assets.extra/item_titles.tsv`), or {} when absent."""
    path = os.path.join(version_dir, "assets.extra", "item_titles.tsv")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        rows = (line.rstrip("\n").split("\t", 1) for line in f)
        return {int(row[0]): row[1] for row in rows if len(row) == 2 and row[0].lstrip("-").isdigit()}


def readable_recommendations(rows: list, titles: dict) -> None:
    """In place: drop each row's padding (item id -1) and add `titles` when the export has them."""
    for row in rows:
        keep = [i for i, item in enumerate(row["item_ids"]) if item != -1]
        row["item_ids"] = [row["item_ids"][i] for i in keep]
        row["scores"] = [row["scores"][i] for i in keep]
        if titles:
            row["titles"] = [titles.get(item, "") for item in row["item_ids"]]


def to_json(value):
    """Tensors and arrays to JSON values (bytes decoded as UTF-8)."""
    value = value.numpy() if hasattr(value, "numpy") else value
    if isinstance(value, np.ndarray):
        return [to_json(v) for v in value] if value.ndim else to_json(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def predict(version_dir: str, loaded, signature: str, inputs: dict) -> dict:
    """Run one signature of a loaded export; return the JSON-able result, one row per example."""
    outputs = loaded.signatures[signature](**inputs)
    batched = {k: to_json(v) for k, v in inputs.items() if k != "image" and len(v.shape)}  # echo ids, texts
    if signature == "recommend_from_history":  # the histories as given, without their padding
        batched["history"] = [[i for i in row if i != HISTORY_PADDING] for row in batched.pop("item_ids")]
    rows = []
    for i in range(int(next(iter(outputs.values())).shape[0])):
        row = {k: v[i] for k, v in batched.items()}
        row.update({k: to_json(v[i]) for k, v in outputs.items()})
        rows.append(row)
    if signature.startswith("recommend"):
        readable_recommendations(rows, item_titles(version_dir))
    names = metadata(version_dir).get("class_names") or []
    for row in rows:
        if "label" in row and row["label"] < len(names):
            row["label_name"] = names[row["label"]]
    return {"export": version_dir, "signature": signature, "predictions": rows}


def main(argv=None) -> int:
    """Parse `argv` (None: `sys.argv[1:]`), query the export, print the predictions as JSON.

    Returns 0, or 2 after one `error: ...` line on bad arguments or an export that rejects them.
    """
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export_dir", help="export folder (highest version used) or one version folder")
    parser.add_argument("--text", action="append", help="a text to classify or translate (repeatable)")
    parser.add_argument("--image-npy", help=".npy file of uint8 images [N, H, W], [N, H, W, C] or one image")
    parser.add_argument("--user-id", type=int, nargs="+", action="extend", help="raw user id(s)")
    parser.add_argument("--item-id", type=int, nargs="+", action="extend", help="raw item id(s), one per user id")
    parser.add_argument("--k", type=int, help="recommend the top K items for each user id (items they rated left out)")
    parser.add_argument("--history", type=int, nargs="*", action="append", metavar="ITEM_ID",
                        help="a history of raw item ids, oldest first, for a sequential recommender (sasrec) with --k; "
                             "repeat the flag for several; an empty --history gets the most popular items")
    parser.add_argument("--include-seen", action="store_true",
                        help="with --k: also recommend items the user already rated")
    parser.add_argument("--input", action="append", metavar="NAME=VALUES",
                        help="a LiteRT / ONNX export's tensor input: comma-separated values or a .npy file "
                             "(repeatable)")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up log lines (hidden by default)")
    args = parser.parse_args(argv)
    try:
        check_arguments(args)
        folder = portable_dir(args.export_dir)
        if folder is not None:  # no TensorFlow needed
            print(json.dumps(predict_portable(folder, portable_inputs(folder, args.input)), ensure_ascii=False))
            return 0
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError) as err:  # the runtime refused the inputs
        print(f"error: the export rejected the input: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    with quiet_start(args.verbose):
        import tensorflow as tf
    if not args.verbose:
        tf.get_logger().setLevel("WARNING")  # "Fingerprint not found", "Assets ..." are INFO lines

    try:
        version_dir, loaded = load(args.export_dir)
        signature, inputs = build_request(args, loaded)
        if signature not in loaded.signatures:
            raise UsageError(f"this export has no {signature!r} signature (it has {sorted(loaded.signatures)})")
        result = predict(version_dir, loaded, signature, inputs)
    except (UsageError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (tf.errors.InvalidArgumentError, TypeError, ValueError) as err:
        print(f"error: the export rejected the input: {rejection_reason(err)}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0


def run(argv=None) -> None:
    """Console script `kzoo-predict`: exit with `main(argv)`'s status (main reports bad input itself)."""
    sys.exit(main(argv))


if __name__ == "__main__":
    run()
