"""Thresholds chosen for an accuracy budget (`choose_thresholds`) and per-exit thresholds in the model
(`config.exit_thresholds`): the search never does worse than the best global threshold, the margin tightens it, and a
model saved with per-exit thresholds exits exactly where the logits say it should, in both exit paths."""

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from hf_notlike import ThresholdChoice, choose_thresholds, collect_exit_logits
from hf_notlike.early_exit import EARLY_EXIT_MODELS, exit_confidences, select_exits
from hf_notlike.early_exit.tradeoff import TradeoffResult, curve_from_logits

LAYERS = [2, 4, 6, 8]


def synthetic_logits(seed: int, rows: int = 600, num_labels: int = 3, strengths=(0.4, 1.0, 1.6, 2.5),
                     overconfidence=(3.0, 1.0, 1.0, 1.0)):
    """Exit logits whose accuracy grows with depth; early exits are over-confident (logits scaled up), so one global
    threshold fits them badly."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, num_labels, (rows,), generator=g)
    one_hot = torch.nn.functional.one_hot(labels, num_labels).float()
    exits = []
    for strength, scale in zip(strengths, overconfidence):
        exits.append(scale * (torch.randn(rows, num_labels, generator=g) + 2 * strength * one_hot))
    return torch.stack(exits, dim=1), labels


def outcome(logits, labels, temperatures, thresholds, layers=LAYERS):
    """Accuracy and mean layers of thresholds, computed independently with the model's own exit rule."""
    index = select_exits(logits, temperatures, thresholds)
    correct = logits.argmax(-1)[torch.arange(len(index)), index] == labels
    return float(correct.double().mean()), float(torch.tensor(layers, dtype=torch.float64)[index].mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("max_drop", [0.0, 0.01, 0.03])
def test_per_exit_never_slower_than_best_global_threshold(seed, max_drop):
    logits, labels = synthetic_logits(seed)
    temperatures = [1.0, 1.2, 0.9, 1.0]
    per_exit = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=max_drop)
    single = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=max_drop, per_exit=False)
    assert isinstance(per_exit, ThresholdChoice)
    full_accuracy = float((logits[:, -1].argmax(-1) == labels).double().mean())
    assert per_exit.reference_accuracy == pytest.approx(full_accuracy)
    assert per_exit.target_accuracy == pytest.approx(full_accuracy - max_drop)
    # both meet the constraint, recomputed with select_exits; per-exit is never slower on validation
    for choice in (per_exit, single):
        accuracy, mean_layers = outcome(logits, labels, temperatures, choice.thresholds)
        assert accuracy == pytest.approx(choice.accuracy) and mean_layers == pytest.approx(choice.mean_layers)
        assert accuracy >= choice.target_accuracy - 1e-12
        assert choice.ideal_speedup == pytest.approx(LAYERS[-1] / mean_layers)
    assert per_exit.mean_layers <= single.mean_layers + 1e-12
    assert per_exit.global_mean_layers == pytest.approx(single.mean_layers)
    assert single.thresholds == [single.global_threshold] * 3 + [1.0]
    # the global threshold agrees with the sweep's own exact curve and its choice on that curve
    row = curve_from_logits(logits, labels, LAYERS, temperatures, [single.global_threshold])[0]
    assert row["accuracy"] == pytest.approx(single.accuracy) and row["mean_layers"] == pytest.approx(single.mean_layers)
    grid = sorted({*torch.linspace(0.34, 1.0, 67).tolist(), single.global_threshold})
    rows = [dict(r, kind="early_exit") for r in curve_from_logits(logits, labels, LAYERS, temperatures, grid)]
    curve = TradeoffResult(rows=rows, batch_sizes=[], num_layers=8, num_examples=len(labels), num_timing_examples=0,
                           repeats=0)
    on_grid = curve.threshold_for(max_accuracy_drop=max_drop)
    assert outcome(logits, labels, temperatures, on_grid)[1] >= single.mean_layers - 1e-12


def test_per_exit_thresholds_beat_one_global_threshold_when_exits_differ():
    # the first exit is over-confident: one threshold high enough for it wastes the later, calibrated exits
    logits, labels = synthetic_logits(0, rows=1000)
    temperatures = [1.0] * 4
    choice = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=0.01)
    assert choice.mean_layers < choice.global_mean_layers - 0.05, choice
    assert len(set(choice.thresholds[:-1])) > 1  # really one threshold per exit
    assert choice.thresholds[-1] == 1.0
    assert sum(choice.exit_fractions) == pytest.approx(1.0)


