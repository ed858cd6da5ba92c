"""Sequential recommendation: a user's items in time order in, the next item's scores at every position out.

The data (`kzoo.data.recommender.sequences`) is the recommenders' leave-one-out split read in time
order; the model takes `item_ids` int32 `[B, L]` (right-aligned item indices, 0 before them) and
returns logits `[B, L, num_items + 1]`. Training is a softmax cross-entropy over the whole catalogue
at every position whose target is an item (padding, index 0, ignored): with 1,682 items (ML-100k) or
3,706 (ML-1M) the full softmax costs less than sampling would save, and Klenitskiy & Vasilev (RecSys
2023) found SASRec trained with it clearly better than with the paper's binary cross-entropy on one
sampled negative. Validation and test rank the held-out item by the same code as the other
recommenders (HR@10 / NDCG@10 against 99 sampled candidates), and the test adds the full-catalogue
Recall@10 / NDCG@10. The export answers raw item-id histories and known user ids
(`kzoo.signatures.sequential`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from kzoo.data.recommender.sequences import HISTORY_PADDING, SequenceIdMaps, load_sequence_data
from kzoo.data.schemas import SEQUENTIAL_RECOMMENDATION_DATA
from kzoo.errors import DataError
from kzoo.signatures import sequential as sequential_signatures
from kzoo.tasks.base import Task, register_task
from kzoo.tasks.recommendation import LeaveOneOutRanking


@register_task
class SequentialRecommendation(LeaveOneOutRanking, Task):
    """Full softmax cross-entropy of the next item at every position; HR@10 on validation; `data.validation` split."""

    name = "sequential_recommendation"
    main_metrics = ("hr@10", "ndcg@10", "full_recall@10", "full_ndcg@10")
    data_schema = SEQUENTIAL_RECOMMENDATION_DATA
    predict_example = "--history 50 172 181 --k 10"  # raw ML-100k ids; --user-id 1 --k 10 reads a stored history

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)

    def load_data(self, config, source, data_dir, seed, batch_size, shard, preprocessor=None):
        return load_sequence_data(config, source, data_dir, seed, batch_size, shard, preprocessor)

    def load_preprocessor(self, directory: Path) -> SequenceIdMaps:
        if not Path(directory).is_dir():
            raise DataError(f"{directory} not found: a sequential recommender run must hold its id maps")
        return SequenceIdMaps.load(directory)

    def example_batch(self, config, batch_size=8, seed=0):
        """Histories of random lengths (at least 2), right-aligned, and their next items."""
        rng = np.random.default_rng(seed)
        length, items = config.model.max_length, config.model.num_items
        sequences = rng.integers(1, items + 1, size=(batch_size, length + 1)).astype("int32")
        real = np.arange(length + 1)[None, :] >= (length + 1 - rng.integers(2, length + 2, size=(batch_size, 1)))
        sequences = np.where(real, sequences, 0).astype("int32")
        inputs = sequences[:, :-1]
        return inputs, np.where(inputs != 0, sequences[:, 1:], 0).astype("int32")  # a target after each real item

    def add_serving_endpoints(self, archive, model, config, preprocessor):
        return sequential_signatures.add_endpoints(archive, model, config, preprocessor)

    def tensor_endpoint(self, model, config, preprocessor):
        return sequential_signatures.tensor_endpoint(model, self.example_batch(config)[0])

    def write_preprocessing_assets(self, preprocessor, directory):
        return sequential_signatures.write_assets(preprocessor, directory)

    def tensor_inputs(self, raw, preprocessor):
        windows, _ = preprocessor.history_indices(raw["item_ids"])
        return {"item_index": windows}

    def serving_example(self, batch):
        history = np.full((batch, 12), HISTORY_PADDING, np.int64)
        history[:, :10] = np.arange(1, 11)
        return {"item_ids": tf.constant(history), "k": tf.constant(10, tf.int32)}
