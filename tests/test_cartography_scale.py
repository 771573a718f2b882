"""Data maps at scale: a lazily opened map gives exactly the values of an eagerly loaded one and decodes only the
columns an operation needs; every byte used is checked against the manifest (per-chunk hashes), so a corrupted file
is still refused, at open for small files and by the first operation that reads the damaged part for large ones; the
density plot of large maps draws every example and the thresholds `select` uses."""

from __future__ import annotations

import copy
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hf_notlike import artifacts
from hf_notlike.artifacts import MANIFEST_FILE, ArtifactError
from hf_notlike.cartography import DATA_MAP_FILE, METADATA_FILE, DataMap, storage

ARRAYS = ("gold_probs", "correct", "margins", "ids", "labels")
STATS = ("confidence", "variability", "correctness", "forgetfulness", "aum")


def random_map(n: int = 3000, epochs: int = 3, seed: int = 0, **kwargs) -> DataMap:
    rng = np.random.default_rng(seed)
    gold = rng.random((n, epochs), dtype=np.float32)
    return DataMap(gold, rng.random((n, epochs)) < gold, margins=rng.normal(size=(n, epochs)),
                   labels=rng.integers(0, 3, n), **kwargs)


def assert_same(a: DataMap, b: DataMap) -> None:
    for name in ARRAYS + STATS:
        x, y = getattr(a, name), getattr(b, name)
        same_kind = x.dtype == y.dtype or {x.dtype.kind, y.dtype.kind} == {"O", "U"}  # strings: object from Parquet
        assert same_kind and np.array_equal(x, y), name
    assert (a.num_examples, a.num_epochs, a.id_column, a.model_name, a.mode) == (
        b.num_examples, b.num_epochs, b.id_column, b.model_name, b.mode)


def record_reads(monkeypatch) -> list[str]:
    reads: list[str] = []
    original = storage.MapColumns.read

    def read(self, name):
        reads.append(name)
        return original(self, name)

    monkeypatch.setattr(storage.MapColumns, "read", read)
    return reads


def test_lazy_open_gives_identical_values_and_reads_only_what_is_used(tmp_path, monkeypatch):
    dm = random_map(ids=[f"ex{i}" for i in range(3000)], id_column="uid", model_name="m/n")
    folder = dm.save_pretrained(tmp_path / "map", plot=False, card=False)
    reads = record_reads(monkeypatch)
    DataMap.from_pretrained(folder)  # a small map is read completely at open
    assert sorted(reads) == sorted(("id", "label", "gold_prob", "correct", "margin") + STATS)
    monkeypatch.setattr(storage, "VERIFY_AT_OPEN_BYTES", 0)  # as a map above 64 MiB: lazily
    reads.clear()
    lazy = DataMap.from_pretrained(folder)
    assert reads == [] and len(lazy) == 3000 and lazy.num_epochs == 3
    expected = dm.select("ambiguous", 0.33).ids
    assert np.array_equal(lazy.select("ambiguous", 0.33).ids, expected)
    assert sorted(reads) == ["id", "variability"]  # no per-epoch list decoded
    assert lazy.class_balance(expected) == dm.class_balance(expected)
    frame = lazy.to_pandas()
    assert list(frame.columns) == ["id", "confidence", "variability", "correctness", "forgetfulness", "aum", "label"]
    assert not {"gold_prob", "correct", "margin"} & set(reads)
    assert_same(lazy, dm)
    assert_same(DataMap.from_pretrained(folder, lazy=False), dm)
    for region in ("hard_to_learn", "easy_to_learn", "low_aum", "random"):
        assert np.array_equal(lazy.select(region, 0.2, seed=3).ids, dm.select(region, 0.2, seed=3).ids)
        assert np.array_equal(lazy.select(region, 0.2, class_balanced=True).ids,
                              dm.select(region, 0.2, class_balanced=True).ids)
    assert np.array_equal(lazy.select("ambiguous", 0.1, epochs=2).ids, dm.select("ambiguous", 0.1, epochs=2).ids)
    # a copy holds every array (the mapped file is not copied)
    copied = copy.deepcopy(DataMap.from_pretrained(folder))
    assert copied._columns is None
    assert_same(copied, dm)
    # a lazily opened map saves the same table again
    again = lazy.save_pretrained(tmp_path / "again", plot=False, card=False)
    assert pq.read_table(again / DATA_MAP_FILE).equals(pq.read_table(folder / DATA_MAP_FILE))


