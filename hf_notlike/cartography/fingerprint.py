# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Fingerprint of a train set (content and order) and of the options that shape a data map, so that a resumed
[`CartographyCallback`] run can prove it continues on the examples its checkpoint was recorded on.

A checkpointed map holds one column per epoch, indexed by row: resuming on a reshuffled, relabelled or replaced train
set of the same size would silently mix two sets of examples. [`TrainSetFingerprint`] keeps one 64-bit hash per row of
the input columns and one of the label columns, in dataset order (16 bytes per example in the checkpoint), which is
enough to say *what* changed: the order (the same rows, permuted), the labels (same inputs, other labels), the content
(other rows) or the options.

Why not `datasets.Dataset._fingerprint`: it is derived from the history of transforms (and is random for in-memory
tables and for `map` functions that cannot be hashed), so two datasets with identical rows can have different
fingerprints (a false refusal), and a dataset whose files were rewritten in place can keep its fingerprint (a silent
wrong map). The rows themselves are hashed instead, from the Arrow columns in chunks (no Python object per value),
with integers widened to int64 and floats to float64 so a cast that keeps the values keeps the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import HfNotlikeInputError

__all__ = ["LABEL_COLUMNS", "TrainSetFingerprint", "check_resume", "map_options", "read_fingerprint", "train_set_fingerprint"]

# columns holding the gold labels (the stock collators rename `label` / `label_ids` to `labels`)
LABEL_COLUMNS = ("label", "labels", "label_ids")
_CHUNK_ROWS = 4096
_FORMAT = "1"


def map_options(mode: str, id_column: str | None, label_key: str, task: str, token_table: bool) -> dict[str, Any]:
    """The callback options that change what a data map holds (not `profile`, `dataset_name` or where the state is
    reloaded from)."""
    return {"mode": mode, "id_column": id_column, "label_key": label_key, "task": task, "token_table": token_table}


@dataclass
class TrainSetFingerprint:
    """Per-row hashes of a train set and the map-shaping options.

    Args:
        input_rows (`np.ndarray`): uint64 `[N]`, a hash of each row's input columns (name, type and values).
        label_rows (`np.ndarray`): uint64 `[N]`, a hash of each row's label columns (zeros when there are none).
        options (`dict`): The map-shaping options ([`map_options`]).
    """

    input_rows: np.ndarray
    label_rows: np.ndarray
    options: dict[str, Any]

    @property
    def num_examples(self) -> int:
        return len(self.input_rows)

    @property
    def digest(self) -> str:
        """A short hex digest of everything (content, order, options), for logs and metadata."""
        hasher = hashlib.sha256(json.dumps(self.options, sort_keys=True).encode())
        hasher.update(np.ascontiguousarray(self.input_rows).tobytes())
        hasher.update(np.ascontiguousarray(self.label_rows).tobytes())
        return hasher.hexdigest()[:16]

    def to_state(self) -> tuple[dict[str, str], dict[str, np.ndarray]]:
        """Metadata strings and tensors for the checkpoint's safetensors file."""
        metadata = {"fingerprint_format": _FORMAT, "fingerprint": self.digest,
                    "map_options": json.dumps(self.options, sort_keys=True)}
        return metadata, {"fingerprint_inputs": self.input_rows, "fingerprint_labels": self.label_rows}

    @classmethod
    def from_state(cls, metadata: dict[str, str], tensors: dict[str, np.ndarray]) -> TrainSetFingerprint | None:
        """The fingerprint saved with a checkpoint, or None for a checkpoint written without one."""
        if "fingerprint_format" not in metadata:
            return None
        if metadata["fingerprint_format"] != _FORMAT or "fingerprint_inputs" not in tensors or (
            "fingerprint_labels" not in tensors
        ):
            raise HfNotlikeInputError(f"the train-set fingerprint of the checkpoint has format "
                             f"{metadata['fingerprint_format']!r} or misses its tensors; this hf_notlike reads "
                             f"format {_FORMAT!r}.")
        inputs, labels = tensors["fingerprint_inputs"], tensors["fingerprint_labels"]
        if inputs.dtype != np.uint64 or labels.dtype != np.uint64 or inputs.shape != labels.shape or inputs.ndim != 1:
            raise HfNotlikeInputError("the train-set fingerprint tensors of the checkpoint are damaged (dtype or shape).")
        return cls(inputs, labels, json.loads(metadata.get("map_options", "{}")))

    def differences(self, saved: TrainSetFingerprint) -> list[str]:
        """What differs between `saved` (the checkpoint's) and this fingerprint (the run's), in words; empty when
        the resumed run continues on the same examples in the same order with the same options."""
        changes = []
        options = sorted(key for key in {*self.options, *saved.options}
                         if self.options.get(key) != saved.options.get(key))
        if options:
            changes.append("options: " + ", ".join(f"{key}={saved.options.get(key)!r} in the checkpoint, "
                                                    f"{self.options.get(key)!r} now" for key in options))
        if self.num_examples != saved.num_examples:
            changes.append(f"size: the checkpoint was recorded on {saved.num_examples} examples, the train set has "
                           f"{self.num_examples}")
            return changes
        same_inputs = np.array_equal(self.input_rows, saved.input_rows)
        same_labels = np.array_equal(self.label_rows, saved.label_rows)
        if same_inputs and same_labels:
            return changes
        if same_inputs:
            row = _first_difference(self.label_rows, saved.label_rows)
            changes.append(f"labels: the same inputs in the same order, but other labels (first at row {row})")
            return changes
        now = _row_keys(self.input_rows, self.label_rows)
        before = _row_keys(saved.input_rows, saved.label_rows)
        if np.array_equal(np.sort(now), np.sort(before)):
            row = _first_difference(now, before)
            old_row = int(np.flatnonzero(before == now[row])[0])
            changes.append(f"order: the same examples, reshuffled (row {row} now holds the example that was row "
                           f"{old_row})")
        elif np.array_equal(np.sort(self.input_rows), np.sort(saved.input_rows)):
            changes.append("order and labels: the same inputs, reshuffled, with other labels")
        else:
            row = _first_difference(self.input_rows, saved.input_rows)
            changes.append(f"content: other examples (first at row {row})")
        return changes


