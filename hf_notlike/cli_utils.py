# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The machinery of the `hf-notlike` command line: sub-commands generated from option dataclasses with
`transformers.HfArgumentParser` (as TRL's `trl` command line builds its sub-commands), and the checks that commands
run on their options before any work starts.

A sub-command is one dataclass (its options: each field's type, default and `metadata={"help": ...}` are the only
definition of the option) and one function that takes an instance of it and returns an exit code. Register it in the
`COMMANDS` list of the part's own `commands.py` (and add the module to `hf_notlike.cli.COMMAND_MODULES` if it is a
new one):

```python
>>> from dataclasses import dataclass, field
>>> from hf_notlike.cli_utils import Command, CommandGroup, check_positive
>>> @dataclass
... class GreetArguments:
...     name: str = field(metadata={"help": "who to greet", "positional": True})
...     times: int = field(default=1, metadata={"help": "how often"})
...     def __post_init__(self):  # checks that need nothing but the options
...         check_positive(self.times, "--times")
>>> def greet(args: GreetArguments) -> int:
...     print(" ".join([f"hello {args.name}"] * args.times))
...     return 0
>>> COMMANDS = [CommandGroup("say", help="say things"), Command("say greet", GreetArguments, greet, help="greet")]
```

Field conventions (on top of `HfArgumentParser`'s): `metadata={"positional": True}` makes a positional argument
(with `nargs` from the metadata, `"+"` for a list); `metadata={"nargs": "*"}` on a list field allows an empty list;
`metadata={"aliases": ["-o"]}` adds short flags. Options are spelt `--kebab-case` (and `--snake_case`).

Errors: the option checks raise [`CommandError`] (a [`~hf_notlike.errors.HfNotlikeInputError`], so a `ValueError`);
`hf_notlike.cli.main` prints any `HfNotlikeInputError` raised by a command (the library raises them for every input
it rejects) as one line `hf-notlike <command>: error: <message>` and returns 2. Any other exception is a bug or an
environment problem and keeps its traceback: do not turn it into a usage error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

from transformers import HfArgumentParser

from .errors import HfNotlikeInputError

__all__ = [
    "Command",
    "CommandGroup",
    "CommandError",
    "CommandParser",
    "UsageError",
    "check_positive",
    "check_fraction",
    "check_model_dir",
    "check_input_file",
    "check_output_dir",
    "check_output_file",
    "check_text_file",
    "save_model_folder",
    "update_model_config",
    "looks_like_repo_id",
    "read_table_file",
    "TABLE_FORMATS",
]


class CommandError(HfNotlikeInputError):
    """A wrong command-line option or input, found before the work starts; printed as one line, exit code 2."""


@dataclass(frozen=True)
class Command:
    """One `hf-notlike` sub-command.

    Args:
        name (`str`): the words that call it, e.g. `"early-exit sweep"` (its group, `"early-exit"`, must be declared
            with a [`CommandGroup`] first).
        arguments (`type`): the options dataclass; the parser is generated from its fields.
        run (`Callable`): called with an instance of `arguments`; returns the exit code (`None` means 0).
        help (`str`): one line for the command list.
        description (`str`, *optional*): the text of `--help` (defaults to `help`).
    """

    name: str
    arguments: type
    run: Callable[[Any], int | None]
    help: str
    description: str | None = None


@dataclass(frozen=True)
class CommandGroup:
    """A word that groups sub-commands (`hf-notlike early-exit ...`)."""

    name: str
    help: str
    description: str | None = None


class UsageError(Exception):
    """A command line that does not parse or whose options fail their checks; `main` prints it as one line and
    returns 2 (raised instead of argparse's exit)."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only when there is one and the help text does not already say it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or action.required or "default" in text:
            return text
        return super()._get_help_string(action)


class _KebabFirst:
    """Hands `add_argument` to a parser with the `--kebab-case` spelling of an option first (shown in usage)."""

    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser

    def add_argument(self, *names: str, **kwargs):
        return self.parser.add_argument(*sorted(names, key=lambda name: "_" in name), **kwargs)


class CommandParser(HfArgumentParser):
    """`HfArgumentParser` with positional fields, `nargs` from the metadata, `--flag` switches for booleans that
    default to False, `--kebab-case` options first, and one-line usage errors."""

    def __init__(self, dataclass_types=None, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(dataclass_types, **kwargs)

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field):
        metadata = dict(field.metadata)
        positional = metadata.pop("positional", False)
        if field.type is bool and field.default is False and not positional:
            options = [f"--{field.name.replace('_', '-')}"] + ([f"--{field.name}"] if "_" in field.name else [])
            parser.add_argument(*options, action="store_true", help=metadata.get("help"))
            return
        if not positional and "nargs" not in metadata:
            return HfArgumentParser._parse_dataclass_field(_KebabFirst(parser), field)
        metadata.pop("aliases", None)
        kwargs: dict[str, Any] = {"help": metadata.pop("help", None), **metadata}
        field_type = field.type
        if getattr(field_type, "__args__", None) and type(None) in field_type.__args__:  # X | None
            field_type = next(arg for arg in field_type.__args__ if arg is not type(None))
        if getattr(field_type, "__origin__", None) is list:
            kwargs["type"] = field_type.__args__[0]
            kwargs.setdefault("nargs", "+")
        else:
            kwargs["type"] = field_type
        has_default = field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
        if has_default:
            kwargs["default"] = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        if positional:
            kwargs.setdefault("metavar", field.name.upper())
            if has_default and kwargs.get("nargs") is None:
                kwargs["nargs"] = "?"
            parser.add_argument(field.name, **kwargs)
        else:
            if not has_default:
                kwargs["required"] = True
            options = [f"--{field.name.replace('_', '-')}"] + ([f"--{field.name}"] if "_" in field.name else [])
            parser.add_argument(*options, *field.metadata.get("aliases", []), **kwargs)

    def error(self, message: str):
        raise UsageError(self.prog, f"{message} (see `{self.prog} --help`)")


def build_parser(prog: str, description: str, commands: Sequence[Command | CommandGroup], version: str) -> CommandParser:
    """The root parser with one sub-parser per [`Command`] (generated from its dataclass) and [`CommandGroup`]."""
    root = CommandParser(prog=prog, description=description)
    root.add_argument("--version", action="version", version=f"%(prog)s {version}")
    root.set_defaults(_parser=root)
    subparsers = {(): root.add_subparsers(metavar="COMMAND", parser_class=CommandParser)}
    for item in commands:
        *group, word = item.name.split()
        if tuple(group) not in subparsers:
            raise ValueError(f"Register the command group {' '.join(group)!r} before {item.name!r}.")
        if isinstance(item, CommandGroup):
            parser = subparsers[tuple(group)].add_parser(
                word, help=item.help, description=item.description or item.help
            )
            parser.set_defaults(_parser=parser)
            subparsers[(*group, word)] = parser.add_subparsers(metavar="COMMAND", parser_class=CommandParser)
        else:
            parser = subparsers[tuple(group)].add_parser(
                word, help=item.help, description=item.description or item.help, dataclass_types=[item.arguments]
            )
            parser.set_defaults(_parser=parser, _command=item)
    return root


def parse_command(parser: CommandParser, argv: Sequence[str] | None) -> tuple[Command | None, Any, CommandParser]:
    """Parses `argv`; returns the command (None when only a group was named), its options dataclass (built, so its
    `__post_init__` checks ran) and the parser of the command (for help)."""
    namespace = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    command = getattr(namespace, "_command", None)
    leaf = getattr(namespace, "_parser", parser)
    if command is None:
        return None, None, leaf
    names = {f.name for f in dataclasses.fields(command.arguments) if f.init}
    get_type_hints(command.arguments)  # fail early on an unresolvable annotation
    try:
        options = command.arguments(**{name: getattr(namespace, name) for name in names})
    except HfNotlikeInputError as error:  # the options' own checks (`__post_init__`)
        raise UsageError(leaf.prog, str(error)) from None
    return command, options, leaf


# --- checks commands run on their options before the work starts ----------------------------------------------


def check_positive(value: float | int | None, flag: str, allow_none: bool = True) -> None:
    """Raises [`CommandError`] unless `value` is a positive number (or None when `allow_none`)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise CommandError(f"{flag} must be a positive number, got {value!r}.")


def check_fraction(value: float, flag: str) -> None:
    """Raises [`CommandError`] unless `0 < value <= 1`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise CommandError(f"{flag} must be in (0, 1], got {value!r}.")


def looks_like_repo_id(name: str) -> bool:
    """Whether `name` could be a Hub repo id (`name` or `user/name`) rather than only a local path."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?", name)) and ".." not in name


