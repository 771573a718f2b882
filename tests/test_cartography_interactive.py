"""The interactive data map (`DataMap.to_html`): the page's content, its errors, and (marked slow, skipped without
Chromium) the page in a real headless Chromium: no console error, one point per example, hover shows the text, a box
selection gives the ids inside it (also as a downloaded JSON file), and above `max_points` every example stays
selectable."""

import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cartography_helpers import tiny_dataset, train
from chromium_cdp import Chromium, find_chromium

from hf_notlike.cartography import DataMap
from hf_notlike.cartography.interactive import write_data_map_html

needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="headless Chromium not found (Debian: `apt-get install -y chromium`; .ci/run installs it)",
)


def _script_json(page: str, element_id: str):
    match = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def _synthetic_map(n: int, seed: int = 0, **kwargs) -> DataMap:
    rng = np.random.default_rng(seed)
    probs = rng.beta(2, 1, size=(n, 3))
    return DataMap(probs, rng.random((n, 3)) < probs, **kwargs)


def _text_dataset(n: int):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["rotten", "fresh"])})
    texts = [f"review number {i} says <b>this</b> & that" for i in range(n)]
    return datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(n)]}, features=features)


@pytest.fixture(scope="module")
def trained_map(tmp_path_factory):
    """A real map: a tiny BERT trained 3 epochs by a stock Trainer with the callback, keyed by the `uid` column."""
    from hf_notlike.cartography import CartographyCallback

    dataset = tiny_dataset(40)
    callback, _ = train(str(tmp_path_factory.mktemp("train")), dataset, callback=CartographyCallback(id_column="uid"))
    return callback.data_map(dataset=dataset), dataset


# ---------------------------------------------------------------------------------------------------- page content
def test_page_is_self_contained_and_holds_every_example(tmp_path, trained_map):
    data_map, dataset = trained_map
    path = data_map.to_html(tmp_path / "map.html", dataset=dataset, text_column="text")
    page = path.read_text()
    external = re.findall(r"<(?:script|link|img)[^>]*(?:src|href)=", page)
    assert external == []  # plotly.js is inlined, nothing is fetched: the page works offline
    assert "Plotly.newPlot" in page
    figure = _script_json(page, "datamap-figure")
    points = _script_json(page, "datamap-points")
    (scatter,) = [trace for trace in figure["data"] if trace["type"] == "scattergl"]
    assert len(scatter["x"]) == len(points["ids"]) == data_map.num_examples == 40
    assert points["ids"] == data_map.ids.tolist()
    # hover: the example's own text, gold label and statistics, in map order
    uid_to_row = {uid: row for row, uid in enumerate(dataset["uid"])}
    for i in (0, 17, 39):
        hover = scatter["hovertext"][i]
        row = uid_to_row[data_map.ids[i]]
        assert f"example {row}<" in hover + "<"
        assert f"<b>gold</b> {dataset['label'][row]}" in hover
        assert f"confidence {data_map.confidence[i]:.3f}" in hover
        assert f"variability {data_map.variability[i]:.3f}" in hover
        assert f"correctness {data_map.correctness[i]:.2f}" in hover
    assert [shape["name"] for shape in figure["layout"]["shapes"]] == ["easy-to-learn", "hard-to-learn", "ambiguous"]


def test_region_shading_follows_select_cutoffs(tmp_path):
    data_map = _synthetic_map(300)
    page = data_map.to_html(tmp_path / "map.html").read_text()
    shapes = {shape["name"]: shape for shape in _script_json(page, "datamap-figure")["layout"]["shapes"]}
    easy = set(data_map.select("easy_to_learn", 0.33).ids.tolist())
    inside_easy = set(np.flatnonzero(data_map.confidence >= shapes["easy-to-learn"]["y0"]).tolist())
    assert len(easy ^ inside_easy) <= 1  # the quantile cut-off and the rank cut-off differ at most by the tie
    ambiguous = set(data_map.select("ambiguous", 0.33).ids.tolist())
    inside_ambiguous = set(np.flatnonzero(data_map.variability >= shapes["ambiguous"]["x0"]).tolist())
    assert len(ambiguous ^ inside_ambiguous) <= 1


