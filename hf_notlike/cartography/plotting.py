# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Drawing a data map as in Swayamdipta et al. (EMNLP 2020), Fig. 1: x = variability, y = confidence, colour =
correctness, the three regions labelled, with marginal histograms. Large maps (e.g. 1M examples) switch to a hexbin
of mean correctness, or a seeded sample for the scatter, so the figure stays readable and fast."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..artifacts import atomic_path
from ..errors import HfNotlikeInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .datamap import DataMap

__all__ = ["plot_data_map"]

_FORMATS = (".png", ".pdf")
# the colours of correctness in both plots (this one and `DataMap.to_html`'s): matplotlib's RdYlBu, 0 = red (never
# correct) ... 1 = blue (always correct)
CORRECTNESS_COLORMAP = "RdYlBu"
# the paper's three regions as both plots label them: (text, x as a fraction of the x range, y, horizontal and
# vertical alignment)
REGION_LABELS = (
    ("easy-to-learn", 0.02, 0.96, "left", "top"),
    ("hard-to-learn", 0.02, 0.04, "left", "bottom"),
    ("ambiguous", 0.97, 0.5, "right", "center"),
)


def plot_data_map(
    data_map: DataMap,
    path: str | os.PathLike | None = None,
    *,
    kind: str = "auto",
    max_points: int = 25_000,
    epochs: int | None = None,
    title: str | None = None,
    seed: int = 0,
    dpi: int = 150,
) -> Figure:
    """Plot a data map.

    Args:
        data_map ([`DataMap`]): The map to draw.
        path (`str` or `os.PathLike`, *optional*): Where to save the figure; the suffix picks the format (`.png` or
            `.pdf`).
        kind (`str`, *optional*, defaults to `"auto"`): `"scatter"` (one dot per example, coloured by correctness;
            at most `max_points` dots, a seeded sample beyond), `"hexbin"` (hexagons coloured by mean correctness) or
            `"auto"` (scatter up to `max_points` examples, hexbin beyond).
        max_points (`int`, *optional*, defaults to 25000): Scatter size limit (see `kind`).
        epochs (`int`, *optional*): Plot the map of the first `epochs` epochs only.
        title (`str`, *optional*): Figure title; defaults to the model and dataset names.
        seed (`int`, *optional*, defaults to 0): Seed of the scatter sample.
        dpi (`int`, *optional*, defaults to 150): Resolution of a saved PNG.

    Returns:
        `matplotlib.figure.Figure`

    Example:

    ```python
    >>> fig = data_map.plot("data_map.png")  # doctest: +SKIP
    ```
    """
    if kind not in ("auto", "scatter", "hexbin"):
        raise HfNotlikeInputError(f"`kind` must be 'auto', 'scatter' or 'hexbin'; got {kind!r}.")
    if not isinstance(max_points, int) or max_points < 1:
        raise HfNotlikeInputError(f"`max_points` must be a positive integer; got {max_points!r}.")
    if path is not None and Path(path).suffix.lower() not in _FORMATS:
        raise HfNotlikeInputError(f"Cannot save a plot to {str(path)!r}: use a .png or .pdf file name.")
    if epochs is not None:
        data_map = data_map.first_epochs(epochs)

    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend needed

    x, y, c = data_map.variability, data_map.confidence, data_map.correctness
    n = len(x)
    if kind == "auto":
        kind = "scatter" if n <= max_points else "hexbin"

    fig = Figure(figsize=(8, 7), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(5, 1), height_ratios=(1, 5))
    ax = fig.add_subplot(grid[1, 0])
    ax_top = fig.add_subplot(grid[0, 0], sharex=ax)
    ax_right = fig.add_subplot(grid[1, 1], sharey=ax)
    cmap = matplotlib.colormaps[CORRECTNESS_COLORMAP]

    if kind == "scatter":
        shown = np.arange(n)
        if n > max_points:
            shown = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))
        levels = data_map.num_epochs
        norm = matplotlib.colors.BoundaryNorm(np.linspace(-0.5 / levels, 1 + 0.5 / levels, levels + 2), cmap.N)
        size = float(np.clip(4000 / max(len(shown), 1), 1.0, 25.0))
        artist = ax.scatter(x[shown], y[shown], c=c[shown], cmap=cmap, norm=norm, s=size, alpha=0.7, linewidths=0)
        label = "correctness" + (f" (sample of {len(shown):,} / {n:,})" if len(shown) < n else "")
        ticks = np.arange(levels + 1) / levels
    else:
        artist = ax.hexbin(x, y, C=c, reduce_C_function=np.mean, gridsize=60, cmap=cmap, vmin=0, vmax=1, mincnt=1)
        label = f"mean correctness (hexbin of {n:,} examples)"
        ticks = None
    colorbar = fig.colorbar(artist, ax=ax_right, label=label, location="right", ticks=ticks)
    if ticks is not None:
        colorbar.ax.set_yticklabels([f"{t:.2f}".rstrip("0").rstrip(".") for t in ticks])

    ax.set_xlabel("variability")
    ax.set_ylabel("confidence")
    x_max = max(float(x.max()) * 1.05, 0.05)
    ax.set_xlim(0, x_max)
    ax.set_ylim(-0.02, 1.02)
    box = dict(boxstyle="round,pad=0.3", fc="white", ec="0.5", alpha=0.85)
    for text, x_fraction, y_label, ha, va in REGION_LABELS:
        ax.text(x_fraction * x_max, y_label, text, ha=ha, va=va, fontsize=10, bbox=box)

    ax_top.hist(x, bins=np.linspace(0.0, x_max, 51), color="0.4")  # fixed edges: a zero-width range is fine
    ax_top.set_ylabel("count")
    ax_top.tick_params(labelbottom=False)
    ax_right.hist(y, bins=np.linspace(0.0, 1.0, 51), orientation="horizontal", color="0.4")
    ax_right.set_xlabel("count")
    ax_right.tick_params(labelleft=False)
    fig.suptitle(title or _default_title(data_map))

    if path is not None:
        with atomic_path(path) as tmp:  # a crash leaves the previous plot or the new one
            fig.savefig(tmp, dpi=dpi)
    return fig


def _default_title(data_map: DataMap) -> str:
    from ..hub import display_name

    # meaningful names only: no local paths, no builder names such as "csv"
    name = " on ".join(p for p in (display_name(data_map.model_name), display_name(data_map.dataset_name)) if p)
    return f"Data map{': ' + name if name else ''} ({data_map.num_examples:,} examples, {data_map.num_epochs} epochs)"
