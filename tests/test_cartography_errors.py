"""Regression tests for the cartography failure cases (each failed before its fix): nothing
silent, nothing lost."""

import json
import warnings

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cartography_helpers import CountSteps, StopAt, tiny_dataset, tiny_model, train, training_args
from transformers import Trainer, default_data_collator

from hf_notlike.cartography import DATA_MAP_FILE, METADATA_FILE, STATE_FILE, CartographyCallback, DataMap


# ------------------------------------------------------------------------------------------------- 11.5
def test_ignored_label_outside_the_first_batch_is_named_before_its_forward(tmp_path):
    dataset = tiny_dataset(24)
    labels = list(dataset["label"])
    labels[17] = -100
    bad = dataset.remove_columns("label").add_column("label", labels)
    counter = CountSteps()
    trainer = Trainer(model=tiny_model(), args=training_args(str(tmp_path), num_train_epochs=1), train_dataset=bad,
                      callbacks=[CartographyCallback(), counter])
    with pytest.raises(ValueError, match=r"train examples \[17\] \(row indices\) have gold labels \[-100\]"):
        trainer.train()
    assert counter.steps < 6  # stopped at the batch holding row 17, not at the end


def test_label_out_of_range_is_named(tmp_path):
    labels = list(tiny_dataset(12)["label"])
    labels[5] = 3  # 3 labels: valid range [0, 3)
    bad = tiny_dataset(12).remove_columns("label").add_column("label", labels)
    with pytest.raises(ValueError, match=r"\[5\].*\[3\].*outside \[0, 3\)"):
        train(str(tmp_path), bad, num_train_epochs=1)


# ------------------------------------------------------------------------------------------------- 11.6, 11.10
def _interrupted(folder, dataset, seed=0, stop=6, **options):
    trainer = Trainer(model=tiny_model(seed=seed), args=training_args(str(folder), **options), train_dataset=dataset,
                      callbacks=[CartographyCallback(), StopAt(stop)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.train()


def test_truncated_state_file_names_the_file(tmp_path):
    dataset = tiny_dataset(16)
    options = dict(num_train_epochs=2, save_strategy="steps", save_steps=6)
    _interrupted(tmp_path / "run", dataset, **options)
    state = tmp_path / "run" / "checkpoint-6" / STATE_FILE
    state.write_bytes(state.read_bytes()[:-40])
    with pytest.raises(ValueError, match=f"{STATE_FILE}.*damaged"):
        train(str(tmp_path / "run"), dataset, resume_from_checkpoint=str(state.parent), **options)


def test_resume_loads_the_state_of_the_checkpoint_actually_resumed(tmp_path):
    # run A is interrupted at step 6 in a/; an unrelated run B (another model seed) leaves its own checkpoint-6 in
    # b/; resuming A with output_dir=b/ must use A's state (it used to load B's and give another map, silently)
    dataset = tiny_dataset(16)
    options = dict(num_train_epochs=3, learning_rate=2e-2, save_strategy="steps", save_steps=6)
    full, _ = train(str(tmp_path / "full"), dataset, model=tiny_model(seed=0), **options)
    _interrupted(tmp_path / "a", dataset, seed=0, **options)
    _interrupted(tmp_path / "b", dataset, seed=1, **options)
    resumed, _ = train(str(tmp_path / "b"), dataset, model=tiny_model(seed=0),
                       resume_from_checkpoint=str(tmp_path / "a" / "checkpoint-6"), **options)
    # exact: the resumed run replays the same forwards in this process and reloads the saved bits
    np.testing.assert_array_equal(resumed.data_map().gold_probs, full.data_map().gold_probs)
    np.testing.assert_array_equal(resumed.data_map().margins, full.data_map().margins)


def test_resume_from_a_moved_checkpoint_refuses_another_runs_state(tmp_path):
    dataset = tiny_dataset(16)
    options = dict(num_train_epochs=3, save_strategy="steps", save_steps=6)
    _interrupted(tmp_path / "a", dataset, seed=0, **options)
    _interrupted(tmp_path / "b", dataset, seed=1, **options)
    moved = tmp_path / "moved"
    (tmp_path / "a" / "checkpoint-6").rename(moved)  # A's checkpoint moved away: its recorded folder is gone
    (moved / STATE_FILE).unlink()
    with pytest.raises(ValueError, match="another training run"):
        train(str(tmp_path / "b"), dataset, model=tiny_model(seed=0), resume_from_checkpoint=str(moved), **options)


# ------------------------------------------------------------------------------------------------- 11.7
def _saved(tmp_path):
    data_map = DataMap([[0.9, 0.8], [0.2, 0.3], [0.5, 0.6]], [[True, True], [False, False], [False, True]],
                       margins=[[1.0, 0.5], [-1.0, -0.5], [0.0, 0.2]], labels=[0, 1, 1])
    folder = data_map.save_pretrained(tmp_path / "map", card=False, plot=False)
    # without its manifest (as saved by older versions), so the hand edits below reach the file checks; an edited
    # folder with a manifest is refused earlier (tests/test_atomic_writes.py)
    (folder / "manifest.json").unlink()
    return folder


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda meta: {k: v for k, v in meta.items() if k != "num_epochs"}, "field 'num_epochs' is missing"),
        (lambda meta: {**meta, "format_version": "1"}, "field 'format_version' must be a non-negative integer"),
        (lambda meta: [meta], "expected a JSON object"),
        (lambda meta: {**meta, "num_examples": "3"}, "field 'num_examples' must be a positive integer"),
        (lambda meta: {**meta, "id_column": 5}, "field 'id_column'"),
        (lambda meta: {**meta, "mode": None}, "field 'mode'"),
    ],
)
def test_malformed_metadata_names_the_file_and_field(tmp_path, edit, match):
    folder = _saved(tmp_path)
    meta = json.loads((folder / METADATA_FILE).read_text())
    (folder / METADATA_FILE).write_text(json.dumps(edit(meta)))
    with pytest.raises(ValueError, match=match) as error:
        DataMap.from_pretrained(folder)
    assert METADATA_FILE in str(error.value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t.drop_columns(["gold_prob"]), r"column\(s\) \['gold_prob'\] missing"),
        (lambda t: t.set_column(0, "id", pa.array([1, None, 3])), "column 'id' has 1 null"),
        (lambda t: t.set_column(t.schema.get_field_index("gold_prob"), "gold_prob", pa.array([0.1, 0.2, 0.3])),
         "one list per example"),
        (lambda t: t.set_column(t.schema.get_field_index("correct"), "correct",
                                pa.array([["a", "b"], ["c", "d"], ["e", "f"]])), "values of type string"),
        (lambda t: t.set_column(t.schema.get_field_index("margin"), "margin", pa.array([[1.0], [2.0], [3.0]])),
         "exactly 2 non-null values"),
        (lambda t: t.slice(0, 2), "2 rows for num_examples=3"),
        (lambda t: t.set_column(t.schema.get_field_index("gold_prob"), "gold_prob",
                                pa.array([[0.1, 7.0], [0.2, 0.2], [0.3, 0.3]])), r"\[0, 1\]"),
    ],
)
def test_malformed_parquet_names_the_file_and_column(tmp_path, edit, match):
    folder = _saved(tmp_path)
    pq.write_table(edit(pq.read_table(folder / DATA_MAP_FILE)), folder / DATA_MAP_FILE)
    with pytest.raises(ValueError, match=match) as error:
        DataMap.from_pretrained(folder)
    assert DATA_MAP_FILE in str(error.value)


