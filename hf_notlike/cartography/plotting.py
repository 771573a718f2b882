# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Drawing a data map as in Swayamdipta et al. (EMNLP 2020), Fig. 1: x = variability, y = confidence, colour =
correctness, the three regions labelled, with marginal histograms. Above `max_points` examples the plot is a density
raster of every example (a 2-D histogram: colour = mean correctness per cell, opacity = number of examples per cell,
log scale) with the thresholds of `select`'s regions drawn in, computed in a few linear passes, so a map of 10 million
examples plots in seconds; a seeded sample for the scatter and a hexbin remain available (`kind=`)."""

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
    bins: int = 200,
    region_fraction: float | None = 0.33,
) -> Figure:
    """Plot a data map.

    Args:
        data_map ([`DataMap`]): The map to draw.
        path (`str` or `os.PathLike`, *optional*): Where to save the figure; the suffix picks the format (`.png` or
            `.pdf`).
        kind (`str`, *optional*, defaults to `"auto"`): `"scatter"` (one dot per example, coloured by correctness;
            at most `max_points` dots, a seeded sample beyond, labelled as such), `"density"` (a `bins` x `bins`
            raster of every example: colour = mean correctness of the cell, opacity = its number of examples on a
            log scale, with the thresholds of the regions drawn in; linear time, for maps of any size), `"hexbin"`
            (hexagons coloured by mean correctness; matplotlib groups the values in Python, so it takes minutes above
            a few million examples) or `"auto"` (scatter up to `max_points` examples, density beyond).
        max_points (`int`, *optional*, defaults to 25000): Scatter size limit (see `kind`).
        epochs (`int`, *optional*): Plot the map of the first `epochs` epochs only.
        title (`str`, *optional*): Figure title; defaults to the model and dataset names.
        seed (`int`, *optional*, defaults to 0): Seed of the scatter sample.
        dpi (`int`, *optional*, defaults to 150): Resolution of a saved PNG.
        bins (`int`, *optional*, defaults to 200): Cells per axis of the density raster.
        region_fraction (`float`, *optional*, defaults to 0.33): The density plot draws the thresholds of
            `select(region, region_fraction)`: the variability above which the ambiguous examples lie, and the
            confidences above / below which the easy-to-learn / hard-to-learn ones lie. `None` draws none.

    Returns:
        `matplotlib.figure.Figure`

    Example:

    ```python
    >>> fig = data_map.plot("data_map.png")  # doctest: +SKIP
    ```
    """
    if kind not in ("auto", "scatter", "density", "hexbin"):
        raise HfNotlikeInputError(f"`kind` must be 'auto', 'scatter', 'density' or 'hexbin'; got {kind!r}.")
    if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 1:
        raise HfNotlikeInputError(f"`max_points` must be a positive integer; got {max_points!r}.")
    if not isinstance(bins, int) or isinstance(bins, bool) or not 2 <= bins <= 2000:
        raise HfNotlikeInputError(f"`bins` must be an integer in [2, 2000]; got {bins!r}.")
    if region_fraction is not None and (
        isinstance(region_fraction, bool) or not isinstance(region_fraction, (int, float)) or not 0 < region_fraction < 1
    ):
        raise HfNotlikeInputError(f"`region_fraction` must be a number in (0, 1) or None; got {region_fraction!r}.")
    if path is not None and Path(path).suffix.lower() not in _FORMATS:
        raise HfNotlikeInputError(f"Cannot save a plot to {str(path)!r}: use a .png or .pdf file name.")
    if epochs is not None:
        data_map = data_map.first_epochs(epochs)

    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no GUI backend needed

    x, y, c = data_map.variability, data_map.confidence, data_map.correctness
    n = len(x)
    if kind == "auto":
        kind = "scatter" if n <= max_points else "density"
    x_max = max(float(x.max()) * 1.05, 0.05)

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
    elif kind == "hexbin":
        artist = ax.hexbin(x, y, C=c, reduce_C_function=np.mean, gridsize=60, cmap=cmap, vmin=0, vmax=1, mincnt=1)
        label = f"mean correctness (hexbin of {n:,} examples)"
        ticks = None
    else:
        counts, sums = _raster(x, y, c, x_max, bins)
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        # opacity: log number of examples in the cell (empty cells transparent)
        alpha = np.where(counts > 0, 0.2 + 0.8 * np.log1p(counts) / np.log1p(max(counts.max(), 1)), 0.0)
        artist = ax.imshow(mean, origin="lower", extent=(0, x_max, 0, 1), aspect="auto", cmap=cmap, vmin=0, vmax=1,
                           alpha=alpha, interpolation="nearest")
        label = f"mean correctness per cell (all {n:,} examples; opacity: log count)"
        ticks = None
        if region_fraction is not None:
            _draw_thresholds(ax, x, y, region_fraction)
    colorbar = fig.colorbar(artist, ax=ax_right, label=label, location="right", ticks=ticks)
    if ticks is not None:
        colorbar.ax.set_yticklabels([f"{t:.2f}".rstrip("0").rstrip(".") for t in ticks])

    ax.set_xlabel("variability")
    ax.set_ylabel("confidence")
    ax.set_xlim(0, x_max)
    ax.set_ylim(-0.02, 1.02)
    box = dict(boxstyle="round,pad=0.3", fc="white", ec="0.5", alpha=0.85)
    for text, x_fraction, y_label, ha, va in REGION_LABELS:
        ax.text(x_fraction * x_max, y_label, text, ha=ha, va=va, fontsize=10, bbox=box)

    if kind == "density":  # the marginals of the raster: no further pass over the examples
        ax_top.stairs(counts.sum(axis=0), np.linspace(0.0, x_max, bins + 1), fill=True, color="0.4")
        ax_right.stairs(counts.sum(axis=1), np.linspace(0.0, 1.0, bins + 1), orientation="horizontal", fill=True,
                        color="0.4")
    else:
        ax_top.hist(x, bins=np.linspace(0.0, x_max, 51), color="0.4")  # fixed edges: a zero-width range is fine
        ax_right.hist(y, bins=np.linspace(0.0, 1.0, 51), orientation="horizontal", color="0.4")
    ax_top.set_ylabel("count")
    ax_top.tick_params(labelbottom=False)
    ax_right.set_xlabel("count")
    ax_right.tick_params(labelleft=False)
    fig.suptitle(title or _default_title(data_map))

    if path is not None:
        with atomic_path(path) as tmp:  # a crash leaves the previous plot or the new one
            fig.savefig(tmp, dpi=dpi)
    return fig


_BLOCK = 1 << 20  # examples per block of the raster (bounded temporary memory)


def _raster(x: np.ndarray, y: np.ndarray, c: np.ndarray, x_max: float, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Number of examples and sum of correctness per cell of a `bins` x `bins` grid over [0, x_max] x [0, 1] (row =
    confidence cell, column = variability cell), in blocks of examples."""
    counts = np.zeros(bins * bins, np.float64)
    sums = np.zeros(bins * bins, np.float64)
    for start in range(0, len(x), _BLOCK):
        xs, ys = x[start:start + _BLOCK], y[start:start + _BLOCK]
        column = np.clip((xs * (bins / x_max)).astype(np.int64), 0, bins - 1)
        row = np.clip((ys * bins).astype(np.int64), 0, bins - 1)
        cell = row * bins + column
        counts += np.bincount(cell, minlength=bins * bins)
        sums += np.bincount(cell, weights=c[start:start + _BLOCK], minlength=bins * bins)
    return counts.reshape(bins, bins), sums.reshape(bins, bins)


