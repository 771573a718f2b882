"""DataMap: metrics against a hand-computed example, region selection, plotting, save / load / from_pretrained /
push_to_hub round trips, the card, and the errors for bad input."""

import json
import os
from pathlib import Path

import datasets
import numpy as np
import pytest

from hf_notlike.cartography import DATA_MAP_FILE, METADATA_FILE, DataMap

HERE = Path(__file__).parent

# 4 examples x 4 epochs
GOLD = np.array(
    [
        [0.9, 0.9, 0.9, 0.9],  # easy: confident, stable
        [0.1, 0.9, 0.1, 0.9],  # ambiguous: swings every epoch
        [0.1, 0.2, 0.1, 0.2],  # hard: never learned
        [0.6, 0.4, 0.8, 0.2],  # forgotten twice
    ],
    dtype=np.float32,
)
CORRECT = GOLD > 0.5


def make_map(**kwargs) -> DataMap:
    return DataMap(GOLD, CORRECT, **kwargs)


def test_metrics_equal_a_hand_computed_example():
    dm = make_map()
    np.testing.assert_allclose(dm.confidence, [0.9, 0.5, 0.15, 0.5], atol=1e-6)
    # population std: sqrt(mean((p - mu)^2)); row 2: deviations +-0.4 -> 0.4; row 3: +-0.05 -> 0.05;
    # row 4: (0.1, -0.1, 0.3, -0.3) -> sqrt((0.01 + 0.01 + 0.09 + 0.09) / 4) = sqrt(0.05)
    np.testing.assert_allclose(dm.variability, [0.0, 0.4, 0.05, np.sqrt(0.05)], atol=1e-6)
    np.testing.assert_allclose(dm.correctness, [1.0, 0.5, 0.0, 0.5])
    assert dm.forgetfulness.tolist() == [0, 1, 0, 2]  # row 2: 0->1->0->1 forgets once; row 4: 1,0,1,0 twice
    assert dm.ids.tolist() == [0, 1, 2, 3] and dm.num_epochs == 4 and len(dm) == 4
    first = dm.first_epochs(2)
    np.testing.assert_allclose(first.confidence, [0.9, 0.5, 0.15, 0.5], atol=1e-6)
    np.testing.assert_allclose(first.variability, [0.0, 0.4, 0.05, 0.1], atol=1e-6)
    assert first.forgetfulness.tolist() == [0, 0, 0, 1]


def test_select_regions():
    dm = make_map()
    assert dm.select("ambiguous", 0.25).ids.tolist() == [1]
    assert dm.select("ambiguous", 0.5).ids.tolist() == [1, 3]  # ids come back in dataset order
    assert dm.select("easy_to_learn", 0.25).ids.tolist() == [0]
    assert dm.select("hard_to_learn", 0.25).ids.tolist() == [2]
    assert dm.select("hard_to_learn", 0.5).dataset is None
    # first-k epochs: after 2 epochs example 3 (0.6, 0.4) is less ambiguous than example 1 (0.1, 0.9)
    assert dm.select("ambiguous", 0.25, epochs=2).ids.tolist() == [1]
    assert dm.select("easy_to_learn", 1.0).ids.tolist() == [0, 1, 2, 3]


def test_random_region_is_seeded():
    rng = np.random.default_rng(0)
    probs = rng.random((200, 3)).astype(np.float32)
    dm = DataMap(probs, probs > 0.5)
    a = dm.select("random", 0.3, seed=1).ids
    assert len(a) == 60 and len(set(a.tolist())) == 60
    assert a.tolist() == dm.select("random", 0.3, seed=1).ids.tolist()
    assert a.tolist() != dm.select("random", 0.3, seed=2).ids.tolist()


