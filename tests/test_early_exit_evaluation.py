"""Per-exit evaluation of early-exit models inside the Trainer (hf_notlike.early_exit.evaluation)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import EvalPrediction, Trainer, TrainingArguments

from hf_notlike import (
    EarlyExitMetrics,
    collect_exit_logits,
)
from hf_notlike.early_exit.evaluation import EARLY_EXIT_ACCURACY, EXIT_ACCURACY, unpack_eval_prediction
from hf_notlike.early_exit.tradeoff import curve_from_logits

# three exits (after layers 1, 2 and 4) on BERT's own initialisation and position table, a vocabulary of 64
SHAPE = dict(exit_layers=[1, 2, 4], initializer_range=0.02, vocab_size=64, max_position_embeddings=512)


def learnable_dataset(token_dataset, n, seed=0):
    """Every inner token's id is congruent to the label mod 3 (learnable in a few dozen steps)."""
    def relabel(row):
        ids = row["input_ids"]
        inner = [t - t % 3 + row["label"] - (3 if t - t % 3 + row["label"] >= 64 else 0) for t in ids[1:-1]]
        return {"input_ids": [ids[0], *inner, ids[-1]]}

    return token_dataset(n, num_labels=3, seed=seed).map(relabel)


def collate(rows):
    width = max(len(row["input_ids"]) for row in rows)
    return {
        "input_ids": torch.tensor([row["input_ids"] + [0] * (width - len(row["input_ids"])) for row in rows]),
        "attention_mask": torch.tensor([[1] * len(row["input_ids"]) + [0] * (width - len(row["input_ids"]))
                                        for row in rows]),
        "labels": torch.tensor([row["label"] for row in rows]),
    }


def test_trainer_evaluate_reports_every_exit_and_the_configured_threshold(tmp_path, early_exit_model, token_dataset):
    # first-token exits: on this toy task the token-mean exits make layer 1 confident on every row, and the test needs
    # a threshold that moves rows between exits
    model = early_exit_model(**SHAPE, exit_threshold=0.9, exit_input="weighted_cls").train()
    train, dev = learnable_dataset(token_dataset, 192, seed=1), learnable_dataset(token_dataset, 60, seed=2)
    metrics = EarlyExitMetrics(model, thresholds=[0.5, 0.7])
    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=16, per_device_eval_batch_size=16,
                             learning_rate=5e-3, num_train_epochs=5, eval_strategy="epoch", save_strategy="no",
                             logging_strategy="epoch", report_to=[], use_cpu=True, seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev, data_collator=collate,
                      compute_metrics=metrics)
    trainer.train()
    evaluated = [log for log in trainer.state.log_history if "eval_accuracy" in log]
    assert len(evaluated) == 5  # the metrics work inside the training loop's evaluations too
    result = trainer.evaluate()

    # brute force: every exit's logits in one pass, and the real early-exit loop row by row
    model.eval()
    exit_logits, labels = collect_exit_logits(model, dev, show_progress=False)
    for k, layer in enumerate([1, 2, 4]):
        expected = float((exit_logits[:, k].argmax(-1) == labels).double().mean())
        assert result[f"eval_accuracy_exit_{layer}"] == pytest.approx(expected)
    correct, layers = [], []
    for row in dev:
        out = model(torch.tensor([row["input_ids"]]))  # eval mode, configured threshold 0.9
        correct.append(int(out.logits.argmax(-1)) == row["label"])
        layers.append(int(out.exit_layer))
    assert result["eval_accuracy"] == pytest.approx(np.mean(correct))
    assert result["eval_mean_layers"] == pytest.approx(np.mean(layers))
    assert result["eval_ideal_speedup"] == pytest.approx(4 / np.mean(layers))
    assert 1.0 < result["eval_mean_layers"] < 4.0  # the threshold really moves rows between exits
    curve = {row["threshold"]: row for row in curve_from_logits(exit_logits, labels, [1, 2, 4],
                                                                model.config.temperatures, [0.5, 0.7])}
    for t in (0.5, 0.7):
        assert result[f"eval_accuracy_at_{t:g}"] == pytest.approx(curve[t]["accuracy"])
        assert result[f"eval_mean_layers_at_{t:g}"] == pytest.approx(curve[t]["mean_layers"])
    assert result["eval_accuracy_exit_4"] > 0.6  # it learned: the metrics are not read off an untrained model

    # eval_loss is the last exit's loss (comparable with a stock model's), not the sum over exits
    last_loss = torch.nn.functional.cross_entropy(exit_logits[:, -1], labels)
    assert result["eval_loss"] == pytest.approx(float(last_loss), rel=1e-4)

    # the config is read at each call: a new threshold is picked up without rebuilding the metrics
    model.config.exit_threshold = 1.0
    assert trainer.evaluate()["eval_mean_layers"] == 4.0


