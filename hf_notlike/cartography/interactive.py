# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""An interactive data map: one self-contained HTML file to explore a [`DataMap`] in a browser.

x = variability, y = confidence, colour = correctness, as in Swayamdipta et al. (EMNLP 2020), Fig. 1. Hovering a
point shows the example's text, gold label, confidence, variability and correctness; the three regions of the paper
are shaded; a box or lasso selection gives the ids of every example inside it, shown in the page and downloadable
or copyable as JSON.

Why Plotly (not Bokeh): box and lasso selection with a selection event that reports the selected region are built
in, as is a WebGL scatter (`scattergl`) that stays responsive with tens of thousands of points; the Python package
ships plotly.js, which is inlined so the file opens offline; and it needs two small Python dependencies (`narwhals`,
`packaging`) where Bokeh brings `tornado`, `jinja2`, `pillow`, `pyyaml`, `contourpy` and `xyzservices`. The figure is
built as plain JSON here (no `plotly.graph_objects` validation pass, which is slow for large maps); only plotly.js
comes from the package. Plotly is an optional dependency: `pip install "hf_notlike[interactive]"`.

Large maps: above `max_points` examples (default [`DEFAULT_MAX_POINTS`] = 20,000; the page is about 11 MB there,
mostly hover text, see the load and hover times measured with `examples/bench_interactive_map.py` in the README) the
page draws a seeded sample of `max_points` examples with their hover text over a binned heatmap of all examples (mean
correctness per cell, count on hover); a selection still returns the ids of *all* examples inside it, because the
coordinates and ids of every example are embedded (compactly, without text).
"""

from __future__ import annotations

import html
import json
import os
import textwrap
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..artifacts import write_text
from ..errors import HfNotlikeInputError
from ..texts import check_texts
from .plotting import CORRECTNESS_COLORMAP, REGION_LABELS

if TYPE_CHECKING:
    import datasets

    from .datamap import DataMap

__all__ = ["DEFAULT_MAX_POINTS", "check_dataset_labels", "write_data_map_html"]

DEFAULT_MAX_POINTS = 20_000
_TEXT_COLUMNS = ("text", "sentence", "content", "review", "question", "prompt")
_LABEL_COLUMNS = ("label", "labels")
_BINS = 60
# fill colours of the shaded regions (easy: blue, hard: red, ambiguous: violet)
_REGION_STYLE = {
    "easy-to-learn": "rgba(49, 130, 189, 0.10)",
    "hard-to-learn": "rgba(215, 48, 39, 0.10)",
    "ambiguous": "rgba(117, 107, 177, 0.12)",
}
def _require_plotly():
    try:
        import plotly.offline
    except ImportError:
        raise ImportError(
            "`DataMap.to_html` needs Plotly (its plotly.js is inlined into the page): "
            "`pip install \"hf_notlike[interactive]\"` (or `pip install plotly`)."
        ) from None
    return plotly.offline.get_plotlyjs()


def write_data_map_html(
    data_map: DataMap,
    path: str | os.PathLike,
    *,
    dataset: datasets.Dataset | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    region_fraction: float = 0.33,
    epochs: int | None = None,
    title: str | None = None,
    max_text_chars: int = 500,
    seed: int = 0,
) -> Path:
    """Write an interactive data map as one self-contained HTML file (plotly.js inlined, works offline).

    Args:
        data_map ([`DataMap`]): The map to draw.
        path (`str` or `os.PathLike`): The `.html` file to write (folders are created).
        dataset (`datasets.Dataset`, *optional*):
            The dataset the map was recorded on (checked with [`DataMap.positions`]); its text and gold labels are
            shown on hover. Without it, hover shows the id, the statistics and the map's own gold labels (if any).
        text_column (`str`, *optional*):
            Column of `dataset` with the text; defaults to the first of `text`, `sentence`, `content`, `review`,
            `question`, `prompt` that the dataset has (none: a warning, and hover shows no text).
        label_column (`str`, *optional*):
            Column with the gold label; defaults to `label` or `labels` when present. `ClassLabel` features are shown by
            name.
        max_points (`int`, *optional*, defaults to `DEFAULT_MAX_POINTS`):
            Above this many examples, draw a seeded sample of `max_points` points over a binned heatmap of all of
            them (see the module docstring); selections still cover every example.
        region_fraction (`float`, *optional*, defaults to 0.33):
            The shaded regions are the cut-offs of [`DataMap.select`] at this fraction: confidence above its
            `1 - fraction` quantile (easy-to-learn), below its `fraction` quantile (hard-to-learn), variability above
            its `1 - fraction` quantile (ambiguous).
        epochs (`int`, *optional*): Draw the map of the first `epochs` epochs only.
        title (`str`, *optional*): Page and plot title; defaults to the model and dataset names.
        max_text_chars (`int`, *optional*, defaults to 500): Hover text is cut after this many characters.
        seed (`int`, *optional*, defaults to 0): Seed of the sample drawn above `max_points`.

    Returns:
        `Path`: the written file.

    Example:

    ```python
    >>> data_map.to_html("map.html", dataset=train_dataset, text_column="text")  # doctest: +SKIP
    ```
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise HfNotlikeInputError(f"Cannot write an interactive map to {str(path)!r}: use a .html file name.")
    if path.exists() and path.is_dir():
        raise HfNotlikeInputError(f"{str(path)!r} is a folder; pass a .html file name.")
    if isinstance(max_points, bool) or not isinstance(max_points, (int, np.integer)) or max_points < 1:
        raise HfNotlikeInputError(f"`max_points` must be a positive integer; got {max_points!r}.")
    if isinstance(region_fraction, bool) or not isinstance(region_fraction, (int, float)) or not 0 < region_fraction < 0.5:
        raise HfNotlikeInputError(f"`region_fraction` must be a number in (0, 0.5); got {region_fraction!r}.")
    if not isinstance(max_text_chars, int) or max_text_chars < 1:
        raise HfNotlikeInputError(f"`max_text_chars` must be a positive integer; got {max_text_chars!r}.")
    if dataset is None and (text_column is not None or label_column is not None):
        raise HfNotlikeInputError("`text_column` / `label_column` were given without `dataset`: pass the dataset as well.")
    if epochs is not None:
        data_map = data_map.first_epochs(epochs)
    texts = labels = None
    if dataset is not None:
        positions = data_map.positions(dataset)  # raises when the dataset does not match the map
        texts, labels = _dataset_columns(dataset, positions, text_column, label_column)
        check_dataset_labels(data_map, dataset, positions, label_column)
    if labels is None and getattr(data_map, "labels", None) is not None:  # gold labels recorded with the map
        labels = [str(v) for v in data_map.labels.tolist()]
    plotly_js = _require_plotly()

    figure, points = _figure(data_map, texts, labels, max_points, region_fraction, title, max_text_chars, seed)
    page = _PAGE.format(
        title=html.escape(figure["layout"]["title"]["text"]),
        plotly_js=plotly_js,
        figure=_script_json(figure),
        points=_script_json(points),
        num_examples=data_map.num_examples,
        script=_SCRIPT,
    )
    write_text(path, page)  # atomic: a crash leaves the previous page or the new one
    return path


