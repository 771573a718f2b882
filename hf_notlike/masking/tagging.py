# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Tokenize captions and tag their words once, as a `datasets.map` preprocessing step.

[`VLMaskingTagger`] tokenizes the text with a fast tokenizer and adds, for every token, the index of the word it
belongs to (from the tokenizer's `word_ids()`, so words are what the tokenizer's pre-tokenizer splits: "dog." is
the two words "dog" and "."), a bit field of word tags (stop-word/punctuation, object) and, when the lexicon has
concreteness norms, the word's rating. [`DataCollatorForVLMasking`] then masks whole words from these columns with
tensor operations, without looking at strings in the collate loop.

Example:

```python
>>> from transformers import AutoTokenizer
>>> from hf_notlike.masking import VLMaskingTagger
>>> from hf_notlike.resources import minilm_path
>>> tokenizer = AutoTokenizer.from_pretrained(minilm_path())
>>> tagger = VLMaskingTagger(tokenizer)
>>> row = tagger({"text": ["Two dogs play."]})
>>> row["vl_word_ids"][0], row["vl_word_tags"][0]
([-1, 0, 1, 2, 3, -1], [0, 0, 2, 0, 1, 0])
```

(`vl_word_tags`: 1 = stop-word or punctuation, 2 = object word; 0 = other content word or a special token.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import HfNotlikeTypeError
from .lexicon import VLLexicon

__all__ = [
    "CONCRETENESS_COLUMN",
    "TAG_OBJECT",
    "TAG_STOP",
    "TAGS_COLUMN",
    "VLMaskingTagger",
    "WORD_IDS_COLUMN",
]

WORD_IDS_COLUMN = "vl_word_ids"
TAGS_COLUMN = "vl_word_tags"
CONCRETENESS_COLUMN = "vl_concreteness"
TAG_STOP = 1  # stop-word or punctuation
TAG_OBJECT = 2  # names an object (grounded label or object vocabulary)


def _check_fast(tokenizer: Any, who: str) -> None:
    if not getattr(tokenizer, "is_fast", False) or not hasattr(tokenizer, "backend_tokenizer"):
        raise HfNotlikeTypeError(
            f"{who} needs a fast tokenizer (one backed by the `tokenizers` library, exposing `word_ids()` and "
            f"offsets); got {type(tokenizer).__name__}. Load it with `AutoTokenizer.from_pretrained(...)` "
            "(fast by default) or wrap a `tokenizers.Tokenizer` in `PreTrainedTokenizerFast`."
        )


@dataclass
class VLMaskingTagger:
    """A `datasets.map` function that tokenizes captions and tags their words for [`DataCollatorForVLMasking`].

    Args:
        tokenizer ([`PreTrainedTokenizerFast`]):
            A fast tokenizer (WordPiece as in BERT/LXMERT or byte-level BPE as in RoBERTa).
        lexicon ([`VLLexicon`], *optional*):
            Stop-words, object words and concreteness norms; defaults to `VLLexicon()` (no concreteness).
        text_column (`str`, *optional*, defaults to `"text"`):
            The column with the captions.
        object_labels_column (`str`, *optional*, defaults to `"object_labels"`):
            A column with each image's detected object labels (a list of strings). When an example has a non-empty
            list, its object words are the words of those labels (grounded); otherwise the lexicon's object words.
        object_label_names (`Sequence[str]`, *optional*):
            Names of LXMERT's object classes; when given and an example carries LXMERT `obj_labels`
            (`{"obj": (class_ids, confidences), ...}`), the class ids are mapped to names and used as grounded
            labels.
        max_length (`int`, *optional*):
            Truncate (and, with `padding="max_length"`, pad) to this many tokens.
        padding (`bool` or `str`, *optional*, defaults to `False`):
            Passed to the tokenizer; leave it `False` to let the collator pad each batch dynamically.
        return_offsets_mapping (`bool`, *optional*, defaults to `False`):
            Keep the `offset_mapping` column (what transformers'
            `DataCollatorForLanguageModeling(whole_word_mask=True)` needs, e.g. to compare both collators on the
            same rows).

    Use it with `batched=True` (a single example also works):

    ```python
    >>> from datasets import Dataset
    >>> data = Dataset.from_dict({"text": ["A man rides a horse.", "Two cats on a sofa"]})
    >>> data = data.map(VLMaskingTagger(tokenizer), batched=True, remove_columns=["text"])  # doctest: +SKIP
    ```
    """

    tokenizer: Any
    lexicon: VLLexicon | None = None
    text_column: str = field(default="text", metadata={"help": "Column with the captions."})
    object_labels_column: str | None = field(
        default="object_labels", metadata={"help": "Column with each image's detected object labels (strings)."}
    )
    object_label_names: Sequence[str] | None = field(
        default=None, metadata={"help": "Names of LXMERT object class ids, to ground on `obj_labels`."}
    )
    max_length: int | None = field(default=None, metadata={"help": "Truncate to this many tokens."})
    padding: bool | str = field(default=False, metadata={"help": "Tokenizer padding; False = pad per batch."})
    return_offsets_mapping: bool = field(default=False, metadata={"help": "Keep `offset_mapping`."})

    def __post_init__(self):
        _check_fast(self.tokenizer, "VLMaskingTagger")
        if self.lexicon is None:
            self.lexicon = VLLexicon()
        elif not isinstance(self.lexicon, VLLexicon):
            raise HfNotlikeTypeError(f"`lexicon` must be a VLLexicon, not {type(self.lexicon).__name__}.")
        self._cache: dict[str, tuple[int, float]] = {}

    def _word_tags(self, word: str, grounded: frozenset[str] | None) -> tuple[int, float]:
        if grounded is None and word in self._cache:
            return self._cache[word]
        lexicon = self.lexicon
        tags = TAG_STOP if lexicon.is_stop_word(word) else 0
        if not tags:
            if grounded is None:
                is_object = lexicon.is_object(word)
            else:
                is_object = lexicon._lookup(word, grounded) is not None
            tags |= TAG_OBJECT if is_object else 0
        score = lexicon.concreteness_of(word) if lexicon.concreteness else None
        result = (tags, float(score) if score is not None else 0.0)
        if grounded is None:
            self._cache[word] = result
        return result

    def _grounded_labels(self, examples: dict[str, list], index: int) -> frozenset[str] | None:
        labels = None
        if self.object_labels_column and self.object_labels_column in examples:
            labels = examples[self.object_labels_column][index]
        elif self.object_label_names is not None and "obj_labels" in examples:
            obj = examples["obj_labels"][index]
            ids = obj["obj"][0] if isinstance(obj, dict) and "obj" in obj else None
            if ids is not None:
                ids = ids.tolist() if hasattr(ids, "tolist") else ids
                labels = [self.object_label_names[int(i)] for i in ids]
        if not labels:
            return None
        if isinstance(labels, str):
            raise HfNotlikeTypeError(
                f"Column {self.object_labels_column!r} must hold a list of labels per example, not a string: "
                f"got {labels!r}."
            )
        return self.lexicon.label_vocabulary(labels)

    def __call__(self, examples: dict[str, Any]) -> dict[str, list]:
        if self.text_column not in examples:
            raise KeyError(
                f"VLMaskingTagger: no {self.text_column!r} column in {sorted(examples)}; pass `text_column=`."
            )
        texts = examples[self.text_column]
        single = isinstance(texts, str)
        if single:
            texts = [texts]
            examples = {key: [value] for key, value in examples.items()}
        if not all(isinstance(text, str) for text in texts):
            bad = next(text for text in texts if not isinstance(text, str))
            raise HfNotlikeTypeError(f"VLMaskingTagger: column {self.text_column!r} must hold strings, found {bad!r}.")
        encoding = self.tokenizer(
            texts,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            padding=self.padding,
            return_special_tokens_mask=True,
            return_offsets_mapping=True,
        )
        with_concreteness = bool(self.lexicon.concreteness)
        all_word_ids, all_tags, all_scores = [], [], []
        for index, text in enumerate(texts):
            grounded = self._grounded_labels(examples, index)
            token_words = encoding.word_ids(index)
            sequences = encoding.sequence_ids(index)
            offsets = encoding["offset_mapping"][index]
            special = encoding["special_tokens_mask"][index]
            # one entry per (sequence, word) in order of first appearance: its character span
            spans: dict[tuple[int, int], list[int]] = {}
            for word, sequence, (start, end), is_special in zip(token_words, sequences, offsets, special):
                if word is None or is_special:
                    continue
                span = spans.setdefault((sequence, word), [start, end])
                span[0], span[1] = min(span[0], start), max(span[1], end)
            numbering = {key: number for number, key in enumerate(spans)}
            word_tags = [self._word_tags(text[start:end], grounded) for start, end in spans.values()]
            ids, tags, scores = [], [], []
            for word, sequence, is_special in zip(token_words, sequences, special):
                if word is None or is_special:
                    ids.append(-1)
                    tags.append(0)
                    scores.append(0.0)
                else:
                    number = numbering[(sequence, word)]
                    ids.append(number)
                    tags.append(word_tags[number][0])
                    scores.append(word_tags[number][1])
            all_word_ids.append(ids)
            all_tags.append(tags)
            all_scores.append(scores)
        output = {key: list(value) for key, value in encoding.items()}
        if not self.return_offsets_mapping:
            output.pop("offset_mapping")
        output[WORD_IDS_COLUMN] = all_word_ids
        output[TAGS_COLUMN] = all_tags
        if with_concreteness:
            output[CONCRETENESS_COLUMN] = all_scores
        if single:
            output = {key: value[0] for key, value in output.items()}
        return output
