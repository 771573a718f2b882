"""The demo (`hf-notlike demo`) on a few reviews: what it reports is what it saves and times."""

import json

import pytest

from hf_notlike.demo import run_demo
from hf_notlike.early_exit.tradeoff import DEFAULT_PLOT_NAME


@pytest.mark.slow
def test_demo_saves_and_times_the_threshold_it_reports(tmp_path, capsys, minilm_path):
    output = tmp_path / "demo"
    result = run_demo(str(output), train_size=32, eval_size=24, epochs=1.0, max_length=24)
    printed = capsys.readouterr().out
    threshold = result.info["exit_threshold"]
    saved = json.loads((output / "model" / "config.json").read_text())
    assert saved["exit_threshold"] == threshold  # saved
    row = next(r for r in result.rows if r["kind"] == "early_exit" and r["threshold"] == threshold)
    assert row["ms_per_example_bs1"] is not None and row["ms_per_example_bs32"] is not None  # timed
    assert f"The saved threshold {threshold:g} (chosen on validation)" in printed  # reported
    assert f"reloaded: exit_threshold {threshold:g}" in printed
    assert sorted(p.name for p in output.iterdir()) == sorted(["model", DEFAULT_PLOT_NAME])  # no checkpoints/
    sweep = json.loads((output / "model" / "sweep.json").read_text())
    assert sweep["info"]["exit_threshold"] == threshold
