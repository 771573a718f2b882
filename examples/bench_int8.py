# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Early exit stacked with int8 dynamic quantization on the CPU: speed and accuracy on Rotten Tomatoes.

For each seed, these models are measured side by side, on one torch thread:

- (a) the plain fine-tuned MiniLM-L6 `BertForSequenceClassification`, float32 (the reference);
- (b) (a) quantized with `hf_notlike.quantize_dynamic_int8`;
- (c) the early-exit model trained from (a) (variant g of `examples/train_early_exit.py`), float32, with the
  temperatures and the threshold chosen on validation by that protocol (fastest within `--max-drop` points of the
  better of (a)'s validation accuracy and its own full depth's);
- (d) (c) quantized, exit rule unchanged (same exits, temperatures and threshold); and (d*) the same quantized model
  at the threshold chosen again on the *validation* split for the quantized model (same rule), when it differs;
- (e) / (f): (a) / (c) quantized with every feed-forward output layer too, after SmoothQuant's smoothing of its
  inputs measured on `--calibration-examples` training sentences (`quantize_dynamic_int8(...,
  calibration_batches=...)`); (f) at (c)'s threshold, and (f*) at the threshold chosen again on validation for it;
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
OMP_NUM_THREADS=1 nice python examples/bench_int8.py --seeds 1       # full protocol (128 timing rows)
OMP_NUM_THREADS=1 nice python examples/bench_int8.py --seeds 1 2 3 --fast --timing-examples 64   # what docs/ shows
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
from train_early_exit import budget_reference, fastest_within  # the training protocol's threshold rule (same folder)
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
    parser.add_argument("--timing-examples", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-drop", type=float, default=1.0,
                        help="points of the better of (a)'s validation accuracy and the model's own full depth's")
    parser.add_argument("--no-extra", action="store_true", help="skip the other int8 configurations")
    parser.add_argument("--calibration-examples", type=int, default=512,
                        help="training sentences that measure the input ranges for smoothing ((e), (f); 0: skip them)")
    parser.add_argument("--curve-thresholds", type=float, nargs="*", default=[0.65, 0.7, 0.8, 0.9],
                        help="more thresholds of (d) to time (accuracy from the all-exits curve)")
    parser.add_argument("--fast", action="store_true",
                        help="reduced protocol: (c)'s test curve from --anchor-results instead of a test pass (no ECE "
                             "of (c)), no other int8 configurations, no curve thresholds")
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


def ece_per_exit(logits: torch.Tensor, labels: torch.Tensor, temperatures) -> list[float]:
    return [expected_calibration_error(logits[:, k] / t, labels) for k, t in enumerate(temperatures)]


