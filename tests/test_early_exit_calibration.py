"""Temperature calibration of early-exit models (hf_notlike.early_exit.calibration)."""

import datasets
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from hf_notlike import (
    EarlyExitBertForSequenceClassification,
    calibrate_temperatures,
    collect_exit_logits,
    expected_calibration_error,
)
from hf_notlike.early_exit.calibration import calibrate_from_logits, fit_temperature

# three exits (after layers 1, 2 and 4) on BERT's own initialisation and position table, a vocabulary of 64
SHAPE = dict(exit_layers=[1, 2, 4], initializer_range=0.02, vocab_size=64, max_position_embeddings=512)


def sample_labels(logits, seed=0):
    """Labels drawn from softmax(logits): these logits are then calibrated by construction."""
    generator = torch.Generator().manual_seed(seed)
    return torch.multinomial(torch.softmax(logits.double(), -1), 1, generator=generator)[:, 0]


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature):
    torch.manual_seed(1)
    logits = torch.randn(6000, 5) * 2
    labels = sample_labels(logits)  # calibrated by construction at T = 1
    fitted = fit_temperature(logits * true_temperature, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.08)


def test_calibration_lowers_nll_and_ece_on_overconfident_logits():
    torch.manual_seed(2)
    base = torch.randn(3000, 3, 4) * 1.5
    labels = sample_labels(base[:, 0])
    base[:, 1:] = base[:, :1]  # the same calibrated logits at every exit, over-confident by factors 2, 3 and 5
    factors = torch.tensor([2.0, 3.0, 5.0])
    result = calibrate_from_logits(base * factors[None, :, None], labels, exit_layers=[1, 2, 4])
    for k in range(3):
        assert result.nll_after[k] < result.nll_before[k]
        assert result.ece_after[k] < result.ece_before[k]
        assert result.ece_after[k] < 0.03
        assert result.temperatures[k] == pytest.approx(float(factors[k]), rel=0.1)
    assert result.accuracy[0] == result.accuracy[1] == result.accuracy[2]  # scaling keeps predictions
    assert [row["exit_layer"] for row in result.rows] == [1, 2, 4]
    assert "ECE before" in str(result)


def test_expected_calibration_error_by_hand():
    # confidences 0.9 (right), 0.9 (wrong), 0.6 (right): bins {0.9: acc 0.5}, {0.6: acc 1}
    p = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6]])
    labels = torch.tensor([0, 1, 1])
    expected = 2 / 3 * abs(0.5 - 0.9) + 1 / 3 * abs(1.0 - 0.6)
    assert expected_calibration_error(p.log(), labels) == pytest.approx(expected, abs=1e-6)


def test_calibrate_temperatures_recovers_per_exit_temperatures_and_saves_them(tmp_path, early_exit_model,
                                                                              token_dataset):
    model = early_exit_model(**SHAPE, exit_scale=40.0)
    data = token_dataset(3000, with_labels=False)
    exit_logits, _ = collect_exit_logits(model, data.add_column("label", [0] * len(data)), show_progress=False)
    true_t = torch.tensor([0.5, 2.0, 4.0])  # exit k is over/under-confident by T_k; labels follow the truth
    labels = torch.stack([sample_labels(exit_logits[:, k] / true_t[k], seed=k) for k in range(3)], 1)
    # each exit needs its own labels: calibrate each exit on a dataset labelled from its own distribution
    fitted = []
    for k in range(3):
        result = calibrate_temperatures(model, data.add_column("label", labels[:, k].tolist()), show_progress=False)
        fitted.append(result.temperatures[k])
        assert model.config.temperatures == result.temperatures
        assert result.nll_after[k] <= result.nll_before[k] + 1e-9
    assert fitted == pytest.approx(true_t.tolist(), rel=0.15)

    model.save_pretrained(tmp_path)
    reloaded = EarlyExitBertForSequenceClassification.from_pretrained(tmp_path)
    assert reloaded.config.temperatures == pytest.approx(model.config.temperatures)


def test_collect_exit_logits_keeps_dataset_order(early_exit_model, token_dataset):
    model = early_exit_model(**SHAPE)
    data = token_dataset(20)
    exit_logits, labels = collect_exit_logits(model, data, batch_size=8, show_progress=False)
    assert exit_logits.shape == (20, 3, 3)
    assert labels.tolist() == data["label"]
    for i in (0, 7, 19):  # rows were batched by length; each must land at its own index
        alone = model(torch.tensor([data[i]["input_ids"]]), output_all_exits=True).exit_logits[0]
        torch.testing.assert_close(exit_logits[i], alone, atol=1e-5, rtol=1e-4)


