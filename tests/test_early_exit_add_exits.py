"""`hf-notlike early-exit add-exits`: exits trained on a fine-tuned classifier from a local CSV; bad input fails in
one line with exit code 2 before any weight is loaded."""

import csv
import re

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from hf_notlike.cli import main

TEXTS = ["a gripping, beautifully shot film", "dull.", "the best thing I saw this year", "a waste of two hours",
         "wonderful acting and a clever plot", "boring and far too long", "I loved it", "I hated it"] * 4


@pytest.fixture
def classifier(tmp_path, bert_tokenizer):
    """A tiny random fine-tuned BERT classifier with labels neg/pos and the MiniLM tokenizer."""
    config = BertConfig(vocab_size=bert_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=4,
                        num_attention_heads=2, intermediate_size=37, max_position_embeddings=128,
                        id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}, initializer_range=0.5)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    folder = tmp_path / "classifier"
    model.save_pretrained(folder)
    bert_tokenizer.save_pretrained(folder)
    return model, folder


def write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


@pytest.mark.slow  # end-to-end training through the CLI
def test_add_exits_trains_exits_and_keeps_the_classifier(classifier, tmp_path, bert_tokenizer):
    stock, folder = classifier
    data = write_csv(tmp_path / "train.csv", [(t, "pos" if i % 2 == 0 else "neg") for i, t in enumerate(TEXTS)])
    out = tmp_path / "ee"
    code = main(["early-exit", "add-exits", str(folder), "--data", data, "--validation", data, "--exit-layers", "1",
                 "2", "--output-dir", str(out), "--epochs", "2", "--distillation-weight", "0.5", "--threads", "1",
                 "--exit-head", "mlp"])
    assert code == 0
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert model.config.exit_layers == [1, 2, 4] and model.config.freeze_backbone
    assert model.config.exit_head == "mlp" and [e.dense is not None for e in model.exits] == [True, True, False]
    assert model.config.temperatures != [1.0, 1.0, 1.0]  # calibrated on --validation
    assert (out / "tokenizer.json").is_file() or (out / "vocab.txt").is_file()
    encoded = bert_tokenizer(TEXTS[:8], padding=True, return_tensors="pt")
    with torch.no_grad():
        # exact by construction: at threshold 1.0 the stock layers and classifier run on the same tensors
        assert torch.equal(model(**encoded, exit_threshold=1.0).logits, stock(**encoded).logits)


@pytest.mark.parametrize("case, message", [
    ("missing data", "--data .* does not exist"),
    ("unsupported", r"`albert`.*supported"),
    ("not a classifier", "ForSequenceClassification"),
    ("too deep", r"`exit_layers`.*\[1, 4\]"),
    ("unknown label", "not among the model's labels"),
    ("unknown exit head", "--exit-head must be one of linear, mlp, got 'tanh'"),
])
def test_bad_input_is_one_line_exit_code_2(case, message, classifier, tmp_path, capsys, bert_tokenizer):
    _, folder = classifier
    data = write_csv(tmp_path / "train.csv", [("fine", "pos"), ("bad", "neg")])
    extra = []
    if case == "missing data":
        data = str(tmp_path / "nope.csv")
    elif case in ("unsupported", "not a classifier"):
        folder = tmp_path / "other"
        config = (AutoConfig.for_model("albert", num_hidden_layers=2, architectures=["AlbertForSequenceClassification"])
                  if case == "unsupported" else
                  AutoConfig.for_model("bert", num_hidden_layers=2, architectures=["BertForMaskedLM"]))
        config.save_pretrained(folder)  # no weights: they must not be needed to fail
        bert_tokenizer.save_pretrained(folder)
    elif case == "too deep":
        extra = ["--exit-layers", "7"]
    elif case == "unknown label":
        data = write_csv(tmp_path / "bad.csv", [("fine", "great")])
    elif case == "unknown exit head":
        extra = ["--exit-head", "tanh"]
    code = main(["early-exit", "add-exits", str(folder), "--data", data, "--output-dir", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "out" / "model.safetensors").exists()
