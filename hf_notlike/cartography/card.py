# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The fields of a data map's dataset card, in cartography terms; rendering lives in `hf_notlike.hub`
(`render_data_map_card`, `write_data_map_card`)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from .datamap import DATA_MAP_FILE, METADATA_FILE, PLOT_FILE

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

    from .datamap import DataMap

__all__ = ["data_map_card", "CARD_REGION_FRACTION"]

CARD_REGION_FRACTION = 0.33
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def data_map_card(
    data_map: DataMap, save_directory: str | os.PathLike, repo_id: str | None = None
) -> DatasetCard:
    """Render the dataset card of `data_map` saved in `save_directory` (region sizes at 33%, summary statistics,
    the recording setup, the plot when `data_map.png` is in the folder).

    Args:
        data_map ([`DataMap`]): The map.
        save_directory (`str` or `os.PathLike`): The folder it was saved to.
        repo_id (`str`, *optional*): The Hub repo the card is for.

    Returns:
        `huggingface_hub.DatasetCard`
    """
    from ..hub import render_data_map_card

    n = data_map.num_examples
    size = max(1, int(round(CARD_REGION_FRACTION * n)))
    regions = {"easy-to-learn": size, "ambiguous": size, "hard-to-learn": size}
    statistics = []
    for name in ("confidence", "variability", "correctness", "forgetfulness"):
        values = getattr(data_map, name).astype("float64")
        statistics.append(
            {"metric": name, "mean": round(float(values.mean()), 4), "std": round(float(values.std()), 4),
             "min": round(float(values.min()), 4), "max": round(float(values.max()), 4)}
        )
    training = {
        "model": data_map.model_name or "unknown",
        "epochs": data_map.num_epochs,
        "statistics from": "training forward pass" if data_map.mode == "training" else "eval-mode re-scoring",
        "example id": data_map.id_column or "row index",
    }
    folder = Path(save_directory)
    model = data_map.model_name
    return render_data_map_card(
        num_examples=n,
        regions=regions,
        region_fraction=CARD_REGION_FRACTION,
        statistics=statistics,
        training=training,
        plot_file=PLOT_FILE if (folder / PLOT_FILE).is_file() else None,
        table_file=DATA_MAP_FILE,
        metadata_file=METADATA_FILE,
        columns=data_map.metadata()["columns"],
        num_epochs=data_map.num_epochs,
        id_column=data_map.id_column,
        model=data_map.model_name,
        dataset=data_map.dataset_name,
        repo_id=repo_id,
        base_model=model if model and _REPO_ID.match(model) and not os.path.exists(model) else None,
        datasets=data_map.dataset_name if data_map.dataset_name and _REPO_ID.match(data_map.dataset_name) else None,
    )