def test_select_returns_the_filtered_dataset_by_row_index_and_by_id_column():
    dataset = datasets.Dataset.from_dict({"text": list("abcd"), "uid": ["w", "x", "y", "z"]})
    dm = make_map()
    ids, subset = dm.select("ambiguous", 0.5, dataset=dataset)
    assert ids.tolist() == [1, 3] and subset["text"] == ["b", "d"]

    keyed = make_map(ids=["w", "x", "y", "z"], id_column="uid")
    shuffled = dataset.select([3, 1, 0, 2])
    ids, subset = keyed.select("ambiguous", 0.5, dataset=shuffled)
    assert sorted(ids.tolist()) == ["x", "z"] and subset["uid"] == ids.tolist() == ["z", "x"]  # in dataset order
    assert keyed.select("hard_to_learn", 0.25, dataset=shuffled).dataset["text"] == ["c"]


def test_map_dataset_mismatch_is_a_clear_error():
    dm = make_map()
    dataset = datasets.Dataset.from_dict({"text": list("abcde"), "uid": list("vwxyz")})
    with pytest.raises(ValueError, match="4 examples but the dataset has 5 rows"):
        dm.select("ambiguous", 0.5, dataset=dataset)
    keyed = make_map(ids=["w", "x", "y", "z"], id_column="uid")
    with pytest.raises(ValueError, match="do not match"):
        keyed.select("ambiguous", 0.5, dataset=dataset.select(range(4)))  # v, w, x, y: z missing
    with pytest.raises(ValueError, match="lacks"):
        keyed.select("ambiguous", 0.5, dataset=dataset.select(range(4)).remove_columns("uid"))
    with pytest.raises(ValueError, match="do not match"):
        keyed.select("ambiguous", 0.5, dataset=datasets.Dataset.from_dict({"uid": ["w", "w", "y", "z"]}))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gold_probs=GOLD[:, :2], correct=CORRECT), "same shape"),
        (dict(gold_probs=GOLD[0], correct=CORRECT[0]), "2-D"),
        (dict(gold_probs=np.zeros((0, 3)), correct=np.zeros((0, 3), bool)), "empty"),
        (dict(gold_probs=GOLD * 3, correct=CORRECT), r"\[0, 1\]"),
        (dict(gold_probs=np.where(GOLD > 0.8, np.nan, GOLD), correct=CORRECT), "NaN"),
        (dict(gold_probs=GOLD, correct=GOLD * 3), "booleans"),
        (dict(gold_probs=GOLD, correct=CORRECT, ids=[1, 1, 2, 3]), "unique"),
        (dict(gold_probs=GOLD, correct=CORRECT, ids=[1, 2]), "shape"),
        (dict(gold_probs=GOLD, correct=CORRECT, id_column="uid"), "without `ids`"),
        (dict(gold_probs=GOLD, correct=CORRECT, mode="eval"), "mode"),
    ],
)
def test_bad_arrays(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DataMap(**kwargs)


def test_bad_selection_arguments():
    dm = make_map()
    with pytest.raises(ValueError, match="Unknown region"):
        dm.select("confusing", 0.3)
    for fraction in (0, 1.5, -0.1, True, "0.3"):
        with pytest.raises(ValueError, match="fraction"):
            dm.select("ambiguous", fraction)
    for epochs in (0, 5, 1.5):
        with pytest.raises(ValueError, match="epochs"):
            dm.select("ambiguous", 0.3, epochs=epochs)


def test_plot_png_pdf_and_large_maps(tmp_path):
    dm = make_map(model_name="some/model")
    fig = dm.plot(tmp_path / "map.png")
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"easy-to-learn", "hard-to-learn", "ambiguous"} <= labels
    assert fig.axes[0].get_xlabel() == "variability" and fig.axes[0].get_ylabel() == "confidence"
    dm.plot(tmp_path / "map.pdf", kind="scatter")
    assert (tmp_path / "map.pdf").read_bytes()[:5] == b"%PDF-"

    rng = np.random.default_rng(0)
    probs = rng.random((60_000, 3)).astype(np.float32)
    big = DataMap(probs, probs > 0.5)
    fig = big.plot(tmp_path / "big.png")  # auto: a density raster of every example beyond 25k points
    assert len(fig.axes[0].images) == 1 and not fig.axes[0].collections
    fig = big.plot(kind="hexbin")
    assert type(fig.axes[0].collections[0]).__name__ == "PolyCollection"
    fig = big.plot(kind="scatter", max_points=1000)
    assert len(fig.axes[0].collections[0].get_offsets()) == 1000

    with pytest.raises(ValueError, match=r"\.png or \.pdf"):
        dm.plot(tmp_path / "map.jpg")
    with pytest.raises(ValueError, match="kind"):
        dm.plot(kind="violin")


