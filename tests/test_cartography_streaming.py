"""CartographyCallback on iterable (streaming) train datasets keyed by an id column: the same map as the map-style run
of the same examples in the same order, local streaming files, the record shards on disk, and the errors raised
before any step (or at the end of the epoch that shows them)."""

import json
import math

import datasets
import numpy as np
import pytest
import torch
from cartography_helpers import CountSteps, tiny_dataset, tiny_model, tiny_token_dataset, tiny_token_model
from transformers import Trainer, TrainingArguments

from hf_notlike.cartography import CartographyCallback
from hf_notlike.cartography.records import epoch_dir, record_files

N, BATCH, EPOCHS = 18, 4, 3  # 5 steps per pass, the last batch short


def _args(folder, **overrides):
    options = dict(output_dir=str(folder), per_device_train_batch_size=BATCH, learning_rate=2e-2, report_to=[],
                   disable_tqdm=True, logging_strategy="no", save_strategy="no", use_cpu=True, seed=7,
                   dataloader_num_workers=0)
    options.update(overrides)
    return TrainingArguments(**options)


def _run(folder, dataset, callback, model=None, **overrides):
    steps = CountSteps()
    trainer = Trainer(model=model if model is not None else tiny_model(), args=_args(folder, **overrides),
                      train_dataset=dataset, callbacks=[callback, steps])
    trainer.train()
    return trainer, steps


def _map_style(folder, dataset, model=None, **callback_options):
    """The reference: the map-style dataset read in order (sequential sampler), keyed by the same id column."""
    callback = CartographyCallback(id_column="uid", **callback_options)
    _run(folder, dataset, callback, model=model, num_train_epochs=EPOCHS, train_sampling_strategy="sequential")
    return callback.data_map(dataset)


def _streamed(folder, stream, model=None, **callback_options):
    callback = CartographyCallback(id_column="uid", **callback_options)
    _run(folder, stream, callback, model=model, max_steps=EPOCHS * math.ceil(N / BATCH))
    return callback


def _assert_same_map(streamed, reference):
    assert streamed.ids.tolist() == reference.ids.tolist()
    assert streamed.id_column == "uid" and streamed.num_epochs == EPOCHS
    np.testing.assert_allclose(streamed.gold_probs, reference.gold_probs, atol=1e-6)
    np.testing.assert_array_equal(streamed.correct, reference.correct)
    np.testing.assert_allclose(streamed.margins, reference.margins, atol=1e-5)
    assert streamed.labels.tolist() == reference.labels.tolist()
    assert np.abs(reference.gold_probs[:, -1] - reference.gold_probs[:, 0]).max() > 1e-3  # it trained


@pytest.mark.parametrize("kind", ["string", "int"])
def test_iterable_dataset_gives_the_map_of_the_map_style_run(tmp_path, kind):
    dataset = tiny_dataset(N)
    if kind == "int":
        dataset = dataset.remove_columns("uid").add_column("uid", [1000 + 7 * i for i in range(N)])
    reference = _map_style(tmp_path / "map", dataset)
    callback = _streamed(tmp_path / "stream", dataset.to_iterable_dataset())  # one shard: the order of the map-style run
    assert callback.epoch_log == [{"records": N, "examples": N}] * EPOCHS
    data_map = callback.data_map()
    _assert_same_map(data_map, reference)
    assert data_map.ids.dtype.kind == ("U" if kind == "string" else "i")
    # the records are Parquet shards, one per epoch and process
    for epoch in range(EPOCHS):
        assert [rank for _, rank in record_files(epoch_dir(callback.records_dir, epoch))] == [0]
    assert callback.records_dir.startswith(str(tmp_path / "stream" / "cartography_records"))


