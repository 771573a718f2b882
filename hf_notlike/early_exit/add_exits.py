# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike early-exit add-exits`: exits added to a fine-tuned classifier and trained alone (its own head stays the
last exit, the backbone and that head are frozen: DeeBERT's second stage, Xin et al., ACL 2020), from a labelled
local data file.

```bash
hf-notlike early-exit add-exits path/to/classifier --data train.csv --output-dir my-early-exit-model
hf-notlike early-exit add-exits path/to/classifier --data train.csv --validation dev.csv --exit-layers 1 2 3 \\
    --distillation-weight 0.5 --output-dir my-early-exit-model
```

With `--validation`, one temperature per exit is fitted on that file afterwards (`calibrate_temperatures`).
The result is a saved early-exit model (with the tokenizer) that loads with `AutoModelForSequenceClassification`.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..cli_utils import (
    TABLE_FORMATS,
    Command,
    CommandError,
    check_input_file,
    check_model_dir,
    check_output_dir,
    check_positive,
    read_table_file,
    save_model_folder,
)

__all__ = ["COMMANDS", "AddExitsArguments", "add_exits_command"]

EXIT_INPUTS = ("weighted_mean", "mean", "weighted_cls", "cls")  # = configuration.EXIT_INPUTS (--help imports no torch)
EXIT_HEADS = ("linear", "mlp")  # = configuration.EXIT_HEADS
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


@dataclass
class AddExitsArguments:
    """Options of `hf-notlike early-exit add-exits`."""

    model: str = field(metadata={"positional": True, "help": "a fine-tuned *ForSequenceClassification folder "
                                                            "(BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DistilBERT, DeBERTa-v2/v3, ModernBERT)"})
    data: str = field(metadata={"help": "labelled local training file (.csv/.tsv/.json/.jsonl/.parquet)"})
    output_dir: str = field(metadata={"help": "where to save the early-exit model (and the tokenizer)"})
    validation: str | None = field(
        default=None, metadata={"help": "labelled local file to calibrate the exits' temperatures on afterwards"}
    )
    exit_layers: list[int] | None = field(
        default=None, metadata={"help": "layers to add exits after (1-based; default: every layer)"}
    )
    exit_input: str = field(default="weighted_mean",
                            metadata={"help": f"what the exits read: {', '.join(EXIT_INPUTS)}"})
    exit_head: str = field(default="linear",
                           metadata={"help": "what each exit puts on what it reads: linear, or mlp (a dense layer "
                                             "with tanh first)"})
    epochs: float = field(default=1.0, metadata={"help": "training epochs of the new exits"})
    learning_rate: float = field(default=2e-3, metadata={"help": "learning rate of the new exits"})
    batch_size: int = field(default=16, metadata={"help": "training batch size"})
    distillation_weight: float = field(
        default=0.0, metadata={"help": "self-distillation weight in [0, 1] (0: gold labels only)"}
    )
    distillation_temperature: float = field(default=1.0, metadata={"help": "self-distillation temperature"})
    text_column: str = field(default="text", metadata={"help": "column holding the texts"})
    label_column: str = field(
        default="label", metadata={"help": "column holding integer class indices or the model's label names"}
    )
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer folder (default: MODEL)"})
    max_length: int | None = field(default=None, metadata={"help": "truncate texts to this many tokens"})
    limit: int | None = field(default=None, metadata={"help": "use only the first N training rows"})
    seed: int = field(default=42, metadata={"help": "random seed"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})

    def __post_init__(self):
        folder = check_model_dir(self.model, "MODEL")
        if self.tokenizer is None and not any((folder / name).is_file() for name in TOKENIZER_FILES):
            raise CommandError(f"MODEL {self.model} has no tokenizer files (e.g. tokenizer.json): save the tokenizer "
                               "next to the model, or pass --tokenizer.")
        if self.tokenizer is not None and not Path(self.tokenizer).is_dir():
            raise CommandError(f"--tokenizer {self.tokenizer} is not a folder (a folder written by save_pretrained).")
        check_input_file(self.data, "--data", TABLE_FORMATS)
        if self.validation is not None:
            check_input_file(self.validation, "--validation", TABLE_FORMATS)
        check_output_dir(self.output_dir, "--output-dir")
        if self.exit_input not in EXIT_INPUTS:
            raise CommandError(f"--exit-input must be one of {', '.join(EXIT_INPUTS)}, got {self.exit_input!r}.")
        if self.exit_head not in EXIT_HEADS:
            raise CommandError(f"--exit-head must be one of {', '.join(EXIT_HEADS)}, got {self.exit_head!r}.")
        for flag, value in (("--epochs", self.epochs), ("--learning-rate", self.learning_rate),
                            ("--batch-size", self.batch_size), ("--max-length", self.max_length),
                            ("--limit", self.limit), ("--threads", self.threads),
                            ("--distillation-temperature", self.distillation_temperature)):
            check_positive(value, flag)
        if not 0 <= self.distillation_weight <= 1:
            raise CommandError(f"--distillation-weight must lie in [0, 1], got {self.distillation_weight}.")


