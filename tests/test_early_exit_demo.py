"""The demo (`hf-notlike demo`) on a few reviews: what it reports is what it saves, reloads and times."""

import json

import pytest

from hf_notlike.demo import SUMMARY_NAME, bf16_trains_faster, run_demo
from hf_notlike.errors import HfNotlikeInputError


@pytest.mark.slow
def test_demo_saves_and_times_the_thresholds_it_reports(tmp_path, capsys, minilm_path):
    output = tmp_path / "demo"
    # bfloat16 training forced, so that this path runs whatever the CPU (at this size even where it is emulated)
    summary = run_demo(str(output), train_size=32, eval_size=24, epochs=1.0, exit_epochs=1.0, max_length=24,
                       num_timing_examples=8, repeats=1, num_flops_examples=4, precision="bf16")
    printed = capsys.readouterr().out
    assert sorted(p.name for p in output.iterdir()) == ["model"]  # no checkpoints/, no plain classifier left behind
    saved = json.loads((output / "model" / "config.json").read_text())
    thresholds = summary["exit_thresholds"]
    assert len(thresholds) == len(saved["exit_layers"]) == 6 and thresholds[-1] == 1.0
    if saved.get("exit_thresholds") is not None:  # per-exit thresholds chosen on validation, saved
        assert saved["exit_thresholds"] == pytest.approx(thresholds)
    else:  # no thresholds within the budget: the model runs in full, and the summary says why
        assert thresholds == [1.0] * 6 and summary["target_missed_because"]
    assert f"reloaded: exit_thresholds {[round(t, 3) for t in thresholds]}" in printed
    assert json.loads((output / "model" / SUMMARY_NAME).read_text()) == summary
    # compared against the plain classifier trained in the same run, timed at both batch sizes, FLOPs counted
    for size in ("1", "32"):
        assert set(summary["ms_per_example"][size]) == {"plain", "early_exit"}
        assert all(ms > 0 for ms in summary["ms_per_example"][size].values())
    assert summary["flops_per_example"]["early_exit"] <= summary["flops_per_example"]["plain"] * 1.05
    assert summary["layer_ratio"] == pytest.approx(6 / summary["mean_layers"])
    assert f"plain classifier {100 * summary['plain_accuracy']:.1f}%" in printed
    assert f"measured {summary['speedup_bs1']:.2f}x faster than the plain classifier at batch size 1" in printed
    assert ("Target met" in printed) == summary["target_met"] == (not summary["target_missed_because"])
    assert summary["training_precision"] == "bf16" and "training in bfloat16 autocast" in printed


def test_demo_rejects_an_unknown_precision_before_any_work(tmp_path):
    with pytest.raises(HfNotlikeInputError, match="precision='fp16' is not one of"):
        run_demo(str(tmp_path / "demo"), precision="fp16")
    assert not (tmp_path / "demo").exists()


def test_bf16_check_is_a_boolean_measurement():
    assert bf16_trains_faster(min_ratio=0.0, size=64) is True
    assert bf16_trains_faster(min_ratio=1e9, size=64) is False  # no CPU is a billion times faster in bfloat16
