"""Progress of kzoo's long steps: a line when one starts, one when it ends with its seconds, and a
progress bar where the work is a loop of known length.

    with progress.step("learning the WordPiece vocabulary from 22500 reviews"):
        ...
    # kzoo: learning the WordPiece vocabulary from 22500 reviews...
    # kzoo: learning the WordPiece vocabulary from 22500 reviews: done in 41 s

The lines go to stderr, so a tool's stdout stays its result (JSON). Bars (`keras.utils.Progbar`,
on stdout as Keras's own) are drawn on a terminal only: in a log file they would be noise.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Iterator


def format_seconds(seconds: float, rough: bool = False) -> str:
    """`2.4 s`, `41 s`, `3 min 5 s`, `1 h 12 min`: a duration as a person reads it (`rough`: `3 min`, for estimates)."""
    if seconds < 10 and not rough:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if rough and seconds < 3600:
        return f"{round(seconds / 60)} min"
    minutes = int(round(seconds)) // 60
    if minutes < 60:
        return f"{minutes} min {int(round(seconds)) % 60} s"
    return f"{minutes // 60} h {minutes % 60} min"


def say(message: str) -> None:
    """Print `kzoo: message` to stderr at once."""
    print(f"kzoo: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(what: str) -> Iterator[None]:
    """Say `what` when the step starts and, when it ends without an error, how many seconds it took."""
    say(f"{what}...")
    started = time.perf_counter()
    yield
    say(f"{what}: done in {format_seconds(time.perf_counter() - started)}")


def interactive() -> bool:
    """Whether progress bars are worth drawing: stdout (where Keras draws them) is a terminal."""
    return sys.stdout.isatty()


def bar(total: int | None):
    """A `keras.utils.Progbar` of `total` steps on a terminal, else None (callers skip their updates)."""
    if not interactive() or not total or total < 0:
        return None
    import keras  # the callers have it loaded already

    return keras.utils.Progbar(total)


def count(dataset) -> int | None:
    """A tf.data dataset's number of elements when it is known without reading it, else None."""
    n = int(dataset.cardinality())
    return n if n >= 0 else None