def check_model_dir(path: str, flag: str) -> Path:
    """A local model folder with a `config.json`; [`CommandError`] naming what is missing otherwise."""
    folder = Path(path)
    if not folder.exists():
        raise CommandError(f"{flag} {path} does not exist (a folder written by `save_pretrained`).")
    if not folder.is_dir():
        raise CommandError(f"{flag} {path} is a file, not a model folder (a folder written by `save_pretrained`).")
    if not (folder / "config.json").is_file():
        raise CommandError(f"{flag} {path} has no config.json: it is not a saved model (use `save_pretrained`).")
    return folder


def check_input_file(path: str, flag: str, suffixes: Sequence[str] | None = None) -> Path:
    """An existing local file (with one of `suffixes`); [`CommandError`] otherwise."""
    file = Path(path)
    if suffixes is not None and file.suffix.lower() not in suffixes:
        raise CommandError(f"{flag} {path}: use a file ending in one of {', '.join(suffixes)}.")
    if not file.exists():
        raise CommandError(f"{flag} {path} does not exist.")
    if not file.is_file():
        raise CommandError(f"{flag} {path} is a folder, not a file.")
    return file


def check_text_file(path: str | os.PathLike, flag: str) -> None:
    """Raises [`CommandError`] when the file is empty or not UTF-8 text (e.g. a binary file under a `.csv` name)."""
    file = Path(path)
    with open(file, "rb") as handle:
        head = handle.read(1 << 16)
    if not head.strip():
        raise CommandError(f"{flag} {path} is empty.")
    if b"\x00" in head:
        raise CommandError(f"{flag} {path} is a binary file, not text.")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a multi-byte character cut by the 64 KiB read
            raise CommandError(f"{flag} {path} is not UTF-8 text ({error.reason} at byte {error.start}).") from None


