# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`torch.compile` of the early-exit model on the CPU: whole model vs per layer, against eager, on Rotten Tomatoes.

Contenders, timed interleaved in one run on one torch thread (ratios to (a) eager):

- (a) the plain fine-tuned MiniLM-L6 `BertForSequenceClassification`, eager, and (a) compiled whole
  (`torch.compile(model, dynamic=True)`);
- (c) the early-exit model at its validation-chosen threshold, eager;
- (c) with each encoder layer compiled (`layer.compile(dynamic=True)`), the exit loop itself left eager;
- (c) compiled whole (`torch.compile(model, dynamic=True)`): the exit loop's data-dependent branches (`done.any()`),
  the shrinking batch and the trimmed sequence are what dynamo has to trace through (graph breaks, guards).

For each compiled contender: the compile time (first calls until every input shape seen has run once, wall clock),
the graph breaks dynamo counted, whether its predictions and exit layers equal eager's on the timing rows and the
largest logit difference. One JSON per seed under `--output-dir` (finished seeds skipped).

```bash
OMP_NUM_THREADS=1 nice python examples/bench_compile.py --seeds 1
```
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hf_notlike  # noqa: F401  (registers the early-exit Auto classes)
from hf_notlike.artifacts import write_json, write_text
from hf_notlike.early_exit.tradeoff import _device_batches, _time_interleaved
from hf_notlike.resources import load_rotten_tomatoes

