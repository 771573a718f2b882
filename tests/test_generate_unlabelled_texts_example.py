"""`examples/generate_unlabelled_texts.py` on a tiny Llama built in code: sentences started from Rotten Tomatoes
training sentences only, cut at their first sentence end, and an interrupted run (torn last line included) resumes
to the file an uninterrupted run writes."""

import json

import pytest


@pytest.fixture(scope="module")
def module(load_example):
    return load_example("generate_unlabelled_texts")


def test_first_sentence_is_cut_after_the_prefix(module):
    assert module.first_sentence("Mr. Smith", " is great. Really\nyes") == "Mr. Smith is great."
    assert module.first_sentence("A film", " with   no end") == "A film with no end"
    assert module.first_sentence("It", " works!\nNext line") == "It works!"


def test_bad_options_are_refused(module, capsys):
    for argv, message in ((["--count", "0"], "--count must be >= 1"), (["--temperature", "0"], "must be > 0")):
        with pytest.raises(SystemExit):
            module.parse_args(argv)
        assert message in capsys.readouterr().err


def test_generation_resumes_to_the_uninterrupted_file(module, load_example, bert_tokenizer, tmp_path):
    import copy

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from hf_notlike.resources import load_rotten_tomatoes

    tokenizer = copy.deepcopy(bert_tokenizer)
    tokenizer.eos_token = tokenizer.sep_token

    def load():
        torch.manual_seed(0)
        config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256)
        return LlamaForCausalLM(config), tokenizer

    common = ["--count", "10", "--batch-size", "4", "--prefix-words", "5", "--max-new-tokens", "6", "--threads", "1"]
    whole = tmp_path / "whole.jsonl"
    module.main([*common, "--output", str(whole)], load=load)
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    assert rows and [row["batch"] for row in rows] == sorted(row["batch"] for row in rows)
    assert {row["batch"] for row in rows} <= {0, 1, 2} and len({row["text"] for row in rows}) == len(rows)
    starts = {" ".join(text.split()[:5]) for text in load_rotten_tomatoes()["train"]["text"]}
    for row in rows:
        assert len(row["text"].split()) >= 5
        assert any(row["text"].startswith(start) for start in starts)  # started from a training sentence

    # stopped after its first batch, in the middle of writing the second
    resumed = tmp_path / "resumed.jsonl"
    first = [line for line in whole.read_text().splitlines() if json.loads(line)["batch"] == 0]
    resumed.write_text("".join(line + "\n" for line in first) + '{"text": "torn', encoding="utf-8")
    module.main([*common, "--output", str(resumed)], load=load)
    assert resumed.read_text() == whole.read_text()
    module.main([*common, "--output", str(resumed)], load=lambda: pytest.fail("a finished file loads no model"))

    # stopped in the middle of writing its second batch, after some of that batch's rows
    second = [line for line in whole.read_text().splitlines() if json.loads(line)["batch"] == 1]
    assert second, "the tiny model kept no sentence of the second batch"
    resumed.write_text("".join(line + "\n" for line in first + second[:1]) + '{"text": "torn', encoding="utf-8")
    module.main([*common, "--output", str(resumed)], load=load)
    assert resumed.read_text() == whole.read_text()
