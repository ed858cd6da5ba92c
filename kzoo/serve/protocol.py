"""TF Serving's REST request and response bodies ↔ NumPy inputs and outputs, every field checked.

A request names a signature (`signature_name`, default `serving_default`) and gives its inputs either
row by row (`"instances": [...]`, answered with `"predictions"`) or by input (`"inputs": {...}`,
answered with `"outputs"`), as https://www.tensorflow.org/tfx/serving/api_rest describes. String
inputs take text, or `{"b64": "..."}` for bytes. Inputs of rank 0 (`recommend`'s `k`) are given once
in `inputs`, or in every instance with the same value.

Every refusal is a `RequestError` with the HTTP status and one message naming the field and what is
valid; nothing here lets a malformed body reach the model.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from kzoo.errors import RequestError

DEFAULT_SIGNATURE = "serving_default"


def describe(spec: tf.TensorSpec) -> str:
    """"int64 [N]", "uint8 [N, 28, 28]", "int32 scalar": a spec as an error message names it."""
    if spec.shape.rank == 0:
        return f"{spec.dtype.name} scalar"
    dims = ", ".join("N" if i == 0 and d is None else ("any" if d is None else str(d))
                     for i, d in enumerate(spec.shape.as_list()))
    return f"{spec.dtype.name} [{dims}]"


def parse_request(body: Any, signatures: Mapping[str, Mapping[str, tf.TensorSpec]],
                  max_rows: int) -> tuple[str, dict[str, np.ndarray], str]:
    """Check a decoded JSON body against the served signatures.

    Returns (signature name, {input name: array}, "row" or "columnar"); raises RequestError.
    `signatures` maps each signature name to its input specs.
    """
    if not isinstance(body, dict):
        raise RequestError(400, f"the request body must be a JSON object with 'instances' or 'inputs', "
                                f"got {type(body).__name__}")
    unknown = sorted(set(body) - {"signature_name", "instances", "inputs"})
    if unknown:
        raise RequestError(400, f"unknown request field {unknown[0]!r}: valid fields are signature_name, instances, "
                                f"inputs")
    signature = body.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature, str) or signature not in signatures:
        raise RequestError(400, f"signature_name {signature!r} is not served: valid are {sorted(signatures)}")
    specs = signatures[signature]
    if ("instances" in body) == ("inputs" in body):
        raise RequestError(400, "give exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    if "instances" in body:
        columns = _columns_from_instances(body["instances"], specs)
        form = "row"
    else:
        columns = _columns_from_inputs(body["inputs"], specs)
        form = "columnar"
    arrays = {name: to_array(f"{'instances' if form == 'row' else 'inputs'}.{name}", columns[name], spec)
              for name, spec in specs.items()}
    rows = {len(a) for n, a in arrays.items() if specs[n].shape.rank}
    if len(rows) > 1:
        raise RequestError(400, f"inputs {sorted(n for n in arrays if specs[n].shape.rank)} must have the same number "
                                f"of rows, got {sorted(rows)}")
    count = rows.pop() if rows else 0
    if count == 0:
        raise RequestError(400, f"{'instances' if form == 'row' else 'inputs'}: no rows to predict")
    if count > max_rows:
        raise RequestError(413, f"{'instances' if form == 'row' else 'inputs'}: {count} rows, at most {max_rows} per "
                                f"request (--max-rows)")
    return signature, arrays, form


def _columns_from_instances(instances: Any, specs: Mapping[str, tf.TensorSpec]) -> dict[str, Any]:
    if not isinstance(instances, list):
        raise RequestError(400, f"instances must be a list (one entry per row), got {type(instances).__name__}")
    batched = [n for n, s in specs.items() if s.shape.rank]
    scalars = [n for n, s in specs.items() if s.shape.rank == 0]
    if len(batched) == 1 and not scalars and not any(isinstance(row, dict) for row in instances):
        return {batched[0]: instances}
    columns: dict[str, list] = {name: [] for name in specs}
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise RequestError(400, f"instances[{i}] must be an object with {sorted(specs)} (this signature has "
                                    f"{len(specs)} inputs), got {type(row).__name__}")
        _check_names(f"instances[{i}]", row, specs)
        for name in specs:
            columns[name].append(row[name])
    for name in scalars:
        values = columns[name]
        if any(v != values[0] for v in values):
            raise RequestError(400, f"instances.{name} is one value per request ({describe(specs[name])}); "
                                    f"the instances give {len(set(map(str, values)))} different values")
        columns[name] = values[0] if values else None
    return columns


def _columns_from_inputs(inputs: Any, specs: Mapping[str, tf.TensorSpec]) -> dict[str, Any]:
    if not isinstance(inputs, dict):
        if len(specs) == 1:
            return {next(iter(specs)): inputs}
        raise RequestError(400, f"inputs must be an object with {sorted(specs)}, got {type(inputs).__name__}")
    _check_names("inputs", inputs, specs)
    return dict(inputs)


def _check_names(where: str, given: Mapping, specs: Mapping[str, tf.TensorSpec]) -> None:
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise RequestError(400, f"{where}: unknown input {unknown[0]!r}; this signature takes {sorted(specs)}")
    missing = sorted(set(specs) - set(given))
    if missing:
        raise RequestError(400, f"{where}: missing input {missing[0]!r} ({describe(specs[missing[0]])}); this "
                                f"signature takes {sorted(specs)}")


def to_array(field: str, value: Any, spec: tf.TensorSpec) -> np.ndarray:
    """`value` (decoded JSON) as an array of `spec`'s dtype and shape; RequestError naming `field` otherwise.

    Numbers are checked as whole arrays (an image is 784 of them): NumPy reads the nested lists once, and
    only a mixed or ragged value falls back to looking at each element.
    """
    expected = describe(spec)
    try:
        raw = np.asarray(value)
    except ValueError:  # NumPy refuses ragged nesting
        raise RequestError(400, f"{field}: rows of different lengths; expected {expected}") from None
    if raw.ndim != spec.shape.rank or any(d is not None and d != n for d, n in zip(spec.shape.as_list(), raw.shape)):
        raise RequestError(400, f"{field}: shape {list(raw.shape)}, expected {expected}")
    if spec.dtype == tf.string:
        flat = np.asarray(value, dtype=object).reshape(-1)
        return np.array([_as_bytes(field, v) for v in flat], dtype=object).reshape(raw.shape)
    kind = raw.dtype.kind
    if spec.dtype.is_bool:
        if kind != "b":
            raise RequestError(400, f"{field}: expected {expected} (true/false)")
        return raw
    if spec.dtype.is_integer:
        if kind not in "iu":
            bad = next((v for v in np.asarray(value, dtype=object).reshape(-1)
                        if not (isinstance(v, int) and not isinstance(v, bool))), raw.reshape(-1)[:1].tolist())
            raise RequestError(400, f"{field}: {bad!r} is not an integer; expected {expected}")
        low, high = spec.dtype.min, spec.dtype.max
        if raw.size and (int(raw.min()) < low or int(raw.max()) > high):
            raise RequestError(400, f"{field}: values must be in [{low}, {high}] for {expected}")
        return raw.astype(spec.dtype.as_numpy_dtype)
    if spec.dtype.is_floating:
        if kind not in "iuf" or (kind == "f" and not np.isfinite(raw).all()):
            raise RequestError(400, f"{field}: expected finite numbers, {expected}")
        return raw.astype(spec.dtype.as_numpy_dtype)
    raise RequestError(400, f"{field}: inputs of type {spec.dtype.name} are not served over REST")


def _as_bytes(field: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestError(400, f"{field}: 'b64' is not valid base64") from None
    raise RequestError(400, f"{field}: expected text (a JSON string) or {{\"b64\": \"...\"}}, got {value!r:.60}")


def trim_padding(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Drop the trailing item-id −1 columns a batch-mate's wider top-k added, so a batched answer equals a lone one.

    `recommend` pads each row to the widest row of its batch with id −1 (score 0); served alone, a
    request's width is that of its own widest row.
    """
    ids = outputs.get("item_ids")
    if ids is None or ids.ndim != 2:
        return outputs
    width = int((ids != -1).sum(axis=1).max()) if ids.size else 0
    return {name: (value[:, :width] if value.ndim == 2 and value.shape[1] == ids.shape[1] else value)
            for name, value in outputs.items()}


def to_json(value: np.ndarray) -> Any:
    """An output array as JSON values: bytes decoded as UTF-8 (else `{"b64": ...}`), numbers as numbers."""
    if value.dtype == object or value.dtype.kind == "S":
        return np.vectorize(_bytes_to_json, otypes=[object])(value).tolist() if value.ndim else _bytes_to_json(value.item())
    return value.tolist()


def _bytes_to_json(item: Any) -> Any:
    if isinstance(item, bytes):
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(item).decode("ascii")}
    return item


def format_response(outputs: dict[str, np.ndarray], form: str) -> dict:
    """TF Serving's answer: `{"predictions": [row, ...]}` (row format) or `{"outputs": {...}}` (columnar).

    With one output, a row is its value and `outputs` is the value itself, as in TF Serving.
    """
    names = sorted(outputs)
    if form == "columnar":
        return {"outputs": to_json(outputs[names[0]]) if len(names) == 1 else {n: to_json(outputs[n]) for n in names}}
    columns = {n: to_json(outputs[n]) for n in names}
    rows = len(columns[names[0]])
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(rows)]}
