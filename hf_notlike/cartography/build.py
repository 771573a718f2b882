# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Build a data map in one call: load a labelled text dataset, tokenize it, fine-tune a sequence classifier with a
stock `Trainer` and a [`CartographyCallback`], and save the [`DataMap`] (what `hf-notlike datamap build` runs).

Every check that can fail on the user's input (the model folder, the data file, its columns, its labels, an
earlier build in the output folder) runs before the model weights are loaded or any step is trained. Training saves
Trainer checkpoints (with the callback's state) under `OUTPUT_DIR/checkpoints`, so a build interrupted mid-way
continues with `resume=True` and gives the same map as an uninterrupted one.

Example:

```python
>>> from hf_notlike.cartography import build_data_map
>>> from hf_notlike.resources import minilm_path
>>> data_map = build_data_map(minilm_path(), "train.csv", "my_map", epochs=3, plot=True)  # doctest: +SKIP
>>> ids, subset = data_map.select("ambiguous", 0.33)  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import HfNotlikeFileNotFoundError, HfNotlikeInputError

if TYPE_CHECKING:
    import datasets

    from .datamap import DataMap

__all__ = ["BUILD_CONFIG_FILE", "CHECKPOINTS_DIR", "DataMapBuildConfig", "build_data_map", "load_training_data"]

logger = logging.getLogger(__name__)

CHECKPOINTS_DIR = "checkpoints"
BUILD_CONFIG_FILE = "build_config.json"
DATA_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
# options that may change between an interrupted build and its resumption (they only affect what is written at the end)
_OUTPUT_ONLY = ("resume", "plot", "html", "card", "keep_checkpoints", "threads", "quiet")


@dataclass
class DataMapBuildConfig:
    """Options of [`build_data_map`] (and of `hf-notlike datamap build`, generated from these fields)."""

    text_column: str = field(default="text", metadata={"help": "column holding the texts"})
    text_pair_column: str | None = field(
        default=None, metadata={"help": "column holding the second text of a pair (e.g. NLI hypotheses)"}
    )
    label_column: str = field(
        default="label", metadata={"help": "column holding the gold labels: class indices, class names or a ClassLabel"}
    )
    id_column: str | None = field(
        default=None, metadata={"help": "column of unique example ids to key the map by (default: the row index)"}
    )
    split: str = field(default="train", metadata={"help": "split to map, for a saved DatasetDict"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    epochs: int = field(default=3, metadata={"help": "training epochs (one column of the map each)"})
    batch_size: int = field(default=16, metadata={"help": "training batch size"})
    learning_rate: float = field(default=2e-5, metadata={"help": "peak learning rate (linear decay)"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    max_length: int = field(default=128, metadata={"help": "truncate texts to this many tokens"})
    mode: Literal["training", "rescore"] = field(
        default="training",
        metadata={"help": "'training': statistics from the training forward pass (the paper's method); 'rescore': "
                          "re-score the train set in eval mode at each epoch end"},
    )
    seed: int = field(default=42, metadata={"help": "random seed (model head, shuffling, dropout)"})
    save_steps: int | None = field(
        default=None,
        metadata={"help": "save a Trainer checkpoint every N steps (default: at each epoch end); the newest one is kept"},
    )
    resume: bool = field(
        default=False, metadata={"help": "continue an interrupted build from its newest checkpoint in OUTPUT_DIR"}
    )
    plot: bool = field(default=False, metadata={"help": "also draw the map, OUTPUT_DIR/data_map.png"})
    html: bool = field(
        default=False, metadata={"help": "also write the interactive map with the texts on hover, data_map.html"}
    )
    card: bool = field(default=False, metadata={"help": "also write the dataset card, OUTPUT_DIR/README.md"})
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep OUTPUT_DIR/checkpoints after the map is saved (default: delete them)"}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer folder or Hub id (default: MODEL)"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self):
        for name in ("limit", "epochs", "batch_size", "max_length", "save_steps", "threads"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise HfNotlikeInputError(f"`{name}` must be a positive integer, got {value!r}.")
        if not self.learning_rate > 0:
            raise HfNotlikeInputError(f"`learning_rate` must be positive, got {self.learning_rate!r}.")
        if not self.weight_decay >= 0:
            raise HfNotlikeInputError(f"`weight_decay` must be >= 0, got {self.weight_decay!r}.")
        if self.mode not in ("training", "rescore"):
            raise HfNotlikeInputError(f"`mode` must be 'training' or 'rescore', got {self.mode!r}.")
        for name in ("text_column", "label_column", "split"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise HfNotlikeInputError(f"`{name}` must be a non-empty string, got {getattr(self, name)!r}.")

    def fingerprint(self) -> dict[str, Any]:
        """The options that decide the training run (all but output and display options): a resumed build must
        match them."""
        return {k: v for k, v in asdict(self).items() if k not in _OUTPUT_ONLY}


# ---------------------------------------------------------------------------------------------------- input


def load_training_data(data: str | os.PathLike | datasets.Dataset, split: str = "train") -> datasets.Dataset:
    """The rows to map: a `datasets.Dataset` as is; a local `.csv`, `.tsv`, `.json`, `.jsonl` or `.parquet` file read
    with `datasets.load_dataset`; or a folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (then the
    `split`).

    Raises:
        `FileNotFoundError` when the path does not exist; `ValueError` for an unknown suffix, a folder that is not a
        saved dataset, a missing split, an unreadable file or no rows.
    """
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise HfNotlikeInputError(f"The DatasetDict has no split {split!r} (it has {list(data)}); pass `split=`.")
        data = data[split]
    if isinstance(data, datasets.Dataset):
        dataset = data
    else:
        path = Path(data)
        if not path.exists():
            raise HfNotlikeFileNotFoundError(f"The data file {str(path)!r} does not exist.")
        if path.is_dir():
            if not any((path / name).is_file() for name in ("dataset_info.json", "state.json", "dataset_dict.json")):
                raise HfNotlikeInputError(f"The folder {str(path)!r} is not a saved dataset (written by `save_to_disk`); give "
                                 f"a data file ({', '.join(DATA_FORMATS)}) or such a folder.")
            loaded = datasets.load_from_disk(str(path))
            return load_training_data(loaded, split)
        suffix = path.suffix.lower()
        if suffix not in DATA_FORMATS:
            raise HfNotlikeInputError(f"The data file {str(path)!r} must end in one of {', '.join(DATA_FORMATS)} (or be a "
                             "folder written by `save_to_disk`).")
        if path.stat().st_size == 0:
            raise HfNotlikeInputError(f"The data file {str(path)!r} is empty.")
        kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
        try:
            dataset = datasets.load_dataset(DATA_FORMATS[suffix], data_files=str(path), split="train", **kwargs)
        except Exception as error:  # datasets wraps parser errors in several types
            message = " ".join(str(error).split())
            raise HfNotlikeInputError(f"The data file {str(path)!r} could not be read as {suffix[1:]} ({message}).") from None
    if len(dataset) == 0:
        raise HfNotlikeInputError("The data has no rows.")
    return dataset


def _check_columns(dataset: datasets.Dataset, config: DataMapBuildConfig) -> None:
    columns = dataset.column_names
    for option in ("text_column", "text_pair_column", "label_column", "id_column"):
        column = getattr(config, option)
        if column is not None and column not in columns:
            raise HfNotlikeInputError(f"The data has no column {column!r} (it has {columns}); name the right one with "
                             f"`{option}` (--{option.replace('_', '-')}).")
    for option in ("text_column", "text_pair_column"):
        column = getattr(config, option)
        if column is None:
            continue
        values = dataset[column]
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise HfNotlikeInputError(f"Column {column!r} must hold text; row {bad} holds {values[bad]!r} "
                             f"({type(values[bad]).__name__}). Fill or drop rows without text.")
    if config.id_column is not None:
        ids = dataset[config.id_column]
        if len(set(map(str, ids))) != len(ids):
            raise HfNotlikeInputError(f"`id_column` {config.id_column!r} has repeated values; the map needs one id per example.")


def _label_space(dataset: datasets.Dataset, column: str, model_config: Any) -> tuple[datasets.Dataset, list[str]]:
    """The labels as class indices 0..K-1 in a `labels` column, and the K label names."""
    import datasets

    feature = dataset.features[column]
    values = dataset[column]
    missing = next((i for i, v in enumerate(values) if v is None), None)
    if missing is not None:
        raise HfNotlikeInputError(f"Row {missing} has no label in column {column!r}; drop unlabelled rows first.")
    known = {str(k): int(v) for k, v in (getattr(model_config, "label2id", None) or {}).items()}
    trained_head = any(a.endswith("ForSequenceClassification") for a in getattr(model_config, "architectures", None) or [])
    if isinstance(feature, datasets.ClassLabel):
        names = list(feature.names)
        ids = list(values)
        if min(ids) < 0:
            raise HfNotlikeInputError(f"Column {column!r} holds the class index {min(ids)} (no label) in row {ids.index(min(ids))}; "
                             "drop unlabelled rows first.")
    elif all(isinstance(v, str) for v in values):
        if trained_head and set(values) <= set(known):
            names = [name for name, _ in sorted(known.items(), key=lambda item: item[1])]
            index = known
        else:
            names = sorted(set(values))
            index = {name: i for i, name in enumerate(names)}
        ids = [index[v] for v in values]
    else:
        bad = next((i for i, v in enumerate(values)
                    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))),
                   None)
        if bad is not None:
            raise HfNotlikeInputError(f"Column {column!r} must hold class indices (0, 1, ...) or class names; row {bad} holds "
                             f"{values[bad]!r}. Regression targets have no data map.")
        ids = [int(v) for v in values]
        if min(ids) < 0:
            raise HfNotlikeInputError(f"Column {column!r} holds the negative class index {min(ids)}; class indices start at 0.")
        size = max(max(ids) + 1, 2, len(known) if trained_head else 0)
        names = ([name for name, _ in sorted(known.items(), key=lambda item: item[1])] if trained_head
                 and len(known) == size else [str(i) for i in range(size)])
    if len(names) < 2:
        raise HfNotlikeInputError(f"Column {column!r} has a single class ({names}); a classifier needs at least two.")
    labels = datasets.Value("int64")
    dataset = dataset.remove_columns(column).add_column("labels", ids, feature=labels)
    return dataset, names


def _model_config(model: str):
    from transformers import AutoConfig

    path = Path(model)
    if path.exists():
        if not path.is_dir():
            raise HfNotlikeInputError(f"The model {model!r} is a file; give the folder written by `save_pretrained` or a Hub id.")
        if not (path / "config.json").is_file():
            raise HfNotlikeInputError(f"The model folder {model!r} has no config.json: it is not a saved model.")
    elif model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise HfNotlikeFileNotFoundError(f"The model folder {model!r} does not exist.")
    config = AutoConfig.from_pretrained(model)
    if getattr(config, "is_encoder_decoder", False) or getattr(config, "num_labels", 2) == 1 \
            or getattr(config, "problem_type", None) in ("regression", "multi_label_classification"):
        raise HfNotlikeInputError(f"The model {model!r} is set up for {getattr(config, 'problem_type', None) or 'seq2seq'}; "
                         "`build_data_map` fine-tunes a single-label sequence classifier.")
    return config


def _last_checkpoint(folder: Path) -> str | None:
    """The newest complete `checkpoint-*` folder (the Trainer writes `trainer_state.json` last)."""
    if not folder.is_dir():
        return None
    steps = sorted(((int(p.name.rsplit("-", 1)[1]), p) for p in folder.glob("checkpoint-*")
                    if p.name.rsplit("-", 1)[1].isdigit()), reverse=True)
    for _, checkpoint in steps:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
        except (OSError, ValueError):
            logger.warning("Skipping the incomplete checkpoint %s.", checkpoint)
            continue
        return str(checkpoint)
    return None


# ---------------------------------------------------------------------------------------------------- build


def build_data_map(
    model: str | os.PathLike,
    data: str | os.PathLike | datasets.Dataset,
    output_dir: str | os.PathLike,
    config: DataMapBuildConfig | None = None,
    *,
    callbacks: list[Any] | None = None,
    **options: Any,
) -> DataMap:
    """Fine-tunes `model` on `data` with a stock `Trainer` and a [`CartographyCallback`], and saves the data map in
    `output_dir` (`data_map.parquet` + `data_map.json`; `data_map.png`, `data_map.html` and `README.md` on request).

    Args:
        model (`str` or `os.PathLike`): a local model folder or a Hub id; loaded with
            `AutoModelForSequenceClassification` (a new head with one output per class when it has none).
        data (`str`, `os.PathLike` or `datasets.Dataset`): a `.csv`, `.tsv`, `.json`, `.jsonl` or `.parquet` file, a
            folder written by `save_to_disk`, or a dataset ([`load_training_data`]).
        output_dir (`str` or `os.PathLike`): where the map is saved; the Trainer's checkpoints go to
            `output_dir/checkpoints` (deleted after success unless `keep_checkpoints=True`).
        config ([`DataMapBuildConfig`], *optional*): the options; or pass them as keyword arguments
            (`epochs=3, batch_size=16, text_column="text", label_column="label", resume=False, plot=False, ...`).
        callbacks (`list[TrainerCallback]`, *optional*): more callbacks for the `Trainer` (e.g. a logger).

    Returns:
        [`DataMap`]: the map, keyed by row index of `data` (or by `id_column`), with `model_name` and `dataset_name`.

    Raises:
        `ValueError` / `FileNotFoundError` before any training for a missing model or data file, a column that is not
        there, labels that are not class indices or names, or an earlier build in `output_dir` (pass `resume=True` to
        continue it, with the same options).

    Example:

    ```python
    >>> from hf_notlike.cartography import build_data_map
    >>> data_map = build_data_map("path/to/bert", "train.csv", "map", epochs=3, card=True)  # doctest: +SKIP
    >>> data_map.num_epochs  # doctest: +SKIP
    3
    ```
    """
    if config is None:
        config = DataMapBuildConfig(**options)
    elif options:
        config = DataMapBuildConfig(**{**asdict(config), **options})
    was_enabled = _datasets_progress(not config.quiet)
    try:
        return _build(os.fspath(model), data, Path(output_dir), config, callbacks)
    finally:
        _datasets_progress(was_enabled)


def _build(model: str, data: Any, output: Path, config: DataMapBuildConfig, callbacks: list[Any] | None) -> DataMap:
    import torch

    if output.exists() and not output.is_dir():
        raise HfNotlikeInputError(f"The output folder {str(output)!r} is a file; give a folder (it is created if missing).")
    checkpoints = output / CHECKPOINTS_DIR
    fingerprint = {"model": model, "data": data if isinstance(data, str | os.PathLike) else None,
                   **config.fingerprint()}
    fingerprint["data"] = None if fingerprint["data"] is None else os.fspath(fingerprint["data"])
    resume_from = _check_earlier_build(output, checkpoints, fingerprint, config.resume)

    # --- everything that can be wrong with the input, before weights are loaded
    model_config = _model_config(model)
    dataset = load_training_data(data, config.split)
    if config.limit is not None:
        dataset = dataset.select(range(min(config.limit, len(dataset))))
    _check_columns(dataset, config)
    dataset, names = _label_space(dataset, config.label_column, model_config)

    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from .callback import CartographyCallback

    if config.threads:
        torch.set_num_threads(config.threads)
    tokenizer = AutoTokenizer.from_pretrained(config.tokenizer or model)
    pair = config.text_pair_column

    def tokenize(batch):
        return tokenizer(batch[config.text_column], batch[pair] if pair else None, truncation=True,
                         max_length=config.max_length)

    tokenized = dataset.map(tokenize, batched=True, desc="Tokenizing")
    output.mkdir(parents=True, exist_ok=True)
    (output / BUILD_CONFIG_FILE).write_text(json.dumps(fingerprint, indent=2) + "\n")

    label2id = {name: i for i, name in enumerate(names)}
    same_head = model_config.num_labels == len(names)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized weights" warning is the point here
    set_seed(config.seed)  # the new head's initial weights: the same in a resumed build as in the interrupted one
    try:
        classifier = AutoModelForSequenceClassification.from_pretrained(
            model, num_labels=len(names), id2label=dict(enumerate(names)), label2id=label2id,
            ignore_mismatched_sizes=not same_head,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    dataset_name = Path(os.fspath(data)).name if isinstance(data, str | os.PathLike) else None
    callback = CartographyCallback(mode=config.mode, id_column=config.id_column, dataset_name=dataset_name)
    save = ({"save_strategy": "steps", "save_steps": config.save_steps} if config.save_steps
            else {"save_strategy": "epoch"})
    training_args = TrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=config.epochs, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, weight_decay=config.weight_decay, seed=config.seed, save_total_limit=1,
        logging_strategy="no", report_to="none", disable_tqdm=config.quiet,
        use_cpu=not torch.cuda.is_available(), **save,
    )
    trainer = Trainer(model=classifier, args=training_args, train_dataset=tokenized,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=[callback, *(callbacks or [])])
    if resume_from:
        logger.info("Resuming the build from %s.", resume_from)
    trainer.train(resume_from_checkpoint=resume_from)

    data_map = callback.data_map(dataset if config.id_column else None)
    data_map.model_name = model
    data_map.dataset_name = dataset_name
    data_map.save_pretrained(output, card=config.card, plot=config.plot)
    if config.html:
        view = dataset.rename_column("labels", "label").cast_column("label", _class_label(names))
        data_map.to_html(output / "data_map.html", dataset=view, text_column=config.text_column,
                         label_column="label")
    if not config.keep_checkpoints:
        shutil.rmtree(checkpoints, ignore_errors=True)
    logger.info("Saved the data map of %d examples over %d epochs to %s.", data_map.num_examples,
                data_map.num_epochs, output)
    return data_map


def _class_label(names: list[str]):
    import datasets

    return datasets.ClassLabel(names=names)


def _datasets_progress(enable: bool) -> bool:
    """Turns `datasets`' progress bars on or off; returns whether they were on."""
    from datasets.utils import logging as ds_logging

    was = ds_logging.is_progress_bar_enabled()
    (ds_logging.enable_progress_bar if enable else ds_logging.disable_progress_bar)()
    return was


def _check_earlier_build(output: Path, checkpoints: Path, fingerprint: dict, resume: bool) -> str | None:
    """The checkpoint to resume from (None: start afresh); an error when an earlier build is in the way."""
    previous_file = output / BUILD_CONFIG_FILE
    last = _last_checkpoint(checkpoints)
    if not resume:
        if last is not None or previous_file.is_file():
            raise HfNotlikeInputError(f"{str(output)!r} holds an earlier build (checkpoints or {BUILD_CONFIG_FILE}): pass "
                             "`resume=True` (--resume) to continue it, or choose another output folder.")
        return None
    if previous_file.is_file():
        previous = json.loads(previous_file.read_text())
        changed = sorted(k for k in set(previous) | set(fingerprint) if previous.get(k) != fingerprint.get(k))
        if changed:
            details = ", ".join(f"{k}: {previous.get(k)!r} -> {fingerprint.get(k)!r}" for k in changed)
            raise HfNotlikeInputError(f"Cannot resume the build in {str(output)!r} with other options ({details}); use the "
                             "options of the interrupted build, or another output folder.")
    if last is None:
        logger.warning("No checkpoint to resume from in %s; starting the build from the beginning.", checkpoints)
    return last
