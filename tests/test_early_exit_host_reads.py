# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Host reads (device synchronisations on an accelerator) of the early-exit forward pass, counted on the CPU.

A `TorchFunctionMode` counts every call that reads a tensor's values back to Python (`item`, `tolist`, `bool()`,
`int()`, `nonzero`, `cpu`, boolean-mask indexing, ...). The model's `_reads_are_free` is patched to say "no", so
that CPU tensors take the path accelerator tensors take."""

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from torch.overrides import TorchFunctionMode
from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

from hf_notlike.early_exit import modeling
from hf_notlike.early_exit.configuration import EarlyExitBertConfig
from hf_notlike.early_exit.modeling import EarlyExitBertForSequenceClassification
from hf_notlike.early_exit.training import EarlyExitTrainer

T = torch.Tensor
_READS = {
    T.item, T.tolist, T.__bool__, T.__int__, T.__float__, T.__index__, T.__complex__, T.nonzero, torch.nonzero,
    T.cpu, T.numpy, T.is_nonzero, torch.is_nonzero, torch.equal, torch.allclose, T.allclose, torch.masked_select,
    T.masked_select, torch.unique, T.unique,
}


def _bool_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in items)


class HostReads(TorchFunctionMode):
    """Counts the calls that read tensor values back to the host (a synchronisation on an accelerator)."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _READS or (func in (T.__getitem__, T.__setitem__) and len(args) > 1 and _bool_index(args[1])):
            self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


SIZES = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
             num_labels=3, max_position_embeddings=64)


@pytest.fixture
def device_path(monkeypatch):
    """CPU tensors are treated as accelerator tensors by the input checks."""
    monkeypatch.setattr(modeling, "_reads_are_free", lambda tensor: False)


