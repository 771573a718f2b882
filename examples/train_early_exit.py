# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Fine-tune, calibrate and sweep an early-exit MiniLM on Rotten Tomatoes and 20 Newsgroups, with the efficient
baselines of Schwartz et al. (ACL 2020): the same backbone truncated to 1, 2 and 3 layers, fine-tuned alone.

For each dataset:

1. fine-tune the shipped all-MiniLM-L6-v2 (6 layers) with an exit after every layer (`Trainer`, all exits' losses
   summed);
2. calibrate one temperature per exit on the validation split (`calibrate_temperatures`, here in its two steps);
3. pick the fastest threshold whose *validation* accuracy is within `--max-drop` points of the full model (the test
   set is not used to choose it);
4. sweep on the test split (`speed_accuracy_curve`): the exact accuracy / mean layers of every threshold, then
   wall-clock time at batch sizes 1 and 32 for a few thresholds, against the same model at threshold 1.0, the stock
   `BertForSequenceClassification` of the same size and the truncated baselines, all in the same run;
5. save the model (with its temperatures), `calibration.json`, `sweep.json` (next to the model, for its card), the
   table (`sweep.md`) and the plot (`speed_accuracy.png`) under `--output-dir`, and copy the plot to `docs/images/`.

`--variants` runs the protocol of "exits on the models people already have" instead, one JSON per finished
run under `outputs/results/early_exit/<dataset>/<variant>_seed<seed>.json` (finished runs are skipped, so an
interrupted protocol resumes where it stopped; the models live under `--output-dir`/variants):

- (a) a plain fine-tuned `BertForSequenceClassification` (the user's starting point);
- (b) exits added to (a) with `from_classifier` and trained alone (backbone and head frozen, DeeBERT stage 2);
- (c) (b) with self-distillation from the last exit (`distillation_weight`, `distillation_temperature`);
- (d) joint training of all exits from the pretrained backbone (`EarlyExitTrainer`, exits at `--exit-lr-multiplier`
  times the backbone's rate);
- (e) (d) with self-distillation;
- (f) (d) with each exit's loss weighted by its depth (`exit_loss_weights` = the exit layers, as in PABEE, Zhou et
  al., NeurIPS 2020: the deeper exits, the last one above all, weigh more, so the shared layers serve them more);
- (g) anchored joint training from (a): `from_classifier(..., freeze_backbone=False, anchor_weight=...)`, the
  backbone unfrozen at `--backbone-lr`, the new exits at `--exit-lr-multiplier` times the base rate, and every exit,
  (a)'s own head included, also distilled from a frozen copy of (a) (`--anchor-weight`, `--anchor-temperature`).

`--model mpnet` runs the protocol on the 12-layer all-mpnet-base-v2 (`resources.mpnet_path()`) instead of the
shipped MiniLM-L6; `--exit-layers` places the exits (default: after every layer but the last, whose exit is the
classifier's own head). Each run's JSON records every exit's own accuracy on validation and test.

(b), (c) and (g) start from (a)'s model under `--output-dir`; when (a)'s JSON exists but its model is not there
(e.g. it was trained on another machine), (a) is trained again first and the variant is compared with that (a).

For each: the full model's test accuracy; temperatures calibrated on validation; the fastest threshold whose
*validation* accuracy is within `--max-drop` points of (a)'s, with its test accuracy, mean layers and wall-clock
speed-up over (a) at batch sizes 1 and 32.

The CPU here is small and shared: by default training runs with one thread, on a subsample of the training sets
(`--train-size`), sequences are cut at 64 (RT) / 128 (20NG) tokens, and batches are grouped by length.

```bash
python examples/train_early_exit.py                       # both datasets
python examples/train_early_exit.py --datasets rt --epochs 2 --train-size 4000
python examples/train_early_exit.py --datasets rt --quick # a 1-minute smoke run (tiny subsets, no plot copy)
python examples/train_early_exit.py --datasets rt --train-size 0 --sweep-only --repeats 7  # re-time a finished run
python examples/train_early_exit.py --variants a b c d e --datasets rt --train-size 0 --max-drop 1 --seeds 1 2 3
python examples/train_early_exit.py --variants g --datasets rt --train-size 0 --max-drop 1 --anchor-weight 0.5
python examples/train_early_exit.py --model mpnet --variants a g --datasets rt --train-size 2000 --learning-rate 3e-5 \
    --head-learning-rate 5e-4 --max-drop 1 --output-dir outputs/early_exit_mpnet
```
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.trainer_callback import ExportableState
from transformers.utils import logging as hf_logging

from hf_notlike import (
    EarlyExitBertForSequenceClassification,
    EarlyExitTrainer,
    choose_thresholds,
    collect_exit_logits,
    early_exit_from_classifier,
    span_variants,
    speed_accuracy_curve,
    unlabelled_dataset,
)
from hf_notlike.artifacts import write_json
from hf_notlike.demo import bf16_trains_faster
from hf_notlike.early_exit.calibration import calibrate_from_logits
from hf_notlike.early_exit.modeling import early_exit_class_for
from hf_notlike.early_exit.tradeoff import DEFAULT_PLOT_NAME, curve_from_logits
from hf_notlike.errors import HfNotlikeInputError
from hf_notlike.resources import (
    VADER_SETS,
    load_20newsgroups,
    load_rotten_tomatoes,
    minilm_path,
    mpnet_path,
    read_vader_ground_truth,
)

logger = logging.getLogger("train_early_exit")

DATASETS = {
    # name: (loader, max_length, learning rate, default train size, timing examples, title)
    "rt": (load_rotten_tomatoes, 64, 1e-4, 2000, 256, "Rotten Tomatoes"),
    "20ng": (load_20newsgroups, 128, 2e-4, 1500, 128, "20 Newsgroups"),
}
MODELS = {
    # --model: (folder of the pretrained checkpoint, title); --variants only for anything but minilm
    "minilm": (minilm_path, "MiniLM-L6"),
    "mpnet": (mpnet_path, "MPNet-12"),
}
VARIANTS = {
    "a": "plain fine-tuned classifier",
    "b": "exits added (exits-only)",
    "c": "exits added + self-distillation",
    "d": "joint training",
    "e": "joint training + self-distillation",
    "f": "joint training, losses weighted by depth",
    "g": "anchored joint training from (a)",
}
THRESHOLDS = [0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999, 1.0]
REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["rt", "20ng"], choices=sorted(DATASETS))
    parser.add_argument("--output-dir", default="outputs/early_exit")
    parser.add_argument("--model", default="minilm", choices=sorted(MODELS),
                        help="the pretrained encoder: the shipped all-MiniLM-L6-v2 or the 12-layer all-mpnet-base-v2 "
                             "(resources.mpnet_path(); --variants only)")
    parser.add_argument("--exit-layers", type=int, nargs="+", default=None,
                        help="--variants: where the exits go (default: after every layer but the last)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: 1e-4 RT, 2e-4 20NG")
    parser.add_argument("--head-learning-rate", type=float, default=2e-3,
                        help="learning rate of the freshly initialised exits / classification heads")
    parser.add_argument("--test-size", type=int, default=None, help="subsample the test split (default: all)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="training examples to subsample (default: 2000 RT, 1500 20NG; 0 = all)")
    parser.add_argument("--exit-input", default="weighted_mean", choices=["weighted_mean", "weighted_cls", "mean", "cls"],
                        help="what the exits read (default: weighted_mean, as the MiniLM sentence encoder was trained "
                             "with mean pooling; weighted_cls is the paper's)")
    parser.add_argument("--exit-head", default="linear", choices=["linear", "mlp"],
                        help="what each exit puts on what it reads: a linear layer (default), or a dense layer with "
                             "tanh before it (mlp)")
    parser.add_argument("--baseline-layers", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--max-drop", type=float, default=0.5,
                        help="accuracy points below the full model allowed on validation when choosing the threshold")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CPU is shared)")
    parser.add_argument("--bf16", action="store_true",
                        help="--variants: train under bfloat16 autocast (TrainingArguments(bf16=True)); 1.5x faster "
                             "steps on a CPU with AVX-512 BF16, much slower on one without; evaluation stays float32")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="--variants: where training and the calibration / accuracy passes run; wall-clock "
                             "timing always runs on the CPU, with --threads threads")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds (best kept)")
    parser.add_argument("--save-steps", type=int, default=0,
                        help="--variants: save a Trainer checkpoint every N steps (0: none), so that a training "
                             "interrupted mid-way resumes from its last checkpoint when the command is run again")
    parser.add_argument("--timing-examples", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run: 200 train / 200 eval examples")
    parser.add_argument("--sweep-only", action="store_true",
                        help="reuse the model and baselines an earlier run saved under --output-dir (same data "
                             "options) and only redo the sweep, e.g. to re-time on a quieter machine")
    parser.add_argument("--no-copy-plots", action="store_true", help="do not copy plots to docs/images/")
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=None,
                        help="run the exits-on-a-classifier protocol for these variants (see the module docstring)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="--variants: one run per seed")
    parser.add_argument("--exit-epochs", type=float, default=1.0, help="--variants (b), (c): epochs of exits-only "
                        "training")
    parser.add_argument("--exit-lr-multiplier", type=float, default=20.0,
                        help="--variants: the exits' learning rate relative to the backbone's "
                             "(config.exit_learning_rate_multiplier)")
    parser.add_argument("--distillation-weight", type=float, default=0.5, help="--variants (c), (e)")
    parser.add_argument("--distillation-temperature", type=float, default=2.0, help="--variants (c), (e)")
    parser.add_argument("--backbone-lr", type=float, default=2e-5,
                        help="--variants (g): learning rate of (a)'s backbone and head (the new exits get the base "
                             "rate times --exit-lr-multiplier)")
    parser.add_argument("--anchor-weight", type=float, default=0.5,
                        help="--variants (g): share of each exit's loss distilled from the frozen (a), in [0, 1]")
    parser.add_argument("--anchor-temperature", type=float, default=2.0, help="--variants (g): its temperature")
    parser.add_argument("--layer-lr-decay", type=float, default=1.0,
                        help="--variants (g): layer l of the backbone learns at --backbone-lr times this to the power "
                             "l - 1 (config.layer_learning_rate_decay; below 1: the top stays closer to (a))")
    parser.add_argument("--alternate-objectives", action="store_true",
                        help="--variants (g): BERxiT's alternating objectives (Xin et al., EACL 2021): training steps "
                             "alternate between the last exit's loss and the other exits' losses")
    parser.add_argument("--anchor-epochs", type=float, default=None,
                        help="--variants (g): training epochs (default: --epochs)")
    parser.add_argument("--augment-copies", type=int, default=0,
                        help="--variants (g): also train on this many unlabelled variants of each training text "
                             "(a random span of 50-100%% of its words, 10%% of them dropped), labelled -100: the "
                             "exits learn them from the frozen (a) alone (distillation on unlabelled text)")
    parser.add_argument("--transfer-sets", nargs="+", default=[], choices=sorted(VADER_SETS),
                        help="--variants (g) on rt: also train on every text of these out-of-domain sentiment sets "
                             "(Hutto & Gilbert, 2014; their ratings unused), labelled -100: more unlabelled text for "
                             "the exits to learn from the frozen (a)")
    parser.add_argument("--unlabelled-files", nargs="+", default=[], type=Path, metavar="FILE",
                        help="--variants (g): also train on the texts of these files (JSON Lines with a `text` "
                             "field, or plain text with one text per line; e.g. the sentences "
                             "examples/generate_unlabelled_texts.py writes), labelled -100: more unlabelled text "
                             "for the exits to learn from the frozen (a)")
    parser.add_argument("--unlabelled-rest", action="store_true",
                        help="--variants (g) with --train-size: the training texts --train-size leaves out join as "
                             "unlabelled rows (their labels dropped, -100): in-domain text for the exits to learn "
                             "from the frozen (a), which saw only the labelled --train-size texts")
    parser.add_argument("--rescore", action="store_true",
                        help="--variants: bring finished runs up to the current protocol from their saved models "
                             "(thresholds measured from the better of (a) and the full model, timed again; per-exit "
                             "thresholds), or, for per-exit thresholds and the ceiling, from the exit logits a run "
                             "saved with --save-logits when its model is not under --output-dir")
    parser.add_argument("--save-logits", action="store_true",
                        help="--variants: also save every exit's validation and test logits and the labels next to "
                             "each run's JSON (`{variant}_seed{seed}_logits.safetensors`), so that other ways of "
                             "choosing thresholds can be studied, and --rescore can choose them again, without "
                             "the model")
    parser.add_argument("--summarize", action="store_true",
                        help="--variants: print the markdown table of the finished runs under --results-dir and exit")
    parser.add_argument("--plot", default=None, metavar="PNG",
                        help="--variants --summarize: also draw every variant's test curve (one panel per dataset)")
    parser.add_argument("--results-dir", default=str(REPO_ROOT / "outputs" / "results" / "early_exit"),
                        help="--variants: where each finished run's JSON goes")
    args = parser.parse_args(argv)
    if args.model != "minilm" and args.variants is None:
        parser.error("--model mpnet runs the --variants protocol only (the single-model sweep is MiniLM's)")
    for flag in ("rescore", "summarize", "plot"):
        if getattr(args, flag) and args.variants is None:
            parser.error(f"--{flag} works on the --variants runs: pass --variants (e.g. --variants a g) with the "
                         "--results-dir those runs wrote to")
    if args.plot and not args.summarize:
        parser.error("--plot draws the table --summarize prints: pass --summarize too")
    if args.augment_copies < 0:
        parser.error(f"--augment-copies must be >= 0, got {args.augment_copies}")
    if args.augment_copies and (args.variants is None or set(args.variants) - {"a", "g"}):
        parser.error("--augment-copies trains (g) only (its exits learn the variants from (a)): pass --variants g")
    if args.transfer_sets and (args.variants is None or set(args.variants) - {"a", "g"} or set(args.datasets) != {"rt"}):
        parser.error("--transfer-sets (sentiment texts) trains (g) on rt only: pass --variants g --datasets rt")
    if args.unlabelled_files and (args.variants is None or set(args.variants) - {"a", "g"}):
        parser.error("--unlabelled-files trains (g) only (its exits learn the texts from (a)): pass --variants g")
    for file in args.unlabelled_files:
        if not file.is_file():
            parser.error(f"--unlabelled-files: {file} does not exist (write one with "
                         "examples/generate_unlabelled_texts.py, or give a file of one text per line)")
        try:
            if not read_texts(file):
                parser.error(f"--unlabelled-files: {file} holds no text")
        except (HfNotlikeInputError, json.JSONDecodeError) as error:
            parser.error(f"--unlabelled-files: {error}")
    if args.unlabelled_rest and (args.variants is None or set(args.variants) - {"a", "g"} or not args.train_size):
        parser.error("--unlabelled-rest trains (g) on the texts --train-size leaves out: pass --variants g and "
                     "--train-size N (0 keeps every text labelled, so none is left)")
    if args.exit_layers is not None:
        depth = num_layers(args)
        if not all(0 < layer < depth for layer in args.exit_layers):
            parser.error(f"--exit-layers must lie in 1..{depth - 1} (the last layer's exit is the classifier's own "
                         f"head), got {args.exit_layers}")
    return args


def tokenize(splits, tokenizer, max_length: int):
    return splits.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=["text"],
    )


