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

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .lexicon import VLLexicon
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


def _to_tensor(values: list[Any]) -> torch.Tensor:
    first = values[0]
    if isinstance(first, torch.Tensor):
        tensor = torch.stack(values)
    else:
        tensor = torch.as_tensor(np.asarray(values))
    return tensor.float() if tensor.dtype == torch.float64 else tensor


def _stack(key: str, values: list[Any]) -> Any:
    """Stack one passed-through field over the batch: tensors, arrays, (nested) lists and numbers; LXMERT's
    `obj_labels` (`{"obj": (labels, confidences), ...}`) keeps its dict-of-pairs shape."""
    first = values[0]
    if isinstance(first, Mapping):
        if key == "obj_labels":  # {name: (labels, confidences)}: stack both parts apart (ids stay integers)
            return {name: _stack_pair(f"{key}.{name}", [value[name] for value in values]) for name in first}
        return {name: _stack(f"{key}.{name}", [value[name] for value in values]) for name in first}
    if isinstance(first, tuple):
        return tuple(_stack(key, [value[i] for value in values]) for i in range(len(first)))
    try:
        return _to_tensor(values)
    except (ValueError, TypeError, RuntimeError) as error:
        raise ValueError(
            f"Cannot stack the field {key!r} over the batch ({error}); every example must carry it with the same "
            "shape (pad visual features to a fixed number of boxes)."
        ) from None