# ---------------------------------------------------------------------------------------------------- data
def _dataset_columns(
    dataset: datasets.Dataset, positions: np.ndarray, text_column: str | None, label_column: str | None
) -> tuple[list[str] | None, list[str] | None]:
    columns = list(getattr(dataset, "column_names", None) or [])
    if text_column is None:
        text_column = next((c for c in _TEXT_COLUMNS if c in columns), None)
        if text_column is None:
            warnings.warn(
                f"No text shown on hover: none of {list(_TEXT_COLUMNS)} is a column of the dataset ({columns}); pass "
                "`text_column=` (e.g. keep the raw text column when tokenising).", stacklevel=3,
            )
    elif text_column not in columns:
        raise HfNotlikeInputError(f"`text_column={text_column!r}` is not a column of the dataset (columns: {columns}).")
    if label_column is None:
        label_column = next((c for c in _LABEL_COLUMNS if c in columns), None)
    elif label_column not in columns:
        raise HfNotlikeInputError(f"`label_column={label_column!r}` is not a column of the dataset (columns: {columns}).")
    rows = positions.tolist()
    texts = None
    if text_column is not None:
        values = _take(dataset, text_column, rows)
        check_texts(values, "The dataset", text_column, rows=rows)  # never shown as "None" on hover
        texts = [_as_text(t) for t in values]
    labels = None
    if label_column is not None:
        feature = getattr(dataset, "features", {}).get(label_column)
        names = getattr(feature, "names", None)
        values = _take(dataset, label_column, rows)
        labels = [names[v] if names is not None and isinstance(v, int) and 0 <= v < len(names) else _as_text(v)
                  for v in values]
    return texts, labels


