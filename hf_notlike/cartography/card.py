# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The dataset card of a data map: its fields in cartography terms and its rendering from
`hf_notlike/templates/data_map_card.md`. `DataMap.save_pretrained` writes it through [`write_data_map_card`]; only
method-agnostic helpers come from `hf_notlike.hub`.

Example:

```python
>>> import numpy as np
>>> from hf_notlike.cartography import DataMap
>>> from hf_notlike.cartography.card import data_map_card
>>> gold = np.array([[0.2, 0.4], [0.9, 0.95], [0.5, 0.7]])
>>> card = data_map_card(DataMap(gold, gold > 0.5, model_name="org/tiny-bert", dataset_name="csv"), repo_id="me/map")
>>> card.data.pretty_name, card.data.base_model
('Data map of map (tiny-bert)', 'org/tiny-bert')
```
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifacts import write_text
from ..hub import LIBRARY_NAME, TEMPLATES_DIR, check_card, display_name, is_hub_repo_id, markdown_table

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

    from .datamap import DataMap

__all__ = ["CARD_REGION_FRACTION", "check_data_map_card", "data_map_card", "write_data_map_card"]

CARD_REGION_FRACTION = 0.33
TEMPLATE = TEMPLATES_DIR / "data_map_card.md"


def data_map_card(
    data_map: DataMap,
    repo_id: str | None = None,
    *,
    table_file: str = "data_map.parquet",
    metadata_file: str | None = "data_map.json",
    plot_file: str | None = None,
    summary: str | None = None,
    license: str | None = None,
    language: str | Sequence[str] | None = None,
    tags: Sequence[str] | None = None,
) -> DatasetCard:
    """The dataset card of `data_map`: region sizes at 33%, summary statistics, the recording setup, the plot.

    Names come from the map's model and dataset names, or the repo name; a local path is never written into the card
    (only its meaningful folder name, see `hf_notlike.hub.display_name`), and only Hub ids go into `base_model` and
    `source_datasets`.

    Args:
        data_map ([`DataMap`]): the map.
        repo_id (`str`, *optional*): the repo (or folder name) the card is for.
        table_file (`str`, *optional*, defaults to `"data_map.parquet"`), metadata_file (`str`, *optional*),
            plot_file (`str`, *optional*): the files of the saved map (`plot_file` only when the plot was saved).
        summary (`str`, *optional*), license (`str`, *optional*), language (`str` or `list[str]`, *optional*),
            tags (`list[str]`, *optional*): card fields; the tags `hf_notlike`, `dataset-cartography` and `data-map`
            are always present.

    Returns:
        `huggingface_hub.DatasetCard`
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    n = data_map.num_examples
    size = max(1, int(round(CARD_REGION_FRACTION * n)))
    regions = [
        {"region": name, "examples": size, "share": f"{size / n:.1%}"}
        for name in ("easy-to-learn", "ambiguous", "hard-to-learn")
    ]
    statistics = []
    for name in ("confidence", "variability", "correctness", "forgetfulness"):
        values = getattr(data_map, name).astype("float64")
        statistics.append(
            {"metric": name, "mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4),
             "min": round(float(values.min()), 4), "max": round(float(values.max()), 4)}
        )
    model = display_name(data_map.model_name)
    dataset = display_name(data_map.dataset_name)
    training = {
        "model": model or "unknown",
        "epochs": data_map.num_epochs,
        "statistics from": "training forward pass" if data_map.mode == "training" else "eval-mode re-scoring",
        "example id": data_map.id_column or "row index",
    }
    repo_name = display_name(repo_id)
    subject = dataset or repo_name
    pretty_name = f"Data map of {subject}" if subject else "Data map"
    if model:
        pretty_name += f" ({model})"
    all_tags = [LIBRARY_NAME, "dataset-cartography", "data-map"]
    all_tags += [tag for tag in tags or [] if tag not in all_tags]
    source = [data_map.dataset_name] if is_hub_repo_id(data_map.dataset_name) else None
    card_data = DatasetCardData(
        pretty_name=pretty_name,
        tags=all_tags,
        license=license,
        language=[language] if isinstance(language, str) else language,
        source_datasets=source,
        size_categories=[_size_category(n)],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": table_file}]}],
        base_model=data_map.model_name if is_hub_repo_id(data_map.model_name) else None,
    )
    training_rows = [{"setting": key, "value": _format_value(value)} for key, value in training.items()]
    compute_table, compute_note = _compute_table(data_map, size)
    card = DatasetCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        pretty_name=pretty_name,
        summary=summary,
        repo_id=repo_id or "path/to/this/data-map",
        num_examples=n,
        num_epochs=data_map.num_epochs,
        model=model,
        dataset=dataset,
        id_column=data_map.id_column,
        region_table=markdown_table(regions),
        region_percent=f"{CARD_REGION_FRACTION:.0%}",
        statistics_table=markdown_table(statistics),
        training_table=markdown_table(training_rows, [("setting", "setting"), ("value", "value")]),
        compute_table=compute_table,
        compute_note=compute_note,
        plot_file=plot_file,
        table_file=table_file,
        metadata_file=metadata_file,
        columns=", ".join(f"`{c}`" for c in data_map.metadata()["columns"]),
    )
    check_data_map_card(card)
    return card


def write_data_map_card(
    data_map: DataMap, save_directory: str | os.PathLike, repo_id: str | None = None, **files: Any
) -> Path:
    """Writes README.md, the dataset card of `data_map`, into the folder it was saved to (what
    `DataMap.save_pretrained(..., card=True)` writes); `repo_id` defaults to the folder name. `files` are the `table_file`,
    `metadata_file` and `plot_file` of [`data_map_card`] (`plot_file` is dropped when that file is not there)."""
    folder = Path(save_directory)
    plot_file = files.pop("plot_file", None)
    if plot_file and not (folder / plot_file).is_file():
        plot_file = None
    card = data_map_card(data_map, repo_id=repo_id or folder.resolve().name, plot_file=plot_file, **files)
    path = folder / "README.md"
    write_text(path, str(card))  # atomic; what `DatasetCard.save` writes
    return path


def check_data_map_card(card: Any) -> dict[str, Any]:
    """`hf_notlike.hub.check_card` with what a data-map card needs: the tags `hf_notlike` and
    `dataset-cartography`, `configs` with the per-example table, and no local path."""
    return check_card(card, repo_type="dataset", tags=(LIBRARY_NAME, "dataset-cartography"), needs_data_files=True)


def _compute_table(data_map: DataMap, subset: int) -> tuple[str, str]:
    """The training compute of the full data and of a region of `subset` examples, for the same number of epochs
    (Green AI, Schwartz et al., 2020): example-passes, and FLOPs when the map knows the training FLOPs per example."""
    n, epochs = data_map.num_examples, data_map.num_epochs
    flops = data_map.train_flops_per_example
    rows = [("all examples", n), (f"a {CARD_REGION_FRACTION:.0%} region", subset), ("saved", n - subset)]
    table = []
    for name, count in rows:
        row = {"training data": name, "examples": count, "example-passes": count * epochs}
        if flops is not None:
            row["training FLOPs"] = _flops_text(count * epochs * flops)
        table.append(row)
    columns = [("training data", "training data"), ("examples", "examples"),
               ("example-passes", f"example-passes ({epochs} epochs)")]
    note = (f"Retraining on a region for the same {epochs} epochs costs the share of the compute it keeps.")
    if flops is not None:
        columns.append(("training FLOPs", "training FLOPs"))
        note += (f" Training FLOPs are {_flops_text(flops)} per example-pass (forward and backward): the forward of "
                 "the first training batch of the run that recorded this map, counted with PyTorch's "
                 "`FlopCounterMode` (matrix products and attention; padding to the batch's longest row included), "
                 "times 3 for the backward pass (Kaplan et al., 2020).")
    return markdown_table(table, columns), note


def _flops_text(value: float) -> str:
    for scale, unit in ((1e18, "EFLOPs"), (1e15, "PFLOPs"), (1e12, "TFLOPs"), (1e9, "GFLOPs"), (1e6, "MFLOPs")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} FLOPs"


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