logger = logging.getLogger("bench_compile")
REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", default="/work/ee_exp2/variants/rt")
    parser.add_argument("--anchor-results", default=str(REPO_ROOT / "outputs/results/early_exit_anchor2/rt"))
    parser.add_argument("--output-dir", default=str(REPO_ROOT / "outputs/results/early_exit_compile"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--timing-examples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args(argv)


def outputs_of(model, batches, threshold=None):
    kwargs = {} if threshold is None else {"exit_threshold": threshold}
    with torch.inference_mode():
        outs = [model(**inputs, **kwargs) for inputs in batches]
    logits = torch.cat([o.logits for o in outs])
    layers = torch.cat([o.exit_layer for o in outs]) if getattr(outs[0], "exit_layer", None) is not None else None
    return logits, layers


def run_seed(seed: int, subset, args) -> dict:
    import torch._dynamo

    folder = Path(args.models_dir) / f"seed{seed}"
    anchor = json.loads((Path(args.anchor_results) / f"g_seed{seed}.json").read_text())

    def load(name):
        model = AutoModelForSequenceClassification.from_pretrained(folder / name).eval()
        if name == "g":
            model.config.temperatures = anchor["temperatures"]
            model.config.exit_threshold = anchor["chosen_threshold"]
        return model

    a, g = load("a"), load("g")
    a_whole = torch.compile(load("a"), dynamic=True)
    g_layers = load("g")
    for layer in g_layers.adapter.layers(g_layers.backbone):
        layer.compile(dynamic=True)
    # compiled whole, traced on its first call (no eager call needed: the config check reads no buffer while tracing)
    g_whole = torch.compile(load("g"), dynamic=True)
    record = {"seed": seed, "threshold": anchor["chosen_threshold"], "rows": []}
    eager_of = {}

    def measure(contenders, size, partial_path):
        batches = _device_batches(subset, size, a)
        if size not in eager_of:
            eager_of[size] = {id(model): outputs_of(model, batches) for model in (a, g)}
        eager = eager_of[size]
        for name, model, reference in contenders:
            if model is reference:
                continue
            torch._dynamo.utils.counters.clear()
            start = time.perf_counter()
            logits, layers = outputs_of(model, batches)  # first pass over every shape: compiles
            first_pass = time.perf_counter() - start
            start = time.perf_counter()
            outputs_of(model, batches)
            second_pass = time.perf_counter() - start
            ref_logits, ref_layers = eager[id(reference)]
            breaks = sum(torch._dynamo.utils.counters["graph_break"].values())
            record["rows"].append({
                "name": name, "batch_size": size, "compile_seconds": first_pass - second_pass,
                "first_pass_seconds": first_pass, "graph_breaks": breaks,
                "unique_graphs": torch._dynamo.utils.counters["stats"].get("unique_graphs"),
                "same_predictions": bool(torch.equal(logits.argmax(-1), ref_logits.argmax(-1))),
                "same_exit_layers": None if layers is None else bool(torch.equal(layers, ref_layers)),
                "max_abs_logit_difference": float((logits - ref_logits).abs().max()),
            })
            logger.info("seed %d bs %d %s: %s", seed, size, name, record["rows"][-1])
        load_before = os.getloadavg()
        with torch.inference_mode():
            seconds = _time_interleaved([({}, lambda x, m=model: m(**x)) for _, model, _ in contenders], batches,
                                        args.repeats, f"bs {size}", False)
        names = [name for name, _, _ in contenders]
        own = {name: seconds[names.index("(a) eager" if "(a)" in name else "(c) eager")] for name in names}
        timing = record.setdefault(f"timing_bs{size}", {})
        for name, s in zip(names, seconds):
            entry = {"ms_per_example": 1000 * s / len(subset), "speedup_vs_a_eager": seconds[0] / s,
                     "speedup_vs_own_eager": own[name] / s}
            if name in timing:  # measured again with another group: keep the first, record this one beside it
                timing[f"{name} (again, with {names[-1]})"] = entry
            else:
                timing[name] = entry
        record.setdefault(f"load_average_bs{size}", []).append({"before": load_before, "after": os.getloadavg(),
                                                               "group": names})
        logger.info("seed %d bs %d: %s", seed, size, timing)
        write_json(partial_path, record)

    partial = Path(args.output_dir) / f"seed{seed}.partial.json"
    # group 1: the plain model compiled whole, the early-exit model compiled layer by layer
    a_whole = torch.compile(load("a"), dynamic=True)
    g_layers = load("g")
    for layer in g_layers.adapter.layers(g_layers.backbone):
        layer.compile(dynamic=True)
    for size in args.batch_sizes:
        measure([("(a) eager", a, a), ("(a) compiled whole", a_whole, a), ("(c) eager", g, g),
                 ("(c) layers compiled", g_layers, g)], size, partial)
    # group 2: the early-exit model compiled whole (the exit loop traced by dynamo)
    # compiled whole, traced on its first call (no eager call needed: the config check reads no buffer while tracing)
    g_whole = torch.compile(load("g"), dynamic=True)
    for size in args.batch_sizes:
        measure([("(a) eager", a, a), ("(c) eager", g, g), ("(c) compiled whole", g_whole, g)], size, partial)
    return record


def table(records: list[dict], batch_sizes: list[int]) -> str:
    lines = ["| seed | contender | " + " | ".join(f"ms/example bs {s} | vs (a) eager bs {s} | vs own eager bs {s}"
                                                 for s in batch_sizes) + " |",
             "|---|---|" + "---|---|---|" * len(batch_sizes)]
    for record in records:
        for name in record[f"timing_bs{batch_sizes[0]}"]:
            cells = []
            for size in batch_sizes:
                t = record[f"timing_bs{size}"].get(name)
                if t is None:
                    cells.append("– | – | –")
                    continue
                cells.append(f"{t['ms_per_example']:.2f} | {t['speedup_vs_a_eager']:.2f}x | {t['speedup_vs_own_eager']:.2f}x")
            lines.append(f"| {record['seed']} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "| seed | contender | batch size | compile s | graph breaks | same predictions | same exit layers | "
              "max abs logit diff |", "|---|---|---|---|---|---|---|---|"]
    for record in records:
        for row in record["rows"]:
            lines.append(f"| {record['seed']} | {row['name']} | {row['batch_size']} | {row['compile_seconds']:.1f} | "
                         f"{row['graph_breaks']} | {row['same_predictions']} | {row['same_exit_layers']} | "
                         f"{row['max_abs_logit_difference']:.2g} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(Path(args.models_dir) / f"seed{args.seeds[0]}" / "a")
    test = load_rotten_tomatoes()["test"]
    test = test.select(range(args.timing_examples)).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=64), batched=True,
        remove_columns=["text", "label"])
    records = []
    for seed in args.seeds:
        path = out / f"seed{seed}.json"
        if path.is_file():
            records.append(json.loads(path.read_text()))
            continue
        start = time.perf_counter()
        record = run_seed(seed, test, args)
        record.update(seconds=time.perf_counter() - start, torch=torch.__version__, torch_threads=1,
                      timing_examples=args.timing_examples, repeats=args.repeats,
                      command="python examples/bench_compile.py " + " ".join(
                          argv if argv is not None else __import__("sys").argv[1:]))
        write_json(path, record)
        records.append(record)
    text = table(records, args.batch_sizes)
    loads = [group["before"][0] for rec in records for s in args.batch_sizes for group in rec[f"load_average_bs{s}"]]
    text += (f"\n\nRotten Tomatoes test, first {args.timing_examples} rows, one torch thread, interleaved; 1-minute "
             f"load average while timing {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores.")
    write_text(out / "summary.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