def run_seed(seed: int, splits, args) -> dict:
    folder = Path(args.models_dir) / f"seed{seed}"
    anchor = json.loads((Path(args.anchor_results) / f"g_seed{seed}.json").read_text())
    reference = json.loads((folder / "a" / "accuracy.json").read_text())  # (a)'s accuracies, same splits
    a = AutoModelForSequenceClassification.from_pretrained(folder / "a").eval()
    g = AutoModelForSequenceClassification.from_pretrained(folder / "g").eval()
    g.config.temperatures = anchor["temperatures"]  # fitted on validation by the training protocol
    g.config.exit_threshold = anchor["chosen_threshold"]
    t0 = time.perf_counter()
    b = quietly_quantize(a)
    d = quietly_quantize(g)
    quantize_s = (time.perf_counter() - t0) / 2
    smoothed = {}
    if args.calibration_examples:
        calibration = splits["train"].select(range(min(args.calibration_examples, len(splits["train"]))))
        batches = [inputs for _, inputs in iterate_batches(calibration.remove_columns(["label"]), 32, 0)]
        smoothed = {"e": quietly_quantize(a, calibration_batches=batches),
                    "f": quietly_quantize(g, calibration_batches=batches)}
    val, test = splits["validation"], splits["test"]
    a_val = reference["validation_accuracy"]  # the reference of every threshold choice
    record = {"seed": seed, "quantize_seconds_per_model": quantize_s, "threshold_c": anchor["chosen_threshold"],
              "temperatures_c": anchor["temperatures"], "a_validation_accuracy": a_val,
              "a_test_accuracy": reference["test_accuracy"]}

    # all-exits passes (batch 32, rows grouped by length): (c) on test, (d) on validation and test
    logits = {name: {split: collect_exit_logits(model, data, show_progress=False)
                     for split, data in (("validation", val), ("test", test))}
              for name, model in (("d", d), ("f", smoothed.get("f"))) if model is not None}
    if not args.fast:
        logits["c"] = {"test": collect_exit_logits(g, test, show_progress=False)}
    layers, temps = g.config.exit_layers, g.config.temperatures
    curves = {"c": {"validation": anchor["validation_curve"],
                    "test": anchor["test_curve"] if args.fast else
                    curve_from_logits(*logits["c"]["test"], layers, temps, THRESHOLDS)},
              **{name: {split: curve_from_logits(*logits[name][split], layers, temps, THRESHOLDS)
                        for split in ("validation", "test")} for name in logits if name != "c"}}
    record["curves"] = curves

    def validation_threshold(curve: list[dict]) -> float:
        """The protocol's threshold rule on a validation curve; 1.0 (the full model) when none fits the budget."""
        return (fastest_within(curve, budget_reference(a_val, curve), args.max_drop) or {"threshold": 1.0})["threshold"]

    record["threshold_d_star"] = validation_threshold(curves["d"]["validation"])
    # calibration of the quantized exits: (c)'s temperatures vs temperatures refitted on validation for (d)
    recal = calibrate_from_logits(*logits["d"]["validation"], layers)
    record["temperatures_d_refit"] = recal.temperatures
    test_labels = logits["d"]["test"][1]
    record["protocol"] = "fast" if args.fast else "full"
    record["ece_test"] = {
        "c": None if args.fast else ece_per_exit(logits["c"]["test"][0], test_labels, temps),
        "d_with_c_temperatures": ece_per_exit(logits["d"]["test"][0], test_labels, temps),
        "d_refit": ece_per_exit(logits["d"]["test"][0], test_labels, recal.temperatures),
    }
    refit_val = curve_from_logits(*logits["d"]["validation"], layers, recal.temperatures, THRESHOLDS)
    refit_test = curve_from_logits(*logits["d"]["test"], layers, recal.temperatures, THRESHOLDS)
    chosen_refit = validation_threshold(refit_val)
    record["refit"] = {"threshold": chosen_refit, "test_row": next(r for r in refit_test if r["threshold"] == chosen_refit),
                       "validation_curve": refit_val, "test_curve": refit_test}
    del logits

    def curve_row(name, threshold):
        point = next(r for r in curves[name]["test"] if r["threshold"] == threshold)
        return {"test_accuracy": point["accuracy"], "test_mean_layers": point["mean_layers"]}

    # (name, model, threshold for the call or None, full-test accuracy)
    contenders = [("(a) float", a, None, {"test_accuracy": reference["test_accuracy"]}),
                  ("(b) int8", b, None, {"test_accuracy": loop_accuracy(b, test, 32)["accuracy"]}),
                  ("(c) early exit", g, None, curve_row("c", g.config.exit_threshold)),
                  ("(d) early exit + int8", d, None, curve_row("d", g.config.exit_threshold))]
    if record["threshold_d_star"] != g.config.exit_threshold:
        contenders.append(("(d*) early exit + int8, threshold for int8", d, record["threshold_d_star"],
                           curve_row("d", record["threshold_d_star"])))
    if smoothed:
        record["threshold_f_star"] = validation_threshold(curves["f"]["validation"])
        contenders += [("(e) int8, feed-forward outputs smoothed", smoothed["e"], None,
                        {"test_accuracy": loop_accuracy(smoothed["e"], test, 32)["accuracy"]}),
                       ("(f) early exit + int8, smoothed", smoothed["f"], None,
                        curve_row("f", g.config.exit_threshold))]
        if record["threshold_f_star"] != g.config.exit_threshold:
            contenders.append(("(f*) early exit + int8, smoothed, threshold for it", smoothed["f"],
                               record["threshold_f_star"], curve_row("f", record["threshold_f_star"])))
    if not (args.no_extra or args.fast):
        contenders.append(("(b') int8, all linears per tensor", quietly_quantize(a, keep_float=(), per_channel=False),
                           None, {}))
        try:
            contenders.append(("(b'') torchao int8", torchao_int8(a), None, {}))
        except ImportError as error:
            logger.info("torchao not installed (%s): skipped", error)
    # the wall-clock curve of (d): more thresholds
    for threshold in ([] if args.fast else args.curve_thresholds):
        if threshold not in (g.config.exit_threshold, record["threshold_d_star"]):
            contenders.append((f"(d) at {threshold:g} (curve)", d, threshold, curve_row("d", threshold)))

    def forward_of(model, threshold):
        if threshold is None:
            return lambda inputs: model(**inputs)
        return lambda inputs: model(**inputs, exit_threshold=threshold)

    subset = test.select(range(min(args.timing_examples, len(test))))
    subset_labels = torch.tensor(subset["label"])
    subset = subset.remove_columns(["label"])
    rows = []
    for name, model, threshold, full in contenders:
        rows.append({"name": name, "threshold": threshold if threshold is not None else
                     (model.config.exit_threshold if hasattr(model, "exits") else None), **full})
    for size in args.batch_sizes:
        batches = _device_batches(subset, size, a)
        # the real forward at this batch size on the timing rows: accuracy and exit layers (int8 quantizes
        # activations per batch, so its results can depend on the batch)
        with torch.inference_mode():
            for row, (_name, model, threshold, _) in zip(rows, contenders):
                outs = [forward_of(model, threshold)(inputs) for inputs in batches]
                predictions = torch.cat([o.logits.argmax(-1) for o in outs])
                row[f"timing_rows_accuracy_bs{size}"] = float((predictions == subset_labels).double().mean())
                if getattr(outs[0], "exit_layer", None) is not None:
                    row[f"timing_rows_mean_layers_bs{size}"] = float(torch.cat([o.exit_layer for o in outs])
                                                                     .double().mean())
        timed = [({}, forward_of(model, threshold)) for _, model, threshold, _ in contenders]
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
    for row in rows:
        logger.info("seed %d %s", seed, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
    return record


def summarize(records: list[dict], batch_sizes: list[int]) -> tuple[str, list[dict]]:
    import statistics

    names = [row["name"] for row in records[0]["rows"]]
    for record in records[1:]:
        names += [row["name"] for row in record["rows"] if row["name"] not in names]

    def stat(values):
        values = [v for v in values if v is not None]
        if not values:
            return None
        return (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values))

    summary = []
    for name in names:
        rows = [(rec, row) for rec in records for row in rec["rows"] if row["name"] == name]
        entry = {"name": name, "seeds": [rec["seed"] for rec, _ in rows],
                 "thresholds": [row["threshold"] for _, row in rows],
                 "test_accuracy": stat([100 * row["test_accuracy"] for _, row in rows if "test_accuracy" in row]),
                 "drop_vs_a": stat([100 * (rec["a_test_accuracy"] - row["test_accuracy"]) for rec, row in rows
                                    if "test_accuracy" in row]),
                 "test_mean_layers": stat([row.get("test_mean_layers") for _, row in rows])}
        for size in batch_sizes:
            entry[f"speedup_bs{size}"] = stat([row[f"speedup_bs{size}"] for _, row in rows])
            entry[f"timing_rows_accuracy_bs{size}"] = stat([100 * row[f"timing_rows_accuracy_bs{size}"]
                                                            for _, row in rows])
        summary.append(entry)

    def fmt(value, spec=".2f", suffix=""):
        return "–" if value is None else f"{value[0]:{spec}}{suffix} ± {value[1]:{spec}}"

    header = "| model | threshold per seed | test accuracy (%) | drop vs (a) (pts) | mean layers |"
    rule = "|---|---|---|---|---|"
    for size in batch_sizes:
        header += f" speed-up bs {size} | accuracy on timing rows, bs {size} (%) |"
        rule += "---|---|"
    lines = [header, rule]
    for entry in summary:
        thresholds = ", ".join("–" if t is None else f"{t:g}" for t in entry["thresholds"])
        line = (f"| {entry['name']} | {thresholds} | {fmt(entry['test_accuracy'])} | {fmt(entry['drop_vs_a'])} |"
                f" {fmt(entry['test_mean_layers'])} |")
        for size in batch_sizes:
            line += f" {fmt(entry[f'speedup_bs{size}'], '.2f', 'x')} | {fmt(entry[f'timing_rows_accuracy_bs{size}'])} |"
        lines.append(line)
    lines.append("")
    lines.append("| seed | ECE per exit on test: (c) | (d) with (c)'s temperatures | (d) temperatures refitted | "
                 "(d) refitted: validation threshold, test accuracy, mean layers |")
    lines.append("|---|---|---|---|---|")
    for rec in records:
        ece = rec["ece_test"]
        show = lambda values: "–" if values is None else " ".join(f"{100 * v:.1f}" for v in values)  # noqa: E731
        refit = rec["refit"]
        lines.append(f"| {rec['seed']} | {show(ece['c'])} | {show(ece['d_with_c_temperatures'])} | "
                     f"{show(ece['d_refit'])} | {refit['threshold']:g}, {100 * refit['test_row']['accuracy']:.2f}, "
                     f"{refit['test_row']['mean_layers']:.2f} |")
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
    timing_rows = ", ".join(f"seed {rec['seed']}: {rec['timing_examples']} rows ({rec.get('protocol', 'full')} protocol)"
                            for rec in records)
    note = (f"\nRotten Tomatoes test: accuracy on all {len(splits['test'])} rows (int8 (b): the real forward at batch "
            f"size 32; (c)/(d): the exit rule on all-exits logits of batch-32 passes), speed and the accuracy on "
            f"timing rows on the first test rows ({timing_rows}) with the real forward; one torch thread, speed-ups "
            f"are ratios to (a) float measured interleaved in the same run; 1-minute load average while timing: "
            f"{min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores.")
    write_text(out / "summary.md", table + "\n" + note + "\n")
    write_json(out / "summary.json", {"summary": summary, "machine": records[0]["machine"]})
    print(table)
    print(note)


if __name__ == "__main__":
    main()
