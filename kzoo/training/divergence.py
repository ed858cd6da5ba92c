"""Telling a diverged run from a finished one: non-finite weights, and a loss that grew instead of fell.

A run has diverged when its loss became NaN/inf (the NaN stop fired), its final weights are not all
finite, or its last epoch's training loss ends far above the loss it started from (Adam at a
learning rate of 1e6 climbs to 1e17 without a NaN, at chance accuracy). The trainer records it in
`metrics.json` (`status: diverged`, `loss_growth`), does not write `model.keras` (so the run is not
finished) or export anything, and raises `TrainingDiverged`.

The loss it started from is the first batch's (before training moved the weights): the first
epoch's mean is no reference when the run blew up within it (1e19 in epoch 1, 1e17 in epoch 2
looked like progress). A resumed run that did not see its first batch compares with epoch 1.
"""

from __future__ import annotations

import math

# Final epoch's training loss over the starting loss above which the run has diverged.
GROWTH_LIMIT = 10.0
# The starting loss counts as at least this much: a run starting from trained weights (prune.from_run,
# --init-from) begins near 0.05, and pruning may lift it to 0.6 without diverging. A cross-entropy of 1
# is about guessing among 3 classes, so the limit stays 10 or more, far below a diverged run's 1e17.
LOSS_FLOOR = 1.0


def loss_growth(history: dict, first_batch_loss: float | None = None) -> dict | None:
    """`{"first", "last", "ratio", "since"}` when the last epoch's training loss is over `GROWTH_LIMIT` times
    the starting loss (at least `LOSS_FLOOR`), or is not finite; else None.

    `history` is the run's per-epoch log; the starting loss is `first_batch_loss` when known (finite
    and above 0), else the first epoch's (then two epochs are needed). `since` says which it was.
    """
    losses = history.get("loss") or []
    usable = first_batch_loss is not None and math.isfinite(first_batch_loss) and first_batch_loss > 0
    if not losses or (not usable and len(losses) < 2):
        return None
    first, since = (float(first_batch_loss), "the first batch") if usable else (float(losses[0]), "epoch 1")
    last = float(losses[-1])
    finite = math.isfinite(first) and math.isfinite(last)
    if finite and (first <= 0 or last <= GROWTH_LIMIT * max(first, LOSS_FLOOR)):
        return None
    return {"first": first, "last": last, "ratio": last / first if finite else None, "since": since}


def growth_message(growth: dict, epochs: int, learning_rate: float | None) -> str:
    """One line: the loss rose from `first` to `last`, the run diverged, and what to try."""
    lower = f" (it is {learning_rate:g}; try {learning_rate / 10:g})" if learning_rate else ""
    return (f"the training loss rose from {growth['first']:.4g} ({growth['since']}) to {growth['last']:.4g} "
            f"(epoch {epochs}): training diverged. Lower the learning rate with --set train.learning_rate=...{lower}, "
            "or set train.clipnorm.")


def divergence_message(nan_stops: list[str], bad_weights: list[str], learning_rate: float | None) -> str:
    """One line saying why the run counts as diverged and what to try."""
    if nan_stops:
        return nan_stops[0]
    lower = f" (it is {learning_rate:g}; try {learning_rate / 10:g})" if learning_rate else ""
    shown = ", ".join(bad_weights[:3]) + (f" and {len(bad_weights) - 3} more" if len(bad_weights) > 3 else "")
    return (f"the trained weights are not finite ({shown}): training diverged. Lower the learning rate with "
            f"--set train.learning_rate=...{lower}, or set train.clipnorm.")