@pytest.mark.parametrize("per_exit", [True, False])
def test_margin_tightens_the_choice(per_exit):
    logits, labels = synthetic_logits(3)
    temperatures = [1.0] * 4
    loose = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=0.02, per_exit=per_exit)
    tight = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=0.02, margin=0.015, per_exit=per_exit)
    assert tight.target_accuracy == pytest.approx(loose.target_accuracy + 0.015)
    assert tight.accuracy >= tight.target_accuracy - 1e-12
    assert tight.mean_layers >= loose.mean_layers
    assert tight.mean_layers > loose.mean_layers or tight.accuracy >= loose.accuracy + 0.015 - 1e-12
    # a given reference instead of the full model's accuracy
    reference = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=0.5, max_drop=0.0,
                                  per_exit=per_exit, from_better_reference=False)
    assert reference.target_accuracy == 0.5 and reference.mean_layers <= loose.mean_layers


@pytest.mark.parametrize("per_exit", [True, False])
def test_budget_is_measured_from_the_better_reference(per_exit):
    """A reference below the full model's validation accuracy does not widen the budget (by default): the choice
    equals the one measured from the full model; a reference above it is used as given."""
    logits, labels = synthetic_logits(3, strengths=(0.3, 0.6, 0.9, 1.2))  # the full model is not perfect
    temperatures = [1.0] * 4
    full_accuracy = float((logits[:, -1].argmax(-1) == labels).double().mean())
    own = choose_thresholds(logits, labels, LAYERS, temperatures, max_drop=0.02, per_exit=per_exit)
    lower = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=full_accuracy - 0.03,
                              max_drop=0.02, per_exit=per_exit)
    assert lower.thresholds == own.thresholds and lower.reference_accuracy == pytest.approx(full_accuracy)
    assert lower.target_accuracy == pytest.approx(full_accuracy - 0.02)
    assert lower.info["given_reference_accuracy"] == pytest.approx(full_accuracy - 0.03)
    spent = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=full_accuracy - 0.03,
                              max_drop=0.02, per_exit=per_exit, from_better_reference=False)
    assert spent.target_accuracy == pytest.approx(full_accuracy - 0.05) and spent.mean_layers < own.mean_layers
    higher = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=full_accuracy + 0.01,
                               max_drop=0.02, per_exit=per_exit)
    assert higher.target_accuracy == pytest.approx(full_accuracy - 0.01) and higher.mean_layers >= own.mean_layers
    with pytest.raises(ValueError, match="`from_better_reference` must be True or False"):
        choose_thresholds(logits, labels, LAYERS, temperatures, from_better_reference="yes")


@pytest.mark.parametrize("reference_accuracy", [None, 0.9])
def test_bootstrap_lower_bound_meets_the_budget(reference_accuracy):
    logits, labels = synthetic_logits(1, rows=800)
    temperatures = [1.0] * 4
    # a given reference measured alone: the bound is of the accuracy itself, not paired with the full model
    alone = reference_accuracy is not None
    plain = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=reference_accuracy,
                              max_drop=0.01, from_better_reference=not alone)
    safe = choose_thresholds(logits, labels, LAYERS, temperatures, reference_accuracy=reference_accuracy,
                             max_drop=0.01, confidence=0.95, num_bootstrap=400, from_better_reference=not alone)
    assert safe.info["bootstrap_lower_bound"] >= safe.target_accuracy - 1e-12
    assert safe.target_accuracy == plain.target_accuracy and safe.info["bootstrap_extra"] > 0
    assert safe.accuracy >= plain.accuracy and safe.mean_layers >= plain.mean_layers
    # the bound is a real bootstrap: recomputed here with the same resamples, paired with the full model or not
    correct = logits.argmax(-1)[torch.arange(len(labels)), select_exits(logits, temperatures, safe.thresholds)] == (
        labels)
    full = logits[:, -1].argmax(-1) == labels
    values = correct.double() - (full.double() if reference_accuracy is None else 0.0)
    generator = torch.Generator().manual_seed(0)
    means = values[torch.randint(len(labels), (400, len(labels)), generator=generator)].mean(dim=1)
    shift = float(full.double().mean()) if reference_accuracy is None else 0.0
    assert safe.info["bootstrap_lower_bound"] == pytest.approx(shift + float(torch.quantile(means, 0.05)))
    with pytest.raises(ValueError, match="`confidence`"):
        choose_thresholds(logits, labels, LAYERS, temperatures, confidence=1.0)