def train(model, train_set, tokenizer, args, learning_rate: float, output_dir: Path):
    training_args = TrainingArguments(
        output_dir=str(output_dir / "trainer"),
        per_device_train_batch_size=args.batch_size,
        learning_rate=learning_rate,
        num_train_epochs=args.epochs,
        warmup_steps=0.1,  # a float < 1 is a fraction of the steps
        weight_decay=0.01,
        train_sampling_strategy="group_by_length",
        logging_steps=25,
        **checkpointing(args),
        report_to="none",
        seed=args.seed,
        use_cpu=getattr(args, "device", "cpu") == "cpu",
        bf16=getattr(args, "bf16", False),
        disable_tqdm=False,
    )
    # The new heads read pooled [CLS] states that vary little between inputs in the lower layers of this checkpoint
    # (a sentence-transformer trained with mean pooling): at the backbone's learning rate they stay at the class
    # prior for the few hundred steps we can afford here, so they get their own, larger learning rate.
    head = [p for n, p in model.named_parameters() if n.startswith(("exits.", "classifier."))]
    body = [p for n, p in model.named_parameters() if not n.startswith(("exits.", "classifier."))]
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": learning_rate, "weight_decay": 0.01},
         {"params": head, "lr": args.head_learning_rate, "weight_decay": 0.0}],
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train_set,
                      data_collator=DataCollatorWithPadding(tokenizer), optimizers=(optimizer, None))
    seconds = fit(trainer, output_dir / "trainer")
    shutil.rmtree(output_dir / "trainer", ignore_errors=True)
    return seconds


class TrainingClock(TrainerCallback, ExportableState):
    """Wall-clock seconds of training, saved in every Trainer checkpoint (`stateful_callbacks` of
    `trainer_state.json`), so that a training resumed after an interruption reports the time of all the steps it
    kept, not only of its last segment."""

    def __init__(self, seconds: float = 0.0):
        self.seconds = seconds
        self._since = time.perf_counter()  # a clock restored from a checkpoint starts when the resumed run does

    def _tick(self) -> None:
        now = time.perf_counter()
        self.seconds, self._since = self.seconds + now - self._since, now

    def on_train_begin(self, args, state, control, **kwargs):
        self._since = time.perf_counter()

    def on_train_end(self, args, state, control, **kwargs):
        self._tick()

    def state(self) -> dict:
        self._tick()
        return {"args": {"seconds": self.seconds}, "attributes": {}}


