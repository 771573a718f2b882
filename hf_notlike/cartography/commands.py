# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike datamap ...`: look at and select from a saved data map.

```bash
hf-notlike datamap build MODEL DATA --output-dir MAP_DIR [--epochs 3] [--text-column text --label-column label] \
    [--plot] [--html] [--card] [--resume]
hf-notlike datamap show MAP_DIR
hf-notlike datamap plot MAP_DIR [--output data_map.png] [--kind auto|scatter|density|hexbin] [--epochs K]
hf-notlike datamap select MAP_DIR --region ambiguous --fraction 0.33 [--output ids.json] [--epochs K] [--seed 0]
hf-notlike datamap html MAP_DIR [--output map.html] [--data train.csv --text-column text] [--max-points N]
```

`datamap build` fine-tunes MODEL (a local folder or a Hub id) on DATA (a .csv/.tsv/.json/.jsonl/.parquet file or a
folder written by `save_to_disk`) with a stock `Trainer` and a `CartographyCallback` and saves the map
(`hf_notlike.cartography.build_data_map`); an interrupted build continues with `--resume`.

For the other commands, `MAP_DIR` is a folder written by `DataMap.save_pretrained`, or the id (`user/name`) of a Hub dataset repo. A path
that does not exist and cannot be a repo id (absolute, `./...`, several `/`) is reported as missing without any
network request.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..artifacts import write_text
from ..cli_utils import (
    TABLE_FORMATS,
    Command,
    CommandError,
    CommandGroup,
    check_fraction,
    check_input_file,
    check_output_file,
    check_positive,
    looks_like_repo_id,
    read_table_file,
)
from ..paths import close_names, looks_like_local_path, missing_folder_message
from .build import DATA_FORMATS, DataMapBuildConfig
from .datamap import DATA_MAP_FILE, METADATA_FILE, PLOT_FILE, REGIONS, DataMap
from .interactive import DEFAULT_MAX_POINTS, check_dataset_labels

__all__ = ["COMMANDS", "BuildArguments", "ShowArguments", "PlotArguments", "SelectArguments", "HtmlArguments"]

Region = Literal[REGIONS]
_MAP_DIR_HELP = "folder saved by DataMap.save_pretrained, or a Hub dataset repo id (user/name)"


def _check_map_dir(map_dir: str) -> None:
    folder = Path(map_dir)
    if folder.is_dir():
        missing = [name for name in (DATA_MAP_FILE, METADATA_FILE) if not (folder / name).is_file()]
        if missing:
            raise CommandError(
                f"MAP_DIR {map_dir} is not a saved data map: {' and '.join(missing)} missing "
                "(write one with `DataMap.save_pretrained`)."
            )
    elif folder.exists():
        raise CommandError(f"MAP_DIR {map_dir} is a file; give the folder written by `DataMap.save_pretrained`.")
    elif not looks_like_repo_id(map_dir) or map_dir.count("/") != 1 or looks_like_local_path(map_dir):
        raise CommandError(f"MAP_DIR {missing_folder_message(map_dir)} (MAP_DIR is a folder written by "
                           "`DataMap.save_pretrained`, or a Hub dataset repo id.)")


def _hub_map_needs_output(map_dir: str) -> str:
    first = map_dir.split("/")[0]
    close = [f"{name}/{map_dir.split('/', 1)[1]}" if "/" in map_dir else name for name in close_names(first)]
    hint = f" (no local folder {first!r}: did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (f"MAP_DIR {map_dir} is not a local folder{hint}, so it is read as a Hub dataset repo id: pass --output for "
            "a map loaded from the Hub, or fix the folder name.")


@dataclass
class ShowArguments:
    """Options of `hf-notlike datamap show`."""

    map_dir: str = field(metadata={"positional": True, "help": _MAP_DIR_HELP})

    def __post_init__(self):
        _check_map_dir(self.map_dir)


@dataclass
class _EpochsArguments:
    map_dir: str = field(metadata={"positional": True, "help": _MAP_DIR_HELP})
    epochs: int | None = field(default=None, metadata={"help": "use only the first K epochs"})

    def __post_init__(self):
        _check_map_dir(self.map_dir)
        check_positive(self.epochs, "--epochs")


