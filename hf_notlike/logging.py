# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The `hf_notlike` logger hierarchy, set up like `transformers.logging`.

Every library module logs through a child of the `"hf_notlike"` logger (`get_logger(__name__)`) and never prints.
The library's root logger writes to stderr through one handler of its own and does not propagate to Python's root
logger, so messages show once whatever the application configures; its level is WARNING unless the environment
variable `HF_NOTLIKE_VERBOSITY` (`debug`, `info`, `warning`, `error`, `critical`) says otherwise.

```python
>>> import hf_notlike
>>> hf_notlike.logging.set_verbosity_info()      # progress messages, e.g. the timing plan of a sweep
>>> hf_notlike.logging.set_verbosity_error()     # only errors
>>> hf_notlike.logging.get_verbosity() == hf_notlike.logging.ERROR
True
>>> hf_notlike.logging.set_verbosity_warning()   # the default
```
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from logging import CRITICAL, DEBUG, ERROR, INFO, NOTSET, WARNING  # noqa: F401  (re-exported, as in transformers)

from .errors import HfNotlikeInputError, HfNotlikeTypeError

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "WARNING",
    "get_logger",
    "get_verbosity",
    "set_verbosity",
    "set_verbosity_debug",
    "set_verbosity_info",
    "set_verbosity_warning",
    "set_verbosity_error",
    "enable_default_handler",
    "disable_default_handler",
    "enable_propagation",
    "disable_propagation",
]

LIBRARY_NAME = "hf_notlike"
ENV_VARIABLE = "HF_NOTLIKE_VERBOSITY"
_LEVELS = {"debug": DEBUG, "info": INFO, "warning": WARNING, "error": ERROR, "critical": CRITICAL}
_lock = threading.Lock()
_default_handler: logging.Handler | None = None


def _default_level() -> int:
    name = os.environ.get(ENV_VARIABLE)
    if name is None:
        return WARNING
    if name.lower() in _LEVELS:
        return _LEVELS[name.lower()]
    logging.getLogger(LIBRARY_NAME).warning(
        f"{ENV_VARIABLE}={name!r} is not a level; use one of {', '.join(_LEVELS)}. Using 'warning'."
    )
    return WARNING


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to the *current* `sys.stderr` (looked up at each message, so redirections and
    pytest's `capsys` see library messages)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):  # logging.StreamHandler.__init__ / setStream assign it; the property always wins
        pass


def _root() -> logging.Logger:
    return logging.getLogger(LIBRARY_NAME)


def _configure_library_root_logger() -> None:
    global _default_handler
    with _lock:
        if _default_handler is not None:
            return
        _default_handler = _StderrHandler()
        root = _root()
        root.addHandler(_default_handler)
        root.setLevel(_default_level())
        root.propagate = False


def get_logger(name: str | None = None) -> logging.Logger:
    """A logger in the `hf_notlike` hierarchy.

    Args:
        name (`str`, *optional*): a module name (`__name__`); names outside the package are put under it
            (`"hf_notlike.<name>"`). `None` gives the library's root logger.

    Returns:
        `logging.Logger`: `hf_notlike` or one of its children, so [`set_verbosity`] governs it.

    Example:

    ```python
    >>> from hf_notlike.logging import get_logger
    >>> get_logger("hf_notlike.early_exit.tradeoff").name
    'hf_notlike.early_exit.tradeoff'
    >>> get_logger("my_script").name
    'hf_notlike.my_script'
    ```
    """
    _configure_library_root_logger()
    if name is None or name == LIBRARY_NAME:
        return _root()
    if not name.startswith(LIBRARY_NAME + "."):
        name = f"{LIBRARY_NAME}.{name}"
    return logging.getLogger(name)


def get_verbosity() -> int:
    """The level of the `hf_notlike` logger (`hf_notlike.logging.WARNING` unless changed)."""
    _configure_library_root_logger()
    return _root().getEffectiveLevel()


def set_verbosity(level: int | str) -> None:
    """Sets the level of the `hf_notlike` logger and so of every library module.

    Args:
        level (`int` or `str`): `hf_notlike.logging.DEBUG` / `INFO` / `WARNING` / `ERROR` / `CRITICAL`, or one of
            those names (any case).

    Raises:
        `ValueError` for an unknown level name; `TypeError` for anything but an int or a str.
    """
    if isinstance(level, str):
        if level.lower() not in _LEVELS:
            raise HfNotlikeInputError(f"Unknown verbosity {level!r}; use one of {', '.join(_LEVELS)}.")
        level = _LEVELS[level.lower()]
    if isinstance(level, bool) or not isinstance(level, int):
        raise HfNotlikeTypeError(f"level must be an int (e.g. hf_notlike.logging.INFO) or a level name, got {level!r}.")
    _configure_library_root_logger()
    _root().setLevel(level)


def set_verbosity_debug() -> None:
    """Sets the verbosity to `DEBUG`."""
    set_verbosity(DEBUG)


def set_verbosity_info() -> None:
    """Sets the verbosity to `INFO` (progress messages such as a sweep's timing plan)."""
    set_verbosity(INFO)


def set_verbosity_warning() -> None:
    """Sets the verbosity to `WARNING` (the default)."""
    set_verbosity(WARNING)


def set_verbosity_error() -> None:
    """Sets the verbosity to `ERROR` (warnings silenced)."""
    set_verbosity(ERROR)


def disable_default_handler() -> None:
    """Removes the library's stderr handler (e.g. to route messages only through your own handlers)."""
    _configure_library_root_logger()
    _root().removeHandler(_default_handler)


def enable_default_handler() -> None:
    """Puts the library's stderr handler back."""
    _configure_library_root_logger()
    _root().addHandler(_default_handler)


def enable_propagation() -> None:
    """Lets library messages reach Python's root logger too (e.g. pytest's `caplog`); disable the default handler
    as well to avoid showing them twice."""
    _configure_library_root_logger()
    _root().propagate = True


def disable_propagation() -> None:
    """Stops library messages at the `hf_notlike` logger (the default)."""
    _configure_library_root_logger()
    _root().propagate = False


_configure_library_root_logger()