def test_lazy_open_of_many_row_groups_and_an_old_manifest(tmp_path, monkeypatch):
    """A table written in many row groups (decoded group by group into one array), checked in 1 KiB chunks, and a
    folder whose manifest has only whole-file hashes (saved before per-chunk hashes): same values."""
    dm = random_map(n=500, epochs=4, seed=1)
    folder = dm.save_pretrained(tmp_path / "map", plot=False, card=False)
    pq.write_table(pq.read_table(folder / DATA_MAP_FILE), folder / DATA_MAP_FILE, row_group_size=37)
    artifacts.write_manifest(folder, [DATA_MAP_FILE, METADATA_FILE], chunk_size=1024)
    entry = json.loads((folder / MANIFEST_FILE).read_text())["files"][DATA_MAP_FILE]
    assert len(entry["chunks"]["sha256"]) == -(-entry["size"] // 1024) > 10
    monkeypatch.setattr(storage, "VERIFY_AT_OPEN_BYTES", 0)
    assert pq.ParquetFile(folder / DATA_MAP_FILE).metadata.num_row_groups == 14
    assert_same(DataMap.from_pretrained(folder), dm)
    artifacts.write_manifest(folder, [DATA_MAP_FILE, METADATA_FILE])  # whole-file hashes only
    assert "chunks" not in json.loads((folder / MANIFEST_FILE).read_text())["files"][DATA_MAP_FILE]
    assert_same(DataMap.from_pretrained(folder), dm)
    (folder / MANIFEST_FILE).unlink()  # no manifest: statistics derived from the lists, values still the same
    reads = record_reads(monkeypatch)
    assert_same(DataMap.from_pretrained(folder), dm)
    assert "confidence" not in reads and "gold_prob" in reads


def _corrupt_column(path, name: str) -> None:
    """Change one byte in the middle of the column `name`'s data (same file size)."""
    chunk = pq.ParquetFile(path).metadata.row_group(0).column(
        pq.ParquetFile(path).schema_arrow.get_field_index(name))
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    offset = start + chunk.total_compressed_size // 2
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_file_is_refused_at_open_or_on_first_use(tmp_path, monkeypatch):
    monkeypatch.setattr(storage, "MANIFEST_CHUNK_BYTES", 4096)
    dm = random_map(n=20_000)
    folder = dm.save_pretrained(tmp_path / "map", plot=False, card=False)
    assert len(json.loads((folder / MANIFEST_FILE).read_text())["files"][DATA_MAP_FILE]["chunks"]["sha256"]) > 50
    _corrupt_column(folder / DATA_MAP_FILE, "variability")
    # small files are checked whole at open, lazily or not
    for lazy in (True, False):
        with pytest.raises(ArtifactError, match="data_map.parquet does not match manifest.json"):
            DataMap.from_pretrained(folder, lazy=lazy)
    # a large file (here: any file) is checked part by part: the open succeeds, the damaged part is refused on use
    monkeypatch.setattr(storage, "VERIFY_AT_OPEN_BYTES", 0)
    lazy = DataMap.from_pretrained(folder)
    np.testing.assert_array_equal(lazy.confidence, dm.confidence)  # other columns are intact and usable
    for use in (lambda: lazy.variability, lambda: lazy.select("ambiguous", 0.3), lambda: lazy.plot(kind="density")):
        with pytest.raises(ArtifactError) as error:
            use()
        message = str(error.value)
        assert str(folder) in message and DATA_MAP_FILE in message and "DataMap.save_pretrained" in message
    # a file of another size is refused at open
    folder = dm.save_pretrained(tmp_path / "short", plot=False, card=False)
    (folder / DATA_MAP_FILE).write_bytes((folder / DATA_MAP_FILE).read_bytes()[:-1])
    with pytest.raises(ArtifactError, match="bytes, manifest.json says"):
        DataMap.from_pretrained(folder)
    # a damaged footer (where the columns are) is refused at open
    folder = dm.save_pretrained(tmp_path / "footer", plot=False, card=False)
    data = bytearray((folder / DATA_MAP_FILE).read_bytes())
    data[-20] ^= 0xFF
    (folder / DATA_MAP_FILE).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="does not match manifest.json"):
        DataMap.from_pretrained(folder)


