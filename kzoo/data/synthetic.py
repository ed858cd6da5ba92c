"""Generated data sets with learnable structure, deterministic given a seed, built in well under a second.

- images: one stroke prototype per class, shifted by up to 3 pixels, scaled and noised.
- reviews: sentences of neutral filler words plus sentiment words; the label is the class whose
  words are in the majority.
- sentence pairs: a toy German-English pair with a word-by-word dictionary and one reordering
  rule (the adjective follows its noun in the source).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _stroke_prototypes(num_classes: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Return `[num_classes, height, width]` float images, each 3 random thick strokes."""
    protos = np.zeros((num_classes, height, width), dtype=np.float32)
    t = np.linspace(0.0, 1.0, 4 * max(height, width))
    for c in range(num_classes):  # a loop over classes and strokes, not over examples
        for _ in range(3):
            (r0, c0), (r1, c1) = rng.uniform(4, [height - 5, width - 5], size=(2, 2))
            rows = np.clip(np.round(r0 + (r1 - r0) * t), 0, height - 2).astype(int)
            cols = np.clip(np.round(c0 + (c1 - c0) * t), 0, width - 2).astype(int)
            for dr in (0, 1):
                for dc in (0, 1):
                    protos[c, rows + dr, cols + dc] = 1.0
    return protos


def synthetic_images(
    n_train: int, n_test: int, num_classes: int = 10, seed: int = 0, shape=(28, 28, 1)
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return `(x_train, y_train, x_test, y_test)`: uint8 images `[N, *shape]`, int64 labels.

    Each class has its own stroke prototype; examples are the prototype shifted by -3..3 pixels,
    with random brightness and Gaussian noise. Same seed, same arrays.
    """
    height, width, channels = shape
    rng = np.random.default_rng(seed)
    protos = _stroke_prototypes(num_classes, height, width, rng)
    n = n_train + n_test
    labels = rng.integers(0, num_classes, size=n)
    dy, dx = rng.integers(-3, 4, size=(2, n))
    rows = np.clip(np.arange(height)[None, :] - dy[:, None], 0, height - 1)
    cols = np.clip(np.arange(width)[None, :] - dx[:, None], 0, width - 1)
    images = protos[labels[:, None, None], rows[:, :, None], cols[:, None, :]]
    images = images * rng.uniform(150, 255, size=(n, 1, 1)) + rng.normal(0, 25, size=images.shape)
    images = np.clip(images, 0, 255).astype(np.uint8)[..., None]
    images = np.repeat(images, channels, axis=-1)
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


POSITIVE = (
    "great excellent wonderful brilliant superb moving delightful enjoyable touching beautiful "
    "charming masterful funny gripping memorable perfect loved fantastic clever stunning"
).split()
NEGATIVE = (
    "awful terrible boring dull horrible weak poor tedious clumsy bland lifeless annoying "
    "pointless mediocre dreadful stupid hated disappointing predictable messy"
).split()
NEUTRAL = (
    "the a this film movie story plot actor actress director scene music ending it was is and "
    "with of in about camera script character cast screen year time people watch seen saw show "
    "episode minutes hour book version sequel studio role part"
).split()


def _class_words(num_classes: int) -> list[list[str]]:
    if num_classes == 2:
        return [NEGATIVE, POSITIVE]
    return [[f"{word}{c}" for word in POSITIVE[:10]] for c in range(num_classes)]


def synthetic_reviews(
    n_train: int, n_test: int, num_classes: int = 2, seed: int = 0, length: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return `(texts_train, y_train, texts_test, y_test)`: arrays of str reviews and int64 labels.

    A review has `length` words: 4 to 7 words from its class's list, 0 to 2 from another class's
    list, the rest neutral filler, in random order (for 2 classes: 0 = negative, 1 = positive).
    """
    rng = np.random.default_rng(seed)
    class_words = _class_words(num_classes)
    per_class = len(class_words[0])
    vocab = np.array(NEUTRAL + [w for words in class_words for w in words])
    n = n_train + n_test
    labels = rng.integers(0, num_classes, size=n)
    other = (labels + rng.integers(1, num_classes, size=n)) % num_classes
    ids = rng.integers(0, len(NEUTRAL), size=(n, length))
    n_own, n_other = rng.integers(4, 8, size=n), rng.integers(0, 3, size=n)
    slot = np.arange(length)[None, :]
    own_ids = len(NEUTRAL) + labels[:, None] * per_class + rng.integers(0, per_class, size=(n, length))
    other_ids = len(NEUTRAL) + other[:, None] * per_class + rng.integers(0, per_class, size=(n, length))
    ids = np.where(slot < n_own[:, None], own_ids, ids)
    ids = np.where((slot >= n_own[:, None]) & (slot < (n_own + n_other)[:, None]), other_ids, ids)
    ids = np.take_along_axis(ids, rng.permuted(np.tile(slot, (n, 1)), axis=1), axis=1)
    texts = tf.strings.reduce_join(tf.gather(vocab, ids), axis=-1, separator=" ").numpy().astype(str)
    return texts[:n_train], labels[:n_train], texts[n_train:], labels[n_train:]


# (source, target) dictionaries of the toy pair; sentences are "DET ADJ NOUN VERB DET ADJ NOUN".
DETERMINERS = {"der": "the", "ein": "a"}
ADJECTIVES = {"rot": "red", "gross": "big", "klein": "small", "alt": "old", "jung": "young",
              "blau": "blue", "schnell": "fast", "gruen": "green"}
NOUNS = {"hund": "dog", "katze": "cat", "mann": "man", "frau": "woman", "kind": "child",
         "ball": "ball", "haus": "house", "auto": "car", "baum": "tree", "vogel": "bird"}
VERBS = {"sieht": "sees", "mag": "likes", "hat": "has", "findet": "finds", "malt": "paints", "sucht": "seeks"}
# Word position in the target sentence for each source position: the adjective follows its noun.
_SOURCE_ORDER = [0, 2, 1, 3, 4, 6, 5]


def synthetic_pairs(sizes: dict[str, int], seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return {split: (source_sentences, target_sentences)} for `sizes` like {"train": 4000, ...}.

    Target: "the big dog sees a small cat."; source: "der hund gross sieht ein katze klein."
    (word-by-word dictionary, adjective after noun). Same seed, same sentences.
    """
    rng = np.random.default_rng(seed)
    slots = [DETERMINERS, ADJECTIVES, NOUNS, VERBS, DETERMINERS, ADJECTIVES, NOUNS]
    n = sum(sizes.values())
    choices = np.stack([rng.integers(0, len(d), size=n) for d in slots], axis=1)
    src_words = [np.array(list(d.keys()))[choices[:, i]] for i, d in enumerate(slots)]
    tgt_words = [np.array(list(d.values()))[choices[:, i]] for i, d in enumerate(slots)]
    src = np.stack([src_words[i] for i in _SOURCE_ORDER], axis=1)
    tgt = np.stack(tgt_words, axis=1)
    join = lambda words: np.char.add(
        tf.strings.reduce_join(words, axis=-1, separator=" ").numpy().astype(bytes).astype(str), ".")
    src, tgt = join(src), join(tgt)
    out, start = {}, 0
    for split, size in sizes.items():
        out[split] = (src[start : start + size], tgt[start : start + size])
        start += size
    return out
