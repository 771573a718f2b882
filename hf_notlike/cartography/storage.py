# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The files of a saved data map: writing a folder atomically and reading it back, checked.

`DataMap.save_pretrained` / `DataMap.from_pretrained` call [`save_data_map`] / [`load_data_map`]; the folder layout is
described in `hf_notlike.cartography.datamap`. The files that belong together (`data_map.parquet`, `data_map.json`
and the per-unit table) are named with their sizes and sha256 in `manifest.json`, written last; the whole folder is
committed in one step through `hf_notlike.artifacts.staged_folder`, so a crash or a concurrent save never leaves a
folder that loads as a mix.

Opening is lazy ([`MapColumns`]): `data_map.parquet` is memory-mapped and each column is decoded when the map first
needs it (`select("ambiguous", ...)` reads `variability` and `id`, never the per-epoch lists). The manifest also
holds the sha256 of every 4 MiB chunk of the large files (`MANIFEST_CHUNK_BYTES`): at open every file's size is
checked; a map whose table is at most `VERIFY_AT_OPEN_BYTES` (64 MiB, about 1.5 million examples x 3 epochs) is then
read completely (hashed whole, every column decoded and checked: bad files are refused by `from_pretrained` itself);
for larger ones the chunks holding a column are hashed before the column is decoded. Every byte a map uses is
hashed once, straight from the mapping (no copy), and the bytes of columns never used are never hashed: opening a map
of 10 million examples costs milliseconds instead of the seconds a full sha256 of its ~400 MB would take. A corrupted
chunk is reported (`ArtifactError`) by the operation that first uses it. `DataMap.from_pretrained(..., lazy=False)`
reads and checks everything at once, as before.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..artifacts import CheckedFile, open_files, read_files, staged_folder, write_json
from ..errors import HfNotlikeInputError

if TYPE_CHECKING:
    from .datamap import DataMap

__all__ = [
    "save_data_map", "load_data_map", "MapColumns", "MAP_FIX", "DATA_MAP_FILE", "METADATA_FILE", "PLOT_FILE",
    "UNIT_FILES",
]

DATA_MAP_FILE = "data_map.parquet"
METADATA_FILE = "data_map.json"
PLOT_FILE = "data_map.png"
UNIT_FILES = {"token": "data_map_tokens.parquet", "label": "data_map_labels.parquet"}
FORMAT_VERSION = 1
PER_EPOCH_COLUMNS = ("gold_prob", "correct", "margin")  # one list per example, one value per epoch
# per-chunk hashes in the manifest (files above one chunk), and the table size up to which a map is read completely at
# open (hashed whole, every column decoded and checked, as `lazy=False` does); larger maps open lazily
MANIFEST_CHUNK_BYTES = 4 << 20
VERIFY_AT_OPEN_BYTES = 64 << 20
# the per-example statistics stored beside the per-epoch lists (what a lazily opened map reads instead of deriving them)
STAT_COLUMNS = {"confidence": "float32", "variability": "float32", "correctness": "float32", "forgetfulness": "int32",
                "aum": "float32"}

MAP_FIX = (
    "Save the map again with `DataMap.save_pretrained` (or copy the whole folder again); to load the files as they "
    "are, delete manifest.json from the folder."
)


def save_data_map(
    data_map: DataMap, save_directory: str | os.PathLike, *, card: bool = True, plot: bool = True,
    repo_id: str | None = None,
) -> Path:
    """Write `data_map` into `save_directory` as one atomic commit (see [`DataMap.save_pretrained`])."""
    import pyarrow.parquet as pq

    folder = Path(save_directory)
    if folder.exists() and not folder.is_dir():
        raise HfNotlikeInputError(f"`save_directory` {str(folder)!r} is a file; pass a folder.")
    files = [DATA_MAP_FILE, METADATA_FILE]
    if data_map.units is not None:
        files.append(UNIT_FILES[data_map.unit_kind])
    with staged_folder(folder, manifest=files, chunk_size=MANIFEST_CHUNK_BYTES) as staging:
        pq.write_table(data_map.to_arrow(), staging / DATA_MAP_FILE)
        if data_map.units is not None:
            pq.write_table(data_map._units_arrow(), staging / UNIT_FILES[data_map.unit_kind])
        write_json(staging / METADATA_FILE, data_map.metadata())
        if plot:
            data_map.plot(staging / PLOT_FILE)
        if card:
            _write_card(data_map, staging, repo_id=repo_id)
    return folder


