# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The `hf-notlike` command line.

Each part of the library adds its own sub-commands from a `commands.py` module exposing
`register_commands(subparsers)`; a command is a function stored as the parser's `func` default, called with the
parsed arguments, returning an exit code.

```bash
hf-notlike demo                      # the quick-start demo
hf-notlike early-exit --help
hf-notlike datamap --help
```
"""

import argparse
import importlib
import sys

# one module per part of the library, each with `register_commands(subparsers)`
COMMAND_MODULES = [
    "hf_notlike.demo",
    "hf_notlike.early_exit.commands",
    "hf_notlike.cartography.commands",
    "hf_notlike.masking.commands",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-notlike",
        description="Not all textual instances are alike: early exit, dataset cartography and V&L masking.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {importlib.import_module('hf_notlike').__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        importlib.import_module(module).register_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