def _batch(labels: bool = True) -> dict:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 100, (8, 12), generator=generator)
    mask = torch.ones(8, 12, dtype=torch.long)
    mask[2, 9:] = 0
    mask[5, 4:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    if labels:
        batch["labels"] = torch.randint(0, 3, (8,), generator=generator)
    return batch


def _count(model, batch: dict, training: bool, **kwargs) -> list[str]:
    model.train(training)
    with torch.set_grad_enabled(training):
        model(**batch, **kwargs)  # warm-up: one-off reads (the layout check on the first pass)
        counter = HostReads()
        with counter:
            model(**batch, **kwargs)
    return counter.calls


def _models(**config):
    torch.manual_seed(0)
    stock = BertForSequenceClassification(BertConfig(**SIZES))
    early = EarlyExitBertForSequenceClassification(EarlyExitBertConfig(**SIZES, **config))
    return stock, early


def test_counter_counts_reads():
    counter = HostReads()
    x = torch.arange(4)
    with counter:
        bool((x > 1).any()), x.tolist(), int(x[0]), x[x > 1]
    assert len(counter.calls) == 4


@pytest.mark.parametrize("config", [{}, {"distillation_weight": 0.5}, {"exit_input": "cls", "exit_layers": [1]}])
def test_training_forward_reads_no_more_than_stock(device_path, config):
    stock, early = _models(**config)
    stock_reads, early_reads = _count(stock, _batch(), True), _count(early, _batch(), True)
    assert len(early_reads) <= len(stock_reads), (early_reads, stock_reads)


@pytest.mark.parametrize("threshold", [1.0, [1.0, 1.0]])
def test_eval_forward_at_threshold_one_reads_at_most_one_more(device_path, threshold):
    stock, early = _models()
    batch = _batch(labels=False)
    stock_reads = _count(stock, batch, False)
    early_reads = _count(early, batch, False, exit_threshold=threshold)
    assert len(early_reads) <= len(stock_reads) + 1, (early_reads, stock_reads)
    with_labels = _count(early, _batch(), False, exit_threshold=threshold)  # the all-exits path, with a loss
    assert len(with_labels) <= len(_count(stock, _batch(), False)) + 1, with_labels


@pytest.mark.parametrize(("mode", "training", "extra"), [
    ("always", True, 1), ("always", False, 1), ("cpu", True, 0), ("cpu", False, 0), ("never", False, 0),
    ("auto", False, 1),
])
def test_modes_on_accelerator_tensors(device_path, mode, training, extra):
    stock, early = _models(check_inputs=mode)
    batch = _batch()
    assert len(_count(early, batch, training)) <= len(_count(stock, batch, training)) + extra


def test_cpu_tensors_are_checked_in_training_for_free():
    _, early = _models()
    bad = {**_batch(), "input_ids": torch.full((8, 12), 100)}
    early.train()
    with pytest.raises(ValueError, match=r"input_ids.*outside \[0, 100\)"):
        early(**bad)


def _hostile(name: str) -> dict:
    batch = _batch()
    if name == "input_ids":
        batch["input_ids"] = batch["input_ids"].clone()
        batch["input_ids"][3, 4] = -1
    elif name == "mask values":
        batch["attention_mask"] = batch["attention_mask"].clone()
        batch["attention_mask"][0, 0] = 2
    elif name == "left padding":
        batch["attention_mask"] = batch["attention_mask"].flip(1)
    elif name == "token_type_ids":
        batch["token_type_ids"] = torch.full_like(batch["token_type_ids"], 2)
    elif name == "position_ids":
        batch["position_ids"] = torch.arange(12)[None] + 60
    elif name == "labels":
        batch["labels"] = torch.tensor([0, 1, 2, 3, 0, 1, -5, 2])
    return batch


MESSAGES = {
    "input_ids": r"`input_ids` holds ids outside \[0, 100\).*min -1",
    "mask values": r"`attention_mask` must hold only 0",
    "left padding": r"left padding.*pad on the right",
    "token_type_ids": r"`token_type_ids` must lie in \[0, 2\)",
    "position_ids": r"`position_ids` must lie in \[0, 64\)",
    "labels": r"`labels` must be class indices in \[0, 3\).*\[-5, 3\]",
}


@pytest.mark.parametrize("name", list(MESSAGES))
@pytest.mark.parametrize("mode", ["auto", "always"])
def test_fused_check_names_the_failing_input(device_path, name, mode):
    _, early = _models(check_inputs=mode)
    early.eval()
    with pytest.raises(ValueError, match=MESSAGES[name]):
        early(**_hostile(name))
    if mode == "always":
        early.train()
        with pytest.raises(ValueError, match=MESSAGES[name]):
            early(**_hostile(name))


@pytest.mark.parametrize("name", list(MESSAGES))
def test_check_batch(name):
    _, early = _models()
    early.check_batch(_batch())
    with pytest.raises(ValueError, match=MESSAGES[name]):
        early.check_batch(_hostile(name))


def test_check_inputs_is_validated_and_saved(tmp_path):
    with pytest.raises(StrictDataclassClassValidationError, match="check_inputs"):
        EarlyExitBertConfig(**SIZES, check_inputs="sometimes")
    config = EarlyExitBertConfig(**SIZES, check_inputs="always")
    config.save_pretrained(tmp_path)
    assert EarlyExitBertConfig.from_pretrained(tmp_path).check_inputs == "always"
    _, early = _models()
    early.config.check_inputs = "off"
    with pytest.raises(ValueError, match="check_inputs"):
        early(**_batch())


class _Rows(torch.utils.data.Dataset):
    def __init__(self, batch: dict):
        self.batch = batch

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return {k: v[i] for k, v in self.batch.items()}


def test_trainer_checks_batches_on_the_cpu(device_path, tmp_path):
    """With accelerator tensors `forward` skips value checks in training; the Trainer's collator checks instead."""
    _, early = _models()
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=1, use_cpu=True,
                             report_to=[], save_strategy="no", logging_strategy="no")
    trainer = EarlyExitTrainer(model=early, args=args, train_dataset=_Rows(_batch()), check_exits=False)
    trainer.train()  # clean batches pass
    bad = EarlyExitTrainer(model=early, args=args, train_dataset=_Rows(_hostile("left padding")), check_exits=False)
    with pytest.raises(ValueError, match=MESSAGES["left padding"]):
        bad.train()
