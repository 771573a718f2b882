"""The record shards of CartographyCallback: the bounded-memory merge keeps the same first occurrence (earliest step,
lowest rank) as the in-memory merge, whatever the ids (row indices, ints, strings), the batch size read at a time and
the way records are split into files; damaged shards are named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_notlike.cartography import records as records_module
from hf_notlike.cartography.callback import merge_epoch_records
from hf_notlike.cartography.records import (
    build_map_columns,
    epoch_dir,
    merge_epoch,
    shard_name,
    summarize_epoch,
    write_shard,
)


def _write(folder, rank, segment, ids, steps, rng, n):
    rows = len(ids)
    columns = {"id": ids, "step": np.asarray(steps, np.int64), "prob": rng.random(rows).astype(np.float32),
               "correct": (rng.random(rows) > 0.5).astype(np.float32),
               "margin": rng.standard_normal(rows).astype(np.float32), "label": rng.integers(0, 3, rows)}
    write_shard(folder / shard_name(segment, rank), columns, rank=rank, world_size=3, num_examples=n)
    return columns


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 12), ranks=st.integers(1, 3), extra=st.integers(0, 6), batch=st.integers(1, 5),
       seed=st.integers(0, 10**6), kind=st.sampled_from(["rows", "ints", "strings"]))
def test_merge_matches_the_in_memory_merge(tmp_path_factory, n, ranks, extra, batch, seed, kind):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records_module, "_BATCH_ROWS", batch)  # several record batches per file
        _check_merge(tmp_path_factory, n, ranks, extra, seed, kind)


def _check_merge(tmp_path_factory, n, ranks, extra, seed, kind):
    folder = tmp_path_factory.mktemp("epoch")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n), rng.integers(0, n, extra)])  # every example, plus repeats
    everything = {"ids": [], "steps": [], "ranks": [], "probs": [], "correct": [], "margins": [], "labels": []}
    for rank in range(ranks):
        mine = order[rank::ranks]
        steps = np.sort(rng.integers(0, 4, len(mine)))
        half = len(mine) // 2  # two segments (before / after a resume), one file each
        for segment, part in ((0, slice(0, half)), (7, slice(half, None))):
            columns = _write(folder, rank, segment, mine[part].astype(np.int64), steps[part], rng, n)
            for key, name in (("ids", "id"), ("steps", "step"), ("probs", "prob"), ("correct", "correct"),
                              ("margins", "margin"), ("labels", "label")):
                everything[key].append(np.asarray(columns[name]))
            everything["ranks"].append(np.full(len(columns["id"]), rank))
    flat = {key: np.concatenate(value) for key, value in everything.items()}
    expected = merge_epoch_records(flat, n)
    if kind == "rows":
        merged = merge_epoch(folder, n)
        names = np.arange(n)
    else:  # the same records keyed by other ids: rewrite the files with mapped ids
        names = np.asarray([f"id-{i * 7 % 13}-{i}" for i in range(n)]) if kind == "strings" else \
            np.arange(n, dtype=np.int64) * -3 + 5
        for path in folder.iterdir():
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            mapped = {c: table[c].to_numpy() for c in table.column_names}
            mapped["id"] = names[mapped["id"]]
            rank = int(path.name.split(".rank-")[1][:5])
            write_shard(path, mapped, rank=rank, world_size=3, num_examples=None)
        merged = merge_epoch(folder, None)
    assert merged.records == len(order)
    position = np.argsort(names, kind="stable")  # merged ids are sorted
    assert merged.ids.tolist() == names[position].tolist()
    np.testing.assert_array_equal(merged.probs, expected["probs"][position])
    np.testing.assert_array_equal(merged.margins, expected["margins"][position])
    np.testing.assert_array_equal(merged.labels, expected["labels"][position])
    summary = summarize_epoch(folder, n if kind == "rows" else None)
    assert (summary.records, summary.examples) == (len(order), n)


def test_map_columns_keep_rows_seen_in_every_epoch(tmp_path):
    rng = np.random.default_rng(0)
    _write(epoch_dir(tmp_path, 0), 0, 0, np.arange(6), np.arange(6), rng, 6)
    _write(epoch_dir(tmp_path, 1), 0, 0, np.asarray([5, 1, 3]), np.arange(3), rng, 6)
    columns = build_map_columns(tmp_path, [0, 1], num_examples=6, label_epoch=0)
    assert columns.rows.tolist() == [1, 3, 5] and columns.probs.shape == (3, 2)
    assert np.isfinite(columns.probs).all() and columns.labels.shape == (3,)
    keyed = build_map_columns(tmp_path, [1, 0], num_examples=None)  # ids: order first seen in epoch 1
    assert keyed.rows.tolist() == [5, 1, 3]
    np.testing.assert_array_equal(keyed.probs[:, [1, 0]], columns.probs[[2, 0, 1]])


def test_damaged_and_foreign_shards_are_named(tmp_path):
    folder = epoch_dir(tmp_path, 0)
    _write(folder, 0, 0, np.arange(4), np.zeros(4), np.random.default_rng(0), 4)
    with pytest.raises(ValueError, match=r"ids outside \[0, 3\)"):
        merge_epoch(folder, 3)
    path = folder / shard_name(0, 0)
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(ValueError, match=f"{path.name}.*damaged"):
        merge_epoch(folder, 4)


def test_small_pieces_and_a_resume_give_the_uninterrupted_map(tmp_path, monkeypatch):
    """Every process writes its records in pieces (here every 3 rows instead of 2**20), checkpoints link the pieces
    written so far, and a resumed run continues them: the map equals the uninterrupted one, with default pieces."""
    from cartography_helpers import (
        StopAt,
        tiny_dataset,
        tiny_model,
        tiny_token_dataset,
        tiny_token_model,
        train,
        training_args,
    )
    from transformers import Trainer

    from hf_notlike.cartography import CartographyCallback
    from hf_notlike.cartography import callback as callback_module
    from hf_notlike.cartography.records import record_files

    options = dict(num_train_epochs=3, learning_rate=2e-2, save_strategy="steps", save_steps=6)  # 4 steps per epoch
    for dataset, make_model in ((tiny_dataset(16), tiny_model), (tiny_token_dataset(16), tiny_token_model)):
        name = "tokens" if "labels" in dataset.column_names else "sequence"
        full, _ = train(str(tmp_path / name / "full"), dataset, model=make_model(), **options)
        with monkeypatch.context() as patch:
            patch.setattr(callback_module, "_FLUSH_ROWS", 3)
            stopped = CartographyCallback()
            Trainer(model=make_model(), args=training_args(str(tmp_path / name / "run"), **options),
                    train_dataset=dataset, callbacks=[stopped, StopAt(10)]).train()  # past the checkpoint at 6
            assert len(record_files(epoch_dir(stopped.records_dir, 0))) > 2  # several pieces per epoch
            resumed, _ = train(str(tmp_path / name / "run"), dataset, model=make_model(),
                               resume_from_checkpoint=str(tmp_path / name / "run" / "checkpoint-6"), **options)
        assert resumed.records_dir == stopped.records_dir  # the same run, continued in its folder
        expected, actual = full.data_map(), resumed.data_map()
        np.testing.assert_array_equal(actual.gold_probs, expected.gold_probs)
        np.testing.assert_array_equal(actual.correct, expected.correct)
        if name == "tokens":
            table, reference = actual.token_table(), expected.token_table()
            assert table["id"].tolist() == reference["id"].tolist()
            np.testing.assert_array_equal(np.stack(table["gold_prob"]), np.stack(reference["gold_prob"]))


def test_deleted_records_folder_is_named_with_the_fix(tmp_path):
    """Records live under `output_dir` by default: a map built after that folder is gone (a temporary `output_dir`)
    names the missing epochs, the folder and the fix, instead of an empty or partial map."""
    import shutil

    from cartography_helpers import tiny_dataset, train

    callback, _ = train(str(tmp_path / "out"), tiny_dataset(n=12), num_train_epochs=2)
    shutil.rmtree(callback.records_dir)
    with pytest.raises(ValueError, match=r"record shards of epoch\(s\) \[1, 2\] are missing from .*records_dir="):
        callback.data_map()