def _stack_pair(key: str, pairs: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """LXMERT's `(labels, confidences)` pairs; a two-entry mapping (e.g. `{"labels": ..., "confidences": ...}`,
    which Arrow stores where a pair of differently nested lists cannot be) counts as the pair of its values."""
    parts = [list(pair.values()) if isinstance(pair, Mapping) else list(pair) for pair in pairs]
    if any(len(part) != 2 for part in parts):
        raise ValueError(f"Each entry of {key!r} must be a pair (labels, confidences).")
    labels, confidences = (_stack(key, [part[i] for part in parts]) for i in range(2))
    if key.rsplit(".", 1)[-1] in ("obj", "attr") and labels.is_floating_point():
        labels = labels.long()  # class ids (Arrow turns a list mixing ids and confidences into floats)
    return labels, confidences


def _is_text_field(value: Any) -> bool:
    if isinstance(value, str) or value is None:
        return True
    if isinstance(value, (list, tuple)) and value and all(isinstance(item, str) for item in value):
        return True
    return False


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
            The word lists [`tagger`] tags with; `"top_concrete"` needs one with concreteness norms.
        concreteness_temperature (`float`, *optional*, defaults to 0.5):
            Temperature of the concreteness weights of `"top_concrete"` (lower: more often the most concrete word).
        model_family (`str`, *optional*, defaults to `"auto"`):
            `"lxmert"`, `"visualbert"`, `"text"` or `"auto"` (VisualBERT when the examples carry `visual_embeds`).

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
        if self.strategy not in MASKING_STRATEGIES:
            raise ValueError(f"Unknown masking strategy {self.strategy!r}; choose one of {list(MASKING_STRATEGIES)}.")
        if self.mlm_probability is None:
            self.mlm_probability = DEFAULT_MASKING_RATES[self.strategy]
        if isinstance(self.mlm_probability, bool) or not isinstance(self.mlm_probability, (int, float)):
            raise TypeError(f"`mlm_probability` must be a number in (0, 1], not {self.mlm_probability!r}.")
        if not 0 < self.mlm_probability <= 1:
            raise ValueError(
                f"`mlm_probability` must be in (0, 1], got {self.mlm_probability}; "
                f"the default for {self.strategy!r} is {DEFAULT_MASKING_RATES[self.strategy]}."
            )
        self.mlm_probability = float(self.mlm_probability)
        for name in ("mask_replace_prob", "random_replace_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"`{name}` must be in [0, 1], got {value}.")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError(
                f"`mask_replace_prob` + `random_replace_prob` must not exceed 1, got "
                f"{self.mask_replace_prob} + {self.random_replace_prob}."
            )
        if getattr(self.tokenizer, "mask_token", None) is None:
            raise ValueError(
                f"The tokenizer ({type(self.tokenizer).__name__}) has no mask token, which masked language modelling "
                "needs: add one with `tokenizer.add_special_tokens({'mask_token': '[MASK]'})` (and resize the "
                "model's embeddings)."
            )
        if self.strategy != "random":
            _check_fast(self.tokenizer, f"DataCollatorForVLMasking(strategy={self.strategy!r})")
        if self.return_tensors not in ("pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt' or 'np', got {self.return_tensors!r}.")
        if self.model_family not in _MODEL_FAMILIES:
            raise ValueError(f"Unknown `model_family` {self.model_family!r}; choose one of {list(_MODEL_FAMILIES)}.")
        if not self.concreteness_temperature > 0:
            raise ValueError(f"`concreteness_temperature` must be > 0, got {self.concreteness_temperature}.")
        if self.lexicon is not None and not isinstance(self.lexicon, VLLexicon):
            raise TypeError(f"`lexicon` must be a VLLexicon, not {type(self.lexicon).__name__}.")
        if self.strategy == "top_concrete" and self.lexicon is not None and not self.lexicon.concreteness:
            raise ValueError(
                "strategy='top_concrete' needs a concreteness table, and the lexicon has none: pass "
                "`lexicon=VLLexicon(concreteness=path_to_csv)` (e.g. hf_notlike.resources.concreteness_path())."
            )
        self._mask_token_id = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        self._generator: torch.Generator | None = None
        self._generator_pid: int | None = None

    def tagger(self, **kwargs) -> VLMaskingTagger:
        """A [`VLMaskingTagger`] with this collator's tokenizer and lexicon, for `dataset.map(..., batched=True)`.

        Keyword arguments go to [`VLMaskingTagger`] (`text_column`, `max_length`, ...).
        """
        if self.strategy == "top_concrete" and (self.lexicon is None or not self.lexicon.concreteness):
            raise ValueError(
                "strategy='top_concrete' needs a concreteness table: build the collator with "
                "`lexicon=VLLexicon(concreteness=path_to_csv)`."
            )
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

    # -- collation -----------------------------------------------------------------------------------------------
    def __call__(self, features: list[Mapping[str, Any]], return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = return_tensors or self.return_tensors
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"`return_tensors` must be 'pt' or 'np', got {return_tensors!r}.")
        if not features:
            raise ValueError("DataCollatorForVLMasking received an empty batch.")
        if not all(isinstance(feature, Mapping) for feature in features):
            raise TypeError(
                "DataCollatorForVLMasking expects a list of dicts (dataset rows with `input_ids`), got "
                f"{type(features[0]).__name__}."
            )
        first = features[0]
        if "input_ids" not in first:
            raise ValueError(f"The examples have no `input_ids` (keys: {sorted(first)}); tokenize them first.")
        if self.strategy != "random":
            missing = [key for key in (WORD_IDS_COLUMN, TAGS_COLUMN) if key not in first]
            if self.strategy == "top_concrete" and CONCRETENESS_COLUMN not in first:
                missing.append(CONCRETENESS_COLUMN)
            if missing:
                hint = (
                    " with a lexicon that has concreteness norms (VLLexicon(concreteness=path))"
                    if missing == [CONCRETENESS_COLUMN]
                    else ""
                )
                raise ValueError(
                    f"strategy={self.strategy!r} needs the word columns {missing}, which the examples lack (keys: "
                    f"{sorted(first)}). Tag the dataset once with `dataset.map(collator.tagger(), batched=True)`"
                    f"{hint}; with `Trainer`, set `TrainingArguments(remove_unused_columns=False)` so the columns "
                    "reach the collator."
                )
        family = self.model_family
        if family == "auto":
            family = "visualbert" if "visual_embeds" in first else ("lxmert" if "visual_feats" in first else "text")
        if family == "visualbert" and "visual_embeds" not in first:
            raise ValueError("model_family='visualbert' needs `visual_embeds` in every example.")
        if family == "lxmert" and ("visual_feats" not in first or "visual_pos" not in first):
            raise ValueError("model_family='lxmert' needs `visual_feats` and `visual_pos` in every example.")

        batch = self._pad_text(features)
        input_ids = batch["input_ids"]
        special_tokens_mask = batch.pop("special_tokens_mask", None)

        if self.strategy == "random":
            masked = self._random_token_mask(input_ids, special_tokens_mask)
        else:
            masked = self._word_mask(features, input_ids, special_tokens_mask)
        batch["input_ids"], batch["labels"] = self._apply_mask(input_ids, masked)

        for key in first:
            if key in _TEXT_KEYS or key in _TAG_KEYS or any(key in f and _is_text_field(f[key]) for f in features):
                continue
            missing = [i for i, feature in enumerate(features) if key not in feature]
            if missing:
                raise ValueError(
                    f"The field {key!r} is in the first example but missing from example(s) {missing[:5]} of the "
                    "batch: every example must carry the same fields."
                )
            batch[key] = _stack(key, [feature[key] for feature in features])
        if family == "visualbert":
            visual = batch["visual_embeds"]
            if "visual_attention_mask" not in batch:
                batch["visual_attention_mask"] = torch.ones(visual.shape[:2], dtype=torch.long)
            padding = torch.full((visual.shape[0], visual.shape[1]), -100, dtype=batch["labels"].dtype)
            batch["labels"] = torch.cat([batch["labels"], padding], dim=1)
        if return_tensors == "np":
            batch = _to_numpy(batch)
        return batch

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
        """Labels for the masked positions; 80/10/10 replacement (mask / random / unchanged) of the inputs."""
        generator = self._get_generator()
        labels = input_ids.clone()
        labels[~masked] = -100
        replaced = torch.bernoulli(torch.full(labels.shape, self.mask_replace_prob), generator=generator).bool()
        replaced &= masked
        input_ids[replaced] = self._mask_token_id
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return input_ids, labels
        scaled = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomized = torch.bernoulli(torch.full(labels.shape, scaled), generator=generator).bool() & masked & ~replaced
        random_words = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=generator)
        input_ids[randomized] = random_words[randomized]
        return input_ids, labels

    def _pad_text(self, features: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        """Pad the text fields as `tokenizer.pad` does (same values, sides and attention mask), with NumPy: the
        stock collators spend most of their time in `tokenizer.pad`'s conversion of nested lists."""
        lengths = [len(feature["input_ids"]) for feature in features]
        length = max(lengths)
        if self.pad_to_multiple_of and length % self.pad_to_multiple_of:
            length = (length // self.pad_to_multiple_of + 1) * self.pad_to_multiple_of
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None and min(lengths) != length:
            raise ValueError(
                "The examples have different lengths and the tokenizer has no padding token: set one, e.g. "
                "`tokenizer.pad_token = tokenizer.eos_token`."
            )
        fills = {
            "input_ids": pad_id if pad_id is not None else 0,
            "attention_mask": 0,
            "token_type_ids": self.tokenizer.pad_token_type_id,
            "special_tokens_mask": 1,
        }
        first = features[0]
        batch = {
            key: self._pad_column(features, key, length, fills[key], np.int64) for key in _TEXT_KEYS if key in first
        }
        if "attention_mask" not in batch and "attention_mask" in self.tokenizer.model_input_names:
            mask = np.zeros((len(features), length), dtype=np.int64)
            for row, size in enumerate(lengths):
                if self.tokenizer.padding_side == "left":
                    mask[row, length - size :] = 1
                else:
                    mask[row, :size] = 1
            batch["attention_mask"] = torch.from_numpy(mask)
        return batch

    def _pad_column(self, features: list[Mapping[str, Any]], key: str, length: int, fill, dtype) -> torch.Tensor:
        out = np.full((len(features), length), fill, dtype=dtype)
        left = self.tokenizer.padding_side == "left"
        for row, feature in enumerate(features):
            if key not in feature:
                raise ValueError(f"The field {key!r} is in the first example but missing from example {row}.")
            values = feature[key]
            size = len(values)
            if size != len(feature["input_ids"]):
                raise ValueError(
                    f"Column {key!r} has {size} entries but `input_ids` has {len(feature['input_ids'])}: the "
                    "examples were changed after tagging; tag again with VLMaskingTagger after any truncation."
                )
            if size:
                if left:
                    out[row, length - size :] = values
                else:
                    out[row, :size] = values
        return torch.from_numpy(out)

    def _word_mask(
        self, features: list[Mapping[str, Any]], input_ids: torch.Tensor, special_tokens_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """Choose whole words per caption and return the token mask."""
        batch_size, length = input_ids.shape
        word_ids = self._pad_column(features, WORD_IDS_COLUMN, length, -1, np.int64)
        tags = self._pad_column(features, TAGS_COLUMN, length, 0, np.int64)
        if special_tokens_mask is not None:
            word_ids = word_ids.masked_fill(special_tokens_mask.bool(), -1)
        num_words = int(word_ids.max()) + 1 if word_ids.numel() else 0
        if num_words <= 0:
            return torch.zeros_like(input_ids, dtype=torch.bool)
        # token -> word slot (slot 0 collects special and padding tokens and is never chosen)
        slots = word_ids + 1
        word_tags = torch.zeros(batch_size, num_words + 1, dtype=torch.long).scatter_(1, slots, tags)[:, 1:]
        exists = torch.zeros(batch_size, num_words + 1, dtype=torch.bool).scatter_(
            1, slots, torch.ones_like(slots, dtype=torch.bool)
        )[:, 1:]
        content = exists & (word_tags & TAG_STOP == 0)
        scores = None
        if self.strategy == "content_words":
            chain = [content]
        elif self.strategy == "stop_words":
            chain = [exists & (word_tags & TAG_STOP != 0)]
        elif self.strategy == "objects":
            chain = [content & (word_tags & TAG_OBJECT != 0), content]
        else:  # top_concrete
            ratings = self._pad_column(features, CONCRETENESS_COLUMN, length, 0.0, np.float32)
            word_scores = torch.zeros(batch_size, num_words + 1).scatter_(1, slots, ratings)[:, 1:]
            chain = [content & (word_scores > 0), content]
            scores = word_scores / self.concreteness_temperature
        candidates = exists
        for level in reversed(chain):  # the first level with a word wins, per caption
            candidates = torch.where(level.any(dim=1, keepdim=True), level, candidates)

        generator = self._get_generator()
        draws = torch.rand(batch_size, num_words, generator=generator)
        count = ((draws < self.mlm_probability) & candidates).sum(dim=1).clamp(min=1)
        keys = torch.rand(batch_size, num_words, generator=generator)
        if scores is not None:  # Gumbel-top-k: keys log(w) + Gumbel(0, 1) rank words by weighted sampling
            keys = scores - torch.log(-torch.log(keys.clamp(min=1e-10)))
        keys = keys.masked_fill(~candidates, float("-inf"))
        rank = keys.argsort(dim=1, descending=True).argsort(dim=1)
        chosen = candidates & (rank < count.unsqueeze(1))
        chosen = torch.cat([torch.zeros(batch_size, 1, dtype=torch.bool), chosen], dim=1)
        return chosen.gather(1, slots)


def _to_numpy(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_to_numpy(item) for item in value)
    return value