def load_data_map(cls: type[DataMap], folder: Path, source: str, *, lazy: bool = True) -> DataMap:
    """Read the data map saved in the local `folder` (`source`: what the user passed, for messages), checking its
    files against the manifest: lazily ([`MapColumns`], the default) or everything at once (`lazy=False`)."""
    missing = [name for name in (DATA_MAP_FILE, METADATA_FILE) if not (folder / name).is_file()]
    if missing:
        raise HfNotlikeInputError(
            f"{source!r} is not a saved data map: missing {missing} (write one with `DataMap.save_pretrained`)."
        )
    if not lazy:
        return _load_eager(cls, folder)

    def open_map(names: list[str]) -> tuple[dict[str, CheckedFile], dict[str, Any]]:
        files = open_files(folder, names, what="data map", fix=MAP_FIX, check_below=VERIFY_AT_OPEN_BYTES)
        files[METADATA_FILE].check()
        return files, read_metadata(folder / METADATA_FILE, bytes(files[METADATA_FILE].buffer))

    files, meta, kind = _read_consistent(folder, open_map)
    columns = MapColumns(folder / DATA_MAP_FILE, files[DATA_MAP_FILE], meta)
    units_file = files.get(UNIT_FILES[kind]) if kind else None
    if kind is not None and units_file is None:
        raise HfNotlikeInputError(f"{folder / UNIT_FILES[kind]} is missing (the map's {METADATA_FILE} says unit_kind={kind!r}).")

    def read_unit_table(ids: np.ndarray) -> dict[str, np.ndarray]:
        import pyarrow as pa

        units_file.check()
        return read_units(units_file.path, pa.py_buffer(units_file.buffer), meta, ids)

    try:
        data_map = cls._open(columns, meta, read_unit_table if kind else None)
    except ValueError as error:
        raise HfNotlikeInputError(f"{folder / DATA_MAP_FILE}: {error}") from None
    if columns.file.size <= VERIFY_AT_OPEN_BYTES:  # small: everything now, errors from `from_pretrained` itself
        data_map._read_all()
    return data_map


def _read_consistent(folder: Path, read: Callable[[list[str]], tuple[Any, dict[str, Any]]]) -> tuple[Any, dict[str, Any], str | None]:
    """`read(names) -> (files, metadata)` the map's files, again if the metadata names a unit table other than the one
    read (its name is in the metadata, and a concurrent save may change it); returns the files, the metadata and the
    unit kind. Shared by the lazy and the eager load."""
    kind = None
    for _ in range(3):
        names = [DATA_MAP_FILE, METADATA_FILE] + ([UNIT_FILES[kind]] if kind else [])
        try:
            files, meta = read(names)
        except FileNotFoundError as error:
            raise HfNotlikeInputError(f"{error.filename} is missing (the map's {METADATA_FILE} says unit_kind={kind!r}).") from None
        if meta.get("unit_kind") == kind:
            return files, meta, kind
        kind = meta.get("unit_kind")
    raise HfNotlikeInputError(f"{folder}: {METADATA_FILE} keeps changing while it is read (concurrent saves); try again.")


def _load_eager(cls: type[DataMap], folder: Path) -> DataMap:
    """Read every file into memory, check it whole against the manifest, decode every column and check every value
    (`DataMap.from_pretrained(..., lazy=False)`)."""

    def read_map(names: list[str]) -> tuple[dict[str, bytes], dict[str, Any]]:
        raw = read_files(folder, names, what="data map", fix=MAP_FIX)
        return raw, read_metadata(folder / METADATA_FILE, raw[METADATA_FILE])

    raw, meta, _ = _read_consistent(folder, read_map)
    arrays = read_table(folder / DATA_MAP_FILE, raw[DATA_MAP_FILE], meta)
    units = None
    if meta.get("unit_kind") is not None:
        name = UNIT_FILES[meta["unit_kind"]]
        units = read_units(folder / name, raw[name], meta, arrays["id"])
    try:
        return cls(
            arrays["gold_prob"], arrays["correct"], arrays["id"], margins=arrays.get("margin"),
            labels=arrays.get("label"), units=units, unit_kind=meta.get("unit_kind"),
            id_column=meta.get("id_column"), model_name=meta.get("model"),
            dataset_name=meta.get("dataset"), mode=meta.get("mode", "training"),
            train_flops_per_example=meta.get("train_flops_per_example"),
        )
    except ValueError as error:
        raise HfNotlikeInputError(f"{folder / DATA_MAP_FILE}: {error}") from None


