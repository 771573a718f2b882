# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Collation speed: `DataCollatorForVLMasking` (each strategy) against transformers' whole-word-masking collator.

All collators get the same rows: Guardian headlines tokenized once by the MiniLM WordPiece tokenizer, padded to a
fixed length (transformers' `DataCollatorForLanguageModeling(whole_word_mask=True)` needs an `offset_mapping` of
one length per batch) and tagged once by `VLMaskingTagger`. Each collator gets the columns it reads. The speed is
batches per second over all headlines, the best of `--repeats` passes, on one CPU thread; the ratio column divides
by the stock whole-word collator measured in the same run. A second table compares, on the same headlines padded
per batch, with the stock token-level collator (the whole-word one cannot pad `offset_mapping` per batch).

    python examples/bench_masking.py [--batch-size 32] [--repeats 3] [--max-length 48]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoTokenizer, DataCollatorForLanguageModeling

from hf_notlike.masking import MASKING_STRATEGIES, DataCollatorForVLMasking, VLLexicon
from hf_notlike.resources import concreteness_path, load_guardian_headlines, minilm_path

STOCK_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "special_tokens_mask", "offset_mapping")


def batches_per_second(collator, batches: list[list[dict]], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            collator(batch)
        best = min(best, time.perf_counter() - start)
    return len(batches) / best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=48)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    lexicon = VLLexicon(concreteness=concreteness_path())
    tagger = DataCollatorForVLMasking(tokenizer, strategy="top_concrete", lexicon=lexicon).tagger(
        max_length=args.max_length, padding="max_length", return_offsets_mapping=True
    )
    rows = load_guardian_headlines().map(tagger, batched=True, remove_columns=["text"], desc="tagging").to_list()
    ours = [rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    stock_rows = [{key: row[key] for key in STOCK_COLUMNS if key in row} for row in rows]
    stock = [stock_rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stock collator warns that whole-word masking forces [MASK]-only
        reference = DataCollatorForLanguageModeling(tokenizer, whole_word_mask=True, seed=0)
    base = batches_per_second(reference, stock, args.repeats)
    results = [("`DataCollatorForLanguageModeling(whole_word_mask=True)`", base)]
    token_level = DataCollatorForLanguageModeling(tokenizer, seed=0)
    plain = [[{k: v for k, v in row.items() if k != "offset_mapping"} for row in batch] for batch in stock]
    speed = batches_per_second(token_level, plain, args.repeats)
    results.append(("`DataCollatorForLanguageModeling()` (token level)", speed))
    for strategy in MASKING_STRATEGIES:
        collator = DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=0, lexicon=lexicon)
        speed = batches_per_second(collator, ours, args.repeats)
        results.append((f"`DataCollatorForVLMasking(strategy=\"{strategy}\")`", speed))

    print(f"{len(rows)} Guardian headlines, {len(ours)} batches of {args.batch_size} padded to {args.max_length} "
          f"tokens, best of {args.repeats} passes, torch threads 1.\n")
    print("| collator | batches/s | ratio to stock whole-word |")
    print("|---|---:|---:|")
    for name, speed in results:
        print(f"| {name} | {speed:.1f} | {speed / base:.2f}x |")

    # dynamic padding (rows of their own length, padded per batch): the stock whole-word collator cannot pad
    # `offset_mapping`, so the reference is the stock token-level collator
    dynamic_tagger = DataCollatorForVLMasking(tokenizer, strategy="top_concrete", lexicon=lexicon).tagger(
        max_length=args.max_length
    )
    rows = load_guardian_headlines().map(dynamic_tagger, batched=True, remove_columns=["text"], desc="tagging")
    rows = rows.to_list()
    ours = [rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    plain = [[{key: row[key] for key in STOCK_COLUMNS if key in row} for row in batch] for batch in ours]
    base = batches_per_second(token_level, plain, args.repeats)
    print("\nThe same headlines without fixed padding (each batch padded to its longest row):\n")
    print("| collator | batches/s | ratio to stock token-level |")
    print("|---|---:|---:|")
    print(f"| `DataCollatorForLanguageModeling()` (token level) | {base:.1f} | 1.00x |")
    for strategy in MASKING_STRATEGIES:
        collator = DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=0, lexicon=lexicon)
        speed = batches_per_second(collator, ours, args.repeats)
        print(f"| `DataCollatorForVLMasking(strategy=\"{strategy}\")` | {speed:.1f} | {speed / base:.2f}x |")


if __name__ == "__main__":
    main()
