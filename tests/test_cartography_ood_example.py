"""The cartography OOD / label-noise protocol (`examples/cartography_ood.py`) end to end on a tiny BERT and tiny
data, its metrics against hand-computed values, and the VADER resource reader on a fabricated source distribution."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ood(load_example):
    return load_example("cartography_ood")


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory, bert_tokenizer):
    """A 1-layer BERT with the MiniLM tokenizer, and a learnable toy sentiment task as CSV / JSON / Parquet files."""
    import pandas as pd
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    root = tmp_path_factory.mktemp("ood")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(bert_tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    BertForSequenceClassification(config).save_pretrained(root / "model")
    bert_tokenizer.save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    positive, negative = ["good", "great", "fine", "superb"], ["bad", "awful", "poor", "dull"]

    def frame(n):
        labels = rng.integers(0, 2, n)
        texts = [" ".join(rng.choice(positive if y else negative, 2).tolist() + ["film"] * int(rng.integers(1, 5)))
                 for y in labels]
        return pd.DataFrame({"text": texts, "label": labels})

    (root / "data").mkdir()
    frame(60).to_csv(root / "data" / "train.csv", index=False)
    frame(20).to_csv(root / "data" / "validation.csv", index=False)
    frame(20).to_json(root / "data" / "test.json", orient="records")
    frame(30).to_parquet(root / "ood.parquet")
    return root


def common_args(root: Path) -> list[str]:
    return ["--model", str(root / "model"), "--data", str(root / "data"), "--epochs", "3", "--batch-size", "8",
            "--results-dir", str(root / "results"), "--work-dir", str(root / "work")]


@pytest.mark.slow
def test_protocol_end_to_end_resumes_and_summarises(ood, tiny_setup, capsys):
    root = tiny_setup
    args = ["protocol", *common_args(root), "--seeds", "0,1", "--ood", f"toy={root / 'ood.parquet'}",
            "--mixtures", "0.2+0.13", "--first-epochs", "2"]
    ood.main(args)
    results = root / "results"
    runs = ["map", "ambiguous", "random", "hard_to_learn", "easy_to_learn", "mix_ambiguous0.2+0.13",
            "ambiguous_first2", "ambiguous_balanced"]
    for seed in (0, 1):
        assert (results / "maps" / f"seed{seed}" / "data_map.parquet").exists()
        for run in runs:
            result = json.loads((results / f"seed{seed}" / f"{run}.json").read_text())
            assert set(result["metrics"]) == {"validation", "test", "toy"}
            assert result["metrics"]["toy"]["n"] == 30
            assert abs(sum(result["train_class_balance"].values()) - 1) < 1e-3
            expected = 60 if run == "map" else 20  # 33% of 60; the mixture is 12 + 8
            assert result["train_examples"] == expected, run
    from hf_notlike.cartography import DataMap

    data_map = DataMap.from_pretrained(results / "maps" / "seed0")
    assert data_map.num_examples == 60 and data_map.num_epochs == 3
    ambiguous = json.loads((results / "seed0" / "ambiguous.json").read_text())
    assert ambiguous["selection"] == {"region": "ambiguous", "fraction": 0.33, "map_epochs": 3}
    first2 = json.loads((results / "seed0" / "ambiguous_first2.json").read_text())
    assert first2["selection"]["map_epochs"] == 2
    balanced = json.loads((results / "seed0" / "ambiguous_balanced.json").read_text())
    train_balance = info_balance = json.loads((results / "datasets.json").read_text())["train"]["class_balance"]
    assert balanced["selection"]["class_balanced"] is True
    for label, share in balanced["train_class_balance"].items():  # per-class quotas: the train set's proportions
        assert abs(share - train_balance[label]) <= 1 / 20 + 1e-6, (balanced["train_class_balance"], info_balance)
    info = json.loads((results / "datasets.json").read_text())
    labels = np.asarray(__import__("pandas").read_parquet(root / "ood.parquet")["label"])
    assert info["toy"]["constant_predictor"]["accuracy"] == pytest.approx(max(labels.mean(), 1 - labels.mean()))

    # resumable: a second call skips every finished run
    stamps = {p: p.stat().st_mtime_ns for p in results.glob("seed*/*.json")}
    capsys.readouterr()
    ood.main(args)
    assert "done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in results.glob("seed*/*.json")} == stamps

    tables = ood.summary_tables(results)
    assert "| 33% ambiguous | 20 |" in tables
    for heading in ("ambiguous − 33% random", "ambiguous − 100% (the map run)", "chosen on validation − 33% random"):
        assert f"Paired difference {heading}" in tables
    assert tables.count("\n| 0 |") == 3 and tables.count("\n| 1 |") == 3  # one row per seed and comparison
    # the run chosen on validation is, per seed, the ambiguous-based run with the best validation accuracy
    by_run = ood.load_results(results)
    for seed in (0, 1):
        family = {run: r[seed]["metrics"]["validation"]["accuracy"] for run, r in by_run.items()
                  if run.startswith(("ambiguous", "mix_ambiguous"))}
        assert ood.chosen_on_validation(by_run, seed) in {run for run, acc in family.items()
                                                          if acc == max(family.values())}
    image = ood.summary_plot([results, results], root / "plot.png")  # one panel per set-up
    assert Path(image).stat().st_size > 10_000


@pytest.mark.slow
def test_label_noise_rankings(ood, tiny_setup):
    root = tiny_setup
    ood.main(["label-noise", *common_args(root), "--flip", "0.1"])
    result = json.loads(next((root / "results" / "label_noise").glob("*.json")).read_text())
    assert result["flipped"] == 6 and result["top"] == 6
    names = set(result["rankings"])
    assert {"hard_to_learn (low confidence)", "loss at epoch 3", "AUM (this script, recorded logits)",
            "AUM (DataMap.aum)", "AUM (DataMap.aum)@first1"} <= names
    assert "hard_to_learn (low confidence)@first1" in names
    for row in result["rankings"].values():
        assert 0 <= row["auroc"] <= 1 and 0 <= row["flipped_in_top"] <= 1
    # the logit recorder sees the same training passes as the callback
    assert result["recorder_vs_map_max_abs_gap"] < 1e-5
    assert result["datamap_aum_vs_recorded_max_abs_gap"] < 1e-4  # the library's AUM = the formula on those logits
    if importlib.util.find_spec("cleanlab") is not None:
        assert "cleanlab label quality (epoch 3 probs)" in names
        assert result["cleanlab_find_label_issues"]["find_label_issues"]["flagged"] >= 0
    tables = ood.label_noise_tables(root / "results")
    assert "| hard_to_learn (low confidence) |" in tables


def test_bad_ood_argument_fails_before_training(ood, tmp_path):
    with pytest.raises(ValueError, match="NAME=PATH"):
        ood.main(["protocol", "--ood", "no-equals-sign", "--results-dir", str(tmp_path), "--work-dir", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ood.main(["protocol", "--ood", f"x={tmp_path / 'missing.csv'}", "--results-dir", str(tmp_path),
                  "--work-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="unknown runs"):
        ood.main(["protocol", "--only", "ambiguos", "--results-dir", str(tmp_path), "--work-dir", str(tmp_path)])


def test_metrics_by_hand(ood):
    labels = np.array([0, 0, 0, 1])
    metrics = ood.classification_metrics(np.array([0, 0, 1, 1]), labels, 2)
    assert metrics["accuracy"] == 0.75
    assert metrics["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert metrics["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)  # class 0: P 1, R 2/3; class 1: P 1/2, R 1
    constant = ood.constant_predictor(labels, 2)
    assert constant["class"] == 0 and constant["accuracy"] == 0.75 and constant["balanced_accuracy"] == 0.5
    assert constant["macro_f1"] == pytest.approx((6 / 7) / 2)
    assert ood.auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert ood.auroc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5  # ties count half
    pytest.importorskip("sklearn")
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    scores, positives = rng.integers(0, 5, 200).astype(float), rng.random(200) < 0.3
    assert ood.auroc(scores, positives) == pytest.approx(roc_auc_score(positives, scores))


def test_mixture_is_disjoint_and_sized(ood):
    from hf_notlike.cartography import DataMap

    rng = np.random.default_rng(0)
    probs = rng.random((100, 3))
    data_map = DataMap(probs, probs > 0.5)
    ids = ood.mixture_ids(data_map, 0.23, 0.10)
    assert len(ids) == len(np.unique(ids)) == 33
    ambiguous = set(data_map.select("ambiguous", 0.23).ids.tolist())
    assert ambiguous <= set(ids.tolist())
    rest = sorted(set(ids.tolist()) - ambiguous)
    others = sorted(set(range(100)) - ambiguous, key=lambda i: -data_map.confidence[i])
    assert rest == sorted(others[:10])  # the most confident examples outside the ambiguous part


def fake_vader_sdist(folder: Path) -> None:
    """A stand-in for vaderSentiment-3.3.2.tar.gz with the same nesting and file format."""
    rows = "1\t2.5\tI love it\n2\t-0.2\tmeh\n3\t-1.75\tTerrible.\n4\t0.6\tok then\n"
    inner_bytes = io.BytesIO()
    with tarfile.open(fileobj=inner_bytes, mode="w:gz") as inner:
        data = rows.encode()
        info = tarfile.TarInfo("hutto_ICWSM_2014/tweets_GroundTruth.txt")
        info.size = len(data)
        inner.addfile(info, io.BytesIO(data))
    folder.mkdir(parents=True)
    with tarfile.open(folder / "vaderSentiment-3.3.2.tar.gz", "w:gz") as outer:
        payload = inner_bytes.getvalue()
        info = tarfile.TarInfo("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz")
        info.size = len(payload)
        outer.addfile(info, io.BytesIO(payload))


def test_vader_reader_thresholds_labels(tmp_path):
    from hf_notlike.resources import load_vader_sentiment, vader_sdist_path

    with pytest.raises(FileNotFoundError, match="pip download --no-deps --no-binary :all: vaderSentiment==3.3.2"):
        vader_sdist_path(tmp_path / "empty", download=False)
    fake_vader_sdist(tmp_path / "cache" / "vader")
    tweets = load_vader_sentiment("tweets", cache_dir=tmp_path / "cache")
    assert list(tweets["text"]) == ["I love it", "Terrible.", "ok then"]  # |rating| <= 0.5 dropped
    assert list(tweets["label"]) == [1, 0, 1]
    assert tweets.features["label"].names == ["negative", "positive"]
    with pytest.raises(ValueError, match="Unknown VADER"):
        load_vader_sentiment("imdb", cache_dir=tmp_path / "cache")


def test_reference_card_prefers_the_protocol_map(tmp_path, load_example):
    """examples/render_model_cards.py renders the data-map card from the protocol's seed-0 map (saved without a plot)
    when it exists, drawing the plot itself, and falls back to examples/cartography.py's map otherwise."""
    from hf_notlike.cartography import DataMap

    module = load_example("render_model_cards")
    outputs, cards = tmp_path / "outputs", tmp_path / "cards"
    rng = np.random.default_rng(0)
    small, full = rng.uniform(size=(6, 3)), rng.uniform(size=(9, 3))
    DataMap(small, small > 0.5).save_pretrained(outputs / "cartography" / "rotten_tomatoes_map")
    DataMap(full, full > 0.5).save_pretrained(outputs / "results" / "cartography_ood" / "maps" / "seed0", card=False,
                                              plot=False)
    assert module.main(["--outputs", str(outputs), "--model-cards", str(cards)]) == 0
    text = (cards / "data-map-rotten-tomatoes" / "README.md").read_text()
    assert "9 training examples" in text
    assert (cards / "data-map-rotten-tomatoes" / "data_map.png").stat().st_size > 10_000
