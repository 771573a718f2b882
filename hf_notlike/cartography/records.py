# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Per-epoch, per-process record shards of [`CartographyCallback`] on disk, and their bounded-memory merge.

Each process writes what it recorded in one epoch to its own Parquet file (atomically, through
`hf_notlike.artifacts.atomic_path`), so no process ever receives the records of the others:

```
<records folder>/run-<token>/epoch-00001/seg-00000000-00000.rank-00000.parquet        one row per example forward
<records folder>/run-<token>/epoch-00001/seg-00000000-00000.rank-00000.units.parquet  one row per token / label
<records folder>/run-<token>/epoch-00001/partial-00000014/...                         links: the epoch so far
```

`seg-<step>` is the optimizer step the writing process started recording at (0, or the step a run was resumed at),
so the records kept from before a resume and those written after it sit side by side; `-<piece>` counts the files
one process writes in one epoch: a process writes its buffered records whenever they reach 2**20 rows, at each
checkpoint and at the epoch end, so neither its memory nor a checkpoint grows with the epoch (a checkpoint's
`partial-<step>` folder holds hard links to the files written so far). The record
columns are `id` (row index, or the id of the example for iterable datasets: int64 or string), `step` (the
process's micro-step within the epoch), `prob`, `correct`, `margin`, `label`; unit files add `index`, `position`.
The schema metadata (`hf_notlike.cartography.records`) names the rank, the world size and the number of examples.

The merge keeps, for each example id, its first occurrence: earliest `step`, then lowest rank (distributed samplers
and accelerate's iterable sharding pad the last global batch with repeated examples). It works one epoch at a time and
reads the files in record batches ([`merge_epoch`]): with row indices (map-style datasets) it keeps one dense array per
value plus one int64 priority per example; with other ids it sorts the epoch's ids. Memory is therefore bounded by one
epoch's map column (plus one record batch), never by all processes' records of all epochs
(`examples/bench_cartography_scale.py` measures it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import HfNotlikeInputError

__all__ = [
    "RECORDS_DIR",
    "EpochMerge",
    "EpochSummary",
    "MapColumns",
    "build_map_columns",
    "epoch_dir",
    "merge_epoch",
    "merge_epoch_into",
    "record_files",
    "summarize_epoch",
    "write_shard",
]

RECORDS_DIR = "cartography_records"
_META_KEY = b"hf_notlike.cartography.records"
_FORMAT_VERSION = 1
_RANK_BITS = 20  # priority key: step << 20 | rank (up to a million processes, 2**43 micro-steps per epoch)
_BATCH_ROWS = 1 << 20
_SHARD = re.compile(r"^seg-(?P<segment>\d+)(-(?P<piece>\d+))?\.rank-(?P<rank>\d+)\.parquet$")
_UNITS = re.compile(r"^seg-(?P<segment>\d+)(-(?P<piece>\d+))?\.rank-(?P<rank>\d+)\.units\.parquet$")
RECORD_COLUMNS = ("id", "step", "prob", "correct", "margin", "label")
UNIT_COLUMNS = ("id", "step", "index", "label", "position", "prob", "correct")


def epoch_dir(run_dir: str | os.PathLike, epoch: int) -> Path:
    """The folder of epoch `epoch` (0-based) of a run's records."""
    return Path(run_dir) / f"epoch-{epoch:05d}"


def shard_name(segment: int, rank: int, units: bool = False, piece: int | None = None) -> str:
    """`seg-<segment>[-<piece>].rank-<rank>[.units].parquet`: `segment` is the optimizer step the writing process
    started (or resumed) at, `piece` counts its files within the epoch."""
    middle = f"seg-{segment:08d}" + (f"-{piece:05d}" if piece is not None else "")
    return f"{middle}.rank-{rank:05d}{'.units' if units else ''}.parquet"


def shard_segment(name: str) -> int | None:
    """The segment of a shard file name (None for another name)."""
    match = _SHARD.match(name) or _UNITS.match(name)
    return int(match["segment"]) if match else None


def write_shard(path: str | os.PathLike, columns: dict[str, Any], *, rank: int, world_size: int,
                num_examples: int | None) -> None:
    """Write one process's records (equal-length 1-D columns) to the Parquet file `path`, atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..artifacts import atomic_path

    arrays = {}
    for name, values in columns.items():
        if name == "id" and isinstance(values, np.ndarray) and values.dtype.kind in "OU":
            arrays[name] = pa.array(values.tolist(), type=pa.string())
        else:
            arrays[name] = pa.array(values)
    meta = {"format_version": _FORMAT_VERSION, "rank": rank, "world_size": world_size, "num_examples": num_examples}
    table = pa.table(arrays).replace_schema_metadata({_META_KEY: json.dumps(meta).encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, str(tmp))


def link_or_copy(source: Path, target: Path) -> None:
    """Put the file `source` at `target` (a hard link when the file system allows, else an atomic copy)."""
    from ..artifacts import atomic_path

    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def record_files(folder: str | os.PathLike, units: bool = False) -> list[tuple[Path, int]]:
    """The record (or unit) shards directly in `folder`, with their rank, in a fixed order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = _UNITS if units else _SHARD
    found = []
    for name in sorted(os.listdir(folder)):
        match = pattern.match(name)
        if match:
            found.append((folder / name, int(match["rank"])))
    return found


def _read_meta(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(str(path))
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for damaged files
        raise HfNotlikeInputError(f"{path}: not a readable Parquet file ({error}); the cartography records are "
                                  "damaged: record the epochs again.") from None
    raw = (schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise HfNotlikeInputError(f"{path}: not a CartographyCallback record shard (no {_META_KEY.decode()} metadata).")
    meta = json.loads(raw)
    if meta.get("format_version") != _FORMAT_VERSION:
        raise HfNotlikeInputError(f"{path}: record shard format {meta.get('format_version')!r}; this hf_notlike reads "
                                  f"{_FORMAT_VERSION}.")
    return meta


def _id_array(column) -> np.ndarray:
    """An Arrow id column as numpy: int64, or unicode strings."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.asarray(column.to_pylist(), dtype=str) if len(column) else np.zeros(0, dtype="<U1")
    return column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _batches(path: Path, columns: list[str]):
    import pyarrow.parquet as pq

    _read_meta(path)  # a record shard of this format, readable
    try:
        handle = pq.ParquetFile(str(path))
        missing = sorted(set(columns) - set(handle.schema_arrow.names))
    except Exception as error:  # noqa: BLE001 - pyarrow raises several types for damaged files
        raise HfNotlikeInputError(f"{path}: not a readable Parquet file ({error}); the cartography records are "
                                  "damaged: record the epochs again.") from None
    if missing:
        raise HfNotlikeInputError(f"{path}: column(s) {missing} missing: not a CartographyCallback record shard.")
    yield from handle.iter_batches(batch_size=_BATCH_ROWS, columns=columns)


@dataclass
class EpochSummary:
    """What one epoch's shards hold: `records` (rows, duplicates included), `examples` (distinct ids) and the
    largest micro-step (-1 when empty). `duplicated` lists a few ids recorded twice by one process."""

    records: int
    examples: int
    max_step: int
    duplicated: list


def summarize_epoch(folder: str | os.PathLike, num_examples: int | None) -> EpochSummary:
    """Count the records and distinct examples of an epoch's shards, reading only their `id` and `step` columns."""
    files = record_files(folder)
    records, max_step = 0, -1
    if num_examples is not None:
        seen = np.zeros(num_examples, dtype=bool)
        for path, _ in files:
            for batch in _batches(path, ["id", "step"]):
                ids = _id_array(batch.column(0))
                if len(ids) and (ids.min() < 0 or ids.max() >= num_examples):
                    raise HfNotlikeInputError(f"{path}: example ids outside [0, {num_examples}): these records are "
                                              "for another train set.")
                seen[ids] = True
                records += len(ids)
                if len(ids):
                    max_step = max(max_step, int(batch.column(1).to_numpy().max()))
        return EpochSummary(records, int(seen.sum()), max_step, [])
    per_rank: dict[int, list[np.ndarray]] = {}
    for path, rank in files:
        for batch in _batches(path, ["id", "step"]):
            ids = _id_array(batch.column(0))
            per_rank.setdefault(rank, []).append(ids)
            records += len(ids)
            if len(ids):
                max_step = max(max_step, int(batch.column(1).to_numpy().max()))
    everything = [np.concatenate(parts) for parts in per_rank.values()]
    duplicated = []
    for ids in everything:  # one process's stream: the same id twice
        values, counts = np.unique(ids, return_counts=True)
        duplicated.extend(values[counts > 1][:5].tolist())
    examples = len(np.unique(np.concatenate(everything))) if everything else 0
    return EpochSummary(records, examples, max_step, duplicated[:5])


@dataclass
class EpochMerge:
    """One epoch merged: one value per example id, sorted by id.

    Args:
        ids (`np.ndarray`): The example ids seen (row indices, int64 ids or strings), sorted.
        first (`np.ndarray`): int64 priority of the occurrence kept (`step << 20 | rank`: the order first seen).
        probs, correct, margins (`np.ndarray`): float32 per example.
        labels (`np.ndarray`): int64 gold label per example (-1 for per-token and multi-label tasks).
        units (`dict[str, np.ndarray]` or None): The per-unit records of the occurrences kept, sorted by (id, index).
        records (`int`): Rows read (duplicates included).
    """

    ids: np.ndarray
    first: np.ndarray
    probs: np.ndarray
    correct: np.ndarray
    margins: np.ndarray
    labels: np.ndarray
    units: dict[str, np.ndarray] | None
    records: int


def _first_per_id(ids: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Positions of the smallest `key` of each distinct id (sorted by id)."""
    order = np.lexsort((key, ids))
    sorted_ids = ids[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    return order[first]


def merge_epoch(folder: str | os.PathLike, num_examples: int | None, units: bool = False) -> EpochMerge:
    """Merge the shards of one epoch (every process, every segment) into one value per example: the first
    occurrence (earliest micro-step, then lowest rank) of each id.

    With `num_examples` (ids are row indices in `[0, num_examples)`), the files are read in batches of 2**20 rows into
    dense arrays (memory: one epoch's columns plus one batch). Without it (ids of an iterable dataset), the epoch's ids
    and priorities are sorted (memory: one epoch's records).

    Args:
        folder (`str` or `os.PathLike`): The epoch folder (`epoch-XXXXX`).
        num_examples (`int`, *optional*): Size of a map-style train set; `None` for arbitrary ids.
        units (`bool`, *optional*, defaults to `False`): Also merge the per-unit shards.

    Returns:
        [`EpochMerge`]
    """
    files = record_files(folder)
    value_columns = ["prob", "correct", "margin", "label"]
    if num_examples is not None:
        n = num_examples
        values = {"prob": np.full(n, np.nan, np.float32), "correct": np.full(n, np.nan, np.float32),
                  "margin": np.full(n, np.nan, np.float32), "label": np.zeros(n, np.int64)}
        best, records = merge_epoch_into(folder, n, values)
        seen = np.flatnonzero(best != _UNSEEN)
        if len(seen) == n:  # every example: no copies
            merged = EpochMerge(seen, best, values["prob"], values["correct"], values["margin"], values["label"],
                                None, records)
        else:
            merged = EpochMerge(seen, best[seen], values["prob"][seen], values["correct"][seen],
                                values["margin"][seen], values["label"][seen], None, records)
        del values
    else:
        parts: dict[str, list[np.ndarray]] = {"id": [], "key": [], **{name: [] for name in value_columns}}
        for path, rank in files:
            for batch in _batches(path, ["id", "step", *value_columns]):
                parts["id"].append(_id_array(batch.column(0)))
                parts["key"].append((batch.column(1).to_numpy().astype(np.int64) << _RANK_BITS) | rank)
                for name in value_columns:
                    parts[name].append(batch.column(batch.schema.get_field_index(name)).to_numpy(
                        zero_copy_only=False))
        if not parts["id"]:
            empty = np.zeros(0, np.float32)
            return EpochMerge(np.zeros(0, np.int64), np.zeros(0, np.int64), empty, empty, empty,
                              np.zeros(0, np.int64), None, 0)
        ids = np.concatenate(parts.pop("id"))
        key = np.concatenate(parts.pop("key"))
        pick = _first_per_id(ids, key)
        columns = {name: np.concatenate(parts.pop(name))[pick] for name in value_columns}
        merged = EpochMerge(ids[pick], key[pick], columns["prob"].astype(np.float32),
                            columns["correct"].astype(np.float32), columns["margin"].astype(np.float32),
                            columns["label"].astype(np.int64), None, len(ids))
    if units:
        merged.units = _merge_units(folder, merged)
    return merged


_UNSEEN = np.iinfo(np.int64).max


def merge_epoch_into(folder: str | os.PathLike, num_examples: int, out: dict[str, np.ndarray]) -> tuple[np.ndarray, int]:
    """The dense merge of [`merge_epoch`] (ids are row indices), written straight into `out`: arrays (or strided
    views, e.g. a column of the map) of length `num_examples` for any of `prob`, `correct`, `margin`, `label`.
    Reads the shards 2**20 rows at a time. Returns the priority of the occurrence kept per example (`_UNSEEN` for
    examples not seen) and the number of records read."""
    n = num_examples
    best = np.full(n, _UNSEEN, dtype=np.int64)
    records = 0
    wanted = [name for name in ("prob", "correct", "margin", "label") if name in out]
    for path, rank in record_files(folder):
        for batch in _batches(path, ["id", "step", *wanted]):
            ids = _id_array(batch.column(0))
            if not len(ids):
                continue
            if ids.min() < 0 or ids.max() >= n:
                raise HfNotlikeInputError(f"{path}: example ids outside [0, {n}): these records are for another "
                                          "train set.")
            records += len(ids)
            key = (batch.column(1).to_numpy().astype(np.int64) << _RANK_BITS) | rank
            pick = _first_per_id(ids, key)
            rows, keys = ids[pick], key[pick]
            better = keys < best[rows]
            pick, rows = pick[better], rows[better]
            best[rows] = keys[better]
            for index, name in enumerate(wanted, start=2):
                out[name][rows] = batch.column(index).to_numpy(zero_copy_only=False)[pick]
    return best, records


def _merge_units(folder, merged: EpochMerge) -> dict[str, np.ndarray]:
    """The unit records of the occurrence kept for each example, sorted by (example id, index)."""
    kept: dict[str, list[np.ndarray]] = {name: [] for name in UNIT_COLUMNS if name != "step"}
    for path, rank in record_files(folder, units=True):
        for batch in _batches(path, list(UNIT_COLUMNS)):
            ids = _id_array(batch.column(0))
            if not len(ids):
                continue
            key = (batch.column(1).to_numpy().astype(np.int64) << _RANK_BITS) | rank
            where = np.searchsorted(merged.ids, ids)
            inside = where < len(merged.ids)
            match = np.zeros(len(ids), dtype=bool)
            match[inside] = (merged.ids[where[inside]] == ids[inside]) & (merged.first[where[inside]] == key[inside])
            kept["id"].append(ids[match])
            for name in kept:
                if name != "id":
                    column = batch.column(batch.schema.get_field_index(name)).to_numpy(zero_copy_only=False)
                    kept[name].append(column[match])
    if not kept["id"]:
        return {name: np.zeros(0, merged.ids.dtype if name == "id" else np.int64) for name in kept}
    units = {name: np.concatenate(parts) for name, parts in kept.items()}
    order = np.lexsort((units["index"], units["id"]))
    units = {name: values[order] for name, values in units.items()}
    units["prob"] = units["prob"].astype(np.float32)
    units["correct"] = units["correct"].astype(bool)
    return units


@dataclass
class MapColumns:
    """The columns of a data map built from record shards ([`build_map_columns`]).

    Args:
        probs, correct, margins (`np.ndarray`): float32 `[examples, epochs]`.
        labels (`np.ndarray` or None): Gold label per example (single-label classification).
        rows (`np.ndarray`): The example of each map row: row indices (map-style) or ids (iterable datasets).
        units (`dict` or None), unit_kind (`str` or None): The per-token / per-label table, as [`DataMap`] takes it.
    """

    probs: np.ndarray
    correct: np.ndarray
    margins: np.ndarray
    labels: np.ndarray | None
    rows: np.ndarray
    units: dict[str, np.ndarray] | None = None
    unit_kind: str | None = None


def build_map_columns(run_dir: str | os.PathLike, epochs: list[int], *, num_examples: int | None,
                      label_epoch: int | None = None, units: str | None = None) -> MapColumns:
    """Merge the epochs `epochs` of a run's record shards, one epoch at a time, into data-map columns.

    With `num_examples` (a map-style run) each epoch is merged straight into its column, indexed by row, and the
    map keeps the rows seen in every epoch (row order). Otherwise (ids of an iterable dataset) the epochs are merged
    one by one, the map keeps the ids seen in every epoch, in the order first seen in the first of `epochs`.

    Args:
        run_dir (`str` or `os.PathLike`): A run's records folder (`.../run-<token>`).
        epochs (`list[int]`): The epochs to include, in map column order.
        num_examples (`int`, *optional*): Size of a map-style train set; `None` for ids.
        label_epoch (`int`, *optional*): The epoch whose gold labels the map keeps (single-label classification).
        units (`str`, *optional*): The task, when per-unit shards were written (`"multi_label"` gives a per-label
            table, other tasks a per-token one).

    Returns:
        [`MapColumns`]
    """
    if not epochs:
        raise HfNotlikeInputError("`epochs` must name at least one recorded epoch.")
    missing = [epoch for epoch in epochs if not record_files(epoch_dir(run_dir, epoch))]
    if missing:
        raise HfNotlikeInputError(
            f"The record shards of epoch(s) {[epoch + 1 for epoch in missing]} are missing from {run_dir}: the folder "
            "was deleted or moved after training (e.g. a temporary `output_dir`). Build the map before removing it, "
            "or set `CartographyCallback(records_dir=...)` to a folder that outlives the run."
        )

    unit_epochs = []
    if num_examples is not None:
        n = num_examples
        probs = np.full((n, len(epochs)), np.nan, np.float32)
        correct = np.full((n, len(epochs)), np.nan, np.float32)
        margins = np.full((n, len(epochs)), np.nan, np.float32)
        labels = None
        for column, epoch in enumerate(epochs):
            out = {"prob": probs[:, column], "correct": correct[:, column], "margin": margins[:, column]}
            if epoch == label_epoch:
                labels = np.zeros(n, np.int64)
                out["label"] = labels
            best, _ = merge_epoch_into(epoch_dir(run_dir, epoch), n, out)
            if units is not None:
                seen = np.flatnonzero(best != _UNSEEN)
                unit_epochs.append(_merge_units(epoch_dir(run_dir, epoch), EpochMerge(
                    seen, best[seen], *(np.zeros(0, np.float32),) * 3, np.zeros(0, np.int64), None, 0)))
            del best
        if label_epoch is not None and label_epoch not in epochs:
            labels = np.zeros(n, np.int64)
            merge_epoch_into(epoch_dir(run_dir, label_epoch), n, {"label": labels})
        seen = np.isfinite(probs).all(axis=1)
        rows = np.flatnonzero(seen)
        if len(rows) < n:
            probs, correct, margins = probs[rows], correct[rows], margins[rows]
        if labels is not None and len(rows) < n:
            labels = labels[rows]
    else:
        merges = {epoch: merge_epoch(epoch_dir(run_dir, epoch), None, units=units is not None) for epoch in sorted(set(epochs) | ({label_epoch} - {None}))}
        rows = merges[epochs[0]].ids
        for epoch in epochs[1:]:
            rows = np.intersect1d(rows, merges[epoch].ids, assume_unique=True)
        first = merges[epochs[0]]
        rows = rows[np.argsort(first.first[np.searchsorted(first.ids, rows)], kind="stable")]  # order first seen
        stacked = {"probs": [], "correct": [], "margins": []}
        for epoch in epochs:
            where = np.searchsorted(merges[epoch].ids, rows)
            for name in stacked:
                stacked[name].append(getattr(merges[epoch], name)[where])
            unit_epochs.append(merges[epoch].units)
        labels = None
        if label_epoch is not None:
            labels = merges[label_epoch].labels[np.searchsorted(merges[label_epoch].ids, rows)]
        del merges
        probs, correct, margins = (np.stack(stacked[name], axis=1) for name in ("probs", "correct", "margins"))
    columns = MapColumns(probs, correct, margins, labels, rows)
    if units is not None:
        columns.units = _stack_units(unit_epochs, rows)
        if columns.units is not None:
            columns.unit_kind = "label" if units == "multi_label" else "token"
    return columns


def _stack_units(chosen: list[dict[str, np.ndarray] | None], rows: np.ndarray) -> dict[str, np.ndarray] | None:
    """The per-unit statistics of the included epochs for the map's rows `rows` (ids, map order), or None (with a
    warning) when the units differ between epochs."""
    import warnings

    first = chosen[0]
    if any(u is None for u in chosen) or any(
        len(u["id"]) != len(first["id"]) or not np.array_equal(u["id"], first["id"])
        or not np.array_equal(u["index"], first["index"]) for u in chosen
    ):
        warnings.warn("CartographyCallback: the scored tokens / labels differ between epochs (random truncation "
                      "or augmentation, or an incomplete epoch): the map has no per-unit table.", stacklevel=4)
        return None
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    where = np.searchsorted(sorted_rows, first["id"])
    inside = where < len(rows)
    inside[inside] = sorted_rows[where[inside]] == first["id"][inside]
    return {
        "example": order[where[inside]],
        **{key: first[key][inside] for key in ("index", "label", "position")},
        "gold_prob": np.stack([u["prob"][inside] for u in chosen], axis=1),
        "correct": np.stack([u["correct"][inside] for u in chosen], axis=1),
    }
