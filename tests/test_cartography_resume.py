"""A resumed CartographyCallback run continues on the examples its checkpoint recorded, or refuses before any step:
the train-set fingerprint (content and order) and the map options are saved with the checkpoint and checked."""

import shutil

import datasets
import numpy as np
import pytest
from cartography_helpers import CountSteps, StopAt, tiny_dataset, tiny_model, train, training_args
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file
from transformers import Trainer

from hf_notlike.cartography import STATE_FILE, CartographyCallback
from hf_notlike.cartography.fingerprint import train_set_fingerprint

OPTIONS = dict(num_train_epochs=3, learning_rate=2e-2, save_strategy="steps", save_steps=6)  # 4 steps per epoch


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A run on `tiny_dataset(16)` stopped at step 6 (mid epoch 2), with its checkpoint; and the uninterrupted map."""
    root = tmp_path_factory.mktemp("resume")
    full, _ = train(str(root / "full"), tiny_dataset(16), **OPTIONS)
    trainer = Trainer(model=tiny_model(), args=training_args(str(root / "run"), **OPTIONS),
                      train_dataset=tiny_dataset(16), callbacks=[CartographyCallback(), StopAt(6)])
    trainer.train()
    return root / "run" / "checkpoint-6", full.data_map()


def _resume(tmp_path, checkpoint, dataset, callback=None):
    """Resume from a copy of `checkpoint` (so every test starts from the same one); returns the callback, or raises
    after checking that no training step ran."""
    copy = tmp_path / "run" / checkpoint.name
    shutil.copytree(checkpoint, copy)
    callback = callback if callback is not None else CartographyCallback()
    steps = CountSteps()
    trainer = Trainer(model=tiny_model(), args=training_args(str(tmp_path / "run"), **OPTIONS), train_dataset=dataset,
                      callbacks=[callback, steps])
    try:
        trainer.train(resume_from_checkpoint=str(copy))
    finally:
        assert steps.steps in (0, 12 - 6)  # refused before any step, or ran the remaining steps
    return callback


def test_same_data_resumes_and_equals_the_uninterrupted_run(tmp_path, interrupted):
    checkpoint, full = interrupted
    # a new Dataset object built again from the same rows (another `_fingerprint`, the same content)
    resumed = _resume(tmp_path, checkpoint, tiny_dataset(16)).data_map()
    np.testing.assert_array_equal(resumed.gold_probs, full.gold_probs)
    np.testing.assert_array_equal(resumed.margins, full.margins)
    np.testing.assert_array_equal(resumed.labels, full.labels)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.shuffle(seed=3), r"What changed: order: the same examples, reshuffled \(row \d+ now holds the "
                                      r"example that was row \d+\)"),
        (lambda d: d.map(lambda e, i: {"label": (e["label"] + (i == 5)) % 3}, with_indices=True),
         r"What changed: labels: the same inputs in the same order, but other labels \(first at row 5\)"),
        (lambda d: tiny_dataset(16, seed=1), r"What changed: content: other examples \(first at row 0\)"),
        (lambda d: d.select([*range(8), 0, *range(9, 16)]), r"What changed: content: other examples \(first at row 8\)"),
        (lambda d: d.select(range(12)), r"size: the checkpoint was recorded on 16 examples, the train set has 12"),
    ],
    ids=["reshuffled", "relabelled", "replaced", "one-row-replaced", "smaller"],
)
def test_other_data_is_refused_saying_what_changed(tmp_path, interrupted, change, message):
    checkpoint, _ = interrupted
    with pytest.raises(ValueError, match=message) as error:
        _resume(tmp_path, checkpoint, change(tiny_dataset(16)))
    assert "resume_from_checkpoint=None" in str(error.value) and "output_dir" in str(error.value)
    assert str(checkpoint.name) in str(error.value)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(mode="rescore"), "options: mode='training' in the checkpoint, 'rescore' now"),
        (dict(id_column="uid"), "options: id_column=None in the checkpoint, 'uid' now"),
        (dict(token_table=True), "options: token_table=False in the checkpoint, True now"),
    ],
    ids=["mode", "id_column", "token_table"],
)
def test_other_options_are_refused(tmp_path, interrupted, options, message):
    checkpoint, _ = interrupted
    with pytest.raises(ValueError, match=message):
        _resume(tmp_path, checkpoint, tiny_dataset(16), CartographyCallback(**options))


def test_options_that_do_not_shape_the_map_may_change(tmp_path, interrupted):
    checkpoint, full = interrupted
    callback = CartographyCallback(dataset_name="toy", profile=True)
    resumed = _resume(tmp_path, checkpoint, tiny_dataset(16), callback).data_map()
    np.testing.assert_array_equal(resumed.gold_probs, full.gold_probs)


def test_a_checkpoint_without_fingerprint_resumes_with_a_warning(tmp_path, interrupted, caplog):
    checkpoint, full = interrupted
    old = tmp_path / "old" / checkpoint.name
    shutil.copytree(checkpoint, old)
    from safetensors import safe_open

    with safe_open(str(old / STATE_FILE), framework="numpy") as handle:
        metadata = handle.metadata()
    tensors = {k: v for k, v in load_file(str(old / STATE_FILE)).items() if not k.startswith("fingerprint_")}
    metadata = {k: v for k, v in metadata.items() if not k.startswith("fingerprint") and k != "map_options"}
    save_file(tensors, str(old / STATE_FILE), metadata=metadata)
    with caplog.at_level("WARNING", logger="hf_notlike.cartography.callback"):
        resumed = _resume(tmp_path, old, tiny_dataset(16)).data_map()
    assert "no train-set fingerprint" in caplog.text
    np.testing.assert_array_equal(resumed.gold_probs, full.gold_probs)


# ------------------------------------------------------------------------------------------------ the fingerprint
_rows = st.lists(
    st.tuples(st.lists(st.integers(0, 5), min_size=0, max_size=3), st.integers(0, 2)), min_size=1, max_size=6,
)


def _dataset(rows):
    return datasets.Dataset.from_dict(
        {"input_ids": [list(ids) for ids, _ in rows], "label": [label for _, label in rows]},
        features=datasets.Features({"input_ids": datasets.Sequence(datasets.Value("int64")),
                                    "label": datasets.Value("int64")}),
    )


@settings(max_examples=60, deadline=None)
@given(a=_rows, b=_rows, chunk=st.integers(1, 4))
def test_fingerprint_changes_iff_content_or_order_changes(a, b, chunk):
    fa = train_set_fingerprint(_dataset(a), {})
    fb = train_set_fingerprint(_dataset(b), {}, chunk_rows=chunk)  # chunking does not matter
    assert (fa.differences(fb) == []) == (a == b)
    assert fa.digest == fb.digest if a == b else fa.digest != fb.digest
    # the same rows through an index mapping (select) hash like the materialised ones
    order = list(range(len(a)))[::-1]
    assert train_set_fingerprint(_dataset(a).select(order), {}).differences(
        train_set_fingerprint(_dataset([a[i] for i in order]), {})) == []
    # a list of dicts (a plain map-style dataset) is told apart the same way
    la = train_set_fingerprint([{"input_ids": ids, "label": y} for ids, y in a], {})
    lb = train_set_fingerprint([{"input_ids": ids, "label": y} for ids, y in b], {})
    assert (la.differences(lb) == []) == (a == b)
