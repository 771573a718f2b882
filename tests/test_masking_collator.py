"""Tests for DataCollatorForVLMasking and VLMaskingTagger on hand-written captions, with a WordPiece (MiniLM) and a
byte-level BPE tokenizer."""

import warnings

import numpy as np
import pytest
import torch
from masking_fixtures import CAPTIONS, bpe_tokenizer, masked_word_ids, norms_lexicon, tag, word_texts
from transformers import DataCollatorForLanguageModeling

from hf_notlike.masking import (
    DEFAULT_MASKING_RATES,
    MASKING_STRATEGIES,
    TAG_OBJECT,
    TAG_STOP,
    DataCollatorForVLMasking,
    VLLexicon,
    VLMaskingTagger,
)

WORD_STRATEGIES = [strategy for strategy in MASKING_STRATEGIES if strategy != "random"]


@pytest.fixture(scope="module", params=["wordpiece", "bpe"])
def tokenizer(request, bert_tokenizer):
    return bert_tokenizer if request.param == "wordpiece" else bpe_tokenizer()


def collate(tokenizer, strategy, rows, **kwargs):
    kwargs.setdefault("lexicon", norms_lexicon())
    return DataCollatorForVLMasking(tokenizer, strategy=strategy, **kwargs)(rows)


# -- tagging -----------------------------------------------------------------------------------------------------
def test_tagger_tags_words_of_both_tokenizer_families(tokenizer):
    row = tag(tokenizer, ["The women's umbrellas are unbelievably large!"], lexicon=norms_lexicon())[0]
    words = word_texts(tokenizer, "The women's umbrellas are unbelievably large!")
    assert len(row["vl_word_ids"]) == len(row["input_ids"]) == len(row["vl_word_tags"]) == len(row["vl_concreteness"])
    tags = {}
    for word_id, tag_bits, score, special in zip(
        row["vl_word_ids"], row["vl_word_tags"], row["vl_concreteness"], row["special_tokens_mask"]
    ):
        if special:
            assert word_id == -1 and tag_bits == 0
            continue
        tags.setdefault(words[word_id].lower(), set()).add((tag_bits, score))
    assert all(len(values) == 1 for values in tags.values())  # all pieces of a word share its tags
    tag_of = {word: next(iter(values))[0] for word, values in tags.items()}
    score_of = {word: next(iter(values))[1] for word, values in tags.items()}
    assert tag_of["the"] == TAG_STOP and tag_of["are"] == TAG_STOP and tag_of["!"] == TAG_STOP
    assert tag_of["women"] == TAG_OBJECT and tag_of["umbrellas"] == TAG_OBJECT
    assert tag_of["unbelievably"] == 0 and tag_of["large"] == 0
    assert score_of["umbrellas"] > 4.5 and 0 < score_of["unbelievably"] < 3
    # "unbelievably" is several pieces, all with the same word id
    pieces = [i for i, w in enumerate(row["vl_word_ids"]) if w >= 0 and words[w] == "unbelievably"]
    assert len(pieces) > 1


def test_tagger_single_example_and_datasets_map(bert_tokenizer):
    from datasets import Dataset

    tagger = VLMaskingTagger(bert_tokenizer)
    single = tagger({"text": "A dog."})
    assert single["vl_word_ids"] == [-1, 0, 1, 2, -1] and "vl_concreteness" not in single
    data = Dataset.from_dict({"text": CAPTIONS}).map(tagger, batched=True, remove_columns=["text"])
    assert data[0] == tagger({"text": CAPTIONS[0]})
    assert "offset_mapping" not in data.column_names


def test_tagger_bad_input(bert_tokenizer):
    tagger = VLMaskingTagger(bert_tokenizer)
    with pytest.raises(KeyError, match="text_column"):
        tagger({"caption": ["a dog"]})
    with pytest.raises(TypeError, match="must hold strings"):
        tagger({"text": ["a dog", None]})
    with pytest.raises(TypeError, match="list of labels"):
        tagger({"text": ["a dog"], "object_labels": ["dog"]})
    with pytest.raises(TypeError, match="VLLexicon"):
        VLMaskingTagger(bert_tokenizer, lexicon={"dog"})


