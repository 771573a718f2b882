# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Local folder or Hub repo id: the one rule every entry point that takes either uses, so that a mistyped local folder
is reported as "no such folder" (with the close names in its parent folder) instead of as a Hub problem.

A name is a local path when it exists, or when it looks like one: it is absolute, starts with `.` or `~`, holds a
backslash or more than one `/`, cannot be a repo id (`name` or `owner/name` of letters, digits, `-`, `_`, `.`), or
its parent folder exists. Only the other names are Hub repo ids.

Example:

```python
>>> from hf_notlike.paths import looks_like_local_path
>>> looks_like_local_path("./runs/map"), looks_like_local_path("/no/such/dir"), looks_like_local_path("me/my-map")
(True, True, False)
```
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from .errors import HfNotlikeFileNotFoundError

__all__ = ["LocalFolderNotFoundError", "check_local_or_hub", "close_names", "looks_like_local_path"]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


class LocalFolderNotFoundError(HfNotlikeFileNotFoundError):
    """A name that looks like a local path names no existing folder (a `FileNotFoundError` and a `ValueError`)."""


def looks_like_local_path(name: str | os.PathLike) -> bool:
    """Whether `name` is (or can only be) a local path rather than a Hub repo id; see the module docstring.

    Args:
        name (`str` or `os.PathLike`): a folder or a Hub repo id.
    """
    if isinstance(name, os.PathLike):
        return True
    text = str(name)
    if os.path.exists(text) or os.path.isabs(text) or text.startswith((".", "~")):
        return True
    if "\\" in text or text.count("/") > 1 or (os.sep != "/" and os.sep in text):
        return True
    if not _HUB_ID.match(text) or ".." in text:
        return True
    parent = os.path.dirname(text)
    return bool(parent) and os.path.isdir(parent)


def close_names(path: str | os.PathLike, limit: int = 3) -> list[str]:
    """Up to `limit` folders in `path`'s parent folder whose names are close to its last part (`difflib`), as paths
    written like `path`; when the parent folder does not exist either, the close names of the parent; else []."""
    path = os.path.expanduser(os.fspath(path)).rstrip("/\\") or os.fspath(path)
    parent, leaf = os.path.split(path)
    folder = parent or "."
    if not os.path.isdir(folder):
        return close_names(parent, limit) if parent and parent != path else []
    try:  # folders only: every caller looks for a folder
        entries = sorted(name for name in os.listdir(folder) if os.path.isdir(os.path.join(folder, name)))
    except OSError:
        return []
    return [os.path.join(parent, name) if parent else name
            for name in difflib.get_close_matches(leaf, entries, n=limit, cutoff=0.6)]


def missing_folder_message(name: str | os.PathLike, what: str = "folder") -> str:
    """The message for a local path that does not exist: "no such folder", the close names, the fix."""
    text = os.fspath(name)
    parent = os.path.dirname(os.path.expanduser(text).rstrip("/\\"))
    suggestions = close_names(text)
    hint = f" Did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    where = f" ({parent!r} has no entry of that name)" if parent and os.path.isdir(parent) else (
        f" (its parent folder {parent!r} does not exist either)" if parent else "")
    return (f"{text!r} does not exist: no such {what}{where}.{hint} Check the path; a Hub repo id is written "
            "`owner/name`, without a leading `.`, `/` or `~`.")


def check_local_or_hub(name: str | os.PathLike, what: str = "folder") -> Path | None:
    """Resolves a "local folder or Hub repo id" argument without any network request.

    Args:
        name (`str` or `os.PathLike`): the argument.
        what (`str`, *optional*, defaults to `"folder"`): how to call the folder in the error (e.g. `"model folder"`).

    Returns:
        `Path` for a local path that exists, `None` for a name to treat as a Hub repo id.

    Raises:
        [`LocalFolderNotFoundError`] (a `FileNotFoundError` and a `ValueError`): `name` looks like a local path (see
        [`looks_like_local_path`]) but does not exist; the message suggests close names in its parent folder.
    """
    text = os.path.expanduser(os.fspath(name))
    if os.path.exists(text):
        return Path(text)
    if looks_like_local_path(name):
        raise LocalFolderNotFoundError(missing_folder_message(name, what))
    return None
