"""Smoke runs of the benchmark scripts on tiny settings: they must keep running against the library's public API
(the cartography benchmark reads the callback's own time from `CartographyCallback(profile=True).profile_stats`)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from masking_fixtures import CAPTIONS, norms_lexicon, tag

from hf_notlike.masking import MASKING_STRATEGIES, DataCollatorForVLMasking

pytestmark = pytest.mark.slow  # the benchmark scripts run in subprocesses

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_script(name: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_bench_cartography_reports_callback_share():
    out = run_script("bench_cartography.py", "--repeats", "1", "--examples", "64", "--batch-size", "16",
                     "--epochs", "2", "--layers", "1", "--hidden", "32", "--seq-len", "16", "--threads", "1",
                     "--map-examples", "2000", "--map-epochs", "3")
    assert "DataMap(2,000 x 3)" in out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| training")
            or line.startswith("| rescore")}
    assert set(rows) == {"training", "rescore"}
    # the last column is the share of the run spent in the callback's own code: positive and well below the run
    for mode, line in rows.items():
        share = float(re.findall(r"([0-9.]+)%", line)[-1])
        assert 0 < share < 100, (mode, line)
    timed = [int(n) for n in re.findall(r"in (\d+) calls of the callback's own code", out)]
    assert len(timed) == 2 and timed[0] >= 3 * 4 * 2  # training mode: hooks + collator on each of 4 steps x 2 epochs


def test_datamap_scale_benchmark_runs(tmp_path):
    out = run_script("bench_datamap_scale.py", "--examples", "3000", "--repeats", "1", "--before-commit", "none",
                     "--ops", "select_ambiguous", "plot", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"))
    assert "| `select_ambiguous` | - |" in out and "| `plot` | - |" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "datamap_build_3000x3.json", "datamap_runs_3000x3.json", "datamap_scale_3000x3.json", "datamap_scale_3000x3.md"]


def test_bench_masking_runs_and_its_unchecked_copy_collates_the_same(tmp_path, load_example, bert_tokenizer):
    output = tmp_path / "bench.json"
    out = run_script("bench_masking.py", "--repeats", "1", "--headlines", "64", "--output", str(output))
    assert out.count("checked / unchecked |") == 2 and "Control: an identical copy" in out
    result = json.loads(output.read_text())
    for setting in ("fixed", "dynamic"):
        speeds = result[setting]["speeds"]
        assert all(speeds[f"{strategy} (unchecked)"] > 0 for strategy in MASKING_STRATEGIES)
    # the ratios mean something only while the unchecked copy does the checked collator's work minus the checks
    bench = load_example("bench_masking")
    rows = tag(bert_tokenizer, CAPTIONS, lexicon=norms_lexicon())
    for strategy in MASKING_STRATEGIES:
        checked = DataCollatorForVLMasking(bert_tokenizer, strategy=strategy, seed=0, lexicon=norms_lexicon())
        unchecked = bench.UncheckedCollator(bert_tokenizer, strategy=strategy, seed=0, lexicon=norms_lexicon())
        for _ in range(2):  # the second time through the rows already seen
            want, got = checked(rows), unchecked(rows)
            assert want.keys() == got.keys()
            assert all(torch.equal(want[key], got[key]) for key in want), strategy


def test_bench_early_exit_bs1_reports_the_ceiling_of_its_efficiency(tmp_path, bert_tokenizer):
    """The batch-1 benchmark on a tiny classifier and the early-exit model built from it: every threshold's
    efficiency beside its ceiling (what the stock model's own per-call cost allows), 1.0 at threshold 1.0."""
    from transformers import BertConfig, BertForSequenceClassification

    from hf_notlike import early_exit_from_classifier

    torch.manual_seed(0)
    stock = BertForSequenceClassification(BertConfig(
        vocab_size=bert_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=37, num_labels=2))
    stock.save_pretrained(tmp_path / "stock")
    bert_tokenizer.save_pretrained(tmp_path / "stock")
    model = early_exit_from_classifier(str(tmp_path / "stock"), exit_layers=[1, 2])
    model.save_pretrained(tmp_path / "model")
    bert_tokenizer.save_pretrained(tmp_path / "model")
    output = tmp_path / "bs1.json"
    out = run_script("bench_early_exit_bs1.py", "--model", str(tmp_path / "model"), "--stock", str(tmp_path / "stock"),
                     "--examples", "16", "--repeats", "1", "--thresholds", "1.0", "0.5", "--output", str(output))
    assert "its ceiling" in out and "outside its layers" in out
    result = json.loads(output.read_text())
    assert 0 < result["stock_without_layers_ms_per_sentence"] < result["stock_ms_per_sentence"]
    full, early = result["rows"]
    assert full["efficiency_ceiling"] == pytest.approx(1.0) and full["efficiency"] == pytest.approx(1.0)
    assert 0 < early["efficiency_ceiling"] <= 1.0 and early["mean_layers"] <= 3


def test_bench_gpu_runs_on_the_cpu(tmp_path, bert_tokenizer):
    """The accelerator benchmark, smoke-run on the CPU with a tiny early-exit model: inference rows for every dtype
    and batch size with host reads per batch, and the training step against the stock model's."""
    from transformers import BertConfig, BertForSequenceClassification

    from hf_notlike import early_exit_from_classifier

    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(
        vocab_size=bert_tokenizer.vocab_size, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=37, num_labels=2)).save_pretrained(tmp_path / "stock")
    model = early_exit_from_classifier(str(tmp_path / "stock"), exit_layers=[1, 2])
    model.save_pretrained(tmp_path / "model")
    bert_tokenizer.save_pretrained(tmp_path / "model")
    output = tmp_path / "gpu.json"
    out = run_script("bench_gpu.py", "--model", str(tmp_path / "model"), "--device", "cpu", "--batch-sizes", "1", "4",
                     "--examples", "16", "--calibration-examples", "32", "--repeats", "1", "--train-steps", "2",
                     "--train-batch-size", "4", "--output", str(output))
    assert "Training step, batch 4" in out
    result = json.loads(output.read_text())
    assert [(row["dtype"], row["batch_size"]) for row in result["inference"]] == [
        ("float32", 1), ("float32", 4), ("bfloat16", 1), ("bfloat16", 4)]
    for row in result["inference"]:
        assert row["speedup_vs_stock"] > 0 and 1 <= row["mean_layers"] <= 3
        assert row["host_reads_per_batch[stock]"] >= 0 and row["host_reads_per_batch[early exit @ 0.75]"] >= 1
    training = result["training_step"]
    assert training["early_exit_vs_stock"] > 0 and training["host_reads_per_step[early exit]"] >= 0
