# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Method-agnostic Hub helpers: card templates, the one Markdown table renderer, card checks, display names that never
leak a local path, and Hub calls whose network failures say what was being done and what to check.

Each method owns its card: the early-exit model card lives in `hf_notlike.early_exit.model_card`, the data-map
dataset card in `hf_notlike.cartography.card`. This module imports no method subpackage.

Example:

```python
>>> from hf_notlike.hub import display_name, markdown_table
>>> print(markdown_table([{"threshold": 0.9, "accuracy": 0.8512}], [("threshold", "threshold"), ("accuracy", "acc")]))
| threshold | acc |
|---|---:|
| 0.9000 | 0.8512 |
>>> display_name("/home/me/runs/minilm-rt/checkpoint-500"), display_name("csv"), display_name("org/bert-base")
('minilm-rt', None, 'bert-base')
```
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import HfNotlikeFileNotFoundError, HfNotlikeInputError

__all__ = [
    "TEMPLATES_DIR",
    "LIBRARY_NAME",
    "HubConnectionError",
    "check_card",
    "display_name",
    "hub_call",
    "is_hub_repo_id",
    "load_json_file",
    "markdown_table",
    "push_folder",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
LIBRARY_NAME = "hf_notlike"
# names that say nothing about a model or data set: folder names of runs and the builder names of local files
_GENERIC_NAMES = {
    "model", "models", "output", "outputs", "out", "final", "best", "last", "save", "saved", "checkpoints", "tmp",
    "temp", "snapshots", "main", "data", "dataset", "train", "csv", "json", "jsonl", "parquet", "text", "arrow",
    "pandas", "generator", "dict", "list", "in-memory",
}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


class HubConnectionError(OSError):
    """A Hub call failed before the Hub answered (no network, offline mode, a wrong endpoint) or was refused for lack
    of a valid token; the message says what was being pushed or fetched, where, and what to check."""


def load_json_file(path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Reads a JSON file, with an error that names the file when it is missing or malformed.

    Args:
        path (`str` or `os.PathLike`): the file.
        what (`str`, *optional*, defaults to `"JSON file"`): what the file is, for the error message.

    Raises:
        `FileNotFoundError` when the file does not exist, `ValueError` when it is not valid JSON.
    """
    path = Path(path)
    if not path.is_file():
        raise HfNotlikeFileNotFoundError(f"The {what} {path} does not exist.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HfNotlikeInputError(f"The {what} {path} is not valid JSON ({error}); re-create it or delete it.") from None


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] | None = None) -> str:
    """A Markdown table of `rows` (the one table renderer of the cards and printed results).

    Args:
        rows (`list[dict]`): one mapping per row; missing keys give empty cells.
        columns (`list[tuple[str, str]]`, *optional*): `(key, header)` pairs; defaults to every key of the first row.
            The first column is left-aligned, the others right-aligned; floats get 4 decimals (1 above 1000).
    """
    if not rows:
        return ""
    columns = list(columns or [(key, key) for key in rows[0]])
    lines = ["| " + " | ".join(header for _, header in columns) + " |", "|---|" + "---:|" * (len(columns) - 1)]
    for row in rows:
        lines.append("| " + " | ".join(_format_cell(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines)


def _format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def is_hub_repo_id(name: Any) -> bool:
    """Whether `name` is a `user/name` Hub repo id and not a local path that exists (safe to write into card
    metadata such as `base_model` or `datasets`)."""
    return isinstance(name, str) and bool(_REPO_ID.match(name)) and not os.path.exists(name)


def display_name(name_or_path: Any) -> str | None:
    """A short, meaningful name for a model or data set, never a local path: the repo name of a Hub id, else the
    last folder name of a path that is not generic (`model`, `outputs`, `checkpoint-500`, a temporary or hash-named
    folder, ...); None when nothing meaningful is left (e.g. the `csv` builder name of a local file).

    Args:
        name_or_path (`str` or `os.PathLike`, *optional*): a Hub id, a path or a display name.
    """
    if name_or_path is None:
        return None
    text = str(name_or_path).strip().rstrip("/\\")
    if not text:
        return None
    parts = [part for part in re.split(r"[/\\]", text) if part]
    for part in reversed(parts):
        stem = part[: -len(Path(part).suffix)] if Path(part).suffix in (".csv", ".json", ".jsonl", ".parquet") else part
        lowered = stem.lower()
        if (
            lowered in _GENERIC_NAMES
            or re.fullmatch(r"checkpoint-\d+|run-\d+|tmp\w*|pytest-\d+|[0-9a-f]{16,}|\d+", lowered)
            or lowered.startswith(("tmp", "test_", "pytest-of-"))
        ):
            continue
        return stem
    return None


def check_card(
    card: Any,
    *,
    repo_type: str = "model",
    tags: Sequence[str] = (LIBRARY_NAME,),
    library_name: str | None = None,
    pipeline_tag: str | None = None,
    needs_data_files: bool = False,
) -> dict[str, Any]:
    """Checks that a rendered card's metadata parses and holds what the method requires; each method calls it with
    its own requirements (`hf_notlike.early_exit.check_early_exit_card`, `hf_notlike.cartography.card`).

    Args:
        card (`ModelCard`, `DatasetCard`, `str` or `os.PathLike`): the card, its text, or the README.md path.
        repo_type (`str`, *optional*, defaults to `"model"`): `"model"` or `"dataset"`.
        tags (`list[str]`, *optional*): tags that must be present.
        library_name (`str`, *optional*), pipeline_tag (`str`, *optional*): required values of these fields.
        needs_data_files (`bool`, *optional*, defaults to `False`): require `configs` with `data_files`.

    Returns:
        `dict`: the card metadata.

    Raises:
        `ValueError` listing what is missing or malformed; `FileNotFoundError` for a missing README path.
    """
    from huggingface_hub import DatasetCard, ModelCard

    if repo_type not in ("model", "dataset"):
        raise HfNotlikeInputError(f"`repo_type` must be 'model' or 'dataset', got {repo_type!r}.")
    card_class = ModelCard if repo_type == "model" else DatasetCard
    if isinstance(card, os.PathLike) or (isinstance(card, str) and not card.lstrip().startswith("---")):
        path = Path(card)
        if not path.is_file():
            raise HfNotlikeFileNotFoundError(f"The card {path} does not exist.")
        text = path.read_text(encoding="utf-8")
    else:
        text = card if isinstance(card, str) else str(card)
    try:
        parsed = card_class(text, ignore_metadata_errors=False)
    except Exception as error:  # huggingface_hub raises ValueError or a YAML error, depending on the defect
        raise HfNotlikeInputError(f"The {repo_type} card metadata does not parse: {error}") from None
    metadata = parsed.data.to_dict()
    problems = []
    if library_name is not None and metadata.get("library_name") != library_name:
        problems.append(f"library_name must be {library_name!r}, got {metadata.get('library_name')!r}")
    present = metadata.get("tags") or []
    problems += [f"the tag {tag!r} is missing" for tag in tags if tag not in present]
    if pipeline_tag is not None and metadata.get("pipeline_tag") != pipeline_tag:
        problems.append(f"pipeline_tag must be {pipeline_tag!r}")
    if repo_type == "model" and getattr(parsed.data, "eval_results", None) and not parsed.data.model_name:
        problems.append("eval_results need a model_name")
    if needs_data_files:
        configs = metadata.get("configs") or []
        if not configs or not all(isinstance(c, dict) and c.get("data_files") for c in configs):
            problems.append("configs with data_files (the per-example table) are missing")
    if re.search(r"(?<![\w.:/~-])/[\w.-]+/[\w.-]+|(?<![\w])[A-Za-z]:\\[\w.-]", text):  # /a/b/..., C:\x
        problems.append("the card holds a local absolute path")
    if not parsed.text.strip():
        problems.append("the card has no body")
    if problems:
        raise HfNotlikeInputError(f"The {repo_type} card is incomplete: " + "; ".join(problems) + ".")
    return metadata


@contextlib.contextmanager
def hub_call(action: str, repo_id: str, repo_type: str = "model", endpoint: str | None = None) -> Iterator[None]:
    """Turns network failures of the Hub calls inside the block into a [`HubConnectionError`] that says what was
    being done, where, and what to check. Errors the Hub itself answered (a missing repo, a wrong revision) pass
    through unchanged, except refusals for lack of a valid token (401 / 403).

    Args:
        action (`str`): what was being done, e.g. `"push the data map"`.
        repo_id (`str`): the repository.
        repo_type (`str`, *optional*, defaults to `"model"`): `"model"` or `"dataset"`.
        endpoint (`str`, *optional*): the Hub endpoint (default: `HF_ENDPOINT` or huggingface.co).
    """
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, HTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    where = endpoint or constants.ENDPOINT
    target = f"the {repo_type} repo {repo_id!r} on {where}"
    try:
        try:
            yield
        except LocalEntryNotFoundError as error:  # downloads wrap the network error: judge by its cause
            cause = error.__cause__
            if isinstance(cause, (OfflineModeIsEnabled, HTTPError)) and not isinstance(cause, HfHubHTTPError):
                raise cause from None
            raise
    except OfflineModeIsEnabled as error:
        raise HubConnectionError(
            f"Could not {action} to/from {target}: offline mode is on (HF_HUB_OFFLINE=1); unset it to reach the Hub."
        ) from error
    except HfHubHTTPError as error:
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status not in (401, 403):
            raise
        raise HubConnectionError(
            f"Could not {action} to/from {target}: the Hub refused the request ({status}). Check your token "
            "(`hf auth login`, HF_TOKEN or `token=`) and that it has write access to the repo."
        ) from error
    except HTTPError as error:  # no answer at all: DNS, refused connection, timeout, proxy
        raise HubConnectionError(
            f"Could not {action} to/from {target}: the Hub did not answer ({' '.join(str(error).split())}). Check "
            "your network connection (and proxy), the endpoint (HF_ENDPOINT), and that you are logged in "
            "(`hf auth login` or HF_TOKEN)."
        ) from error


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    repo_type: str = "model",
    what: str = "files",
    token: str | bool | None = None,
    private: bool | None = None,
    commit_message: str | None = None,
    commit_description: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    endpoint: str | None = None,
) -> str:
    """Creates the repo if needed and uploads `folder` with `HfApi.upload_folder`; network failures raise a
    [`HubConnectionError`] naming `what` was pushed and where.

    Returns:
        `str`: the URL of the commit.
    """
    from huggingface_hub import HfApi

    if not isinstance(repo_id, str) or not repo_id.strip():
        raise HfNotlikeInputError(f"`repo_id` must be a non-empty string like 'user/name'; got {repo_id!r}.")
    api = HfApi(endpoint=endpoint, token=token)
    with hub_call(f"push the {what}", repo_id, repo_type, endpoint):
        repo_id = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True).repo_id
        info = api.upload_folder(
            repo_id=repo_id, repo_type=repo_type, folder_path=str(folder),
            commit_message=commit_message or f"Upload {what}", commit_description=commit_description,
            revision=revision, create_pr=create_pr,
        )
    return str(getattr(info, "commit_url", info))
