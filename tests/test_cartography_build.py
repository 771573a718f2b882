"""`build_data_map` and `hf-notlike datamap build`: real Trainer runs on tiny slices (the shipped MiniLM on Rotten
Tomatoes, a tiny random BERT), an interrupted and resumed build, and the input errors raised before training."""

import json

import numpy as np
import pytest

from hf_notlike.cartography import DataMap, build_data_map
from hf_notlike.cli import main


@pytest.fixture(scope="module")
def rt_csv(tmp_path_factory):
    """24 Rotten Tomatoes sentences with their labels as names ("rotten" / "fresh"), as a CSV file."""
    from hf_notlike.resources import load_rotten_tomatoes

    train = load_rotten_tomatoes()["train"].select(range(24))
    names = train.features["label"].names
    path = tmp_path_factory.mktemp("rt") / "rt.csv"
    import pandas as pd

    pd.DataFrame({"text": train["text"], "label": [names[i] for i in train["label"]]}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, bert_tokenizer):
    """A randomly initialised 2-layer BERT (no classification head) saved with the MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(bert_tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    folder = tmp_path_factory.mktemp("tiny") / "bert"
    BertModel(config).save_pretrained(folder)
    bert_tokenizer.save_pretrained(folder)
    return folder


def _rows(n=20):
    words = ["good", "bad", "fine", "awful", "great", "dull"]
    return {"text": [f"a {words[i % 6]} film number {i}" for i in range(n)], "label": [i % 3 for i in range(n)],
            "uid": [f"ex{i}" for i in range(n)]}


def test_cli_build_on_rotten_tomatoes_with_minilm(minilm_path, rt_csv, tmp_path, capsys):
    out = tmp_path / "map"
    assert main(["datamap", "build", minilm_path, str(rt_csv), "-o", str(out), "--epochs", "2", "--batch-size", "8",
                 "--max-length", "24", "--learning-rate", "1e-4", "--plot", "--card", "--quiet"]) == 0
    assert "num_examples=24, num_epochs=2" in capsys.readouterr().out
    data_map = DataMap.from_pretrained(out)
    assert (data_map.num_examples, data_map.num_epochs) == (24, 2)
    assert np.all((data_map.confidence > 0) & (data_map.confidence < 1))
    assert (out / "data_map.png").read_bytes()[:4] == b"\x89PNG"
    card = (out / "README.md").read_text()
    assert "24 training examples of rt" in card and "over 2 epochs" in card
    assert not (out / "checkpoints").exists()  # deleted after success
    # the map's row order is the file's: select works on the re-read data
    ids = data_map.select("ambiguous", 0.25).ids
    assert len(ids) == 6 and set(ids) <= set(range(24))


def test_python_build_tiny_bert_dataset_with_ids(tiny_bert, tmp_path):
    import datasets

    data = datasets.Dataset.from_dict(_rows())
    data_map = build_data_map(tiny_bert, data, tmp_path / "map", epochs=3, batch_size=4, id_column="uid",
                              learning_rate=1e-3, quiet=True, html=True)
    assert (data_map.num_examples, data_map.num_epochs) == (20, 3)
    assert sorted(data_map.ids.tolist()) == sorted(_rows()["uid"])
    assert "a good film number 0" in (tmp_path / "map" / "data_map.html").read_text()  # texts on hover
    reloaded = DataMap.from_pretrained(tmp_path / "map")
    np.testing.assert_allclose(reloaded.confidence, data_map.confidence)
    # three classes read from the data: the gold probability starts near 1/3 for a random head
    assert 0.1 < float(data_map.gold_probs[:, 0].mean()) < 0.6


def test_saved_dataset_folder_and_jsonl(tiny_bert, tmp_path):
    import datasets

    rows = _rows(12)
    datasets.DatasetDict(train=datasets.Dataset.from_dict(rows)).save_to_disk(str(tmp_path / "saved"))
    data_map = build_data_map(tiny_bert, tmp_path / "saved", tmp_path / "a", epochs=1, batch_size=4, quiet=True)
    assert data_map.num_examples == 12
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps({"sentence": t, "gold": str(y)}) + "\n"
                             for t, y in zip(rows["text"], rows["label"])))
    data_map = build_data_map(tiny_bert, jsonl, tmp_path / "b", epochs=1, batch_size=4, text_column="sentence",
                              label_column="gold", quiet=True, limit=8)
    assert data_map.num_examples == 8


def test_interrupted_build_resumes_to_the_same_map(tiny_bert, tmp_path):
    import datasets
    from transformers import TrainerCallback

    data = tmp_path / "train.parquet"
    datasets.Dataset.from_dict(_rows(16)).remove_columns("uid").to_parquet(str(data))
    options = dict(epochs=2, batch_size=4, save_steps=1, learning_rate=1e-3, quiet=True)
    reference = build_data_map(tiny_bert, data, tmp_path / "reference", **options)

    class Interrupt(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 6:  # mid-way through epoch 2 (4 steps an epoch), after checkpoint-6
                raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        build_data_map(tiny_bert, data, out, callbacks=[Interrupt()], **options)
    assert (out / "checkpoints" / "checkpoint-6").is_dir() and not (out / "data_map.parquet").exists()
    with pytest.raises(ValueError, match="earlier build.*resume"):
        build_data_map(tiny_bert, data, out, **options)
    with pytest.raises(ValueError, match="other options.*epochs: 2 -> 3"):
        build_data_map(tiny_bert, data, out, resume=True, **{**options, "epochs": 3})
    # the command line resumes it
    assert main(["datamap", "build", str(tiny_bert), str(data), "-o", str(out), "--epochs", "2", "--batch-size", "4",
                 "--save-steps", "1", "--learning-rate", "1e-3", "--quiet", "--resume"]) == 0
    resumed = DataMap.from_pretrained(out)
    np.testing.assert_allclose(resumed.gold_probs, reference.gold_probs, atol=1e-5)
    np.testing.assert_array_equal(resumed.correct, reference.correct)


@pytest.mark.parametrize(
    "rows, flags, message",
    [
        ({"txt": ["a", "b"], "label": [0, 1]}, [], "no column 'text'.*--text-column"),
        ({"text": ["a", "b"], "label": [0, 1]}, ["--label-column", "gold"], "no column 'gold'"),
        ({"text": ["a", "b"], "label": [0.5, 1.0]}, [], "class indices.*row 0 holds 0.5"),
        ({"text": ["a", "b"], "label": [0, -1]}, [], "negative class index -1"),
        ({"text": ["a", "b"], "label": [1, 1]}, [], None),  # indices: two classes at least, fine
        ({"text": ["a", "b"], "label": ["x", "x"]}, [], "single class"),
        ({"text": ["a", None], "label": [0, 1]}, [], "row 1 holds None"),
        ({"text": ["a", "b"], "label": [0, None]}, [], "Row 1 has no label"),
    ],
)
def test_input_errors_before_training(tiny_bert, tmp_path, capsys, monkeypatch, rows, flags, message):
    import transformers

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(transformers.Trainer, "train", no_training)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(dict(zip(rows, values))) + "\n" for values in zip(*rows.values())))
    argv = ["datamap", "build", str(tiny_bert), str(data), "-o", str(tmp_path / "out"), "--quiet", *flags]
    if message is None:  # valid input reaches training
        with pytest.raises(AssertionError, match="training started"):
            main(argv)
        return
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "datamap build: error:" in err
    assert __import__("re").search(message, err), err


def test_missing_inputs(tiny_bert, tmp_path, capsys):
    assert main(["datamap", "build", str(tmp_path / "nope"), "x.csv", "-o", str(tmp_path / "o")]) == 2
    assert "MODEL" in capsys.readouterr().err
    assert main(["datamap", "build", str(tiny_bert), str(tmp_path / "missing.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "missing.csv does not exist" in capsys.readouterr().err
    (tmp_path / "d.txt").write_text("a,b\n")
    assert main(["datamap", "build", str(tiny_bert), str(tmp_path / "d.txt"), "-o", str(tmp_path / "o")]) == 2
    assert "ending in one of" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_data_map(tiny_bert, tmp_path / "missing.csv", tmp_path / "o")
    with pytest.raises(ValueError, match="epochs"):
        build_data_map(tiny_bert, tmp_path / "missing.csv", tmp_path / "o", epochs=0)


def test_training_flops_counted_on_the_first_step_and_shown_on_the_card(tiny_bert, tmp_path):
    """The callback counts one optimizer step with FlopCounterMode: about 3x the forward FLOPs (forward + backward)
    per example; the map keeps the figure and its card turns it into the compute a region saves."""
    import datasets
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    words = ["good", "bad", "fine", "great", "dull", "nice"]
    data = datasets.Dataset.from_dict({"text": [f"a {words[i % 6]} film" for i in range(12)],
                                       "label": [i % 2 for i in range(12)]})
    data_map = build_data_map(tiny_bert, data, tmp_path / "map", epochs=2, batch_size=4, quiet=True, card=True)
    flops = data_map.train_flops_per_example
    assert flops is not None and flops > 0
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    inputs = AutoTokenizer.from_pretrained(tiny_bert)(data["text"][:4], return_tensors="pt", padding=True)
    assert len({len(ids) for ids in inputs["input_ids"]}) == 1  # no padding: every batch costs the same
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(**inputs)
    forward = counter.get_total_flops() / 4
    assert 2.5 < flops / forward < 3.2
    assert DataMap.from_pretrained(tmp_path / "map").train_flops_per_example == pytest.approx(flops)
    card = (tmp_path / "map" / "README.md").read_text()
    assert "## Training compute of a selected subset" in card and "FlopCounterMode" in card
    assert "| all examples | 12 | 24 |" in card and "| saved | 8 | 16 |" in card  # 33% of 12 = 4 kept, 2 epochs


def test_unlabelled_class_label_rows_are_refused(tiny_bert, tmp_path):
    import datasets

    features = datasets.Features(text=datasets.Value("string"), label=datasets.ClassLabel(names=["neg", "pos"]))
    data = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, -1, 1]}, features=features)
    with pytest.raises(ValueError, match="class index -1 .*row 1"):
        build_data_map(tiny_bert, data, tmp_path / "m", quiet=True)
    assert not (tmp_path / "m").exists()  # nothing written before the checks pass
