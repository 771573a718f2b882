"""The SFT data-map example (`examples/cartography_sft.py`) end to end on a tiny Llama built in code: the instruction
mix and its planted errors, both training paths (TRL's `SFTTrainer` and the stock `Trainer`), the run JSONs, the
overhead summary, the re-analysis and the plot from the saved map."""

import json

import numpy as np
import pytest


def _tiny_lm(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    return LlamaForCausalLM(config)


@pytest.fixture
def chat_tokenizer(bert_tokenizer):
    import copy

    tokenizer = copy.deepcopy(bert_tokenizer)
    tokenizer.eos_token = tokenizer.sep_token
    return tokenizer


def _args(module, tmp_path, *extra):
    return module.parse_args(["callback", "--examples", "20", "--eval-examples", "4", "--max-text-tokens", "6",
                              "--results-dir", str(tmp_path / "results"), "--artifacts-dir", str(tmp_path / "art"),
                              *extra])


def test_instruction_mix_plants_wrong_answers_per_task(load_example, chat_tokenizer, tmp_path):
    module = load_example("cartography_sft")
    args = _args(module, tmp_path, "--noise", "0.2")
    data = module.make_data(args, chat_tokenizer)
    tasks, planted = np.asarray(data["task"]), np.asarray(data["planted"])
    assert sorted(set(data["task"])) == ["sentiment", "topic"] and (tasks == "topic").sum() == 10
    for name in ("sentiment", "topic"):
        members = tasks == name
        assert planted[members].sum() == 2  # 20% of each task's 10 rows
        words = module.TASKS[name].words
        gold, answer = np.asarray(data["gold"])[members], np.asarray(data["answer"])[members]
        np.testing.assert_array_equal(gold != answer, planted[members])  # planted rows, and only they, are wrong
        assert all(data["completion"][i] == words[data["answer"][i]] for i in np.flatnonzero(members))
    assert all(module.TASKS[t].instruction in p for t, p in zip(data["task"], data["prompt"]))
    assert data == {**module.make_data(args, chat_tokenizer), "evaluation": data["evaluation"]}  # seeded
    assert {len(rows) for rows in data["evaluation"].values()} == {4}


@pytest.mark.parametrize("trainer", ["sft", pytest.param("stock", marks=pytest.mark.slow)])
def test_example_runs_end_to_end_on_a_tiny_model(load_example, chat_tokenizer, tmp_path, trainer):
    if trainer == "sft":
        pytest.importorskip("trl", reason="TRL (PyPI `trl`) is not installed")
    module = load_example("cartography_sft")
    load = lambda: (_tiny_lm(chat_tokenizer), chat_tokenizer)  # noqa: E731
    common = ["--examples", "20", "--eval-examples", "4", "--max-text-tokens", "6", "--batch-size", "4",
              "--overhead-steps", "3", "--trainer", trainer, "--results-dir", str(tmp_path / "results"),
              "--artifacts-dir", str(tmp_path / "art")]
    module.main(["all", *common], load=load)
    result = json.loads((tmp_path / "results" / "callback.json").read_text())
    plain = json.loads((tmp_path / "results" / "no_callback.json").read_text())
    assert result["train_steps"] == 10 and plain["train_steps"] == 3  # 20 examples / 4 x 2 epochs; the set step cap
    assert len(result["step_cpu_seconds"]) == 10 and len(plain["step_wall_seconds"]) == 3
    assert result["num_planted"] == 2 and result["all"]["examples"] == 20
    assert set(result["accuracy_before"]) == {"sentiment", "topic"}
    for name in ("sentiment", "topic"):
        assert result[name]["examples"] == 10 and result[name]["num_planted"] == 1
        region = result[name]["hard_to_learn_0.1"]
        assert region["selected"] == 1 and 0 <= region["planted_in_region"] <= 1
        assert region["random_mean"] == pytest.approx(0.1, abs=0.03)  # 1 draw of 10 holding 1 planted error
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["paired_steps"] == 2 and summary["cpu"]["ratio_of_totals"] > 0
    # the analysis recomputed from the saved map and rows is the same
    before = {k: v for k, v in result.items() if k in ("all", "sentiment", "topic")}
    module.main(["reanalyse", *common])
    after = json.loads((tmp_path / "results" / "callback.json").read_text())
    assert {k: after[k] for k in before} == before
    module.main(["plot", *common, "--plot-path", str(tmp_path / "map.png")])
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    # the results block of the docs page, written between its markers from the JSONs
    page = tmp_path / "results.md"
    page.write_text(f"# Results\n\nbefore\n{module.MARKERS[0]}\nold text\n{module.MARKERS[1]}\nafter\n")
    module.main(["report", *common, "--docs-page", str(page), "--plot-path", str(tmp_path / "map.png")])
    text = page.read_text()
    assert "old text" not in text and text.startswith("# Results\n\nbefore\n") and text.endswith("after\n")
    assert "| whole mix: 20 | 2 |" in text and "| sentiment only (its own ranking): 10 | 1 |" in text
    assert "](map.png)" in text and "ratio of totals" in text
    # resumable: a finished run is skipped
    assert module.run(module.parse_args(["callback", *common]), "callback", load=load) is None
