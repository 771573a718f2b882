# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Unlabelled variants of the training texts, for distilling a classifier into its exits on more text than it was
trained on.

In anchored training (`anchor_weight > 0`) and self-distillation (`distillation_weight > 0`), rows labelled -100
learn from the teachers alone. Spans of the training texts, with a few words dropped, are such rows for free: the
frozen classifier labels them softly, and the exits learn where its decision comes from on partial inputs (transfer
data for distillation, as in Turc et al., 2019, "Well-Read Students Learn Better", and TinyBERT's augmentation, Jiao
et al., Findings of EMNLP 2020).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ..errors import HfNotlikeInputError
from ..texts import check_texts
from .modeling import IGNORE_LABEL

__all__ = ["span_variants", "text_span_variants", "unlabelled_dataset"]


def text_span_variants(
    texts: Sequence[str], copies: int = 2, min_fraction: float = 0.5, drop_probability: float = 0.1, seed: int = 0
) -> list[str]:
    """`copies` random variants of each text: a contiguous span of `min_fraction` to all of its words (split on
    white space), then each word of the span dropped with probability `drop_probability` (at least one word kept).

    Args:
        texts (`Sequence[str]`): the texts (none missing or empty).
        copies (`int`, *optional*, defaults to 2): variants per text, >= 1.
        min_fraction (`float`, *optional*, defaults to 0.5): the shortest span, as a share of the text's words, in
            (0, 1].
        drop_probability (`float`, *optional*, defaults to 0.1): chance that a word of the span is dropped, in [0, 1).
        seed (`int`, *optional*, defaults to 0): the same seed gives the same variants.

    Returns:
        `list[str]`: `copies * len(texts)` variants, copy by copy: `variants[c * len(texts) + i]` comes from
        `texts[i]`.

    Raises:
        `HfNotlikeInputError`: a missing or empty text, or an option out of range.

    Example:

    ```python
    >>> from hf_notlike import text_span_variants
    >>> variants = text_span_variants(["a gripping, beautifully shot film about grief", "dull."], copies=1, seed=3)
    >>> len(variants), variants[1]
    (2, 'dull.')
    ```
    """
    _check_options(copies, min_fraction, drop_probability)
    return _spans(_checked_texts(texts), copies, min_fraction, drop_probability, seed)


def _spans(texts: list[str], copies: int, min_fraction: float, drop_probability: float, seed: int) -> list[str]:
    """[`text_span_variants`] without the checks (its callers have made them)."""
    rng = random.Random(seed)
    variants = []
    for _ in range(copies):
        for text in texts:
            words = text.split()
            length = max(1, round(len(words) * rng.uniform(min_fraction, 1.0)))
            start = rng.randrange(len(words) - length + 1)
            span = words[start:start + length]
            kept = [word for word in span if rng.random() >= drop_probability] or [rng.choice(span)]
            variants.append(" ".join(kept))
    return variants


