# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Model and dataset cards for the Hub, and the checks shared by early-exit models and data maps.

Cards are rendered with `huggingface_hub.ModelCard.from_template` / `DatasetCard.from_template` from the Jinja2
templates shipped in `hf_notlike/templates/`. Early-exit models write theirs on `save_pretrained` and `push_to_hub`
through `EarlyExitModelMixin.model_card_hook` (set to [`write_early_exit_card`] when `hf_notlike` is imported); data
maps call [`write_data_map_card`] from their own `save_pretrained`.

Example:

```python
>>> from hf_notlike.hub import render_early_exit_card
>>> from hf_notlike import EarlyExitBertConfig
>>> config = EarlyExitBertConfig(num_hidden_layers=4, exit_layers=[2], num_labels=2)
>>> card = render_early_exit_card(config, repo_id="me/tiny-early-exit")
>>> card.data.tags
['hf_notlike', 'early-exit', 'text-classification', 'bert']
```
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

__all__ = [
    "TEMPLATES_DIR",
    "SWEEP_FILE",
    "CARD_INFO_ATTRIBUTE",
    "set_card_info",
    "load_sweep",
    "load_json_file",
    "render_early_exit_card",
    "write_early_exit_card",
    "render_data_map_card",
    "write_data_map_card",
    "check_card",
    "markdown_table",
]

