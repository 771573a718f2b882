# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike early-exit calibrate` and `hf-notlike early-exit sweep`: calibration and the speed/accuracy sweep of a
saved early-exit model over a labelled data file (CSV, TSV, JSON / JSON Lines or Parquet with a text and a label
column).

```bash
hf-notlike early-exit calibrate outputs/early_exit/rt/model --data dev.csv
hf-notlike early-exit sweep outputs/early_exit/rt/model --data test.csv --timed 0.9 --plot curve.png
```
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register_commands", "load_labelled_file"]

_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
DEFAULT_THRESHOLDS = [0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999, 1.0]


def load_labelled_file(
    path: str,
    tokenizer,
    label2id: dict[str, int] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    max_length: int | None = None,
    limit: int | None = None,
):
    """Reads a labelled data file into a tokenized `datasets.Dataset` with `input_ids`, `attention_mask` (and
    `token_type_ids`) and an integer `label` column.

    Args:
        path (`str`): a `.csv`, `.tsv`, `.json`, `.jsonl` or `.parquet` file.
        tokenizer: the model's tokenizer.
        label2id (`dict[str, int]`, *optional*): maps label names to class indices when the labels are strings
            (the model's `config.label2id`).
        text_column (`str`, *optional*, defaults to `"text"`), label_column (`str`, *optional*, defaults to
            `"label"`): the column names.
        max_length (`int`, *optional*): truncate to this many tokens (default: the tokenizer's maximum).
        limit (`int`, *optional*): keep only the first `limit` rows.

    Raises:
        `ValueError` for an unknown file type, a missing column, or label names the model does not know.
    """
    import datasets

    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(f"Cannot read {path!r}: use one of {sorted(_FORMATS)} (a text and a label column).")
    if not file.is_file():
        raise ValueError(f"Data file {path!r} does not exist.")
    kwargs = {"delimiter": "\t"} if suffix == ".tsv" else {}
    data = datasets.load_dataset(_FORMATS[suffix], data_files=str(file), split="train", **kwargs)
    for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in data.column_names:
            raise ValueError(f"{path!r} has no column {column!r} (it has {data.column_names}); name it with {flag}.")
    if limit:
        data = data.select(range(min(limit, len(data))))
    feature = data.features[label_column]
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        known = dict(label2id or {})
        unknown = sorted({str(v) for v in data[label_column]} - set(known))
        if unknown:
            raise ValueError(
                f"Labels {unknown[:5]} in {path!r} are not among the model's labels {sorted(known)}; use integer "
                "class indices or the names in the model's `config.label2id`."
            )
        data = data.map(lambda row: {"label_id": known[str(row[label_column])]})
        data = data.remove_columns(label_column).rename_column("label_id", "label")
    elif label_column != "label":
        data = data.rename_column(label_column, "label")
    texts = text_column
    data = data.map(
        lambda batch: tokenizer(batch[texts], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=[c for c in data.column_names if c != "label"],
    )
    return data


def _load(args):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import hf_notlike  # noqa: F401  (registers the Auto classes)

    from .calibration import check_early_exit_model

    model = AutoModelForSequenceClassification.from_pretrained(args.model_dir)
    check_early_exit_model(model)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model_dir)
    data = load_labelled_file(
        args.data, tokenizer, model.config.label2id, args.text_column, args.label_column, args.max_length, args.limit
    )
    return model, tokenizer, data


def _set_threads(args):
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def calibrate_command(args) -> int:
    from .calibration import calibrate_temperatures

    _set_threads(args)
    try:
        model, tokenizer, data = _load(args)
        result = calibrate_temperatures(model, data, batch_size=args.batch_size)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result)
    output = Path(args.output_dir or args.model_dir)
    model.save_pretrained(output)
    if args.output_dir:
        tokenizer.save_pretrained(output)
    (output / "calibration.json").write_text(json.dumps(result.to_dict(), indent=2))
    print(f"Saved the temperatures {[round(t, 4) for t in result.temperatures]} to {output}/config.json")
    return 0


def sweep_command(args) -> int:
    from .tradeoff import check_thresholds, speed_accuracy_curve

    _set_threads(args)
    try:
        thresholds = check_thresholds(args.thresholds)
        timed = None if args.timed is None else check_thresholds(args.timed, "--timed")
        model, _, data = _load(args)
        result = speed_accuracy_curve(
            model, data, thresholds, timed_thresholds=timed, batch_sizes=args.batch_sizes,
            num_timing_examples=args.timing_examples, repeats=args.repeats, stock_model=not args.no_stock,
            eval_batch_size=args.batch_size, print_table=True,
        )
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    output = Path(args.output_dir or args.model_dir)
    output.mkdir(parents=True, exist_ok=True)
    result.to_json(str(output / "sweep.json"))
    plot = args.plot or str(output / "tradeoff.png")
    result.plot(plot)
    print(f"Saved {output / 'sweep.json'} and {plot}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", metavar="MODEL_DIR", help="a saved early-exit model (with its tokenizer)")
    parser.add_argument("--data", required=True, help="labelled .csv/.tsv/.json/.jsonl/.parquet file")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label", help="integer class indices or the model's label names")
    parser.add_argument("--tokenizer", default=None, help="tokenizer path (default: MODEL_DIR)")
    parser.add_argument("--max-length", type=int, default=None, help="truncate texts to this many tokens")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the all-exits pass")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N rows")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--output-dir", default=None, help="where to write (default: MODEL_DIR)")


def register_commands(subparsers) -> None:
    """Adds `early-exit calibrate` and `early-exit sweep` to the `hf-notlike` command line."""
    early_exit = subparsers.add_parser("early-exit", help="calibrate an early-exit model and sweep its thresholds")
    commands = early_exit.add_subparsers(dest="early_exit_command", metavar="COMMAND")
    early_exit.set_defaults(func=lambda args: early_exit.print_help() or 2)

    calibrate = commands.add_parser(
        "calibrate", help="fit one temperature per exit on a held-out file and save them in the model's config"
    )
    _common(calibrate)
    calibrate.set_defaults(func=calibrate_command)

    sweep = commands.add_parser(
        "sweep", help="accuracy, mean layers and measured speed-up per threshold; writes sweep.json and a plot"
    )
    _common(sweep)
    sweep.add_argument("--thresholds", type=float, nargs="+", default=DEFAULT_THRESHOLDS)
    sweep.add_argument("--timed", type=float, nargs="*", default=None,
                       help="thresholds to time (default: all; 1.0 is always timed)")
    sweep.add_argument("--batch-sizes", type=int, nargs="*", default=[1, 32])
    sweep.add_argument("--timing-examples", type=int, default=256)
    sweep.add_argument("--repeats", type=int, default=3)
    sweep.add_argument("--no-stock", action="store_true", help="do not time the stock transformers classifier")
    sweep.add_argument("--plot", default=None, help="plot path (default: OUTPUT_DIR/tradeoff.png)")
    sweep.set_defaults(func=sweep_command)