class MapColumns:
    """The columns of a saved `data_map.parquet`, memory-mapped and decoded one at a time when first read.

    At construction only the Parquet footer is checked (against the manifest) and parsed: the column names and
    types, and the row count against `data_map.json`. [`read`] checks the bytes of one column against the manifest
    (`hf_notlike.artifacts.CheckedFile.check`), decodes it row group by row group into one numpy array, and checks
    its nulls and list lengths, with errors naming the file and the column.

    Args:
        path (`Path`): The file (for messages).
        file ([`~hf_notlike.artifacts.CheckedFile`]): The file, opened by `hf_notlike.artifacts.open_files`.
        meta (`dict`): The checked `data_map.json`.
    """

    def __init__(self, path: Path, file: CheckedFile, meta: dict[str, Any]):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.path, self.file = path, file
        self.num_examples, self.num_epochs = meta["num_examples"], meta["num_epochs"]
        size = file.size
        try:
            if size < 12:
                raise OSError(f"{size} bytes is too short for Parquet")
            footer = int.from_bytes(file.buffer[size - 8:size - 4], "little")
            file.check(max(size - 8 - footer, 0), size)  # the footer: the schema and where each column lies
            self.parquet = pq.ParquetFile(pa.BufferReader(pa.py_buffer(file.buffer)))
            schema = self.parquet.schema_arrow
        except (pa.ArrowException, OSError) as error:
            file.check()  # a damaged file whose manifest says otherwise is reported as a mismatch
            raise HfNotlikeInputError(f"{path}: not a readable Parquet file ({error}).") from None
        self.trusted = file.covered  # covered by a manifest: the bytes save_pretrained wrote
        required = ["id", "gold_prob", "correct"]
        missing = [name for name in required if name not in schema.names]
        if missing:
            raise HfNotlikeInputError(f"{path}: column(s) {missing} missing (columns: {schema.names}).")
        rows = self.parquet.metadata.num_rows
        if rows != self.num_examples:
            raise HfNotlikeInputError(f"{path} does not match {METADATA_FILE}: {rows} rows for num_examples={self.num_examples}.")
        self.types = {name: schema.field(name).type for name in schema.names}
        for name in (*PER_EPOCH_COLUMNS, "id", "label"):
            if name in self.types:
                check_column_type(path, name, self.types[name])
        metadata = self.parquet.metadata
        self._spans: dict[str, list[tuple[int, int]]] = {}
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                start = chunk.data_page_offset
                if chunk.has_dictionary_page and chunk.dictionary_page_offset:
                    start = min(start, chunk.dictionary_page_offset)
                top = chunk.path_in_schema.split(".")[0]
                self._spans.setdefault(top, []).append((start, start + chunk.total_compressed_size))

    def has(self, name: str) -> bool:
        """Whether the file has the column `name`."""
        return name in self.types

    def has_stat(self, name: str) -> bool:
        """Whether the file holds the statistic `name` as `save_pretrained` writes it (and is covered by a
        manifest, so the values are the ones it wrote)."""
        import pyarrow as pa

        return self.trusted and name in self.types and self.types[name] == pa.from_numpy_dtype(STAT_COLUMNS[name])

    def read(self, name: str) -> np.ndarray:
        """Decode the column `name`: shape `(num_examples,)`, or `(num_examples, num_epochs)` for the per-epoch
        lists, after checking its bytes against the manifest."""
        import pyarrow as pa

        for start, stop in self._spans.get(name, [(0, self.file.size)]):
            self.file.check(start, stop)
        n, e = self.num_examples, self.num_epochs
        per_epoch = name in PER_EPOCH_COLUMNS
        out: np.ndarray | None = None
        row = 0
        for group in range(self.parquet.metadata.num_row_groups):
            try:
                column = self.parquet.read_row_group(group, columns=[name]).column(0)
            except (pa.ArrowException, OSError) as error:
                raise HfNotlikeInputError(f"{self.path}: cannot read column {name!r} ({error}).") from None
            for chunk in column.chunks:
                if chunk.null_count:
                    raise HfNotlikeInputError(f"{self.path}: column {name!r} has {chunk.null_count} null value(s).")
                if per_epoch:
                    lengths = chunk.value_lengths().to_numpy(zero_copy_only=False)
                    values = chunk.flatten()
                    if values.null_count or (lengths != e).any():
                        raise HfNotlikeInputError(f"{self.path}: column {name!r} must hold exactly {e} non-null values per "
                                                  f"example (num_epochs in {METADATA_FILE}).")
                    part = values.to_numpy(zero_copy_only=False).reshape(-1, e)
                else:
                    part = chunk.to_numpy(zero_copy_only=False)
                if out is None:
                    out = np.empty((n, e) if per_epoch else (n,), dtype=part.dtype)
                elif part.dtype != out.dtype:
                    out = out.astype(np.result_type(out.dtype, part.dtype))
                out[row:row + len(part)] = part
                row += len(part)
        if out is None or row != n:
            raise HfNotlikeInputError(f"{self.path} does not match {METADATA_FILE}: {row} rows for num_examples={n}.")
        return out


