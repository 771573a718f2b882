# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike demo`: a small, real end-to-end run on the shipped MiniLM checkpoint and Rotten Tomatoes.

Demo support, not library API: nothing here is exported by `hf_notlike`, and it may change without notice.

It fine-tunes an early-exit MiniLM (an exit after each of its 6 layers) with a stock `Trainer`, calibrates one
temperature per exit on a validation split, saves the model (with its card), reloads it with
`AutoModelForSequenceClassification` and `pipeline`, and prints the speed/accuracy table of the one trained model:
accuracy and mean layers per threshold, and the measured wall-clock speed-up at batch sizes 1 and 32 against the full
model and the stock `BertForSequenceClassification`. The threshold it reports is the one it chose on the validation
split, saved in the model's config and timed on the test split. About 4 minutes on 2 CPU cores.

```bash
hf-notlike demo --output-dir outputs/demo
```
"""

from dataclasses import dataclass, field
from pathlib import Path

import torch

from .cli_utils import Command, CommandError, check_output_dir, check_positive, save_model_folder

DEMO_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
TIMED_THRESHOLDS = (0.8, 0.9, 0.95)
MAX_ACCURACY_DROP = 0.01


def run_demo(
    output_dir: str = "outputs/demo",
    train_size: int = 3000,
    eval_size: int = 500,
    epochs: float = 2.0,
    max_length: int = 64,
    seed: int = 42,
):
    """Runs the demo; returns the [`~hf_notlike.early_exit.tradeoff.TradeoffResult`] of the test sweep.

    The threshold is chosen on the validation split (the fewest mean layers within `MAX_ACCURACY_DROP` of the full
    model, as in Schwartz et al., 2020), saved as the model's `exit_threshold`, and timed on the test split with
    `TIMED_THRESHOLDS`; the summary reports that same threshold. Nothing but `model/` and the plot is written.
    """
    import tempfile

    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments, pipeline

    from .early_exit import EarlyExitBertForSequenceClassification, calibrate_temperatures, speed_accuracy_curve
    from .early_exit.tradeoff import DEFAULT_PLOT_NAME
    from .resources import load_rotten_tomatoes, minilm_path

    torch.manual_seed(seed)
    output = Path(output_dir)
    splits = load_rotten_tomatoes(seed=seed)
    sizes = {"train": train_size, "validation": eval_size, "test": eval_size}
    splits = {name: splits[name].shuffle(seed=seed).select(range(min(n, len(splits[name])))) for name, n in sizes.items()}
    names = splits["train"].features["label"].names
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    tokenized = {
        name: split.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
                        batched=True, remove_columns=["text"])
        for name, split in splits.items()
    }

    print(f"[1/5] fine-tuning an early-exit MiniLM (exits after layers 1-6) on {train_size} Rotten Tomatoes reviews")
    # all-MiniLM-L6-v2 is a sentence encoder trained with mean pooling: its exits read mean-pooled layers
    model = EarlyExitBertForSequenceClassification.from_pretrained(
        minilm_path(), num_labels=2, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
        exit_input="weighted_mean",
    )
    # the shipped folder is a copy of this Hub checkpoint: the card names it and the data, never the local path
    model.card_data.update(base_model="sentence-transformers/all-MiniLM-L6-v2", dataset_name="Rotten Tomatoes",
                           dataset_split="test", language="en")
    with tempfile.TemporaryDirectory(prefix="hf_notlike_demo_") as scratch:  # the Trainer's output_dir: nothing kept
        args = TrainingArguments(
            output_dir=scratch, per_device_train_batch_size=32, learning_rate=5e-5,
            num_train_epochs=epochs, warmup_steps=0.1, weight_decay=0.01, logging_steps=20, save_strategy="no",
            report_to=[], seed=seed, use_cpu=True,
        )
        Trainer(model=model, args=args, train_dataset=tokenized["train"], processing_class=tokenizer).train()

    print(f"[2/5] calibrating one temperature per exit on {len(tokenized['validation'])} validation reviews")
    model.eval()
    print(calibrate_temperatures(model, tokenized["validation"]))

    print(f"[3/5] choosing the threshold on the validation reviews: fewest layers within {100 * MAX_ACCURACY_DROP:g} "
          "accuracy point of the full model")
    dev_curve = speed_accuracy_curve(model, tokenized["validation"], DEMO_THRESHOLDS, batch_sizes=(),
                                     stock_model=False, show_progress=False, num_flops_examples=0)
    threshold = dev_curve.apply_threshold(model, max_accuracy_drop=MAX_ACCURACY_DROP)
    dev = next(r for r in dev_curve.rows if r["threshold"] == threshold)
    print(f"    threshold {threshold:g}: validation accuracy {100 * dev['accuracy']:.1f}%, {dev['mean_layers']:.2f} "
          f"of 6 layers on average; saved as the model's exit_threshold")

    print(f"[4/5] saving to {output / 'model'}, reloading with AutoModelForSequenceClassification and pipeline")
    save_model_folder(output / "model", model, tokenizer)  # one atomic commit
    model = AutoModelForSequenceClassification.from_pretrained(output / "model").eval()
    print(f"    reloaded: exit_threshold {model.config.exit_threshold:g}, temperatures "
          f"{[round(t, 3) for t in model.config.temperatures]}")
    classifier = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")
    for text in ("The movie was awesome.", "A tedious, joyless slog that wastes a fine cast."):
        print(f"    pipeline({text!r}) -> {classifier(text)[0]}")

    plot_path = output / DEFAULT_PLOT_NAME
    print(f"[5/5] the speed/accuracy trade-off on {len(tokenized['test'])} test reviews (timed against the stock "
          "model)")
    timed = sorted({*TIMED_THRESHOLDS, threshold})
    result = speed_accuracy_curve(
        model, tokenized["test"], DEMO_THRESHOLDS, timed_thresholds=timed, num_timing_examples=200,
        repeats=2, plot_path=str(plot_path), seed=seed,
    )
    result.info.update(exit_threshold=threshold, threshold_chosen_on="validation",
                       threshold_rule=f"fewest mean layers within {MAX_ACCURACY_DROP:g} accuracy of the full model")
    result.to_json(str(output / "model" / "sweep.json"))
    full = next(r for r in result.rows if r["kind"] == "early_exit" and r["threshold"] == 1.0)
    chosen = next(r for r in result.rows if r["kind"] == "early_exit" and r["threshold"] == threshold)
    print(
        f"\nThe saved threshold {threshold:g} (chosen on validation) on the test reviews: accuracy "
        f"{100 * chosen['accuracy']:.1f}% (full model {100 * full['accuracy']:.1f}%), {chosen['mean_layers']:.2f} of 6 "
        f"layers on average, measured speed-up {chosen['speedup_vs_stock_bs1']:.2f}x at batch size 1 and "
        f"{chosen['speedup_vs_stock_bs32']:.2f}x at batch size 32 over the stock model. "
        f"Model (with sweep.json) and {plot_path.name} are in {output}."
    )
    return result


@dataclass
class DemoArguments:
    """Options of `hf-notlike demo` (the arguments of [`run_demo`])."""

    output_dir: str = field(default="outputs/demo", metadata={"help": "where the model and the table are written"})
    train_size: int = field(default=3000, metadata={"help": "training reviews"})
    eval_size: int = field(default=500, metadata={"help": "validation and test reviews"})
    epochs: float = field(default=2.0, metadata={"help": "training epochs"})
    max_length: int = field(default=64, metadata={"help": "tokens per review"})
    seed: int = field(default=42, metadata={"help": "random seed"})

    def __post_init__(self):
        for flag, value in (("--train-size", self.train_size), ("--eval-size", self.eval_size),
                            ("--epochs", self.epochs), ("--max-length", self.max_length)):
            check_positive(value, flag, allow_none=False)
        check_output_dir(self.output_dir, "--output-dir")


def demo_command(args: DemoArguments) -> int:
    """Runs the demo."""
    from .resources import minilm_path

    try:
        minilm_path()
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None
    run_demo(args.output_dir, args.train_size, args.eval_size, args.epochs, args.max_length, args.seed)
    return 0


COMMANDS = [
    Command(
        "demo", DemoArguments, demo_command,
        help="fine-tune, calibrate, save, reload and sweep an early-exit MiniLM on Rotten Tomatoes (~4 min on CPU)",
    )
]
