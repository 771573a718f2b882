# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Checks `speed_accuracy_curve`'s up-front timing estimate against the measured timing, on a real model.

Fine-tunes an early-exit MiniLM briefly on Rotten Tomatoes (as the demo does, smaller), calibrates it, picks a
threshold on the validation split, then runs the README's sweep call (quick defaults: 64 timing rows, 2 rounds,
batch sizes 1 and 32) on the test split, and writes the plan, the estimate, the measured timing seconds and the plot.

```bash
OMP_NUM_THREADS=1 python examples/check_timing_estimate.py --output-dir outputs/timing_check
```
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoTokenizer, Trainer, TrainingArguments

from hf_notlike import EarlyExitBertForSequenceClassification, calibrate_temperatures, speed_accuracy_curve
from hf_notlike.artifacts import write_json
from hf_notlike.early_exit.tradeoff import DEFAULT_PLOT_NAME
from hf_notlike.resources import load_rotten_tomatoes, minilm_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="outputs/timing_check")
    parser.add_argument("--results", default="outputs/results/ee_timing_estimate/check.json")
    parser.add_argument("--train-size", type=int, default=800)
    parser.add_argument("--eval-size", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = load_rotten_tomatoes(seed=42)
    sizes = {"train": max(args.train_size, 1), "validation": args.eval_size, "test": args.eval_size}
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    data = {name: splits[name].shuffle(seed=0).select(range(n)).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=64), batched=True, remove_columns=["text"])
        for name, n in sizes.items()}
    model = EarlyExitBertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2,
                                                                   exit_input="weighted_mean")
    if args.train_size > 0:  # --train-size 0: untrained exits (it is the timing estimate that is checked)
        with tempfile.TemporaryDirectory() as scratch:
            targs = TrainingArguments(scratch, per_device_train_batch_size=32, learning_rate=5e-5, num_train_epochs=1,
                                      save_strategy="no", report_to=[], use_cpu=True, seed=0)
            Trainer(model=model, args=targs, train_dataset=data["train"], processing_class=tokenizer).train()
    model.eval()
    print(calibrate_temperatures(model, data["validation"], show_progress=False))
    dev = speed_accuracy_curve(model, data["validation"], [0.6, 0.8, 0.9, 0.95, 0.99, 1.0], batch_sizes=(),
                               show_progress=False)
    chosen = dev.apply_threshold(model, max_accuracy_drop=0.01)
    start = time.perf_counter()
    result = speed_accuracy_curve(model, data["test"], [0.6, 0.8, 0.9, 0.95, 0.99, 1.0],
                                  timed_thresholds=sorted({0.9, 0.95, chosen}),
                                  plot_path=str(out / DEFAULT_PLOT_NAME))
    total = time.perf_counter() - start
    record = {"chosen_threshold": chosen, "timing_plan": result.info["timing_plan"],
              "estimated_timing_s": result.info["estimated_timing_s"], "timing_s": result.info["timing_s"],
              "whole_call_s": total, "rows": result.rows}
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    write_json(Path(args.results), record)
    print(f"estimate {record['estimated_timing_s']:.1f} s, measured timing {record['timing_s']:.1f} s, whole call "
          f"{total:.1f} s")


if __name__ == "__main__":
    main()