# -- invariants of every strategy ------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", MASKING_STRATEGIES)
def test_labels_specials_and_whole_words(tokenizer, strategy):
    rows = tag(tokenizer, CAPTIONS, lexicon=norms_lexicon())
    for seed in range(15):
        batch = collate(tokenizer, strategy, rows, seed=seed)
        input_ids, labels = batch["input_ids"], batch["labels"]
        assert labels.shape == input_ids.shape == batch["attention_mask"].shape
        for i, row in enumerate(rows):
            n = len(row["input_ids"])
            original = torch.tensor(row["input_ids"])
            masked = labels[i] != -100
            assert not masked[n:].any()  # padding never masked
            assert (labels[i, :n][masked[:n]] == original[masked[:n]]).all()  # labels are the original ids
            assert (input_ids[i, :n][~masked[:n]] == original[~masked[:n]]).all()  # the rest is untouched
            special = torch.tensor(row["special_tokens_mask"], dtype=torch.bool)
            assert not masked[:n][special].any()  # special tokens never masked
            if strategy == "random":
                continue
            word_ids = torch.tensor(row["vl_word_ids"])
            for word in masked_word_ids(row, labels[i]):
                assert masked[:n][word_ids == word].all(), "all pieces of a masked word are masked"
            assert masked.any(), f"caption {CAPTIONS[i]!r} got no mask"


@pytest.mark.parametrize("strategy", WORD_STRATEGIES)
def test_which_words_may_be_masked(tokenizer, strategy):
    lexicon = norms_lexicon()
    rows = tag(tokenizer, CAPTIONS, lexicon=lexicon)
    seen = set()
    for seed in range(20):
        labels = collate(tokenizer, strategy, rows, seed=seed)["labels"]
        for i, (row, caption) in enumerate(zip(rows, CAPTIONS)):
            words = word_texts(tokenizer, caption)
            stop = [lexicon.is_stop_word(word) for word in words]
            objects = [not s and lexicon.is_object(word) for word, s in zip(words, stop)]
            for word_id in masked_word_ids(row, labels[i]):
                word = words[word_id]
                seen.add(word.lower())
                if strategy == "stop_words" and any(stop):
                    assert stop[word_id], (caption, word)
                elif strategy != "stop_words" and not all(stop):
                    assert not stop[word_id], (caption, word)
                if strategy == "objects" and any(objects):
                    assert objects[word_id], (caption, word)
                rated = any(not s and lexicon.concreteness_of(w) for w, s in zip(words, stop))
                if strategy == "top_concrete" and rated:
                    assert lexicon.concreteness_of(word), (caption, word)
    if strategy == "objects":
        assert {"man", "horse", "dogs", "frisbee", "pizza", "cat", "giraffes"} <= seen
        assert "rides" not in seen and "brown" not in seen
    if strategy == "content_words":
        assert {"rides", "brown", "play", "eating", "sleeps"} <= seen


def test_exact_words_with_full_rate(bert_tokenizer):
    caption = "A man rides a brown horse on the beach."
    rows = tag(bert_tokenizer, [caption], lexicon=norms_lexicon())
    words = word_texts(bert_tokenizer, caption)

    def chosen(strategy, **kwargs):
        labels = collate(bert_tokenizer, strategy, rows, mlm_probability=1.0, seed=0, **kwargs)["labels"][0]
        return sorted(words[w] for w in masked_word_ids(rows[0], labels))

    assert chosen("content_words") == sorted(["man", "rides", "brown", "horse", "beach"])
    assert chosen("objects") == sorted(["man", "horse", "beach"])
    assert chosen("stop_words") == sorted(["A", "a", "on", "the", "."])
    # with the full rate, top_concrete masks every rated content word
    assert chosen("top_concrete") == sorted(["man", "rides", "brown", "horse", "beach"])