def fit(trainer: Trainer, checkpoints: Path) -> float:
    """`trainer.train()`, resumed from the last complete checkpoint in `checkpoints` when there is one; returns the
    seconds of the whole training, interrupted segments included (`TrainingClock`)."""
    trainer.add_callback(TrainingClock())
    trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints))
    return next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TrainingClock)).seconds


def checkpointing(args) -> dict:
    """TrainingArguments for `--save-steps`: the last checkpoint only (weights, optimizer, scheduler, RNG states)."""
    steps = getattr(args, "save_steps", 0)
    return ({"save_strategy": "steps", "save_steps": steps, "save_total_limit": 1,
             "restore_callback_states_from_checkpoint": True} if steps else {"save_strategy": "no"})


def last_checkpoint(folder: Path) -> str | None:
    """The newest *complete* `checkpoint-*` folder an interrupted training left in `folder` (None: start from
    scratch). The Trainer writes `trainer_state.json` last, so a checkpoint cut off while being saved has none (or an
    unreadable one) and is skipped."""
    checkpoints = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1])
                         if p.name.rsplit("-", 1)[-1].isdigit() else -1, reverse=True) if folder.is_dir() else []
    for checkpoint in checkpoints:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
        except (OSError, ValueError):
            logger.warning("skipping the incomplete checkpoint %s", checkpoint)
            continue
        logger.info("resuming the interrupted training from %s", checkpoint)
        return str(checkpoint)
    return None


def choose_threshold(rows: list[dict], max_drop_points: float) -> float:
    """The fastest threshold (fewest mean layers) within `max_drop_points` of the full model's accuracy."""
    full = next(r for r in rows if r["threshold"] == 1.0)["accuracy"]
    ok = [r for r in rows if r["accuracy"] >= full - max_drop_points / 100]
    return min(ok, key=lambda r: (r["mean_layers"], -r["threshold"]))["threshold"]


def read_texts(path: Path) -> list[str]:
    """The texts of a JSON Lines file (`.jsonl`: the `text` field of every row) or of a plain text file (one per
    non-empty line)."""
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if Path(path).suffix != ".jsonl":
        return lines
    texts = []
    for number, line in enumerate(lines, 1):
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise HfNotlikeInputError(f"{path}, line {number}: expected a JSON object with a string `text` field, "
                                      f"got {line[:80]!r}")
        texts.append(row["text"])
    return texts


def prepare_splits(name: str, args):
    """The tokenized splits of dataset `name` (subsampled as the options say) and the tokenizer; with
    `--augment-copies`, `--transfer-sets` or `--unlabelled-files`, also an `augmented` split of unlabelled (-100)
    texts: variants of the training texts, the texts of the transfer sets and files."""
    loader, max_length, _, default_train_size, _, title = DATASETS[name]
    tokenizer = AutoTokenizer.from_pretrained(model_path(args))
    splits = loader()
    num_labels = splits["train"].features["label"].num_classes
    train_size = default_train_size if args.train_size is None else args.train_size
    if args.quick:
        train_size = 200
        for split in ("validation", "test"):
            splits[split] = splits[split].shuffle(seed=args.seed).select(range(200))
    if args.test_size and args.test_size < len(splits["test"]):
        splits["test"] = splits["test"].shuffle(seed=args.seed).select(range(args.test_size))
    rest = []
    if train_size and train_size < len(splits["train"]):
        shuffled = splits["train"].shuffle(seed=args.seed)
        splits["train"] = shuffled.select(range(train_size))
        if getattr(args, "unlabelled_rest", False):
            rest = [unlabelled_dataset(shuffled.select(range(train_size, len(shuffled)))["text"])]
    label_names = splits["train"].features["label"].names
    unlabelled = [span_variants(splits["train"], copies=args.augment_copies, seed=args.seed)] \
        if getattr(args, "augment_copies", 0) else []
    unlabelled += rest
    unlabelled += [unlabelled_dataset([row[2] for row in read_vader_ground_truth(name)])
                   for name in getattr(args, "transfer_sets", ())]
    unlabelled += [unlabelled_dataset(read_texts(file)) for file in getattr(args, "unlabelled_files", ())]
    if unlabelled:
        from datasets import Value, concatenate_datasets

        splits["augmented"] = concatenate_datasets(unlabelled)
        splits["train"] = splits["train"].cast_column("label", Value("int64"))
    splits = tokenize(splits, tokenizer, max_length)
    logger.info("%s: %s, %d labels, max_length %d", title, {k: len(v) for k, v in splits.items()}, num_labels,
                max_length)
    return splits, tokenizer, num_labels, label_names


def run_dataset(name: str, args) -> dict:
    _, max_length, lr, _, timing_examples, title = DATASETS[name]
    lr = args.learning_rate or lr
    out = Path(args.output_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    path = minilm_path()
    splits, tokenizer, num_labels, _ = prepare_splits(name, args)
    summary = {"dataset": title, "num_labels": num_labels, "max_length": max_length, "learning_rate": lr,
               "head_learning_rate": args.head_learning_rate, "batch_size": args.batch_size,
               "epochs": args.epochs, "train_examples": len(splits["train"]),
               "validation_examples": len(splits["validation"]), "test_examples": len(splits["test"]),
               "threads": torch.get_num_threads()}

    if args.sweep_only:
        model, baselines, summary = load_trained(out, args, summary)
    else:
        model, baselines, summary = train_and_calibrate(out, splits, tokenizer, path, num_labels, lr, args, summary)
    chosen = model.config.exit_threshold

    # 4. sweep on test
    timed = sorted({chosen, 0.9, 0.99} | ({0.6, 0.7} if num_labels > 2 else {0.7, 0.8}))
    result = speed_accuracy_curve(
        model, splits["test"], THRESHOLDS, timed_thresholds=timed, batch_sizes=(1, 32),
        num_timing_examples=args.timing_examples or (64 if args.quick else timing_examples), repeats=args.repeats,
        baselines=baselines, plot_path=str(out / DEFAULT_PLOT_NAME),
    )
    result.info = {**summary, **result.info}  # what the sweep itself records (threads, temperatures) wins
    result.plot(str(out / DEFAULT_PLOT_NAME), title=f"{title}: early-exit MiniLM-L6 (threshold chosen on dev: {chosen:g})")
    result.to_json(str(out / "model" / "sweep.json"))
    (out / "sweep.md").write_text(result.to_markdown() + "\n")
    if not (args.quick or args.no_copy_plots):
        images = REPO_ROOT / "docs" / "images"
        images.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / DEFAULT_PLOT_NAME, images / f"early_exit_{name}.png")
    return result.to_dict()


def load_trained(out: Path, args, summary: dict):
    """The calibrated model and the baselines saved by an earlier run, and that run's training details."""
    model_dir = out / "model"
    if not (model_dir / "sweep.json").is_file():
        raise SystemExit(f"--sweep-only: no finished run under {out} (no {model_dir / 'sweep.json'}); train first.")
    model = EarlyExitBertForSequenceClassification.from_pretrained(model_dir).eval()
    previous = json.loads((model_dir / "sweep.json").read_text())["info"]
    if previous.get("test_examples") != summary["test_examples"]:
        raise SystemExit(f"--sweep-only: the earlier run swept {previous.get('test_examples')} test examples, these "
                         f"options give {summary['test_examples']}: pass the same --test-size.")
    baselines = {f"{k}-layer model": BertForSequenceClassification.from_pretrained(out / f"baseline_{k}_layers").eval()
                 for k in args.baseline_layers}
    return model, baselines, {**previous, "threads": summary["threads"]}