@dataclass
class PlotArguments(_EpochsArguments):
    """Options of `hf-notlike datamap plot`."""

    output: str | None = field(
        default=None,
        metadata={"aliases": ["-o"], "help": "image file, .png or .pdf (default: MAP_DIR/data_map.png for a folder)"},
    )
    kind: Literal["auto", "scatter", "density", "hexbin"] = field(
        default="auto",
        metadata={"help": "scatter, density (a raster of every example), hexbin, or auto (density above --max-points "
                          "examples)"},
    )
    max_points: int = field(default=25_000, metadata={"help": "scatter size limit"})

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.max_points, "--max-points")
        if self.output is None and not Path(self.map_dir).is_dir():
            raise CommandError(_hub_map_needs_output(self.map_dir))
        check_output_file(self.output, "--output", (".png", ".pdf"))


@dataclass
class SelectArguments(_EpochsArguments):
    """Options of `hf-notlike datamap select`."""

    region: Region = field(kw_only=True, metadata={"help": "region to select"})
    fraction: float = field(kw_only=True, metadata={"help": "share of the examples, in (0, 1]"})
    seed: int = field(default=0, metadata={"help": "seed of the random region"})
    class_balanced: bool = field(
        default=False, metadata={"help": "per-class quotas in the class proportions (maps recorded with labels)"}
    )
    output: str | None = field(
        default=None,
        metadata={
            "aliases": ["-o"],
            "help": "write the ids to this file (.json: a list; otherwise one id per line) instead of stdout",
        },
    )

    def __post_init__(self):
        super().__post_init__()
        check_fraction(self.fraction, "--fraction")
        check_output_file(self.output, "--output")


def _load(args) -> DataMap:
    data_map = DataMap.from_pretrained(args.map_dir)
    epochs = getattr(args, "epochs", None)
    if epochs is not None and epochs > data_map.num_epochs:
        raise CommandError(f"--epochs {epochs} is more than the {data_map.num_epochs} epochs the map recorded.")
    return data_map


def show_command(args: ShowArguments) -> int:
    """Prints a summary of the map."""
    data_map = _load(args)
    print(data_map)
    print(data_map.to_pandas().drop(columns="id").describe().to_string())
    return 0


def plot_command(args: PlotArguments) -> int:
    """Draws the data map."""
    data_map = _load(args)
    output = args.output or str(Path(args.map_dir) / PLOT_FILE)
    data_map.plot(output, kind=args.kind, max_points=args.max_points, epochs=args.epochs)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def select_command(args: SelectArguments) -> int:
    """Prints or writes the ids of a region."""
    data_map = _load(args)
    selection = data_map.select(
        args.region, args.fraction, epochs=args.epochs, seed=args.seed, class_balanced=args.class_balanced
    )
    ids = selection.ids.tolist()
    if args.output is None:
        sys.stdout.write("".join(f"{i}\n" for i in ids))
    else:
        path = Path(args.output)
        if path.suffix.lower() == ".json":
            write_text(path, json.dumps(ids) + "\n")
        else:
            write_text(path, "".join(f"{i}\n" for i in ids))
    print(f"selected {len(ids)} of {data_map.num_examples} examples ({args.region}, fraction {args.fraction})",
          file=sys.stderr)
    return 0


@dataclass
class HtmlArguments(_EpochsArguments):
    """Options of `hf-notlike datamap html`."""

    output: str | None = field(
        default=None,
        metadata={"aliases": ["-o"], "help": "the .html file to write (default: MAP_DIR/data_map.html for a folder)"},
    )
    data: str | None = field(
        default=None,
        metadata={"help": "the training data the map was recorded on (.csv, .tsv, .json, .jsonl or .parquet, same "
                          "rows; with the map's id column in any order): its text and labels are shown on hover"},
    )
    text_column: str | None = field(
        default=None, metadata={"help": "column of --data with the text (default: text, sentence, ... if present)"}
    )
    label_column: str | None = field(
        default=None, metadata={"help": "column of --data with the gold label (default: label or labels if present)"}
    )
    max_points: int = field(
        default=DEFAULT_MAX_POINTS,
        metadata={"help": "above this many examples, draw a sample over a heatmap (selections still cover all)"},
    )

    def __post_init__(self):
        super().__post_init__()
        check_positive(self.max_points, "--max-points")
        if self.output is None and not Path(self.map_dir).is_dir():
            raise CommandError(_hub_map_needs_output(self.map_dir))
        check_output_file(self.output, "--output", (".html", ".htm"))
        if self.data is not None:
            check_input_file(self.data, "--data", TABLE_FORMATS)
        elif self.text_column is not None or self.label_column is not None:
            raise CommandError("--text-column / --label-column need --data (the training data of the map).")