def test_bad_input_raises_clear_errors(early_exit_model, token_dataset):
    model = early_exit_model(**SHAPE)
    with pytest.raises(ValueError, match="no label column"):
        calibrate_temperatures(model, token_dataset(10, with_labels=False), show_progress=False)
    with pytest.raises(ValueError, match="not tokenized"):
        calibrate_temperatures(model, datasets.Dataset.from_dict({"text": ["a"], "label": [0]}), show_progress=False)
    with pytest.raises(TypeError, match="datasets.Dataset"):
        calibrate_temperatures(model, [{"input_ids": [1, 2], "label": 0}], show_progress=False)
    with pytest.raises(ValueError, match="class indices"):
        calibrate_temperatures(model, token_dataset(10).map(lambda r: {"label": 7}), show_progress=False)
    stock = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=37))
    with pytest.raises(TypeError, match="no exits"):
        calibrate_temperatures(stock, token_dataset(10), show_progress=False)
    with pytest.raises(ValueError, match="regression"):
        calibrate_temperatures(early_exit_model(**SHAPE, num_labels=1), token_dataset(10), show_progress=False)


def labels_calibrated_per_bin_with_the_right_rows_least_confident(logits, num_bins=15):
    """Labels under which `logits` are calibrated bin by bin at T = 1 (accuracy = mean confidence in each confidence
    bin) while, inside each bin, the rows that are right are the least confident: confidence says nothing useful about
    being right, as for a model that has not learned. No temperature can keep this."""
    conf, pred = torch.softmax(logits, -1).max(-1)
    bins = torch.clamp((conf * num_bins).long(), max=num_bins - 1)
    labels = (pred + 1) % logits.shape[-1]
    for b in bins.unique():
        rows = (bins == b).nonzero()[:, 0]
        rows = rows[conf[rows].argsort()]
        k = int(round(float(conf[rows].mean()) * len(rows)))
        labels[rows[:k]] = pred[rows[:k]]
    return labels


@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_that_makes_an_exit_worse_warns_and_says_so(seed, early_exit_model, token_dataset):
    """A random model whose confidence ranks right and wrong rows backwards: calibration raises its ECE far beyond
    the noise of 3000 rows, and the warning names the exit and what to do."""
    from hf_notlike.early_exit.calibration import CalibrationWarning

    model = early_exit_model(seed=seed, vocab_size=64, max_position_embeddings=512, exit_layers=[2, 4], num_labels=2)
    data = token_dataset(3000, num_labels=2, seed=seed)
    exit_logits, _ = collect_exit_logits(model, data, show_progress=False)
    labels = labels_calibrated_per_bin_with_the_right_rows_least_confident(exit_logits[:, -1])
    data = data.remove_columns("label").add_column("label", labels.tolist())
    with pytest.warns(CalibrationWarning, match=r"exit 4 \(ECE 0\.0\d\d -> 0\.0\d\d.*beyond its noise on 3000 rows"):
        result = calibrate_temperatures(model, data, show_progress=False)
    assert result.ece_after[-1] > result.ece_before[-1] + 0.04  # really worse, on the very rows it was fitted on
    assert 4 in result.worse_exits and 4 in result.failed_exits
    printed = str(result).splitlines()
    assert any(line.startswith("   4 ") and "see the warning below" in line for line in printed)
    assert printed[-1].startswith("WARNING")


def test_calibration_that_helps_does_not_warn():
    import warnings

    torch.manual_seed(2)
    base = torch.randn(2000, 2, 3) * 1.5
    labels = sample_labels(base[:, 1])
    base[:, 0] = base[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = calibrate_from_logits(base * 3.0, labels, exit_layers=[1, 2])
    assert result.worse_exits == [] and "WARNING" not in str(result)


def test_rows_that_do_not_fit_the_model_are_named_before_the_pass(early_exit_model, token_dataset):
    model = early_exit_model(**SHAPE)
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    data = token_dataset(10)
    cases = {
        "holds 64": data.map(lambda r, i: {"input_ids": r["input_ids"] + [64] * (i == 3)}, with_indices=True),
        "non-empty list": data.map(lambda r, i: {"input_ids": [] if i == 2 else r["input_ids"]}, with_indices=True),
        "at most 512": data.map(lambda r, i: {"input_ids": r["input_ids"] * (100 if i == 1 else 1)},
                                with_indices=True),
        "one value per token": data.map(lambda r: {"attention_mask": [1]}),
        "masks every token": data.map(lambda r: {"attention_mask": [0] * len(r["input_ids"])}),
        r"row 0 has 0\.5": data.remove_columns("label").add_column("label", [0.5] * 10),
    }
    for message, bad in cases.items():
        with pytest.raises(ValueError, match=message):
            calibrate_temperatures(model, bad, show_progress=False)
    for name in ("batch_size", "num_bins", "max_iter"):
        with pytest.raises(ValueError, match=name):
            calibrate_temperatures(model, data, show_progress=False, **{name: 0})
    assert calls == []
