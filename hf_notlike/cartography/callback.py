# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`CartographyCallback`: record training dynamics (Swayamdipta et al., EMNLP 2020) with a stock `Trainer`.

How per-example statistics reach a callback that never sees batches or logits:

1. **Example ids.** At `on_train_begin` the callback wraps the Trainer's *train* dataloader (only that one): its
   dataset is wrapped so each item carries its row index, and its `collate_fn` is wrapped so the user's collator sees
   the untouched examples and the batch gets one extra tensor, `batch["cartography_id"]`. This happens after
   `remove_unused_columns` has filtered the dataset and it rides along whatever the sampler does (shuffling,
   `DistributedSampler`/accelerate sharding, `skip_first_batches` on resume), so ids stay right.
   An *iterable* train dataset (`datasets.IterableDataset`, streaming or `Dataset.to_iterable_dataset()`, or a
   `torch.utils.data.IterableDataset` of dicts) has no row index: it needs `id_column=`, whose value (an int or a
   string) is read from each example as it leaves the dataset, before any collator (so `remove_unused_columns`,
   which for iterable datasets drops columns at collation, does not lose it). String ids ride in the batch as their
   UTF-8 bytes (`uint8 [batch, bytes]`), so accelerate's batch dispatching and slicing carry them like any input.
   Epochs are the Trainer's (`on_epoch_end`; iterable datasets need `max_steps`), not `len()`: a pass ends when the
   stream runs out. A pass cut by the end of training counts as complete only if it saw as many examples as a pass
   that ran out.
2. **Statistics.** A forward pre-hook on the model pops `cartography_id` from the call (the model never sees it)
   and keeps the gold labels; a forward hook reads the logits and stores the gold-label probability, whether the
   argmax is right, the margin (gold logit minus the largest other logit, for the AUM of Pleiss et al., 2020) and the
   gold label, on device, without a host sync. Each micro-batch of gradient accumulation is one forward, so
   accumulation needs nothing special; logits are upcast to float32 (mixed precision).
3. **Records on disk.** Each process writes its own records of the epoch to Parquet shards,
   `<records_dir>/run-<token>/epoch-00001/seg-00000000-00000.rank-00000.parquet` (plus `*.units.parquet` for
   per-token / per-label records), atomically: a piece whenever its buffer reaches 2**20 rows, at each checkpoint and
   at the epoch end, so its memory does not grow with the epoch. `records_dir` defaults to
   `<output_dir>/cartography_records` and must be visible to every process (one file system). No process receives the others' records: one barrier waits until every shard
   is written, then each process counts the epoch's examples from the `id` columns (`records.py`). Examples missing
   from an epoch (training stopped mid-epoch) make that epoch incomplete; [`CartographyCallback.data_map`] uses
   complete epochs only.
4. **The map.** [`CartographyCallback.data_map`] merges the shards one epoch at a time: each example id keeps its
   first occurrence (earliest micro-step, then lowest rank; distributed samplers and accelerate's even batches pad the
   last global batch with repeated examples), read in record batches of 2**20 rows straight into the map's column
   (`records.merge_epoch`, `records.build_map_columns`). Memory is the map plus one epoch's merge, never every
   process's records of every epoch (`examples/bench_cartography_scale.py`: 10M examples x 3 epochs x 2 ranks).