def train_and_calibrate(out: Path, splits, tokenizer, path: str, num_labels: int, lr: float, args, summary: dict):
    """Steps 1-3 and the baselines; saves the model (with temperatures and threshold) and the baselines."""
    # 1. fine-tune the early-exit model
    torch.manual_seed(args.seed)
    model = EarlyExitBertForSequenceClassification.from_pretrained(path, num_labels=num_labels,
                                                                   exit_input=args.exit_input,
                                                                   exit_head=args.exit_head)
    model.config.id2label = dict(enumerate(splits["train"].features["label"].names))
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    summary["train_seconds"] = train(model, splits["train"], tokenizer, args, lr, out)
    model.eval()

    # 2. calibrate on validation; 3. choose the threshold on validation
    # (calibrate_temperatures in two steps, to reuse the validation logits for choosing the threshold)
    val_logits, val_labels = collect_exit_logits(model, splits["validation"], desc="Calibration pass")
    calibration = calibrate_from_logits(val_logits, val_labels, model.config.exit_layers)
    model.config.temperatures = calibration.temperatures
    print(calibration)
    val_curve = curve_from_logits(val_logits, val_labels, model.config.exit_layers, model.config.temperatures,
                                  THRESHOLDS)
    chosen = choose_threshold(val_curve, args.max_drop)
    summary["chosen_threshold"] = chosen
    model.config.exit_threshold = chosen
    model_dir = out / "model"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    with open(model_dir / "calibration.json", "w") as handle:
        json.dump(calibration.to_dict(), handle, indent=2)
    logger.info("threshold chosen on validation (max drop %.2f points): %s", args.max_drop, chosen)

    # the efficient baselines: the backbone truncated to k layers, fine-tuned alone as stock models
    baselines = {}
    for k in args.baseline_layers:
        torch.manual_seed(args.seed)
        baseline = BertForSequenceClassification.from_pretrained(path, num_labels=num_labels, num_hidden_layers=k)
        summary[f"train_seconds_{k}_layers"] = train(baseline, splits["train"], tokenizer, args, lr, out)
        baselines[f"{k}-layer model"] = baseline.eval()
        baseline.save_pretrained(out / f"baseline_{k}_layers")
    return model, baselines, summary


# ------------------------------------------------------------------------------- exits on an existing classifier


def trainer_args(args, output_dir: Path, learning_rate: float, epochs: float, seed: int) -> TrainingArguments:
    return TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=args.batch_size, learning_rate=learning_rate,
        num_train_epochs=epochs, warmup_steps=0.1, weight_decay=0.01, train_sampling_strategy="group_by_length",
        logging_steps=25, **checkpointing(args), report_to="none", seed=seed, use_cpu=args.device == "cpu",
        bf16=args.bf16, disable_tqdm=False,
    )


def classifier_accuracy(model, dataset) -> float:
    """Accuracy of a stock classifier (or of an early-exit model at its configured threshold)."""
    from hf_notlike.early_exit.tradeoff import _accuracy

    return _accuracy(model.eval(), dataset, 32, model.config.pad_token_id, next(model.parameters()).device)


def fastest_within(rows: list[dict], reference_accuracy: float, max_drop_points: float) -> dict | None:
    """The row with the fewest mean layers whose accuracy is within `max_drop_points` of `reference_accuracy`."""
    ok = [r for r in rows if r["accuracy"] >= reference_accuracy - max_drop_points / 100 - 1e-12]
    return min(ok, key=lambda r: (r["mean_layers"], -r["threshold"])) if ok else None


def train_variant(variant: str, splits, tokenizer, num_labels: int, label_names, lr: float, args, seed: int,
                  models: Path):
    """Trains variant `variant` (or loads it when an earlier, interrupted run saved it) and returns it."""
    folder = models / variant
    if (folder / "model.safetensors").is_file():
        logger.info("(%s) reusing the model saved in %s", variant, folder)
        return AutoModelForSequenceClassification.from_pretrained(folder).eval(), None
    torch.manual_seed(seed)
    id2label = dict(enumerate(label_names))
    distill = dict(distillation_weight=args.distillation_weight,
                   distillation_temperature=args.distillation_temperature) if variant in ("c", "e") else {}
    collator = DataCollatorWithPadding(tokenizer)
    if variant == "a":
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path(args), num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()})
        # a careful user's fine-tune: the new head at the example's head learning rate (see `train`)
        args_a = argparse.Namespace(**{**vars(args), "seed": seed})
        seconds = train(model, splits["train"], tokenizer, args_a, lr, folder)
    elif variant == "g":
        # the backbone (and (a)'s head) at --backbone-lr, the new exits at lr * --exit-lr-multiplier
        model = early_exit_from_classifier(
            models / "a", exit_layers=exit_layers(args), exit_input=args.exit_input, exit_head=args.exit_head,
            freeze_backbone=False,
            anchor_weight=args.anchor_weight, anchor_temperature=args.anchor_temperature,
            alternate_objectives=args.alternate_objectives, exit_learning_rate_multiplier=args.exit_lr_multiplier,
            backbone_learning_rate_multiplier=args.backbone_lr / lr, layer_learning_rate_decay=args.layer_lr_decay,
        )
        from datasets import concatenate_datasets

        train_set = concatenate_datasets([splits["train"], splits["augmented"]]) if "augmented" in splits \
            else splits["train"]
        seconds = fit(EarlyExitTrainer(model=model.train(), args=trainer_args(args, folder / "trainer", lr,
                                                                            anchor_epochs(args), seed),
                                       train_dataset=train_set, data_collator=collator), folder / "trainer")
    elif variant in ("b", "c"):
        model = early_exit_from_classifier(
            models / "a", exit_layers=exit_layers(args), exit_input=args.exit_input, exit_head=args.exit_head,
            exit_learning_rate_multiplier=args.exit_lr_multiplier, **distill,
        )
        seconds = fit(EarlyExitTrainer(model=model.train(), args=trainer_args(args, folder / "trainer", lr,
                                                                            args.exit_epochs, seed),
                                       train_dataset=splits["train"], data_collator=collator), folder / "trainer")
    else:
        layers = exit_layers(args) + [num_layers(args)]  # the last layer's exit is the classifier
        model = early_exit_class_for(model_path(args)).from_pretrained(
            model_path(args), num_labels=num_labels, id2label=id2label, label2id={v: k for k, v in id2label.items()},
            exit_layers=layers, exit_input=args.exit_input, exit_head=args.exit_head,
            exit_learning_rate_multiplier=args.exit_lr_multiplier,
            **distill, **({"exit_loss_weights": layers} if variant == "f" else {}),
        )
        seconds = fit(EarlyExitTrainer(model=model.train(), args=trainer_args(args, folder / "trainer", lr,
                                                                            args.epochs, seed),
                                       train_dataset=splits["train"], data_collator=collator), folder / "trainer")
    shutil.rmtree(folder / "trainer", ignore_errors=True)
    model.eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # evaluated as saved: after a `--bf16` training the in-memory model's forward still runs under the autocast
    # wrapper the Trainer installed, which would time and score bfloat16 against a float32 reference
    return AutoModelForSequenceClassification.from_pretrained(folder).eval(), seconds


def model_path(args) -> str:
    """The folder of the pretrained encoder `--model` names."""
    return MODELS[getattr(args, "model", "minilm")][0]()


def num_layers(args) -> int:
    return json.loads((Path(model_path(args)) / "config.json").read_text())["num_hidden_layers"]


def exit_layers(args) -> list[int]:
    """`--exit-layers`, or an exit after every layer but the last (whose exit is the classifier's own head)."""
    return sorted(set(getattr(args, "exit_layers", None) or range(1, num_layers(args))))


def anchor_epochs(args) -> float:
    return args.epochs if args.anchor_epochs is None else args.anchor_epochs


def write_reference(model, splits, folder: Path) -> dict:
    """(a)'s validation and test accuracy, also saved next to its model (`accuracy.json`): the reference of the
    variants built on that very model."""
    accuracy = {"validation_accuracy": classifier_accuracy(model, splits["validation"]),
                "test_accuracy": classifier_accuracy(model, splits["test"])}
    write_json(folder / "accuracy.json", accuracy)
    return accuracy