def test_top_concrete_prefers_the_most_concrete_word(bert_tokenizer):
    lexicon = VLLexicon(concreteness={"horse": 5.0, "beach": 4.8, "man": 4.6, "brown": 3.1, "rides": 3.3})
    caption = "A man rides a brown horse on the beach."
    rows = tag(bert_tokenizer, [caption], lexicon=lexicon)
    words = word_texts(bert_tokenizer, caption)
    counts: dict[str, int] = {}
    collator = DataCollatorForVLMasking(bert_tokenizer, "top_concrete", mlm_probability=1e-6, seed=0, lexicon=lexicon)
    for _ in range(300):
        (word,) = [words[w] for w in masked_word_ids(rows[0], collator(rows)["labels"][0])]  # exactly one word
        counts[word] = counts.get(word, 0) + 1
    # weights exp(rating / 0.5): horse 0.48, beach 0.32, man 0.21, rides 0.005, brown 0.003
    assert counts["horse"] > counts["beach"] > counts["man"] > counts.get("rides", 0) + counts.get("brown", 0)
    greedy = DataCollatorForVLMasking(
        bert_tokenizer, "top_concrete", mlm_probability=1e-6, seed=1, lexicon=lexicon, concreteness_temperature=0.01
    )
    for _ in range(20):
        assert [words[w] for w in masked_word_ids(rows[0], greedy(rows)["labels"][0])] == ["horse"]


def test_fallbacks_keep_one_mask_per_caption(bert_tokenizer):
    captions = ["it is what it is", "Running quickly", "!!!", "A cat sleeps."]
    rows = tag(bert_tokenizer, captions, lexicon=norms_lexicon())
    words = [word_texts(bert_tokenizer, caption) for caption in captions]
    for seed in range(10):
        objects = collate(bert_tokenizer, "objects", rows, seed=seed)["labels"]
        assert {words[3][w] for w in masked_word_ids(rows[3], objects[3])} == {"cat"}
        assert masked_word_ids(rows[1], objects[1])  # no object word: falls back to content words
        stop = collate(bert_tokenizer, "stop_words", rows, seed=seed)["labels"]
        assert masked_word_ids(rows[1], stop[1])  # no stop-word: falls back to any word
        for strategy in WORD_STRATEGIES:
            labels = collate(bert_tokenizer, strategy, rows, seed=seed)["labels"]
            assert (labels != -100).any(dim=1).all(), strategy


def test_grounded_object_labels(bert_tokenizer):
    caption = "A man rides a brown horse on the beach."
    words = word_texts(bert_tokenizer, caption)
    rows = tag(bert_tokenizer, [caption, caption], lexicon=norms_lexicon())
    tagger = VLMaskingTagger(bert_tokenizer, lexicon=norms_lexicon())
    grounded = tagger({"text": [caption, caption], "object_labels": [["horses", "saddle"], []]})
    rows = [{key: values[i] for key, values in grounded.items()} for i in range(2)]
    labels = collate(bert_tokenizer, "objects", rows, mlm_probability=1.0, seed=0)["labels"]
    assert [words[w] for w in masked_word_ids(rows[0], labels[0])] == ["horse"]  # the image's labels
    assert sorted(words[w] for w in masked_word_ids(rows[1], labels[1])) == ["beach", "horse", "man"]  # vocabulary
    # LXMERT obj_labels: class ids mapped through object_label_names
    names = ["man", "tree", "beach"]
    lxmert = VLMaskingTagger(bert_tokenizer, object_label_names=names)(
        {"text": [caption], "obj_labels": [{"obj": [[2, 2, 1], [0.9, 0.8, 0.5]]}]}
    )
    row = {key: values[0] for key, values in lxmert.items()}
    labels = collate(bert_tokenizer, "objects", [row], mlm_probability=1.0, seed=0)["labels"]
    assert [words[w] for w in masked_word_ids(row, labels[0])] == ["beach"]


