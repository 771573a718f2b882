"""Property-based tests (hypothesis) of DataCollatorForVLMasking over random strings: never a crash, never a caption
with a word and no mask, whole words only, specials and padding never masked."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from masking_fixtures import bpe_tokenizer, norms_lexicon, tag

from hf_notlike.masking import MASKING_STRATEGIES, DataCollatorForVLMasking

ALPHABET = st.one_of(
    st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
    st.sampled_from(list(" \t\n.,;:!?'\"-()[]#$%&*/@_‘’“”…")),
    st.characters(codec="utf-8", exclude_categories=["Cs"]),
)
WORDS = st.sampled_from(["the", "a", "dog", "dogs", "women", "on", "red", "umbrella", "idea", "running", "."])
CAPTION = st.one_of(
    st.text(ALPHABET, max_size=60),
    st.lists(WORDS, max_size=12).map(" ".join),
)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check_batch(tokenizer, captions, strategy, seed, mlm_probability=None):
    rows = tag(tokenizer, captions, lexicon=norms_lexicon(), max_length=64)
    collator = DataCollatorForVLMasking(
        tokenizer, strategy=strategy, seed=seed, lexicon=norms_lexicon(), mlm_probability=mlm_probability
    )
    batch = collator(rows)
    labels, input_ids = batch["labels"], batch["input_ids"]
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        masked = labels[i] != -100
        assert not masked[n:].any()
        special = torch.tensor(row["special_tokens_mask"], dtype=torch.bool)
        assert not masked[:n][special].any()
        assert (labels[i, :n][masked[:n]] == torch.tensor(row["input_ids"])[masked[:n]]).all()
        if strategy == "random":
            continue
        word_ids = torch.tensor(row["vl_word_ids"])
        has_word = bool((word_ids >= 0).any())
        assert masked.any() == has_word, (captions[i], row["vl_word_ids"])
        for word in set(word_ids[masked[:n]].tolist()):
            assert word >= 0 and masked[:n][word_ids == word].all()
    assert input_ids.shape == labels.shape


@pytest.mark.parametrize("strategy", MASKING_STRATEGIES)
@SETTINGS
@given(captions=st.lists(CAPTION, min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_random_strings_wordpiece(bert_tokenizer, strategy, captions, seed):
    check_batch(bert_tokenizer, captions, strategy, seed)


@pytest.mark.parametrize("strategy", MASKING_STRATEGIES)
@SETTINGS
@given(
    captions=st.lists(CAPTION, min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
    rate=st.one_of(st.none(), st.floats(1e-6, 1.0)),
)
def test_random_strings_byte_level_bpe(strategy, captions, seed, rate):
    check_batch(bpe_tokenizer(), captions, strategy, seed, mlm_probability=rate)
