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