def span_variants(
    dataset, copies: int = 2, text_column: str = "text", label_column: str = "label", min_fraction: float = 0.5,
    drop_probability: float = 0.1, seed: int = 0,
):
    """Unlabelled span variants of a dataset's texts ([`text_span_variants`]) as a `datasets.Dataset` of two
    columns, `text_column` and `label_column` (every label -100, int64), ready to tokenize and concatenate with the
    labelled training set of an anchored or self-distilled early-exit model: those rows learn from the teachers
    alone (the distillation terms average over every row, the gold-label terms over the labelled ones).

    On Rotten Tomatoes (MiniLM-L6, exits anchored to the fine-tuned classifier, three seeds), two variants per
    training sentence lifted exits 1-2 by 0.6-0.7 points after one epoch, and the layers saved within 1 point of the
    classifier on test from 2.13x to 3.04x after two (results page, "Distillation on unlabelled spans").

    Args:
        dataset (`datasets.Dataset`): the labelled training set, untokenized (it has `text_column`).
        copies (`int`, *optional*, defaults to 2): variants per text.
        text_column (`str`, *optional*, defaults to `"text"`): the column of the texts.
        label_column (`str`, *optional*, defaults to `"label"`): the name of the label column of the result (the
            labelled set's, so that the two concatenate once its labels are cast to int64).
        min_fraction, drop_probability, seed: as in [`text_span_variants`].

    Returns:
        `datasets.Dataset`: `copies * len(dataset)` rows.

    Raises:
        `HfNotlikeInputError`: `text_column` is missing, a text is missing or empty, or an option is out of range.

    Example:

    ```python
    >>> from datasets import Dataset, Value, concatenate_datasets
    >>> from hf_notlike import span_variants
    >>> train = Dataset.from_dict({"text": ["a gripping, beautifully shot film", "dull."], "label": [1, 0]})
    >>> extra = span_variants(train, copies=2)
    >>> len(extra), set(extra["label"])
    (4, {-100})
    >>> both = concatenate_datasets([train.cast_column("label", Value("int64")), extra])  # then tokenize, and train
    >>> len(both)                                    # with EarlyExitTrainer on a model with anchor_weight > 0
    6
    ```
    """
    _check_options(copies, min_fraction, drop_probability)
    columns = getattr(dataset, "column_names", None)
    if columns is None:
        raise HfNotlikeInputError(f"`dataset` must be a datasets.Dataset, got {type(dataset).__name__}; for a list of "
                                  "texts use text_span_variants.")
    if text_column not in columns:
        raise HfNotlikeInputError(f"`dataset` has no column {text_column!r} (it has {columns}): pass the untokenized "
                                  "training set, or name its text column with text_column=.")
    texts = dataset[text_column]
    check_texts(texts, "`dataset`", text_column)
    return _unlabelled(_spans(texts, copies, min_fraction, drop_probability, seed), text_column, label_column)


def unlabelled_dataset(texts: Sequence[str], text_column: str = "text", label_column: str = "label"):
    """Other unlabelled texts of the task's kind (reviews of other products, other sentences of the domain) as a
    `datasets.Dataset` of `text_column` and `label_column` (every label -100, int64), like [`span_variants`]: a
    larger transfer set for distilling the classifier into its exits. Keep the evaluation texts out of it.

    Args:
        texts (`Sequence[str]`): the texts (none missing or empty).
        text_column (`str`, *optional*, defaults to `"text"`), label_column (`str`, *optional*, defaults to
            `"label"`): the column names, those of the labelled training set.

    Returns:
        `datasets.Dataset`: one row per text.

    Raises:
        `HfNotlikeInputError`: a missing or empty text.

    Example:

    ```python
    >>> from hf_notlike import unlabelled_dataset
    >>> extra = unlabelled_dataset(["Works as advertised.", "Broke after a week."])
    >>> extra.column_names, list(extra["label"])
    (['text', 'label'], [-100, -100])
    ```
    """
    return _unlabelled(_checked_texts(texts), text_column, label_column)


def _checked_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise HfNotlikeInputError(f"`texts` must be a sequence of strings (a list, or a dataset's column), got "
                                  f"{type(texts).__name__}.")
    texts = list(texts)
    check_texts(texts, "`texts`")
    return texts


def _unlabelled(texts: list[str], text_column: str, label_column: str):
    import datasets

    features = datasets.Features({text_column: datasets.Value("string"), label_column: datasets.Value("int64")})
    return datasets.Dataset.from_dict({text_column: texts, label_column: [IGNORE_LABEL] * len(texts)},
                                      features=features)


def _check_options(copies: int, min_fraction: float, drop_probability: float) -> None:
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise HfNotlikeInputError(f"`copies` must be an integer >= 1, got {copies!r}.")
    if isinstance(min_fraction, bool) or not isinstance(min_fraction, (int, float)) or not 0 < min_fraction <= 1:
        raise HfNotlikeInputError(f"`min_fraction` must lie in (0, 1], got {min_fraction!r}.")
    if (isinstance(drop_probability, bool) or not isinstance(drop_probability, (int, float))
            or not 0 <= drop_probability < 1):
        raise HfNotlikeInputError(f"`drop_probability` must lie in [0, 1), got {drop_probability!r}.")