def test_streaming_json_files(tmp_path):
    dataset = tiny_dataset(N)
    files = []
    for part in range(2):  # two local files, streamed one after the other
        path = tmp_path / f"part-{part}.jsonl"
        rows = dataset.select(range(part * N // 2, (part + 1) * N // 2))
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        files.append(str(path))
    stream = datasets.load_dataset("json", data_files=files, streaming=True, split="train")
    assert isinstance(stream, datasets.IterableDataset)
    reference = _map_style(tmp_path / "map", dataset)
    callback = _streamed(tmp_path / "stream", stream, records_dir=str(tmp_path / "records"))
    _assert_same_map(callback.data_map(), reference)
    assert callback.records_dir.startswith(str(tmp_path / "records" / "run-"))


def test_token_classification_stream_keeps_the_token_table(tmp_path):
    dataset = tiny_token_dataset(N)
    reference = _map_style(tmp_path / "map", dataset, model=tiny_token_model())
    data_map = _streamed(tmp_path / "stream", dataset.to_iterable_dataset(), model=tiny_token_model()).data_map()
    np.testing.assert_allclose(data_map.gold_probs, reference.gold_probs, atol=1e-6)
    table, expected = data_map.token_table(), reference.token_table()
    assert table["id"].tolist() == expected["id"].tolist()
    assert table["position"].tolist() == expected["position"].tolist()
    np.testing.assert_allclose(np.stack(table["gold_prob"]), np.stack(expected["gold_prob"]), atol=1e-6)


class _Rows(torch.utils.data.IterableDataset):
    """A plain torch iterable dataset of dicts."""

    def __init__(self, rows):
        self.rows = rows

    def __iter__(self):
        yield from self.rows


def test_plain_torch_iterable_and_a_stopped_last_pass(tmp_path):
    rows = list(tiny_dataset(N).remove_columns("text"))
    callback = CartographyCallback(id_column="uid")
    steps_per_pass = math.ceil(N / BATCH)
    _run(tmp_path, _Rows(rows), callback, max_steps=2 * steps_per_pass + 2)  # the third pass stops after 2 steps
    assert [e["examples"] for e in callback.epoch_log] == [N, N, 2 * BATCH]
    with pytest.warns(UserWarning, match="1 incomplete epoch"):
        data_map = callback.data_map()
    assert data_map.num_epochs == 2 and data_map.ids.tolist() == [row["uid"] for row in rows]
    with pytest.warns(UserWarning, match="missed by an incomplete epoch"):
        partial = callback.data_map(include_incomplete=True)
    assert partial.num_examples == 2 * BATCH and partial.num_epochs == 3


# ------------------------------------------------------------------------------------------------------ errors
def _refused(tmp_path, dataset, callback, match, model=None, **overrides):
    steps = CountSteps()
    trainer = Trainer(model=model if model is not None else tiny_model(),
                      args=_args(tmp_path, max_steps=4, **overrides), train_dataset=dataset,
                      callbacks=[callback, steps])
    with pytest.raises(ValueError, match=match):
        trainer.train()
    assert steps.steps == 0


def test_iterable_without_id_column_is_refused_before_any_step(tmp_path):
    _refused(tmp_path, tiny_dataset(N).to_iterable_dataset(), CartographyCallback(),
             r"iterable train dataset .*`CartographyCallback\(id_column=\.\.\.\)`")


def test_missing_id_column_is_refused_before_any_step(tmp_path):
    stream = tiny_dataset(N).remove_columns("uid").to_iterable_dataset()
    _refused(tmp_path, stream, CartographyCallback(id_column="uid"), r"`id_column='uid'` is not a column")
    # a dataset that does not say its columns: refused at the first batch, before its forward
    rows = list(tiny_dataset(N).remove_columns(["uid", "text"]))
    _refused(tmp_path, _Rows(rows), CartographyCallback(id_column="uid"), r"has no 'uid'.*add a column")


def test_bad_id_values_are_refused(tmp_path):
    rows = [dict(row, uid=float(i) + 0.5) for i, row in enumerate(tiny_dataset(N).remove_columns(["uid", "text"]))]
    _refused(tmp_path, _Rows(rows), CartographyCallback(id_column="uid"), "must be integers or strings")


def test_duplicate_ids_in_one_pass_are_refused(tmp_path):
    rows = [dict(row, uid=i % 10) for i, row in enumerate(tiny_dataset(N).remove_columns(["uid", "text"]))]
    callback = CartographyCallback(id_column="uid")
    trainer = Trainer(model=tiny_model(), args=_args(tmp_path, max_steps=12), train_dataset=_Rows(rows),
                      callbacks=[callback])
    with pytest.raises(ValueError, match=r"8 repeated `uid` values \(e\.g\. \[0, 1, 2, 3, 4\]\).*its own id"):
        trainer.train()


def test_rescore_and_resume_are_refused_for_iterable_datasets(tmp_path):
    stream = tiny_dataset(N).to_iterable_dataset()
    _refused(tmp_path / "a", stream, CartographyCallback(id_column="uid", mode="rescore"), "mode='rescore'")
    # a checkpointed run on a stream, then a resume: refused (the Trainer cannot place the checkpoint in the stream)
    _run(tmp_path / "b", stream, CartographyCallback(id_column="uid"), max_steps=6, save_strategy="steps",
         save_steps=3)
    steps = CountSteps()
    trainer = Trainer(model=tiny_model(), args=_args(tmp_path / "b", max_steps=6), train_dataset=stream,
                      callbacks=[CartographyCallback(id_column="uid"), steps])
    with pytest.raises(ValueError, match="cannot resume a run on an iterable train dataset"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-3"))
    assert steps.steps == 0


def test_trl_packing_is_refused_naming_the_fix(tmp_path, bert_tokenizer):
    trl = pytest.importorskip("trl", reason="TRL (PyPI `trl`) is not installed")
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = bert_tokenizer
    tokenizer.eos_token = tokenizer.sep_token
    texts = [f"example number {i} is a short text" for i in range(8)]
    dataset = datasets.Dataset.from_dict({"text": texts})
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=64))
    args = trl.SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=2, report_to=[],
                         use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True, max_length=32,
                         packing=True)
    steps = CountSteps()
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=[CartographyCallback(), steps])
    with pytest.raises(ValueError, match=r"packing=True.*Set `packing=False`"):
        trainer.train()
    assert steps.steps == 0