def test_not_parquet_at_all(tmp_path):
    folder = _saved(tmp_path)
    (folder / DATA_MAP_FILE).write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ValueError, match="not a readable Parquet file"):
        DataMap.from_pretrained(folder)


# ------------------------------------------------------------------------------------------------- 11.12
def _keep_model_inputs(rows):
    return default_data_collator([{k: row[k] for k in ("input_ids", "attention_mask", "label")} for row in rows])


def test_duplicate_ids_are_rejected_when_training_starts(tmp_path):
    dataset = tiny_dataset(12)
    uids = list(dataset["uid"])
    uids[7] = uids[2]
    duplicated = dataset.remove_columns("uid").add_column("uid", uids)
    counter = CountSteps()
    trainer = Trainer(model=tiny_model(), train_dataset=duplicated, data_collator=_keep_model_inputs,
                      args=training_args(str(tmp_path), remove_unused_columns=False, num_train_epochs=1),
                      callbacks=[CartographyCallback(id_column="uid"), counter])
    with pytest.raises(ValueError, match=r"duplicate values in the train dataset \(e.g. \['ex-0002'\]\)"):
        trainer.train()
    assert counter.steps == 0


def test_duplicate_ids_in_a_dropped_column_do_not_strand_the_recorded_epochs(tmp_path):
    dataset = tiny_dataset(12)
    uids = list(dataset["uid"])
    uids[7] = uids[2]
    duplicated = dataset.remove_columns("uid").add_column("uid", uids)
    cartography, _ = train(str(tmp_path), duplicated, callback=CartographyCallback(id_column="uid"),
                           num_train_epochs=2)
    with pytest.raises(ValueError, match="by_row_index=True"):
        cartography.data_map(duplicated)
    data_map = cartography.data_map(by_row_index=True)
    assert data_map.num_epochs == 2 and data_map.id_column is None and data_map.ids.tolist() == list(range(12))


# ------------------------------------------------------------------------------------------------- 11.13
def test_a_second_train_call_starts_a_new_map_with_a_warning(tmp_path):
    dataset = tiny_dataset(12)
    cartography = CartographyCallback()
    trainer = Trainer(model=tiny_model(), args=training_args(str(tmp_path), num_train_epochs=2),
                      train_dataset=dataset, callbacks=[cartography])
    trainer.train()
    first = cartography.data_map()
    with pytest.warns(UserWarning, match="the 2 epoch\\(s\\) recorded by the previous `train\\(\\)` call are discarded"):
        trainer.train()
    second = cartography.data_map()
    assert second.num_epochs == 2
    assert not np.array_equal(first.gold_probs, second.gold_probs)  # the model kept learning: a new run's map


# ------------------------------------------------------------------------------------------------- 13.8
def test_include_incomplete_includes_the_partial_epoch(tmp_path):
    cartography, _ = train(str(tmp_path), tiny_dataset(16), max_steps=6)  # 4 steps per epoch: epoch 2 is half done
    with pytest.warns(UserWarning, match="1 incomplete epoch"):
        assert cartography.data_map().num_epochs == 1
    with pytest.warns(UserWarning, match="8 example\\(s\\) missed"):
        partial = cartography.data_map(include_incomplete=True)
    assert partial.num_epochs == 2 and partial.num_examples == 8
    seen = partial.ids
    ids, subset = partial.select("hard_to_learn", 0.5, dataset=tiny_dataset(16))
    assert set(ids.tolist()) <= set(seen.tolist()) and len(subset) == 4