def _check_data(data_map: DataMap, dataset, args: HtmlArguments) -> None:
    """`--data` must be the map's training data: same rows (ids, when the map has an id column) and the gold labels
    the map recorded, or the page would show another data set's labels as gold labels."""
    source = f"--data {args.data}"
    try:
        positions = data_map.positions(dataset)
    except ValueError as error:
        raise CommandError(f"{source} does not match the data map {args.map_dir}: {error}") from None
    if args.label_column is not None and args.label_column not in dataset.column_names:
        raise CommandError(f"--label-column {args.label_column!r} is not a column of {source} (columns: "
                           f"{dataset.column_names}).")
    try:
        check_dataset_labels(data_map, dataset, positions, args.label_column, source=source,
                             column_option="--label-column")
    except ValueError as error:
        raise CommandError(str(error)) from None


def html_command(args: HtmlArguments) -> int:
    """Writes the interactive data map."""
    data_map = _load(args)
    dataset = read_table_file(args.data, "--data") if args.data is not None else None
    if dataset is not None:
        _check_data(data_map, dataset, args)
    output = args.output or str(Path(args.map_dir) / "data_map.html")
    data_map.to_html(
        output, dataset=dataset, text_column=args.text_column, label_column=args.label_column,
        max_points=args.max_points, epochs=args.epochs,
    )
    print(f"wrote {output}", file=sys.stderr)
    return 0


@dataclass
class BuildArguments(DataMapBuildConfig):
    """Options of `hf-notlike datamap build` (the fields of [`DataMapBuildConfig`] and where to read and write)."""

    model: str = field(kw_only=True, metadata={
        "positional": True, "help": "model to fine-tune: a local folder or a Hub id (a new classification head is "
                                    "added when it has none)"})
    data: str = field(kw_only=True, metadata={
        "positional": True, "help": "labelled training data: a .csv, .tsv, .json, .jsonl or .parquet file, or a "
                                    "folder written by save_to_disk"})
    output_dir: str = field(kw_only=True, metadata={
        "aliases": ["-o"], "help": "folder for the map (and the Trainer checkpoints under checkpoints/)"})

    def __post_init__(self):
        super().__post_init__()
        path = Path(self.model)
        if path.exists():
            if not path.is_dir() or not (path / "config.json").is_file():
                raise CommandError(f"MODEL {self.model} is not a saved model folder (no config.json).")
        elif not looks_like_repo_id(self.model):
            raise CommandError(f"MODEL {self.model} does not exist (a folder written by save_pretrained, or a Hub id).")
        data = Path(self.data)
        if not data.exists():
            raise CommandError(f"DATA {self.data} does not exist.")
        if data.is_file():
            check_input_file(self.data, "DATA", tuple(DATA_FORMATS))
        if Path(self.output_dir).exists() and not Path(self.output_dir).is_dir():
            raise CommandError(f"--output-dir {self.output_dir} is a file; give a folder (it is created if missing).")
        if self.html:
            try:
                import plotly  # noqa: F401
            except ImportError:
                raise CommandError("--html needs plotly: pip install plotly") from None


def build_command(args: BuildArguments) -> int:
    """Fine-tunes MODEL on DATA with a `CartographyCallback` and saves the map in --output-dir."""
    from dataclasses import fields

    from .build import build_data_map

    options = {f.name: getattr(args, f.name) for f in fields(DataMapBuildConfig)}
    data_map = build_data_map(args.model, args.data, args.output_dir, **options)
    print(data_map)
    written = ["data_map.parquet", "data_map.json"] + [name for flag, name in (
        (args.plot, "data_map.png"), (args.html, "data_map.html"), (args.card, "README.md")) if flag]
    print(f"wrote {', '.join(written)} to {args.output_dir}", file=sys.stderr)
    return 0


COMMANDS = [
    CommandGroup(
        "datamap", help="plot or select from a dataset-cartography data map",
        description="Dataset cartography (Swayamdipta et al., 2020): plot a saved data map or select a region of it.",
    ),
    Command("datamap build", BuildArguments, build_command,
            help="fine-tune a model on a data file with a CartographyCallback and save the data map",
            description="Fine-tune MODEL on DATA with a stock Trainer and a CartographyCallback, and save the data map "
                        "(Parquet + JSON; --plot, --html, --card add the plot, the interactive page and the card). "
                        "Checkpoints are saved under OUTPUT_DIR/checkpoints; an interrupted build continues with "
                        "--resume."),
    Command("datamap show", ShowArguments, show_command, help="print a summary of a data map"),
    Command("datamap plot", PlotArguments, plot_command, help="draw the data map (PNG or PDF)"),
    Command("datamap select", SelectArguments, select_command, help="print (or write) the ids of a region of the map"),
    Command("datamap html", HtmlArguments, html_command,
            help="write the interactive map: one self-contained HTML page (hover text, box/lasso selection as ids)"),
]
