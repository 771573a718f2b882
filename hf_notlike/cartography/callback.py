# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`CartographyCallback`: record training dynamics (Swayamdipta et al., EMNLP 2020) with a stock `Trainer`.

How per-example statistics reach a callback that never sees batches or logits:

1. **Example ids.** At `on_train_begin` the callback wraps the Trainer's *train* dataloader (only that one): its
   dataset is wrapped so each item carries its row index, and its `collate_fn` is wrapped so the user's collator sees
   the untouched examples and the batch gets one extra tensor, `batch["cartography_id"]`. This happens after
   `remove_unused_columns` has filtered the dataset and it rides along whatever the sampler does (shuffling,
   `DistributedSampler`/accelerate sharding, `skip_first_batches` on resume), so ids stay right.
2. **Statistics.** A forward pre-hook on the model pops `cartography_id` from the call (the model never sees it)
   and keeps the gold labels; a forward hook reads the logits and stores the gold-label probability, whether the
   argmax is right, the margin (gold logit minus the largest other logit, for the AUM of Pleiss et al., 2020) and the
   gold label, on device, without a host sync. Each micro-batch of gradient accumulation is one forward, so
   accumulation needs nothing special; logits are upcast to float32 (mixed precision).
3. **Epoch end.** Records are gathered across processes (`torch.distributed.all_gather`), duplicated examples
   (the padding that distributed samplers add to even out the last batch) keep their first occurrence, and the epoch
   becomes one column of the map. Examples missing from an epoch (training stopped mid-epoch) make that epoch
   incomplete; [`CartographyCallback.data_map`] uses complete epochs only.
