# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Collation speed: `DataCollatorForVLMasking` (each strategy) against transformers' stock MLM collators.

All collators get the same rows: Guardian headlines tokenized once by the MiniLM WordPiece tokenizer and tagged once
by `VLMaskingTagger`; each collator gets the columns it reads. Two settings:

- fixed padding (every row padded to `--max-length` by the tagger), against the stock whole-word collator
  `DataCollatorForLanguageModeling(whole_word_mask=True)`, which needs an `offset_mapping` of one length per batch;
- dynamic padding (rows of their own length, each batch padded to its longest row), against the stock token-level
  `DataCollatorForLanguageModeling()`.

In each setting every collator also runs in an unchecked copy (`UncheckedCollator` below: the same collation with
the input checks taken out), so that the last column gives what the checks cost: checked speed / unchecked speed.
An identical copy of the checked `random` collator runs beside them as a control: its speed over the original's
shows how far these ratios move by noise alone.

Timing: the collators take turns (one pass over all batches each, in a rotating order, `--repeats` rounds), and
each keeps, batch by batch, its best time over the passes, so that a change in the machine's load hits them all
alike and a burst of load spoils one batch of one pass only; one torch thread. Speeds are batches per second of
CPU time of the benchmark's thread (on a shared machine, wall time also counts the other processes' turns on the
cores); the speeds of the best whole pass, by CPU and by wall time, are in the JSON too. The load average before and after is
printed with the tables, and everything is written as JSON to `--output`.

    python examples/bench_masking.py [--batch-size 32] [--repeats 20] [--max-length 48] [--headlines N] \
        [--output outputs/results/masking_collator/bench.json]

