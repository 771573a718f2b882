# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The errors `hf_notlike` raises for input the caller got wrong.

Every check of what a user passed (an argument, a dataset, a file, a model) raises a subclass of
[`HfNotlikeInputError`], with a message naming the problem and the fix. It subclasses `ValueError`, so existing
`except ValueError` code keeps working; the type- and file-flavoured subclasses are also `TypeError` /
`FileNotFoundError`. Anything else that escapes the library (a plain `ValueError` from deep inside a computation, a
`RuntimeError`) is a bug or an environment problem, not a usage mistake: the `hf-notlike` command line prints the
input errors as one line with exit code 2 and lets everything else through with its traceback.

```python
>>> from hf_notlike.errors import HfNotlikeInputError
>>> try:
...     raise HfNotlikeInputError("threshold must be in (0, 1], got 2; pass a probability.")
... except ValueError as error:
...     print(type(error).__name__, "-", error)
HfNotlikeInputError - threshold must be in (0, 1], got 2; pass a probability.
```
"""

from __future__ import annotations

__all__ = ["HfNotlikeInputError", "HfNotlikeTypeError", "HfNotlikeFileNotFoundError"]


class HfNotlikeInputError(ValueError):
    """Something the caller passed is wrong (a value, a dataset, a file, a model); the message names the problem and
    the fix. Raised before any expensive work where it can be checked."""


class HfNotlikeTypeError(HfNotlikeInputError, TypeError):
    """An argument of the wrong type (also a `TypeError`)."""


class HfNotlikeFileNotFoundError(HfNotlikeInputError, FileNotFoundError):
    """A file, folder or data package the caller named does not exist (also a `FileNotFoundError`)."""
