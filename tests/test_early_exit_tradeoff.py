"""The speed/accuracy curve of early-exit models (hf_notlike.early_exit.tradeoff) and the `early-exit` commands."""

import csv
import json

import pytest
import torch
from transformers import BertForSequenceClassification

from hf_notlike import (
    TradeoffResult,
    collect_exit_logits,
    speed_accuracy_curve,
)
from hf_notlike.cli import main as cli_main
from hf_notlike.early_exit import EARLY_EXIT_MODELS, commands, exit_confidences
from hf_notlike.early_exit.tradeoff import DEFAULT_PLOT_NAME, stock_model_for, time_forward


def safe_thresholds(model, data, count=5):
    """Thresholds spread over the confidences, at least 1e-3 from every row's confidence at every exit (so that
    float differences between a batched and a one-row pass cannot flip a decision)."""
    exit_logits, _ = collect_exit_logits(model, data, show_progress=False)
    conf = exit_confidences(exit_logits, model.config.temperatures).flatten().sort().values
    thresholds = []
    for q in torch.linspace(0.1, 0.9, count):
        i = int(q * (len(conf) - 1))
        gaps = conf[1:] - conf[:-1]
        j = i + int(torch.argmax(gaps[i : i + len(conf) // 10]))  # the widest gap near the quantile
        if gaps[j] > 2e-3:
            thresholds.append(round(float(conf[j] + conf[j + 1]) / 2, 6))
    return sorted(set(thresholds)) + [1.0]


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_curve_equals_brute_force_run_at_each_threshold(arch, early_exit_model, token_dataset):
    model = early_exit_model(arch, exit_layers=[1, 2, 4], temperatures=[1.7, 0.8, 1.2])
    data = token_dataset(40)
    thresholds = safe_thresholds(model, data)
    assert len(thresholds) >= 4
    result = speed_accuracy_curve(model, data, thresholds, batch_sizes=(), stock_model=False,
                                  show_progress=False)
    rows = {row["threshold"]: row for row in result.rows}
    seen_layers = set()
    for t in thresholds:
        correct, layers = [], []
        for example in data:  # the real early-exit loop, one row at a time
            out = model(torch.tensor([example["input_ids"]]), exit_threshold=t)
            correct.append(int(out.logits.argmax(-1)) == example["label"])
            layers.append(int(out.exit_layer))
        seen_layers.update(layers)
        assert rows[t]["accuracy"] == pytest.approx(sum(correct) / len(correct), abs=1e-12)
        assert rows[t]["mean_layers"] == pytest.approx(sum(layers) / len(layers), abs=1e-12)
        assert rows[t]["ideal_speedup"] == pytest.approx(4 / rows[t]["mean_layers"])
        fractions = [layers.count(layer) / len(layers) for layer in (1, 2, 4)]
        assert rows[t]["exit_fractions"] == pytest.approx(fractions, abs=1e-6)
    assert rows[1.0]["mean_layers"] == 4.0
    assert len(seen_layers) == 3  # the thresholds really move rows between exits


def test_timed_sweep_with_stock_model_and_baseline(tmp_path, early_exit_model, backbone_config, token_dataset):
    model = early_exit_model(exit_layers=[1, 2, 3, 4])
    data = token_dataset(24)
    torch.manual_seed(0)
    baseline = BertForSequenceClassification(backbone_config(num_hidden_layers=1))
    result = speed_accuracy_curve(
        model, data, [0.5, 0.9, 1.0], timed_thresholds=[0.5], batch_sizes=(1, 4), num_timing_examples=8,
        repeats=2, baselines={"1-layer": baseline}, plot_path=str(tmp_path / DEFAULT_PLOT_NAME),
        show_progress=False,
    )
    by_name = {row["name"]: row for row in result.rows}
    timed = by_name["early exit @ 0.5"]
    full = by_name["early exit @ 1"]
    stock = by_name["stock BertForSequenceClassification"]
    base = by_name["1-layer"]
    for row in (timed, full, stock, base):  # speed-ups are ratios of the measured times
        for size in (1, 4):
            ms = row[f"ms_per_example_bs{size}"]
            assert row[f"speedup_bs{size}"] == pytest.approx(full[f"ms_per_example_bs{size}"] / ms)
            assert row[f"speedup_vs_stock_bs{size}"] == pytest.approx(stock[f"ms_per_example_bs{size}"] / ms)
    assert by_name["early exit @ 0.9"]["ms_per_example_bs1"] is None  # not timed
    assert full["speedup_bs1"] == 1.0 and stock["speedup_vs_stock_bs1"] == 1.0
    # batched loop and one-row loop use the same layers on the timing subset
    assert timed["timed_mean_layers_bs1"] == timed["timed_mean_layers_bs4"]
    assert full["timed_mean_layers_bs1"] == 4.0
    assert timed["batch_retention"] == pytest.approx(timed["speedup_bs4"] / timed["speedup_bs1"])
    with torch.no_grad():
        predictions = [baseline(input_ids=torch.tensor([row["input_ids"]])).logits.argmax(-1).item() for row in data]
    assert base["mean_layers"] == 1.0
    assert base["accuracy"] == pytest.approx(sum(p == row["label"] for p, row in zip(predictions, data)) / len(data))
    assert (tmp_path / DEFAULT_PLOT_NAME).stat().st_size > 0

    result.to_json(str(tmp_path / "sweep.json"))
    again = TradeoffResult.from_json(str(tmp_path / "sweep.json"))
    assert again.rows == json.loads(json.dumps(result.rows))
    assert len(result.to_dataset()) == len(result.rows)
    assert "| early exit @ 0.5 |" in result.to_markdown(timed_only=True)
    table = result.to_markdown().splitlines()  # the cards' table format: first column left, numbers right-aligned
    assert table[1] == "|---|" + "---:|" * 15 and len(table) == 2 + len(result.rows)  # with the 3 FLOPs columns


def test_flops_per_threshold_counted_on_the_real_exit_loop(early_exit_model, token_dataset):
    """FLOPs per example from FlopCounterMode on the exit loop: threshold 1.0 costs the full model (the stock
    classifier plus the small exit heads), lower thresholds cost less, in step with the layers they use; the card
    shows them."""
    from torch.utils.flop_counter import FlopCounterMode

    from hf_notlike import EarlyExitModelCardData

    model = early_exit_model(exit_layers=[1, 2, 3, 4])
    data = token_dataset(24)
    thresholds = safe_thresholds(model, data)
    result = speed_accuracy_curve(model, data, thresholds, batch_sizes=(), num_flops_examples=24, print_table=False,
                                  show_progress=False)
    rows = {row["threshold"]: row for row in result.rows if row["kind"] == "early_exit"}
    stock_flops = result.info["stock_flops_per_example"]
    full = rows[1.0]["flops_per_example"]
    assert stock_flops <= full <= 1.05 * stock_flops  # the exits add little
    ordered = [rows[t]["flops_per_example"] for t in sorted(rows)]
    assert all(a <= b for a, b in zip(ordered, ordered[1:])) and ordered[0] < 0.9 * full
    for row in rows.values():  # FLOPs track the layers used (all 24 rows are counted)
        assert row["flops_per_example"] / full == pytest.approx(row["mean_layers"] / 4, rel=0.1)
        assert row["flops_speedup"] == pytest.approx(full / row["flops_per_example"])
        assert row["flops_speedup_vs_stock"] == pytest.approx(stock_flops / row["flops_per_example"])
    # an independent count: the exit loop one row at a time at the lowest threshold
    low = min(rows)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        for example in data:
            model(torch.tensor([example["input_ids"]]), exit_threshold=low)
    assert rows[low]["flops_per_example"] == pytest.approx(counter.get_total_flops() / len(data))
    assert "GFLOPs/ex" in result.to_markdown()
    text = str(EarlyExitModelCardData(sweep=result).to_card(model.config, repo_id="me/m"))
    assert "GFLOPs / example" in text and "FLOPs vs stock" in text and "FlopCounterMode" in text
    with pytest.raises(ValueError, match="num_flops_examples"):
        speed_accuracy_curve(model, data, [1.0], batch_sizes=(), num_flops_examples=-1, print_table=False)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_stock_model_has_the_same_backbone(arch, early_exit_model, token_dataset):
    from transformers import MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING

    model = early_exit_model(arch)
    stock = stock_model_for(model)
    expected = MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING[type(stock.config)]
    assert type(stock) is expected and stock.config.model_type == arch
    ids = torch.tensor([[2, 7, 9, 11, 5, 3]])
    mask = torch.ones_like(ids)
    torch.testing.assert_close(stock.base_model(ids, attention_mask=mask).last_hidden_state,
                               model.backbone(ids, attention_mask=mask).last_hidden_state)
    # and the sweep times it
    data = token_dataset(8)
    result = speed_accuracy_curve(model, data, [0.9], timed_thresholds=[], batch_sizes=(2,), num_timing_examples=4,
                                  repeats=1, show_progress=False)
    assert result.rows[-1]["name"] == f"stock {expected.__name__}"


def test_bad_input_raises_before_any_pass(early_exit_model, backbone_config, token_dataset):
    model = early_exit_model()
    calls = []
    model.register_forward_pre_hook(lambda *args: calls.append(1))
    data = token_dataset(8)
    for bad in ([0.0], [1.2], [-0.5], [], [float("nan")], ["0.9"]):
        with pytest.raises(ValueError, match=r"\(0, 1\]|empty"):
            speed_accuracy_curve(model, data, bad, show_progress=False)
    with pytest.raises(ValueError, match="timed_thresholds"):
        speed_accuracy_curve(model, data, [0.9], timed_thresholds=[2.0], show_progress=False)
    with pytest.raises(ValueError, match="no label column"):
        speed_accuracy_curve(model, token_dataset(8, with_labels=False), [0.9], show_progress=False)
    with pytest.raises(ValueError, match="batch size"):
        speed_accuracy_curve(model, data, [0.9], batch_sizes=(0,), show_progress=False)
    stock = BertForSequenceClassification(backbone_config())
    with pytest.raises(TypeError, match="no exits"):
        speed_accuracy_curve(stock, data, [0.9], show_progress=False)
    assert calls == []


def test_cli_calibrate_and_sweep(tmp_path, bert_tokenizer, capsys, early_exit_model):
    model = early_exit_model(num_labels=2, vocab_size=bert_tokenizer.vocab_size)
    model.config.id2label, model.config.label2id = {0: "rotten", 1: "fresh"}, {"rotten": 0, "fresh": 1}
    model.save_pretrained(tmp_path / "model")
    bert_tokenizer.save_pretrained(tmp_path / "model")
    texts = ["a gorgeous, witty film", "dull and far too long", "the cast is superb", "a mess from start to end"]
    with open(tmp_path / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(24):
            writer.writerow([texts[i % 4] + f" {i}", ["fresh", "rotten"][i % 2]])

    assert cli_main(["early-exit", "calibrate", str(tmp_path / "model"), "--data", str(tmp_path / "data.csv")]) == 0
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    calibration = json.loads((tmp_path / "model" / "calibration.json").read_text())
    assert config["temperatures"] == pytest.approx(calibration["temperatures"])
    assert config["temperatures"] != [1.0] * 4

    argv = ["early-exit", "sweep", str(tmp_path / "model"), "--data", str(tmp_path / "data.csv"), "--thresholds",
            "0.6", "0.9", "1.0", "--timed", "0.9", "--batch-sizes", "1", "--timing-examples", "4", "--repeats", "1"]
    assert cli_main(argv) == 0
    sweep = json.loads((tmp_path / "model" / "sweep.json").read_text())
    assert [row["threshold"] for row in sweep["rows"] if row["kind"] == "early_exit"] == [1.0, 0.9, 0.6]
    assert (tmp_path / "model" / DEFAULT_PLOT_NAME).exists()

    # choose on a validation file, untimed, and save the choice into the config
    pick = argv[:5] + ["--thresholds", "0.5", "0.9", "1.0", "--batch-sizes", "--mean-layers", "3", "--output-dir",
                       str(tmp_path / "picked")]
    assert cli_main(pick) == 0
    picked = json.loads((tmp_path / "picked" / "sweep.json").read_text())
    saved = json.loads((tmp_path / "picked" / "config.json").read_text())["exit_threshold"]
    assert saved == TradeoffResult(**picked).threshold_for(mean_layers=3.0)
    assert f"Chose threshold {saved:g}" in capsys.readouterr().out
    assert (tmp_path / "picked" / "tokenizer.json").exists()
    assert cli_main(pick + ["--max-accuracy-drop", "0.01"]) == 2
    assert "not both" in capsys.readouterr().err

    with open(tmp_path / "unlabelled.csv", "w") as handle:
        handle.write("text\nsome text\n")
    assert cli_main(["early-exit", "sweep", str(tmp_path / "model"), "--data", str(tmp_path / "unlabelled.csv")]) == 2
    assert "no column 'label'" in capsys.readouterr().err
    assert cli_main(argv[:3] + ["--data", str(tmp_path / "data.csv"), "--thresholds", "1.5"]) == 2
    assert "(0, 1]" in capsys.readouterr().err


def crowded_result(batch_sizes=(1, 32)):
    """A sweep whose timed points crowd together near x = 1 (as in the README's Rotten Tomatoes plot)."""
    rows = []
    for t, acc, layers, measured in [(1.0, 0.760, 6.0, 1.0), (0.99, 0.759, 5.7, 1.02), (0.97, 0.758, 5.4, 1.05),
                                     (0.95, 0.7585, 5.2, 1.07), (0.9, 0.757, 4.9, 1.1), (0.8, 0.75, 3.9, 1.4),
                                     (0.6, 0.70, 2.0, 2.8)]:
        row = dict(kind="early_exit", name=f"early exit @ {t:g}", threshold=t, accuracy=acc, mean_layers=layers,
                   ideal_speedup=6 / layers)
        for size in batch_sizes:
            row.update({f"speedup_bs{size}": measured, f"speedup_vs_stock_bs{size}": measured * 0.98,
                        f"ms_per_example_bs{size}": 10 / measured})
        rows.append(row)
    stock = dict(kind="stock", name="stock BertForSequenceClassification", threshold=None, accuracy=None,
                 mean_layers=6.0, ideal_speedup=1.0)
    for size in batch_sizes:
        stock.update({f"speedup_bs{size}": 1.02, f"speedup_vs_stock_bs{size}": 1.0, f"ms_per_example_bs{size}": 9.8})
    base = dict(kind="baseline", name="5-layer", threshold=None, accuracy=0.758, mean_layers=5.0, ideal_speedup=1.2)
    for size in batch_sizes:
        base.update({f"speedup_bs{size}": 1.04, f"speedup_vs_stock_bs{size}": 1.06, f"ms_per_example_bs{size}": 9.4})
    return TradeoffResult(rows=rows + [stock, base], batch_sizes=list(batch_sizes), num_layers=6, num_examples=500,
                          num_timing_examples=64, repeats=2)


def test_plot_labels_never_overprint(tmp_path):
    fig = crowded_result().plot(str(tmp_path / "speed_accuracy.png"))
    ax = fig.axes[0]
    fig.canvas.draw()  # savefig rendered at its own dpi: measure everything at the figure's
    renderer = fig.canvas.get_renderer()
    from matplotlib.text import Text

    # the text of each label (its leader line, when it has one, may pass by other labels' boxes)
    boxes = {text.get_text(): Text.get_window_extent(text, renderer) for text in ax.texts}
    assert set(boxes) == {"1", "0.99", "0.97", "0.95", "0.9", "0.8", "0.6", "5-layer"}
    names = sorted(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
        assert not boxes[a].overlaps(ax.get_legend().get_window_extent(renderer))
        assert ax.get_window_extent(renderer).contains(boxes[a].x0, boxes[a].y0)
    assert (tmp_path / "speed_accuracy.png").stat().st_size > 0


def test_one_default_plot_name():
    import dataclasses

    assert commands.DEFAULT_PLOT_NAME == DEFAULT_PLOT_NAME == "speed_accuracy.png"
    plot = next(f for f in dataclasses.fields(commands.SweepArguments) if f.name == "plot")
    assert DEFAULT_PLOT_NAME in plot.metadata["help"]


def test_plot_leaves_the_matplotlib_backend_alone(tmp_path):
    import subprocess
    import sys

    crowded_result().to_json(str(tmp_path / "sweep.json"))
    code = (
        "import sys; import matplotlib\n"
        "from hf_notlike import TradeoffResult\n"
        f"TradeoffResult.from_json({str(tmp_path / 'sweep.json')!r}).plot({str(tmp_path / 'p.png')!r})\n"
        "assert matplotlib.get_backend().lower() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    env = {**__import__("os").environ, "MPLBACKEND": "svg"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=__import__("pathlib").Path(__file__).parents[1])


def test_threshold_for_a_budget_and_written_into_the_config(early_exit_model, token_dataset):
    curve = crowded_result(batch_sizes=())
    assert curve.threshold_for(max_accuracy_drop=0.01) == 0.8  # 75.0 >= 76.0 - 1, with the fewest layers
    assert curve.threshold_for(max_accuracy_drop=0.0) == 1.0
    assert curve.threshold_for(max_accuracy_drop=0.002) == 0.95  # 0.99, 0.97 and 0.95 within; 0.95: fewest layers
    assert curve.threshold_for(mean_layers=2.0) == 0.6
    assert curve.threshold_for(mean_layers=5.5) == 0.95  # the most accurate within 5.5 layers (75.85%)
    with pytest.raises(ValueError, match="fewest is 2.00"):
        curve.threshold_for(mean_layers=1.5)
    with pytest.raises(ValueError, match="exactly one"):
        curve.threshold_for(max_accuracy_drop=0.01, mean_layers=2.0)
    with pytest.raises(ValueError, match="exactly one"):
        curve.threshold_for()
    for bad in (-0.1, 1.0, float("nan"), "0.01", True):
        with pytest.raises(ValueError, match="max_accuracy_drop"):
            curve.threshold_for(max_accuracy_drop=bad)

    model = early_exit_model(exit_layers=[1, 2, 4])
    data = token_dataset(40)
    dev = speed_accuracy_curve(model, data, safe_thresholds(model, data), batch_sizes=(), stock_model=False,
                               show_progress=False)
    assert dev.num_timing_examples == 0 and all(row.get("ms_per_example_bs1") is None for row in dev.rows)
    chosen = dev.apply_threshold(model, mean_layers=3.0)
    assert model.config.exit_threshold == chosen == dev.threshold_for(mean_layers=3.0)
    layers = [int(model(torch.tensor([row["input_ids"]])).exit_layer) for row in data]  # the real loop, configured
    assert sum(layers) / len(layers) <= 3.0
    other = early_exit_model(exit_layers=[2, 4])
    with pytest.raises(ValueError, match="exits after layers"):
        dev.apply_threshold(other, mean_layers=3.0)


def test_timing_plan_is_logged_before_the_timing_and_kept(capsys, early_exit_model, token_dataset):
    """The plan is an INFO message of the `hf_notlike` logger (stderr), the table is returned, never printed."""
    import hf_notlike

    model = early_exit_model(exit_layers=[1, 2, 4])
    data = token_dataset(24)
    hf_notlike.logging.set_verbosity_info()
    try:
        result = speed_accuracy_curve(model, data, [0.5, 0.9, 1.0], timed_thresholds=[0.5], batch_sizes=(1, 4),
                                      num_timing_examples=8, repeats=1, show_progress=True)
    finally:
        hf_notlike.logging.set_verbosity_warning()
    captured = capsys.readouterr()
    assert captured.out == ""
    out = captured.err
    # per batch size: 8 rows x 3 contenders (1.0, 0.5, stock) x 1 round + 8 x 2 (layer check of the early-exit
    # contenders) + 8 x 3 (warm-up chunk); x 2 batch sizes
    assert "Timing plan: 8 rows x 3 contenders" in out and "= 128 row passes, about" in out
    assert result.info["timing_plan"] in out
    assert result.info["estimated_timing_s"] > 0 and result.info["timing_s"] > 0


def test_plot_axes_say_what_is_drawn_and_keep_a_sensible_span(tmp_path):
    """The line is the layer ratio, the dots are measured wall-clock speed-ups: the axis and legend say so; with a
    single timed threshold near 1x the x axis still spans at least 1x, so timing noise does not look large."""
    row = dict(kind="early_exit", name="early exit @ 1", threshold=1.0, accuracy=0.76, mean_layers=6.0,
               ideal_speedup=1.0, speedup_bs1=1.0, speedup_vs_stock_bs1=0.97, ms_per_example_bs1=10.0)
    stock = dict(kind="stock", name="stock", threshold=None, accuracy=0.76, mean_layers=6.0, ideal_speedup=1.0,
                 speedup_bs1=1.03, speedup_vs_stock_bs1=1.0, ms_per_example_bs1=9.7)
    result = TradeoffResult(rows=[row, stock], batch_sizes=[1], num_layers=6, num_examples=10,
                            num_timing_examples=8, repeats=1)
    fig = result.plot(str(tmp_path / "one.png"))
    ax = fig.axes[0]
    left, right = ax.get_xlim()
    assert left < 0.97 and right - left >= 1.0
    assert "layer ratio" in ax.get_xlabel() and "wall-clock vs the stock model" in ax.get_xlabel()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any(t.startswith("layer speed-up") for t in legend)
    assert any(t.startswith("wall-clock speed-up over the stock model") for t in legend)
    fig = crowded_result().plot()
    left, right = fig.axes[0].get_xlim()
    assert left < 0.98 and right > 3.0  # every point inside, from below 1x


def test_time_forward_waits_for_the_accelerator(monkeypatch):
    """On an accelerator kernels run after the call returns: the clock must stop only once the device is done, so
    `time_forward` synchronises it before starting and before stopping (never for CPU tensors)."""
    synchronised = []
    monkeypatch.setattr(torch.accelerator, "synchronize", lambda device=None: synchronised.append(device))
    calls = []
    time_forward(calls.append, [{"input_ids": torch.zeros(1, 3, device="meta")}] * 2)
    assert len(calls) == 2 and [d.type for d in synchronised] == ["meta", "meta"]
    time_forward(calls.append, [{"input_ids": torch.zeros(1, 3)}])
    assert len(synchronised) == 2