def _first_difference(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.flatnonzero(a != b)[0])


def _row_keys(inputs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One uint64 per row combining its input and label hashes (order-sensitive within the row)."""
    with np.errstate(over="ignore"):
        return inputs * np.uint64(0x9E3779B97F4A7C15) ^ labels


def check_resume(saved: TrainSetFingerprint | None, current: TrainSetFingerprint, path: str) -> None:
    """Raise a `ValueError` saying what changed when `current` is not the train set and options `saved` with the
    checkpoint at `path`; a checkpoint without a fingerprint (older hf_notlike) is only checked for its size."""
    if saved is None:
        return
    changes = current.differences(saved)
    if not changes:
        return
    raise HfNotlikeInputError(
        f"CartographyCallback cannot resume from {path}: the run does not continue the one the checkpoint recorded. "
        f"What changed: {'; '.join(changes)}. The epochs in the checkpoint describe the rows it was recorded on, so "
        "the data map would mix different examples. Resume with the same train dataset (same rows, same order, same "
        "labels, e.g. the same shuffle/select seed) and the same CartographyCallback options, or start fresh: "
        "`trainer.train(resume_from_checkpoint=None)` or a new `output_dir`."
    )


# ------------------------------------------------------------------------------------------------------ hashing
def train_set_fingerprint(dataset: Any, options: dict[str, Any], label_columns: tuple[str, ...] = LABEL_COLUMNS,
                          chunk_rows: int = _CHUNK_ROWS) -> TrainSetFingerprint:
    """Hash every row of `dataset` (in dataset order): its label columns apart from the rest.

    Args:
        dataset (`datasets.Dataset` or a map-style dataset of dicts):
            The train set as the model sees it (after `remove_unused_columns`). A `datasets.Dataset` is read as
            Arrow (its stored rows, without format transforms); another dataset is read item by item.
        options (`dict`): The map-shaping options ([`map_options`]).
        label_columns (`tuple[str, ...]`, *optional*): Columns hashed as labels.
        chunk_rows (`int`, *optional*, defaults to 4096): Rows read at once from a `datasets.Dataset`.

    Example:

    ```python
    >>> import datasets
    >>> data = datasets.Dataset.from_dict({"input_ids": [[1, 2], [3]], "label": [0, 1]})
    >>> a = train_set_fingerprint(data, {})
    >>> b = train_set_fingerprint(data.select([1, 0]), {})
    >>> b.differences(a)
    ['order: the same examples, reshuffled (row 0 now holds the example that was row 1)']
    ```
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - datasets is a dependency
        datasets = None
    if datasets is not None and isinstance(dataset, datasets.Dataset):
        inputs, labels = _hash_arrow_dataset(dataset, label_columns, chunk_rows)
    else:
        inputs, labels = _hash_items(dataset, label_columns)
    return TrainSetFingerprint(inputs, labels, dict(options))


def _hash_arrow_dataset(dataset, label_columns, chunk_rows) -> tuple[np.ndarray, np.ndarray]:
    n = len(dataset)
    names = list(dataset.column_names)
    groups = ([c for c in names if c not in label_columns], [c for c in names if c in label_columns])
    arrow = dataset.with_format("arrow")
    out = (np.zeros(n, np.uint64), np.zeros(n, np.uint64))
    for start in range(0, n, chunk_rows):
        table = arrow[start:start + chunk_rows]  # rows in dataset order (indices mapping applied)
        for columns, hashes in zip(groups, out):
            streams, header = [], []
            for name in columns:
                column = table.column(name).combine_chunks()
                header.append(f"{name}:{_canonical_type(column.type)}")
                streams.extend(_streams(column))
            hashes[start:start + len(table)] = _hash_rows(streams, len(table), "\0".join(header).encode())
    return out


def _canonical_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return f"list<{_canonical_type(arrow_type.value_type)}>"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "str"
    return str(arrow_type)


Stream = tuple[np.ndarray, np.ndarray]  # (uint8 data, int64 offsets [rows + 1]): row i is data[off[i]:off[i + 1]]


def _streams(array) -> list[Stream]:
    """Canonical bytes of each row of an Arrow array, as streams whose row slices together identify the row's value
    (values, and for lists the number of elements, recursively)."""
    import pyarrow as pa

    rows = len(array)
    kind = array.type
    if array.null_count == 0:
        if pa.types.is_integer(kind) or pa.types.is_boolean(kind) or pa.types.is_floating(kind):
            values = array.to_numpy(zero_copy_only=False)
            values = values.astype(np.float64 if values.dtype.kind == "f" else np.int64)
            return [(values.view(np.uint8), np.arange(rows + 1, dtype=np.int64) * 8)]
        if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            if pa.types.is_fixed_size_list(kind):
                offsets = np.arange(rows + 1, dtype=np.int64) * kind.list_size
            else:
                offsets = np.asarray(array.offsets, dtype=np.int64)
                offsets = offsets - offsets[0]
            child = array.flatten()
            lengths = np.diff(offsets)
            streams = [(lengths.view(np.uint8), np.arange(rows + 1, dtype=np.int64) * 8)]
            for data, child_offsets in _streams(child):
                streams.append((data, child_offsets[offsets]))  # a row spans the bytes of its elements
            return streams
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind) or (
            pa.types.is_large_binary(kind)
        ):
            array = array.cast(pa.large_binary())
            buffers = array.buffers()
            offsets = np.frombuffer(buffers[1], np.int64)[array.offset:array.offset + rows + 1]
            data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
            return [(data, offsets.astype(np.int64))]
    # anything else (nulls, structs, dictionaries): one JSON text per row
    texts = [json.dumps(value, sort_keys=True, default=repr).encode() for value in array.to_pylist()]
    return [_bytes_stream(texts)]