def test_metric_modules_load_offline_from_the_package(tmp_path):
    """`evaluate.load` on the shipped folders, in a process that may not reach any network service."""
    code = (
        "import evaluate\n"
        f"m = evaluate.load({EXIT_ACCURACY!r})\n"
        "print(m.compute(predictions=[[0, 1], [1, 1]], references=[1, 1], exit_layers=[3, 6]))\n"
        f"m = evaluate.load({EARLY_EXIT_ACCURACY!r})\n"
        "print(m.compute(predictions=[0, 1, 2], references=[1, 1, -100], exit_layer=[2, 6, 6], num_layers=6))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path / "hf_home"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True).stdout
    assert out.splitlines() == [
        "{'accuracy_exit_3': 0.5, 'accuracy_exit_6': 1.0}",
        "{'accuracy': 0.5, 'mean_layers': 4.0, 'ideal_speedup': 1.5}",
    ]
    assert Path(EXIT_ACCURACY).is_relative_to(Path(__import__("hf_notlike").__file__).parent)


def prediction(n=6, exits=3, labels=3, seed=0):
    g = np.random.default_rng(seed)
    exit_logits = g.normal(size=(n, exits, labels)).astype(np.float32)
    index = g.integers(0, exits, size=n)
    logits = exit_logits[np.arange(n), index]
    return EvalPrediction(predictions=(logits, np.array([1, 2, 4])[index], exit_logits),
                          label_ids=g.integers(0, labels, size=n))


def test_composing_with_other_metrics_and_ignored_rows(early_exit_config):
    config = early_exit_config(**SHAPE, exit_threshold=0.6)
    metrics = EarlyExitMetrics(config)
    p = prediction()
    p.label_ids[0] = -100  # ignored, as by the loss
    outputs = unpack_eval_prediction(p, config)
    assert outputs.labels.shape == (5,) and outputs.exit_predictions.shape == (5, 3)
    combined = {**metrics(p), "f1_like": float((outputs.predictions == outputs.labels).mean())}
    assert combined["accuracy"] == combined["f1_like"]


def test_what_the_metrics_refuse(early_exit_config):
    config = early_exit_config(**SHAPE, exit_threshold=0.6)
    metrics = EarlyExitMetrics(config)
    p = prediction()
    with pytest.raises(ValueError, match="dropped `exit_layer` and `exit_logits`"):
        metrics(EvalPrediction(predictions=p.predictions[0], label_ids=p.label_ids))
    with pytest.raises(ValueError, match="label_ids"):
        metrics(EvalPrediction(predictions=p.predictions, label_ids=None))
    with pytest.raises(ValueError, match="holds 2 exits but the model has 3"):
        metrics(EvalPrediction(predictions=(p.predictions[0], p.predictions[1], p.predictions[2][:, :2]),
                               label_ids=p.label_ids))
    bad = p.predictions[2].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics(EvalPrediction(predictions=(p.predictions[0], p.predictions[1], bad), label_ids=p.label_ids))
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\]"):
        metrics(EvalPrediction(predictions=p.predictions, label_ids=p.label_ids + 3))
    with pytest.raises(TypeError, match="early-exit model"):
        EarlyExitMetrics(object())
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        EarlyExitMetrics(config, thresholds=[1.5])