def test_evaluate_gives_another_split_s_result():
    val_logits, val_labels = synthetic_logits(4)
    test_logits, test_labels = synthetic_logits(5)
    choice = choose_thresholds(val_logits, val_labels, LAYERS, [1.0] * 4, max_drop=0.01, margin=0.005)
    result = choice.evaluate(test_logits, test_labels)
    accuracy, mean_layers = outcome(test_logits, test_labels, [1.0] * 4, choice.thresholds)
    assert result["accuracy"] == pytest.approx(accuracy) and result["mean_layers"] == pytest.approx(mean_layers)
    assert "validation accuracy" in str(choice) and json.dumps(choice.to_dict())


def test_a_middle_exit_better_than_the_last_still_gives_thresholds():
    """On a small split an intermediate exit can beat the last one: a target the full model misses but a threshold
    reaches is met (from the best such threshold, faster than full depth), not refused."""
    logits, labels = synthetic_logits(3, strengths=(0.4, 1.0, 2.5, 0.6))
    full_accuracy = float((logits[:, -1].argmax(-1) == labels).double().mean())
    third_accuracy = float((logits[:, 2].argmax(-1) == labels).double().mean())
    assert third_accuracy > full_accuracy + 0.1
    reference = full_accuracy + 0.05
    choice = choose_thresholds(logits, labels, LAYERS, [1.0] * 4, reference_accuracy=reference, max_drop=0.0)
    assert choice.target_accuracy == pytest.approx(reference)
    assert choice.accuracy >= reference - 1e-12 and choice.mean_layers < LAYERS[-1]
    accuracy, mean_layers = outcome(logits, labels, [1.0] * 4, choice.thresholds)
    assert choice.accuracy == pytest.approx(accuracy) and choice.mean_layers == pytest.approx(mean_layers)
    # beyond what any single threshold reaches: refused, naming both accuracies
    with pytest.raises(ValueError, match="even the full model reaches only .* the best single threshold"):
        choose_thresholds(logits, labels, LAYERS, [1.0] * 4, reference_accuracy=0.999, max_drop=0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(max_drop=-0.01), "`max_drop`"),
        (dict(max_drop=1.5), "`max_drop`"),
        (dict(margin=float("nan")), "`margin`"),
        (dict(reference_accuracy=1.2), "`reference_accuracy`"),
        (dict(reference_accuracy=0.99, max_drop=0.0), "even the full model reaches only"),
        (dict(exit_layers=[2, 4, 8]), "4 exits but `exit_layers` has 3"),
        (dict(temperatures=[1.0]), "`temperatures` 1"),
        (dict(num_candidates=0), "`num_candidates`"),
    ],
)
def test_bad_budgets_and_inputs_fail_clearly(kwargs, message):
    logits, labels = synthetic_logits(0, rows=50, strengths=(0.1, 0.1, 0.1, 0.2))
    arguments = dict(exit_layers=LAYERS, temperatures=[1.0] * 4)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        choose_thresholds(logits, labels, **arguments)
    with pytest.raises(ValueError, match="`labels` must hold 50"):
        choose_thresholds(logits, labels[:10], LAYERS, [1.0] * 4)


# ------------------------------------------------------------------------------- per-exit thresholds in the model


@pytest.mark.parametrize(
    ("value", "message"),
    [([0.9, 0.9], "has 2 values but there are 4 exits"), ([0.9, 0.0, 0.9, 1.0], "must all lie in"),
     ([0.9, 1.2, 0.9, 1.0], "must all lie in")],
)
def test_config_rejects_bad_exit_thresholds(value, message, early_exit_config, config_errors):
    with pytest.raises(config_errors, match=message):
        early_exit_config("bert", exit_thresholds=value)
    with pytest.raises(config_errors, match="regression model"):
        early_exit_config("bert", num_labels=1, exit_thresholds=[0.9, 0.9, 0.9, 1.0])


