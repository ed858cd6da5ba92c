"""Telling a diverged run from a finished one: non-finite weights, and a loss that grew instead of fell.

A run whose loss became NaN/inf (the NaN stop fired) or whose final weights are not all finite has
diverged: the trainer records it in `metrics.json` (`status: diverged`), does not write
`model.keras` (so the run is not finished) or export anything, and raises `TrainingDiverged`.
A loss that ends far above its first epoch's without becoming NaN (Adam at a huge learning rate
climbs to 1e19) is reported, in the log and in `metrics.json` (`loss_growth`), but not refused: the
test metric says how bad it is.
"""

from __future__ import annotations

import math

# Final epoch's training loss over the first epoch's above which the run is reported as diverging.
GROWTH_REPORTED = 10.0


def loss_growth(history: dict) -> dict | None:
    """`{"first", "last", "ratio"}` of the training loss when the last epoch's is over `GROWTH_REPORTED`
    times the first's (or not finite), else None. `history` is the run's per-epoch log."""
    losses = history.get("loss") or []
    if len(losses) < 2:
        return None
    first, last = float(losses[0]), float(losses[-1])
    finite = math.isfinite(first) and math.isfinite(last)
    if finite and (first <= 0 or last <= GROWTH_REPORTED * first):
        return None
    return {"first": first, "last": last, "ratio": last / first if finite else None}


def divergence_message(nan_stops: list[str], bad_weights: list[str], learning_rate: float | None) -> str:
    """One line saying why the run counts as diverged and what to try."""
    if nan_stops:
        return nan_stops[0]
    lower = f" (it is {learning_rate:g}; try {learning_rate / 10:g})" if learning_rate else ""
    shown = ", ".join(bad_weights[:3]) + (f" and {len(bad_weights) - 3} more" if len(bad_weights) > 3 else "")
    return (f"the trained weights are not finite ({shown}): training diverged. Lower the learning rate with "
            f"--set train.learning_rate=...{lower}, or set train.clipnorm.")