TEMPLATES_DIR = Path(__file__).parent / "templates"
EARLY_EXIT_TEMPLATE = TEMPLATES_DIR / "early_exit_model_card.md"
DATA_MAP_TEMPLATE = TEMPLATES_DIR / "data_map_card.md"
SWEEP_FILE = "sweep.json"
CARD_INFO_ATTRIBUTE = "hub_card_info"
LIBRARY_NAME = "hf_notlike"
CARD_INFO_KEYS = (
    "repo_id", "model_name", "model_summary", "base_model", "datasets", "dataset_name", "dataset_id", "dataset_split",
    "license", "language", "tags", "training_details", "sweep_description", "example_text",
)
# sweep.json column names (any of the aliases) and how the card shows them
SWEEP_COLUMNS = {
    "threshold": (("threshold", "exit_threshold"), "threshold"),
    "accuracy": (("accuracy", "acc", "eval_accuracy"), "accuracy"),
    "mean_layers": (("mean_layers", "avg_layers", "mean_layer", "layers_used", "mean_exit_layer"), "mean layers"),
    "speedup": (("speedup", "speed_up", "speed-up", "wall_clock_speedup"), "speed-up"),
}


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
        raise FileNotFoundError(f"The {what} {path} does not exist.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"The {what} {path} is not valid JSON ({error}); re-create it or delete it.") from None


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a threshold sweep saved as `sweep.json` next to an early-exit model: either the JSON of
    `TradeoffResult.to_json` (`{"rows": [...], "batch_sizes": [...], "num_examples": ..., ...}`) or a plain list of row
    dicts (threshold, accuracy, mean layers, speed-up, ...).

    Args:
        path (`str` or `os.PathLike`): the `sweep.json` file, or the model folder that holds it.

    Returns:
        `dict` with the `rows` and whatever else the file records.

    Raises:
        `FileNotFoundError` / `ValueError` naming the file when it is missing or malformed.
    """
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / SWEEP_FILE
    return _check_sweep(load_json_file(path, what="threshold sweep"), where=f"The threshold sweep {path}")


def _check_sweep(sweep: Any, where: str = "The threshold sweep") -> dict[str, Any]:
    if isinstance(sweep, list):
        sweep = {"rows": sweep}
    rows = sweep.get("rows") if isinstance(sweep, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise ValueError(
            f"{where} must be a non-empty JSON list of row objects (e.g. "
            '[{"threshold": 0.9, "accuracy": 0.85, "mean_layers": 3.2, "speedup": 1.7}]) or an object with such '
            '"rows" (`TradeoffResult.to_json`).'
        )
    if not any(_find_column(row, "threshold") is not None for row in rows):
        raise ValueError(f"{where} has no `threshold` column (columns: {sorted(rows[0])}).")
    return sweep


def set_card_info(model: Any, **info: Any) -> Any:
    """Attaches what the model card should say beyond the configuration (the base model, the data, a summary) to an
    early-exit model; `save_pretrained` / `push_to_hub` then render it into README.md.

    Args:
        model: an early-exit model.
        **info: any of `repo_id`, `model_name`, `model_summary`, `base_model` (a Hub id), `datasets` (Hub ids),
            `dataset_name` (display name), `dataset_id` (Hub id used in `eval_results`), `dataset_split`, `license`,
            `language`, `tags`, `training_details`, `sweep_description`, `example_text`.

    Returns:
        The model, for chaining.

    Example:

    ```python
    >>> from hf_notlike.hub import set_card_info
    >>> model = set_card_info(model, base_model="sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    ```
    """
    unknown = sorted(set(info) - set(CARD_INFO_KEYS))
    if unknown:
        raise TypeError(f"set_card_info() got unknown fields {unknown}; the fields are {list(CARD_INFO_KEYS)}.")
    current = dict(getattr(model, CARD_INFO_ATTRIBUTE, None) or {})
    current.update({k: v for k, v in info.items() if v is not None})
    setattr(model, CARD_INFO_ATTRIBUTE, current)
    return model


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] | None = None) -> str:
    """A Markdown table of `rows`; `columns` is a list of `(key, header)` (defaults to every key of the first row)."""
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


def _find_column(row: Mapping[str, Any], name: str) -> str | None:
    aliases = SWEEP_COLUMNS[name][0]
    normalized = {key.lower().replace(" ", "_"): key for key in row}
    for alias in aliases:
        if alias in normalized:
            return normalized[alias]
    return None


def _sweep_table(sweep: dict[str, Any]) -> str:
    """The trade-off table of the card: model name (when rows have one), threshold, accuracy, mean layers, ideal and
    measured speed-ups (per batch size, and against the stock model when it was timed); other columns are left to
    `sweep.json`."""
    rows = sweep["rows"]
    keys = [key for row in rows for key in row]
    keys = list(dict.fromkeys(keys))

    def present(key: str) -> bool:
        return any(row.get(key) is not None for row in rows)

    columns: list[tuple[str, str]] = []
    if present("name"):
        columns.append(("name", "model"))
    for name in ("threshold", "accuracy", "mean_layers"):
        key = next((k for k in (_find_column(row, name) for row in rows) if k is not None), None)
        if key is not None:
            columns.append((key, SWEEP_COLUMNS[name][1]))
    if present("ideal_speedup"):
        columns.append(("ideal_speedup", "ideal speed-up"))
    key = next((k for k in (_find_column(row, "speedup") for row in rows) if k is not None), None)
    if key is not None:
        columns.append((key, SWEEP_COLUMNS["speedup"][1]))
    sizes = sorted({int(m.group(1)) for k in keys if (m := re.fullmatch(r"speedup_bs(\d+)", k))})
    for size in sizes:
        if present(f"speedup_bs{size}"):
            columns.append((f"speedup_bs{size}", f"speed-up (bs {size})"))
        if present(f"speedup_vs_stock_bs{size}"):
            columns.append((f"speedup_vs_stock_bs{size}", f"vs stock (bs {size})"))
    return markdown_table(rows, columns)


def _sweep_description(sweep: dict[str, Any]) -> str | None:
    """What the sweep measured, from the fields `TradeoffResult.to_json` records."""
    if "num_examples" not in sweep:
        return None
    info = sweep.get("info") or {}
    text = f"Accuracy and mean layers used over {sweep['num_examples']} evaluation examples"
    if sweep.get("num_timing_examples") and sweep.get("batch_sizes"):
        sizes = " and ".join(str(b) for b in sweep["batch_sizes"])
        where = ", ".join(
            part for part in (info.get("device"), f"{info['torch_threads']} threads" if "torch_threads" in info else None)
            if part
        )
        text += (
            f"; wall-clock speed-ups over {sweep['num_timing_examples']} of them at batch size{'s' if len(sweep['batch_sizes']) > 1 else ''} {sizes}, best of "
            f"{sweep.get('repeats', 1)} runs{f' ({where})' if where else ''}, relative to this model at threshold 1.0"
            " (\"vs stock\": relative to the stock transformers classifier of the same backbone)"
        )
    return text + ". The ideal speed-up is `num_layers / mean layers`."


def _sweep_eval_results(
    sweep: dict[str, Any], threshold: float, dataset_id: str, dataset_name: str, split: str | None
) -> list[EvalResult]:
    """Accuracy at the configured threshold and of the full model (threshold 1.0), when the sweep has them."""
    rows = [row for row in sweep["rows"] if row.get("kind", "early_exit") == "early_exit"]
    results = []
    for target, label in ((threshold, f"accuracy (exit threshold {threshold:g})"), (1.0, "accuracy (full model)")):
        if results and target == threshold == 1.0:
            break
        for row in rows:
            t_key, a_key = _find_column(row, "threshold"), _find_column(row, "accuracy")
            value, accuracy = row.get(t_key) if t_key else None, row.get(a_key) if a_key else None
            if isinstance(value, (int, float)) and isinstance(accuracy, (int, float)) and abs(value - target) < 1e-9:
                results.append(
                    EvalResult(
                        task_type="text-classification", dataset_type=dataset_id, dataset_name=dataset_name,
                        dataset_split=split, metric_type="accuracy", metric_value=float(accuracy),
                        metric_name=label,
                    )
                )
                break
    return results


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def render_early_exit_card(
    config: Any,
    *,
    sweep: dict[str, Any] | list[dict[str, Any]] | None = None,
    repo_id: str | None = None,
    model_name: str | None = None,
    model_summary: str | None = None,
    base_model: str | None = None,
    datasets: str | Sequence[str] | None = None,
    dataset_name: str | None = None,
    dataset_id: str | None = None,
    dataset_split: str | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
    training_details: str | None = None,
    sweep_description: str | None = None,
    example_text: str | None = None,
    tokenizer_id: str | None = None,
) -> ModelCard:
    """Renders the model card of an early-exit model from its configuration (and a threshold sweep, when one was run).

    Args:
        config ([`EarlyExitBertConfig`] or [`EarlyExitRobertaConfig`]): the model's configuration (exits, threshold,
            temperatures, labels).
        sweep (`dict` or `list[dict]`, *optional*): a threshold sweep as saved in `sweep.json` (see [`load_sweep`]):
            rendered as a table, and the accuracy at the configured threshold and of the full model go into
            `eval_results` when `dataset_id` or `datasets` is known.
        repo_id (`str`, *optional*): the repository the card is for (used in the loading snippets).
        model_name (`str`, *optional*): the title; defaults to the repository name.
        model_summary (`str`, *optional*): a paragraph at the top.
        base_model (`str`, *optional*): the Hub id of the checkpoint the model was fine-tuned from.
        datasets (`str` or `list[str]`, *optional*): Hub ids of the training data.
        dataset_name (`str`, *optional*): display name of the evaluation data; defaults to the first dataset.
        dataset_id (`str`, *optional*): Hub id of the evaluation data in `eval_results`; defaults to the first dataset.
        dataset_split (`str`, *optional*): the split the sweep was measured on.
        license (`str`, *optional*), language (`str` or `list[str]`, *optional*), tags (`list[str]`, *optional*):
            extra card metadata; the tags `hf_notlike`, `early-exit`, `text-classification` and the backbone are
            always present.
        training_details (`str`, *optional*): a Markdown paragraph for the "Training" section.
        sweep_description (`str`, *optional*): a sentence above the sweep table (data, hardware, batch size).
        example_text (`str`, *optional*): the input in the usage snippet.
        tokenizer_id (`str`, *optional*): where the usage snippet loads the tokenizer from; defaults to `repo_id`.

    Returns:
        `huggingface_hub.ModelCard`
    """
    if not hasattr(config, "exit_layers") or not hasattr(config, "temperatures"):
        raise TypeError(
            f"render_early_exit_card() needs an early-exit configuration (with `exit_layers` and `temperatures`), "
            f"got {type(config).__name__}."
        )
    repo_id = repo_id or "path/to/this/model"
    model_name = model_name or repo_id.rstrip("/").split("/")[-1]
    backbone = "RoBERTa" if "roberta" in config.model_type else "BERT"
    datasets = _as_list(datasets)
    dataset_id = dataset_id or (datasets[0] if datasets else None)
    dataset_name = dataset_name or dataset_id
    if sweep is not None:
        sweep = _check_sweep(sweep)
        sweep_description = sweep_description or _sweep_description(sweep)
    eval_results = None
    if sweep and dataset_id:
        eval_results = _sweep_eval_results(sweep, config.exit_threshold, dataset_id, dataset_name, dataset_split) or None
    all_tags = [LIBRARY_NAME, "early-exit", "text-classification", backbone.lower()]
    all_tags += [tag for tag in tags or [] if tag not in all_tags]
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        tags=all_tags,
        base_model=base_model,
        datasets=datasets,
        pipeline_tag="text-classification",
        license=license,
        language=_as_list(language),
        model_name=model_name,
        eval_results=eval_results,
    )
    exits = [
        {"index": k + 1, "layer": layer, "temperature": f"{temperature:.4f}", "loss_weight": f"{weight:g}"}
        for k, (layer, temperature, weight) in enumerate(
            zip(config.exit_layers, config.temperatures, config.exit_loss_weights, strict=True)
        )
    ]
    id2label = getattr(config, "id2label", None) or {}
    labels = ", ".join(f"`{i}` = {name}" for i, name in sorted(id2label.items(), key=lambda item: int(item[0])))
    if config.num_labels == 1:
        labels = "one regression output (always runs the full model)"
    card = ModelCard.from_template(
        card_data,
        template_path=str(EARLY_EXIT_TEMPLATE),
        model_name=model_name,
        model_summary=model_summary,
        backbone=backbone,
        repo_id=repo_id,
        tokenizer_id=tokenizer_id or repo_id,
        example_text=(example_text or "A gripping, beautifully acted film.").replace('"', '\\"'),
        num_exits=config.num_exits,
        num_layers=config.num_hidden_layers,
        exit_threshold=config.exit_threshold,
        exit_input=config.exit_input,
        exits=exits,
        calibrated=any(abs(t - 1.0) > 1e-12 for t in config.temperatures),
        labels=labels or f"{config.num_labels} classes",
        sweep_table=_sweep_table(sweep) if sweep else None,
        sweep_description=sweep_description,
        training_details=training_details,
        dataset_name=dataset_name,
    )
    check_card(card, kind="early-exit")
    return card


def _existing_card_info(folder: Path) -> dict[str, Any]:
    """The card fields kept from an earlier card in `folder` (so a reloaded model keeps its base model and data)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return {}
    try:
        data = ModelCard.load(readme).data
    except Exception:  # a hand-written or broken README: start afresh
        return {}
    if LIBRARY_NAME not in (data.tags or []):
        return {}
    info = {key: getattr(data, key, None) for key in ("base_model", "datasets", "license", "language", "model_name")}
    return {key: value for key, value in info.items() if value}