Prints two markdown tables.
"""

from __future__ import annotations

import argparse
import operator
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
from transformers import AutoTokenizer, DataCollatorForLanguageModeling

from hf_notlike.artifacts import write_json
from hf_notlike.masking import MASKING_STRATEGIES, DataCollatorForVLMasking, VLLexicon
from hf_notlike.masking.collator import _plain_floats, _plain_integers
from hf_notlike.resources import concreteness_path, load_guardian_headlines, minilm_path

STOCK_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")


class UncheckedCollator(DataCollatorForVLMasking):
    """`DataCollatorForVLMasking` with its input checks taken out, to measure what they cost (not for real data):
    the fields are taken from the first row and read in one pass as the checked collator reads them (no field, type
    or key checks), the per-token columns are converted without length, range or vocabulary checks and no visual
    field is checked. The per-token columns are converted by the same calls as in the checked collator
    (`struct.pack`, whose integer format refuses non-integers as part of the conversion; the fastest unchecked
    alternative, `np.fromiter`, is slower). Padding (with the same cache of repeated rows), masking and random draws
    are the same code."""

    def _check_batch(self, features, lists=None):
        keys = list(features[0])  # the columns read in one pass, as the checked collator reads them
        if lists is not None:
            lists.update(zip(keys, zip(*map(operator.itemgetter(*keys), features))))
        return dict.fromkeys(keys, "values")

    @staticmethod
    def _row_lengths(features, key, lists=None):
        values = lists if lists is not None else [feature[key] for feature in features]
        return np.fromiter(map(len, values), dtype=np.int64, count=len(values))

    def _pad_integer_columns(self, features, keys, lengths, positions, fills, lists):
        total = int(lengths.sum())
        sizes = lengths.tolist()
        flat = np.empty((len(keys), total), dtype=np.int64)
        for index, key in enumerate(keys):
            values = lists[key]
            if not self._known_rows(key, values, sizes, flat[index]):
                flat[index] = _plain_integers(values, total)
                self._learn_rows(key, values, flat[index])
        if total == positions.size:  # no padding
            return dict(zip(keys, flat.reshape(len(keys), *positions.shape)))
        padded = np.empty((len(keys), *positions.shape), dtype=np.int64)
        padded[:] = np.array([fills[key] for key in keys], dtype=np.int64)[:, None, None]
        padded[:, positions] = flat
        return dict(zip(keys, padded))

    def _pad_column(self, features, key, length, fill, dtype, lengths, positions, rows=None):
        values = rows if rows is not None else [feature[key] for feature in features]
        flat = (_plain_floats if dtype == np.float32 else _plain_integers)(values, int(lengths.sum()))
        out = np.full(positions.shape, fill, dtype=dtype)
        out[positions] = flat
        return out

    @staticmethod
    def _check_visual_fields(batch, family):
        return None


class IdenticalCopy(DataCollatorForVLMasking):
    """The checked collator unchanged, measured beside it as a control: the two differ only by the noise of the
    measurement (a ratio that far from 1 is not a difference between collators)."""


CONTROL = "random (identical copy)"


def best_passes(collators: dict[str, tuple[Callable, list]], repeats: int) -> dict[str, dict[str, float]]:
    """Batches per second of each collator over its batches, the collators taking turns pass by pass in a rotating
    order, `repeats` passes each: `"cpu"` from each batch's best CPU time of this thread over the passes (summed
    over the batches: a burst of load on the shared machine spoils one batch's time in one pass, not the whole
    pass), `"cpu_best_pass"` and `"wall"` from the best whole pass by CPU and by wall time."""
    names = list(collators)
    per_batch = {name: np.full(len(collators[name][1]), np.inf) for name in names}
    cpu = dict.fromkeys(collators, float("inf"))
    wall = dict.fromkeys(collators, float("inf"))
    clock = time.thread_time_ns
    for round_ in range(repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            collator, batches = collators[name]
            times = per_batch[name]
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            for index, batch in enumerate(batches):
                start = clock()
                collator(batch)
                times[index] = min(times[index], clock() - start)
            cpu[name] = min(cpu[name], time.thread_time() - start_cpu)
            wall[name] = min(wall[name], time.perf_counter() - start_wall)
    per_batch_seconds = {name: float(per_batch[name].sum()) / 1e9 for name in names}
    return {
        clock: {name: len(collators[name][1]) / seconds[name] for name in names}
        for clock, seconds in (("cpu", per_batch_seconds), ("cpu_best_pass", cpu), ("wall", wall))
    }


def split(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--output", default="outputs/results/masking_collator/bench.json")
    parser.add_argument("--headlines", type=int, default=None, help="Use only the first N headlines (default: all).")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    lexicon = VLLexicon(concreteness=concreteness_path())
    ours = {strategy: DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=0, lexicon=lexicon)
            for strategy in MASKING_STRATEGIES}
    unchecked = {strategy: UncheckedCollator(tokenizer, strategy=strategy, seed=0, lexicon=lexicon)
                 for strategy in MASKING_STRATEGIES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stock collator warns that whole-word masking forces [MASK]-only
        whole_word = DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, seed=0)
    token_level = DataCollatorForLanguageModeling(tokenizer, seed=0)
    control = IdenticalCopy(tokenizer, strategy="random", seed=0, lexicon=lexicon)
    headlines = load_guardian_headlines()
    if args.headlines is not None:
        headlines = headlines.select(range(min(args.headlines, len(headlines))))
    tagger = ours["top_concrete"].tagger

    results = {}
    fixed = tagger(max_length=args.max_length, padding="max_length", return_offsets_mapping=True)
    dynamic = tagger(max_length=args.max_length)
    for setting, row_tagger, stock_name, stock in (
        ("fixed", fixed, "DataCollatorForLanguageModeling(whole_word_mask=True)", whole_word),
        ("dynamic", dynamic, "DataCollatorForLanguageModeling()", token_level),
    ):
        rows = headlines.map(row_tagger, batched=True, remove_columns=["text"], desc="tagging").to_list()
        tagged = split([{key: value for key, value in row.items() if key != "offset_mapping"} for row in rows],
                       args.batch_size)
        stock_columns = STOCK_COLUMNS if setting == "fixed" else STOCK_COLUMNS[:-1]
        plain = split([{key: row[key] for key in stock_columns if key in row} for row in rows], args.batch_size)
        collators = {stock_name: (stock, plain)}
        if setting == "fixed":
            collators["DataCollatorForLanguageModeling()"] = (token_level, split(
                [{key: row[key] for key in STOCK_COLUMNS[:-1] if key in row} for row in rows], args.batch_size))
        for strategy in MASKING_STRATEGIES:
            collators[strategy] = (ours[strategy], tagged)
            collators[f"{strategy} (unchecked)"] = (unchecked[strategy], tagged)
        collators[CONTROL] = (control, tagged)
        speeds = best_passes(collators, args.repeats)
        results[setting] = {"reference": stock_name, "rows": len(rows), "batches": len(tagged),
                            "speeds": speeds["cpu"], "speeds_cpu_best_pass": speeds["cpu_best_pass"],
                            "speeds_wall_clock": speeds["wall"]}

    load_after = os.getloadavg()
    results["setup"] = {
        "batch_size": args.batch_size, "max_length": args.max_length, "repeats": args.repeats, "torch_threads": 1,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.processor() or platform.platform()}",
        "load_average_before": load_before, "load_average_after": load_after,
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
    }
    write_json(args.output, results)

    for setting, title in (("fixed", "padded to a fixed length"), ("dynamic", "each batch padded to its longest row")):
        result = results[setting]
        speeds, reference = result["speeds"], result["reference"]
        print(f"\n{result['rows']} Guardian headlines, {result['batches']} batches of {args.batch_size}, {title} "
              f"(at most {args.max_length} tokens); each batch's best of {args.repeats} interleaved passes (CPU time), "
              "1 torch thread.\n")
        print(f"| collator | batches/s | ratio to stock `{reference}` | checked / unchecked |")
        print("|---|---:|---:|---:|")
        base = speeds[reference]
        for name in [name for name in speeds if not name.startswith(tuple(MASKING_STRATEGIES))]:
            print(f"| `{name}` | {speeds[name]:.1f} | {speeds[name] / base:.2f}x | |")
        for strategy in MASKING_STRATEGIES:
            speed = speeds[strategy]
            print(f"| `DataCollatorForVLMasking(strategy=\"{strategy}\")` | {speed:.1f} | {speed / base:.2f}x | "
                  f"{speed / speeds[f'{strategy} (unchecked)']:.2f} |")
        print(f"\nControl: an identical copy of the checked `random` collator, measured in the same run, ran at "
              f"{speeds[CONTROL] / speeds['random']:.2f}x its speed (the noise of these ratios).")
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
          f"{', '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