def add_exits_command(args: AddExitsArguments) -> int:
    """Loads the classifier with new exits (checked before any weight is loaded), trains the exits on `--data`,
    optionally calibrates on `--validation`, and saves the model and tokenizer in `--output-dir`."""
    import torch
    from huggingface_hub.errors import StrictDataclassClassValidationError
    from transformers import AutoConfig, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

    from .calibration import calibrate_temperatures
    from .commands import _label_ids, _tokenize
    from .modeling import early_exit_class_for
    from .training import EarlyExitTrainer

    if args.threads:
        torch.set_num_threads(args.threads)
    fields = dict(exit_input=args.exit_input, exit_head=args.exit_head, distillation_weight=args.distillation_weight,
                  distillation_temperature=args.distillation_temperature, local_files_only=True)
    try:  # the checkpoint's architecture, head and depth are checked first, from its config only
        model_class = early_exit_class_for(args.model, local_files_only=True)
        model_class.classifier_config(args.model, args.exit_layers, **fields)
    except StrictDataclassClassValidationError as error:
        raise CommandError(" ".join(str(error.__cause__ or error).split())) from None
    except (OSError, ValueError) as error:  # the config-only checks of the checkpoint the user named (its type, head)
        if isinstance(error, CommandError):
            raise
        raise CommandError(f"MODEL {args.model}: {' '.join(str(error).split())}") from None
    config = AutoConfig.from_pretrained(args.model, local_files_only=True)
    train_table = read_table_file(args.data, "--data")
    train = _label_ids(train_table, args.data, config.label2id, args.text_column, args.label_column, args.limit)
    validation = None
    if args.validation:
        validation = _label_ids(read_table_file(args.validation, "--validation"), args.validation, config.label2id,
                                args.text_column, args.label_column, None)
    for name, data in (("--data", train), ("--validation", validation)):
        if data is not None and len(data) and not all(0 <= label < config.num_labels for label in data["label"]):
            raise CommandError(f"{name} has class indices outside [0, {config.num_labels}) (the model's labels).")
    model = model_class.from_classifier(args.model, args.exit_layers, **fields)
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer or args.model, local_files_only=True)
    train = _tokenize(train, tokenizer, args.text_column, args.max_length)
    with tempfile.TemporaryDirectory() as scratch:
        training_args = TrainingArguments(
            output_dir=scratch, num_train_epochs=args.epochs, per_device_train_batch_size=args.batch_size,
            # the exits get learning_rate * multiplier: give them exactly --learning-rate
            learning_rate=args.learning_rate / model.config.exit_learning_rate_multiplier,
            save_strategy="no", report_to="none", seed=args.seed, use_cpu=not torch.cuda.is_available(),
            disable_tqdm=True,
        )
        EarlyExitTrainer(model=model.train(), args=training_args, train_dataset=train,
                         data_collator=DataCollatorWithPadding(tokenizer)).train()
    model.eval()
    if validation is not None:
        print(calibrate_temperatures(model, _tokenize(validation, tokenizer, args.text_column, args.max_length)))
    output = save_model_folder(args.output_dir, model, tokenizer)  # one atomic commit
    print(f"Saved the early-exit model (exits after layers {model.config.exit_layers}, the last one the original "
          f"head) to {output}")
    return 0


COMMANDS = [
    Command(
        "early-exit add-exits", AddExitsArguments, add_exits_command,
        help="add exits to a fine-tuned classifier and train them alone (backbone and head frozen)",
    ),
]
