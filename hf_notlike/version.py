# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The version of hf_notlike: the one place it is written (pyproject.toml reads it from here)."""

__version__ = "0.1.0"
