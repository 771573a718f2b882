# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Batch-size-1 efficiency of the early-exit loop on the CPU: measured speed-up against the work actually skipped.

Loads a trained early-exit model and the stock classifier it was built from (`BertForSequenceClassification`),
tokenizes `--examples` Rotten Tomatoes test sentences (max length 64), and for every threshold reports:

- the layer ratio `num_layers / mean exit layer` (the ideal speed-up when every layer costs the same);
- the token-weighted ratio `sum(tokens x num_layers) / sum(tokens x exit layer)` (a layer's cost grows with the
  sentence's length, and longer sentences tend to leave later);
- the measured speed-up over the same model at threshold 1.0, and its efficiency: speed-up / layer ratio and
  speed-up / token-weighted ratio;
- threshold 1.0 against the stock classifier (how much slower the full early-exit model is);
- the ceiling of that efficiency set by the stock classifier's own per-call cost: the stock model with its encoder
  layers removed is timed too (embeddings, attention mask, pooler, head, output object and Python: `c`), a layer
  costs `L = (stock - c) / num_layers`, and a loop that added nothing to the stock model's per-call work would take
  `c + num_layers x L / ratio`, i.e. reach the efficiency `(c + num_layers x L) / (c + num_layers x L / ratio) /
  ratio` (below 1 whenever `c > 0`, the further the fewer layers run).

Timing: one sentence per forward (`torch.inference_mode`, one thread); the sentences are cut into chunks of 16; in
each of `--repeats` rounds every contender runs every chunk back to back, in a rotating order, and each chunk keeps
its fastest round (the sum over chunks is the contender's time). Times are CPU time of the benchmark's thread by
default (`--clock wall` for wall-clock time): on a shared machine wall time also counts other processes' turns on
the cores. The load average before and after goes to the output, with everything else, as JSON.

    OMP_NUM_THREADS=1 python examples/bench_early_exit_bs1.py --model /work/ee_exp2/variants/rt/seed1/g \
        --stock /work/ee_exp2/variants/rt/seed1/a [--examples 256] [--repeats 5] \
        [--output outputs/results/early_exit_bs1/rt_seed1.json]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shutil
import tempfile
import time

import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from hf_notlike import EarlyExitBertForSequenceClassification
from hf_notlike.artifacts import write_json
from hf_notlike.resources import load_rotten_tomatoes

CHUNK = 16


def clock_function(name: str):
    return time.thread_time if name == "cpu" else time.perf_counter


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="folder of a trained early-exit model (read only)")
    parser.add_argument("--stock", required=True, help="folder of the stock classifier it was built from")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[1.0, 0.99, 0.9, 0.8, 0.75, 0.7])
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--output", default="outputs/results/early_exit_bs1/rt_seed1.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    clock = clock_function(args.clock)

    with tempfile.TemporaryDirectory() as scratch:  # read the given folders only: load from copies
        model_dir, stock_dir = (shutil.copytree(path, os.path.join(scratch, name))
                                for path, name in ((args.model, "model"), (args.stock, "stock")))
        model = EarlyExitBertForSequenceClassification.from_pretrained(model_dir).eval()
        stock = BertForSequenceClassification.from_pretrained(stock_dir).eval()
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    num_layers = model.config.num_hidden_layers
    test = load_rotten_tomatoes()["test"].select(range(args.examples))
    sentences = [
        {key: torch.tensor([values]) for key, values in tokenizer(text, truncation=True, max_length=64).items()}
        for text in test["text"]
    ]
    tokens = torch.tensor([float(inputs["input_ids"].shape[1]) for inputs in sentences])

    bare = copy.deepcopy(stock)  # the stock model's per-call cost without its layers
    bare.bert.encoder.layer = torch.nn.ModuleList()
    contenders = {"stock": lambda inputs: stock(**inputs), "stock, no layers": lambda inputs: bare(**inputs)}
    rows = []
    with torch.inference_mode():
        for threshold in args.thresholds:
            layers = torch.cat([model(**inputs, exit_threshold=threshold).exit_layer for inputs in sentences]).double()
            rows.append({
                "threshold": threshold,
                "mean_layers": float(layers.mean()),
                "layer_ratio": num_layers / float(layers.mean()),
                "token_weighted_ratio": float((tokens * num_layers).sum() / (tokens * layers).sum()),
            })
            contenders[f"t={threshold}"] = lambda inputs, t=threshold: model(**inputs, exit_threshold=t)
        chunks = [sentences[i : i + CHUNK] for i in range(0, len(sentences), CHUNK)]
        names = list(contenders)
        for name in names:  # warm-up
            for inputs in chunks[0]:
                contenders[name](inputs)
        best = {name: [float("inf")] * len(chunks) for name in names}
        for round_ in range(args.repeats):
            for j, chunk in enumerate(chunks):
                shift = (round_ + j) % len(names)
                for name in names[shift:] + names[:shift]:
                    forward = contenders[name]
                    start = clock()
                    for inputs in chunk:
                        forward(inputs)
                    best[name][j] = min(best[name][j], clock() - start)
    seconds = {name: sum(times) for name, times in best.items()}
    full = seconds[f"t={args.thresholds[0]}"] if args.thresholds[0] == 1.0 else None
    for row in rows:
        time_s = seconds[f"t={row['threshold']}"]
        row["ms_per_sentence"] = 1000 * time_s / len(sentences)
        if full is not None:
            row["speedup"] = full / time_s
            row["efficiency"] = row["speedup"] / row["layer_ratio"]
            row["efficiency_token_weighted"] = row["speedup"] / row["token_weighted_ratio"]
        row["vs_stock"] = seconds["stock"] / time_s
        fixed, work = seconds["stock, no layers"], seconds["stock"] - seconds["stock, no layers"]
        for ratio_name, key in (("layer_ratio", "efficiency_ceiling"),
                                ("token_weighted_ratio", "efficiency_ceiling_token_weighted")):
            ratio = row[ratio_name]
            row[key] = (fixed + work) / (fixed + work / ratio) / ratio
    load_after = os.getloadavg()
    result = {
        "model": args.model, "stock": args.stock, "examples": len(sentences), "repeats": args.repeats,
        "clock": args.clock, "mean_tokens": float(tokens.mean()),
        "stock_ms_per_sentence": 1000 * seconds["stock"] / len(sentences),
        "stock_without_layers_ms_per_sentence": 1000 * seconds["stock, no layers"] / len(sentences), "rows": rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch_threads": 1, "torch": torch.__version__,
        "load_average_before": load_before, "load_average_after": load_after,
    }
    write_json(args.output, result)

    print(f"{len(sentences)} Rotten Tomatoes test sentences ({float(tokens.mean()):.1f} tokens on average), batch "
          f"size 1, best of {args.repeats} interleaved rounds ({args.clock} time), 1 torch thread; stock "
          f"`BertForSequenceClassification`: {result['stock_ms_per_sentence']:.2f} ms per sentence, of which "
          f"{result['stock_without_layers_ms_per_sentence']:.2f} ms outside its layers.\n")
    print("| threshold | mean layers | layer ratio | token-weighted ratio | ms / sentence | measured speed-up | "
          "efficiency (/ layer ratio) | its ceiling | efficiency (/ token-weighted) | its ceiling | time vs stock |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['threshold']:g} | {row['mean_layers']:.2f} | {row['layer_ratio']:.2f} | "
              f"{row['token_weighted_ratio']:.2f} | {row['ms_per_sentence']:.2f} | {row.get('speedup', 0):.2f} | "
              f"{row.get('efficiency', 0):.3f} | {row['efficiency_ceiling']:.3f} | "
              f"{row.get('efficiency_token_weighted', 0):.3f} | {row['efficiency_ceiling_token_weighted']:.3f} | "
              f"{1 / row['vs_stock']:.3f} |")
    print(f"\nload average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
          f"{', '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