def check_dataset_labels(
    data_map: DataMap,
    dataset: datasets.Dataset,
    positions: np.ndarray,
    label_column: str | None = None,
    source: str = "the dataset",
    column_option: str = "`label_column=`",
) -> None:
    """Check the gold labels of `dataset` against the labels the map recorded, so a page never shows another data
    set's labels as gold labels. Nothing is checked when the map has no labels or the dataset no label column.

    Integer labels (or digit strings, or `ClassLabel` values) must equal the recorded ones; label names (strings) next
    to a map of class ids must pair one name with one id throughout (the map does not store the names).

    Args:
        data_map ([`DataMap`]): The map.
        dataset (`datasets.Dataset`): The data shown with it.
        positions (`np.ndarray`): Row of `dataset` of each map example ([`DataMap.positions`]).
        label_column (`str`, *optional*): The label column; `label` or `labels` when present.
        source (`str`, *optional*): How to name the dataset in the error.
        column_option (`str`, *optional*): How to name the label-column option in the error.

    Raises:
        `ValueError` naming the first row (in dataset order) whose label disagrees with the map.
    """
    recorded = getattr(data_map, "labels", None)
    columns = list(getattr(dataset, "column_names", None) or [])
    if label_column is None:
        label_column = next((c for c in _LABEL_COLUMNS if c in columns), None)
    if recorded is None or label_column is None:
        return
    values = _take(dataset, label_column, positions.tolist())  # map order
    recorded = recorded.tolist()
    gold = [_int_label(v) for v in recorded]
    given = [_int_label(v) for v in values]
    by_names = None not in gold and None in given and all(isinstance(v, str) for v in values)
    pair_name: dict[str, int] = {}
    pair_id: dict[int, str] = {}
    for i in np.argsort(positions, kind="stable").tolist():  # dataset row order: the first bad row is named
        if by_names:  # label names next to class ids: one name per id throughout
            name, label = values[i], gold[i]
            if pair_name.get(name, label) != label:
                detail = (f"the map recorded gold label {label} for that example while earlier rows labelled "
                          f"{name!r} have gold label {pair_name[name]}")
            elif pair_id.get(label, name) != name:
                detail = (f"the map recorded gold label {label} for that example, which earlier rows call "
                          f"{pair_id[label]!r}")
            else:
                pair_name[name], pair_id[label] = label, name
                continue
        else:
            a, b = given[i], gold[i]
            if (a == b) if a is not None and b is not None else _as_text(values[i]) == str(recorded[i]):
                continue
            detail = f"the map recorded gold label {recorded[i]!r} for that example"
        key = "" if data_map.id_column is None else f" ({data_map.id_column} {data_map.ids.tolist()[i]!r})"
        raise HfNotlikeInputError(
            f"Row {int(positions[i])} (counting from 0) of {source}{key} has label {values[i]!r} in column "
            f"{label_column!r}, but {detail}: {source} is not the training data the map was recorded on, or its "
            f"labels were changed, and the page would show wrong gold labels. Pass the data the map was recorded on "
            f"(same rows and labels{', in any order' if data_map.id_column is not None else ', same order'}), or name "
            f"the right label column with {column_option}."
        )


