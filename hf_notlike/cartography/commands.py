# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike datamap ...`: look at and select from a saved data map.

```bash
hf-notlike datamap show MAP_DIR
hf-notlike datamap plot MAP_DIR [--output data_map.png] [--kind auto|scatter|hexbin] [--epochs K]
hf-notlike datamap select MAP_DIR --region ambiguous --fraction 0.33 [--output ids.json] [--epochs K] [--seed 0]
```

`MAP_DIR` is a folder written by `DataMap.save_pretrained` or a Hub dataset repo id.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .datamap import REGIONS, DataMap

__all__ = ["register_commands"]


def register_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "datamap", help="plot or select from a dataset-cartography data map",
        description="Dataset cartography (Swayamdipta et al., 2020): plot a saved data map or select a region of it.",
    )
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    commands = parser.add_subparsers(dest="datamap_command", metavar="COMMAND")

    show = commands.add_parser("show", help="print a summary of a data map")
    show.add_argument("map_dir", metavar="MAP_DIR", help="folder saved by DataMap.save_pretrained, or a Hub repo id")
    show.set_defaults(func=_show)

    plot = commands.add_parser("plot", help="draw the data map (PNG or PDF)")
    plot.add_argument("map_dir", metavar="MAP_DIR", help="folder saved by DataMap.save_pretrained, or a Hub repo id")
    plot.add_argument("--output", "-o", default=None,
                      help="image file, .png or .pdf (default: MAP_DIR/data_map.png for a folder)")
    plot.add_argument("--kind", choices=("auto", "scatter", "hexbin"), default="auto",
                      help="scatter, hexbin, or auto (hexbin above --max-points examples)")
    plot.add_argument("--max-points", type=int, default=25_000, help="scatter size limit (default 25000)")
    plot.add_argument("--epochs", type=int, default=None, help="use only the first K epochs")
    plot.set_defaults(func=_plot)

    select = commands.add_parser("select", help="print (or write) the ids of a region of the map")
    select.add_argument("map_dir", metavar="MAP_DIR", help="folder saved by DataMap.save_pretrained, or a Hub repo id")
    select.add_argument("--region", required=True, choices=REGIONS, help="region to select")
    select.add_argument("--fraction", type=float, required=True, help="share of the examples, in (0, 1]")
    select.add_argument("--epochs", type=int, default=None, help="use only the first K epochs")
    select.add_argument("--seed", type=int, default=0, help="seed of the random region (default 0)")
    select.add_argument("--output", "-o", default=None,
                        help="write the ids to this file (.json: a list; otherwise one id per line) instead of stdout")
    select.set_defaults(func=_select)


def _load(map_dir: str) -> DataMap:
    return DataMap.from_pretrained(map_dir)


def _show(args: argparse.Namespace) -> int:
    data_map = _load(args.map_dir)
    print(data_map)
    print(data_map.to_pandas().drop(columns="id").describe().to_string())
    return 0


def _plot(args: argparse.Namespace) -> int:
    data_map = _load(args.map_dir)
    output = args.output
    if output is None:
        if not Path(args.map_dir).is_dir():
            raise ValueError("Pass --output for a map loaded from the Hub.")
        output = str(Path(args.map_dir) / "data_map.png")
    data_map.plot(output, kind=args.kind, max_points=args.max_points, epochs=args.epochs)
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _select(args: argparse.Namespace) -> int:
    data_map = _load(args.map_dir)
    ids = data_map.select(args.region, args.fraction, epochs=args.epochs, seed=args.seed).ids.tolist()
    if args.output is None:
        sys.stdout.write("".join(f"{i}\n" for i in ids))
    else:
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(ids) + "\n")
        else:
            path.write_text("".join(f"{i}\n" for i in ids))
    print(f"selected {len(ids)} of {data_map.num_examples} examples ({args.region}, fraction {args.fraction})",
          file=sys.stderr)
    return 0