def run_variants(name: str, args) -> None:
    """The (a)-(g) protocol on dataset `name`; one JSON per finished (variant, seed) run, finished runs skipped."""
    _, max_length, lr, _, timing_examples, title = DATASETS[name]
    lr = args.learning_rate or lr
    results = Path(args.results_dir) / name
    results.mkdir(parents=True, exist_ok=True)
    splits = None
    for seed in args.seeds:
        models = Path(args.output_dir) / "variants" / name / f"seed{seed}"
        for variant in sorted(set(args.variants) | ({"a"} if set(args.variants) - {"a"} else set())):
            result_file = results / f"{variant}_seed{seed}.json"
            if result_file.is_file():
                logger.info("%s (%s) seed %d: done already (%s)", title, variant, seed, result_file)
                continue
            if splits is None:
                splits, tokenizer, num_labels, label_names = prepare_splits(name, args)
            if variant in "bcg" and not (models / "a" / "model.safetensors").is_file():
                logger.warning("%s (%s) seed %d: (a)'s model is not under %s (only its JSON): training (a) again, "
                               "and comparing (%s) with it", title, variant, seed, models / "a", variant)
                classifier, _ = train_variant("a", splits, tokenizer, num_labels, label_names, lr, args, seed, models)
                write_reference(classifier.to(args.device), splits, models / "a")
            model, train_seconds = train_variant(variant, splits, tokenizer, num_labels, label_names, lr, args, seed,
                                                 models)
            model.to(args.device)
            record = {"dataset": title, "model": MODELS[args.model][1], "variant": variant,
                      "description": VARIANTS[variant], "seed": seed,
                      "train_examples": len(splits["train"]), "validation_examples": len(splits["validation"]),
                      "test_examples": len(splits["test"]), "max_length": max_length, "learning_rate": lr,
                      "epochs": {"b": args.exit_epochs, "c": args.exit_epochs, "g": anchor_epochs(args)}.get(
                          variant, args.epochs), "batch_size": args.batch_size,
                      "train_seconds": train_seconds, "threads": torch.get_num_threads(), "device": args.device,
                      "bf16": args.bf16, **({"gpu": torch.cuda.get_device_name()} if args.device == "cuda" else {}),
                      **({"exit_input": args.exit_input, "exit_head": args.exit_head} if variant != "a" else {}),
                      "command": "python examples/train_early_exit.py " + " ".join(args.argv)}
            if variant == "g":
                record.update(anchor_weight=args.anchor_weight, anchor_temperature=args.anchor_temperature,
                              alternate_objectives=args.alternate_objectives,
                              layer_learning_rate_decay=args.layer_lr_decay,
                              augmented_examples=len(splits.get("augmented", ())),
                              transfer_sets=list(args.transfer_sets),
                              unlabelled_files=[str(file) for file in args.unlabelled_files],
                              unlabelled_rest=args.unlabelled_rest,
                              backbone_learning_rate=args.backbone_lr,
                              exit_learning_rate=lr * args.exit_lr_multiplier)
            if variant == "a":
                record.update(write_reference(model, splits, models / "a"))
            else:
                # (a)'s model here has its accuracies next to it; otherwise (an (a) trained elsewhere) its JSON
                local = models / "a" / "accuracy.json"
                record["reference"] = str(local) if local.is_file() else str(results / f"a_seed{seed}.json")
                record.update(evaluate_variant(variant, model, splits, Path(record["reference"]), models / "a",
                                               args, timing_examples,
                                               logits_file=results / f"{variant}_seed{seed}_logits.safetensors"
                                               if args.save_logits else None))
            write_json(result_file, record)
            logger.info("%s (%s) seed %d: %s", title, variant, seed,
                        {k: v for k, v in record.items() if "accuracy" in k or "speedup" in k})


def evaluate_variant(variant: str, model, splits, reference_file: Path, reference_dir: Path, args,
                     timing_examples: int, logits_file: Path | None = None) -> dict:
    """Calibration on validation, the threshold within `--max-drop` of (a) and of the model's own full depth on
    validation (`budget_reference`), the test curve, timing; with `logits_file`, every exit's validation and test
    logits and the labels are saved there (safetensors) before timing."""
    reference = json.loads(reference_file.read_text())
    val_logits, val_labels = collect_exit_logits(model, splits["validation"], desc="Validation pass")
    calibration = calibrate_from_logits(val_logits, val_labels, model.config.exit_layers)
    model.config.temperatures = calibration.temperatures
    val_curve = curve_from_logits(val_logits, val_labels, model.config.exit_layers, model.config.temperatures,
                                  THRESHOLDS)
    test_logits, test_labels = collect_exit_logits(model, splits["test"], desc="Test pass")
    if logits_file is not None:
        from safetensors.torch import save_file

        save_file({"validation_logits": val_logits.contiguous(), "validation_labels": val_labels.contiguous(),
                   "test_logits": test_logits.contiguous(), "test_labels": test_labels.contiguous()},
                  str(logits_file), metadata={"exit_layers": json.dumps(list(model.config.exit_layers)),
                                              "num_hidden_layers": str(model.config.num_hidden_layers)})
    test_curve = curve_from_logits(test_logits, test_labels, model.config.exit_layers, model.config.temperatures,
                                   THRESHOLDS)
    budget = budget_thresholds(val_logits, val_labels, test_logits, test_labels, model.config,
                               reference["validation_accuracy"], args.max_drop)
    budget.update(ceiling_thresholds(test_logits, test_labels, model.config, reference["test_accuracy"],
                                     args.max_drop))
    full = next(r for r in test_curve if r["threshold"] == 1.0)
    chosen_row = fastest_within(val_curve, budget_reference(reference["validation_accuracy"], val_curve),
                                args.max_drop)
    chosen = chosen_row["threshold"] if chosen_row else 1.0
    model.config.exit_threshold = chosen
    test_at_chosen = next(r for r in test_curve if r["threshold"] == chosen)
    oracle = fastest_within(test_curve, reference["test_accuracy"], args.max_drop)
    num_timing = min(len(splits["test"]), args.timing_examples or (64 if args.quick else timing_examples))
    timing = time_variant(model, splits["test"], chosen, reference_dir, args, num_timing,
                          per_exit={key: budget[f"{key}_thresholds"] for key in BUDGET_MARGINS})
    record = {
        "test_accuracy_full_model": full["accuracy"],
        "reference_test_accuracy": reference["test_accuracy"],
        "reference_validation_accuracy": reference["validation_accuracy"],
        "equals_reference_at_threshold_1": bool(variant in "bc" and abs(full["accuracy"] - reference["test_accuracy"])
                                                < 1e-12) if variant in "bc" else None,
        "temperatures": calibration.temperatures,
        "max_drop_points": args.max_drop,
        "threshold_reference": THRESHOLD_REFERENCE,
        "chosen_threshold": chosen,
        "test_accuracy_at_chosen": test_at_chosen["accuracy"],
        "mean_layers_at_chosen": test_at_chosen["mean_layers"],
        "layer_speedup_at_chosen": model.config.num_hidden_layers / test_at_chosen["mean_layers"],
        "test_oracle_threshold": oracle["threshold"] if oracle else None,
        "test_oracle_mean_layers": oracle["mean_layers"] if oracle else None,
        "exit_test_accuracies": exit_accuracies(test_logits, test_labels),
        "exit_validation_accuracies": exit_accuracies(val_logits, val_labels),
        "test_curve": test_curve,
        "validation_curve": val_curve,
        **budget,
        **timing,
    }
    return record


TIMING_SAMPLE_SEED = 0  # every variant and seed is timed on the same test documents


def time_variant(model, test_set, threshold: float, reference_dir: Path, args, num_timing: int,
                 per_exit: dict[str, list[float]] | None = None) -> dict:
    """Wall-clock timing on the CPU (whatever `--device` trained the model) of `model` at `threshold` and at 1.0
    against (a), on `num_timing` test examples drawn at random with `TIMING_SAMPLE_SEED` (a test split may be sorted
    by label, as 20 Newsgroups' is: its first rows are all one class); the accuracies of the record come from the
    full test pass. `per_exit` (JSON key prefix -> one threshold per exit, from `budget_thresholds`) adds those
    settings to the same interleaved run, each a copy of `model` with `config.exit_thresholds` (timed as a baseline
    of `speed_accuracy_curve`), giving `{prefix}_wallclock_speedup_vs_stock_bs{1,32}`. Returns the record's timing
    fields."""
    if (reference_dir / "config.json").is_file():
        stock, timing_reference = AutoModelForSequenceClassification.from_pretrained(reference_dir).eval(), "(a)"
    else:  # (a) was trained on another machine: time against the same architecture (the speed does not depend on
        # the weights), the pretrained backbone with a fresh head
        stock = AutoModelForSequenceClassification.from_pretrained(model_path(args),
                                                                   num_labels=model.config.num_labels).eval()
        timing_reference = f"stock {type(stock).__name__} of (a)'s architecture (the (a) weights were not here)"
    sample = test_set.shuffle(seed=TIMING_SAMPLE_SEED).select(range(num_timing))
    model = model.cpu()
    settings = {}
    for prefix, thresholds in (per_exit or {}).items():
        settings[prefix] = copy.deepcopy(model)
        settings[prefix].config.exit_thresholds = list(thresholds)
    timed = speed_accuracy_curve(
        model, sample, [threshold, 1.0], timed_thresholds=[threshold], batch_sizes=(1, 32),
        num_timing_examples=num_timing, repeats=args.repeats, stock_model=stock, baselines=settings,
        show_progress=False,
    ).to_dict()
    record = {"timing": timed, "timing_reference": timing_reference, "timing_sample": timing_sample(num_timing)}
    for row in timed["rows"]:
        if row.get("threshold") == threshold and row.get("kind") == "early_exit":
            prefix = "wallclock"
        elif row.get("kind") == "baseline" and row["name"] in settings:
            prefix = f"{row['name']}_wallclock"
        else:
            continue
        for size in (1, 32):
            for key in (f"speedup_vs_stock_bs{size}", f"speedup_bs{size}"):
                if key in row:
                    record[f"{prefix}_{key}"] = row[key]
    return record