4. **Checkpoints.** `on_save` writes `cartography_state.safetensors` into the checkpoint folder (finished epochs and
   the records of the current epoch so far). A run resumed with `trainer.train(resume_from_checkpoint=...)` reloads
   it, so the resumed map equals the uninterrupted one. The file is looked up in `args.output_dir/checkpoint-<step>`
   and `args.resume_from_checkpoint`; for a checkpoint elsewhere pass `CartographyCallback(resume_from_checkpoint=)`.
   The state also holds a fingerprint of the train set (a hash of each row's inputs and labels, in order) and of the
   options that shape the map (`fingerprint.py`): a resume on reshuffled, relabelled or other examples, or with other
   options, is refused at `on_train_begin` with an error saying what changed, instead of mixing two sets of examples.

`mode="rescore"` instead re-scores the whole train set in eval mode (no dropout) at each epoch end: one extra
inference pass per epoch, and the statistics of the model *after* the epoch rather than during it.

Tasks (`task=`, read from the model by default): single-label classification and multiple choice (softmax probability
of the gold label), multi-label classification (mean sigmoid probability of the gold values, plus the per-(example,
label) matrix), token classification (mean gold-label probability over labelled tokens, plus a per-token table) and
causal-LM fine-tuning (geometric mean of the gold-token probabilities over the completion tokens, with the stock
`Trainer` or TRL's `SFTTrainer`, whose fused LM head returns per-token log-probabilities instead of logits). Other
models get one error at `Trainer` build / `on_train_begin`, before any step.

Requirements (checked, with an error naming the fix): gold labels in the batch under `labels`, a map-style train
dataset (with `__len__`), and `dataloader_drop_last=False` in the default mode. What touches transformers' and
accelerate's internals lives in `_trainer_internals.py`.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
import uuid
import warnings
from dataclasses import asdict, dataclass, field
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

__all__ = ["CartographyCallback", "CartographyConfig", "ID_KEY", "STATE_FILE", "merge_epoch_records"]

logger = get_logger(__name__)

ID_KEY = "cartography_id"
TASKS = ("auto", "classification", "multi_label", "token_classification", "causal_lm")
# what each forward records per example (name, dtype for the all-gather); `ranks` is added when gathering
_RECORD_FIELDS = (
    ("ids", torch.long), ("probs", torch.float32), ("correct", torch.float32), ("margins", torch.float32),
    ("labels", torch.long), ("steps", torch.long),
)
# per-unit records (multi-label: one per example and label; token tasks: one per scored token)
_UNIT_FIELDS = (
    ("ids", torch.long), ("index", torch.long), ("label", torch.long), ("position", torch.long),
    ("probs", torch.float32), ("correct", torch.uint8), ("steps", torch.long),
)
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
        metadata={"help": "Dataset column holding stable example ids; None keys examples by their row index."},
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


class _LabelCheck:
    """Checks the gold labels of every collated batch on the host, before the batch reaches the model (no device
    sync), for the task: integer labels `[batch]` in [0, num_classes) for classification; 0/1 labels
    `[batch, num_labels]` for multi-label; integer labels `[batch, length]` in [0, num_classes) or -100 (ignored),
    with at least one scored token per example, for token tasks. Small and picklable (runs in dataloader workers)."""

    def __init__(self, label_key: str, num_classes: int | None, task: str = "classification"):
        self.label_key = label_key
        self.num_classes = num_classes
        self.task = task

    def _fail(self, indices, rows, message):
        named = [indices[i] for i in torch.nonzero(rows).flatten().tolist()[:5]]
        raise HfNotlikeInputError(f"CartographyCallback: train examples {named} (row indices) {message}")

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
        batch[ID_KEY] = torch.tensor(indices, dtype=torch.long)
        return batch


_STATE_FORMAT = "hf_notlike.cartography"
_STATE_VERSION = 2
_STATE_PARTIAL = ("ids", "probs", "correct", "margins", "labels", "steps", "ranks")
_UNIT_KEYS = ("ids", "index", "label", "position", "probs", "correct")  # per finished epoch
_UNIT_PARTIAL = (*_UNIT_KEYS, "steps", "ranks")
_STATE_DTYPES = {  # tensor name -> (dtype kind, ndim)
    "epoch_gold_probs": ("f", 2), "epoch_correct": ("f", 2), "epoch_margins": ("f", 2), "epoch_complete": ("b", 1),
    "labels": ("i", 1), "partial_ids": ("i", 1), "partial_probs": ("f", 1), "partial_correct": ("f", 1),
    "partial_margins": ("f", 1), "partial_labels": ("i", 1), "partial_steps": ("i", 1), "partial_ranks": ("i", 1),
}


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
    return metadata


def _read_state_tensors(path: str, num_examples: int) -> dict[str, np.ndarray]:
    """The tensors of a `cartography_state.safetensors`, checked for presence, dtype, shape and consistency."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as error:
        raise HfNotlikeInputError(f"{path}: cannot read the tensors ({error}); the checkpoint is damaged (truncated copy?): "
                         "resume from another checkpoint.") from None
    kinds = {"f": "float", "b": "bool", "i": "integer"}
    for name, (kind, ndim) in _STATE_DTYPES.items():
        if name not in tensors:
            raise HfNotlikeInputError(f"{path}: tensor {name!r} is missing.")
        array = tensors[name]
        if array.ndim != ndim or (kind == "i" and array.dtype.kind not in "iu") or (
            kind != "i" and array.dtype.kind != kind
        ):
            raise HfNotlikeInputError(f"{path}: tensor {name!r} has dtype {array.dtype} and shape {array.shape}; expected "
                             f"{kinds[kind]} with {ndim} dimension(s).")
    epochs = len(tensors["epoch_complete"])
    for name in ("epoch_gold_probs", "epoch_correct", "epoch_margins"):
        if tensors[name].shape != (epochs, num_examples):
            raise HfNotlikeInputError(f"{path}: tensor {name!r} has shape {tensors[name].shape}; expected ({epochs}, "
                             f"{num_examples}) (epochs x examples).")
    if len(tensors["labels"]) not in (0, num_examples):
        raise HfNotlikeInputError(f"{path}: tensor 'labels' has {len(tensors['labels'])} values for {num_examples} examples.")
    lengths = {len(tensors[f"partial_{key}"]) for key in _STATE_PARTIAL}
    if len(lengths) != 1:
        raise HfNotlikeInputError(f"{path}: the partial_* tensors have different lengths ({sorted(lengths)}).")
    ids = tensors["partial_ids"]
    if len(ids) and (ids.min() < 0 or ids.max() >= num_examples):
        raise HfNotlikeInputError(f"{path}: tensor 'partial_ids' holds ids outside [0, {num_examples}).")
    for prefix, keys in (("epoch_unit_", ("epoch", *_UNIT_KEYS)), ("partial_unit_", _UNIT_PARTIAL)):
        present = [key for key in keys if prefix + key in tensors]
        if present and len(present) != len(keys):
            raise HfNotlikeInputError(f"{path}: some {prefix}* tensors are missing ({sorted(set(keys) - set(present))}).")
        if present and len({tensors[prefix + key].shape for key in keys}) != 1:
            raise HfNotlikeInputError(f"{path}: the {prefix}* tensors have different shapes.")
        if present and any(tensors[prefix + key].ndim != 1 for key in keys):
            raise HfNotlikeInputError(f"{path}: the {prefix}* tensors must be 1-D.")
    return tensors


def _to_numpy(key: str, tensor: torch.Tensor) -> np.ndarray:
    array = tensor.cpu().numpy()
    if array.dtype == np.uint8:
        return array.astype(bool)
    return array.astype(np.float32 if array.dtype.kind == "f" else np.int64)


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


def _all_gather(arrays: list[torch.Tensor], device: torch.device) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Concatenate same-length 1-D tensors from every process (variable length per process); returns the gathered
    tensors (rank order) and the rank each row came from."""
    rank, world = _dist_world()
    if world == 1:
        return arrays, torch.zeros(len(arrays[0]), dtype=torch.long)
    if torch.distributed.get_backend() == "nccl" and device.type != "cuda":
        device = torch.device("cuda", torch.cuda.current_device())
    elif torch.distributed.get_backend() == "gloo":
        device = torch.device("cpu")
    length = torch.tensor([len(arrays[0])], dtype=torch.long, device=device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    torch.distributed.all_gather(lengths, length)
    lengths = [int(x.item()) for x in lengths]
    longest = max(lengths)
    gathered = []
    for array in arrays:
        padded = torch.zeros(longest, dtype=array.dtype, device=device)
        padded[: len(array)] = array.to(device)
        parts = [torch.empty_like(padded) for _ in range(world)]
        torch.distributed.all_gather(parts, padded)
        gathered.append(torch.cat([p[:n] for p, n in zip(parts, lengths)]).cpu())
    ranks = torch.cat([torch.full((n,), r, dtype=torch.long) for r, n in enumerate(lengths)])
    return gathered, ranks


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
            A train-set column with stable example ids; by default examples are keyed by row index. The column may
            be dropped by `remove_unused_columns`: pass the train dataset to [`data_map`] to attach its ids.
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
    ):
        self.config = CartographyConfig(
            mode=mode, id_column=id_column, label_key=label_key, resume_from_checkpoint=resume_from_checkpoint,
            dataset_name=dataset_name, task=task, token_table=token_table, profile=profile,
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
        self._fingerprint: TrainSetFingerprint | None = None

    # ------------------------------------------------------------------ state
    def _reset(self, num_examples: int | None) -> None:
        self.num_examples = num_examples
        # training FLOPs per example: the first micro-batch's forward, counted after its step (`_count_flops`)
        self.train_flops_per_example: float | None = None
        self._flop_sample: Any = None
        self._epoch_probs: list[np.ndarray] = []  # one float32 [N] per finished epoch
        self._epoch_correct: list[np.ndarray] = []  # one bool [N] per finished epoch
        self._epoch_complete: list[bool] = []
        self.epoch_log: list[dict[str, int]] = []  # per epoch: records gathered (duplicates included), examples kept
        self._epoch_margins: list[np.ndarray] = []  # one float32 [N] per finished epoch
        self._labels: np.ndarray | None = None  # gold label per example (from the last complete epoch)
        self._buffer: list[dict[str, torch.Tensor]] = []  # per forward: ids, probs, correct, margins, labels, steps
        self._unit_buffer: list[dict[str, torch.Tensor]] = []  # per forward: the per-label / per-token records
        self._epoch_units: list[dict[str, np.ndarray] | None] = []  # per finished epoch, sorted by (id, index)
        self._restored_units: dict[str, np.ndarray] | None = None
        self._restored: dict[str, np.ndarray] | None = None  # current-epoch records reloaded from a checkpoint
        self._micro_step = 0
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
        return len(self._epoch_probs)

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
        if isinstance(dataset, _IndexedDataset):  # a second `train()` on the same dataloader
            dataset = dataset.dataset
        if isinstance(dataset, torch.utils.data.IterableDataset) or not hasattr(dataset, "__len__"):
            raise HfNotlikeInputError("CartographyCallback needs a map-style train dataset with `__len__` (e.g. a "
                             "`datasets.Dataset`), so that each example has a stable id; got an iterable dataset.")
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
        self._label_check = _LabelCheck(self._label_key, num_classes, self._task)
        self._record_units = self._task in ("multi_label", "token_classification") or (
            self._task == "causal_lm" and self.config.token_table)
        self._device = args.device
        self._model_name = getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__
        if self._dataset_name is None:
            info = getattr(dataset, "info", None)
            self._dataset_name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
        self._train_ids = None
        column_names = getattr(dataset, "column_names", None) or []
        if self.config.id_column is not None and self.config.id_column in column_names:
            self._train_ids = np.asarray(dataset[self.config.id_column])
            _check_unique_ids(self._train_ids, self.config.id_column, where="the train dataset")
        self._train_dataset = dataset
        self._collate_fn = loader.collate_fn
        if isinstance(self._collate_fn, _IdCollator):
            self._collate_fn = self._collate_fn.collate_fn
        if self._epoch_probs and state.global_step == 0:
            warnings.warn(
                f"CartographyCallback: a new `train()` starts a new data map; the {len(self._epoch_probs)} epoch(s) "
                "recorded by the previous `train()` call are discarded. Call `data_map()` before training again to "
                "keep them.", stacklevel=2,
            )
        self._reset(num_examples=len(dataset))
        self._fingerprint = None  # of the train set and options, computed when a checkpoint needs it
        self._run_token = None
        if state.global_step > 0:
            self._load_state(args, state)
        self._run_token = run_marker(state)[0] if state.global_step > 0 and run_marker(state)[0] else uuid.uuid4().hex
        set_run_marker(state, self._run_token, None)

        self._remove_hooks()
        if self.config.mode == "training":
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
        ids = ids.detach().reshape(-1).to(log_probs.device).long()
        if attention_mask is not None:
            attention_mask = attention_mask.detach().to(log_probs.device)
        self._append(ids, *_fused_causal(log_probs.detach(), is_top1.detach(), label_mask.detach(), attention_mask))

    @torch.no_grad()
    def _record(self, ids: torch.Tensor, labels: torch.Tensor, logits: torch.Tensor, attention_mask=None) -> None:
        if not self._checked:
            self._check_batch(ids, labels, logits)
            self._checked = True
        logits = logits.detach()
        ids = ids.detach().reshape(-1).to(logits.device).long()
        labels = labels.detach().to(logits.device)
        if attention_mask is not None:
            attention_mask = attention_mask.detach().to(logits.device)
        self._append(ids, *_STATISTICS[self._task](logits, labels, attention_mask))

    def _append(self, ids: torch.Tensor, example: dict, units: dict) -> None:
        """Buffer one micro-batch's per-example statistics (and per-unit ones, with the rows they belong to)."""
        step = torch.full_like(ids, self._micro_step)
        self._buffer.append({"ids": ids, "steps": step, **example})
        if self._record_units:
            rows = units.pop("row")
            self._unit_buffer.append({"ids": ids[rows], "steps": step[rows], **units})
        self._micro_step += 1

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
        if self.num_examples is not None and args.save_strategy != "no":
            # a checkpoint saved after this step lands here; recorded in its trainer_state.json for the resume
            set_run_marker(state, self._run_token, os.path.abspath(os.path.join(
                args.output_dir, f"checkpoint-{state.global_step}")))

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._checked = False  # validate the first batch of every epoch

    def _local(self, buffer, fields) -> list[torch.Tensor]:
        if buffer:
            return [torch.cat([b[key].to(self._device) for b in buffer]).to(dtype) for key, dtype in fields]
        return [torch.zeros(0, dtype=dtype, device=self._device) for _, dtype in fields]

    def _gathered_records(self) -> dict[str, np.ndarray]:
        """All records of the current epoch so far, from every process (plus those reloaded from a checkpoint);
        per-unit records under `unit_<field>` keys."""
        records = {}
        streams = [("", self._buffer, _RECORD_FIELDS, self._restored)]
        if self._record_units:
            streams.append(("unit_", self._unit_buffer, _UNIT_FIELDS, self._restored_units))
        for prefix, buffer, fields, restored in streams:
            gathered, ranks = _all_gather(self._local(buffer, fields), self._device)
            part = {key: _to_numpy(key, tensor) for (key, _), tensor in zip(fields, gathered)}
            part["ranks"] = ranks.cpu().numpy().astype(np.int64)
            if restored is not None:
                part = {key: np.concatenate([restored[key], part[key]]) for key in part}
            records.update({prefix + key: value for key, value in part.items()})
        return records

    def _finish_epoch(self, records: dict[str, np.ndarray]) -> None:
        n = self.num_examples
        merged = merge_epoch_records({k: v for k, v in records.items() if not k.startswith("unit_")}, n)
        kept = int(merged["seen"].sum())
        complete = kept == n
        if not complete:
            logger.warning(f"CartographyCallback: epoch {len(self._epoch_probs)} saw {kept} of {n} examples "
                           "(training stopped mid-epoch?); it is left out of the data map.")
        elif self._task == "classification":
            self._labels = merged["labels"]
        units = None
        if "unit_ids" in records:
            # the units of the occurrence kept for each example, sorted by (example, index)
            uid = records["unit_ids"]
            keep = (merged["kept_steps"][uid] == records["unit_steps"]) & (
                merged["kept_ranks"][uid] == records["unit_ranks"])
            order = np.flatnonzero(keep)
            order = order[np.lexsort((records["unit_index"][order], uid[order]))]
            units = {key: records[f"unit_{key}"][order] for key in ("ids", "index", "label", "position", "probs",
                                                                    "correct")}
        self._epoch_units.append(units)
        self._epoch_probs.append(merged["probs"])
        self._epoch_correct.append(merged["correct"])
        self._epoch_margins.append(merged["margins"])
        self._epoch_complete.append(complete)
        self.epoch_log.append({"records": int(len(records["ids"])), "examples": kept})
        self._buffer = []
        self._unit_buffer = []
        self._restored = None
        self._restored_units = None
        self._micro_step = 0

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.num_examples is None:
            return
        if self.config.mode == "rescore":
            self._rescore(args, state, model)
        self._finish_epoch(self._gathered_records())

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
        if self.num_examples is None:
            return
        records = self._gathered_records()  # collective: every process takes part
        if not args.should_save:
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not os.path.isdir(folder):
            logger.warning(f"CartographyCallback: checkpoint folder {folder} not found; its state is not saved.")
            return
        self._save_state(folder, state, records)

    def _save_state(self, folder: str, state, records: dict[str, np.ndarray]) -> None:
        from safetensors.numpy import save_file

        n = self.num_examples
        done = len(self._epoch_probs)
        tensors = {
            "epoch_gold_probs": np.stack(self._epoch_probs) if done else np.zeros((0, n), np.float32),
            "epoch_correct": np.stack(self._epoch_correct) if done else np.zeros((0, n), np.float32),
            "epoch_margins": np.stack(self._epoch_margins) if done else np.zeros((0, n), np.float32),
            "epoch_complete": np.asarray(self._epoch_complete, dtype=bool),
            "labels": self._labels if self._labels is not None else np.zeros(0, np.int64),
            **{f"partial_{key}": records[key] for key in _STATE_PARTIAL},
        }
        if self._record_units:
            epochs = [(e, u) for e, u in enumerate(self._epoch_units) if u is not None]
            tensors["epoch_unit_epoch"] = np.concatenate(
                [np.full(len(u["ids"]), e, np.int64) for e, u in epochs] or [np.zeros(0, np.int64)])
            for key in _UNIT_KEYS:
                tensors[f"epoch_unit_{key}"] = np.concatenate(
                    [u[key] for _, u in epochs] or [records[f"unit_{key}"][:0]])
            for key in _UNIT_PARTIAL:
                tensors[f"partial_unit_{key}"] = records[f"unit_{key}"]
        metadata = {
            "format": _STATE_FORMAT,
            "format_version": str(_STATE_VERSION),
            "config": json.dumps(asdict(self.config)),
            "num_examples": str(n),
            "global_step": str(state.global_step),
            "epochs_done": str(done),
            "run": self._run_token or "",
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
            tensors = _read_state_tensors(path, self.num_examples)
            self._epoch_probs = list(tensors["epoch_gold_probs"])
            self._epoch_correct = list(tensors["epoch_correct"])
            self._epoch_margins = list(tensors["epoch_margins"])
            self._epoch_complete = [bool(x) for x in tensors["epoch_complete"]]
            self._labels = tensors["labels"] if len(tensors["labels"]) else None
            partial = {key: tensors[f"partial_{key}"] for key in _STATE_PARTIAL}
            if self._record_units:
                if "epoch_unit_epoch" not in tensors:
                    raise HfNotlikeInputError(f"{path}: the per-unit tensors (epoch_unit_*) are missing: the checkpoint was "
                                     f"saved for another task than {self._task!r}.")
                which = tensors["epoch_unit_epoch"]
                self._epoch_units = [
                    {key: tensors[f"epoch_unit_{key}"][which == e] for key in _UNIT_KEYS}
                    for e in range(len(self._epoch_probs))
                ]
                partial.update({f"unit_{key}": tensors[f"partial_unit_{key}"] for key in _UNIT_PARTIAL})
            else:
                self._epoch_units = [None] * len(self._epoch_probs)
            if len(np.unique(partial["ids"])) == self.num_examples:
                # saved at the last step of an epoch (save_strategy="steps" saves before `on_epoch_end`): that epoch
                # is finished and the resumed run starts the next one
                self._finish_epoch(partial)
            elif len(partial["ids"]):
                # every process holds the same copy; duplicates are dropped when the epoch is finished
                self._restored = {key: partial[key] for key in _STATE_PARTIAL}
                if self._record_units:
                    self._restored_units = {key: partial[f"unit_{key}"] for key in _UNIT_PARTIAL}
                # new forwards continue the per-process micro-step count of the interrupted epoch
                self._micro_step = int(partial["steps"].max()) + 1
            logger.info(f"CartographyCallback: resumed {len(self._epoch_probs)} epochs and "
                        f"{len(partial['ids'])} records from {path}.")
            return
        raise HfNotlikeInputError(
            f"Training resumes at step {state.global_step} but no CartographyCallback state "
            f"({STATE_FILE}) of this checkpoint was found (looked in: {tried}"
            + (f"; rejected: {rejected}" if rejected else "")
            + "). The data map would miss the epochs before the checkpoint: pass "
            "`CartographyCallback(resume_from_checkpoint=<the checkpoint folder you resume from>)`, or start the run "
            "from scratch with the callback attached."
        )

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
        """Build the [`DataMap`] of the epochs recorded so far.

        Args:
            dataset (`datasets.Dataset`, *optional*):
                The train dataset. Checked against the recorded examples (same number of rows) and, with
                `id_column`, the source of the example ids when `remove_unused_columns` dropped that column.
            include_incomplete (`bool`, *optional*, defaults to `False`):
                By default only complete epochs (every example seen, e.g. not the epoch a run stopped in) enter the
                map, with a warning naming how many were left out. With `True`, incomplete epochs are included too,
                and the map then holds only the examples seen in every included epoch (keyed by row index when some
                are left out; a warning says how many).
            by_row_index (`bool`, *optional*, defaults to `False`):
                Key the map by row index even when the callback has an `id_column` (e.g. when that column holds
                duplicate values: the recorded epochs stay usable).

        Raises:
            `ValueError` when nothing was recorded yet, on a dataset mismatch, or when ids are missing or duplicated.
        """
        if not isinstance(include_incomplete, bool) or not isinstance(by_row_index, bool):
            raise HfNotlikeInputError("`include_incomplete` and `by_row_index` must be True or False.")
        if self.num_examples is None or not self._epoch_probs:
            raise HfNotlikeInputError("CartographyCallback has no finished epoch yet: call `trainer.train()` with the callback "
                             "attached (at least one full epoch) before `data_map()`.")
        if include_incomplete:
            keep = list(range(len(self._epoch_complete)))
        else:
            keep = [i for i, complete in enumerate(self._epoch_complete) if complete]
            if not keep:
                raise HfNotlikeInputError("No recorded epoch saw every training example (training stopped before the end of "
                                 "the first epoch?); train for at least one full epoch, or pass "
                                 "`include_incomplete=True` for a map of the examples seen so far.")
            if len(keep) != len(self._epoch_complete):
                warnings.warn(f"CartographyCallback: {len(self._epoch_complete) - len(keep)} incomplete epoch(s) left "
                              "out of the data map (pass `include_incomplete=True` to include them).", stacklevel=2)
        probs = np.stack([self._epoch_probs[i] for i in keep], axis=1)
        correct = np.stack([self._epoch_correct[i] for i in keep], axis=1)
        margins = np.stack([self._epoch_margins[i] for i in keep], axis=1)
        labels = self._labels
        seen = np.isfinite(probs).all(axis=1)
        rows = np.flatnonzero(seen)
        if not len(rows):
            raise HfNotlikeInputError("No example was seen in every included epoch; pass `include_incomplete=False`.")
        if len(rows) < self.num_examples:
            warnings.warn(f"CartographyCallback: {self.num_examples - len(rows)} example(s) missed by an incomplete "
                          "epoch are left out of the data map.", stacklevel=2)
            if labels is None:  # no complete epoch: take the labels recorded in the included epochs
                labels = None
        id_column = None if by_row_index else self.config.id_column
        ids = None if by_row_index else self._train_ids
        dataset_name = self._dataset_name
        if dataset is not None:
            if len(dataset) != self.num_examples:
                raise HfNotlikeInputError(f"The dataset has {len(dataset)} rows but the callback recorded {self.num_examples} "
                                 "training examples: pass the train dataset the Trainer was trained on.")
            if id_column is not None:
                columns = getattr(dataset, "column_names", None) or []
                if id_column not in columns:
                    raise HfNotlikeInputError(f"`id_column={id_column!r}` is not a column of the dataset "
                                     f"(columns: {columns}).")
                ids = np.asarray(dataset[id_column])
            if dataset_name is None:
                info = getattr(dataset, "info", None)
                dataset_name = getattr(info, "dataset_name", None) or getattr(info, "builder_name", None)
        if id_column is not None and ids is None:
            raise HfNotlikeInputError(f"`id_column={id_column!r}` was dropped from the train set by "
                             "`remove_unused_columns`; pass the train dataset: `callback.data_map(dataset=train)`.")
        if id_column is not None:
            _check_unique_ids(ids, id_column, where="the train dataset")
            ids = ids[rows]
        elif len(rows) < self.num_examples:
            ids = rows.astype(np.int64)
        units, unit_kind = self._units_for(keep, rows)
        margins = margins[rows] if np.isfinite(margins[rows]).all() else None  # TRL's fused head: no logits
        return DataMap(probs[rows], correct[rows], ids, margins=margins,
                       labels=None if labels is None else labels[rows], units=units, unit_kind=unit_kind,
                       id_column=id_column,
                       model_name=self._model_name, dataset_name=dataset_name, mode=self.config.mode,
                       train_flops_per_example=self.train_flops_per_example)


    def _units_for(self, keep: list[int], rows: np.ndarray):
        """The per-unit statistics of the epochs `keep` for the examples `rows` (map order), or (None, None)."""
        if not self._record_units:
            return None, None
        chosen = [self._epoch_units[i] for i in keep]
        first = chosen[0]
        if any(u is None for u in chosen) or any(
            len(u["ids"]) != len(first["ids"]) or not np.array_equal(u["ids"], first["ids"])
            or not np.array_equal(u["index"], first["index"]) for u in chosen
        ):
            warnings.warn("CartographyCallback: the scored tokens / labels differ between epochs (random truncation "
                          "or augmentation, or an incomplete epoch): the map has no per-unit table.", stacklevel=3)
            return None, None
        inside = np.isin(first["ids"], rows)
        units = {
            "example": np.searchsorted(rows, first["ids"][inside]),
            **{key: first[key][inside] for key in ("index", "label", "position")},
            "gold_prob": np.stack([u["probs"][inside] for u in chosen], axis=1),
            "correct": np.stack([u["correct"][inside] for u in chosen], axis=1),
        }
        return units, "label" if self._task == "multi_label" else "token"


def _check_unique_ids(ids: np.ndarray, id_column: str, where: str) -> None:
    values, counts = np.unique(ids, return_counts=True)
    if len(values) != len(ids):
        duplicated = values[counts > 1][:5].tolist()
        raise HfNotlikeInputError(
            f"`id_column={id_column!r}` holds duplicate values in {where} (e.g. {duplicated}); each example needs its "
            "own id. Fix the column, or use row indices (`CartographyCallback(id_column=None)`, or "
            "`callback.data_map(by_row_index=True)` for epochs already recorded)."
        )
