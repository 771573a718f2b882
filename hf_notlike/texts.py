# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Checks of the texts that enter the library: a missing (null, NaN) or empty text is an error naming its rows and the
fix, never the string `"None"` or an empty input silently tokenized.

Example:

```python
>>> from hf_notlike.texts import check_texts, missing_text_rows
>>> missing_text_rows(["a good film", None, "  ", float("nan"), 3])
[1, 2, 3]
>>> check_texts(["a good film", None], "`dataset`", "text")
Traceback (most recent call last):
...
ValueError: `dataset` has no text in 1 row of column 'text' (row 1, counting from 0 without the header): ...
```
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .errors import HfNotlikeInputError

__all__ = ["check_texts", "missing_text_rows"]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (list, tuple)):  # pre-split words: missing when no word has text
        return all(_is_missing(v) for v in value)
    return False


def missing_text_rows(values: Sequence[Any]) -> list[int]:
    """The (0-based) positions of the missing texts in `values`: `None`, NaN, and empty or whitespace-only strings
    (a list of words counts as missing when none of its words has text). Other values (numbers) are not missing.

    Args:
        values (`Sequence`): the texts, e.g. `dataset["text"]`.

    Returns:
        `list[int]`: the positions, in order.
    """
    return [row for row, value in enumerate(values) if _is_missing(value)]


def check_texts(values: Sequence[Any], where: str, column: str | None = None, error: type[Exception] = HfNotlikeInputError,
                rows: Sequence[int] | None = None) -> None:
    """Raises `error` naming the rows whose text is missing (see [`missing_text_rows`]) and the fix (drop or fill
    them); does nothing when every text is present.

    Args:
        values (`Sequence`): the texts.
        where (`str`): how to name their source in the message (a file, `"the dataset"`, ...).
        column (`str`, *optional*): the column the texts come from.
        error (`type[Exception]`, *optional*, defaults to [`~hf_notlike.errors.HfNotlikeInputError`]): the class of the error raised.
        rows (`Sequence[int]`, *optional*): the row number of each value in its source (default: its position).
    """
    missing = missing_text_rows(values)
    if not missing:
        return
    numbers = [rows[i] for i in missing] if rows is not None else missing
    shown = ", ".join(str(n) for n in numbers[:10]) + (f", ... ({len(numbers)} in all)" if len(numbers) > 10 else "")
    of_column = f" of column {column!r}" if column is not None else ""
    name = column if column is not None else "text"
    raise error(
        f"{where} has no text in {len(missing)} row{'s' if len(missing) > 1 else ''}{of_column} "
        f"(row{'s' if len(missing) > 1 else ''} {shown}, counting from 0 without the header): a null or empty text "
        f"would be read as the string 'None' or as nothing. Drop those rows or fill in their text, e.g. "
        f"`dataset.filter(lambda row: row[{name!r}] is not None and str(row[{name!r}]).strip() != '')` or, in "
        f"pandas, `df.dropna(subset=[{name!r}])`."
    )