def write_early_exit_card(model: Any, save_directory: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Writes README.md (the model card) into a folder where `model` was saved; the hook that early-exit models call
    at the end of `save_pretrained` and before `push_to_hub` uploads.

    The card uses, in order: the fields given with [`set_card_info`], those of an earlier hf_notlike card in the
    folder the model was loaded from, and the configuration. A threshold sweep (`sweep.json`) is read from
    `save_directory`, or from the folder the model was loaded from (and then copied next to the new save).

    Args:
        model: the early-exit model that was saved.
        save_directory (`str` or `os.PathLike`): the folder it was saved to.
        repo_id (`str`, *optional*): the repository it is pushed to.

    Returns:
        `pathlib.Path`: the README.md written.
    """
    save_directory = Path(save_directory)
    source = getattr(model.config, "_name_or_path", "") or ""
    source_dir = Path(source) if source and Path(source).is_dir() else None
    info: dict[str, Any] = {}
    if source_dir is not None and source_dir.resolve() != save_directory.resolve():
        info.update(_existing_card_info(source_dir))
    else:
        info.update(_existing_card_info(save_directory))
    info.update(getattr(model, CARD_INFO_ATTRIBUTE, None) or {})
    if repo_id is not None:
        info["repo_id"] = repo_id
    info.setdefault("repo_id", save_directory.resolve().name if not info.get("repo_id") else info["repo_id"])

    sweep = None
    sweep_path = save_directory / SWEEP_FILE
    if not sweep_path.is_file() and source_dir is not None and (source_dir / SWEEP_FILE).is_file():
        sweep_path.write_bytes((source_dir / SWEEP_FILE).read_bytes())
    if sweep_path.is_file():
        sweep = load_sweep(sweep_path)
    has_tokenizer = any((save_directory / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    tokenizer_id = None if has_tokenizer else info.get("base_model")
    card = render_early_exit_card(model.config, sweep=sweep, tokenizer_id=tokenizer_id, **info)
    path = save_directory / "README.md"
    card.save(path)
    return path


def render_data_map_card(
    *,
    num_examples: int,
    regions: Mapping[str, int] | Sequence[Mapping[str, Any]],
    region_fraction: float,
    num_epochs: int | None = None,
    statistics: Sequence[Mapping[str, Any]] | None = None,
    training: Mapping[str, Any] | None = None,
    plot_file: str | None = None,
    table_file: str = "data_map.parquet",
    metadata_file: str | None = None,
    columns: Sequence[str] | None = None,
    id_column: str | None = None,
    model: str | None = None,
    dataset: str | None = None,
    repo_id: str | None = None,
    pretty_name: str | None = None,
    summary: str | None = None,
    base_model: str | None = None,
    datasets: str | Sequence[str] | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> DatasetCard:
    """Renders the dataset card of a data map (dataset cartography, Swayamdipta et al., EMNLP 2020). Data maps call it
    through [`write_data_map_card`], which collects these fields from a `DataMap`.

    Args:
        num_examples (`int`): how many training examples the map covers.
        regions (`Mapping[str, int]` or `list[dict]`): the size of each region (`{"ambiguous": 120, ...}`), or one
            row per region (`region`, `examples` and any per-region means).
        region_fraction (`float`): the share of the examples each region was selected as.
        num_epochs (`int`, *optional*): how many epochs the dynamics cover.
        statistics (`list[dict]`, *optional*): rows `metric, mean, std, min, max` summarising the columns.
        training (`Mapping[str, Any]`, *optional*): the training setup the map was recorded in.
        plot_file (`str`, *optional*): repository path of the plot, shown in the card.
        table_file (`str`, *optional*, defaults to `"data_map.parquet"`): the per-example Parquet table;
            `datasets.load_dataset(repo_id)` reads it through the card's `configs` metadata.
        metadata_file (`str`, *optional*): the JSON metadata file.
        columns (`list[str]`, *optional*): the columns of the table.
        id_column (`str`, *optional*): the dataset column the ids come from (`None`: row indices).
        model (`str`, *optional*), dataset (`str`, *optional*): what the map was recorded with and on.
        repo_id, pretty_name, summary, base_model, datasets, license, language, tags: card fields; the tags
            `hf_notlike`, `dataset-cartography` and `data-map` are always present.

    Returns:
        `huggingface_hub.DatasetCard`
    """
    if isinstance(num_examples, bool) or not isinstance(num_examples, int) or num_examples < 1:
        raise ValueError(f"`num_examples` must be a positive int, got {num_examples!r}.")
    if isinstance(regions, Mapping):
        regions = [
            {"region": name, "examples": size, "share": f"{size / num_examples:.1%}"} for name, size in regions.items()
        ]
    repo_id = repo_id or "path/to/this/data-map"
    all_tags = [LIBRARY_NAME, "dataset-cartography", "data-map"]
    all_tags += [tag for tag in tags or [] if tag not in all_tags]
    pretty_name = pretty_name or (f"Data map of {dataset}" if dataset else "Data map")
    card_data = DatasetCardData(
        pretty_name=pretty_name,
        tags=all_tags,
        license=license,
        language=_as_list(language),
        source_datasets=_as_list(datasets),
        size_categories=[_size_category(num_examples)],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": table_file}]}],
        base_model=base_model,
    )
    training_rows = [{"setting": key, "value": _format_value(value)} for key, value in (training or {}).items()]
    card = DatasetCard.from_template(
        card_data,
        template_path=str(DATA_MAP_TEMPLATE),
        pretty_name=pretty_name,
        summary=summary,
        repo_id=repo_id,
        num_examples=num_examples,
        num_epochs=num_epochs,
        model=model,
        dataset=dataset,
        id_column=id_column,
        region_table=markdown_table(regions),
        region_percent=f"{region_fraction:.0%}",
        statistics_table=markdown_table(statistics) if statistics else "",
        training_table=markdown_table(training_rows, [("setting", "setting"), ("value", "value")])
        if training_rows else "Not recorded.",
        plot_file=plot_file,
        table_file=table_file,
        metadata_file=metadata_file,
        columns=", ".join(f"`{c}`" for c in columns) if columns else None,
    )
    check_card(card, kind="data-map")
    return card


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def write_data_map_card(data_map: Any, save_directory: str | os.PathLike, repo_id: str | None = None) -> Path:
    """Writes README.md (the dataset card) into a folder where a `DataMap` was saved; the card hook that
    `DataMap.save_pretrained` calls. The fields come from `hf_notlike.cartography.card.data_map_card` (cartography
    terms), the rendering from [`render_data_map_card`].

    Args:
        data_map (`hf_notlike.cartography.DataMap`): the map that was saved.
        save_directory (`str` or `os.PathLike`): the folder it was saved to (with `data_map.parquet`,
            `data_map.json` and, when plotted, `data_map.png`).
        repo_id (`str`, *optional*): the repository it is pushed to; defaults to the folder name.

    Returns:
        `pathlib.Path`: the README.md written.
    """
    from .cartography.card import data_map_card

    folder = Path(save_directory)
    card = data_map_card(data_map, folder, repo_id=repo_id or folder.resolve().name)
    path = folder / "README.md"
    card.save(path)
    return path


def check_card(card: ModelCard | DatasetCard | str | os.PathLike, kind: str) -> dict[str, Any]:
    """Checks that a rendered card's metadata parses and holds the fields an hf_notlike card must have.

    Args:
        card (`ModelCard`, `DatasetCard`, `str` or `os.PathLike`): the card, its text, or the README.md path.
        kind (`str`): `"early-exit"` (a model card) or `"data-map"` (a dataset card).

    Returns:
        `dict`: the card metadata.

    Raises:
        `ValueError` listing what is missing or malformed.
    """
    if kind not in ("early-exit", "data-map"):
        raise ValueError(f"`kind` must be 'early-exit' or 'data-map', got {kind!r}.")
    card_class = ModelCard if kind == "early-exit" else DatasetCard
    if isinstance(card, os.PathLike) or (isinstance(card, str) and not card.lstrip().startswith("---")):
        path = Path(card)
        if not path.is_file():
            raise FileNotFoundError(f"The card {path} does not exist.")
        text = path.read_text(encoding="utf-8")
    else:
        text = card if isinstance(card, str) else str(card)
    try:
        parsed = card_class(text, ignore_metadata_errors=False)
    except Exception as error:
        raise ValueError(f"The {kind} card metadata does not parse: {error}") from None
    metadata = parsed.data.to_dict()
    problems = []
    if kind == "early-exit" and metadata.get("library_name") != LIBRARY_NAME:
        problems.append(f"library_name must be {LIBRARY_NAME!r}, got {metadata.get('library_name')!r}")
    tags = metadata.get("tags") or []
    required = [LIBRARY_NAME, "early-exit" if kind == "early-exit" else "dataset-cartography"]
    problems += [f"the tag {tag!r} is missing" for tag in required if tag not in tags]
    if kind == "early-exit":
        if metadata.get("pipeline_tag") != "text-classification":
            problems.append("pipeline_tag must be 'text-classification'")
        if parsed.data.eval_results and not parsed.data.model_name:
            problems.append("eval_results need a model_name")
    else:
        configs = metadata.get("configs") or []
        if not configs or not all(isinstance(c, dict) and c.get("data_files") for c in configs):
            problems.append("configs with data_files (the per-example table) are missing")
    if not parsed.text.strip():
        problems.append("the card has no body")
    if problems:
        raise ValueError(f"The {kind} card is incomplete: " + "; ".join(problems) + ".")
    return metadata
