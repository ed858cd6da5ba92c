"""The export-time check: the converted model and the Keras model agree on the entry's example batch."""

from __future__ import annotations

import numpy as np

# Max |diff| allowed on float outputs (probabilities, scores). A float conversion only reorders
# float arithmetic; the converter's int8 weights move probabilities by up to a few 1e-3 on the
# zoo's models, so 0.05 catches a broken graph without failing honest quantization.
TOLERANCE = {None: 1e-4, "int8": 0.05}


def run_rows(run, inputs: dict, batch: int | None) -> dict:
    """`run(inputs)`, one row at a time when the model was converted with a fixed batch of 1."""
    if batch is None:
        return run(inputs)
    rows = [run({k: v[i:i + 1] for k, v in inputs.items()}) for i in range(len(next(iter(inputs.values()))))]
    return {name: np.concatenate([row[name] for row in rows]) for name in rows[0]}


def compare(expected: dict, actual: dict, tolerance: float, quantized: bool) -> tuple[dict, list[str]]:
    """`(report, failures)`: max |diff| of float outputs, agreement of integer ones, and what is beyond tolerance.

    Integer outputs (labels, token ids) must agree exactly in a float export; in a quantized one
    their agreement is reported and the float outputs' tolerance is the check.
    """
    report: dict = {"tolerance": tolerance, "max_abs_diff": {}, "agreement": {}}
    failures = []
    for name, want in expected.items():
        got = actual.get(name)
        if got is None or np.shape(got) != np.shape(want):
            failures.append(f"output {name} has shape {None if got is None else list(np.shape(got))}, "
                            f"expected {list(np.shape(want))}")
        elif np.issubdtype(want.dtype, np.floating):
            diff = float(np.max(np.abs(got.astype(np.float64) - want))) if want.size else 0.0
            report["max_abs_diff"][name] = diff
            if not diff <= tolerance:  # also NaN
                failures.append(f"{name} max |diff| {diff:.3g} > tolerance {tolerance:g}")
        else:
            agreement = float(np.mean(got == want)) if want.size else 1.0
            report["agreement"][name] = agreement
            if agreement < 1.0 and not quantized:
                failures.append(f"{name} differs in {1 - agreement:.1%} of its values")
    return report, failures
