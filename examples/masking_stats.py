# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""What each masking strategy masks on short, caption-like texts (Guardian headlines).

For BERT's random masking and each strategy of `DataCollatorForVLMasking`, over every headline: the share of
texts with no masked token, the share of masked tokens that are stop-words or punctuation, and the mean number of
masked tokens per text. Bitton et al. (2021) report about a third and about a half for random masking on captions.

    python examples/masking_stats.py [--epochs 3] [--seed 0] [--batch-size 64]

Prints a markdown table.
"""

from __future__ import annotations

import argparse

import torch
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from hf_notlike.masking import MASKING_STRATEGIES, TAG_STOP, TAGS_COLUMN, DataCollatorForVLMasking, VLLexicon
from hf_notlike.resources import concreteness_path, load_guardian_headlines, minilm_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3, help="passes over the headlines (fresh masks each pass)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--short", type=int, default=10, help="a text of at most this many tokens counts as short")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    lexicon = VLLexicon(concreteness=concreteness_path())
    headlines = load_guardian_headlines()
    tagger = DataCollatorForVLMasking(tokenizer, strategy="top_concrete", lexicon=lexicon).tagger(
        max_length=args.max_length
    )
    data = headlines.map(tagger, batched=True, remove_columns=["text"], desc="tagging")
    rows = data.to_list()
    mean_tokens = sum(sum(1 for w in row["vl_word_ids"] if w >= 0) for row in rows) / len(rows)

    print(f"Guardian headlines: {len(rows)} texts, {mean_tokens:.1f} word-piece tokens per text on average "
          f"(MiniLM WordPiece tokenizer), {args.epochs} masking passes, seed {args.seed}.\n")
    short = [len([w for w in row["vl_word_ids"] if w >= 0]) <= args.short for row in rows]
    print(f"| strategy | texts with no masked token | same, texts of <= {args.short} tokens ({sum(short)}) "
          "| masked tokens that are stop-words/punctuation | masked tokens per text |")
    print("|---|---:|---:|---:|---:|")
    for strategy in MASKING_STRATEGIES:
        collator = DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=args.seed, lexicon=lexicon)
        texts = unmasked = masked_tokens = masked_stop = short_texts = short_unmasked = 0
        for _ in range(args.epochs):
            for start in tqdm(range(0, len(rows), args.batch_size), desc=strategy, leave=False):
                features = rows[start : start + args.batch_size]
                batch = collator(features)
                masked = batch["labels"] != -100
                tags = torch.zeros_like(masked, dtype=torch.long)
                for i, row in enumerate(features):
                    tags[i, : len(row[TAGS_COLUMN])] = torch.tensor(row[TAGS_COLUMN])
                texts += len(features)
                none = ~masked.any(dim=1)
                unmasked += int(none.sum())
                is_short = torch.tensor(short[start : start + args.batch_size])
                short_texts += int(is_short.sum())
                short_unmasked += int((none & is_short).sum())
                masked_tokens += int(masked.sum())
                masked_stop += int((masked & (tags & TAG_STOP != 0)).sum())
        print(f"| {strategy} | {100 * unmasked / texts:.1f}% | {100 * short_unmasked / max(short_texts, 1):.1f}% "
              f"| {100 * masked_stop / max(masked_tokens, 1):.1f}% "
              f"| {masked_tokens / texts:.2f} |")


if __name__ == "__main__":
    main()