def _bytes_stream(texts: list[bytes]) -> Stream:
    offsets = np.zeros(len(texts) + 1, np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    return np.frombuffer(b"".join(texts), np.uint8), offsets


def _hash_rows(streams: list[Stream], rows: int, header: bytes) -> np.ndarray:
    """One 64-bit BLAKE2b hash per row: the column names and types (`header`), then every stream's slice of that
    row, each prefixed by its length."""
    out = np.empty(rows, np.uint64)
    views = [(memoryview(np.ascontiguousarray(data)), offsets.tolist()) for data, offsets in streams]
    seed = hashlib.blake2b(header, digest_size=8)
    for i in range(rows):
        hasher = seed.copy()
        for data, offsets in views:
            start, stop = offsets[i], offsets[i + 1]
            hasher.update((stop - start).to_bytes(8, "little"))
            hasher.update(data[start:stop])
        out[i] = int.from_bytes(hasher.digest(), "little")
    return out


def _hash_items(dataset, label_columns) -> tuple[np.ndarray, np.ndarray]:
    """Row hashes of a map-style dataset read item by item (e.g. a `torch.utils.data.Dataset` of dicts)."""
    n = len(dataset)
    out = (np.zeros(n, np.uint64), np.zeros(n, np.uint64))
    for i in range(n):
        item = dataset[i]
        fields = sorted(item.items()) if isinstance(item, dict) else [("", item)]
        for is_label, hashes in ((False, out[0]), (True, out[1])):
            hasher = hashlib.blake2b(digest_size=8)
            for key, value in fields:
                if (key in label_columns) == is_label:
                    data = _value_bytes(value)
                    hasher.update(str(key).encode() + b"\0" + len(data).to_bytes(8, "little"))
                    hasher.update(data)
            hashes[i] = int.from_bytes(hasher.digest(), "little")
    return out


def _value_bytes(value) -> bytes:
    if isinstance(value, str | bytes):
        return b"s" + (value.encode() if isinstance(value, str) else value)
    try:
        import torch

        if torch.is_tensor(value):
            value = value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover
        pass
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists
        return b"j" + json.dumps(value, sort_keys=True, default=repr).encode()
    if array.dtype.kind in "biu":
        array = array.astype(np.int64)
    elif array.dtype.kind == "f":
        array = array.astype(np.float64)
    else:
        return b"j" + json.dumps(value, sort_keys=True, default=repr).encode()
    return array.dtype.kind.encode() + str(array.shape).encode() + np.ascontiguousarray(array).tobytes()


def read_fingerprint(path: str, metadata: dict[str, str]) -> TrainSetFingerprint | None:
    """The fingerprint saved in the safetensors state file at `path` (whose `metadata` was read already), or None
    for a state written without one."""
    if "fingerprint_format" not in metadata:
        return None
    from safetensors import safe_open

    with safe_open(path, framework="numpy") as handle:
        names = set(handle.keys())
        tensors = {name: handle.get_tensor(name) for name in ("fingerprint_inputs", "fingerprint_labels")
                   if name in names}
    try:
        return TrainSetFingerprint.from_state(metadata, tensors)
    except ValueError as error:
        raise HfNotlikeInputError(f"{path}: {error} Resume with the hf_notlike version that wrote it, or start fresh.") from None