def _int_label(value: Any) -> int | None:
    """An integer class label from an int, an integral float or a digit string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _take(dataset, column: str, rows: list[int]) -> list[Any]:
    values = dataset[column]
    return [values[i] for i in rows]


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def _hover_text(text: str, max_chars: int) -> str:
    if len(text) > max_chars:
        text = text[: max_chars - 1].rstrip() + "…"
    lines = textwrap.wrap(text, width=80) or [""]
    return "<br>".join(html.escape(line) for line in lines)


def _json_ids(ids: np.ndarray) -> list[Any]:
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64).tolist()
    return [i if isinstance(i, str) else str(i) for i in ids.tolist()]


def _script_json(value: Any) -> str:
    """JSON that is safe inside a `<script type="application/json">` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


# ---------------------------------------------------------------------------------------------------- figure
def _figure(data_map, texts, labels, max_points, region_fraction, title, max_text_chars, seed):
    x = data_map.variability.astype(np.float64)
    y = data_map.confidence.astype(np.float64)
    c = data_map.correctness.astype(np.float64)
    n, levels = data_map.num_examples, data_map.num_epochs
    ids = _json_ids(data_map.ids)
    x_max = max(float(x.max()) * 1.05, 0.05)

    shown = np.arange(n)
    sampled = n > max_points
    if sampled:
        shown = np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))

    hover = []
    for i in shown.tolist():
        head = f"<b>id</b> {html.escape(str(ids[i]))}"
        if labels is not None:
            head += f" · <b>gold</b> {html.escape(labels[i])}"
        stats = f"confidence {y[i]:.3f} · variability {x[i]:.3f} · correctness {c[i]:.2f}"
        hover.append(head + "<br>" + stats + ("<br>" + _hover_text(texts[i], max_text_chars) if texts is not None else ""))

    data: list[dict[str, Any]] = []
    if sampled:
        data.append(_heatmap(x, y, c, x_max))
    data.append(
        {
            "type": "scattergl",
            "mode": "markers",
            "name": "examples",
            "x": np.round(x[shown], 5).tolist(),
            "y": np.round(y[shown], 5).tolist(),
            "hovertext": hover,
            "hovertemplate": "%{hovertext}<extra></extra>",
            "marker": {
                "color": np.round(c[shown], 4).tolist(),
                "colorscale": _colorscale(),
                "cmin": 0,
                "cmax": 1,
                "size": float(np.clip(120 / np.sqrt(max(len(shown), 1)), 3, 10)),
                "line": {"width": 0.5, "color": "rgba(60, 60, 60, 0.6)"},
                "opacity": 0.8,
                "showscale": not sampled,
                "colorbar": {"title": {"text": "correctness"}, "tickvals": (np.arange(levels + 1) / levels).tolist(),
                             "ticktext": [f"{t / levels:.2f}".rstrip("0").rstrip(".") for t in range(levels + 1)]},
            },
            "selected": {"marker": {"opacity": 1.0}},
            "unselected": {"marker": {"opacity": 0.35}},
        }
    )
    if title is None:
        from .plotting import _default_title

        title = _default_title(data_map)
    if sampled:
        title += f" · {max_points:,} of {n:,} drawn over a heatmap of all"
    layout = {
        "title": {"text": html.escape(title), "x": 0.01, "xanchor": "left"},
        "xaxis": {"title": {"text": "variability"}, "range": [0, x_max], "zeroline": False},
        "yaxis": {"title": {"text": "confidence"}, "range": [-0.02, 1.02], "zeroline": False},
        "hovermode": "closest",
        "dragmode": "select",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "plot_bgcolor": "white",
        "showlegend": False,
        "shapes": _region_shapes(x, y, x_max, region_fraction, ambiguous=levels > 1),
        "annotations": _region_labels(x_max, ambiguous=levels > 1),
    }
    config = {"displaylogo": False, "responsive": True, "scrollZoom": True}
    points = {
        "x": np.round(x, 5).tolist(), "y": np.round(y, 5).tolist(), "ids": ids,
        "drawn": shown.tolist() if sampled else None,
    }
    return {"data": data, "layout": layout, "config": config}, points