def _threshold(values: np.ndarray, k: int, largest: bool) -> float:
    """The k-th largest (or smallest) value, in linear time."""
    index = len(values) - k if largest else k - 1
    return float(np.partition(values, index)[index])


def _draw_thresholds(ax, x: np.ndarray, y: np.ndarray, fraction: float) -> None:
    """Dashed lines where `select(region, fraction)` cuts: ambiguous = variability from the line up, easy-to-learn /
    hard-to-learn = confidence above / below the lines (ties at a line are split by position)."""
    k = max(1, int(round(fraction * len(x))))
    share = f"{fraction:.0%}"
    ax.axvline(_threshold(x, k, largest=True), color="0.15", linestyle="--", linewidth=1.0,
               label=f"top {share} variability (ambiguous)")
    ax.axhline(_threshold(y, k, largest=True), color="0.15", linestyle=":", linewidth=1.2,
               label=f"top / bottom {share} confidence (easy / hard)")
    ax.axhline(_threshold(y, k, largest=False), color="0.15", linestyle=":", linewidth=1.2)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.85)


def _default_title(data_map: DataMap) -> str:
    from ..hub import display_name

    # meaningful names only: no local paths, no builder names such as "csv"
    name = " on ".join(p for p in (display_name(data_map.model_name), display_name(data_map.dataset_name)) if p)
    return f"Data map{': ' + name if name else ''} ({data_map.num_examples:,} examples, {data_map.num_epochs} epochs)"