def test_one_epoch_map_has_no_ambiguous_region(tmp_path):
    data_map = DataMap([[0.2], [0.9], [0.6]], [[False], [True], [True]])
    figure = _script_json(data_map.to_html(tmp_path / "map.html").read_text(), "datamap-figure")
    assert [shape["name"] for shape in figure["layout"]["shapes"]] == ["easy-to-learn", "hard-to-learn"]
    assert "ambiguous" not in [a["text"] for a in figure["layout"]["annotations"]]


def test_text_is_escaped_and_class_names_shown(tmp_path):
    dataset = _text_dataset(10)
    page = _synthetic_map(10).to_html(tmp_path / "map.html", dataset=dataset).read_text()
    scatter = _script_json(page, "datamap-figure")["data"][0]
    assert "says &lt;b&gt;this&lt;/b&gt; &amp; that" in scatter["hovertext"][3]
    assert "<b>gold</b> fresh" in scatter["hovertext"][3] and "<b>gold</b> rotten" in scatter["hovertext"][4]
    assert "<b>this</b>" not in page  # the raw text never reaches the HTML unescaped


def test_large_map_draws_a_sample_over_a_heatmap_but_keeps_every_id(tmp_path):
    data_map = _synthetic_map(500, ids=[f"row-{i}" for i in range(500)], id_column="uid")
    page = data_map.to_html(tmp_path / "map.html", max_points=100).read_text()
    figure = _script_json(page, "datamap-figure")
    points = _script_json(page, "datamap-points")
    heatmap, scatter = figure["data"]
    assert heatmap["type"] == "heatmap" and scatter["type"] == "scattergl"
    assert len(scatter["x"]) == 100 and len(points["drawn"]) == 100
    assert sum(map(sum, heatmap["customdata"])) == 500  # every example counted in the heatmap
    assert points["ids"] == [f"row-{i}" for i in range(500)]
    assert all(f"<b>id</b> row-{points['drawn'][k]}<br>" in scatter["hovertext"][k] for k in (0, 50, 99))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(path="map.png"), "use a .html file name"),
        (dict(text_column="text"), "without `dataset`"),
        (dict(dataset="other"), "not a column of the dataset"),
        (dict(dataset="small"), "has 10 examples but the dataset has 9 rows"),
        (dict(max_points=0), "`max_points` must be a positive integer"),
        (dict(region_fraction=0.7), "`region_fraction` must be a number in (0, 0.5)"),
    ],
)
def test_bad_input_is_named_before_any_work(tmp_path, kwargs, message):
    data_map = _synthetic_map(10)
    choice = kwargs.pop("dataset", None)
    if choice == "other":
        kwargs.update(dataset=_text_dataset(10), text_column="sentence")
    elif choice == "small":
        kwargs.update(dataset=_text_dataset(9))
    path = tmp_path / kwargs.pop("path", "map.html")
    with pytest.raises(ValueError) as error:
        data_map.to_html(path, **kwargs)
    assert message in str(error.value)
    assert not path.exists()


def test_dataset_with_other_labels_than_the_map_is_refused(tmp_path):
    # the map recorded gold labels 0, 1, 0, 1, ...; a dataset whose row 6 says otherwise would show a wrong gold label
    data_map = _synthetic_map(10, labels=[i % 2 for i in range(10)])
    dataset = _text_dataset(10)
    assert data_map.to_html(tmp_path / "ok.html", dataset=dataset).is_file()
    relabelled = dataset.map(lambda row, i: {"label": 1 - row["label"] if i == 6 else row["label"]},
                             with_indices=True)
    with pytest.raises(ValueError, match=r"Row 6 \(counting from 0\) of the dataset has label 1 in column 'label', but "
                                         r"the map recorded gold label 0 .* `label_column=`"):
        data_map.to_html(tmp_path / "map.html", dataset=relabelled)
    assert not (tmp_path / "map.html").exists()


def test_dataset_without_text_warns_and_shows_labels(tmp_path):
    import datasets

    dataset = datasets.Dataset.from_dict({"input_ids": [[1, 2]] * 10, "label": [0, 1] * 5})
    with pytest.warns(UserWarning, match="pass `text_column=`"):
        page = _synthetic_map(10).to_html(tmp_path / "map.html", dataset=dataset).read_text()
    hover = _script_json(page, "datamap-figure")["data"][0]["hovertext"]
    assert hover[1] == f"<b>id</b> 1 · <b>gold</b> 1<br>{hover[1].split('<br>')[1]}"


