# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The `hf-notlike` command line.

Each part of the library declares its sub-commands in the `COMMANDS` list of its own module (a
[`~hf_notlike.cli_utils.Command`] is an options dataclass and a function); the parser of each is generated from the
dataclass with `HfArgumentParser`, so every option has one default and one help text (see `hf_notlike.cli_utils`).

```bash
hf-notlike demo                      # the quick-start demo
hf-notlike early-exit --help
hf-notlike datamap --help
hf-notlike mask --help
```

Every failure the user can fix (a missing file, a wrong option, unreadable data: a
[`~hf_notlike.errors.HfNotlikeInputError`] or a command-line [`~hf_notlike.cli_utils.UsageError`]) is printed as one
line `hf-notlike <command>: error: <what is wrong>` with exit code 2, before the work starts where it can be checked.
Anything else (a bug, an environment problem) keeps its traceback and exits with code 1, so it can be reported.
Library messages (e.g. a sweep's timing plan) are shown at INFO level unless `HF_NOTLIKE_VERBOSITY` says otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from . import logging
from .cli_utils import Command, CommandGroup, UsageError, build_parser, parse_command
from .errors import HfNotlikeInputError

__all__ = ["COMMAND_MODULES", "main", "commands", "make_parser"]

# one module per part of the library, each with a `COMMANDS` list of `Command` / `CommandGroup`
COMMAND_MODULES = [
    "hf_notlike.demo",
    "hf_notlike.early_exit.commands",
    "hf_notlike.early_exit.add_exits",
    "hf_notlike.cartography.commands",
    "hf_notlike.masking.commands",
]
DESCRIPTION = "Not all textual instances are alike: early exit, dataset cartography and V&L masking."


def commands() -> list[Command | CommandGroup]:
    """Every registered command and group, in the order of `COMMAND_MODULES`."""
    return [item for module in COMMAND_MODULES for item in importlib.import_module(module).COMMANDS]


def make_parser():
    """The `hf-notlike` parser, one sub-parser per registered command."""
    from .version import __version__

    return build_parser("hf-notlike", DESCRIPTION, commands(), __version__)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Runs `hf-notlike` with `argv` (default: `sys.argv[1:]`); returns the exit code (0 done, 2 a usage error).

    Only input errors ([`~hf_notlike.errors.HfNotlikeInputError`], `UsageError`) become a one-line message and exit
    code 2; any other exception propagates with its traceback (the console script then exits with code 1).
    """
    parser = make_parser()
    leaf = parser
    verbosity = logging.get_verbosity()
    if logging.ENV_VARIABLE not in os.environ:
        logging.set_verbosity_info()
    try:
        command, options, leaf = parse_command(parser, argv)
        if command is None:
            leaf.print_help(sys.stderr)
            return 2
        return int(command.run(options) or 0)
    except UsageError as error:
        print(f"{error.prog}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except HfNotlikeInputError as error:
        print(f"{leaf.prog}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    finally:
        logging.set_verbosity(verbosity)


if __name__ == "__main__":
    sys.exit(main())
