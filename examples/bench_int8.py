# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Early exit stacked with int8 dynamic quantization on the CPU: speed and accuracy on Rotten Tomatoes.

For each seed, four models are measured side by side, on one torch thread:

- (a) the plain fine-tuned MiniLM-L6 `BertForSequenceClassification`, float32 (the reference);
- (b) (a) quantized with `hf_notlike.quantize_dynamic_int8`;
- (c) the early-exit model trained from (a) (variant g of `examples/train_early_exit.py`), float32, with the
  temperatures and the threshold chosen on validation by that protocol (fastest within `--max-drop` points of (a)'s
  validation accuracy);
- (d) (c) quantized, exit rule unchanged (same exits, temperatures and threshold); and (d*) the same quantized model
  at the threshold chosen again on the *validation* split for the quantized model (same rule), when it differs;
- two other int8 configurations tried for (b): every linear layer quantized per tensor (plain
  `torch.ao.quantization.quantize_dynamic`), and torchao's eager `Int8DynamicActivationInt8WeightConfig` on the
  same layers as (b).

Accuracy: every model runs the full RT test split at batch sizes 1 and 32 with the real forward (the early-exit loop
for (c)/(d); with int8, activations are quantized per batch, so a row's result can depend on its batch). Speed: the
first `--timing-examples` test rows, all contenders interleaved in one run (`_time_interleaved` of the trade-off
module), each chunk keeping its fastest of `--repeats` rounds; speed-ups are ratios to (a). Calibration: per-exit ECE
on test of (c) and of (d) with (c)'s temperatures and with temperatures refitted on validation for (d).

One JSON per seed under `--output-dir` (finished seeds are skipped, so a run resumes), then a summary table
(`summary.md`, `summary.json`).

```bash
OMP_NUM_THREADS=1 nice python examples/bench_int8.py                  # 3 seeds, batch sizes 1 and 32
OMP_NUM_THREADS=1 nice python examples/bench_int8.py --seeds 1 --timing-examples 64 --repeats 1   # smoke run
```
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import time
import warnings
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import hf_notlike  # noqa: F401  (registers the early-exit Auto classes)
from hf_notlike.artifacts import write_json, write_text
from hf_notlike.early_exit.calibration import (
    calibrate_from_logits,
    collect_exit_logits,
    expected_calibration_error,
    iterate_batches,
)
from hf_notlike.early_exit.quantization import DEFAULT_KEEP_FLOAT, quantize_dynamic_int8
from hf_notlike.early_exit.tradeoff import _device_batches, _time_interleaved, curve_from_logits
from hf_notlike.resources import load_rotten_tomatoes

logger = logging.getLogger("bench_int8")
REPO_ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = [0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0]
MAX_LENGTH = 64


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", default="/work/ee_exp2/variants/rt",
                        help="folder with seed<k>/a (plain classifier) and seed<k>/g (early-exit model)")
    parser.add_argument("--anchor-results", default=str(REPO_ROOT / "outputs/results/early_exit_anchor2/rt"),
                        help="g_seed<k>.json of the training protocol: temperatures and the validation threshold")
    parser.add_argument("--output-dir", default=str(REPO_ROOT / "outputs/results/early_exit_int8"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--timing-examples", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-drop", type=float, default=1.0, help="points of (a)'s validation accuracy")
    parser.add_argument("--no-extra", action="store_true", help="skip the other int8 configurations")
    parser.add_argument("--curve-thresholds", type=float, nargs="*", default=[0.65, 0.7, 0.8, 0.9],
                        help="more thresholds of (d) to time (accuracy from the all-exits curve)")
    parser.add_argument("--max-rows", type=int, default=None, help="cut validation and test (smoke runs only)")
    return parser.parse_args(argv)


def quietly_quantize(model, **kwargs):
    # torch.ao.quantization's deprecation notices are documented in quantize_dynamic_int8; one line here is enough
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quantized = quantize_dynamic_int8(model, **kwargs)
    for message in sorted({str(w.message).split("\n")[0] for w in caught}):
        logger.info("warning while quantizing: %s", message[:160])
    return quantized


def torchao_int8(model):
    """torchao's eager int8 dynamic-activation / int8-weight quantization of the same layers as (b)."""
    import copy

    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    patterns = [re.compile(p) for p in DEFAULT_KEEP_FLOAT]
    model = copy.deepcopy(model)
    quantize_(model, Int8DynamicActivationInt8WeightConfig(),
              filter_fn=lambda module, name: isinstance(module, torch.nn.Linear)
              and not any(p.search(name) for p in patterns))
    return model.eval()


def loop_accuracy(model, dataset, batch_size: int) -> dict:
    """Accuracy (and mean exit layer, for early-exit models) of the real forward at `batch_size`, in dataset order."""
    labels = torch.tensor(dataset["label"])
    correct, layers = 0, []
    with torch.inference_mode():
        for indices, inputs in iterate_batches(dataset, batch_size, 0, sort_by_length=False):
            out = model(**inputs)
            correct += int((out.logits.argmax(-1) == labels[indices]).sum())
            if getattr(out, "exit_layer", None) is not None:
                layers.append(out.exit_layer)
    result = {"accuracy": correct / len(labels)}
    if layers:
        result["mean_layers"] = float(torch.cat(layers).double().mean())
    return result


def fastest_within(rows: list[dict], reference_accuracy: float, max_drop_points: float) -> dict | None:
    ok = [r for r in rows if r["accuracy"] >= reference_accuracy - max_drop_points / 100 - 1e-12]
    return min(ok, key=lambda r: (r["mean_layers"], -r["threshold"])) if ok else None


def ece_per_exit(logits: torch.Tensor, labels: torch.Tensor, temperatures) -> list[float]:
    return [expected_calibration_error(logits[:, k] / t, labels) for k, t in enumerate(temperatures)]


def run_seed(seed: int, splits, args) -> dict:
    folder = Path(args.models_dir) / f"seed{seed}"
    anchor = json.loads((Path(args.anchor_results) / f"g_seed{seed}.json").read_text())
    a = AutoModelForSequenceClassification.from_pretrained(folder / "a").eval()
    g = AutoModelForSequenceClassification.from_pretrained(folder / "g").eval()
    g.config.temperatures = anchor["temperatures"]  # fitted on validation by the training protocol
    g.config.exit_threshold = anchor["chosen_threshold"]
    t0 = time.perf_counter()
    b = quietly_quantize(a)
    d = quietly_quantize(g)
    quantize_s = (time.perf_counter() - t0) / 2
    val, test = splits["validation"], splits["test"]
    record = {"seed": seed, "quantize_seconds_per_model": quantize_s, "threshold_c": anchor["chosen_threshold"],
              "temperatures_c": anchor["temperatures"]}

    # validation: (a)'s accuracy is the reference of every threshold choice
    a_val = loop_accuracy(a, val, 32)["accuracy"]
    record["a_validation_accuracy"] = a_val
    logits = {}
    for name, model in (("c", g), ("d", d)):
        logits[name] = {split: collect_exit_logits(model, data, show_progress=False)
                        for split, data in (("validation", val), ("test", test))}
    layers, temps = g.config.exit_layers, g.config.temperatures
    curves = {name: {split: curve_from_logits(*logits[name][split], layers, temps, THRESHOLDS)
                     for split in ("validation", "test")} for name in ("c", "d")}
    record["curves"] = curves
    chosen_d = fastest_within(curves["d"]["validation"], a_val, args.max_drop)
    record["threshold_d_star"] = chosen_d["threshold"] if chosen_d else 1.0
    # calibration of the quantized exits
    recal = calibrate_from_logits(*logits["d"]["validation"], layers)
    record["temperatures_d_refit"] = recal.temperatures
    test_labels = logits["c"]["test"][1]
    record["ece_test"] = {
        "c": ece_per_exit(logits["c"]["test"][0], test_labels, temps),
        "d_with_c_temperatures": ece_per_exit(logits["d"]["test"][0], test_labels, temps),
        "d_refit": ece_per_exit(logits["d"]["test"][0], test_labels, recal.temperatures),
    }
    refit_val = curve_from_logits(*logits["d"]["validation"], layers, recal.temperatures, THRESHOLDS)
    refit_test = curve_from_logits(*logits["d"]["test"], layers, recal.temperatures, THRESHOLDS)
    chosen_refit = fastest_within(refit_val, a_val, args.max_drop)
    record["refit"] = {"threshold": chosen_refit["threshold"] if chosen_refit else 1.0,
                       "test_row": next(r for r in refit_test if r["threshold"] == (chosen_refit or {"threshold": 1.0})
                                        ["threshold"]),
                       "validation_curve": refit_val, "test_curve": refit_test}

    contenders = [("(a) float", a, None), ("(b) int8", b, None), ("(c) early exit", g, None),
                  ("(d) early exit + int8", d, None)]
    if record["threshold_d_star"] != g.config.exit_threshold:
        contenders.append(("(d*) early exit + int8, threshold for int8", d, record["threshold_d_star"]))
    if not args.no_extra:
        contenders.append(("(b') int8, all linears per tensor", quietly_quantize(a, keep_float=(), per_channel=False),
                           None))
        try:
            contenders.append(("(b'') torchao int8", torchao_int8(a), None))
        except ImportError as error:
            logger.info("torchao not installed (%s): skipped", error)

    # the wall-clock curve of (d): more thresholds, timed only (their accuracy is read off the test curve)
    curve_rows = []
    for threshold in args.curve_thresholds:
        if threshold in (g.config.exit_threshold, record["threshold_d_star"]):
            continue
        point = next(r for r in curves["d"]["test"] if r["threshold"] == threshold)
        curve_rows.append({"name": f"(d) at {threshold:g} (curve)", "threshold": threshold,
                           "test_accuracy_curve": point["accuracy"], "test_mean_layers_curve": point["mean_layers"]})
        contenders.append((curve_rows[-1]["name"], d, threshold))

    def forward_of(model, threshold):
        if threshold is None:
            return lambda inputs: model(**inputs)
        return lambda inputs: model(**inputs, exit_threshold=threshold)

    rows = []
    for name, model, threshold in contenders:
        if name.endswith("(curve)"):
            continue
        row = {"name": name, "threshold": threshold if threshold is not None
               else getattr(model.config, "exit_threshold", None) if hasattr(model, "exits") else None}
        batch_dependent = "int8" in name and "torchao" not in name
        for size in sorted(args.batch_sizes, reverse=True):
            if size != max(args.batch_sizes) and not batch_dependent:
                # float models give the same predictions at any batch size (up to float rounding): measured once
                for key in ("accuracy", "mean_layers"):
                    if f"test_{key}_bs{max(args.batch_sizes)}" in row:
                        row[f"test_{key}_bs{size}"] = row[f"test_{key}_bs{max(args.batch_sizes)}"]
                row[f"accuracy_bs{size}_measured_at_bs"] = max(args.batch_sizes)
                continue
            if threshold is None:
                result = loop_accuracy(model, test, size)
            else:
                model.config.exit_threshold = threshold
                result = loop_accuracy(model, test, size)
                model.config.exit_threshold = g.config.exit_threshold
            row[f"test_accuracy_bs{size}"] = result["accuracy"]
            if "mean_layers" in result:
                row[f"test_mean_layers_bs{size}"] = result["mean_layers"]
        rows.append(row)
        logger.info("seed %d %s: %s", seed, name, {k: round(v, 4) for k, v in row.items() if isinstance(v, float)})

    rows += curve_rows
    subset = test.select(range(min(args.timing_examples, len(test)))).remove_columns(["label"])
    for size in args.batch_sizes:
        batches = _device_batches(subset, size, a)
        timed = [({}, forward_of(model, threshold)) for _, model, threshold in contenders]
        load_before = os.getloadavg()
        with torch.inference_mode():
            seconds = _time_interleaved(timed, batches, args.repeats, f"bs {size}", False)
        for row, s in zip(rows, seconds):
            row[f"ms_per_example_bs{size}"] = 1000 * s / len(subset)
            row[f"speedup_bs{size}"] = seconds[0] / s
        record[f"load_average_bs{size}"] = {"before": load_before, "after": os.getloadavg()}
        logger.info("seed %d bs %d speed-ups: %s (load %s)", seed, size, [round(seconds[0] / s, 2) for s in seconds],
                    os.getloadavg())
    record["rows"] = rows
    return record


def summarize(records: list[dict], batch_sizes: list[int]) -> tuple[str, list[dict]]:
    import statistics

    names = [row["name"] for row in records[0]["rows"]]
    for record in records[1:]:
        names += [row["name"] for row in record["rows"] if row["name"] not in names]

    def stat(values):
        if not values:
            return None
        return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))

    summary = []
    for name in names:
        rows = [(rec, row) for rec in records for row in rec["rows"] if row["name"] == name]
        entry = {"name": name, "seeds": [rec["seed"] for rec, _ in rows],
                 "thresholds": [row["threshold"] for _, row in rows]}
        for size in batch_sizes:
            entry[f"speedup_bs{size}"] = stat([row[f"speedup_bs{size}"] for _, row in rows])
            key = f"test_accuracy_bs{size}" if f"test_accuracy_bs{size}" in rows[0][1] else "test_accuracy_curve"
            entry[f"accuracy_bs{size}"] = stat([100 * row[key] for _, row in rows])
            entry[f"drop_vs_a_bs{size}"] = stat([100 * (rec["rows"][0][f"test_accuracy_bs{size}"] - row[key])
                                                 for rec, row in rows])
            key = f"test_mean_layers_bs{size}" if f"test_accuracy_bs{size}" in rows[0][1] else "test_mean_layers_curve"
            layers = [row[key] for _, row in rows if key in row]
            entry[f"mean_layers_bs{size}"] = stat(layers)
        summary.append(entry)

    def fmt(value, spec=".2f", suffix=""):
        return "–" if value is None else f"{value[0]:{spec}}{suffix} ± {value[1]:{spec}}"

    header = "| model | seeds | threshold(s) |"
    rule = "|---|---|---|"
    for size in batch_sizes:
        header += f" speed-up bs {size} | accuracy bs {size} (%) | drop vs (a) bs {size} (pts) | mean layers bs {size} |"
        rule += "---|---|---|---|"
    lines = [header, rule]
    for entry in summary:
        thresholds = ", ".join("–" if t is None else f"{t:g}" for t in entry["thresholds"])
        line = f"| {entry['name']} | {len(entry['seeds'])} | {thresholds} |"
        for size in batch_sizes:
            line += (f" {fmt(entry[f'speedup_bs{size}'], '.2f', 'x')} | {fmt(entry[f'accuracy_bs{size}'])} |"
                     f" {fmt(entry[f'drop_vs_a_bs{size}'])} | {fmt(entry[f'mean_layers_bs{size}'])} |")
        lines.append(line)
    return "\n".join(lines), summary


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(1)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(Path(args.models_dir) / f"seed{args.seeds[0]}" / "a")
    splits = load_rotten_tomatoes()
    splits = splits.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=MAX_LENGTH),
                        batched=True, remove_columns=["text"])
    if args.max_rows:
        for split in ("validation", "test"):
            splits[split] = splits[split].select(range(min(args.max_rows, len(splits[split]))))
    machine = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
               "quantized_engine": torch.backends.quantized.engine}
    records = []
    for seed in args.seeds:
        path = out / f"seed{seed}.json"
        if path.is_file():
            logger.info("seed %d: %s exists, skipped", seed, path)
            records.append(json.loads(path.read_text()))
            continue
        start = time.perf_counter()
        record = run_seed(seed, splits, args)
        record.update(machine=machine, seconds=time.perf_counter() - start, timing_examples=args.timing_examples,
                      repeats=args.repeats, max_drop_points=args.max_drop,
                      command="python examples/bench_int8.py " + " ".join(argv if argv is not None else
                                                                           __import__("sys").argv[1:]))
        write_json(path, record)
        records.append(record)
    table, summary = summarize(records, args.batch_sizes)
    loads = [rec[f"load_average_bs{size}"]["before"][0] for rec in records for size in args.batch_sizes]
    note = (f"\nRotten Tomatoes test ({len(splits['test'])} rows for accuracy, first "
            f"{args.timing_examples} for speed), one torch thread, speed-ups are ratios to (a) float measured "
            f"interleaved in the same run; 1-minute load average while timing: {min(loads):.1f}-{max(loads):.1f} "
            f"on {os.cpu_count()} cores.")
    write_text(out / "summary.md", table + "\n" + note + "\n")
    write_json(out / "summary.json", {"summary": summary, "machine": records[0]["machine"]})
    print(table)
    print(note)


if __name__ == "__main__":
    main()