def test_missing_plotly_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.offline", None)
    with pytest.raises(ImportError, match=r"hf_notlike\[interactive\]"):
        write_data_map_html(_synthetic_map(5), tmp_path / "map.html")


# ---------------------------------------------------------------------------------------------------- command line
def test_cli_writes_the_page_from_a_saved_map_and_its_data(tmp_path, trained_map, capsys):
    from hf_notlike.cli import main

    data_map, dataset = trained_map
    map_dir = data_map.save_pretrained(tmp_path / "map", plot=False, card=False)
    shuffled = dataset.shuffle(seed=3)  # keyed by `uid`: any row order works
    shuffled.to_json(tmp_path / "train.jsonl")
    assert main(["datamap", "html", str(map_dir)]) == 0
    page = (map_dir / "data_map.html").read_text()
    assert len(_script_json(page, "datamap-points")["ids"]) == 40
    out = tmp_path / "with_text.html"
    assert main(["datamap", "html", str(map_dir), "--data", str(tmp_path / "train.jsonl"), "-o", str(out)]) == 0
    hover = _script_json(out.read_text(), "datamap-figure")["data"][0]["hovertext"]
    row = dataset["uid"].index(data_map.ids[5])
    assert hover[5].endswith(f"example {row}")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-o", "map.png"], "use a file name ending in .html"),
        (["--text-column", "text"], "need --data"),
        (["--data", "missing.csv"], "does not exist"),
        (["--data", "DATA", "--text-column", "body"], "not a column of the dataset"),
        (["--max-points", "0"], "--max-points"),
    ],
)
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, trained_map, capsys, extra, message):
    from hf_notlike.cli import main

    data_map, dataset = trained_map
    map_dir = data_map.save_pretrained(tmp_path / "map", plot=False, card=False)
    dataset.to_csv(tmp_path / "train.csv")
    extra = [str(tmp_path / e) if e in ("map.png", "missing.csv") else e for e in extra]
    extra = [str(tmp_path / "train.csv") if e == "DATA" else e for e in extra]
    assert main(["datamap", "html", str(map_dir), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    assert not (map_dir / "data_map.html").exists()


# ---------------------------------------------------------------------------------------------------- in Chromium
def _plot_area(browser: Chromium) -> dict:
    """Pixel rectangle of the plot area and the axis ranges."""
    return browser.evaluate(
        """(() => { const r = document.querySelector('#datamap-plot .nsewdrag').getBoundingClientRect();
        const l = document.getElementById('datamap-plot').layout;
        return {left: r.left, top: r.top, width: r.width, height: r.height,
                x: l.xaxis.range, y: l.yaxis.range}; })()"""
    )


def _to_pixel(area: dict, x: float, y: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = area["x"], area["y"]
    return (float(area["left"] + (x - x0) / (x1 - x0) * area["width"]),
            float(area["top"] + (1 - (y - y0) / (y1 - y0)) * area["height"]))


def _to_data(area: dict, px: float, py: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = area["x"], area["y"]
    return (x0 + (px - area["left"]) / area["width"] * (x1 - x0),
            y0 + (1 - (py - area["top"]) / area["height"]) * (y1 - y0))


def _open(browser: Chromium, path: Path) -> None:
    browser.navigate(path.resolve().as_uri())
    browser.wait_until("document.body.getAttribute('data-ready') === '1'")


def _box_select(browser: Chromium, area: dict, fractions=(0.15, 0.1, 0.65, 0.9)) -> tuple[list, tuple]:
    """Drag a box over the given fractions (left, top, right, bottom) of the plot area; returns the ids the page
    reports and the box in data coordinates."""
    left, top = area["left"] + fractions[0] * area["width"], area["top"] + fractions[1] * area["height"]
    right, bottom = area["left"] + fractions[2] * area["width"], area["top"] + fractions[3] * area["height"]
    browser.drag((left, top), (right, bottom))
    browser.wait_until("document.getElementById('datamap-selected').value !== ''")
    ids = json.loads(browser.evaluate("document.getElementById('datamap-selected').value"))
    (x0, y1), (x1, y0) = _to_data(area, left, top), _to_data(area, right, bottom)
    return ids, (x0, x1, y0, y1)


def _expected_in_box(data_map: DataMap, box) -> set:
    x0, x1, y0, y1 = box
    x, y = np.round(data_map.variability.astype(float), 5), np.round(data_map.confidence.astype(float), 5)
    margin = 1e-3 * max(x1 - x0, y1 - y0)  # the page converts pixels itself: allow a sub-pixel boundary difference
    inside = (x >= x0 + margin) & (x <= x1 - margin) & (y >= y0 + margin) & (y <= y1 - margin)
    outside = (x < x0 - margin) | (x > x1 + margin) | (y < y0 - margin) | (y > y1 + margin)
    return set(data_map.ids[inside].tolist()), set(data_map.ids[~outside].tolist())


@pytest.mark.slow
@needs_chromium
def test_map_in_headless_chromium(tmp_path, trained_map):
    data_map, dataset = trained_map
    path = data_map.to_html(tmp_path / "map.html", dataset=dataset, text_column="text")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with Chromium() as browser:
        browser.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        _open(browser, path)
        assert browser.console_errors == []
        # one drawn point per example, with the map's ids
        traces = browser.evaluate(
            "document.getElementById('datamap-plot').data.map(t => [t.type, t.x.length])"
        )
        assert traces == [["scattergl", data_map.num_examples]]
        assert browser.evaluate("document.getElementById('datamap-count').textContent") == "0 of 40 selected"

        # hover the point farthest from its neighbours: its label shows its text
        area = _plot_area(browser)
        pixels = np.array([_to_pixel(area, float(x), float(y)) for x, y in zip(data_map.variability, data_map.confidence)])
        distance = np.linalg.norm(pixels[:, None] - pixels[None], axis=-1) + np.eye(len(pixels)) * 1e9
        i = int(distance.min(axis=1).argmax())
        row = dataset["uid"].index(data_map.ids[i])
        browser.mouse("mouseMoved", *map(float, pixels[i]))
        hover = browser.wait_until("document.querySelector('#datamap-plot .hoverlayer').textContent")
        assert re.search(rf"example {row}(?!\d)", hover), hover
        assert f"id {data_map.ids[i]}" in hover and f"confidence {data_map.confidence[i]:.3f}" in hover

        # a box selection: the page lists exactly the ids inside the box
        ids, box = _box_select(browser, area)
        surely_in, maybe_in = _expected_in_box(data_map, box)
        assert surely_in <= set(ids) <= maybe_in and len(surely_in) > 0
        assert len(ids) < data_map.num_examples
        assert browser.evaluate("document.getElementById('datamap-count').textContent").startswith(f"{len(ids)} of 40")

        # the download button saves them as JSON
        button = browser.evaluate(
            "(() => { const r = document.getElementById('datamap-download').getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        browser.mouse("mousePressed", *button, button="left")
        browser.mouse("mouseReleased", *button, button="left")
        target = downloads / "selected_ids.json"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert json.loads(target.read_text()) == ids
        assert browser.console_errors == []


@pytest.mark.slow
@needs_chromium
def test_large_map_in_headless_chromium_selects_undrawn_examples(tmp_path):
    data_map = _synthetic_map(2000, seed=1)
    path = data_map.to_html(tmp_path / "map.html", max_points=200)
    with Chromium() as browser:
        _open(browser, path)
        assert browser.console_errors == []
        traces = browser.evaluate("document.getElementById('datamap-plot').data.map(t => t.type)")
        assert traces == ["heatmap", "scattergl"]
        assert browser.evaluate("document.getElementById('datamap-plot').data[1].x.length") == 200
        area = _plot_area(browser)
        ids, box = _box_select(browser, area, (0.05, 0.05, 0.5, 0.6))
        surely_in, maybe_in = _expected_in_box(data_map, box)
        assert surely_in <= set(ids) <= maybe_in
        assert len(ids) > 200 // 2  # far more than the drawn points in the box: undrawn examples are selected too
        assert browser.console_errors == []
