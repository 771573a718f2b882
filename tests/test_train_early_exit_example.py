"""`examples/train_early_exit.py`: an interrupted training resumes from its newest complete checkpoint; option checks,
the threshold budget and the summary tables."""

from __future__ import annotations

import argparse
import logging

import pytest
import torch


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("train_early_exit")


def test_last_checkpoint_skips_incomplete_ones(example, tmp_path):
    assert example.last_checkpoint(tmp_path / "missing") is None
    assert example.last_checkpoint(tmp_path) is None
    for step, state in ((5, '{"global_step": 5}'), (10, '{"global_step": 10}'), (15, '{"global_st'), (20, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state is not None:
            (folder / "trainer_state.json").write_text(state)
    # 20: cut off before its state was written; 15: state cut off mid-write; 10 is the newest complete one
    assert example.last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes(example, tmp_path, bert_tokenizer, caplog, monkeypatch):
    import json
    import time

    import datasets
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    texts = [f"review number {i} was {'good' if i % 2 else 'bad'}" for i in range(24)]
    data = datasets.Dataset.from_dict({"text": texts, "label": [i % 2 for i in range(24)]})
    data = data.map(lambda b: bert_tokenizer(b["text"]), batched=True, remove_columns=["text"])
    args = argparse.Namespace(batch_size=4, head_learning_rate=1e-3, epochs=2, seed=0, device="cpu", save_steps=2)

    def model():
        torch.manual_seed(0)
        return BertForSequenceClassification(BertConfig(
            vocab_size=len(bert_tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=32, num_labels=2))

    collator = example.DataCollatorWithPadding

    class FailingCollator(collator):  # the "machine" stops a few batches in, after a checkpoint
        calls = 0

        def __call__(self, features):
            FailingCollator.calls += 1
            if FailingCollator.calls == 5:
                raise Interrupt
            time.sleep(0.5)  # slow steps: the checkpoint at step 2 keeps at least one second of training
            return super().__call__(features)

    monkeypatch.setattr(example, "DataCollatorWithPadding", FailingCollator)
    with pytest.raises(Interrupt):
        example.train(model(), data, bert_tokenizer, args, 1e-3, tmp_path)
    monkeypatch.setattr(example, "DataCollatorWithPadding", collator)
    checkpoints = sorted(p.name for p in (tmp_path / "trainer").glob("checkpoint-*"))
    assert len(checkpoints) == 1 and checkpoints[0] != "checkpoint-12"  # the last one only, mid-run
    # the checkpoint holds the seconds trained so far (TrainingClock, a stateful Trainer callback)
    state = json.loads((tmp_path / "trainer" / checkpoints[0] / "trainer_state.json").read_text())
    kept = state["stateful_callbacks"]["TrainingClock"]["args"]["seconds"]
    assert kept >= 0.5 * int(checkpoints[0].split("-")[1])
    start = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="train_early_exit"):
        seconds = example.train(model(), data, bert_tokenizer, args, 1e-3, tmp_path)
    resumed = time.perf_counter() - start
    assert f"resuming the interrupted training from {tmp_path / 'trainer' / checkpoints[0]}" in caplog.text
    assert kept < seconds < kept + resumed  # the whole training, the segment before the interruption included
    assert not (tmp_path / "trainer").exists()  # scratch removed once the run finished


def test_variant_plot_averages_seeds_threshold_by_threshold(example, tmp_path):
    import json

    results = tmp_path / "rt"
    results.mkdir()
    (results / "a_seed1.json").write_text(json.dumps({"variant": "a", "test_accuracy": 0.80}))
    for seed, (acc, layers) in enumerate(((0.78, 2.0), (0.76, 4.0)), start=1):
        curve = [{"threshold": 0.5, "accuracy": acc, "mean_layers": layers},
                 {"threshold": 1.0, "accuracy": 0.80, "mean_layers": 6.0}]
        (results / f"b_seed{seed}.json").write_text(json.dumps({
            "variant": "b", "test_curve": curve, "layer_speedup_at_chosen": 6.0 / layers,
            "test_accuracy_at_chosen": acc}))
    args = argparse.Namespace(results_dir=str(tmp_path), max_drop=1.0)
    fig = example.plot_variants(["rt"], args, str(tmp_path / "plot.png"))
    assert (tmp_path / "plot.png").stat().st_size > 0
    curve, star = [line for line in fig.axes[0].lines if line.get_color() == "tab:blue"]
    # threshold 0.5: mean layers 3 over the two seeds -> 2x; mean accuracy 77%
    assert list(curve.get_xdata()) == pytest.approx([2.0, 1.0])
    assert list(curve.get_ydata()) == pytest.approx([77.0, 80.0])
    assert list(star.get_xdata()) == pytest.approx([(3.0 + 1.5) / 2])
    assert fig.axes[0].get_xlabel() == "layer speed-up over the full model (6 / mean layers run)"
    # the runs' own budget (max_drop_points) draws the band; the per-exit settings and their ceiling get markers
    for seed, speedup in ((1, 3.0), (2, 2.0)):
        record = json.loads((results / f"b_seed{seed}.json").read_text())
        record.update(max_drop_points=0.5, per_exit_layer_speedup=speedup, per_exit_test_accuracy=0.79,
                      per_exit_ceiling_layer_speedup=speedup + 1, per_exit_ceiling_test_accuracy=0.795)
        (results / f"b_seed{seed}.json").write_text(json.dumps(record))
    fig = example.plot_variants(["rt"], args, str(tmp_path / "plot.png"))
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "(a) plain classifier, and 0.5 points below it" in labels
    assert {"per-exit thresholds chosen on validation", "per-exit thresholds chosen on test (ceiling)"} <= set(labels)
    markers = {line.get_marker(): (line.get_xdata()[0], line.get_ydata()[0]) for line in fig.axes[0].lines
               if line.get_marker() in ("P", "D") and len(line.get_xdata())}
    assert markers["P"] == pytest.approx((2.5, 79.0)) and markers["D"] == pytest.approx((3.5, 79.5))


def test_thresholds_budget_from_the_better_reference(example, tmp_path):
    """The summary's budget table: from (a) alone the exits may spend a full model that beats (a) on validation;
    from the better reference they may not (synthetic curves, one seed)."""
    import json

    results = tmp_path / "rt"
    results.mkdir()
    validation = [{"threshold": 0.6, "accuracy": 0.80, "mean_layers": 1.5},
                  {"threshold": 0.8, "accuracy": 0.82, "mean_layers": 3.0},
                  {"threshold": 1.0, "accuracy": 0.83, "mean_layers": 6.0}]
    test = [{"threshold": t, "accuracy": a, "mean_layers": m, "ideal_speedup": 6.0 / m}
            for t, a, m in ((0.6, 0.78, 1.5), (0.8, 0.815, 3.0), (1.0, 0.82, 6.0))]
    (results / "g_seed1.json").write_text(json.dumps({
        "variant": "g", "seed": 1, "reference_validation_accuracy": 0.81, "reference_test_accuracy": 0.82,
        "max_drop_points": 1.0, "validation_curve": validation, "test_curve": test}))
    assert example.budget_reference(0.81, validation) == 0.83 and example.budget_reference(0.9, validation) == 0.9
    table = example.summarize_references("rt", argparse.Namespace(results_dir=str(tmp_path)))
    alone, better = [line for line in table.splitlines() if line.startswith("| (g)")]
    # from (a)'s 81%: threshold 0.6 (80% on validation), 78% on test; from the full model's 83%: 0.8 (82%)
    assert "| (a) alone | -4.00 (-4.00) | 4.00 (4.00) |" in alone
    assert "| better of (a) and the full model | -0.50 (-0.50) | 2.00 (2.00) |" in better


def test_budget_table_shows_the_measured_speedup_where_timed(example, tmp_path):
    import json

    folder = tmp_path / "rt"
    folder.mkdir()
    for seed, measured in ((1, None), (2, 3.31)):
        record = {"variant": "g", "seed": seed, "reference_test_accuracy": 0.80}
        for key in example.BUDGET_MARGINS:
            record.update({f"{key}_test_accuracy": 0.79 + 0.001 * seed, f"{key}_layer_speedup": 3.0 + seed})
            if measured is not None:
                record[f"{key}_wallclock_speedup_vs_stock_bs1"] = measured
        if measured is not None:  # the ceiling on test, where the run has it
            record.update(per_exit_ceiling_test_accuracy=0.795, per_exit_ceiling_layer_speedup=3.5)
        (folder / f"g_seed{seed}.json").write_text(json.dumps(record))
    table = example.summarize_budget("rt", argparse.Namespace(results_dir=str(tmp_path)))
    assert table.count("| -0.85 (-0.90, -0.80) | 4.50 (4.00, 5.00) | 3.31 (–, 3.31) |") == 2
    assert "| 1 | per exit, chosen on test (ceiling) | -0.50 (-0.50) | 3.50 (3.50) | – |" in table
    assert table.splitlines()[0].endswith("| measured bs 1 (per seed) |")


@pytest.mark.slow  # trains (a) and (g) on 200 examples of the shipped data with the real MiniLM
def test_variant_g_quick_run(example, tmp_path, load_example):
    import json

    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification

    results = tmp_path / "results"
    (results / "rt").mkdir(parents=True)
    # (a)'s JSON from another machine, without its model: (a) is trained again here and (g) compared with that one
    (results / "rt" / "a_seed1.json").write_text(json.dumps(
        {"variant": "a", "test_accuracy": 0.123, "validation_accuracy": 0.123, "train_examples": 200}))
    example.main(["--variants", "g", "--datasets", "rt", "--quick", "--epochs", "1", "--seeds", "1",
                  "--anchor-weight", "0.4", "--anchor-temperature", "3", "--backbone-lr", "1e-5",
                  "--exit-layers", "4", "2", "--augment-copies", "1", "--output-dir", str(tmp_path / "out"),
                  "--results-dir", str(results), "--timing-examples", "8", "--repeats", "1", "--save-logits"])
    record = json.loads((results / "rt" / "g_seed1.json").read_text())
    models = tmp_path / "out" / "variants" / "rt" / "seed1"
    # --save-logits: every exit's validation and test logits beside the JSON, enough to score thresholds again
    with safe_open(results / "rt" / "g_seed1_logits.safetensors", "pt") as saved:
        assert json.loads(saved.metadata()["exit_layers"]) == [2, 4, 6]
        logits = {key: saved.get_tensor(key) for key in saved.keys()}
    assert logits["validation_logits"].shape == (200, 3, 2) and logits["test_logits"].shape == (200, 3, 2)
    for split in ("validation", "test"):
        accuracies = (logits[f"{split}_logits"].argmax(-1) == logits[f"{split}_labels"][:, None]).float().mean(0)
        assert accuracies.tolist() == pytest.approx(record[f"exit_{split}_accuracies"])
    assert not (results / "rt" / "a_seed1_logits.safetensors").exists()
    reference = json.loads((models / "a" / "accuracy.json").read_text())
    assert record["reference"] == str(models / "a" / "accuracy.json")
    assert record["reference_test_accuracy"] == reference["test_accuracy"] != 0.123
    assert (record["anchor_weight"], record["anchor_temperature"], record["backbone_learning_rate"]) == (0.4, 3.0, 1e-5)
    assert [row["threshold"] for row in record["test_curve"]][-1] == 1.0
    # the threshold is the fastest within --max-drop (1 point) of the better of (a) and (g)'s own full depth
    assert record["threshold_reference"] == example.THRESHOLD_REFERENCE
    target = max(record["reference_validation_accuracy"], record["validation_curve"][-1]["accuracy"]) - 0.01
    ok = [row for row in record["validation_curve"] if row["accuracy"] >= target - 1e-12]
    assert record["chosen_threshold"] == min(ok, key=lambda r: (r["mean_layers"], -r["threshold"]))["threshold"]
    assert 2.0 <= record["mean_layers_at_chosen"] <= 6.0 and record["test_curve"][-1]["mean_layers"] == 6.0
    assert record["model"] == "MiniLM-L6" and len(record["exit_test_accuracies"]) == 3
    # one unlabelled variant of each of the 200 training texts, learned from (a) alone (labels -100)
    assert (record["train_examples"], record["augmented_examples"]) == (200, 200)
    assert record["exit_test_accuracies"][-1] == pytest.approx(record["test_accuracy_full_model"])
    # the saved (g) holds its anchor settings, not the anchor
    loaded = AutoModelForSequenceClassification.from_pretrained(models / "g")
    assert loaded.config.exit_layers == [2, 4, 6] and not loaded.config.freeze_backbone
    assert (loaded.config.anchor_weight, loaded.config.anchor_temperature) == (0.4, 3.0)
    assert loaded.anchor_model is None
    with safe_open(models / "g" / "model.safetensors", "pt") as weights:
        assert set(weights.keys()) == set(loaded.state_dict())
    # the anchored run moved (a)'s backbone: (g) at threshold 1.0 is a model of its own
    stock = AutoModelForSequenceClassification.from_pretrained(models / "a")
    assert not torch.equal(stock.bert.encoder.layer[0].output.dense.weight,
                           loaded.bert.encoder.layer[0].output.dense.weight)
    table = example.summarize_variants("rt", argparse.Namespace(results_dir=str(results)))
    assert "| (g) anchored joint training from (a) | 1 |" in table
    assert "| better of (a) and the full model |" in example.summarize_references(
        "rt", argparse.Namespace(results_dir=str(results)))
    exits = example.summarize_exits("rt", argparse.Namespace(results_dir=str(results)))
    assert "| exit 3 |" in exits and "| (g) anchored joint training from (a) | 1 |" in exits
    # timed on a seeded random sample of test; a record timed on the first test rows is timed again by --rescore,
    # its former timing kept
    assert record["timing_sample"] == example.timing_sample(8) and record["timing"]["num_examples"] == 8
    # the per-exit settings chosen on validation are timed in the same run, as copies with their exit_thresholds
    timed = {row["name"]: row for row in record["timing"]["rows"] if row["kind"] == "baseline"}
    assert set(timed) == set(example.BUDGET_MARGINS)
    for key in example.BUDGET_MARGINS:
        assert record[f"{key}_wallclock_speedup_vs_stock_bs1"] == timed[key]["speedup_vs_stock_bs1"] > 0
        assert record[f"{key}_wallclock_speedup_vs_stock_bs32"] > 0
    # the ceiling of these exits: per-exit thresholds chosen on test itself within 1 point of (a) alone (or a note
    # when even the full model is further below (a)); a record without it gets it from --rescore
    if "per_exit_ceiling_note" in record:
        assert record["test_accuracy_full_model"] < record["reference_test_accuracy"] - 0.01
    else:
        assert record["per_exit_ceiling_test_accuracy"] >= record["reference_test_accuracy"] - 0.01 - 1e-9
        assert 1.0 <= record["per_exit_ceiling_layer_speedup"] <= 6.0
        assert sum(record["per_exit_ceiling_test_exit_fractions"]) == pytest.approx(1.0)
    ceiling = {key: record.pop(key) for key in list(record) if key.startswith("per_exit_ceiling")}
    assert ceiling
    del record["timing_sample"]
    record["wallclock_speedup_vs_stock_bs1"] = -1.0
    (results / "rt" / "g_seed1.json").write_text(json.dumps(record))
    example.main(["--variants", "g", "--datasets", "rt", "--quick", "--rescore", "--output-dir", str(tmp_path / "out"),
                  "--results-dir", str(results), "--repeats", "1"])
    rescored = json.loads((results / "rt" / "g_seed1.json").read_text())
    assert rescored["timing_sample"] == example.timing_sample(8)
    assert rescored["first_rows_timing"]["wallclock_speedup_vs_stock_bs1"] == -1.0
    assert rescored["wallclock_speedup_vs_stock_bs1"] > 0
    untimed = {k: v for k, v in {**record, **ceiling}.items() if "timing" not in k and "wallclock" not in k}
    assert {k: v for k, v in rescored.items() if "timing" not in k and "wallclock" not in k} == untimed
    # a record on the random sample whose per-exit settings were never timed: timed again, no former timing kept
    del rescored["per_exit_margin_wallclock_speedup_vs_stock_bs1"], rescored["first_rows_timing"]
    (results / "rt" / "g_seed1.json").write_text(json.dumps(rescored))
    example.main(["--variants", "g", "--datasets", "rt", "--quick", "--rescore", "--output-dir", str(tmp_path / "out"),
                  "--results-dir", str(results), "--repeats", "1"])
    again = json.loads((results / "rt" / "g_seed1.json").read_text())
    assert again["per_exit_margin_wallclock_speedup_vs_stock_bs1"] > 0 and "first_rows_timing" not in again
    assert {k: v for k, v in again.items() if "timing" not in k and "wallclock" not in k} == untimed
    # a per-exit setting refused before the search looked past the full model (a note without the current mark):
    # chosen again, the same result as the run's own, and timed again since its thresholds changed
    stale = {**again, "per_exit_note": "No thresholds reach the target: even the full model reaches only 50%.",
             "per_exit_thresholds": [-1.0, -1.0, 1.0], "per_exit_wallclock_speedup_vs_stock_bs1": -1.0}
    (results / "rt" / "g_seed1.json").write_text(json.dumps(stale))
    example.main(["--variants", "g", "--datasets", "rt", "--quick", "--rescore", "--output-dir", str(tmp_path / "out"),
                  "--results-dir", str(results), "--repeats", "1"])
    chosen_again = json.loads((results / "rt" / "g_seed1.json").read_text())
    assert chosen_again["per_exit_wallclock_speedup_vs_stock_bs1"] > 0
    assert {k: v for k, v in chosen_again.items() if "timing" not in k and "wallclock" not in k} == untimed
    # the model elsewhere (another --output-dir), its saved exit logits here: the same per-exit thresholds and ceiling
    # from them; the setting whose thresholds changed loses the wall-clock fields only the model could measure again
    stale = {key: value for key, value in stale.items() if not key.startswith("per_exit_ceiling")}
    (results / "rt" / "g_seed1.json").write_text(json.dumps(stale))
    example.main(["--variants", "g", "--datasets", "rt", "--quick", "--rescore", "--output-dir",
                  str(tmp_path / "elsewhere"), "--results-dir", str(results), "--repeats", "1"])
    from_logits = json.loads((results / "rt" / "g_seed1.json").read_text())
    assert not any(key.startswith("per_exit_wallclock_") for key in from_logits)
    assert from_logits["per_exit_margin_wallclock_speedup_vs_stock_bs1"] == stale[
        "per_exit_margin_wallclock_speedup_vs_stock_bs1"]
    assert {k: v for k, v in from_logits.items() if "timing" not in k and "wallclock" not in k} == untimed
    (results / "rt" / "g_seed1.json").write_text(json.dumps(chosen_again))
    # the finished run becomes a reference card's artifact: the run's temperatures and the per-exit thresholds it
    # chose with the margin, the tokenizer, and a sweep of its test curve with the settings it timed
    from transformers import pipeline

    from hf_notlike.early_exit import check_early_exit_card

    cards_example = load_example("render_model_cards")
    outputs, cards, card = tmp_path / "outputs", tmp_path / "cards", "minilm-l6-early-exit-rotten-tomatoes"
    with pytest.raises(SystemExit, match="is not a finished MiniLM-L6 --variants run"):  # (a)'s record has no exits
        cards_example.main(["--outputs", str(outputs), "--export", card, str(results / "rt" / "a_seed1.json"),
                            str(models / "a")])
    assert cards_example.main(["--outputs", str(outputs), "--model-cards", str(cards), "--export", card,
                               str(results / "rt" / "g_seed1.json"), str(models / "g")]) == 0
    exported_dir = outputs / "early_exit" / "rt" / "model"
    exported = AutoModelForSequenceClassification.from_pretrained(exported_dir)
    assert exported.config.exit_thresholds == pytest.approx(again["per_exit_margin_thresholds"])
    assert exported.config.temperatures == pytest.approx(again["temperatures"])
    assert pipeline("text-classification", model=str(exported_dir))("A gripping film.")[0]["label"] in (
        exported.config.id2label.values())
    check_early_exit_card(cards / card / "README.md")
    text = (cards / card / "README.md").read_text()
    assert f"with the per-exit thresholds it is configured with: {100 * again['per_exit_margin_test_accuracy']:.2f}%" in text
    assert f"the plain fine-tuned classifier it started from: {100 * again['reference_test_accuracy']:.2f}%" in text
    assert "| the plain fine-tuned classifier it started from |" in text and "seed 1" in text


def test_unlabelled_rest_is_the_training_text_train_size_leaves_out(example):
    from collections import Counter

    def splits(*options):
        args = example.parse_args(["--variants", "a", "g", "--datasets", "rt", *options])
        args.seed = 1
        return example.prepare_splits("rt", args)[0]

    every = splits("--train-size", "0")["train"]
    rest = splits("--train-size", "300", "--unlabelled-rest")
    # the labelled rows are those (a) trains on, every other training text joins without its label
    assert rest["train"]["input_ids"] == splits("--train-size", "300")["train"]["input_ids"]
    assert set(rest["augmented"]["label"]) == {-100} and len(rest["augmented"]) == len(every) - 300
    count = Counter(map(tuple, rest["train"]["input_ids"])) + Counter(map(tuple, rest["augmented"]["input_ids"]))
    assert count == Counter(map(tuple, every["input_ids"]))


def test_unlabelled_files_join_as_unlabelled_rows(example, tmp_path):
    import json

    jsonl = tmp_path / "generated.jsonl"
    jsonl.write_text("".join(json.dumps({"text": f"a generated review, number {i}.", "batch": 0}) + "\n"
                             for i in range(3)))
    plain = tmp_path / "texts.txt"
    plain.write_text("one more text\n\nand another\n")
    args = example.parse_args(["--variants", "g", "--datasets", "rt", "--train-size", "50", "--seeds", "1",
                               "--unlabelled-files", str(jsonl), str(plain)])
    args.seed = 1
    splits, tokenizer, _, _ = example.prepare_splits("rt", args)
    assert len(splits["train"]) == 50 and set(splits["augmented"]["label"]) == {-100}
    texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in splits["augmented"]["input_ids"]]
    assert texts == [f"a generated review, number {i}." for i in range(3)] + ["one more text", "and another"]


@pytest.mark.parametrize("content, message", [
    (None, "does not exist (write one with examples/generate_unlabelled_texts.py"),
    ("\n \n", "holds no text"),
    ('{"text": "fine"}\n{"sentence": "no text field"}\n', 'line 2: expected a JSON object with a string `text`'),
    ('{"text": "fine"}\n{"text": \n', "--unlabelled-files: Expecting value"),
])
def test_bad_unlabelled_files_are_refused_before_training(example, tmp_path, content, message, capsys):
    file = tmp_path / "texts.jsonl"
    if content is not None:
        file.write_text(content)
    with pytest.raises(SystemExit):
        example.parse_args(["--variants", "g", "--unlabelled-files", str(file)])
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--model", "mpnet"], "runs the --variants protocol only"),
    (["--variants", "g", "--exit-layers", "0", "3"], "--exit-layers must lie in 1..5"),
    (["--variants", "g", "--exit-layers", "6"], "--exit-layers must lie in 1..5"),
    (["--variants", "g", "--augment-copies", "-1"], "--augment-copies must be >= 0"),
    (["--variants", "a", "d", "--augment-copies", "2"], "--augment-copies trains (g) only"),
    (["--augment-copies", "2"], "--augment-copies trains (g) only"),
    (["--variants", "g", "--transfer-sets", "tweets"], "--transfer-sets (sentiment texts) trains (g) on rt only"),
    (["--variants", "d", "--datasets", "rt", "--transfer-sets", "nyt"], "trains (g) on rt only"),
    (["--variants", "g", "--datasets", "rt", "--transfer-sets", "movies"], "invalid choice: 'movies'"),
    (["--variants", "d", "--unlabelled-files", "README.md"], "--unlabelled-files trains (g) only"),
    (["--variants", "g", "--unlabelled-rest"], "--unlabelled-rest trains (g) on the texts --train-size leaves out"),
    (["--variants", "g", "--train-size", "0", "--unlabelled-rest"], "0 keeps every text labelled"),
    (["--variants", "d", "--train-size", "500", "--unlabelled-rest"], "pass --variants g"),
    (["--summarize", "--datasets", "20ng"], "--summarize works on the --variants runs"),
    (["--rescore"], "--rescore works on the --variants runs"),
    (["--variants", "g", "--plot", "curves.png"], "--plot draws the table --summarize prints"),
])
def test_bad_model_options_are_refused_before_training(example, argv, message, capsys):
    with pytest.raises(SystemExit):
        example.parse_args(argv)
    assert message in capsys.readouterr().err