def test_lazily_read_columns_are_checked_like_the_constructor(tmp_path, monkeypatch):
    """A folder without manifest (nothing vouches for its values) whose lists hold bad values: refused when the values
    are first read, naming the file."""
    monkeypatch.setattr(storage, "VERIFY_AT_OPEN_BYTES", 0)
    dm = random_map(n=50)
    folder = dm.save_pretrained(tmp_path / "map", plot=False, card=False)
    (folder / MANIFEST_FILE).unlink()
    table = pq.read_table(folder / DATA_MAP_FILE)
    gold = dm.gold_probs * 3
    offsets = pa.array(np.arange(0, 51 * 3, 3, dtype=np.int64))
    table = table.set_column(table.schema.get_field_index("gold_prob"), "gold_prob",
                             pa.LargeListArray.from_arrays(offsets, pa.array(gold.reshape(-1))))
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(np.zeros(50, np.int64)))
    pq.write_table(table, folder / DATA_MAP_FILE)
    lazy = DataMap.from_pretrained(folder)
    with pytest.raises(ValueError, match=r"data_map.parquet: `gold_probs` must be probabilities in \[0, 1\]"):
        lazy.variability  # noqa: B018
    with pytest.raises(ValueError, match="data_map.parquet: `ids` must be unique"):
        lazy.ids  # noqa: B018
    with pytest.raises(ValueError, match="lazy"):
        DataMap.from_pretrained(folder, lazy="yes")


def test_density_plot_of_a_large_map(tmp_path):
    dm = random_map(n=3000)
    fig = dm.plot(tmp_path / "map.png", max_points=1000)  # above max_points: the density raster of every example
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert len(ax.images) == 1 and not ax.collections
    image = ax.images[0].get_array()
    assert image.shape == (200, 200) and 0 <= image.min() and image.max() <= 1
    assert any("all 3,000 examples" in a.get_ylabel() for a in fig.axes)
    assert sum(p.get_data().values.sum() for p in fig.axes[1].patches) == 3000  # the marginal counts every example
    # the thresholds drawn are where select cuts
    ambiguous = dm.select("ambiguous", 0.33).ids
    easy, hard = dm.select("easy_to_learn", 0.33).ids, dm.select("hard_to_learn", 0.33).ids
    vertical, upper, lower = (line.get_xdata()[0] for line in ax.lines[:1]), *(line.get_ydata()[0] for line in ax.lines[1:3])
    assert next(vertical) == dm.variability[ambiguous].min()
    assert upper == dm.confidence[easy].min() and lower == dm.confidence[hard].max()
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {
        "top 33% variability (ambiguous)", "top / bottom 33% confidence (easy / hard)"}
    fig = dm.plot(kind="density", bins=20, region_fraction=None)
    assert fig.axes[0].images[0].get_array().shape == (20, 20) and not fig.axes[0].lines
    assert len(dm.plot(max_points=5000).axes[0].images) == 0  # small maps keep the scatter
    for kwargs, match in ((dict(bins=1), "bins"), (dict(region_fraction=1.0), "region_fraction"),
                          (dict(kind="heat"), "kind")):
        with pytest.raises(ValueError, match=match):
            dm.plot(**kwargs)


@pytest.mark.parametrize(("column", "values", "message"), [
    ("gold_prob", pa.array(np.full(50, 0.5)), "column 'gold_prob' must hold one list per example"),
    ("correct", pa.array([["yes"] * 3] * 50), "column 'correct' has values of type string; expected bool"),
    ("label", pa.array([[1]] * 50), "column 'label' must hold integers or strings"),
])
@pytest.mark.parametrize("lazy", [True, False])
def test_column_types_are_refused_at_open_eager_or_lazy(tmp_path, monkeypatch, column, values, message, lazy):
    """A hand-written table whose column has the wrong Arrow type (no manifest vouches for it) is refused when the map
    is opened, by the lazy open (from the schema alone) and by the eager read alike."""
    monkeypatch.setattr(storage, "VERIFY_AT_OPEN_BYTES", 0)
    folder = random_map(n=50).save_pretrained(tmp_path / "map", plot=False, card=False)
    (folder / MANIFEST_FILE).unlink()
    table = pq.read_table(folder / DATA_MAP_FILE)
    pq.write_table(table.set_column(table.schema.get_field_index(column), column, values), folder / DATA_MAP_FILE)
    with pytest.raises(ValueError, match=message):
        DataMap.from_pretrained(folder, lazy=lazy)