@pytest.mark.parametrize("arch", ["bert", "mpnet"])
def test_saved_per_exit_thresholds_exit_where_the_logits_say(arch, tmp_path, early_exit_model, padded_batch):
    bos, eos = (2, 3) if arch == "bert" else (0, 2)
    from early_exit_helpers import token_dataset

    model = early_exit_model(arch, exit_scale=4.0)
    model.config.temperatures = [1.3, 1.1, 0.8, 1.0]
    val = token_dataset(60, seed=1, bos=bos, eos=eos)
    val_logits, _ = collect_exit_logits(model, val, batch_size=16, show_progress=False)
    val_labels = val_logits[:, -1].argmax(-1)  # the full model's answers: early exits can only lose accuracy
    choice = choose_thresholds(val_logits, val_labels, model.config.exit_layers, model.config.temperatures,
                               max_drop=0.2)
    assert choice.mean_layers < 4 and choice.accuracy < 1
    thresholds = choice.apply(model)
    assert model.config.exit_thresholds == choice.thresholds == thresholds
    model.save_pretrained(tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["exit_thresholds"] == choice.thresholds
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    assert type(loaded) is EARLY_EXIT_MODELS[arch] and loaded.config.exit_thresholds == choice.thresholds

    ids, mask = padded_batch(model, batch_size=12, seed=7)
    with torch.no_grad():
        exit_logits = loaded(ids, attention_mask=mask, output_all_exits=True).exit_logits
        batch = loaded(ids, attention_mask=mask)
        singles = [loaded(ids[i : i + 1, : int(mask[i].sum())]) for i in range(len(ids))]
    expected = select_exits(exit_logits, loaded.config.temperatures, choice.thresholds)
    layers = torch.tensor(loaded.config.exit_layers)
    assert len(set(expected.tolist())) > 1  # rows leave at different exits
    assert torch.equal(batch.exit_layer, layers[expected])
    torch.testing.assert_close(batch.logits, exit_logits[torch.arange(len(ids)), expected], rtol=1e-5, atol=1e-5)
    assert [int(s.exit_layer) for s in singles] == layers[expected].tolist()
    for i, single in enumerate(singles):
        torch.testing.assert_close(single.logits[0], exit_logits[i, expected[i]], rtol=1e-4, atol=1e-5)
    # the validation logits give back the choice's own accuracy and layers through the loaded model's rule
    index = select_exits(val_logits, loaded.config.temperatures, loaded.config.thresholds_for())
    assert float((val_logits.argmax(-1)[torch.arange(len(index)), index] == val_labels).double().mean()) == (
        pytest.approx(choice.accuracy))


def test_per_exit_thresholds_override_the_global_one_and_a_call_overrides_both(early_exit_model, padded_batch):
    model = early_exit_model("bert", exit_scale=4.0)
    ids, mask = padded_batch(model)
    with torch.no_grad():
        exit_logits = model(ids, attention_mask=mask, output_all_exits=True).exit_logits
    confidences = exit_confidences(exit_logits, model.config.temperatures)
    # thresholds between the rows' confidences, never on one: the model decides `confidence >= t` from its fused
    # margins, `select_exits` from a softmax, and the two may round a row sitting exactly on `t` apart
    first = confidences[:, 0].sort().values
    middle = len(first) // 2
    per_exit = [float(first[middle - 1] + first[middle]) / 2, 1.0, float(confidences[:, 2].min()) - 1e-4, 1.0]
    model.config.exit_threshold = 0.34
    model.config.exit_thresholds = per_exit
    layers = torch.tensor(model.config.exit_layers)
    with torch.no_grad():
        configured = model(ids, attention_mask=mask).exit_layer
        uniform = model(ids, attention_mask=mask, exit_threshold=1.0).exit_layer
        listed = model(ids, attention_mask=mask, exit_threshold=[1.0, 1.0, 1.0, 1.0]).exit_layer
    assert torch.equal(configured, layers[select_exits(exit_logits, model.config.temperatures, per_exit)])
    assert 2 not in configured.tolist() and {1, 3} <= set(configured.tolist())  # 1.0: never leave at exit 2
    assert uniform.tolist() == listed.tolist() == [4] * len(ids)
    with pytest.raises(ValueError, match="`exit_threshold` has 2 values"):
        model(ids, attention_mask=mask, exit_threshold=[0.5, 0.5])


def test_applying_one_global_threshold_clears_per_exit_ones(early_exit_model):
    model = early_exit_model("bert")
    model.config.exit_thresholds = [0.5, 0.6, 0.7, 1.0]
    rows = [dict(kind="early_exit", threshold=t, accuracy=a, mean_layers=m)
            for t, a, m in [(1.0, 0.9, 4.0), (0.8, 0.9, 2.0)]]
    curve = TradeoffResult(rows=rows, batch_sizes=[], num_layers=4, num_examples=10, num_timing_examples=0, repeats=0)
    assert curve.apply_threshold(model, max_accuracy_drop=0.01) == 0.8
    assert model.config.exit_thresholds is None and model.config.thresholds_for() == [0.8] * 4
    # and a global ThresholdChoice does the same
    logits, labels = synthetic_logits(0)
    choice = choose_thresholds(logits, labels, [1, 2, 3, 4], [1.0] * 4, max_drop=0.02, per_exit=False)
    model.config.exit_thresholds = [0.5, 0.6, 0.7, 1.0]
    assert choice.apply(model) == [choice.global_threshold] * 4 and model.config.exit_thresholds is None
    with pytest.raises(ValueError, match="chosen for exits after layers"):
        choose_thresholds(logits, labels, LAYERS, [1.0] * 4).apply(model)
