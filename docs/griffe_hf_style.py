"""A griffe extension for the API reference: reads the library's transformers-style docstrings.

- ``[`Name`]`` (the transformers way of naming another object) becomes a cross-reference when ``Name`` is a public
  name of ``hf_notlike`` (``[`Name.attr`]`` links to ``Name``), and plain code otherwise, so that no reference to an
  object outside the site (transformers, datasets) can break the strict build.
- ``Raises:`` / ``Warns:`` sections written as prose ("`ValueError` when ...") become admonitions, so the text is
  shown instead of being dropped by the Google-style parser, which expects ``ExceptionType: description`` lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import griffe

_PACKAGE_INIT = Path(__file__).resolve().parents[1] / "hf_notlike" / "__init__.py"
# `[`Name`]` or `[`Name.attr`]` not already followed by a link target
_REFERENCE = re.compile(r"\[`([A-Za-z_][\w.]*)(?:\(\))?`\](?![\[(])")
_PROSE_SECTION = re.compile(r"^(?P<indent>[ \t]*)(?P<title>Raises|Warns):[ \t]*\n(?P<first>[ \t]+)`", re.M)


def _public_names() -> set[str]:
    """`hf_notlike.__all__`, read from the source (no import: the build does not need torch loaded)."""
    tree = ast.parse(_PACKAGE_INIT.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


class HFStyleDocstrings(griffe.Extension):
    def __init__(self) -> None:
        super().__init__()
        self.public = _public_names()

    def _link(self, match: re.Match) -> str:
        name = match.group(1)
        head = name.split(".")[0]
        if head in self.public:
            return f"[`{name}`][hf_notlike.{head}]"
        return f"`{name}`"

    def on_instance(self, *, node: Any, obj: griffe.Object, agent: Any, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None:
            return
        text = _REFERENCE.sub(self._link, docstring.value)
        text = _PROSE_SECTION.sub(
            lambda m: f"{m['indent']}{'Errors' if m['title'] == 'Raises' else 'Warnings emitted'}:\n{m['first']}`",
            text,
        )
        docstring.value = text