5. **Checkpoints.** `on_save` has each process write its buffered records and hard-link the pieces of the current
   epoch so far into `epoch-XXXXX/partial-<step>/` (a barrier), and writes `cartography_state.safetensors` into the checkpoint folder:
   the records folder, the finished epochs' counts and the partial folder's name (the records stay in the shards). A
   run resumed with `trainer.train(resume_from_checkpoint=...)` reloads it, puts the checkpoint's shards back in
   place (hard links; the shards an interrupted run wrote after the checkpoint are removed) and continues the epoch,
   so the resumed map equals the uninterrupted one. The file is looked up in `args.output_dir/checkpoint-<step>`
   and `args.resume_from_checkpoint`; for a checkpoint elsewhere pass `CartographyCallback(resume_from_checkpoint=)`.
   The state also holds a fingerprint of the train set (a hash of each row's inputs and labels, in order) and of the
   options that shape the map (`fingerprint.py`): a resume on reshuffled, relabelled or other examples, or with other
   options, is refused at `on_train_begin` with an error saying what changed, instead of mixing two sets of examples.
   A run on an iterable dataset cannot resume (the Trainer restarts the stream and cannot place the checkpoint in
   it): that is refused at `on_train_begin`.

`mode="rescore"` instead re-scores the whole train set in eval mode (no dropout) at each epoch end: one extra
inference pass per epoch, and the statistics of the model *after* the epoch rather than during it.

Tasks (`task=`, read from the model by default): single-label classification and multiple choice (softmax probability
of the gold label), multi-label classification (mean sigmoid probability of the gold values, plus the per-(example,
label) matrix), token classification (mean gold-label probability over labelled tokens, plus a per-token table) and
causal-LM fine-tuning (geometric mean of the gold-token probabilities over the completion tokens, with the stock
`Trainer` or TRL's `SFTTrainer`, whose fused LM head returns per-token log-probabilities instead of logits). Other
models get one error at `Trainer` build / `on_train_begin`, before any step.

Requirements (checked, with an error naming the fix): gold labels in the batch under `labels`; a map-style train
dataset (with `__len__`), or an iterable one with `id_column=` (unique ids: repeats within one pass beyond the padding
of one global batch are refused at that epoch's end); `dataloader_drop_last=False` in the default mode; no TRL packing
(`SFTConfig(packing=True)` puts several examples in one sequence, refused before any step). What touches transformers' and
accelerate's internals lives in `_trainer_internals.py`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from transformers import TrainerCallback

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from ..logging import get_logger
from ._trainer_internals import iterating_loader, replace_dataset, run_marker, set_run_marker
from .datamap import DataMap
from .fingerprint import (
    LABEL_COLUMNS,
    TrainSetFingerprint,
    check_resume,
    map_options,
    read_fingerprint,
    train_set_fingerprint,
)
from .records import (
    RECORDS_DIR,
    build_map_columns,
    epoch_dir,
    link_or_copy,
    record_files,
    shard_name,
    shard_segment,
    summarize_epoch,
    write_shard,
)

__all__ = ["CartographyCallback", "CartographyConfig", "ID_KEY", "STATE_FILE", "merge_epoch_records"]

logger = get_logger(__name__)

ID_KEY = "cartography_id"
TASKS = ("auto", "classification", "multi_label", "token_classification", "causal_lm")
STATE_FILE = "cartography_state.safetensors"

_SUPPORTED = (
    "CartographyCallback supports single-label sequence classification and multiple choice (task='classification'), "
    "multi-label sequence classification (problem_type='multi_label_classification', task='multi_label'), token "
    "classification (task='token_classification') and causal language model fine-tuning (task='causal_lm', e.g. "
    "TRL's SFTTrainer)."
)
_NOT_MAPPABLE = re.compile(
    r"For(QuestionAnswering|MaskedLM|Seq2SeqLM|PreTraining|ConditionalGeneration|ImageSegmentation|"
    r"SemanticSegmentation|ObjectDetection|CTC|AudioFrameClassification|DepthEstimation|SpeechSeq2Seq|"
    r"ImageTextToText|Regression)"
)


def resolve_task(model: Any, task: str = "auto") -> str:
    """The task the callback records for `model`: `task` itself unless `"auto"`, else read from the model class name
    and `config.problem_type`. Raises one `ValueError` naming what is supported for a model it cannot map
    (regression, seq2seq, question answering, masked LM, an unknown head)."""
    if task != "auto":
        return task
    name = type(model).__name__
    config = getattr(model, "config", None)
    if name.endswith("ForSequenceClassification") or "ForSequenceClassification" in name:
        problem_type = getattr(config, "problem_type", None)
        if problem_type == "regression" or getattr(config, "num_labels", 2) == 1:
            raise HfNotlikeInputError(f"{_SUPPORTED} `{name}` is set up for regression (num_labels=1 or "
                             "problem_type='regression'), which has no gold-label probability.")
        return "multi_label" if problem_type == "multi_label_classification" else "classification"
    if "ForMultipleChoice" in name:
        return "classification"
    if "ForTokenClassification" in name:
        return "token_classification"
    if "ForCausalLM" in name:
        return "causal_lm"
    if _NOT_MAPPABLE.search(name):
        raise HfNotlikeInputError(f"{_SUPPORTED} `{name}` (seq2seq, question answering, masked LM, regression or another "
                         "head) is not supported.")
    raise HfNotlikeInputError(f"{_SUPPORTED} CartographyCallback cannot tell what `{name}` is trained for: pass "
                     "`CartographyCallback(task=...)` for a custom model with one of those output shapes.")


@dataclass
class CartographyConfig:
    """Options of [`CartographyCallback`] (the callback takes them as keyword arguments)."""

    mode: str = field(
        default="training",
        metadata={"help": "'training': statistics from the training forward pass (no extra pass, the paper's method); "
                  "'rescore': re-score the train set in eval mode at each epoch end."},
    )
    id_column: str | None = field(
        default=None,
        metadata={"help": "Dataset column holding stable example ids (ints or strings); None keys examples by their "
                  "row index. Required for an iterable (streaming) train dataset, whose map is keyed by these ids."},
    )
    records_dir: str | None = field(
        default=None,
        metadata={"help": "Folder for the per-epoch, per-process record shards (Parquet); default "
                  "`<output_dir>/cartography_records`. Each run writes to its own `run-<token>` subfolder; every "
                  "process must see it (a shared file system across nodes)."},
    )
    label_key: str = field(default="labels", metadata={"help": "Batch key of the gold labels."})
    resume_from_checkpoint: str | None = field(
        default=None,
        metadata={"help": "Checkpoint folder to reload the callback state from when it is not in "
                  "`args.output_dir/checkpoint-<step>` or `args.resume_from_checkpoint`."},
    )
    dataset_name: str | None = field(default=None, metadata={"help": "Dataset name stored in the map's metadata."})
    task: str = field(
        default="auto",
        metadata={"help": "What the model is trained for: 'auto' (from the model class and config), 'classification' "
                  "(single-label sequence classification or multiple choice), 'multi_label', "
                  "'token_classification' or 'causal_lm'."},
    )
    token_table: bool = field(
        default=False,
        metadata={"help": "For causal LMs, also keep per-token statistics (`DataMap.token_table()`); token "
                  "classification always keeps them."},
    )
    profile: bool = field(
        default=False,
        metadata={"help": "Measure the wall time spent in the callback's own code (see `profile_stats`); for "
                  "benchmarks."},
    )

    def __post_init__(self):
        if self.mode not in ("training", "rescore"):
            raise HfNotlikeInputError(f"`mode` must be 'training' or 'rescore'; got {self.mode!r}.")
        if self.task not in TASKS:
            raise HfNotlikeInputError(f"`task` must be one of {list(TASKS)}; got {self.task!r}.")
        if not isinstance(self.profile, bool) or not isinstance(self.token_table, bool):
            raise HfNotlikeInputError(f"`profile` and `token_table` must be True or False; got {self.profile!r}, "
                             f"{self.token_table!r}.")
        if self.id_column is not None and (not isinstance(self.id_column, str) or not self.id_column):
            raise HfNotlikeInputError(f"`id_column` must be a column name or None; got {self.id_column!r}.")
        if self.records_dir is not None and (not isinstance(self.records_dir, (str, os.PathLike))
                                             or not str(self.records_dir)):
            raise HfNotlikeInputError(f"`records_dir` must be a folder path or None; got {self.records_dir!r}.")
        if not isinstance(self.label_key, str) or not self.label_key:
            raise HfNotlikeInputError(f"`label_key` must be a non-empty string; got {self.label_key!r}.")


# ---------------------------------------------------------------------------------------------------- data wrapping
class _Tagged(NamedTuple):
    index: int
    example: Any


class _Profile:
    """Wall time spent in the callback's own code (`CartographyCallback(profile=True)`): calls wrapped with `own`
    add their duration (the outermost only), calls made from inside them that the stock Trainer makes anyway (the
    user's dataset and collator, wrapped with `foreign`) subtract theirs."""

    def __init__(self):
        self.seconds = 0.0
        self.calls = 0
        self._depth = 0

    def own(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1
                self._depth -= 1

        return wrapped

    def foreign(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            if not self._depth:
                return fn(*args, **kwargs)
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds -= time.perf_counter() - start

        return wrapped


class _IndexedDataset(torch.utils.data.Dataset):
    """Wraps a map-style dataset so each item is `(row_index, example)`."""

    def __init__(self, dataset, profile: _Profile | None = None):
        self.dataset = dataset
        self._profile = profile
        self._item = profile.own(self._tagged_item) if profile is not None else self._tagged_item
        self._items = profile.own(self._tagged_items) if profile is not None else self._tagged_items

    def __len__(self) -> int:
        return len(self.dataset)

    def _get(self, index):
        get = self.dataset.__getitem__
        return self._profile.foreign(get)(index) if self._profile is not None else get(index)

    def __getitem__(self, index):
        return self._item(index)

    def __getitems__(self, indices):
        return self._items(indices)

    def _tagged_item(self, index):
        return _Tagged(int(index), self._get(index))

    def _tagged_items(self, indices):
        getitems = getattr(self.dataset, "__getitems__", None)
        if getitems is not None and self._profile is not None:
            getitems = self._profile.foreign(getitems)
        examples = getitems(indices) if getitems is not None else [self._get(i) for i in indices]
        return [_Tagged(int(i), ex) for i, ex in zip(indices, examples)]

    def __getattr__(self, name):  # e.g. `set_epoch`, `column_names`
        if name.startswith("__") or name in ("dataset", "_profile", "_item", "_items"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _example_id(example: Any, id_column: str) -> int | str:
    """The id of one example of an iterable dataset, read from its `id_column` before any collator runs."""
    if not isinstance(example, dict) and not (hasattr(example, "keys") and hasattr(example, "__getitem__")):
        raise HfNotlikeInputError(
            f"CartographyCallback(id_column={id_column!r}) reads each example's id from the train dataset, but the "
            f"iterable dataset yields {type(example).__name__} items, not dicts: yield dicts holding {id_column!r}.")
    if id_column not in example.keys():
        raise HfNotlikeInputError(
            f"CartographyCallback(id_column={id_column!r}): an example of the iterable train dataset has no "
            f"{id_column!r} (it has {sorted(example.keys())}); add a column with a unique id per example (ints or "
            "strings, e.g. `dataset.map(lambda e, i: {'uid': i}, with_indices=True)` before streaming) or name the "
            "right one with `id_column=`.")
    value = example[id_column]
    if (torch.is_tensor(value) and value.numel() == 1) or isinstance(value, np.generic) or (
        isinstance(value, np.ndarray) and value.size == 1
    ):
        value = value.item()
    if isinstance(value, str) and "\x00" not in value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise HfNotlikeInputError(
        f"CartographyCallback(id_column={id_column!r}): example ids must be integers or strings (without NUL "
        f"characters); got {value!r} ({type(value).__name__}). Fix the column or name another with `id_column=`.")


class _IdIterable(torch.utils.data.IterableDataset):
    """Wraps an iterable dataset so each item is `(example id, example)`, the id read from `id_column`."""

    def __init__(self, dataset, id_column: str):
        self.dataset = dataset
        self.id_column = id_column

    def __iter__(self):
        column = self.id_column
        for example in self.dataset:
            yield _Tagged(_example_id(example, column), example)

    def __getattr__(self, name):  # e.g. `set_epoch`, `n_shards`, `column_names`
        if name.startswith("__") or name in ("dataset", "id_column"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _id_tensor(ids: list) -> torch.Tensor:
    """Example ids as a tensor that rides in the batch: int64 `[batch]`, or for strings their UTF-8 bytes, zero-padded,
    uint8 `[batch, max_bytes]` (sliced along the batch like every other input by accelerate)."""
    if all(isinstance(i, int) for i in ids):
        return torch.tensor(ids, dtype=torch.long)
    if all(isinstance(i, str) for i in ids):
        encoded = [i.encode("utf-8") for i in ids]
        width = max(1, max(len(e) for e in encoded))
        out = np.zeros((len(ids), width), dtype=np.uint8)
        for row, data in enumerate(encoded):
            out[row, : len(data)] = np.frombuffer(data, dtype=np.uint8)
        return torch.from_numpy(out)
    raise HfNotlikeInputError(f"CartographyCallback: example ids must be all integers or all strings; one batch mixes "
                              f"them ({ids[:5]}...). Fix the id column.")


def _decode_ids(tensor: torch.Tensor) -> np.ndarray:
    """The ids of [`_id_tensor`] back as numpy: int64, or unicode strings."""
    array = tensor.cpu().numpy()
    if array.ndim == 1:
        return array.astype(np.int64)
    return np.char.decode(np.ascontiguousarray(array).view(f"S{array.shape[1]}").reshape(-1), "utf-8")


class _LabelCheck:
    """Checks the gold labels of every collated batch on the host, before the batch reaches the model (no device
    sync), for the task: integer labels `[batch]` in [0, num_classes) for classification; 0/1 labels
    `[batch, num_labels]` for multi-label; integer labels `[batch, length]` in [0, num_classes) or -100 (ignored),
    with at least one scored token per example, for token tasks. Small and picklable (runs in dataloader workers)."""

    def __init__(self, label_key: str, num_classes: int | None, task: str = "classification",
                 id_kind: str = "row indices"):
        self.label_key = label_key
        self.num_classes = num_classes
        self.task = task
        self.id_kind = id_kind

    def _fail(self, indices, rows, message):
        named = [indices[i] for i in torch.nonzero(rows).flatten().tolist()[:5]]
        raise HfNotlikeInputError(f"CartographyCallback: train examples {named} ({self.id_kind}) {message}")

    def __call__(self, batch, indices: list[int]) -> None:
        labels = batch.get(self.label_key) if hasattr(batch, "get") else None
        if labels is None:
            raise HfNotlikeInputError(f"CartographyCallback found no gold labels in the batch under {self.label_key!r} "
                             f"(batch keys: {sorted(batch.keys())}); pass `label_key=` with the right key.")
        shape = tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__
        floating = torch.is_tensor(labels) and labels.is_floating_point()
        if self.task == "multi_label":
            if not torch.is_tensor(labels) or labels.ndim != 2 or (
                self.num_classes is not None and labels.shape[1] != self.num_classes
            ):
                raise HfNotlikeInputError(f"{_SUPPORTED} Multi-label needs labels of shape [batch, {self.num_classes}]; got "
                                 f"{shape}.")
            bad = ((labels != 0) & (labels != 1)).any(dim=1)
            if bool(bad.any()):
                self._fail(indices, bad, "have multi-label targets other than 0/1.")
            return
        expected_ndim = 1 if self.task == "classification" else 2
        if not torch.is_tensor(labels) or floating or labels.ndim != expected_ndim:
            raise HfNotlikeInputError(f"{_SUPPORTED} The {self.task} task needs integer labels of "
                             f"{'[batch]' if expected_ndim == 1 else '[batch, length]'}; got {shape}"
                             f"{' (floating point)' if floating else ''}.")
        num_classes = self.num_classes
        if self.task == "classification":
            if num_classes is None and torch.is_tensor(batch.get("input_ids")) and batch["input_ids"].ndim == 3:
                num_classes = batch["input_ids"].shape[1]  # multiple choice: one class per choice
            bad = labels < 0
            if num_classes is not None:
                bad |= labels >= num_classes
            if bool(bad.any()):
                values = labels[bad].tolist()[:5]
                self._fail(indices, bad, (
                    f"have gold labels {values}, outside [0, {num_classes if num_classes is not None else 'num_labels'}"
                    "): a data map needs a gold label for every example (a label of -100, ignored by the loss, has "
                    "no gold-label probability). Filter those examples out of the train set or fix their labels."))
            return
        scored = labels != -100
        bad = (labels < 0) & scored
        if num_classes is not None:
            bad |= labels >= num_classes
        if bool(bad.any()):
            self._fail(indices, bad.any(dim=1), f"have labels outside [0, {num_classes}) other than -100.")
        if self.task == "causal_lm":
            scored = scored[:, 1:]  # the loss predicts token t+1 from position t: the first label is never scored
        empty = ~scored.any(dim=1)
        if bool(empty.any()):
            self._fail(indices, empty, "have no scored token (every label is -100, e.g. a prompt truncated before "
                       "its completion): they get no statistics. Filter them out or raise the maximum length.")


class _IdCollator:
    """Calls the user's collator on the plain examples and adds the row indices as `batch["cartography_id"]`."""

    def __init__(self, collate_fn, check: _LabelCheck | None = None, profile: _Profile | None = None):
        self.collate_fn = collate_fn
        self.check = check
        self._user = profile.foreign(collate_fn) if profile is not None else collate_fn
        self._call = profile.own(self._collate) if profile is not None else self._collate

    def __call__(self, items):
        return self._call(items)

    def _collate(self, items):
        if not items or not isinstance(items[0], _Tagged):
            return self._user(items)
        batch = self._user([item.example for item in items])
        if not hasattr(batch, "__setitem__") or not hasattr(batch, "keys"):
            raise HfNotlikeTypeError(
                f"CartographyCallback needs the data collator to return a dict of tensors; got {type(batch).__name__}."
            )
        indices = [item.index for item in items]
        if self.check is not None:
            self.check(batch, indices)
        batch[ID_KEY] = _id_tensor(indices)
        return batch


_STATE_FORMAT = "hf_notlike.cartography"
_STATE_VERSION = 3
_EPOCH_TENSORS = ("epoch_complete", "epoch_records", "epoch_examples")  # one value per finished epoch


def _read_state_metadata(path: str) -> dict[str, str]:
    """The metadata of a `cartography_state.safetensors`, checked: an error names the file and the field."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise HfNotlikeInputError(f"{path}: not a readable safetensors file ({error}); the checkpoint is damaged (truncated "
                         "copy?): resume from another checkpoint.") from None
    if metadata.get("format") != _STATE_FORMAT:
        raise HfNotlikeInputError(f"{path}: field 'format' is {metadata.get('format')!r}, not {_STATE_FORMAT!r}: not a "
                         "CartographyCallback state.")
    version = metadata.get("format_version")
    if version != str(_STATE_VERSION):
        raise HfNotlikeInputError(f"{path}: field 'format_version' is {version!r}; this hf_notlike reads version "
                         f"{_STATE_VERSION} (a checkpoint of another hf_notlike version: resume with that version or "
                         "start over).")
    for name in ("num_examples", "global_step", "epochs_done"):
        if not str(metadata.get(name, "")).isdigit():
            raise HfNotlikeInputError(f"{path}: field {name!r} must be a non-negative integer; got {metadata.get(name)!r}.")
    for name in ("records_dir", "partial"):
        if not metadata.get(name):
            raise HfNotlikeInputError(f"{path}: field {name!r} is missing or empty.")
    return metadata


def _read_state_tensors(path: str, epochs: int) -> dict[str, np.ndarray]:
    """The tensors of a `cartography_state.safetensors`, checked for presence, dtype and shape."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as error:
        raise HfNotlikeInputError(f"{path}: cannot read the tensors ({error}); the checkpoint is damaged (truncated copy?): "
                         "resume from another checkpoint.") from None
    for name in _EPOCH_TENSORS:
        if name not in tensors:
            raise HfNotlikeInputError(f"{path}: tensor {name!r} is missing.")
        array = tensors[name]
        kind = "b" if name == "epoch_complete" else "iu"
        if array.ndim != 1 or array.dtype.kind not in kind or len(array) != epochs:
            raise HfNotlikeInputError(f"{path}: tensor {name!r} has dtype {array.dtype} and shape {array.shape}; expected "
                             f"{'bool' if kind == 'b' else 'integer'} values, one per finished epoch ({epochs}).")
    return tensors


def _margin(logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """Gold logit minus the largest other logit (Pleiss et al., 2020), along the last dimension."""
    gold_logit = logits.gather(-1, gold.unsqueeze(-1)).squeeze(-1)
    other = logits.scatter(-1, gold.unsqueeze(-1), float("-inf")).amax(dim=-1)
    return gold_logit - other


def _classification(logits, labels, attention_mask):
    logits, labels = logits.float(), labels.long()
    gold = logits.log_softmax(dim=-1).gather(1, labels.view(-1, 1)).squeeze(1).exp()
    correct = (logits.argmax(dim=-1) == labels).float()
    return {"probs": gold, "correct": correct, "margins": _margin(logits, labels), "labels": labels}, None


def _multi_label(logits, labels, attention_mask):
    # per label: probability of the gold value (sigmoid), right at 0.5, margin = signed logit (the two-class margin)
    logits, target = logits.float(), labels.float() > 0.5
    prob = torch.sigmoid(logits)
    gold = torch.where(target, prob, 1 - prob)
    right = (logits > 0) == target
    margin = torch.where(target, logits, -logits)
    batch, num_labels = logits.shape
    example = {"probs": gold.mean(dim=1), "correct": right.all(dim=1).float(), "margins": margin.mean(dim=1),
               "labels": torch.full((batch,), -1, dtype=torch.long, device=logits.device)}
    units = {
        "row": torch.arange(batch, device=logits.device).repeat_interleave(num_labels),
        "index": torch.arange(num_labels, device=logits.device).repeat(batch),
        "label": target.long().reshape(-1), "position": torch.full((batch * num_labels,), -1, device=logits.device),
        "probs": gold.reshape(-1), "correct": right.reshape(-1).to(torch.uint8),
    }
    return example, units


def _token_level(logits, labels, attention_mask, causal: bool):
    if causal:  # position t predicts token t+1, as the loss shifts them
        logits, labels = logits[:, :-1], labels[:, 1:]
    scored = labels != -100
    rows, cols = torch.nonzero(scored, as_tuple=True)
    selected = logits[rows, cols].float()  # only the scored tokens: [num_tokens, classes]
    gold_label = labels[rows, cols].long()
    log_prob = selected.log_softmax(dim=-1).gather(1, gold_label.view(-1, 1)).squeeze(1)
    right = selected.argmax(dim=-1) == gold_label
    example, units = _per_token(rows, cols, scored, log_prob, right, _margin(selected, gold_label), attention_mask,
                                causal)
    units["label"] = gold_label
    return example, units


def _per_token(rows, cols, scored, log_prob, right, margin, attention_mask, causal):
    """Per-example aggregates and per-token records of the scored tokens (`rows`, `cols` index `scored`)."""
    batch = scored.shape[0]
    counts = scored.sum(dim=1).clamp(min=1).float()

    def per_example(values):
        return torch.zeros(batch, device=values.device).index_add_(0, rows, values.float()) / counts

    # causal LM: geometric mean of the gold-token probabilities; token classification: their arithmetic mean
    example = {
        "probs": per_example(log_prob).exp() if causal else per_example(log_prob.exp()),
        "correct": per_example(right),
        "margins": per_example(margin) if margin is not None else torch.full((batch,), float("nan"),
                                                                            device=log_prob.device),
        "labels": torch.full((batch,), -1, dtype=torch.long, device=log_prob.device),
    }
    rank = (scored.cumsum(dim=1) - 1)[rows, cols]
    if attention_mask is not None and tuple(attention_mask.shape) == (batch, scored.shape[1] + int(causal)):
        attended = attention_mask.long().cumsum(dim=1) - 1
        position = attended[:, 1:][rows, cols] if causal else attended[rows, cols]
    else:
        position = cols + int(causal)
    units = {"row": rows, "index": rank, "position": position, "probs": log_prob.exp(),
             "correct": right.to(torch.uint8)}
    return example, units


def _fused_causal(log_probs, is_top1, label_mask, attention_mask):
    """Causal-LM statistics from TRL's fused LM head output (no logits, so no margin)."""
    scored = label_mask.bool()
    rows, cols = torch.nonzero(scored, as_tuple=True)
    example, units = _per_token(rows, cols, scored, log_probs[rows, cols].float(), is_top1[rows, cols].bool(), None,
                                attention_mask, causal=True)
    units["label"] = torch.full_like(rows, -1)  # the fused head does not return the gold token ids
    return example, units


# buffer key, shard column, dtype
_RECORD_COLUMNS = (("ids", "id", np.int64), ("steps", "step", np.int64), ("probs", "prob", np.float32),
                   ("correct", "correct", np.float32), ("margins", "margin", np.float32), ("labels", "label", np.int64))
_UNIT_COLUMNS = (("ids", "id", np.int64), ("steps", "step", np.int64), ("index", "index", np.int64),
                 ("label", "label", np.int64), ("position", "position", np.int64), ("probs", "prob", np.float32),
                 ("correct", "correct", np.uint8))

_FLUSH_ROWS = 1 << 20  # buffered rows (records + units) that make a process write a shard piece

_STATISTICS = {
    "classification": _classification,
    "multi_label": _multi_label,
    "token_classification": lambda logits, labels, mask: _token_level(logits, labels, mask, causal=False),
    "causal_lm": lambda logits, labels, mask: _token_level(logits, labels, mask, causal=True),
}


def merge_epoch_records(records: dict[str, np.ndarray], num_examples: int) -> dict[str, np.ndarray]:
    """Merge one epoch of per-forward records (from every process) into one value per example.

    An example recorded more than once keeps its first occurrence: earliest `steps`, then lowest `ranks` (distributed
    samplers pad the last batch with the first examples of the epoch). Public so that benchmarks can time this step
    (`examples/bench_cartography.py`).

    Args:
        records (`dict[str, np.ndarray]`): Equal-length 1-D arrays: `ids` (row index of the example), `steps`
            (micro-step), `ranks` (process), and the recorded values (`probs`, `correct`, `margins`, `labels`, ...).
        num_examples (`int`): Size of the train set.

    Returns:
        `dict[str, np.ndarray]`: for each recorded value, an array of length `num_examples` (NaN / 0 / False for
        examples not seen), plus `seen` (bool) and the `kept_steps` / `kept_ranks` of the occurrence kept (-1).
    """
    ids = records["ids"]
    if len(ids) and (ids.min() < 0 or ids.max() >= num_examples):
        raise RuntimeError(f"CartographyCallback recorded example ids outside [0, {num_examples}); the train "
                           "dataloader was changed after training began.")
    order = np.lexsort((records["ranks"], records["steps"], ids))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ids[order][1:] != ids[order][:-1]
    keep = order[first]
    kept_ids = ids[keep]
    merged = {"seen": np.zeros(num_examples, dtype=bool), "kept_steps": np.full(num_examples, -1, np.int64),
              "kept_ranks": np.full(num_examples, -1, np.int64)}
    merged["seen"][kept_ids] = True
    merged["kept_steps"][kept_ids] = records["steps"][keep]
    merged["kept_ranks"][kept_ids] = records["ranks"][keep]
    for key, values in records.items():
        if key in ("ids", "steps", "ranks"):
            continue
        fill = np.nan if values.dtype.kind == "f" else 0
        out = np.full(num_examples, fill, dtype=values.dtype)
        out[kept_ids] = values[keep]
        merged[key] = out
    return merged


# ---------------------------------------------------------------------------------------------------- distributed
def _dist_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _collective_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _barrier() -> None:
    """Wait for every process (a no-op in one process): used where one process reads what the others wrote."""
    if _dist_world()[1] > 1:
        torch.distributed.barrier()


def _broadcast_token(token: str) -> str:
    """Rank 0's 32-hex-digit run token on every process (the records folder is named after it)."""
    if _dist_world()[1] == 1:
        return token
    data = torch.tensor(list(bytes.fromhex(token)), dtype=torch.uint8, device=_collective_device())
    torch.distributed.broadcast(data, src=0)
    return bytes(data.cpu().tolist()).hex()


# ---------------------------------------------------------------------------------------------------- the callback
class CartographyCallback(TrainerCallback):
    """Record per-example training dynamics with a stock [`~transformers.Trainer`] and build a [`DataMap`].

    Add it to any `Trainer` training a classification, multiple-choice, multi-label, token-classification or causal
    language model (also TRL's `SFTTrainer`); nothing else changes (keep
    `remove_unused_columns=True`, any collator, any sampler, DDP through `torchrun`/`accelerate`, gradient
    accumulation, fp16/bf16, checkpoints and `resume_from_checkpoint`). See the module docstring for how it works.

    Args:
        mode (`str`, *optional*, defaults to `"training"`):
            `"training"` takes the statistics from the training forward pass itself (the paper's method, no extra
            compute); `"rescore"` re-scores the train set in eval mode at each epoch end.
        id_column (`str`, *optional*):
            A train-set column with stable example ids (ints or strings); by default examples are keyed by row index.
            For a map-style dataset the column may be dropped by `remove_unused_columns`: pass the train dataset to
            [`data_map`] to attach its ids. An iterable (streaming) train dataset needs it: the ids are read from each
            example before the collator, and the map's rows are the ids seen.
        records_dir (`str`, *optional*):
            Folder for the per-epoch, per-process record shards (Parquet), default `<output_dir>/cartography_records`;
            each run writes to its own `run-<token>` subfolder, which every process must be able to read.
        label_key (`str`, *optional*, defaults to `"labels"`): Batch key of the gold labels.
        resume_from_checkpoint (`str`, *optional*):
            Where to reload the callback state from when resuming from a checkpoint outside `args.output_dir`.
        dataset_name (`str`, *optional*): Dataset name for the map's metadata.
        task (`str`, *optional*, defaults to `"auto"`):
            `"classification"`, `"multi_label"`, `"token_classification"` or `"causal_lm"`; `"auto"` reads it from the
            model class and `config.problem_type`. Pass it for a custom model whose class name does not say.
        token_table (`bool`, *optional*, defaults to `False`):
            For causal LMs, also keep per-token statistics ([`DataMap.token_table`]); token classification always
            keeps them, multi-label classification keeps the per-(example, label) matrix ([`DataMap.label_table`]).
        profile (`bool`, *optional*, defaults to `False`):
            Measure the wall time spent in the callback's own code, readable from [`profile_stats`] (benchmarks).

    One `train()` call is one data map: calling `trainer.train()` again (not a resume) starts a new map, with a warning
    that the epochs of the previous call are discarded; call [`data_map`] before training again to keep them.

    Example:

    ```python
    >>> from transformers import Trainer
    >>> from hf_notlike import CartographyCallback
    >>> cartography = CartographyCallback()
    >>> trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[cartography])  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
    >>> data_map = cartography.data_map(dataset=train)  # doctest: +SKIP
    >>> data_map.plot("data_map.png")  # doctest: +SKIP
    >>> ids, ambiguous = data_map.select("ambiguous", 0.33, dataset=train)  # doctest: +SKIP
    ```
    """

    def __init__(
        self,
        mode: str = "training",
        id_column: str | None = None,
        label_key: str = "labels",
        resume_from_checkpoint: str | None = None,
        dataset_name: str | None = None,
        task: str = "auto",
        token_table: bool = False,
        profile: bool = False,
        records_dir: str | None = None,
    ):
        self.config = CartographyConfig(
            mode=mode, id_column=id_column, label_key=label_key, resume_from_checkpoint=resume_from_checkpoint,
            dataset_name=dataset_name, task=task, token_table=token_table, profile=profile, records_dir=records_dir,
        )
        self._task = "classification" if task == "auto" else task
        self._record_units = False
        self._profile = _Profile() if profile else None
        if self._profile is not None:
            for name in ("on_init_end", "on_train_begin", "on_step_end", "on_epoch_begin", "on_epoch_end",
                         "on_train_end", "on_save", "_pre_forward", "_post_forward"):
                setattr(self, name, self._profile.own(getattr(self, name)))
        self._reset(num_examples=None)
        self._handles: list[Any] = []
        self._model_name: str | None = None
        self._dataset_name: str | None = dataset_name
        self._train_ids: np.ndarray | None = None
        self._run_token: str | None = None
        self._run_dir: str | None = None
        self._keyed = False
        self._fingerprint: TrainSetFingerprint | None = None

    # ------------------------------------------------------------------ state
    def _reset(self, num_examples: int | None) -> None:
        self.num_examples = num_examples  # None for an iterable dataset (keyed by its ids)
        # training FLOPs per example: the first micro-batch's forward, counted after its step (`_count_flops`)
        self.train_flops_per_example: float | None = None
        self._flop_sample: Any = None
        self._epochs: list[dict[str, Any]] = []  # per finished epoch: complete, records, examples (shards on disk)
        self._buffer: list[dict[str, torch.Tensor]] = []  # per forward: ids, probs, correct, margins, labels, steps
        self._unit_buffer: list[dict[str, torch.Tensor]] = []  # per forward: the per-label / per-token records
        self._micro_step = 0
        self._segment = 0  # optimizer step this process started recording at (names its shards)
        self._piece = 0  # files this process wrote in the current epoch
        self._buffered = 0  # rows in the buffers
        self._pending: tuple[torch.Tensor, torch.Tensor] | None = None
        self._checked = False

    @property
    def profile_stats(self) -> dict[str, float]:
        """With `profile=True`: `{"seconds": ..., "calls": ...}`, the wall time spent in the callback's own code
        (event handlers, forward hooks, the id-tagging dataset and collator wrappers), not counting the user's dataset
        and collator that a stock `Trainer` calls anyway. Collator time is only seen with
        `dataloader_num_workers=0` (workers run in other processes)."""
        if self._profile is None:
            raise HfNotlikeInputError("Profiling is off: create the callback with `CartographyCallback(profile=True)`.")
        return {"seconds": self._profile.seconds, "calls": self._profile.calls}

    @property
    def epochs_recorded(self) -> int:
        """Number of finished epochs recorded so far (complete or not)."""
        return len(self._epochs)

    @property
    def epoch_log(self) -> list[dict[str, int]]:
        """Per finished epoch: `records` (forwards recorded by every process, padding duplicates included) and
        `examples` (distinct examples)."""
        return [{"records": e["records"], "examples": e["examples"]} for e in self._epochs]

    @property
    def records_dir(self) -> str | None:
        """The folder holding this run's record shards (`.../run-<token>`), once training has begun."""
        return self._run_dir

    # ------------------------------------------------------------------ checks
    def on_init_end(self, args, state, control, model=None, **kwargs):
        if model is not None:
            resolve_task(model, self.config.task)

    # ------------------------------------------------------------------ training begins
    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        if model is None or train_dataloader is None:
            raise HfNotlikeInputError("CartographyCallback needs the Trainer's model and train dataloader (use a stock "
                             "`transformers.Trainer` with a `train_dataset`).")
        loader = iterating_loader(train_dataloader)
        dataset = loader.dataset
        if isinstance(dataset, _IndexedDataset | _IdIterable):  # a second `train()` on the same dataloader
            dataset = dataset.dataset
        keyed = isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__")
        if getattr(args, "packing", False):
            raise HfNotlikeInputError(
                "CartographyCallback cannot record a packed train set: `SFTConfig(packing=True)` concatenates several "
                "examples into one sequence, so a token's example (and a per-example statistic) cannot be recovered. "
                "Set `packing=False` in the SFTConfig.")
        if keyed:
            if self.config.id_column is None:
                raise HfNotlikeInputError(
                    f"CartographyCallback got an iterable train dataset ({type(dataset).__name__}, e.g. streaming or "
                    "`to_iterable_dataset()`), which has no row indices: pass `CartographyCallback(id_column=...)` "
                    "naming a column with a unique id per example (ints or strings), or train on a map-style "
                    "`datasets.Dataset`.")
            columns = getattr(dataset, "column_names", None)
            if columns and self.config.id_column not in columns:
                raise HfNotlikeInputError(
                    f"`id_column={self.config.id_column!r}` is not a column of the iterable train dataset (columns: "
                    f"{columns}): add a column with a unique id per example (ints or strings) or name the right one.")
            if self.config.mode == "rescore":
                raise HfNotlikeInputError("mode='rescore' re-reads the train set by row index, which an iterable "
                                          "dataset has not: use mode='training' (the default) or a map-style dataset.")
            if state.global_step > 0:
                raise HfNotlikeInputError(
                    "CartographyCallback cannot resume a run on an iterable train dataset: the Trainer restarts the "
                    "stream and cannot place the checkpoint inside a pass over the data, so the resumed epochs would "
                    "mix with the recorded ones. Train from the start (`resume_from_checkpoint=None`), or use a "
                    "map-style dataset (`datasets.Dataset`), whose runs resume.")
        if self.config.mode == "training" and args.dataloader_drop_last:
            raise HfNotlikeInputError("`dataloader_drop_last=True` drops examples from every epoch, so no epoch of the data "
                             "map would be complete: set `dataloader_drop_last=False` (or use mode='rescore').")
        self._label_key = self.config.label_key
        self._task = resolve_task(model, self.config.task)  # before any step: one error naming what is supported
        config = getattr(model, "config", None)
        num_classes = None
        if self._task == "causal_lm":
            num_classes = getattr(config, "vocab_size", None)
        elif "ForMultipleChoice" not in type(model).__name__:
            num_classes = getattr(config, "num_labels", None) if config is not None else None
        self._label_check = _LabelCheck(self._label_key, num_classes, self._task,
                                        id_kind=f"{self.config.id_column} values" if keyed else "row indices")
        self._record_units = self._task in ("multi_label", "token_classification") or (
            self._task == "causal_lm" and self.config.token_table)
        self._device = args.device
        self._model_name = getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__
        if self._dataset_name is None:
            info = getattr(dataset, "info", None)
            self._dataset_name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
        self._train_ids = None
        column_names = (getattr(dataset, "column_names", None) or []) if not keyed else []
        if self.config.id_column is not None and self.config.id_column in column_names:
            self._train_ids = np.asarray(dataset[self.config.id_column])
            _check_unique_ids(self._train_ids, self.config.id_column, where="the train dataset")
        self._train_dataset = dataset
        self._collate_fn = loader.collate_fn
        if isinstance(self._collate_fn, _IdCollator):
            self._collate_fn = self._collate_fn.collate_fn
        if self._epochs and state.global_step == 0:
            warnings.warn(
                f"CartographyCallback: a new `train()` starts a new data map; the {len(self._epochs)} epoch(s) "
                "recorded by the previous `train()` call are discarded. Call `data_map()` before training again to "
                "keep them.", stacklevel=2,
            )
        previous = self._run_dir
        self._keyed = keyed
        self._reset(num_examples=None if keyed else len(dataset))
        self._fingerprint = None  # of the train set and options, computed when a checkpoint needs it
        marker = run_marker(state)[0] if state.global_step > 0 else None
        self._run_token = _broadcast_token(marker if marker and re.fullmatch(r"[0-9a-f]{32}", marker)
                                           else uuid.uuid4().hex)
        root = self.config.records_dir or os.path.join(args.output_dir, RECORDS_DIR)
        self._run_dir = os.path.abspath(os.path.join(os.fspath(root), f"run-{self._run_token}"))
        if previous and previous != self._run_dir and _dist_world()[0] == 0 and state.global_step == 0:
            shutil.rmtree(previous, ignore_errors=True)  # the discarded map of an earlier `train()` of this callback
        self._segment = state.global_step
        if state.global_step > 0:
            self._load_state(args, state)
        set_run_marker(state, self._run_token, None)

        self._remove_hooks()
        if self.config.mode == "training":
            if keyed:
                replace_dataset(loader, _IdIterable(dataset, self.config.id_column))
            else:
                replace_dataset(loader, _IndexedDataset(dataset, self._profile))
            loader.collate_fn = _IdCollator(self._collate_fn, self._label_check, self._profile)
            self._handles = [
                model.register_forward_pre_hook(self._pre_forward, with_kwargs=True),
                model.register_forward_hook(self._post_forward),
            ]

    # ------------------------------------------------------------------ hooks
    def _pre_forward(self, module, args, kwargs):
        if ID_KEY not in kwargs:
            self._pending = None
            return None
        kwargs = dict(kwargs)
        ids = kwargs.pop(ID_KEY)
        labels = kwargs.get(self._label_key)
        if labels is None:
            raise HfNotlikeInputError(f"CartographyCallback found no gold labels in the batch under {self._label_key!r} "
                             f"(batch keys: {sorted(kwargs)}); pass `label_key=` with the right key.")
        self._pending = (ids, labels, kwargs.get("attention_mask")) if module.training else None
        if self.train_flops_per_example is None and self._flop_sample is None and module.training:
            self._flop_sample = (args, kwargs, int(ids.shape[0]))  # counted once the step is over
        return args, kwargs

    def _post_forward(self, module, args, output):
        if self._pending is None:
            return None
        ids, labels, attention_mask = self._pending
        self._pending = None
        if self._task == "causal_lm" and getattr(output, "log_probs", None) is not None and getattr(
            output, "logits", None
        ) is None:
            # TRL's fused LM head (SFTTrainer): per-token gold log-probabilities instead of logits
            self._record_fused(ids, output, attention_mask)
            return None
        logits = output.logits if hasattr(output, "logits") else (output[1] if len(output) > 1 else output[0])
        self._record(ids, labels, logits, attention_mask)
        return None

    @torch.no_grad()
    def _record_fused(self, ids, output, attention_mask) -> None:
        log_probs, label_mask, is_top1 = output.log_probs, output.label_mask, output.is_top1
        if not self._checked:
            if label_mask is None or is_top1 is None or log_probs.ndim != 2 or label_mask.shape != log_probs.shape:
                raise HfNotlikeInputError("CartographyCallback reads TRL's fused LM head output through `log_probs`, "
                                 "`label_mask` and `is_top1` of shape [batch, length - 1]; this TRL version returns "
                                 "another output. Pin a TRL version the callback supports or disable the fused head.")
            self._checked = True
        ids = _flat_ids(ids, log_probs.device)
        if attention_mask is not None:
            attention_mask = attention_mask.detach().to(log_probs.device)
        self._append(ids, *_fused_causal(log_probs.detach(), is_top1.detach(), label_mask.detach(), attention_mask))

    @torch.no_grad()
    def _record(self, ids: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor, attention_mask=None) -> None:
        if not self._checked:
            self._check_batch(ids, labels, logits)
            self._checked = True
        logits = logits.detach()
        ids = _flat_ids(ids, logits.device)
        labels = labels.detach().to(logits.device)
        if attention_mask is not None:
            attention_mask = attention_mask.detach().to(logits.device)
        self._append(ids, *_STATISTICS[self._task](logits, labels, attention_mask))

    def _append(self, ids: torch.Tensor, example: dict, units: dict) -> None:
        """Buffer one micro-batch's per-example statistics (and per-unit ones, with the rows they belong to)."""
        step = torch.full((ids.shape[0],), self._micro_step, dtype=torch.long, device=ids.device)
        self._buffer.append({"ids": ids, "steps": step, **example})
        self._buffered += int(ids.shape[0])
        if self._record_units:
            rows = units.pop("row")
            self._unit_buffer.append({"ids": ids[rows], "steps": step[rows], **units})
            self._buffered += int(rows.shape[0])
        self._micro_step += 1
        if self._buffered >= _FLUSH_ROWS:  # bounded memory: the epoch so far goes to disk in pieces
            self._flush()

    def _check_batch(self, ids, labels, logits) -> None:
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        label_shape = tuple(labels.shape) if torch.is_tensor(labels) else type(labels).__name__
        ndim = 3 if self._task in ("token_classification", "causal_lm") else 2
        if not torch.is_tensor(logits) or logits.ndim != ndim or logits.shape[-1] < (1 if ndim == 2 and
                                                                                   self._task == "multi_label" else 2):
            raise HfNotlikeInputError(f"{_SUPPORTED} The {self._task} task needs logits of shape "
                             f"{'[batch, length, classes]' if ndim == 3 else '[batch, num_labels]'}; got logits of "
                             f"shape {shape} (regression and other heads are not supported; pass the right `task=`).")
        expected = tuple(logits.shape[:-1]) if self._task != "multi_label" else tuple(logits.shape)
        if not torch.is_tensor(labels) or tuple(labels.shape) != expected or ids.shape[0] != logits.shape[0]:
            raise HfNotlikeInputError(f"{_SUPPORTED} Got labels of shape {label_shape} for logits of shape {shape} "
                             f"({len(ids)} examples).")

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    # ------------------------------------------------------------------ epoch bookkeeping
    def _count_flops(self, model) -> None:
        """Training FLOPs per example, from the first training micro-batch: its forward pass is run again once its
        step is over, in eval mode (no dropout, so no random numbers drawn) and without gradients, under
        `FlopCounterMode` (matrix products and attention, 2 FLOPs per multiply-add), and multiplied by 3: the backward
        pass costs about twice the forward (Kaplan et al., 2020). Counting after the step, inside a `with` block,
        means no counter is ever left open by a training step that fails."""
        sample, self._flop_sample = self._flop_sample, None
        if sample is None or model is None or self.train_flops_per_example is not None:
            return
        from torch.utils.flop_counter import FlopCounterMode

        args, kwargs, rows = sample
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(*args, **kwargs)
        finally:
            model.train(was_training)
        if rows:
            self.train_flops_per_example = 3 * counter.get_total_flops() / rows

    def on_step_end(self, args, state, control, **kwargs):
        self._count_flops(kwargs.get("model"))
        if self._run_dir is not None and args.save_strategy != "no":
            # a checkpoint saved after this step lands here; recorded in its trainer_state.json for the resume
            set_run_marker(state, self._run_token, os.path.abspath(os.path.join(
                args.output_dir, f"checkpoint-{state.global_step}")))

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._checked = False  # validate the first batch of every epoch

    def _columns(self, buffer, fields) -> dict[str, np.ndarray]:
        """This process's buffered records as numpy columns (one host copy, at write time)."""
        out = {}
        for key, name, dtype in fields:
            if key == "ids":
                parts = [_decode_ids(b[key]) for b in buffer]
                kinds = {p.dtype.kind for p in parts}
                if len(kinds) > 1:
                    raise HfNotlikeInputError(
                        f"CartographyCallback: the `{self.config.id_column}` ids of the train set mix integers and "
                        "strings; use one type for every example.")
                out[name] = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            else:
                out[name] = (torch.cat([b[key].reshape(-1).cpu() for b in buffer]).numpy().astype(dtype) if buffer
                             else np.zeros(0, dtype))
        return out

    def _flush(self) -> None:
        """Write this process's buffered records of the current epoch as its next shard piece, and empty the buffers."""
        if not self._buffer and not self._unit_buffer:
            return
        rank, world = _dist_world()
        folder = epoch_dir(self._run_dir, len(self._epochs))
        columns = self._columns(self._buffer, _RECORD_COLUMNS)
        write_shard(folder / shard_name(self._segment, rank, piece=self._piece), columns, rank=rank,
                    world_size=world, num_examples=self.num_examples)
        if self._record_units:
            units = self._columns(self._unit_buffer, _UNIT_COLUMNS)
            write_shard(folder / shard_name(self._segment, rank, units=True, piece=self._piece), units, rank=rank,
                        world_size=world, num_examples=self.num_examples)
        self._piece += 1
        self._buffer, self._unit_buffer = [], []
        self._buffered = 0

    def _close_epoch(self, args, state, control, folder: Path) -> None:
        """Count the finished epoch's records (every process's shards, read from disk) and log it."""
        summary = summarize_epoch(folder, self.num_examples)
        self._buffer, self._unit_buffer = [], []
        self._buffered = 0
        self._micro_step = 0
        self._piece = 0
        index = len(self._epochs)
        if self._keyed:
            if summary.records == 0:  # the stream was already exhausted: no epoch
                return
            _, world = _dist_world()
            # distributed loaders pad the last global batch with repeated examples; one process alone never does
            padding = 0 if world == 1 else world * args.per_device_train_batch_size * args.gradient_accumulation_steps
            if summary.records - summary.examples > padding or (world == 1 and summary.duplicated):
                raise HfNotlikeInputError(
                    f"CartographyCallback: epoch {index} of the iterable train dataset holds "
                    f"{summary.records - summary.examples} repeated `{self.config.id_column}` values (e.g. "
                    f"{summary.duplicated}); each example needs its own id, or its statistics cannot be told apart "
                    "from another's. Fix the id column (e.g. `uid = f'{source}-{row}'`).")
            # an epoch ends when the stream runs out, or when training stops (max_steps, a callback): the latter is
            # complete only when it saw as many examples as an epoch that ran out
            stopped = control is not None and control.should_training_stop
            full = [e["examples"] for e in self._epochs if e["complete"]]
            complete = not stopped or (bool(full) and summary.examples == full[0])
        else:
            complete = summary.examples == self.num_examples
        if not complete:
            logger.warning(f"CartographyCallback: epoch {index} saw {summary.examples}"
                           f"{'' if self._keyed else f' of {self.num_examples}'} examples (training stopped "
                           "mid-epoch?); it is left out of the data map.")
        self._epochs.append({"complete": complete, "records": summary.records, "examples": summary.examples})

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self._run_dir is None:
            return
        if self.config.mode == "rescore":
            self._rescore(args, state, model)
        folder = epoch_dir(self._run_dir, len(self._epochs))
        self._flush()
        _barrier()  # every process's shard is on disk
        self._close_epoch(args, state, control, folder)

    @torch.no_grad()
    def _rescore(self, args, state, model) -> None:
        from tqdm.auto import tqdm

        rank, world = _dist_world()
        indices = list(range(rank, self.num_examples, world))
        loader = torch.utils.data.DataLoader(
            _IndexedDataset(self._train_dataset), batch_size=args.per_device_eval_batch_size, sampler=indices,
            collate_fn=_IdCollator(self._collate_fn, self._label_check), num_workers=args.dataloader_num_workers,
        )
        was_training = model.training
        model.eval()
        try:
            for batch in tqdm(loader, desc="Cartography re-scoring", disable=args.disable_tqdm or rank != 0,
                              leave=False):
                ids = batch.pop(ID_KEY)
                batch = {k: (v.to(args.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
                if self._label_key not in batch:
                    raise HfNotlikeInputError(f"CartographyCallback found no gold labels in the batch under "
                                     f"{self._label_key!r} (batch keys: {sorted(batch)}); pass `label_key=`.")
                output = model(**batch)
                logits = output.logits if hasattr(output, "logits") else output[1]
                self._record(ids.to(args.device), batch[self._label_key], logits, batch.get("attention_mask"))
        finally:
            model.train(was_training)

    def on_train_end(self, args, state, control, **kwargs):
        self._flop_sample = None
        self._remove_hooks()

    # ------------------------------------------------------------------ checkpoints
    def on_save(self, args, state, control, **kwargs):
        if self._run_dir is None or self._keyed:  # runs on iterable datasets do not resume (see on_train_begin)
            return
        self._flush()  # this process's records of the epoch so far are on disk
        current = epoch_dir(self._run_dir, len(self._epochs))
        partial = current / f"partial-{state.global_step:08d}"
        partial.mkdir(parents=True, exist_ok=True)
        rank = _dist_world()[0]
        for path, owner in record_files(current) + record_files(current, units=True):
            ours = shard_segment(path.name) == self._segment
            # each process links the pieces it wrote; rank 0 also those reloaded when the run was resumed
            if (ours and owner == rank) or (not ours and rank == 0):
                link_or_copy(path, partial / path.name)
        _barrier()  # the checkpoint is complete only once every process's shard is on disk
        if not args.should_save:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            logger.warning(f"CartographyCallback: checkpoint folder {folder} not found; its state is not saved.")
            return
        self._save_state(folder, state)

    def _save_state(self, folder: str, state) -> None:
        """Write `cartography_state.safetensors`: where this run's record shards are, the finished epochs' counts
        and the train-set fingerprint (the records themselves stay in the shards)."""
        from safetensors.numpy import save_file

        tensors = {
            "epoch_complete": np.asarray([e["complete"] for e in self._epochs], dtype=bool),
            "epoch_records": np.asarray([e["records"] for e in self._epochs], dtype=np.int64),
            "epoch_examples": np.asarray([e["examples"] for e in self._epochs], dtype=np.int64),
        }
        metadata = {
            "format": _STATE_FORMAT,
            "format_version": str(_STATE_VERSION),
            "config": json.dumps(asdict(self.config), default=str),
            "num_examples": str(self.num_examples),
            "global_step": str(state.global_step),
            "epochs_done": str(len(self._epochs)),
            "run": self._run_token or "",
            "records_dir": self._run_dir,
            "partial": f"partial-{state.global_step:08d}",
            "world_size": str(_dist_world()[1]),
        }
        fingerprint_metadata, fingerprint_tensors = self._train_fingerprint().to_state()
        metadata.update(fingerprint_metadata)
        tensors.update(fingerprint_tensors)
        from ..artifacts import atomic_path

        with atomic_path(os.path.join(folder, STATE_FILE)) as tmp:  # a crash never leaves half a state file
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp), metadata=metadata)

    def _load_state(self, args, state) -> None:
        token, saved_in = run_marker(state)
        candidates = [self.config.resume_from_checkpoint, args.resume_from_checkpoint,
                      os.path.join(args.output_dir, f"checkpoint-{state.global_step}")]
        if saved_in:  # where the checkpoint being resumed was written (it may have been passed from elsewhere)
            candidates.append(saved_in)
        tried, rejected = [], []
        for folder in candidates:
            if not folder or not isinstance(folder, str):
                continue
            path = os.path.join(folder, STATE_FILE)
            if path in tried:
                continue
            tried.append(path)
            if not os.path.isfile(path):
                continue
            metadata = _read_state_metadata(path)
            if int(metadata["global_step"]) != state.global_step:
                rejected.append(f"{path} (step {metadata['global_step']})")
                continue
            if token is not None and metadata.get("run") != token:
                rejected.append(f"{path} (another training run)")
                continue
            saved = read_fingerprint(path, metadata)
            if saved is None:
                logger.warning(f"CartographyCallback: {path} has no train-set fingerprint (written by an older "
                               "hf_notlike): only the size of the train set can be checked on this resume.")
            check_resume(saved, self._train_fingerprint(), path)  # before anything is reloaded
            if int(metadata["num_examples"]) != self.num_examples:
                raise HfNotlikeInputError(f"The cartography state in {path} is for {metadata['num_examples']} examples but "
                                 f"the train set has {self.num_examples}: resume with the same train dataset.")
            done = int(metadata["epochs_done"])
            tensors = _read_state_tensors(path, done)
            self._epochs = [{"complete": bool(c), "records": int(r), "examples": int(x)} for c, r, x in
                            zip(tensors["epoch_complete"], tensors["epoch_records"], tensors["epoch_examples"])]
            source = Path(metadata["records_dir"])
            if _dist_world()[0] == 0:
                self._adopt(source, done, metadata["partial"], path)
            _barrier()  # the records of the checkpoint are in place for every process
            current = epoch_dir(self._run_dir, done)
            summary = summarize_epoch(current, self.num_examples)
            if summary.examples == self.num_examples:
                # saved at the last step of an epoch (save_strategy="steps" saves before `on_epoch_end`): that epoch
                # is finished and the resumed run starts the next one
                self._close_epoch(args, state, None, current)
            else:
                # new forwards continue the per-process micro-step count of the interrupted epoch
                self._micro_step = summary.max_step + 1
            logger.info(f"CartographyCallback: resumed {len(self._epochs)} epochs and {summary.records} records of "
                        f"the current epoch from {path} (records in {source}).")
            return
        raise HfNotlikeInputError(
            f"Training resumes at step {state.global_step} but no CartographyCallback state "
            f"({STATE_FILE}) of this checkpoint was found (looked in: {tried}"
            + (f"; rejected: {rejected}" if rejected else "")
            + "). The data map would miss the epochs before the checkpoint: pass "
            "`CartographyCallback(resume_from_checkpoint=<the checkpoint folder you resume from>)`, or start the run "
            "from scratch with the callback attached."
        )

    def _adopt(self, source: Path, done: int, partial: str, state_path: str) -> None:
        """Make this run's records folder hold exactly what the checkpoint recorded: the finished epochs' shards and
        the current epoch's shards as of the checkpoint (records written after it by the interrupted run go)."""
        run = Path(self._run_dir)
        same = source.exists() and run.exists() and os.path.samefile(source, run)
        missing = [epoch_dir(source, e) for e in range(done) if self._epochs[e]["records"] and not
                   record_files(epoch_dir(source, e))]
        kept = epoch_dir(source, done) / partial
        if not kept.is_dir():
            missing.append(kept)
        if missing:
            raise HfNotlikeInputError(
                f"The checkpoint's cartography state ({state_path}) refers to record shards that are gone: "
                f"{[str(m) for m in missing[:3]]}. Keep the records folder (`records_dir`, default "
                "`<output_dir>/cartography_records`) with the checkpoints, or start the run from scratch.")

        def clear(folder: Path) -> None:
            for path, _ in record_files(folder) + record_files(folder, units=True):
                path.unlink()

        if not same:
            for e in range(done):
                clear(epoch_dir(run, e))
                for path, _ in record_files(epoch_dir(source, e)) + record_files(epoch_dir(source, e), units=True):
                    link_or_copy(path, epoch_dir(run, e) / path.name)
        current = epoch_dir(run, done)
        clear(current)
        for path, _ in record_files(kept) + record_files(kept, units=True):
            link_or_copy(path, current / path.name)
        if run.is_dir():
            for name in os.listdir(run):
                match = re.fullmatch(r"epoch-(\d+)", name)
                if match and int(match[1]) > done:
                    shutil.rmtree(run / name)  # written by the interrupted run after the checkpoint

    def _train_fingerprint(self) -> TrainSetFingerprint:
        """The fingerprint of the train set (content and order, as the model sees it) and of the map-shaping
        options, saved with every checkpoint and checked on resume (computed once per `train()`)."""
        if self._fingerprint is None:
            options = map_options(self.config.mode, self.config.id_column, self._label_key, self._task,
                                  self.config.token_table)
            self._fingerprint = train_set_fingerprint(self._train_dataset, options,
                                                      label_columns=(*LABEL_COLUMNS, self._label_key))
        return self._fingerprint

    # ------------------------------------------------------------------ result
    def data_map(self, dataset=None, *, include_incomplete: bool = False, by_row_index: bool = False) -> DataMap:
        """Build the [`DataMap`] of the epochs recorded so far, from the record shards on disk.

        One epoch is merged at a time (first occurrence of each example: earliest step, lowest process), so memory
        holds the map itself plus one epoch's records, never every process's records of every epoch.

        Args:
            dataset (`datasets.Dataset`, *optional*):
                The train dataset. Checked against the recorded examples (same number of rows) and, with
                `id_column`, the source of the example ids when `remove_unused_columns` dropped that column. Not
                needed for an iterable dataset (the ids were recorded).
            include_incomplete (`bool`, *optional*, defaults to `False`):
                By default only complete epochs (every example seen, e.g. not the epoch a run stopped in) enter the
                map, with a warning naming how many were left out. With `True`, incomplete epochs are included too,
                and the map then holds only the examples seen in every included epoch (keyed by row index when some
                are left out; a warning says how many).
            by_row_index (`bool`, *optional*, defaults to `False`):
                Key the map by row index even when the callback has an `id_column` (e.g. when that column holds
                duplicate values: the recorded epochs stay usable). Map-style datasets only.

        Returns:
            [`DataMap`]: one row per example (row order for a map-style dataset; for an iterable dataset, the ids in
            the order first seen in the first included epoch).

        Raises:
            `ValueError` when nothing was recorded yet, on a dataset mismatch, or when ids are missing or duplicated.
        """
        if not isinstance(include_incomplete, bool) or not isinstance(by_row_index, bool):
            raise HfNotlikeInputError("`include_incomplete` and `by_row_index` must be True or False.")
        if self._run_dir is None or not self._epochs:
            raise HfNotlikeInputError("CartographyCallback has no finished epoch yet: call `trainer.train()` with the callback "
                             "attached (at least one full epoch) before `data_map()`.")
        complete = [e["complete"] for e in self._epochs]
        if include_incomplete:
            keep = list(range(len(complete)))
        else:
            keep = [i for i, done in enumerate(complete) if done]
            if not keep:
                raise HfNotlikeInputError("No recorded epoch saw every training example (training stopped before the end of "
                                 "the first epoch?); train for at least one full epoch, or pass "
                                 "`include_incomplete=True` for a map of the examples seen so far.")
            if len(keep) != len(complete):
                warnings.warn(f"CartographyCallback: {len(complete) - len(keep)} incomplete epoch(s) left "
                              "out of the data map (pass `include_incomplete=True` to include them).", stacklevel=2)
        if self._keyed and by_row_index:
            raise HfNotlikeInputError("`by_row_index=True` needs a map-style train dataset; an iterable dataset's map is "
                                      "keyed by its `id_column`.")
        # gold labels: those of the last complete epoch (single-label classification)
        label_epoch = max((i for i, done in enumerate(complete) if done), default=None) \
            if self._task == "classification" else None
        columns = build_map_columns(self._run_dir, keep, num_examples=self.num_examples, label_epoch=label_epoch,
                                    units=self._task if self._record_units else None)
        probs, correct, margins, labels, rows = (columns.probs, columns.correct, columns.margins, columns.labels,
                                                 columns.rows)
        units = (columns.units, columns.unit_kind)
        if self._keyed:
            ids, id_column, num = rows, self.config.id_column, len(rows)
        else:
            num = self.num_examples
            id_column = None if by_row_index else self.config.id_column
            ids = None if by_row_index else self._train_ids
        if not len(rows):
            raise HfNotlikeInputError("No example was seen in every included epoch; pass `include_incomplete=False`.")
        if len(rows) < (num if not self._keyed else max(self._epochs[i]["examples"] for i in keep)):
            missed = (num if not self._keyed else max(self._epochs[i]["examples"] for i in keep)) - len(rows)
            warnings.warn(f"CartographyCallback: {missed} example(s) missed by an incomplete "
                          "epoch are left out of the data map.", stacklevel=2)
        dataset_name = self._dataset_name
        if dataset is not None:
            if not self._keyed and len(dataset) != self.num_examples:
                raise HfNotlikeInputError(f"The dataset has {len(dataset)} rows but the callback recorded {self.num_examples} "
                                 "training examples: pass the train dataset the Trainer was trained on.")
            if id_column is not None and not self._keyed:
                columns = getattr(dataset, "column_names", None) or []
                if id_column not in columns:
                    raise HfNotlikeInputError(f"`id_column={id_column!r}` is not a column of the dataset "
                                     f"(columns: {columns}).")
                ids = np.asarray(dataset[id_column])
            if dataset_name is None:
                info = getattr(dataset, "info", None)
                dataset_name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
        if not self._keyed:
            if id_column is not None and ids is None:
                raise HfNotlikeInputError(f"`id_column={id_column!r}` was dropped from the train set by "
                                 "`remove_unused_columns`; pass the train dataset: `callback.data_map(dataset=train)`.")
            if id_column is not None:
                _check_unique_ids(ids, id_column, where="the train dataset")
                ids = ids[rows]
            elif len(rows) < self.num_examples:
                ids = rows.astype(np.int64)
        margins = margins if np.isfinite(margins).all() else None  # TRL's fused head: no logits
        return DataMap(probs, correct, ids, margins=margins, labels=labels, units=units[0], unit_kind=units[1],
                       id_column=id_column,
                       model_name=self._model_name, dataset_name=dataset_name, mode=self.config.mode,
                       train_flops_per_example=self.train_flops_per_example)

def _flat_ids(ids: torch.Tensor, device) -> torch.Tensor:
    """Row indices / integer ids as int64 `[batch]`; string ids stay as their uint8 `[batch, bytes]` tensor."""
    ids = ids.detach().to(device)
    if ids.ndim == 2 and ids.dtype == torch.uint8:
        return ids
    return ids.reshape(-1).long()


def _check_unique_ids(ids: np.ndarray, id_column: str, where: str) -> None:
    values, counts = np.unique(ids, return_counts=True)
    if len(values) != len(ids):
        duplicated = values[counts > 1][:5].tolist()
        raise HfNotlikeInputError(
            f"`id_column={id_column!r}` holds duplicate values in {where} (e.g. {duplicated}); each example needs its "
            "own id. Fix the column, or use row indices (`CartographyCallback(id_column=None)`, or "
            "`callback.data_map(by_row_index=True)` for epochs already recorded)."
        )
