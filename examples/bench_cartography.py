# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Benchmark of dataset cartography: what the callback costs a stock `Trainer`, and how fast a big map is.

1. Training wall time of a stock `transformers.Trainer` without and with `CartographyCallback` (default mode, and
   the opt-in re-scoring mode), same model, data and seed. Runs are interleaved (the order alternates every repeat)
   and each with-callback run is compared with the stock run next to it; the table gives medians, for wall time
   and for the process CPU time (less sensitive to other jobs on a shared machine). Target: at most 3% overhead in
   the default mode.
   On a shared machine two identical runs differ by more than 3%, so each with-callback run also counts the time
   spent in the callback's own code (its Trainer events, forward hooks, and the id wrapping of the dataset and
   collator, minus the user's collator and dataset that run inside them), with `time.perf_counter` around each call:
   that share of the run's wall time is the callback's direct cost, and it does not depend on what else runs.
2. Time and peak memory (tracemalloc, which sees numpy buffers) to build a `DataMap` of 1,000,000 examples x 5
   epochs and compute confidence, variability, correctness and forgetfulness, and to select a region; plus the
   callback's end-of-epoch merge (duplicate removal) of 1,000,000 records. Target: under 1 s.

```bash
python examples/bench_cartography.py                 # prints the tables
python examples/bench_cartography.py --repeats 7 --layers 4 --hidden 256
```
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
import tracemalloc

import numpy as np
import torch


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="stock/callback pairs per mode")
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--map-examples", type=int, default=1_000_000)
    parser.add_argument("--map-epochs", type=int, default=5)
    parser.add_argument("--skip-rescore", action="store_true", help="do not time the re-scoring mode")
    parser.add_argument("--skip-training", action="store_true", help="only the DataMap part")
    return parser.parse_args()


def make_data(args):
    import datasets

    rng = np.random.default_rng(0)
    ids = rng.integers(5, 30_000, size=(args.examples, args.seq_len))
    return datasets.Dataset.from_dict(
        {
            "input_ids": ids.tolist(),
            "attention_mask": np.ones_like(ids).tolist(),
            "label": (ids[:, 1] % 2).tolist(),
            "text": ["x"] * args.examples,  # a column `remove_unused_columns` drops, as in real data
        }
    )


def train_once(args, dataset, callback) -> float:
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    config = BertConfig(hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=4,
                        intermediate_size=4 * args.hidden, max_position_embeddings=args.seq_len, num_labels=2)
    model = BertForSequenceClassification(config)
    with tempfile.TemporaryDirectory() as tmp:
        training_args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128,
            num_train_epochs=args.epochs, learning_rate=1e-4, save_strategy="no", logging_strategy="no",
            report_to=[], disable_tqdm=True, use_cpu=not torch.cuda.is_available(), seed=0,
        )
        trainer = Trainer(model=model, args=training_args, train_dataset=dataset,
                          callbacks=[callback] if callback is not None else None)
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer.train()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        if callback is not None:  # its record shards live under the temporary output_dir
            assert callback.data_map().num_examples == len(dataset)
    return seconds, cpu_seconds