def _region_shapes(
    x: np.ndarray, y: np.ndarray, x_max: float, fraction: float, ambiguous: bool = True
) -> list[dict[str, Any]]:
    """The paper's three regions; a one-epoch map has no variability, hence no ambiguous region."""
    easy_y = float(np.quantile(y, 1 - fraction))
    hard_y = float(np.quantile(y, fraction))
    ambiguous_x = float(np.quantile(x, 1 - fraction)) if ambiguous else x_max

    def rect(name, x0, x1, y0, y1):
        return {"type": "rect", "layer": "below", "xref": "x", "yref": "y", "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                "fillcolor": _REGION_STYLE[name], "line": {"width": 0}, "name": name}

    shapes = [rect("easy-to-learn", 0, ambiguous_x, easy_y, 1.02), rect("hard-to-learn", 0, ambiguous_x, -0.02, hard_y)]
    return shapes + [rect("ambiguous", ambiguous_x, x_max, -0.02, 1.02)] if ambiguous else shapes


def _region_labels(x_max: float, ambiguous: bool = True) -> list[dict[str, Any]]:
    """The labels of the static plot (`plotting.REGION_LABELS`), as plotly annotations."""
    box = {"bgcolor": "rgba(255,255,255,0.85)", "bordercolor": "#888", "borderwidth": 1, "showarrow": False,
           "xref": "x", "yref": "y", "font": {"size": 13}}
    return [
        {**box, "text": text, "x": x_fraction * x_max, "y": y, "xanchor": ha,
         "yanchor": "middle" if va == "center" else va}
        for text, x_fraction, y, ha, va in REGION_LABELS
        if ambiguous or text != "ambiguous"
    ]


def _colorscale() -> list[list[Any]]:
    """The static plot's colormap (`plotting.CORRECTNESS_COLORMAP`) as plotly colour stops (plotly.js has none of
    matplotlib's colormaps)."""
    import matplotlib

    cmap = matplotlib.colormaps[CORRECTNESS_COLORMAP]
    return [[i / 10, matplotlib.colors.to_hex(cmap(i / 10))] for i in range(11)]


def _heatmap(x: np.ndarray, y: np.ndarray, c: np.ndarray, x_max: float) -> dict[str, Any]:
    x_edges = np.linspace(0, x_max, _BINS + 1)
    y_edges = np.linspace(0, 1, _BINS + 1)
    counts, _, _ = np.histogram2d(y, x, bins=(y_edges, x_edges))
    sums, _, _ = np.histogram2d(y, x, bins=(y_edges, x_edges), weights=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
    z = [[None if not np.isfinite(v) else round(float(v), 4) for v in row] for row in mean]
    return {
        "type": "heatmap",
        "name": "all examples",
        "x": np.round((x_edges[:-1] + x_edges[1:]) / 2, 5).tolist(),
        "y": np.round((y_edges[:-1] + y_edges[1:]) / 2, 5).tolist(),
        "z": z,
        "customdata": counts.astype(np.int64).tolist(),
        "hovertemplate": "%{customdata:,} examples<br>mean correctness %{z:.2f}<extra></extra>",
        "colorscale": _colorscale(),
        "zmin": 0,
        "zmax": 1,
        "opacity": 0.85,
        "colorbar": {"title": {"text": "mean correctness"}},
    }


# ---------------------------------------------------------------------------------------------------- page
_SCRIPT = r"""
(function () {
  const figure = JSON.parse(document.getElementById("datamap-figure").textContent);
  const points = JSON.parse(document.getElementById("datamap-points").textContent);
  const plot = document.getElementById("datamap-plot");
  const count = document.getElementById("datamap-count");
  const output = document.getElementById("datamap-selected");
  const buttons = [document.getElementById("datamap-download"), document.getElementById("datamap-copy")];
  let selected = [];

  function inPolygon(px, py, xs, ys) {  // even-odd ray casting
    let inside = false;
    for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
      if ((ys[i] > py) !== (ys[j] > py) && px < ((xs[j] - xs[i]) * (py - ys[i])) / (ys[j] - ys[i]) + xs[i]) {
        inside = !inside;
      }
    }
    return inside;
  }

  // ids of every example (drawn or not) inside the box or lasso of a plotly_selected event
  function idsInSelection(event) {
    if (!event) return [];
    const out = [];
    const n = points.ids.length;
    if (event.range && event.range.x && event.range.y) {
      const [x0, x1] = [Math.min(...event.range.x), Math.max(...event.range.x)];
      const [y0, y1] = [Math.min(...event.range.y), Math.max(...event.range.y)];
      for (let i = 0; i < n; i++) {
        if (points.x[i] >= x0 && points.x[i] <= x1 && points.y[i] >= y0 && points.y[i] <= y1) out.push(points.ids[i]);
      }
    } else if (event.lassoPoints && event.lassoPoints.x) {
      const xs = event.lassoPoints.x, ys = event.lassoPoints.y;
      for (let i = 0; i < n; i++) {
        if (inPolygon(points.x[i], points.y[i], xs, ys)) out.push(points.ids[i]);
      }
    } else if (event.points) {
      const drawn = points.drawn;
      for (const p of event.points) {
        if (p.data.type === "scattergl") out.push(points.ids[drawn ? drawn[p.pointIndex] : p.pointIndex]);
      }
    }
    return out;
  }

  function update(ids) {
    selected = ids;
    count.textContent = ids.length.toLocaleString() + " of " + points.ids.length.toLocaleString() + " selected";
    output.value = ids.length ? JSON.stringify(ids) : "";
    for (const b of buttons) b.disabled = ids.length === 0;
  }

  document.getElementById("datamap-download").addEventListener("click", function () {
    const blob = new Blob([JSON.stringify(selected)], {type: "application/json"});
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "selected_ids.json";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 1000);
  });
  document.getElementById("datamap-copy").addEventListener("click", function () {
    const text = JSON.stringify(selected);
    const fallback = function () { output.select(); document.execCommand("copy"); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).catch(fallback);
    else fallback();
  });

  Plotly.newPlot(plot, figure.data, figure.layout, figure.config).then(function () {
    plot.on("plotly_selected", function (event) { update(idsInSelection(event)); });
    plot.on("plotly_deselect", function () { update([]); });
    update([]);
    document.body.setAttribute("data-ready", "1");
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hf_notlike DataMap.to_html">
<title>{title}</title>
<style>
  body {{ font-family: system-ui, sans-serif; margin: 0.5rem 1rem; }}
  #datamap-toolbar {{ display: flex; gap: 0.8rem; align-items: center; flex-wrap: wrap; margin-bottom: 0.3rem; }}
  #datamap-toolbar .hint {{ color: #666; font-size: 0.9em; }}
  #datamap-plot {{ width: 100%; height: calc(100vh - 8rem); min-height: 420px; }}
  #datamap-selected {{ width: 100%; height: 2.6rem; font-family: monospace; font-size: 0.85em; }}
</style>
<script type="text/javascript">{plotly_js}</script>
</head>
<body>
<div id="datamap-toolbar">
  <span id="datamap-count">0 of {num_examples} selected</span>
  <button id="datamap-download" type="button" disabled>Download selected ids (JSON)</button>
  <button id="datamap-copy" type="button" disabled>Copy selected ids</button>
  <span class="hint">Drag a box (or pick the lasso in the plot's toolbar) to select; double-click to clear.
  Hover a point for its text.</span>
</div>
<div id="datamap-plot"></div>
<textarea id="datamap-selected" readonly placeholder="ids of the selected examples (JSON)"></textarea>
<script type="application/json" id="datamap-figure">{figure}</script>
<script type="application/json" id="datamap-points">{points}</script>
<script type="text/javascript">{script}</script>
</body>
</html>
"""
