"""The demo (`hf-notlike demo`) on a few reviews: what it reports is what it saves, reloads and times."""

import json

import pytest

from hf_notlike.demo import SUMMARY_NAME, run_demo


@pytest.mark.slow
def test_demo_saves_and_times_the_thresholds_it_reports(tmp_path, capsys, minilm_path):
    output = tmp_path / "demo"
    summary = run_demo(str(output), train_size=32, eval_size=24, epochs=1.0, exit_epochs=1.0, max_length=24,
                       num_timing_examples=8, repeats=1, num_flops_examples=4)
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
