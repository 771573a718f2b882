"""Tests for `hf-notlike mask` and the docstring examples of hf_notlike.masking."""

import doctest
import re

import pytest

from hf_notlike.cli import main


def test_mask_command_brackets_the_masked_words(minilm_path, capsys):
    code = main(["mask", "A man rides a brown horse on the beach.", "it is", "--tokenizer", minilm_path,
                 "--strategy", "objects", "stop_words", "--mlm-probability", "1", "--seed", "0"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "objects:",
        "  A [man] rides a brown [horse] on the [beach].",
        "  [it] [is]",  # no object and no content word: falls back to any word
        "stop_words:",
        "  [A] man rides [a] brown horse [on] [the] beach[.]",
        "  [it] [is]",
    ]


def test_mask_command_samples_and_default_strategies(minilm_path, capsys):
    assert main(["mask", "Two dogs play in the park", "--tokenizer", minilm_path, "--samples", "2"]) == 0
    out = capsys.readouterr().out
    for strategy in ("random", "content_words", "objects", "top_concrete", "stop_words"):
        assert f"{strategy}:\n" in out
    word_lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert len(word_lines) == 10
    assert all(re.search(r"\[[^\]]+\]", line) for line in word_lines[2:])  # word strategies: always a mask


def test_mask_command_bad_input(minilm_path, tmp_path, capsys):
    bad = tmp_path / "norms.csv"
    bad.write_text("token,value\napple,5\n")
    assert main(["mask", "a dog", "--tokenizer", minilm_path, "--strategy", "top_concrete",
                 "--concreteness", str(bad)]) == 2
    assert "needs a word column" in capsys.readouterr().err
    assert main(["mask", "a dog", "--tokenizer", minilm_path, "--mlm-probability", "2"]) == 2
    assert "(0, 1]" in capsys.readouterr().err
    assert main(["mask", "a dog", "--tokenizer", minilm_path, "--strategy", "verbs"]) == 2
    assert "invalid choice: 'verbs'" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["lexicon", "tagging", "collator"])
def test_docstring_examples(module):
    """The `>>>` examples of the docstrings run as written (Markdown fences stripped)."""
    import importlib

    mod = importlib.import_module(f"hf_notlike.masking.{module}")
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    globs = dict(vars(mod))  # as doctest.testmod does
    for name, obj in [(module, mod)] + [(n, getattr(mod, n)) for n in getattr(mod, "__all__", [])]:
        text = getattr(obj, "__doc__", None)
        if not text or ">>>" not in text or (obj is not mod and not callable(obj)):
            continue
        text = "\n".join("" if line.strip().startswith("```") else line for line in text.splitlines())
        test = parser.get_doctest(text, globs, name, mod.__file__, 0)
        runner.run(test)
    assert runner.tries >= 2 and runner.failures == 0