def timing_sample(num_examples: int) -> str:
    """How the timed test documents were drawn (JSON field; records without it were timed on the first ones)."""
    return f"{num_examples} test examples drawn at random (seed {TIMING_SAMPLE_SEED})"


THRESHOLD_REFERENCE = "better of (a) and the full model"  # how the thresholds' budget is measured (JSON field)


def budget_reference(reference_validation_accuracy: float, val_curve: list[dict]) -> float:
    """The validation accuracy the budget is measured from: the better of (a)'s and the model's own full depth's
    (as `choose_thresholds(from_better_reference=True)` does): their gap on one split is mostly noise."""
    return max(reference_validation_accuracy, next(r for r in val_curve if r["threshold"] == 1.0)["accuracy"])


def exit_accuracies(exit_logits: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Each exit's accuracy on its own (every row answered there), first exit first."""
    return (exit_logits.argmax(-1) == labels[:, None]).double().mean(0).tolist()


BUDGET_MARGINS = {"per_exit": 0.0, "per_exit_margin": 0.005}  # JSON key prefix -> safety margin (fraction)


# in the note of a per-exit setting refused on validation since `choose_thresholds` looks past the full model
# (searching from a threshold that lets rows leave at an exit more accurate than the last); a note without it was
# written when the full model alone decided, and `--rescore` chooses that setting again
REFUSAL_MARK = "the best single threshold"


def budget_thresholds(val_logits, val_labels, test_logits, test_labels, config, reference_validation_accuracy: float,
                      max_drop_points: float) -> dict:
    """Per-exit thresholds chosen on validation within `max_drop_points` of (a)'s validation accuracy
    (`choose_thresholds`), without and with a safety margin, and their test accuracy and mean layers."""
    record = {}
    layers, temperatures = config.exit_layers, config.temperatures
    for key, margin in BUDGET_MARGINS.items():
        try:
            choice = choose_thresholds(val_logits, val_labels, layers, temperatures,
                                       reference_accuracy=reference_validation_accuracy,
                                       max_drop=max_drop_points / 100, margin=margin,
                                       num_layers=config.num_hidden_layers)
            thresholds, val_accuracy = choice.thresholds, choice.accuracy
            test = choice.evaluate(test_logits, test_labels)
        except ValueError as error:  # not even the full model meets the target on validation: it runs in full
            record[f"{key}_note"] = str(error)
            thresholds = [1.0] * len(layers)
            val_accuracy = curve_from_logits(val_logits, val_labels, layers, temperatures, [1.0])[0]["accuracy"]
            test = curve_from_logits(test_logits, test_labels, layers, temperatures, [1.0])[0]
        record.update(threshold_fields(key, thresholds, test, config.num_hidden_layers, margin=margin,
                                       validation_accuracy=val_accuracy))
    return record


def threshold_fields(prefix: str, thresholds: list[float], test: dict, num_layers: int, **extra) -> dict:
    """The JSON fields `<prefix>_*` of one per-exit threshold setting: the thresholds, `extra` (e.g. the margin),
    and on test (one row of `curve_from_logits` / `ThresholdChoice.evaluate`) the accuracy, the mean layers, the
    layer speed-up and the fraction of rows leaving at each exit."""
    return {f"{prefix}_thresholds": thresholds, **{f"{prefix}_{key}": value for key, value in extra.items()},
            f"{prefix}_test_accuracy": test["accuracy"], f"{prefix}_test_mean_layers": test["mean_layers"],
            f"{prefix}_layer_speedup": num_layers / test["mean_layers"],
            f"{prefix}_test_exit_fractions": test["exit_fractions"]}


def ceiling_thresholds(test_logits, test_labels, config, reference_test_accuracy: float,
                       max_drop_points: float) -> dict:
    """The ceiling of the exits as trained: per-exit thresholds chosen on test itself, the fastest within
    `max_drop_points` of (a)'s test accuracy (from (a) alone). No threshold rule can do better on test with these
    exits and this confidence, so a target this misses needs better exits, not better thresholds. Fields
    `per_exit_ceiling_*`, or `per_exit_ceiling_note` when even the full model is below the budget."""
    try:
        choice = choose_thresholds(test_logits, test_labels, config.exit_layers, config.temperatures,
                                   reference_accuracy=reference_test_accuracy, max_drop=max_drop_points / 100,
                                   from_better_reference=False, num_layers=config.num_hidden_layers)
    except ValueError as error:
        return {"per_exit_ceiling_note": str(error)}
    return threshold_fields("per_exit_ceiling", choice.thresholds, choice.evaluate(test_logits, test_labels),
                            config.num_hidden_layers)


def rescore_variants(name: str, args) -> None:
    """Brings finished runs up to the current protocol from the models saved under `--output-dir`: runs whose
    thresholds were measured from (a) alone are evaluated again (`evaluate_variant`: the same calibration, thresholds
    measured from the better reference, timing at the new threshold), their former fields kept under
    `reference_alone`; runs without per-exit thresholds get them (`budget_thresholds`, with the temperatures of the
    JSON) and each exit's own accuracy, as do runs refused them before the search looked past the full model (a
    note without `REFUSAL_MARK`); runs without the per-exit ceiling on test get it (`ceiling_thresholds`); runs
    timed on the first test examples, whose per-exit settings were not timed, or whose per-exit thresholds changed
    are timed again on the random sample (`time_variant`), a timing on other documents kept under
    `first_rows_timing`. A run whose model is not here but whose exit logits are (`--save-logits`) gets its per-exit
    thresholds and ceiling from them; a setting whose thresholds change then loses its timing (it needs the model)."""
    results = Path(args.results_dir) / name
    splits = None
    for file in sorted(results.glob("*_seed*.json")):
        record = json.loads(file.read_text())
        if record["variant"] == "a":
            continue
        folder = Path(args.output_dir) / "variants" / name / f"seed{record['seed']}" / record["variant"]
        if not (folder / "config.json").is_file():
            saved = file.with_name(f"{file.stem}_logits.safetensors")
            if saved.is_file():
                rescore_from_logits(file, record, saved)
            continue
        if splits is None:
            splits, _, _, _ = prepare_splits(name, args)
        if "test_curve" in record and record.get("threshold_reference") != THRESHOLD_REFERENCE:
            model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
            new = evaluate_variant(record["variant"], model, splits, Path(record["reference"]),
                                   folder.parent / "a", args, DATASETS[name][4])
            record["reference_alone"] = {k: v for k, v in record.items() if k in new and k not in (
                "test_curve", "validation_curve", "exit_test_accuracies", "exit_validation_accuracies")}
            record.update(new)
            write_json(file, record)
            logger.info("%s: thresholds from the better reference: %.2f points vs (a), %.2fx", file,
                        100 * (record["test_accuracy_at_chosen"] - record["reference_test_accuracy"]),
                        record["layer_speedup_at_chosen"])
            continue
        needs_budget, needs_ceiling = missing_thresholds(record)
        needs_timing = "timing" in record and (
            record.get("timing_sample") != timing_sample(record["timing"]["num_examples"])
            or any(f"{key}_wallclock_speedup_vs_stock_bs1" not in record for key in BUDGET_MARGINS))
        if not (needs_budget or needs_timing or needs_ceiling):
            continue
        model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        model.config.temperatures = record["temperatures"]
        if needs_budget or needs_ceiling:
            test = collect_exit_logits(model, splits["test"], desc="Test pass")
            val = collect_exit_logits(model, splits["validation"], desc="Validation pass") if needs_budget else None
            changed = choose_again(file, record, model.config, test, val, needs_ceiling)
            # settings whose thresholds changed are timed again
            needs_timing = needs_timing or ("timing" in record and bool(changed))
        if needs_timing:
            model.config.exit_threshold = record["chosen_threshold"]
            timing = time_variant(model, splits["test"], record["chosen_threshold"], folder.parent / "a", args,
                                  record["timing"]["num_examples"],
                                  per_exit={key: record[f"{key}_thresholds"] for key in BUDGET_MARGINS})
            if record.get("timing_sample") != timing["timing_sample"]:
                record["first_rows_timing"] = {key: record[key] for key in timing if key in record}
            record.update(timing)
            logger.info("%s: timed again on random test examples, at batch size 1: %s", file, ", ".join(
                f"{name} {record[key]:.2f}x" for name, key in [("global threshold", "wallclock_speedup_vs_stock_bs1")]
                + [(prefix, f"{prefix}_wallclock_speedup_vs_stock_bs1") for prefix in BUDGET_MARGINS]))
        write_json(file, record)


def missing_thresholds(record: dict) -> tuple[bool, bool]:
    """Whether a finished run needs its per-exit thresholds (and each exit's accuracy) chosen again (missing, or
    refused under the former rule: a note without `REFUSAL_MARK`), and whether it lacks the per-exit ceiling."""
    needs_budget = "per_exit_test_accuracy" not in record or "exit_test_accuracies" not in record or any(
        REFUSAL_MARK not in record.get(f"{key}_note", REFUSAL_MARK) for key in BUDGET_MARGINS)
    needs_ceiling = "per_exit_ceiling_layer_speedup" not in record and REFUSAL_MARK not in record.get(
        "per_exit_ceiling_note", "")
    return needs_budget, needs_ceiling


def choose_again(file: Path, record: dict, config, test: tuple, val: tuple | None, ceiling: bool) -> list[str]:
    """Updates `record` in place from exit logits `test` (and `val`): the per-exit ceiling when `ceiling`; with
    `val`, the per-exit thresholds of every `BUDGET_MARGINS` setting (former refusal notes dropped) and each exit's
    own accuracy. `config` gives the exit layers, the record's temperatures and the depth. Returns the settings
    whose thresholds changed (their timing is stale)."""
    if ceiling:
        record.pop("per_exit_ceiling_note", None)
        record.update(ceiling_thresholds(*test, config, record["reference_test_accuracy"], record["max_drop_points"]))
        if "per_exit_ceiling_layer_speedup" in record:
            logger.info("%s: per-exit ceiling on test %.4f, %.2fx", file, record["per_exit_ceiling_test_accuracy"],
                        record["per_exit_ceiling_layer_speedup"])
    if val is None:
        return []
    former = {key: record.get(f"{key}_thresholds") for key in BUDGET_MARGINS}
    for key in BUDGET_MARGINS:
        record.pop(f"{key}_note", None)
    record.update(budget_thresholds(*val, *test, config, record["reference_validation_accuracy"],
                                    record["max_drop_points"]),
                  exit_test_accuracies=exit_accuracies(*test), exit_validation_accuracies=exit_accuracies(*val))
    logger.info("%s: per-exit thresholds added (test %.4f, %.2fx)", file, record["per_exit_test_accuracy"],
                record["per_exit_layer_speedup"])
    return [key for key in BUDGET_MARGINS if record[f"{key}_thresholds"] != former[key]]


def rescore_from_logits(file: Path, record: dict, saved: Path) -> None:
    """`rescore_variants` for a run whose model is not here: the per-exit thresholds (when missing or refused under
    the former rule) and the ceiling (when missing) from the exit logits the run saved; a per-exit setting whose
    thresholds change loses its wall-clock fields, which only the model could measure again."""
    from safetensors import safe_open

    needs_budget, needs_ceiling = missing_thresholds(record)
    if not (needs_budget or needs_ceiling):
        return
    with safe_open(str(saved), "pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    config = argparse.Namespace(exit_layers=json.loads(metadata["exit_layers"]), temperatures=record["temperatures"],
                                num_hidden_layers=int(metadata["num_hidden_layers"]))
    test = tensors["test_logits"], tensors["test_labels"]
    val = (tensors["validation_logits"], tensors["validation_labels"]) if needs_budget else None
    for key in choose_again(file, record, config, test, val, needs_ceiling):
        stale = [field for field in record if field.startswith(f"{key}_wallclock_")]
        for field in stale:
            del record[field]
        if stale:
            logger.warning("%s: the %s thresholds changed but the model is not under --output-dir: their "
                           "wall-clock fields are dropped; rescore with the model to time them", file, key)
    logger.info("%s: rescored from its saved exit logits (%s)", file, saved)
    write_json(file, record)


def finished_runs(name: str, args, key: str | None = None) -> dict[str, list[dict]]:
    """The finished runs' JSON records of dataset `name` under `--results-dir`, by variant (those holding `key`)."""
    runs: dict[str, list[dict]] = {}
    for file in sorted((Path(args.results_dir) / name).glob("*_seed*.json")):
        record = json.loads(file.read_text())
        if key is None or key in record:
            runs.setdefault(record["variant"], []).append(record)
    return runs


def summarize_budget(name: str, args) -> str:
    """Per-exit thresholds chosen on validation within `--max-drop` of (a) (no margin / 0.5-point margin): test
    accuracy against (a) of the same seed, layer speed-up and the wall-clock speed-up against (a) at batch size 1
    where it was timed ("–" for a seed timed before the per-exit settings were), means over seeds with the per-seed
    values."""
    runs = finished_runs(name, args, "per_exit_test_accuracy")
    lines = ["| variant | seeds | thresholds | test acc. vs (a), points (per seed) | layer speed-up (per seed) | "
             "measured bs 1 (per seed) |", "|---|---|---|---|---|---|"]
    for variant in sorted(runs):
        records = sorted(runs[variant], key=lambda r: r["seed"])
        for key, margin in BUDGET_MARGINS.items():
            drops = [100 * (r[f"{key}_test_accuracy"] - r["reference_test_accuracy"]) for r in records]
            speedups = [r[f"{key}_layer_speedup"] for r in records]
            measured = [r.get(f"{key}_wallclock_speedup_vs_stock_bs1") for r in records]
            timed = [m for m in measured if m is not None]
            lines.append(
                f"| ({variant}) {VARIANTS[variant]} | {len(records)} | per exit, margin {100 * margin:g} points | "
                f"{_mean_and_seeds(drops, '+.2f')} | {_mean_and_seeds(speedups, '.2f')} | "
                f"{f'{sum(timed) / len(timed):.2f}' if timed else '–'} "
                f"({', '.join('–' if m is None else f'{m:.2f}' for m in measured)}) |")
        ceilings = [r for r in records if "per_exit_ceiling_layer_speedup" in r]
        if ceilings:  # chosen on test itself: what no rule choosing on validation can beat with these exits
            drops = [100 * (r["per_exit_ceiling_test_accuracy"] - r["reference_test_accuracy"]) for r in ceilings]
            speedups = [r["per_exit_ceiling_layer_speedup"] for r in ceilings]
            lines.append(f"| ({variant}) {VARIANTS[variant]} | {len(ceilings)} | per exit, chosen on test (ceiling) | "
                         f"{_mean_and_seeds(drops, '+.2f')} | {_mean_and_seeds(speedups, '.2f')} | – |")
    return "\n".join(lines)


def _mean_and_seeds(values: list[float], spec: str) -> str:
    """`mean (per seed, ...)` of a table cell, each number formatted with `spec`."""
    return f"{sum(values) / len(values):{spec}} ({', '.join(f'{v:{spec}}' for v in values)})"


def summarize_references(name: str, args) -> str:
    """The global threshold chosen on validation within `--max-drop` of (a) alone, and of the better of (a) and
    the model's own full depth, from each run's saved curves: test accuracy against (a) of the same seed and layer
    speed-up, means over seeds with the per-seed values."""
    runs = finished_runs(name, args, "validation_curve")
    lines = ["| variant | seeds | budget measured from | test acc. vs (a), points (per seed) | layer speed-up (per seed) |",
             "|---|---|---|---|---|"]
    for variant in sorted(runs):
        records = sorted(runs[variant], key=lambda r: r["seed"])
        for label, better in (("(a) alone", False), ("better of (a) and the full model", True)):
            drops, speedups = [], []
            for r in records:
                reference = r["reference_validation_accuracy"]
                reference = budget_reference(reference, r["validation_curve"]) if better else reference
                row = fastest_within(r["validation_curve"], reference, r["max_drop_points"])
                threshold = row["threshold"] if row else 1.0
                test = next(t for t in r["test_curve"] if t["threshold"] == threshold)
                drops.append(100 * (test["accuracy"] - r["reference_test_accuracy"]))
                speedups.append(test["ideal_speedup"])
            lines.append(
                f"| ({variant}) {VARIANTS[variant]} | {len(records)} | {label} | "
                f"{_mean_and_seeds(drops, '+.2f')} | {_mean_and_seeds(speedups, '.2f')} |")
    return "\n".join(lines)


def summarize_exits(name: str, args) -> str:
    """Each exit's own test accuracy (every row answered there), means over the seeds, against (a)'s."""
    runs = finished_runs(name, args, "exit_test_accuracies")
    if not runs:
        return ""
    width = max(len(r["exit_test_accuracies"]) for records in runs.values() for r in records)
    lines = ["| variant | seeds | (a) | " + " | ".join(f"exit {k + 1}" for k in range(width)) + " |",
             "|---|---|---|" + "---|" * width]
    for variant in sorted(runs):
        records = runs[variant]
        exits = min(len(r["exit_test_accuracies"]) for r in records)  # runs with other exit layers: the common ones
        columns = [sum(r["exit_test_accuracies"][k] for r in records) / len(records) for k in range(exits)]
        columns += [None] * (width - exits)
        reference = sum(r["reference_test_accuracy"] for r in records) / len(records)
        lines.append(f"| ({variant}) {VARIANTS[variant]} | {len(records)} | {100 * reference:.2f}% | "
                     + " | ".join("–" if c is None else f"{100 * c:.2f}%" for c in columns) + " |")
    return "\n".join(lines)


def summarize_variants(name: str, args) -> str:
    """The markdown table of the finished (variant, seed) runs of dataset `name` (mean over seeds, with the count)."""
    runs = finished_runs(name, args)

    def mean(records, key):
        values = [r[key] for r in records if r.get(key) is not None]
        return sum(values) / len(values) if values else None

    def fmt(value, spec):
        return "–" if value is None else format(value, spec)

    def span(records, key, spec):
        values = sorted({r[key] for r in records if r.get(key) is not None})
        return "–" if not values else (format(values[0], spec) if len(values) == 1
                                       else f"{format(values[0], spec)}-{format(values[-1], spec)}")

    lines = ["| variant | seeds | train examples | device | full model: test acc. | threshold (dev) | test acc. at it | "
             "vs (a), points | mean layers | layer speed-up | wall-clock vs (a), bs 1 | bs 32 | "
             "layer speed-up within 1 point of (a) on test (oracle) | same, within 1 point of its own full model |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for variant in sorted(runs):
        records = runs[variant]
        full = mean(records, "test_accuracy" if variant == "a" else "test_accuracy_full_model")
        drop = None if variant == "a" else mean(
            [{"d": r["test_accuracy_at_chosen"] - r["reference_test_accuracy"]} for r in records], "d")
        oracle = None if variant == "a" else mean(
            [{"s": r["test_curve"][-1]["mean_layers"] / r["test_oracle_mean_layers"]} for r in records
             if r.get("test_oracle_mean_layers")], "s")
        missing = 0 if variant == "a" else sum(not r.get("test_oracle_mean_layers") for r in records)
        oracle_text = ("none" if missing == len(records) else fmt(oracle, ".2f")
                       + (f" ({len(records) - missing} of {len(records)} seeds; none in the others)" if missing else ""))
        own = None if variant == "a" else mean(
            [{"s": r["test_curve"][-1]["mean_layers"] / fastest_within(
                r["test_curve"], r["test_curve"][-1]["accuracy"], r["max_drop_points"])["mean_layers"]}
             for r in records], "s")
        lines.append(
            f"| ({variant}) {VARIANTS[variant]} | {len(records)} | {records[0]['train_examples']} | "
            f"{'/'.join(sorted({r.get('device', 'cpu') for r in records}))} | "
            f"{fmt(100 * full, '.2f')}% | {span(records, 'chosen_threshold', 'g')} | "
            f"{fmt(None if variant == 'a' else 100 * mean(records, 'test_accuracy_at_chosen'), '.2f')} | "
            f"{fmt(None if drop is None else 100 * drop, '+.2f')} | "
            f"{fmt(mean(records, 'mean_layers_at_chosen'), '.2f')} | {fmt(mean(records, 'layer_speedup_at_chosen'), '.2f')}"
            f" | {fmt(mean(records, 'wallclock_speedup_vs_stock_bs1'), '.2f')} | "
            f"{fmt(mean(records, 'wallclock_speedup_vs_stock_bs32'), '.2f')} | {'–' if variant == 'a' else oracle_text} | "
            f"{fmt(own, '.2f')} |"
        )
    return "\n".join(lines)


VARIANT_STYLES = {"b": ("tab:blue", "-"), "c": ("tab:cyan", "--"), "d": ("tab:orange", "-"), "e": ("tab:red", "--"),
                  "f": ("tab:green", "-"), "g": ("tab:purple", "-")}


def plot_variants(names: list[str], args, path: str):
    """One panel per dataset: each variant's test accuracy against its layer speed-up over every threshold (means
    over the seeds, threshold by threshold), (a)'s accuracy and the band of the runs' budget (`max_drop_points`)
    under it, a star at each variant's threshold chosen on validation, and, where the runs have them, a plus at the
    per-exit thresholds chosen on validation and a diamond at their ceiling chosen on test (each the mean test
    accuracy and layer speed-up over the seeds)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2 * len(names), 4.6))
    FigureCanvasAgg(fig)
    for index, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), index + 1)
        runs = finished_runs(name, args)
        reference = runs.get("a")
        budget = next((r["max_drop_points"] for v, records in runs.items() if v != "a" for r in records
                       if "max_drop_points" in r), args.max_drop)
        if reference:
            accuracy = 100 * sum(r["test_accuracy"] for r in reference) / len(reference)
            ax.axhspan(accuracy - budget, accuracy, color="grey", alpha=0.12,
                       label=f"(a) plain classifier, and {budget:g} point{'s' * (budget != 1)} below it")
            ax.axhline(accuracy, color="black", lw=1)
        num_layers = None
        for variant, (colour, style) in VARIANT_STYLES.items():
            records = runs.get(variant)
            if not records:
                continue
            by_threshold: dict[float, list[dict]] = {}
            for record in records:
                for row in record["test_curve"]:
                    by_threshold.setdefault(row["threshold"], []).append(row)
            rows = [by_threshold[t] for t in sorted(by_threshold) if len(by_threshold[t]) == len(records)]
            layers = num_layers = records[0]["test_curve"][-1]["mean_layers"]  # threshold 1.0: every layer
            xs = [layers / (sum(r["mean_layers"] for r in group) / len(group)) for group in rows]
            ys = [100 * sum(r["accuracy"] for r in group) / len(group) for group in rows]
            ax.plot(xs, ys, style, marker=".", color=colour,
                    label=f"({variant}) {VARIANTS[variant]}, {len(records)} seed{'s' * (len(records) > 1)}")
            ax.plot(sum(r["layer_speedup_at_chosen"] for r in records) / len(records),
                    100 * sum(r["test_accuracy_at_chosen"] for r in records) / len(records), "*", ms=13,
                    color=colour, mec="black", mew=0.6)
            for prefix, marker in (("per_exit", "P"), ("per_exit_ceiling", "D")):
                done = [r for r in records if f"{prefix}_layer_speedup" in r]
                if len(done) == len(records):
                    ax.plot(sum(r[f"{prefix}_layer_speedup"] for r in done) / len(done),
                            100 * sum(r[f"{prefix}_test_accuracy"] for r in done) / len(done), marker, ms=8,
                            color=colour if marker == "P" else "white", mec=colour if marker == "D" else "black",
                            mew=1.2 if marker == "D" else 0.6)
        ax.plot([], [], "*", color="white", mec="black", ms=11, label="threshold chosen on validation")
        if any("per_exit_layer_speedup" in r for v, records in runs.items() if v != "a" for r in records):
            ax.plot([], [], "P", color="white", mec="black", ms=8, label="per-exit thresholds chosen on validation")
            ax.plot([], [], "D", color="white", mec="black", ms=7,
                    label="per-exit thresholds chosen on test (ceiling)")
        title = DATASETS[name][5]
        ax.set_title(f"{title}: test accuracy against layer speed-up")
        depth = f"{num_layers:g}" if num_layers else "layers"
        ax.set_xlabel(f"layer speed-up over the full model ({depth} / mean layers run)")
        ax.set_ylabel("test accuracy (%)")
        if reference:
            ax.set_ylim(accuracy - 6, accuracy + 0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return fig


def main(argv=None):
    args = parse_args(argv)
    args.argv = list(argv) if argv is not None else __import__("sys").argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    hf_logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    if args.bf16 and args.device == "cpu" and not args.summarize and not bf16_trains_faster():
        logger.warning("--bf16: bfloat16 matrix products are not faster than float32 ones on this CPU (it has no "
                       "native bfloat16 instructions such as AVX-512 BF16 or AMX), so training gets slower: a 2-core "
                       "AVX2 CPU took 203 s for the first MPNet-12 training step, 7 s in float32. Drop --bf16 here.")
    start = time.perf_counter()
    for name in args.datasets:
        if args.variants is not None and args.rescore:
            rescore_variants(name, args)
            continue
        if args.variants is not None and args.summarize:
            print(summarize_variants(name, args))
            print()
            print(summarize_budget(name, args))
            print()
            print(summarize_references(name, args))
            print()
            print(summarize_exits(name, args))
            continue
        if args.variants is not None:
            run_variants(name, args)
            continue
        run_dataset(name, args)
        logger.info("%s done after %.1f min in all", name, (time.perf_counter() - start) / 60)
    if args.variants is not None and args.summarize and args.plot:
        plot_variants(args.datasets, args, args.plot)
        logger.info("plot written to %s", args.plot)


if __name__ == "__main__":
    main()