def test_masking_rate_is_honoured(bert_tokenizer):
    caption = " ".join(["red apples and green pears on wooden tables"] * 4)
    rows = tag(bert_tokenizer, [caption] * 64, lexicon=norms_lexicon())
    content = sum(1 for word in word_texts(bert_tokenizer, caption) if not norms_lexicon().is_stop_word(word))
    for rate in (0.1, 0.5):
        labels = collate(bert_tokenizer, "content_words", rows, mlm_probability=rate, seed=0)["labels"]
        words_per_row = [len(masked_word_ids(row, row_labels)) for row, row_labels in zip(rows, labels)]
        assert abs(np.mean(words_per_row) / content - rate) < 0.05
    collator = DataCollatorForVLMasking(bert_tokenizer, strategy="objects")
    assert collator.mlm_probability == DEFAULT_MASKING_RATES["objects"]


def test_replacement_probabilities(bert_tokenizer):
    rows = tag(bert_tokenizer, ["red apples and green pears on wooden tables"] * 256)
    batch = collate(bert_tokenizer, "content_words", rows, mlm_probability=1.0, seed=0, lexicon=None)
    masked = batch["labels"] != -100
    share_mask = (batch["input_ids"][masked] == bert_tokenizer.mask_token_id).float().mean().item()
    share_same = (batch["input_ids"][masked] == batch["labels"][masked]).float().mean().item()
    assert abs(share_mask - 0.8) < 0.03 and 0.07 < share_same < 0.13
    only_mask = collate(bert_tokenizer, "content_words", rows, mask_replace_prob=1.0, random_replace_prob=0.0, seed=0)
    assert (only_mask["input_ids"][only_mask["labels"] != -100] == bert_tokenizer.mask_token_id).all()


# -- the random baseline is the stock collator --------------------------------------------------------------------
@pytest.mark.parametrize(
    "options", [{}, {"mask_replace_prob": 0.5, "random_replace_prob": 0.4}, {"mlm_probability": 0.3}]
)
def test_random_reproduces_the_stock_collator(tokenizer, options):
    rows = tag(tokenizer, CAPTIONS * 4)
    text_keys = ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")
    stock_rows = [{key: row[key] for key in text_keys if key in row} for row in rows]
    ours = DataCollatorForVLMasking(tokenizer, strategy="random", seed=3, **options)
    stock = DataCollatorForLanguageModeling(tokenizer, seed=3, **options)
    for start in range(0, len(rows), 7):  # several calls: the generators advance the same way
        a, b = ours(rows[start : start + 7]), stock(stock_rows[start : start + 7])
        assert a.keys() == b.keys()
        for key in b:
            assert torch.equal(a[key], b[key]), key
    # without special_tokens_mask and with the global generator
    plain = [{"input_ids": row["input_ids"]} for row in rows[:8]]
    torch.manual_seed(11)
    a = DataCollatorForVLMasking(tokenizer, strategy="random", pad_to_multiple_of=8, **options)(plain)
    torch.manual_seed(11)
    b = DataCollatorForLanguageModeling(tokenizer, pad_to_multiple_of=8, **options)(plain)
    assert a.keys() == b.keys() == {"input_ids", "attention_mask", "labels"}
    for key in b:
        assert torch.equal(a[key], b[key]), key
    # token type ids and left padding are padded the same way too
    tokenizer.padding_side = "left"
    try:
        typed = [dict(row, token_type_ids=[1] * len(row["input_ids"])) for row in stock_rows[:8]]
        a = DataCollatorForVLMasking(tokenizer, strategy="random", seed=0, **options)(typed)
        b = DataCollatorForLanguageModeling(tokenizer, seed=0, **options)(typed)
        for key in b:
            assert torch.equal(a[key], b[key]), key
    finally:
        tokenizer.padding_side = "right"


def test_random_leaves_short_captions_unmasked_sometimes(bert_tokenizer):
    rows = tag(bert_tokenizer, ["A cat sleeps."] * 200)
    labels = collate(bert_tokenizer, "random", rows, seed=0)["labels"]
    unmasked = (~(labels != -100).any(dim=1)).float().mean().item()
    assert 0.35 < unmasked < 0.65  # (1 - 0.15) ** 4 = 0.52: the baseline's problem, kept on purpose