def bench_training(args) -> list[dict]:
    from hf_notlike.cartography import CartographyCallback

    dataset = make_data(args)
    train_once(args, dataset, None)  # warm-up (allocator, kernels, first-call imports)
    modes = ["training"] + ([] if args.skip_rescore else ["rescore"])
    rows = []
    for mode in modes:
        stock, with_cb, ratios, cpu_ratios, own_shares = [], [], [], [], []
        for repeat in range(args.repeats):
            pair = {}
            order = ("stock", "callback") if repeat % 2 == 0 else ("callback", "stock")
            for variant in order:
                if variant == "callback":
                    # profile=True: the callback times its own code (public `profile_stats`)
                    callback = CartographyCallback(mode=mode, profile=True)
                pair[variant] = train_once(args, dataset, callback if variant == "callback" else None)
            own = callback.profile_stats
            steps = -(-args.examples // args.batch_size) * args.epochs
            if mode == "training" and own["calls"] < 3 * steps:  # two forward hooks and one collator call per step
                raise RuntimeError(f"only {own['calls']} calls of the callback's code were timed for {steps} steps")
            own_shares.append(own["seconds"] / pair["callback"][0])
            stock.append(pair["stock"][0])
            with_cb.append(pair["callback"][0])
            ratios.append(pair["callback"][0] / pair["stock"][0])
            cpu_ratios.append(pair["callback"][1] / pair["stock"][1])
            print(f"  {mode} repeat {repeat}: stock {pair['stock'][0]:.2f} s (cpu {pair['stock'][1]:.2f} s), "
                  f"callback {pair['callback'][0]:.2f} s (cpu {pair['callback'][1]:.2f} s), of which "
                  f"{own['seconds'] * 1000:.1f} ms in {own['calls']} calls of the callback's own code")
        rows.append(
            {
                "mode": mode,
                "stock Trainer, wall (s)": statistics.median(stock),
                "with callback, wall (s)": statistics.median(with_cb),
                "wall overhead (median of pairs)": statistics.median(ratios) - 1,
                "wall overhead (min / max)": (min(ratios) - 1, max(ratios) - 1),
                "CPU-time overhead (median of pairs)": statistics.median(cpu_ratios) - 1,
                "time in the callback's code (max)": max(own_shares),
            }
        )
    return rows


def bench_map(args) -> list[dict]:
    from hf_notlike.cartography import DataMap
    from hf_notlike.cartography.callback import merge_epoch_records

    n, e = args.map_examples, args.map_epochs
    rng = np.random.default_rng(0)
    gold = rng.random((n, e), dtype=np.float32)
    correct = gold > 0.5
    rows = []

    def measure(name, fn):
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        result = fn()
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        # a second run under tracemalloc (which slows numpy down) for the peak memory
        gc.collect()
        tracemalloc.start()
        fn()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append({"operation": name, "wall seconds": seconds, "CPU seconds": cpu_seconds,
                     "peak memory (MiB)": peak / 2**20})
        return result

    def build():
        dm = DataMap(gold, correct)
        dm.confidence, dm.variability, dm.correctness, dm.forgetfulness  # noqa: B018
        return dm

    dm = measure(f"DataMap({n:,} x {e}) + 4 statistics", build)
    measure("select('ambiguous', 0.33)", lambda: dm.select("ambiguous", 0.33))
    measure("select('random', 0.33)", lambda: dm.select("random", 0.33))

    # one epoch of records as two processes would send them: shuffled, plus 1% padding duplicates
    order = rng.permutation(n)
    dup = order[: n // 100]
    records = {
        "ids": np.concatenate([order, dup]).astype(np.int64),
        "probs": rng.random(n + len(dup), dtype=np.float32),
        "correct": rng.random(n + len(dup)) > 0.5,
        "margins": rng.normal(size=n + len(dup)).astype(np.float32),
        "labels": rng.integers(0, 2, size=n + len(dup)),
        "steps": np.concatenate([np.arange(n) // 64, np.full(len(dup), n // 64)]).astype(np.int64),
        "ranks": (np.arange(n + len(dup)) % 2).astype(np.int64),
    }
    measure(f"callback epoch merge ({n + len(dup):,} records, 1% duplicates)", lambda: merge_epoch_records(records, n))
    rows.append({"operation": "total (map + statistics + ambiguous selection)",
                 "wall seconds": rows[0]["wall seconds"] + rows[1]["wall seconds"],
                 "CPU seconds": rows[0]["CPU seconds"] + rows[1]["CPU seconds"],
                 "peak memory (MiB)": max(rows[0]["peak memory (MiB)"], rows[1]["peak memory (MiB)"])})
    return rows


def table(rows: list[dict], formats: dict[str, str]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for c in columns:
            value = row[c]
            fmt = formats.get(c)
            if isinstance(value, tuple):
                cells.append(" / ".join(format(v, fmt) for v in value))
            else:
                cells.append(format(value, fmt) if fmt else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    device = "cuda" if torch.cuda.is_available() else f"cpu ({args.threads} threads)"
    print(f"device: {device}; torch {torch.__version__}")
    map_rows = bench_map(args)
    print(f"\n## DataMap of {args.map_examples:,} examples x {args.map_epochs} epochs (target: < 1 s)\n")
    print(table(map_rows, {"wall seconds": ".3f", "CPU seconds": ".3f", "peak memory (MiB)": ".1f"}))
    if args.skip_training:
        return
    print("\n## Training wall time, stock Trainer vs + CartographyCallback (target: <= 3% in the default mode)")
    print(f"BERT {args.layers} layers x {args.hidden} hidden, {args.examples} examples x {args.seq_len} tokens, "
          f"batch {args.batch_size}, {args.epochs} epochs, {args.repeats} interleaved pairs per mode\n")
    train_rows = bench_training(args)
    print()
    print(table(train_rows, {"stock Trainer, wall (s)": ".2f", "with callback, wall (s)": ".2f",
                             "wall overhead (median of pairs)": "+.1%", "wall overhead (min / max)": "+.1%",
                             "CPU-time overhead (median of pairs)": "+.1%",
                             "time in the callback's code (max)": ".2%"}))


if __name__ == "__main__":
    main()
