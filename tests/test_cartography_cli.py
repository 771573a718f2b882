"""`hf-notlike datamap plot|select|show|html` on a saved map."""

import json

import pytest

from hf_notlike.cli import main


def test_select_prints_or_writes_ids(map_dir, tmp_path, capsys):
    assert main(["datamap", "select", str(map_dir), "--region", "ambiguous", "--fraction", "0.25"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == ["1"] and "selected 1 of 4" in captured.err
    out = tmp_path / "ids.json"
    assert main(["datamap", "select", str(map_dir), "--region", "easy_to_learn", "--fraction", "0.5",
                 "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == [0, 3]
    assert main(["datamap", "select", str(map_dir), "--region", "hard_to_learn", "--fraction", "0.25",
                 "--epochs", "1", "-o", str(tmp_path / "ids.txt")]) == 0
    assert (tmp_path / "ids.txt").read_text().split() == ["1"]  # 1 and 2 tie at 0.1 after one epoch: first wins


def test_plot_and_show(map_dir, tmp_path, capsys):
    assert main(["datamap", "plot", str(map_dir)]) == 0
    assert (map_dir / "data_map.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["datamap", "plot", str(map_dir), "-o", str(tmp_path / "m.pdf"), "--kind", "hexbin"]) == 0
    assert (tmp_path / "m.pdf").read_bytes()[:5] == b"%PDF-"
    assert main(["datamap", "show", str(map_dir)]) == 0
    assert "num_examples=4" in capsys.readouterr().out


def test_bad_arguments(map_dir, tmp_path, capsys):
    """More failures in tests/test_cli_errors.py."""
    assert main(["datamap", "select", str(map_dir), "--region", "confusing", "--fraction", "0.3"]) == 2
    assert "invalid choice: 'confusing'" in capsys.readouterr().err
    assert main(["datamap", "select", str(map_dir), "--region", "ambiguous", "--fraction", "3"]) == 2
    assert "--fraction must be in (0, 1]" in capsys.readouterr().err
    assert main(["datamap", "plot", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_html_with_the_training_data(map_dir, tmp_path, capsys):
    """`--data` is read by the same reader as the early-exit commands' (`cli_utils.read_table_file`)."""
    pytest.importorskip("plotly")
    rows = [{"text": f"review {i}", "label": i % 2} for i in range(4)]
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "map.html"
    assert main(["datamap", "html", str(map_dir), "--data", str(data), "-o", str(out)]) == 0
    assert "review 3" in out.read_text()
    capsys.readouterr()
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["datamap", "html", str(map_dir), "--data", str(tmp_path / "bad.json"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--data" in err and "bad.json is not valid JSON" in err
    (tmp_path / "columns.json").write_text(json.dumps({"text": "not a list"}))
    assert main(["datamap", "html", str(map_dir), "--data", str(tmp_path / "columns.json"), "-o", str(out)]) == 2
    assert "an object of columns" in capsys.readouterr().err


# --------------------------------------------------------------------------- `html --data` is checked against the map
def _labelled_map(tmp_path, **kwargs):
    import numpy as np

    from hf_notlike.cartography import DataMap

    gold = np.array([[0.9, 0.9, 0.9], [0.1, 0.9, 0.1], [0.1, 0.2, 0.1], [0.6, 0.4, 0.8]], dtype=np.float32)
    return DataMap(gold, gold > 0.5, labels=[0, 1, 1, 0], **kwargs).save_pretrained(tmp_path / "labelled", card=False,
                                                                                    plot=False)


def _write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _html(map_dir, data, tmp_path, *extra):
    return main(["datamap", "html", str(map_dir), "--data", str(data), "-o", str(tmp_path / "map.html"), *extra])


def test_html_data_with_the_recorded_labels_is_shown(tmp_path, capsys):
    pytest.importorskip("plotly")
    map_dir = _labelled_map(tmp_path)
    data = _write(tmp_path / "train.jsonl", [{"text": f"review {i}", "label": y} for i, y in enumerate([0, 1, 1, 0])])
    assert _html(map_dir, data, tmp_path) == 0
    page = (tmp_path / "map.html").read_text()
    assert "review 2" in page and r"id\u003c/b\u003e 2 · \u003cb\u003egold\u003c/b\u003e 1" in page
    # a CSV gives the same labels as digits, and label names that pair one name with one class id are accepted
    (tmp_path / "train.csv").write_text("text,label\na,0\nb,1\nc,1\nd,0\n")
    assert _html(map_dir, tmp_path / "train.csv", tmp_path) == 0
    (tmp_path / "names.csv").write_text("text,label\na,neg\nb,pos\nc,pos\nd,neg\n")
    assert _html(map_dir, tmp_path / "names.csv", tmp_path) == 0
    assert r"id\u003c/b\u003e 2 · \u003cb\u003egold\u003c/b\u003e pos" in (tmp_path / "map.html").read_text()


@pytest.mark.parametrize(
    "rows, message",
    [
        ([0, 1, 0, 0], "Row 2 (counting from 0) of --data {data} has label 0 in column 'label', but the map recorded "
                       "gold label 1 for that example"),
        ([0, 1, 1, 0, 1], "--data {data} does not match the data map {map}: This data map has 4 examples but the "
                          "dataset has 5 rows"),
        ([0, 1, 1], "has 4 examples but the dataset has 3 rows"),
        (["neg", "pos", "neg", "neg"], "Row 2 (counting from 0) of --data {data} has label 'neg' in column 'label', "
                                       "but the map recorded gold label 1 for that example while earlier rows "
                                       "labelled 'neg' have gold label 0"),
        (["neg", "pos", "pos", "pos"], "Row 3 (counting from 0) of --data {data} has label 'pos' in column 'label', "
                                       "but the map recorded gold label 0 for that example while earlier rows "
                                       "labelled 'pos' have gold label 1"),
        (["neg", "pos", "pos", "bad"], "Row 3 (counting from 0) of --data {data} has label 'bad' in column 'label', "
                                       "but the map recorded gold label 0 for that example, which earlier rows call "
                                       "'neg'"),
    ],
    ids=["relabelled", "more-rows", "fewer-rows", "names-mixed", "names-relabelled", "names-new"],
)
def test_html_data_that_is_not_the_maps_is_refused(tmp_path, capsys, rows, message):
    map_dir = _labelled_map(tmp_path)
    data = _write(tmp_path / "train.jsonl", [{"text": f"review {i}", "label": y} for i, y in enumerate(rows)])
    assert _html(map_dir, data, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message.format(data=data, map=map_dir) in err
    assert "Pass the data the map was recorded on" in err or "rows" in err
    assert not (tmp_path / "map.html").exists()


def test_html_data_keyed_by_id_column(tmp_path, capsys):
    pytest.importorskip("plotly")
    map_dir = _labelled_map(tmp_path, ids=["ex-0", "ex-1", "ex-2", "ex-3"], id_column="uid")
    rows = [{"uid": f"ex-{i}", "text": f"review {i}", "label": y} for i, y in enumerate([0, 1, 1, 0])]
    assert _html(map_dir, _write(tmp_path / "shuffled.jsonl", rows[::-1]), tmp_path) == 0  # any order
    rows[1]["label"] = 0  # file row 2 once reversed
    assert _html(map_dir, _write(tmp_path / "bad.jsonl", rows[::-1]), tmp_path) == 2
    err = capsys.readouterr().err
    assert "Row 2 (counting from 0) of --data" in err and "(uid 'ex-1') has label 0" in err and "in any order" in err
    rows[1]["uid"] = "ex-9"
    assert _html(map_dir, _write(tmp_path / "ids.jsonl", rows), tmp_path) == 2
    assert "map ids missing from the dataset: ['ex-1']" in capsys.readouterr().err
    # another column as the labels: named with the option to change
    rows = [{"uid": f"ex-{i}", "text": f"review {i}", "stars": 5} for i in range(4)]
    assert _html(map_dir, _write(tmp_path / "stars.jsonl", rows), tmp_path, "--label-column", "stars") == 2
    assert "--label-column" in capsys.readouterr().err