# -- determinism -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", MASKING_STRATEGIES)
def test_seed_determinism(bert_tokenizer, strategy):
    rows = tag(bert_tokenizer, CAPTIONS * 3, lexicon=norms_lexicon())
    first = DataCollatorForVLMasking(bert_tokenizer, strategy, seed=5, lexicon=norms_lexicon())
    second = DataCollatorForVLMasking(bert_tokenizer, strategy, seed=5, lexicon=norms_lexicon())
    other = DataCollatorForVLMasking(bert_tokenizer, strategy, seed=6, lexicon=norms_lexicon())
    differs = False
    for _ in range(3):
        a, b, c = first(rows), second(rows), other(rows)
        assert torch.equal(a["input_ids"], b["input_ids"]) and torch.equal(a["labels"], b["labels"])
        differs |= not torch.equal(a["labels"], c["labels"])
    assert differs
    torch.manual_seed(0)
    a = DataCollatorForVLMasking(bert_tokenizer, strategy, lexicon=norms_lexicon())(rows)
    torch.manual_seed(0)
    b = DataCollatorForVLMasking(bert_tokenizer, strategy, lexicon=norms_lexicon())(rows)
    assert torch.equal(a["labels"], b["labels"])


# -- padding and output formats ------------------------------------------------------------------------------
def test_pad_to_multiple_left_padding_and_numpy(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS, lexicon=norms_lexicon())
    batch = collate(bert_tokenizer, "content_words", rows, pad_to_multiple_of=8, seed=0, return_tensors="np")
    assert isinstance(batch["labels"], np.ndarray) and batch["input_ids"].shape[1] % 8 == 0
    assert ((batch["labels"] != -100).any(axis=1)).all()
    tokenizer = bert_tokenizer
    tokenizer.padding_side = "left"
    try:
        batch = collate(tokenizer, "content_words", rows, seed=0)
        for i, row in enumerate(rows):
            n, length = len(row["input_ids"]), batch["input_ids"].shape[1]
            masked = batch["labels"][i] != -100
            kept = batch["input_ids"][i, length - n :][~masked[length - n :]]
            assert kept.tolist() == [t for t, m in zip(row["input_ids"], masked[length - n :]) if not m]
            assert masked.any() and not masked[: length - n].any()
            word_ids = torch.tensor(row["vl_word_ids"])
            for word in {int(w) for w in word_ids[masked[length - n :]]}:
                assert masked[length - n :][word_ids == word].all()
    finally:
        tokenizer.padding_side = "right"


def test_collation_does_no_word_lookup(bert_tokenizer, monkeypatch):
    rows = tag(bert_tokenizer, CAPTIONS, lexicon=norms_lexicon())

    def forbidden(*args, **kwargs):
        raise AssertionError("the collator looked a word up")

    monkeypatch.setattr(VLLexicon, "is_stop_word", forbidden)
    monkeypatch.setattr(VLLexicon, "is_object", forbidden)
    monkeypatch.setattr(VLLexicon, "concreteness_of", forbidden)
    monkeypatch.setattr(type(bert_tokenizer), "__call__", forbidden)
    for strategy in MASKING_STRATEGIES:
        collate(bert_tokenizer, strategy, rows, seed=0)


