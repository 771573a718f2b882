"""Property-based tests (hypothesis) of the cartography entry points: `DataMap(...)`, `DataMap.select`,
`DataMap.from_pretrained` on damaged files, and the callback's input checks. Each generated input gives either a
`ValueError` with a message or a correct result, never another exception."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from cartography_helpers import tiny_dataset, tiny_model, training_args
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hf_notlike.cartography import DATA_MAP_FILE, METADATA_FILE, REGIONS, CartographyCallback, DataMap

SETTINGS = settings(max_examples=60, deadline=None)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
ARRAYS = st.one_of(
    hnp.arrays(np.float32, SHAPES, elements=FLOATS),
    hnp.arrays(np.float32, SHAPES, elements=st.floats(0, 1, width=32)),
    hnp.arrays(np.int64, SHAPES, elements=st.integers(-3, 3)),
    hnp.arrays(np.bool_, SHAPES),
    st.lists(st.text(max_size=3), max_size=4),
    st.none(),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=5,
)


def valid_map(draw_probs, num_labels=3):
    probs = np.asarray(draw_probs, dtype=np.float32)
    n = probs.shape[0]
    return DataMap(probs, probs > 0.5, margins=probs - 0.5, labels=np.arange(n) % num_labels)


@st.composite
def maps(draw):
    n = draw(st.integers(1, 30))
    e = draw(st.integers(1, 4))
    probs = draw(hnp.arrays(np.float32, (n, e), elements=st.floats(0, 1, width=32)))
    return valid_map(probs, num_labels=draw(st.integers(1, 4)))


@SETTINGS
@given(gold=ARRAYS, correct=ARRAYS, ids=ARRAYS, margins=ARRAYS, labels=ARRAYS)
def test_datamap_constructor(gold, correct, ids, margins, labels):
    try:
        dm = DataMap(gold, correct, ids, margins=margins, labels=labels)
    except ValueError as error:
        assert str(error)
        return
    n, e = dm.gold_probs.shape
    assert n >= 1 and e >= 1 and dm.correct.shape == (n, e) and len(dm.ids) == n
    assert ((dm.confidence >= 0) & (dm.confidence <= 1)).all() and (dm.variability >= 0).all()
    assert ((dm.correctness >= 0) & (dm.correctness <= 1)).all() and (dm.forgetfulness <= max(e - 1, 0)).all()
    if dm.margins is not None:
        assert np.isfinite(dm.aum).all()


@SETTINGS
@given(
    dm=maps(),
    region=st.one_of(st.sampled_from(REGIONS), st.text(max_size=8)),
    fraction=st.one_of(st.floats(allow_nan=True), st.integers(-2, 2), st.booleans(), st.text(max_size=3)),
    epochs=st.one_of(st.none(), st.integers(-1, 6), st.floats(0, 3)),
    seed=st.one_of(st.integers(0, 2**32), st.floats(0, 1), st.none()),
    class_balanced=st.one_of(st.booleans(), st.integers(0, 2)),
)
def test_select(dm, region, fraction, epochs, seed, class_balanced):
    try:
        ids, subset = dm.select(region, fraction, epochs=epochs, seed=seed, class_balanced=class_balanced)
    except ValueError as error:
        assert str(error)
        return
    n = dm.num_examples
    expected = max(1, int(round(float(fraction) * n)))
    assert subset is None and len(set(ids.tolist())) == len(ids) and set(ids.tolist()) <= set(dm.ids.tolist())
    if class_balanced:
        whole, chosen = dm.class_balance(), dm.class_balance(ids)
        assert abs(len(ids) - expected) <= len(whole)
        for label, size in whole.items():  # each class gets its proportional share, give or take one
            assert abs(chosen[label] - size * len(ids) / n) <= 1 + 1e-9
    else:
        assert len(ids) == expected


@SETTINGS
@given(field=st.sampled_from(["format_version", "num_examples", "num_epochs", "id_column", "model", "mode", None]),
       value=JSONISH, whole=st.one_of(st.none(), JSONISH))
def test_from_pretrained_with_damaged_metadata(field, value, whole):
    with tempfile.TemporaryDirectory() as tmp:
        dm = valid_map(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.3]]))
        folder = dm.save_pretrained(tmp, card=False, plot=False)
        (folder / "manifest.json").unlink()  # as saved by older versions: the edits reach the field checks
        meta = json.loads((folder / METADATA_FILE).read_text())
        if field is not None:
            meta[field] = value
        (folder / METADATA_FILE).write_text(json.dumps(meta if whole is None else whole))
        try:
            loaded = DataMap.from_pretrained(folder)
        except ValueError as error:
            assert METADATA_FILE in str(error) or DATA_MAP_FILE in str(error)
            return
        np.testing.assert_array_equal(loaded.gold_probs, dm.gold_probs)


COLUMN_VALUES = st.one_of(
    st.lists(st.one_of(st.none(), st.integers(-2, 2)), min_size=3, max_size=3),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), min_size=3, max_size=3),
    st.lists(st.lists(st.one_of(st.none(), st.floats(-1, 2)), max_size=3), min_size=3, max_size=3),
    st.lists(st.lists(st.booleans(), max_size=3), min_size=3, max_size=3),
    st.lists(st.text(max_size=2), min_size=3, max_size=3),
)


@SETTINGS
@given(column=st.sampled_from(["id", "gold_prob", "correct", "margin", "label"]), values=COLUMN_VALUES,
       drop=st.booleans())
def test_from_pretrained_with_damaged_parquet(column, values, drop):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(valid_map(np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.3]])).save_pretrained(
            tmp, card=False, plot=False))
        (folder / "manifest.json").unlink()  # as saved by older versions: the edits reach the column checks
        table = pq.read_table(folder / DATA_MAP_FILE)
        index = table.schema.get_field_index(column)
        table = table.remove_column(index) if drop else table.set_column(index, column, pa.array(values))
        pq.write_table(table, folder / DATA_MAP_FILE)
        try:
            loaded = DataMap.from_pretrained(folder)
        except ValueError as error:
            assert DATA_MAP_FILE in str(error)
            return
        assert loaded.num_examples == 3 and loaded.num_epochs == 2


@SETTINGS
@given(kwargs=st.dictionaries(
    st.sampled_from(["mode", "id_column", "label_key", "resume_from_checkpoint", "dataset_name"]),
    st.one_of(st.none(), st.text(max_size=6), st.integers(), st.sampled_from(["training", "rescore"])), max_size=5))
def test_callback_arguments(kwargs):
    try:
        callback = CartographyCallback(**kwargs)
    except ValueError as error:
        assert str(error)
        return
    assert callback.config.mode in ("training", "rescore")
    assert callback.config.id_column is None or isinstance(callback.config.id_column, str)
    with pytest.raises(ValueError, match="no finished epoch"):
        callback.data_map()


@pytest.fixture(scope="module")
def label_trainers(tmp_path_factory):
    """One stock `Trainer` per `num_labels` (batches of 4 rows, one step per `train()`) whose data collator returns the
    labels held in `labels["value"]` (no `labels` key when it is None)."""
    from transformers import Trainer

    labels = {"value": None}

    def collate(features):
        batch = {"input_ids": torch.full((len(features), 3), 5), "attention_mask": torch.ones(len(features), 3)}
        if labels["value"] is not None:
            batch["labels"] = labels["value"]
        return batch

    trainers = {}
    for num_labels in (2, 3, 4):
        args = training_args(str(tmp_path_factory.mktemp("labels")), max_steps=1, learning_rate=0.0)
        trainers[num_labels] = Trainer(model=tiny_model(num_labels=num_labels), args=args,
                                       train_dataset=tiny_dataset(4), data_collator=collate)
    return trainers, labels


@settings(max_examples=25, deadline=None)  # a Trainer step per example
@given(
    labels=st.one_of(
        hnp.arrays(np.int64, hnp.array_shapes(min_dims=0, max_dims=2, max_side=4), elements=st.integers(-200, 5)),
        hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=1, max_side=4), elements=st.floats(0, 3)),
    ),
    num_labels=st.sampled_from([2, 3, 4]),
    key_present=st.booleans(),
)
def test_batch_label_check(label_trainers, labels, num_labels, key_present):
    """Whatever gold labels the data collator returns, a stock `Trainer` run with the callback either stops with the
    callback's `ValueError` before the forward pass, or the labels were integer class ids `[batch]` in range."""
    trainers, holder = label_trainers
    trainer = trainers[num_labels]
    holder["value"] = torch.from_numpy(labels) if key_present else None
    callback = CartographyCallback()
    trainer.add_callback(callback)
    try:
        trainer.train()
    except ValueError as error:
        if "CartographyCallback" in str(error):
            return
    except Exception:  # noqa: BLE001 - the model's own error on labels the callback let through
        pass
    finally:
        trainer.remove_callback(callback)
    tensor = torch.from_numpy(labels)
    assert key_present and not tensor.is_floating_point() and tensor.ndim == 1 and (tensor >= 0).all()
    assert (tensor < num_labels).all()
