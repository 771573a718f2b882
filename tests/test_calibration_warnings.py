"""Calibration warnings that are right: a good model calibrated on noisy rows is left alone; exits that sit at the
class prior (training failed) are named with the fix, after training and at calibration; degenerate calibration
sets (empty texts, a handful of rows) are refused or flagged instead of yielding a boundary temperature."""

import warnings

import datasets
import pytest
import torch
from transformers import TrainingArguments

from hf_notlike import EarlyExitTrainer, calibrate_temperatures
from hf_notlike.early_exit.calibration import (
    CalibrationWarning,
    calibrate_from_logits,
    check_exits_learned,
)

PAD, BOS, EOS = 0, 2, 3


def topic_rows(n: int, seed: int, flip: float = 0.0, only_class: int | None = None) -> datasets.Dataset:
    """A learnable two-class task: class 0 texts use tokens [5, 30), class 1 texts [35, 64); `flip` of the labels
    are wrong (noisy rows); `only_class` gives every row that class."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        label = int(torch.randint(0, 2, (1,), generator=g)) if only_class is None else only_class
        low, high = (5, 30) if label == 0 else (35, 64)
        length = int(torch.randint(4, 10, (1,), generator=g))
        ids = [BOS] + torch.randint(low, high, (length,), generator=g).tolist() + [EOS]
        if float(torch.rand((), generator=g)) < flip:
            label = 1 - label
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "label": label})
    return datasets.Dataset.from_list(rows)


def collate(rows):
    width = max(len(r["input_ids"]) for r in rows)
    return {
        "input_ids": torch.tensor([r["input_ids"] + [PAD] * (width - len(r["input_ids"])) for r in rows]),
        "attention_mask": torch.tensor([r["attention_mask"] + [0] * (width - len(r["input_ids"])) for r in rows]),
        "labels": torch.tensor([r["label"] for r in rows]),
    }


def train(early_exit_model, tmp_path, train_set, eval_set=None, epochs=2.0, lr=1e-3, **config):
    model = early_exit_model(vocab_size=64, num_labels=2, exit_layers=[1, 2, 4], hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0, pad_token_id=PAD, **config)
    args = TrainingArguments(output_dir=str(tmp_path), num_train_epochs=epochs, per_device_train_batch_size=16,
                             learning_rate=lr, save_strategy="no", report_to="none", use_cpu=True,
                             disable_tqdm=True, seed=0, remove_unused_columns=False)
    trainer = EarlyExitTrainer(model=model.train(), args=args, train_dataset=train_set, eval_dataset=eval_set,
                               data_collator=collate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        trainer.train()
    model.eval()
    return model, [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]


@pytest.fixture(scope="module")
def good_model(early_exit_model, tmp_path_factory):
    model, messages = train(early_exit_model, tmp_path_factory.mktemp("good"), topic_rows(480, seed=0),
                            topic_rows(64, seed=1), epochs=4.0, lr=2e-3, exit_input="weighted_mean",
                            exit_learning_rate_multiplier=10.0)
    return model, messages


def test_a_good_model_calibrated_on_noisy_rows_does_not_warn(good_model):
    model, after_training = good_model
    assert after_training == []  # the trainer's own check found every exit learned
    noisy = topic_rows(300, seed=2, flip=0.08)  # 8% wrong labels: no exit can be right on those
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        result = calibrate_temperatures(model, noisy, show_progress=False)
    assert min(result.accuracy) > 0.8  # it learned; the noise caps it near 92%
    assert all(after < before for before, after in zip(result.nll_before, result.nll_after, strict=True))
    assert result.messages == [] and result.worse_exits == [] and "WARNING" not in str(result)


def test_exits_at_the_prior_warn_after_training_and_at_calibration(early_exit_model, tmp_path):
    """Trained on a slice holding one class, every exit predicts it: the trainer's check and the calibration both
    name each exit and the fix; for exits that read [CLS] states, `exit_input="weighted_mean"` is named too."""
    model, after_training = train(early_exit_model, tmp_path, topic_rows(64, seed=3, only_class=0),
                                  topic_rows(64, seed=4), epochs=4.0, exit_input="weighted_cls")
    assert len(after_training) == 3
    for layer, message in zip([1, 2, 4], after_training, strict=True):
        assert message.startswith(f"exit {layer} has not learned")
        assert 'exit_input="weighted_mean"' in message and "exit_learning_rate_multiplier" in message
    with pytest.warns(CalibrationWarning, match=r"exit 4 has not learned.*exit_input=\"weighted_mean\""):
        result = calibrate_temperatures(model, topic_rows(200, seed=5), show_progress=False)
    assert result.failed_exits == [1, 2, 4]
    assert all(result.nll_after[k] <= result.nll_before[k] for k in range(3))  # calibration "helped", yet failed


def test_check_exits_learned_tells_a_weak_exit_from_one_at_the_prior():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (400,), generator=g)
    signal = (2 * labels - 1).float()
    weak = torch.stack([-signal, signal], -1) * 0.3 + torch.randn(400, 2, generator=g)  # about 66% right
    stuck = torch.tensor([0.2, 0.0]) + torch.randn(400, 2, generator=g) * 0.01  # always class 0
    strong = torch.stack([-signal, signal], -1) * 3.0
    messages = check_exits_learned([stuck, weak, strong], labels, exit_layers=[2, 4, 6])
    assert len(messages) == 1 and messages[0].startswith("exit 2 has not learned")
    assert 0.6 < float((weak.argmax(-1) == labels).float().mean()) < 0.8
    with pytest.raises(ValueError, match="too few"):
        check_exits_learned(strong[:5, None], labels[:5])
    with pytest.raises(ValueError, match="several classes"):
        check_exits_learned(strong[:, None], torch.zeros(400, dtype=torch.long))


@pytest.mark.parametrize("seed", range(8))
def test_a_small_ece_wobble_of_a_good_model_does_not_warn(seed):
    """A 95%-accurate, nearly calibrated model on 200 rows: its binned ECE may move a little either way with the
    fitted temperature; that is noise, not a failure."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (200,), generator=g)
    margin = torch.randn(200, generator=g).abs() * 2.0 + 2.9  # confidence mostly 0.95-1
    sign = torch.where(torch.rand(200, generator=g) < 0.95, 1.0, -1.0)  # 5% confidently wrong
    logits = torch.stack([torch.zeros(200), (2 * labels - 1) * sign * margin], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        result = calibrate_from_logits(logits[:, None], labels, exit_layers=[6])
    assert result.accuracy[0] > 0.9 and result.worse_exits == [] and result.messages == []


def test_degenerate_calibration_sets(early_exit_model, good_model):
    model, _ = good_model
    empty = datasets.Dataset.from_dict({"input_ids": [[BOS, EOS]] * 50, "label": [0, 1] * 25})
    with pytest.raises(ValueError, match="holds no text"):
        calibrate_temperatures(model, empty, show_progress=False)
    with pytest.raises(ValueError, match="same logits at every exit"):
        calibrate_from_logits(torch.ones(10, 2, 2), torch.tensor([0, 1] * 5), exit_layers=[1, 2])
    with pytest.warns(CalibrationWarning, match="only 2 rows"):
        result = calibrate_temperatures(model, topic_rows(2, seed=6), show_progress=False)
    assert "only 2 rows" in str(result)
    rows = topic_rows(60, seed=7).to_list() + [{"input_ids": [BOS, EOS], "attention_mask": [1, 1], "label": i % 2}
                                                 for i in range(20)]
    some_empty = datasets.Dataset.from_list(rows)
    with pytest.warns(CalibrationWarning, match="20 of 80 calibration rows hold no text"):
        calibrate_temperatures(model, some_empty, show_progress=False)