def check_output_dir(path: str | None, flag: str) -> None:
    """Raises [`CommandError`] when `path` exists and is not a folder (it is created otherwise)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise CommandError(f"{flag} {path} is a file; give a folder (it is created if missing).")


def check_output_file(path: str | None, flag: str, suffixes: Sequence[str] | None = None) -> None:
    """Raises [`CommandError`] when `path` has the wrong suffix, is a folder, or its folder does not exist."""
    if path is None:
        return
    file = Path(path)
    if suffixes is not None and file.suffix.lower() not in suffixes:
        raise CommandError(f"{flag} {path}: use a file name ending in {' or '.join(suffixes)}.")
    if file.is_dir():
        raise CommandError(f"{flag} {path} is a folder; give a file name.")
    parent = file.parent
    if not parent.is_dir():
        raise CommandError(f"{flag} {path}: the folder {parent} does not exist; create it first.")


# --- local data files ---------------------------------------------------------------------------------------

TABLE_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".parquet")


def read_table_file(path: str | Path, flag: str = "data file"):
    """Reads a local `.csv`, `.tsv`, `.json` (a list of row objects, or an object of columns), `.jsonl` or
    `.parquet` file into a `datasets.Dataset`, without contacting any network service.

    Args:
        path (`str` or `Path`): the file.
        flag (`str`, *optional*, defaults to `"data file"`): how to name the file in errors (e.g. `"--data"`).

    Raises:
        [`~hf_notlike.cli_utils.CommandError`] (a `ValueError`) naming the file when it is missing, empty, binary, not
        valid JSON / CSV / Parquet, or has no rows.
    """
    import datasets
    import pyarrow as pa

    file = check_input_file(str(path), flag, TABLE_FORMATS)
    suffix = file.suffix.lower()
    if suffix != ".parquet":
        check_text_file(file, flag)
    try:
        if suffix in (".csv", ".tsv"):
            from pyarrow import csv

            table = csv.read_csv(
                file,
                parse_options=csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True),
            )
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(file)
        else:
            text = file.read_text(encoding="utf-8")
            if suffix == ".jsonl":
                rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                rows = json.loads(text)
            if isinstance(rows, dict) and all(isinstance(v, list) for v in rows.values()):
                table = pa.table(rows)
            elif isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
                table = pa.Table.from_pylist(rows)
            else:
                raise CommandError(
                    f"{flag} {path} must hold a list of row objects, an object of columns (each a list), or one "
                    f"object per line in .jsonl; got {type(rows).__name__}."
                )
    except json.JSONDecodeError as error:
        raise CommandError(f"{flag} {path} is not valid JSON ({error}).") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise CommandError(f"{flag} {path} could not be read as {suffix[1:]} ({' '.join(str(error).split())}).") from None
    if table.num_rows == 0:
        raise CommandError(f"{flag} {path} has no rows.")
    return datasets.Dataset(datasets.table.InMemoryTable(table))


def save_model_folder(
    output: str | os.PathLike, model: Any, tokenizer: Any = None, json_files: dict[str, Any] | None = None
) -> Path:
    """Saves `model` (with `save_pretrained`), `tokenizer` and `json_files` (file name -> JSON value) into `output` as
    one atomic commit ([`hf_notlike.artifacts.staged_folder`]): a crash leaves the previous folder or the new one.
    Other files already in `output` are kept."""
    from .artifacts import staged_folder, write_json

    with staged_folder(output) as staging:
        model.save_pretrained(staging)
        if tokenizer is not None:
            tokenizer.save_pretrained(staging)
        for name, value in (json_files or {}).items():
            write_json(staging / name, value)
    return Path(output)


def update_model_config(folder: str | os.PathLike, model: Any, json_files: dict[str, Any] | None = None) -> list[Path]:
    """Rewrites only `config.json` of the model saved in `folder` from `model.config` (plus README.md when the model's
    card changes, and `json_files`), each file atomically; the weights and every other file are left untouched.

    For commands that store a result in the model they read (`early-exit calibrate` without `--output-dir`).

    Returns:
        `list[Path]`: the files written.
    """
    import shutil
    import tempfile

    from .artifacts import atomic_path, write_json

    folder = Path(folder)
    check = getattr(model, "check_exits_match_config", None)
    if check is not None:
        check()  # never write a config that will not reload with these weights
    written = [folder / "config.json"]
    with atomic_path(written[0]) as tmp, tempfile.TemporaryDirectory() as scratch:
        model.config.save_pretrained(scratch)  # what `save_pretrained` writes as config.json
        shutil.copyfile(Path(scratch) / "config.json", tmp)
    for name, value in (json_files or {}).items():
        written.append(write_json(folder / name, value))
    card_data = getattr(model, "card_data", None)
    if card_data is not None and hasattr(card_data, "write_card"):
        written.append(card_data.write_card(model, folder))  # rewritten only when its text changes
    return written