def test_text_fields_are_dropped_and_numbers_passed_through(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows = [
        dict(row, text=caption, object_labels=[], image_id=i) for i, (row, caption) in enumerate(zip(rows, CAPTIONS))
    ]
    rows[1]["object_labels"] = ["dog"]  # the first example's empty list does not make it a numeric field
    batch = collate(bert_tokenizer, "content_words", rows, seed=0, lexicon=None)
    assert "text" not in batch and "object_labels" not in batch and "vl_word_ids" not in batch
    assert batch["image_id"].tolist() == [0, 1]


# -- bad input -----------------------------------------------------------------------------------------------------
def test_bad_arguments(bert_tokenizer):
    with pytest.raises(ValueError, match="Unknown masking strategy 'nouns'"):
        DataCollatorForVLMasking(bert_tokenizer, strategy="nouns")
    for probability in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"mlm_probability.*\(0, 1\]"):
            DataCollatorForVLMasking(bert_tokenizer, mlm_probability=probability)
    with pytest.raises(TypeError, match="mlm_probability"):
        DataCollatorForVLMasking(bert_tokenizer, mlm_probability="0.2")
    DataCollatorForVLMasking(bert_tokenizer, mlm_probability=1)  # the upper bound is allowed
    with pytest.raises(ValueError, match="must not exceed 1"):
        DataCollatorForVLMasking(bert_tokenizer, mask_replace_prob=0.8, random_replace_prob=0.3)
    with pytest.raises(ValueError, match="return_tensors"):
        DataCollatorForVLMasking(bert_tokenizer, return_tensors="tf")
    with pytest.raises(ValueError, match="model_family"):
        DataCollatorForVLMasking(bert_tokenizer, model_family="clip")


def test_tokenizer_without_mask_token():
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe_tokenizer().backend_tokenizer, pad_token="<pad>")
    with pytest.raises(ValueError, match="no mask token.*add_special_tokens"):
        DataCollatorForVLMasking(tokenizer)


def test_tokenizer_without_fast_backend(minilm_path):
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = BertTokenizerLegacy(f"{minilm_path}/vocab.txt")
    assert not slow.is_fast
    with pytest.raises(TypeError, match="needs a fast tokenizer"):
        DataCollatorForVLMasking(slow, strategy="content_words")
    with pytest.raises(TypeError, match="needs a fast tokenizer"):
        VLMaskingTagger(slow)
    DataCollatorForVLMasking(slow, strategy="random")  # the token-level baseline needs no word ids


def test_top_concrete_without_a_table(bert_tokenizer):
    with pytest.raises(ValueError, match="top_concrete.*concreteness table"):
        DataCollatorForVLMasking(bert_tokenizer, strategy="top_concrete", lexicon=VLLexicon())
    collator = DataCollatorForVLMasking(bert_tokenizer, strategy="top_concrete", lexicon=norms_lexicon())
    rows = tag(bert_tokenizer, CAPTIONS)  # tagged without norms
    with pytest.raises(ValueError, match=r"vl_concreteness.*VLLexicon\(concreteness=path\)"):
        collator(rows)


def test_untagged_examples_and_other_bad_batches(bert_tokenizer):
    collator = DataCollatorForVLMasking(bert_tokenizer, strategy="content_words")
    plain = [dict(bert_tokenizer(caption)) for caption in CAPTIONS]
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        collator(plain)
    with pytest.raises(ValueError, match="empty batch"):
        collator([])
    with pytest.raises(TypeError, match="list of dicts"):
        collator([[101, 2000, 102]])
    with pytest.raises(ValueError, match="no `input_ids`"):
        collator([{"text": "a dog"}])
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows[0]["input_ids"] = rows[0]["input_ids"][:-1]
    rows[0]["attention_mask"] = rows[0]["attention_mask"][:-1]
    rows[0]["token_type_ids"] = rows[0]["token_type_ids"][:-1]
    rows[0]["special_tokens_mask"] = rows[0]["special_tokens_mask"][:-1]
    with pytest.raises(ValueError, match="changed after tagging"):
        collator(rows)


def test_dataloader_over_a_torch_formatted_dataset(bert_tokenizer):
    from datasets import Dataset
    from torch.utils.data import DataLoader

    collator = DataCollatorForVLMasking(bert_tokenizer, "top_concrete", seed=0, lexicon=norms_lexicon())
    data = Dataset.from_dict({"text": CAPTIONS}).map(collator.tagger(), batched=True, remove_columns=["text"])
    for formatted in (data, data.with_format("torch")):
        batches = list(DataLoader(formatted, batch_size=3, collate_fn=collator))
        assert len(batches) == 3
        for batch in batches:
            assert (batch["labels"] != -100).any(dim=1).all()
            assert batch["input_ids"].dtype == torch.long and batch["attention_mask"].shape == batch["labels"].shape
