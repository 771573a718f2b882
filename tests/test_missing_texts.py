"""A null or empty text is rejected where it enters (the early-exit commands, `load_labelled_file`, the interactive
data map) with an error naming its rows and the fix, never tokenized or shown as the string "None"."""

import json
import math

import datasets
import numpy as np
import pytest
from early_exit_helpers import save_tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_notlike.cartography import DataMap
from hf_notlike.cli import main
from hf_notlike.early_exit.commands import load_labelled_file
from hf_notlike.texts import check_texts, missing_text_rows


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, bert_tokenizer):
    return save_tiny_model(tmp_path_factory.mktemp("texts") / "model", bert_tokenizer, label_names=None)


def _files(folder):
    """The same data, with row 2 null and row 4 empty, in each format the commands read."""
    rows = [{"text": t, "label": i % 2} for i, t in enumerate(["a", "b", None, "d", "", "f"])]
    (folder / "data.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (folder / "data.json").write_text(json.dumps(rows))
    (folder / "data.csv").write_text("text,label\na,0\nb,1\n,0\nd,1\n\"\",0\nf,1\n")
    datasets.Dataset.from_list(rows).to_parquet(folder / "data.parquet")
    return [folder / name for name in ("data.jsonl", "data.json", "data.csv", "data.parquet")]


@pytest.mark.parametrize("command", [["calibrate"], ["sweep", "--thresholds", "0.9", "1.0", "--no-stock"]])
def test_early_exit_commands_reject_missing_texts(command, model_dir, tmp_path, capsys):
    paths = _files(tmp_path)
    capsys.readouterr()
    for path in paths:
        code = main(["early-exit", command[0], str(model_dir), "--data", str(path), "--output-dir",
                     str(tmp_path / "out"), *command[1:]])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1, err
        assert "no text in 2 rows of column 'text' (rows 2, 4" in err and "Drop those rows or fill in" in err, err
    assert not (tmp_path / "out").exists()  # rejected before any work


def test_add_exits_rejects_missing_texts(tmp_path, capsys, stock_classifier, bert_tokenizer):
    stock_classifier("bert", tmp_path / "stock", num_labels=2)
    bert_tokenizer.save_pretrained(tmp_path / "stock")
    path = _files(tmp_path)[2]
    code = main(["early-exit", "add-exits", str(tmp_path / "stock"), "--data", str(path), "--output-dir",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "rows 2, 4" in err, err


def test_load_labelled_file_rejects_missing_texts(tmp_path, bert_tokenizer):
    for path in _files(tmp_path):
        with pytest.raises(ValueError, match="no text in 2 rows of column 'text' \\(rows 2, 4"):
            load_labelled_file(str(path), bert_tokenizer)
    (tmp_path / "ok.csv").write_text("text,label\n1984,0\nfine,1\n")  # numbers are text, not missing
    assert len(load_labelled_file(str(tmp_path / "ok.csv"), bert_tokenizer)) == 2


def test_interactive_map_rejects_missing_texts(tmp_path):
    pytest.importorskip("plotly")
    gold = np.array([[0.9, 0.8], [0.2, 0.4], [0.5, 0.6]], dtype=np.float32)
    data_map = DataMap(gold, gold > 0.5)
    dataset = datasets.Dataset.from_dict({"text": ["a", None, "c"], "label": [0, 1, 0]})
    with pytest.raises(ValueError, match="no text in 1 row of column 'text' \\(row 1,"):
        data_map.to_html(tmp_path / "map.html", dataset=dataset)
    assert not (tmp_path / "map.html").exists()
    dataset = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    data_map.to_html(tmp_path / "map.html", dataset=dataset)
    assert ">None<" not in (tmp_path / "map.html").read_text()


_TEXT = st.one_of(st.none(), st.text(max_size=5), st.just(float("nan")), st.integers(), st.floats(allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(values=st.lists(_TEXT, max_size=12))
def test_missing_text_rows_property(values):
    expected = [i for i, v in enumerate(values)
                if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())]
    assert missing_text_rows(values) == expected
    if expected:
        with pytest.raises(ValueError) as info:
            check_texts(values, "data", "text")
        assert f"no text in {len(expected)} row" in str(info.value)
        assert ", ".join(str(i) for i in expected[:10]) in str(info.value)
    else:
        check_texts(values, "data", "text")


@settings(max_examples=15, deadline=None)
@given(texts=st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "good", "bad film"])), min_size=1, max_size=6))
def test_load_labelled_file_property(texts, tmp_path_factory, bert_tokenizer):
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "data.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": 0}) + "\n" for t in texts))
    missing = [i for i, t in enumerate(texts) if t is None or not t.strip()]
    if missing:
        with pytest.raises(ValueError, match=f"no text in {len(missing)} row"):
            load_labelled_file(str(path), bert_tokenizer)
    else:
        data = load_labelled_file(str(path), bert_tokenizer)
        assert all(bert_tokenizer.unk_token_id not in ids for ids in data["input_ids"])


def test_datamap_html_command_rejects_missing_texts(map_dir, tmp_path, capsys):
    pytest.importorskip("plotly")
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,1\n,0\nfine,1\nbad,0\n")
    code = main(["datamap", "html", str(map_dir), "--data", str(data), "-o", str(tmp_path / "map.html")])
    err = capsys.readouterr().err
    assert code == 2 and "no text in 1 row of column 'text' (row 1," in err, err
    assert not (tmp_path / "map.html").exists()