def test_plot_when_every_example_has_the_same_variability(tmp_path):
    probs = np.linspace(0.05, 0.95, 12).reshape(6, 2)  # every row varies by exactly 0.15
    fig = DataMap(probs, probs > 0.4).plot(tmp_path / "flat.png")
    assert (tmp_path / "flat.png").exists() and fig.axes[0].get_xlabel() == "variability"


def test_save_and_load_round_trip(tmp_path):
    dm = make_map(ids=["w", "x", "y", "z"], id_column="uid", model_name="m/n", dataset_name="d")
    folder = dm.save_pretrained(tmp_path / "map")
    assert sorted(os.listdir(folder)) == sorted(["README.md", DATA_MAP_FILE, "data_map.png", METADATA_FILE, "manifest.json"])
    meta = json.loads((folder / METADATA_FILE).read_text())
    assert meta["model"] == "m/n" and meta["dataset"] == "d" and meta["num_epochs"] == 4 and meta["id_column"] == "uid"
    loaded = DataMap.from_pretrained(folder)
    np.testing.assert_array_equal(loaded.gold_probs, dm.gold_probs)
    np.testing.assert_array_equal(loaded.correct, dm.correct)
    assert loaded.ids.tolist() == ["w", "x", "y", "z"] and loaded.id_column == "uid" and loaded.model_name == "m/n"
    # the Parquet file is a plain table any tool reads (one row per example)
    table = datasets.load_dataset("parquet", data_files=str(folder / DATA_MAP_FILE), split="train")
    assert table["id"] == ["w", "x", "y", "z"] and table[1]["gold_prob"] == pytest.approx([0.1, 0.9, 0.1, 0.9])
    np.testing.assert_allclose(table["variability"], dm.variability)


def test_load_errors(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        DataMap.from_pretrained(tmp_path)
    folder = make_map().save_pretrained(tmp_path / "map", card=False, plot=False)
    meta = json.loads((folder / METADATA_FILE).read_text())
    (folder / METADATA_FILE).write_text(json.dumps({**meta, "num_examples": 5}))
    with pytest.raises(ValueError, match="data_map.json does not match manifest.json"):
        DataMap.from_pretrained(folder)
    (folder / "manifest.json").unlink()  # the fix the error names: load the edited files as they are, checked
    with pytest.raises(ValueError, match="data_map.parquet does not match data_map.json: 4 rows"):
        DataMap.from_pretrained(folder)
    (folder / METADATA_FILE).write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(ValueError, match="upgrade"):
        DataMap.from_pretrained(folder)
    with pytest.raises(ValueError, match="does not exist: no such data-map folder"):
        DataMap.from_pretrained(str(tmp_path / "nowhere"))


def test_from_pretrained_fetches_a_hub_dataset_repo(tmp_path, monkeypatch):
    import huggingface_hub

    folder = make_map().save_pretrained(tmp_path / "snapshot", plot=False)
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    loaded = DataMap.from_pretrained("someone/rt-data-map", revision="v1")
    assert calls[0][0] == "someone/rt-data-map"
    assert calls[0][1]["repo_type"] == "dataset" and calls[0][1]["revision"] == "v1"
    np.testing.assert_array_equal(loaded.gold_probs, GOLD)


def test_card_is_written_unless_card_false(tmp_path):
    from hf_notlike.cartography.card import write_data_map_card

    dm = make_map()
    folder = dm.save_pretrained(tmp_path / "map", plot=False)
    (tmp_path / "by_hand").mkdir()
    expected = write_data_map_card(dm, tmp_path / "by_hand", repo_id="map", table_file=DATA_MAP_FILE,
                                   metadata_file=METADATA_FILE)
    assert (folder / "README.md").read_text() == expected.read_text()
    folder = dm.save_pretrained(tmp_path / "nocard", card=False, plot=False)
    assert not (folder / "README.md").exists()