def read_metadata(path: Path, raw: bytes) -> dict[str, Any]:
    """Check `data_map.json` (its bytes `raw`): every field with its type, with an error naming the file and the
    field."""
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HfNotlikeInputError(f"{path}: not valid JSON ({error}).") from None
    if not isinstance(meta, dict):
        raise HfNotlikeInputError(f"{path}: expected a JSON object with the map's metadata; got a {type(meta).__name__}.")
    version = meta.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise HfNotlikeInputError(f"{path}: field 'format_version' must be a non-negative integer; got {version!r}.")
    if version > FORMAT_VERSION:
        raise HfNotlikeInputError(
            f"{path}: this data map has format_version {version}; this hf_notlike reads up to {FORMAT_VERSION}: "
            "upgrade hf_notlike."
        )
    for name in ("num_examples", "num_epochs"):
        value = meta.get(name)
        if value is None:
            raise HfNotlikeInputError(f"{path}: field {name!r} is missing.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HfNotlikeInputError(f"{path}: field {name!r} must be a positive integer; got {value!r}.")
    for name in ("id_column", "model", "dataset"):
        if meta.get(name) is not None and not isinstance(meta[name], str):
            raise HfNotlikeInputError(f"{path}: field {name!r} must be a string or null; got {meta[name]!r}.")
    if meta.get("unit_kind") not in (None, *UNIT_FILES):
        raise HfNotlikeInputError(f"{path}: field 'unit_kind' must be null, 'token' or 'label'; got {meta.get('unit_kind')!r}.")
    if meta.get("mode", "training") not in ("training", "rescore"):
        raise HfNotlikeInputError(f"{path}: field 'mode' must be 'training' or 'rescore'; got {meta.get('mode')!r}.")
    return meta


def check_column_type(path: Path, name: str, kind: Any) -> None:
    """Refuse a `data_map.parquet` column whose Arrow type is not what the map stores (the same check for the eager
    read and the lazy open): per-epoch columns are lists of floats (`correct`: booleans, or 0/1 numbers), `id` and
    `label` integers or strings."""
    import pyarrow as pa

    if name in PER_EPOCH_COLUMNS:
        if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)):
            raise HfNotlikeInputError(f"{path}: column {name!r} must hold one list per example (one value per epoch); "
                                      f"got type {kind}.")
        value_kind = kind.value_type
        if name == "correct":
            valid = pa.types.is_boolean(value_kind) or pa.types.is_integer(value_kind) or pa.types.is_floating(value_kind)
        else:
            valid = pa.types.is_floating(value_kind)
        if not valid:
            raise HfNotlikeInputError(f"{path}: column {name!r} has values of type {value_kind}; expected "
                                      f"{'bool' if name == 'correct' else 'float'}.")
    elif not (pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise HfNotlikeInputError(f"{path}: column {name!r} must hold integers or strings; got type {kind}.")


def read_table(path: Path, data: bytes, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read `data_map.parquet` (its bytes `data`) into arrays (id, gold_prob, correct, and margin / label when present), checking each
    column's type, nulls and lengths against `data_map.json`, with an error naming the file and the column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise HfNotlikeInputError(f"{path}: not a readable Parquet file ({error}).") from None
    required = ["id", "gold_prob", "correct"]
    missing = [name for name in required if name not in schema.names]
    if missing:
        raise HfNotlikeInputError(f"{path}: column(s) {missing} missing (columns: {schema.names}).")
    wanted = required + [name for name in ("margin", "label") if name in schema.names]
    try:
        table = pq.read_table(pa.BufferReader(data), columns=wanted)
    except (pa.ArrowException, OSError) as error:
        raise HfNotlikeInputError(f"{path}: cannot read columns {wanted} ({error}).") from None
    n, e = meta["num_examples"], meta["num_epochs"]
    if table.num_rows != n:
        raise HfNotlikeInputError(f"{path} does not match {METADATA_FILE}: {table.num_rows} rows for num_examples={n}.")
    arrays: dict[str, np.ndarray] = {}
    for name in wanted:
        column = table.column(name).combine_chunks()
        if column.null_count:
            raise HfNotlikeInputError(f"{path}: column {name!r} has {column.null_count} null value(s).")
        check_column_type(path, name, column.type)
        if name in PER_EPOCH_COLUMNS:
            values = column.flatten()
            lengths = column.value_lengths().to_numpy(zero_copy_only=False)
            if values.null_count or (lengths != e).any():
                raise HfNotlikeInputError(f"{path}: column {name!r} must hold exactly {e} non-null values per example "
                                 f"(num_epochs in {METADATA_FILE}).")
            arrays[name] = values.to_numpy(zero_copy_only=False).reshape(n, e)
        else:
            arrays[name] = column.to_numpy(zero_copy_only=False)
    return arrays



def read_units(path: Path, data: bytes | None, meta: dict[str, Any], ids: np.ndarray) -> dict[str, np.ndarray]:
    """Read a per-token / per-label Parquet table (its bytes `data`, None when missing) back into `units` arrays,
    checked against the map."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if data is None:
        raise HfNotlikeInputError(f"{path} is missing (the map's {METADATA_FILE} says unit_kind={meta['unit_kind']!r}).")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as error:
        raise HfNotlikeInputError(f"{path}: not a readable Parquet file ({error}).") from None
    needed = ["id", "index", "label", "position", "gold_prob", "correct"]
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise HfNotlikeInputError(f"{path}: column(s) {missing} missing.")
    e = meta["num_epochs"]
    out: dict[str, np.ndarray] = {}
    for name in needed:
        column = table.column(name).combine_chunks()
        if column.null_count:
            raise HfNotlikeInputError(f"{path}: column {name!r} has null values.")
        if name in ("gold_prob", "correct"):
            if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)) or (
                column.value_lengths().to_numpy(zero_copy_only=False) != e
            ).any():
                raise HfNotlikeInputError(f"{path}: column {name!r} must hold {e} values per row (one per epoch).")
            out[name] = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, e)
        else:
            out[name] = column.to_numpy(zero_copy_only=False)
    order = np.argsort(ids, kind="stable")
    found = np.clip(np.searchsorted(ids[order], out["id"]), 0, len(ids) - 1)
    if len(out["id"]) and not (ids[order][found] == out["id"]).all():
        raise HfNotlikeInputError(f"{path}: column 'id' holds ids that are not in {DATA_MAP_FILE}.")
    out["example"] = order[found].astype(np.int64)
    for name in ("index", "label", "position"):
        if out[name].dtype.kind not in "iu":
            raise HfNotlikeInputError(f"{path}: column {name!r} must hold integers; got {out[name].dtype}.")
    del out["id"]
    return out



def _write_card(data_map: DataMap, folder: Path, repo_id: str | None = None) -> None:
    """Write `folder/README.md`, the dataset card of `data_map` (for [`DataMap.save_pretrained`]), with
    `hf_notlike.cartography.card.write_data_map_card`."""
    from .card import write_data_map_card

    write_data_map_card(
        data_map, folder, repo_id=repo_id, table_file=DATA_MAP_FILE, metadata_file=METADATA_FILE, plot_file=PLOT_FILE
    )
