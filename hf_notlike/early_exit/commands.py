# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike early-exit calibrate` and `hf-notlike early-exit sweep`: calibration and the speed/accuracy sweep of a
saved early-exit model over a labelled local data file (CSV, TSV, JSON / JSON Lines or Parquet with a text and a
label column). The file is read locally (no network service is contacted).

```bash
hf-notlike early-exit calibrate outputs/early_exit/rt/model --data dev.csv
hf-notlike early-exit sweep outputs/early_exit/rt/model --data dev.csv --batch-sizes --max-accuracy-drop 0.01
hf-notlike early-exit sweep outputs/early_exit/rt/model --data test.csv --timed 0.9
hf-notlike early-exit thresholds outputs/early_exit/rt/model --data dev.csv --max-accuracy-drop 0.01 --margin 0.005
```

The first sweep times nothing (`--batch-sizes` with no value) and writes the threshold with the fewest mean layers
within one accuracy point of the full model on the validation file into the model's config (`--mean-layers 2.0`
chooses by layer budget instead); the second reports the test curve and times it. `thresholds` chooses one threshold
per exit instead (`hf_notlike.choose_thresholds`), within the budget minus a safety margin, and saves them as
`exit_thresholds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cli_utils import (
    TABLE_FORMATS,
    Command,
    CommandError,
    CommandGroup,
    check_input_file,
    check_model_dir,
    check_output_dir,
    check_output_file,
    check_positive,
    read_table_file,
    save_model_folder,
    update_model_config,
)
from ..texts import check_texts

__all__ = [
    "COMMANDS",
    "CalibrateArguments",
    "SweepArguments",
    "ThresholdsArguments",
    "calibrate_command",
    "sweep_command",
    "thresholds_command",
    "load_labelled_file",
    "read_table_file",
]

DEFAULT_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999, 1.0]
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
DEFAULT_PLOT_NAME = "speed_accuracy.png"  # = tradeoff.DEFAULT_PLOT_NAME (kept here so that --help imports no torch)
# files of a saved tokenizer (any one is enough for AutoTokenizer)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


def load_labelled_file(
    path: str,
    tokenizer,
    label2id: dict[str, int] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    max_length: int | None = None,
    limit: int | None = None,
):
    """Reads a labelled local data file into a tokenized `datasets.Dataset` with `input_ids`, `attention_mask` (and
    `token_type_ids`) and an integer `label` column.

    Args:
        path (`str`): a `.csv`, `.tsv`, `.json`, `.jsonl` or `.parquet` file (read locally, see [`read_table_file`]).
        tokenizer: the model's tokenizer.
        label2id (`dict[str, int]`, *optional*): maps label names to class indices when the labels are strings
            (the model's `config.label2id`).
        text_column (`str`, *optional*, defaults to `"text"`), label_column (`str`, *optional*, defaults to
            `"label"`): the column names.
        max_length (`int`, *optional*): truncate to this many tokens (default: the tokenizer's maximum).
        limit (`int`, *optional*): keep only the first `limit` rows.

    Raises:
        `ValueError` for an unreadable file, a missing column, a row without text (null or empty: drop or fill it),
        or label names the model does not know.
    """
    data = read_table_file(path)
    return _tokenize(_label_ids(data, str(path), label2id, text_column, label_column, limit), tokenizer, text_column,
                     max_length)


def _label_ids(data, path: str, label2id, text_column: str, label_column: str, limit: int | None):
    """Checks the columns and turns label names into class indices (an integer `label` column)."""
    import datasets

    for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in data.column_names:
            raise CommandError(f"{path!r} has no column {column!r} (it has {data.column_names}); name it with {flag}.")
    if limit:
        data = data.select(range(min(limit, len(data))))
    check_texts(data[text_column], repr(path), text_column, error=CommandError)  # never tokenize None as "None"
    feature = data.features[label_column]
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        known = dict(label2id or {})
        unknown = sorted({str(v) for v in data[label_column]} - set(known))
        if unknown:
            raise CommandError(
                f"Labels {unknown[:5]} in {path!r} are not among the model's labels {sorted(known)}; use integer "
                "class indices or the names in the model's `config.label2id`."
            )
        data = data.map(lambda row: {"label_id": known[str(row[label_column])]})
        data = data.remove_columns(label_column).rename_column("label_id", "label")
    elif label_column != "label":
        data = data.rename_column(label_column, "label")
    return data.select_columns([text_column, "label"])


def _tokenize(data, tokenizer, text_column: str, max_length: int | None):
    return data.map(
        lambda batch: tokenizer([str(t) for t in batch[text_column]], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=[text_column],
    )


@dataclass
class _EarlyExitDataArguments:
    model_dir: str = field(
        metadata={"positional": True, "help": "a saved early-exit model folder (with its tokenizer)"}
    )
    data: str = field(metadata={"help": "labelled local .csv/.tsv/.json/.jsonl/.parquet file"})
    text_column: str = field(default="text", metadata={"help": "column holding the texts"})
    label_column: str = field(
        default="label", metadata={"help": "column holding integer class indices or the model's label names"}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer folder (default: MODEL_DIR)"})
    max_length: int | None = field(default=None, metadata={"help": "truncate texts to this many tokens"})
    batch_size: int = field(default=32, metadata={"help": "batch size of the all-exits pass"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})
    output_dir: str | None = field(
        default=None,
        metadata={"help": "where to write a full copy of the model (default: MODEL_DIR, where only config.json, the "
                          "card and the result files are rewritten, never the weights)"},
    )

    def __post_init__(self):
        folder = check_model_dir(self.model_dir, "MODEL_DIR")
        if self.tokenizer is None and not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise CommandError(
                f"MODEL_DIR {self.model_dir} has no tokenizer files (e.g. tokenizer.json): save the tokenizer next to "
                "the model with `tokenizer.save_pretrained(MODEL_DIR)`, or pass --tokenizer."
            )
        if self.tokenizer is not None and not Path(self.tokenizer).is_dir():
            raise CommandError(f"--tokenizer {self.tokenizer} is not a folder (a folder written by save_pretrained).")
        check_input_file(self.data, "--data", TABLE_FORMATS)
        for flag, value in (("--max-length", self.max_length), ("--batch-size", self.batch_size),
                            ("--limit", self.limit), ("--threads", self.threads)):
            check_positive(value, flag)
        check_output_dir(self.output_dir, "--output-dir")


@dataclass
class CalibrateArguments(_EarlyExitDataArguments):
    """Options of `hf-notlike early-exit calibrate`."""


@dataclass
class SweepArguments(_EarlyExitDataArguments):
    """Options of `hf-notlike early-exit sweep`."""

    thresholds: list[float] = field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS), metadata={"help": "exit thresholds of the exact curve"}
    )
    timed: list[float] | None = field(
        default=None, metadata={"nargs": "*", "help": "thresholds to time (default: all; 1.0 is always timed)"}
    )
    batch_sizes: list[int] = field(
        default_factory=lambda: [1, 32], metadata={"nargs": "*", "help": "batch sizes to time (none: no timing)"}
    )
    timing_examples: int = field(default=64, metadata={"help": "rows of the timing subset"})
    flops_examples: int = field(
        default=64, metadata={"help": "rows on which FLOPs per example are counted at each threshold (0: none)"}
    )
    repeats: int = field(default=2, metadata={"help": "timing rounds (the fastest is kept)"})
    no_stock: bool = field(default=False, metadata={"help": "do not time the stock transformers classifier"})
    plot: str | None = field(
        default=None, metadata={"help": f"plot path, .png/.pdf/.svg (default: OUTPUT_DIR/{DEFAULT_PLOT_NAME})"}
    )
    max_accuracy_drop: float | None = field(
        default=None,
        metadata={"help": "choose the threshold with the fewest mean layers within this accuracy drop of the full "
                          "model (0.01 = 1 point) on --data (a validation file) and save it as the exit_threshold"},
    )
    mean_layers: float | None = field(
        default=None,
        metadata={"help": "choose the most accurate threshold using at most this many layers on average on --data "
                          "(a validation file) and save it as the exit_threshold"},
    )

    def __post_init__(self):
        from .tradeoff import check_thresholds

        super().__post_init__()
        try:
            self.thresholds = check_thresholds(self.thresholds, "--thresholds")
            self.timed = None if self.timed is None else check_thresholds(self.timed, "--timed")
        except ValueError as error:
            raise CommandError(str(error)) from None
        for size in self.batch_sizes:
            check_positive(size, "--batch-sizes")
        check_positive(self.timing_examples, "--timing-examples")
        check_positive(self.repeats, "--repeats")
        if self.flops_examples < 0:
            raise CommandError(f"--flops-examples must be 0 (no count) or a positive number, got {self.flops_examples}.")
        check_output_file(self.plot, "--plot", PLOT_SUFFIXES)
        if self.max_accuracy_drop is not None and self.mean_layers is not None:
            raise CommandError("Give one of --max-accuracy-drop and --mean-layers, not both.")
        if self.max_accuracy_drop is not None and not 0 <= self.max_accuracy_drop < 1:
            raise CommandError(f"--max-accuracy-drop must be a fraction in [0, 1) (0.01 = one accuracy point), got "
                               f"{self.max_accuracy_drop}.")
        if self.mean_layers is not None and not self.mean_layers > 0:
            raise CommandError(f"--mean-layers must be a positive number of layers, got {self.mean_layers}.")


@dataclass
class ThresholdsArguments(_EarlyExitDataArguments):
    """Options of `hf-notlike early-exit thresholds`."""

    max_accuracy_drop: float = field(
        default=0.01, metadata={"help": "accuracy that may be lost against the reference (0.01 = 1 point)"}
    )
    margin: float = field(
        default=0.0,
        metadata={"help": "safety margin: require this much more accuracy on --data than the budget allows, since "
                          "thresholds chosen on validation lose some on test (e.g. 0.005)"},
    )
    reference_accuracy: float | None = field(
        default=None,
        metadata={"help": "accuracy to measure the drop from, e.g. the plain classifier's on --data (default: the full "
                          "model's; a given one below the full model's is raised to it, see --reference-alone)"},
    )
    reference_alone: bool = field(
        default=False,
        metadata={"help": "measure the drop from --reference-accuracy even when the full model does better on --data "
                          "(by default the better of the two: that gap is mostly split noise)"},
    )
    confidence: float | None = field(
        default=None,
        metadata={"help": "require the bootstrap lower bound of the accuracy on --data at this level (e.g. 0.9) to "
                          "meet the budget, instead of the point estimate"},
    )
    global_threshold: bool = field(
        default=False, metadata={"help": "choose one threshold for every exit instead of one per exit"}
    )

    def __post_init__(self):
        super().__post_init__()
        for flag, value in (("--max-accuracy-drop", self.max_accuracy_drop), ("--margin", self.margin)):
            if not 0 <= value < 1:
                raise CommandError(f"{flag} must be a fraction in [0, 1) (0.01 = one accuracy point), got {value}.")
        if self.confidence is not None and not 0.5 <= self.confidence < 1:
            raise CommandError(f"--confidence must lie in [0.5, 1) (e.g. 0.9), got {self.confidence}.")
        if self.reference_accuracy is not None and not 0 <= self.reference_accuracy <= 1:
            raise CommandError(f"--reference-accuracy must be a fraction in [0, 1], got {self.reference_accuracy}.")


def _load(args: _EarlyExitDataArguments):
    """Reads and checks the data against the model's config, then loads the model and tokenizer (local files only)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from .calibration import check_early_exit_model

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    table = read_table_file(args.data, "--data")
    try:
        config = AutoConfig.from_pretrained(args.model_dir, local_files_only=True)
    except (OSError, ValueError) as error:  # an unknown model_type or an unreadable config.json of the user's folder
        raise CommandError(f"MODEL_DIR {args.model_dir}: its config.json could not be loaded ({error}).") from None
    if not hasattr(config, "exit_layers"):
        raise CommandError(f"MODEL_DIR {args.model_dir} holds a {config.model_type!r} model, not an early-exit model.")
    data = _label_ids(table, args.data, config.label2id, args.text_column, args.label_column, args.limit)
    model = AutoModelForSequenceClassification.from_pretrained(args.model_dir, local_files_only=True)
    check_early_exit_model(model)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model_dir, local_files_only=True)
    return model, tokenizer, _tokenize(data, tokenizer, args.text_column, args.max_length)


def calibrate_command(args: CalibrateArguments) -> int:
    """Fits one temperature per exit on `--data` and saves them in the model's config (in `--output-dir`, with the
    tokenizer, or in MODEL_DIR)."""
    from .calibration import calibrate_temperatures

    model, tokenizer, data = _load(args)
    result = calibrate_temperatures(model, data, batch_size=args.batch_size)
    print(result)
    output = Path(args.output_dir or args.model_dir)
    if args.output_dir:  # a new model folder, committed as one
        save_model_folder(output, model, tokenizer, {"calibration.json": result.to_dict()})
    else:  # only config.json (and the card when it changes) are rewritten, atomically; the weights stay untouched
        update_model_config(output, model, {"calibration.json": result.to_dict()})
    print(f"Saved the temperatures {[round(t, 4) for t in result.temperatures]} to {output}/config.json")
    return 0


def sweep_command(args: SweepArguments) -> int:
    """Accuracy, mean layers and measured speed-up per threshold on `--data`; writes sweep.json and a plot."""
    from .tradeoff import speed_accuracy_curve

    model, tokenizer, data = _load(args)
    result = speed_accuracy_curve(
        model, data, args.thresholds, timed_thresholds=args.timed, batch_sizes=args.batch_sizes,
        num_flops_examples=args.flops_examples,
        num_timing_examples=args.timing_examples, repeats=args.repeats, stock_model=not args.no_stock,
        eval_batch_size=args.batch_size,
    )
    print(result)
    output = Path(args.output_dir or args.model_dir)
    output.mkdir(parents=True, exist_ok=True)
    if args.max_accuracy_drop is not None or args.mean_layers is not None:
        threshold = result.apply_threshold(model, max_accuracy_drop=args.max_accuracy_drop,
                                           mean_layers=args.mean_layers)
        chosen = next(r for r in result.rows if r["kind"] == "early_exit" and r["threshold"] == threshold)
        if args.output_dir:
            save_model_folder(output, model, tokenizer)
        else:  # only config.json (and the card when it changes), atomically; the weights stay untouched
            update_model_config(output, model)
        print(f"Chose threshold {threshold:g} on {args.data} (accuracy {100 * chosen['accuracy']:.2f}%, "
              f"{chosen['mean_layers']:.2f} layers on average) and saved it as exit_threshold in {output}/config.json")
    result.to_json(str(output / "sweep.json"))
    plot = args.plot or str(output / DEFAULT_PLOT_NAME)
    result.plot(plot)
    print(f"Saved {output / 'sweep.json'} and {plot}")
    return 0


def thresholds_command(args: ThresholdsArguments) -> int:
    """Chooses the exit thresholds (one per exit, or one for all) with the fewest mean layers within the accuracy
    budget on `--data` (a validation file) and saves them in the model's config; writes thresholds.json."""
    from .calibration import collect_exit_logits
    from .thresholds import choose_thresholds

    model, tokenizer, data = _load(args)
    exit_logits, labels = collect_exit_logits(model, data, batch_size=args.batch_size)
    try:
        choice = choose_thresholds(
            exit_logits, labels, model.config.exit_layers, model.config.temperatures,
            reference_accuracy=args.reference_accuracy, max_drop=args.max_accuracy_drop, margin=args.margin,
            per_exit=not args.global_threshold, num_layers=model.config.num_hidden_layers, confidence=args.confidence,
            from_better_reference=not args.reference_alone,
        )
    except ValueError as error:
        raise CommandError(str(error)) from None
    print(choice)
    choice.apply(model)
    output = Path(args.output_dir or args.model_dir)
    if args.output_dir:
        save_model_folder(output, model, tokenizer, {"thresholds.json": choice.to_dict()})
    else:  # only config.json (and the card when it changes), atomically; the weights stay untouched
        update_model_config(output, model, {"thresholds.json": choice.to_dict()})
    field_name = "exit_threshold" if args.global_threshold else "exit_thresholds"
    print(f"Saved them as {field_name} in {output}/config.json (and {output}/thresholds.json)")
    return 0


COMMANDS = [
    CommandGroup("early-exit", help="calibrate an early-exit model and sweep its thresholds"),
    Command(
        "early-exit calibrate", CalibrateArguments, calibrate_command,
        help="fit one temperature per exit on a held-out file and save them in the model's config",
    ),
    Command(
        "early-exit sweep", SweepArguments, sweep_command,
        help="accuracy, mean layers and measured speed-up per threshold; writes sweep.json and a plot",
    ),
    Command(
        "early-exit thresholds", ThresholdsArguments, thresholds_command,
        help="choose the fastest thresholds (one per exit) within an accuracy budget on a validation file and save "
             "them in the model's config",
    ),
]
