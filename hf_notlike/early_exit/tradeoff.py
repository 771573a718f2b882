# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The speed/accuracy trade-off of an early-exit model: one curve from one pass, plus measured wall-clock time.

Schwartz et al. (ACL 2020, Sec. 4, Fig. 3) report one trained model covering a whole speed/accuracy curve by
varying the confidence threshold. Since the exit rule only reads the exits' logits, a single all-exits pass
([`~hf_notlike.early_exit.calibration.collect_exit_logits`]) gives the exact accuracy and mean number of layers of
every threshold. Layers are not time, though: for chosen thresholds this module also times the real early-exit loop
at batch size 1 and at a larger batch, against the same model at threshold 1.0 (the full model), against the stock
`transformers` classifier of the same backbone, and against any baselines (e.g. smaller models trained alone), all
in the same run and interleaved, so that they share the machine's conditions.

As in the paper, pick the threshold on a validation split ([`TradeoffResult.threshold_for`],
[`TradeoffResult.apply_threshold`]) and report the test split's curve.

Example:

```python
>>> from hf_notlike import speed_accuracy_curve
>>> dev_curve = speed_accuracy_curve(model, tokenized_dev, [0.6, 0.8, 0.9, 0.95, 0.99, 1.0],  # doctest: +SKIP
...                                  batch_sizes=())  # exact curve only, nothing timed
>>> threshold = dev_curve.apply_threshold(model, max_accuracy_drop=0.01)  # doctest: +SKIP
>>> result = speed_accuracy_curve(model, tokenized_test, [0.6, 0.8, 0.9, 0.95, 0.99, 1.0],  # doctest: +SKIP
...                               timed_thresholds=[threshold], plot_path="speed_accuracy.png")
```
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from ..artifacts import atomic_path, write_text
from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from ..hub import markdown_table
from ..logging import get_logger
from .calibration import (
    check_early_exit_model,
    check_eval_dataset,
    check_positive_int,
    collect_exit_logits,
    iterate_batches,
)
from .model_card import record_on_card
from .modeling import select_exits

__all__ = [
    "DEFAULT_PLOT_NAME",
    "TimingPlan",
    "TradeoffResult",
    "check_thresholds",
    "curve_from_logits",
    "speed_accuracy_curve",
    "stock_model_for",
    "time_calls",
    "time_forward",
]

logger = get_logger(__name__)

DEFAULT_PLOT_NAME = "speed_accuracy.png"
"""The file name the demo, the command line and the examples give the speed/accuracy plot."""

CHUNK_EXAMPLES = 8
"""Timing interleaves the contenders on chunks of about this many examples."""


def check_thresholds(thresholds, name: str = "thresholds") -> list[float]:
    """Returns `thresholds` as a list of floats; raises a `ValueError` if it is empty or any value is outside
    `(0, 1]`."""
    if isinstance(thresholds, (int, float)):
        thresholds = [thresholds]
    thresholds = list(thresholds)
    if len(thresholds) == 0:
        raise HfNotlikeInputError(f"`{name}` is empty; give at least one exit threshold in (0, 1], e.g. [0.8, 0.9, 1.0].")
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0.0 < t <= 1.0:
            raise HfNotlikeInputError(
                f"`{name}` holds {t!r}; every exit threshold must be a number in (0, 1] (1.0 = the full model)."
            )
    return [float(t) for t in thresholds]


def curve_from_logits(
    exit_logits: torch.Tensor,
    labels: torch.Tensor,
    exit_layers: Sequence[int],
    temperatures: Sequence[float],
    thresholds: Sequence[float],
    num_layers: int | None = None,
) -> list[dict]:
    """The exact accuracy and mean number of layers of every threshold, from precomputed all-exit logits.

    Args:
        exit_logits (`torch.Tensor` of shape `(num_rows, num_exits, num_labels)`): from [`collect_exit_logits`].
        labels (`torch.Tensor` of shape `(num_rows,)`): gold class indices.
        exit_layers (`list[int]`): the (1-based) layer of each exit.
        temperatures (`list[float]`): one temperature per exit.
        thresholds (`list[float]`): exit thresholds in `(0, 1]`.
        num_layers (`int`, *optional*): layers of the full model; defaults to the last exit layer.

    Returns:
        `list[dict]`, one row per threshold (in the given order): `threshold`, `accuracy`, `mean_layers`,
        `ideal_speedup` (`num_layers / mean_layers`) and `exit_fractions` (share of rows leaving at each exit).
    """
    thresholds = check_thresholds(thresholds)
    num_layers = num_layers or exit_layers[-1]
    layers = torch.tensor(list(exit_layers), dtype=torch.float64)
    predictions = exit_logits.argmax(dim=-1)  # (rows, exits)
    rows = []
    for t in thresholds:
        index = select_exits(exit_logits, temperatures, t)
        correct = predictions[torch.arange(len(index)), index] == labels
        mean_layers = float(layers[index].mean())
        fractions = torch.bincount(index, minlength=len(layers)).double() / len(index)
        rows.append(
            {
                "threshold": t,
                "accuracy": float(correct.double().mean()),
                "mean_layers": mean_layers,
                "ideal_speedup": num_layers / mean_layers,
                "exit_fractions": [round(float(f), 6) for f in fractions],
            }
        )
    return rows


def stock_model_for(model):
    """The stock `transformers` classifier of the same backbone as an early-exit model (for every architecture with
    an early-exit class: the `AutoModelForSequenceClassification` class of the config's `backbone_model_type`, e.g.
    `BertForSequenceClassification`, `DebertaV2ForSequenceClassification`), with the early-exit model's backbone
    weights, in eval mode, on its device and dtype.

    Its classification head is freshly initialised: it serves as the speed reference, not for accuracy.

    Raises:
        `TypeError` for a model without exits or whose config names no backbone model type (pass `stock_model=` to
        [`speed_accuracy_curve`] then); `RuntimeError` when the backbone weights do not fit the stock model.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    check_early_exit_model(model)
    backbone_type = getattr(model.config, "backbone_model_type", None)
    if backbone_type not in CONFIG_MAPPING:
        raise HfNotlikeTypeError(
            f"No stock classifier known for {type(model).__name__} (backbone model type {backbone_type!r}); pass "
            "`stock_model=` (a model) or `stock_model=False` to `speed_accuracy_curve`."
        )
    from .configuration import EARLY_EXIT_FIELDS

    # the backbone's fields are all the config's fields but the early-exit ones
    skip = {*EARLY_EXIT_FIELDS, "model_type", "transformers_version", "architectures", "auto_map"}
    config = CONFIG_MAPPING[backbone_type](**{k: v for k, v in model.config.to_dict().items() if k not in skip})
    stock = AutoModelForSequenceClassification.from_config(
        config, attn_implementation=model.config.attention_implementation
    )
    # the stock heads that pool themselves (RoBERTa, ELECTRA, DeBERTa, ...) have no pooler in their base model
    missing, unexpected = stock.base_model.load_state_dict(model.backbone.state_dict(), strict=False)
    if missing or any(not key.startswith("pooler.") for key in unexpected):
        raise RuntimeError(f"Backbone weights do not fit {type(stock).__name__}: missing {missing}, "
                           f"unexpected {unexpected}.")
    parameter = next(model.parameters())
    return stock.to(device=parameter.device, dtype=parameter.dtype).eval()


@torch.inference_mode()
def time_forward(forward: Callable[[dict], object], batches: list[dict]) -> float:
    """[`time_calls`] under `torch.inference_mode`: wall-clock seconds of the forward passes `forward(inputs)`."""
    return time_calls(forward, batches)


def time_calls(call: Callable[[dict], object], batches: list[dict]) -> float:
    """Wall-clock seconds of calling `call(inputs)` on every batch in turn (inputs already on the device), in the
    caller's grad mode (e.g. a training step). On an accelerator the device is synchronised before starting and
    before stopping the clock, so that kernels still queued count (they run after the call returns)."""
    device = next((v.device for v in batches[0].values() if isinstance(v, torch.Tensor)), None) if batches else None
    accelerator = device is not None and device.type != "cpu"
    if accelerator:
        torch.accelerator.synchronize(device)
    start = time.perf_counter()
    for inputs in batches:
        call(inputs)
    if accelerator:
        torch.accelerator.synchronize(device)
    return time.perf_counter() - start


@dataclass
class TradeoffResult:
    """The table of [`speed_accuracy_curve`]: one row per threshold of the early-exit model (`kind="early_exit"`)
    plus the stock model (`kind="stock"`) and baselines (`kind="baseline"`).

    Columns: `kind`, `name`, `threshold`, `accuracy`, `mean_layers` (over the whole evaluation set),
    `ideal_speedup` (`num_layers / mean_layers`), `exit_fractions`, and for timed rows, per batch size `B`:
    `ms_per_example_bsB`, `speedup_bsB` (time of the full model, threshold 1.0, over this row's time),
    `speedup_vs_stock_bsB` (the stock model's time over this row's), `timed_mean_layers` (mean layers over the
    timing subset, from the exit layers the real loop reported), `efficiency_bsB` (`speedup_bsB` over the ideal
    speed-up on the timing subset) and, for the larger batch, `batch_retention` (its speed-up over the batch-1
    speed-up). Untimed cells are `None`.
    """

    rows: list[dict]
    batch_sizes: list[int]
    num_layers: int
    num_examples: int
    num_timing_examples: int
    repeats: int
    info: dict = field(default_factory=dict)

    def to_dataset(self):
        """The table as a `datasets.Dataset`."""
        import datasets

        return datasets.Dataset.from_list(self.rows)

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "batch_sizes": self.batch_sizes,
            "num_layers": self.num_layers,
            "num_examples": self.num_examples,
            "num_timing_examples": self.num_timing_examples,
            "repeats": self.repeats,
            "info": self.info,
        }

    def to_json(self, path: str) -> None:
        """Writes [`to_dict`] as JSON (e.g. `sweep.json` next to the model, for its model card)."""
        write_text(path, json.dumps(self.to_dict(), indent=2))  # atomic

    @classmethod
    def from_json(cls, path: str) -> TradeoffResult:
        with open(path, encoding="utf-8") as handle:
            return cls(**json.load(handle))

    def to_markdown(self, timed_only: bool = False) -> str:
        """The table in Markdown (all rows, or only the timed ones), rendered by `hf_notlike.hub.markdown_table`:
        accuracy in %, the threshold with 3 significant digits, the rest with 2 decimals."""
        sizes = self.batch_sizes
        columns = [("name", "model"), ("threshold", "threshold"), ("accuracy", "accuracy"),
                   ("mean_layers", "mean layers"), ("ideal_speedup", "ideal speed-up")]
        for size in sizes:
            columns += [(f"ms_per_example_bs{size}", f"ms/ex (bs {size})"),
                        (f"speedup_bs{size}", f"speed-up (bs {size})"),
                        (f"speedup_vs_stock_bs{size}", f"vs stock (bs {size})"),
                        (f"efficiency_bs{size}", f"eff. (bs {size})")]

        if any(row.get("flops_per_example") is not None for row in self.rows):
            columns[5:5] = [("gflops", "GFLOPs/ex"), ("flops_speedup", "FLOPs speed-up"),
                            ("flops_speedup_vs_stock", "FLOPs vs stock")]

        def fmt(value, spec):
            return None if value is None else format(value, spec)

        rows = []
        for row in self.rows:
            if timed_only and not (sizes and row.get(f"ms_per_example_bs{sizes[0]}") is not None):
                continue
            cells = {key: fmt(row.get(key), ".2f") for key, _ in columns[3:]}
            flops = row.get("flops_per_example")
            cells["gflops"] = None if flops is None else f"{flops / 1e9:.3g}"
            accuracy = row["accuracy"]
            cells.update(name=row["name"], threshold=fmt(row["threshold"], ".3g"),
                         accuracy=fmt(100 * accuracy if accuracy is not None else None, ".2f"))
            rows.append(cells)
        return markdown_table(rows, columns)

    def __str__(self) -> str:
        timing = (
            f"timing on {self.num_timing_examples}, best of {self.repeats} rounds per interleaved chunk"
            if self.batch_sizes else "not timed"
        )
        return f"Speed/accuracy trade-off ({self.num_examples} examples; {timing})\n" + self.to_markdown()

    # ----- choosing a threshold (Schwartz et al., 2020, Sec. 4: chosen on the development set) -----

    def _early_exit_rows(self) -> list[dict]:
        rows = [r for r in self.rows if r["kind"] == "early_exit" and r.get("accuracy") is not None]
        if not rows:
            raise HfNotlikeInputError("This result holds no early-exit rows with an accuracy; nothing to choose from.")
        return rows

    def threshold_for(self, *, max_accuracy_drop: float | None = None, mean_layers: float | None = None) -> float:
        """The threshold that meets a budget, read from this curve (compute it on a validation split, not the test
        split, as Schwartz et al. do).

        Args:
            max_accuracy_drop (`float`, *optional*): the largest accuracy loss allowed against the full model
                (threshold 1.0), as a fraction (`0.01` = 1 point). Gives the threshold with the fewest mean layers
                among those within the drop (the higher threshold on a tie).
            mean_layers (`float`, *optional*): the largest mean number of layers allowed. Gives the most accurate
                threshold within that budget (the fewer layers on a tie).

        Exactly one of the two must be given.

        Returns:
            `float`: one of the curve's thresholds.

        Raises:
            `ValueError` when both or neither budget is given, for a budget out of range, or when no threshold of
            the curve meets it (the message says what the curve can reach).

        Example:

        ```python
        >>> from hf_notlike import TradeoffResult
        >>> rows = [dict(kind="early_exit", threshold=t, accuracy=a, mean_layers=m)
        ...         for t, a, m in [(1.0, 0.90, 6.0), (0.9, 0.895, 3.1), (0.7, 0.86, 1.9)]]
        >>> curve = TradeoffResult(rows=rows, batch_sizes=[], num_layers=6, num_examples=1000,
        ...                        num_timing_examples=0, repeats=0)
        >>> curve.threshold_for(max_accuracy_drop=0.01), curve.threshold_for(mean_layers=2.0)
        (0.9, 0.7)
        ```
        """
        if (max_accuracy_drop is None) == (mean_layers is None):
            raise HfNotlikeInputError("Give exactly one budget: `max_accuracy_drop=` (e.g. 0.01) or `mean_layers=` (e.g. 2.0).")
        rows = self._early_exit_rows()
        if max_accuracy_drop is not None:
            if isinstance(max_accuracy_drop, bool) or not isinstance(max_accuracy_drop, (int, float)) or not (
                math.isfinite(max_accuracy_drop) and 0 <= max_accuracy_drop < 1
            ):
                raise HfNotlikeInputError(
                    f"`max_accuracy_drop` must be a fraction in [0, 1) (0.01 = one accuracy point), got "
                    f"{max_accuracy_drop!r}."
                )
            full = [r for r in rows if r["threshold"] == 1.0]
            if not full:
                raise HfNotlikeInputError("The curve has no row at threshold 1.0 (the full model) to measure the drop from.")
            floor = full[0]["accuracy"] - max_accuracy_drop - 1e-12
            within = [r for r in rows if r["accuracy"] >= floor]
            return float(min(within, key=lambda r: (r["mean_layers"], -r["threshold"]))["threshold"])
        if isinstance(mean_layers, bool) or not isinstance(mean_layers, (int, float)) or not (
            math.isfinite(mean_layers) and mean_layers > 0
        ):
            raise HfNotlikeInputError(f"`mean_layers` must be a positive number of layers, got {mean_layers!r}.")
        within = [r for r in rows if r["mean_layers"] <= mean_layers + 1e-12]
        if not within:
            fewest = min(rows, key=lambda r: r["mean_layers"])
            raise HfNotlikeInputError(
                f"No threshold of this curve uses at most {mean_layers:g} layers on average; the fewest is "
                f"{fewest['mean_layers']:.2f} (threshold {fewest['threshold']:g}). Add lower thresholds to the sweep "
                "or allow more layers."
            )
        return float(max(within, key=lambda r: (r["accuracy"], -r["mean_layers"]))["threshold"])

    def apply_threshold(
        self, model, *, max_accuracy_drop: float | None = None, mean_layers: float | None = None
    ) -> float:
        """[`threshold_for`] and write the choice into `model.config.exit_threshold` (saved with the model; any
        per-exit `exit_thresholds` are cleared).

        Args:
            model ([`EarlyExitModelMixin`] or its config): the model the curve was computed on.
            max_accuracy_drop, mean_layers: the budget, as in [`threshold_for`].

        Returns:
            `float`: the threshold now in the config.
        """
        config = getattr(model, "config", model)
        if not hasattr(config, "exit_layers"):
            raise HfNotlikeTypeError(f"Expected an early-exit model or config, got {type(model).__name__}.")
        curve_layers = self.info.get("exit_layers")
        if curve_layers is not None and list(curve_layers) != list(config.exit_layers):
            raise HfNotlikeInputError(
                f"This curve was computed on a model with exits after layers {curve_layers}, not "
                f"{list(config.exit_layers)}: compute the curve on this model first."
            )
        threshold = self.threshold_for(max_accuracy_drop=max_accuracy_drop, mean_layers=mean_layers)
        config.exit_threshold = threshold
        config.exit_thresholds = None  # per-exit thresholds would override the one chosen here
        return threshold

    # ----- the plot -----

    def plot(self, path: str | None = None, title: str | None = None):
        """Accuracy against speed-up: the exact curve of every threshold (speed-up = ideal layer ratio), the measured
        batch-1 speed-up of the timed thresholds, and the baselines. Speed-ups are relative to the stock model when it
        was timed, else to the full early-exit model. Threshold and baseline labels are placed where they overlap
        neither each other, nor the markers, nor the legend (drawn beside the axes).

        Drawn on a `matplotlib.figure.Figure` (no pyplot: the user's backend and global figure state are left alone).
        Returns the figure; saves it to `path` if given (the default name is `DEFAULT_PLOT_NAME`).
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        b1 = self.batch_sizes[0] if self.batch_sizes else None
        has_stock = b1 is not None and any(
            r["kind"] == "stock" and r.get(f"ms_per_example_bs{b1}") is not None for r in self.rows
        )
        key = f"speedup_vs_stock_bs{b1}" if has_stock else f"speedup_bs{b1}"
        reference = "stock model" if has_stock else "full early-exit model"
        ee = sorted((r for r in self.rows if r["kind"] == "early_exit"), key=lambda r: r["ideal_speedup"])
        fig = Figure(figsize=(8.6, 4.4))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(
            [r["ideal_speedup"] for r in ee], [100 * r["accuracy"] for r in ee], "-", color="tab:blue", alpha=0.5,
            marker=".", label="layer speed-up (layers / mean layers used), every threshold",
        )
        labels: list[tuple[float, float, str, str]] = []  # x, y, text, colour
        markers: list[tuple[float, float]] = [(r["ideal_speedup"], 100 * r["accuracy"]) for r in ee]
        timed = [r for r in ee if r.get(key) is not None]
        if timed:
            ax.plot(
                [r[key] for r in timed], [100 * r["accuracy"] for r in timed], "o", color="tab:blue",
                label=f"wall-clock speed-up over the {reference} (bs {b1})",
            )
            for r in timed:
                labels.append((r[key], 100 * r["accuracy"], f"{r['threshold']:g}", "tab:blue"))
                markers.append((r[key], 100 * r["accuracy"]))
        larger = None
        if len(self.batch_sizes) > 1:
            larger = f"speedup_vs_stock_bs{self.batch_sizes[-1]}" if has_stock else f"speedup_bs{self.batch_sizes[-1]}"
        if larger and any(r.get(larger) is not None for r in timed):
            ax.plot(
                [r[larger] for r in timed], [100 * r["accuracy"] for r in timed], "o", mfc="none", color="tab:blue",
                label=f"wall-clock speed-up over the {reference} (bs {self.batch_sizes[-1]})",
            )
            markers += [(r[larger], 100 * r["accuracy"]) for r in timed]
        base = [r for r in self.rows if r["kind"] == "baseline" and r.get(key) is not None]
        if base:
            ax.plot([r[key] for r in base], [100 * r["accuracy"] for r in base], "s", color="tab:orange",
                    label=f"smaller model trained alone, wall-clock (bs {b1})")
            for r in base:
                labels.append((r[key], 100 * r["accuracy"], r["name"], "tab:orange"))
                markers.append((r[key], 100 * r["accuracy"]))
        full = [r for r in ee if r["threshold"] == 1.0]
        if full:
            ax.axhline(100 * full[0]["accuracy"] - 1, color="grey", ls=":", lw=1, label="full model - 1 point")
        ax.set_xlabel(f"speed-up (line: layer ratio vs the full model;\ndots: wall-clock vs the {reference})"
                      if timed else "layer speed-up (layers / mean layers used)", fontsize=9)
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title or "Early exit: accuracy vs speed-up")
        ax.grid(alpha=0.3)
        ax.margins(x=0.12, y=0.15)  # room for labels inside the axes
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        ax.set_xlim(*speedup_axis_limits([x for x, _ in markers]))
        fig.tight_layout()
        _place_labels(fig, ax, labels, markers)
        if path is not None:
            with atomic_path(path) as tmp:  # a crash leaves the previous plot or the new one
                fig.savefig(tmp, dpi=120)
        return fig


def speedup_axis_limits(values: list[float], min_span: float = 1.0) -> tuple[float, float]:
    """The x range of a speed-up plot: from just below `min(1, smallest value)` to at least `min_span` further, so
    that a few per cent of timing noise around 1x never fills the axis (one timed threshold used to give 0.96-1.00).

    Example:

    ```python
    >>> from hf_notlike.early_exit.tradeoff import speedup_axis_limits
    >>> left, right = speedup_axis_limits([0.97, 1.0])
    >>> left < 0.97 and right - left >= 1.0
    True
    ```
    """
    values = [v for v in values if v is not None and v == v]
    low = min([1.0, *values])
    high = max([low + min_span, *values])
    pad = 0.05 * (high - low)
    return max(0.0, low - pad), high + pad


_LABEL_DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]


def _place_labels(fig, ax, labels: list[tuple[float, float, str, str]], markers: list[tuple[float, float]]) -> None:
    """Annotates each `(x, y, text, colour)` at the first nearby offset (growing distances, 8 directions) where its
    box overlaps no label placed before it, no marker and no legend, and stays inside the axes; a leader line joins
    labels placed away from their point. Greedy, in the order given. A label whose point has another labelled point
    within a few characters' width starts farther out, always with a leader line, so crowded labels (the timed
    thresholds near 1x) fan out instead of packing against each other's points."""
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    legend = ax.get_legend()
    taken = [legend.get_window_extent(renderer)] if legend is not None else []
    scale = fig.dpi / 72.0
    points = [ax.transData.transform((x, y)) for x, y in markers]
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    marker_boxes = [Bbox.from_bounds(px - 4 * scale, py - 4 * scale, 8 * scale, 8 * scale) for px, py in points]

    def free(box) -> bool:
        if box.x0 < inside.x0 or box.x1 > inside.x1 or box.y0 < inside.y0 or box.y1 > inside.y1:
            return False
        return not any(box.overlaps(other) for other in taken + marker_boxes)

    anchors = [ax.transData.transform((x, y)) for x, y, _, _ in labels]
    crowded = [any(j != i and abs(a[0] - b[0]) < 28 * scale and abs(a[1] - b[1]) < 14 * scale
                   for j, b in enumerate(anchors)) for i, a in enumerate(anchors)]
    for (x, y, text, colour), close in zip(labels, crowded):
        annotation = None
        for distance in (20, 30, 42, 56, 72, 90) if close else (6, 12, 20, 30, 42, 56, 72):
            for dx, dy in _LABEL_DIRECTIONS:
                offset = (dx * distance, dy * distance * 0.8)
                annotation = ax.annotate(
                    text, (x, y), xytext=offset, textcoords="offset points", fontsize=7, color=colour,
                    ha={1: "left", -1: "right", 0: "center"}[dx], va={1: "bottom", -1: "top", 0: "center"}[dy],
                    arrowprops=dict(arrowstyle="-", color=colour, lw=0.5, alpha=0.6) if distance > 12 else None,
                )
                annotation.update_positions(renderer)
                box = Text.get_window_extent(annotation, renderer)  # the text only, not its leader line
                if free(box):
                    taken.append(box)
                    break
                annotation.remove()
                annotation = None
            if annotation is not None:
                break
        if annotation is None:  # nowhere free: keep it to the right, readable over the grid
            annotation = ax.annotate(text, (x, y), xytext=(6, 0), textcoords="offset points", fontsize=7,
                                     color=colour, va="center")
            annotation.update_positions(renderer)
            taken.append(Text.get_window_extent(annotation, renderer))


def _accuracy(model, dataset, batch_size: int, pad_token_id: int, device) -> float:
    label_column = check_eval_dataset(dataset)
    labels = torch.tensor(dataset[label_column])
    correct = 0
    with torch.inference_mode():
        for indices, inputs in iterate_batches(dataset, batch_size, pad_token_id):
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits
            correct += int((logits.argmax(-1).cpu() == labels[indices]).sum())
    return correct / len(dataset)


@dataclass
class TimingPlan:
    """What the timing part of [`speed_accuracy_curve`] will do, known before it starts.

    Args:
        num_examples (`int`): rows of the timing subset.
        contenders (`list[str]`): what is timed (early-exit thresholds, the stock model, baselines).
        batch_sizes (`list[int]`): batch sizes timed.
        repeats (`int`): interleaved rounds per batch size.
        relative_cost (`list[float]`): each contender's cost relative to the full model (its mean layers over the
            model's layers), used for the estimate.
        seconds_per_example (`dict[int, float]`): measured seconds per example of the full model at each batch size
            (filled in by the probe, after the exact curve).
    """

    num_examples: int
    contenders: list[str]
    batch_sizes: list[int]
    repeats: int
    relative_cost: list[float] = field(default_factory=list)
    seconds_per_example: dict[int, float] = field(default_factory=dict)

    @property
    def forward_rows(self) -> int:
        """Rows run through a model in the timing: per batch size, every contender on every row in each round, the
        early-exit contenders once more (the layer check), and every contender on one chunk (the warm-up)."""
        early_exit = sum(1 for name in self.contenders if name.startswith("early exit"))
        per_size = self.num_examples * (len(self.contenders) * self.repeats + early_exit)
        per_size += min(self.num_examples, CHUNK_EXAMPLES) * len(self.contenders)
        return per_size * len(self.batch_sizes)

    @property
    def estimated_seconds(self) -> float | None:
        """Estimated wall-clock seconds of the timing (the rows of `forward_rows`, each at its contender's relative
        cost, at the probed seconds per example of each batch size); None before the probe."""
        if not self.seconds_per_example:
            return None
        early_exit = [cost for name, cost in zip(self.contenders, self.relative_cost) if name.startswith("early exit")]
        units = self.num_examples * (self.repeats * sum(self.relative_cost) + sum(early_exit))
        units += min(self.num_examples, CHUNK_EXAMPLES) * sum(self.relative_cost)
        return sum(self.seconds_per_example[size] * units for size in self.batch_sizes)

    def __str__(self) -> str:
        text = (
            f"Timing plan: {self.num_examples} rows x {len(self.contenders)} contenders ({', '.join(self.contenders)}) "
            f"x batch sizes {self.batch_sizes} x {self.repeats} rounds (+ layer check and warm-up) = "
            f"{self.forward_rows:,} row passes"
        )
        seconds = self.estimated_seconds
        if seconds is not None:
            text += f", about {_duration(seconds)} on this machine"
            if seconds > 120:
                text += (
                    " (shorten with fewer `timed_thresholds`, `num_timing_examples`, `repeats` or `batch_sizes`; "
                    "`batch_sizes=()` times nothing)"
                )
        return text + "."


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@dataclass
class _Sweep:
    """The validated arguments of one [`speed_accuracy_curve`] call."""

    thresholds: list[float]  # every threshold of the exact curve (the asked ones plus the timed ones), descending
    timed: list[float]  # timed thresholds, descending, 1.0 included (empty when nothing is timed)
    batch_sizes: list[int]
    num_timing_examples: int
    repeats: int
    eval_batch_size: int
    seed: int
    stock: torch.nn.Module | None
    baselines: dict[str, torch.nn.Module]


def _check_batch_sizes(batch_sizes) -> list[int]:
    if isinstance(batch_sizes, (str, bytes)):
        raise HfNotlikeInputError("`batch_sizes` must be a list of positive integers, not a string.")
    try:
        batch_sizes = list(batch_sizes)
    except TypeError:
        raise HfNotlikeInputError(f"`batch_sizes` must be a list of positive integers, got {batch_sizes!r}.") from None
    for size in batch_sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise HfNotlikeInputError(f"`batch_sizes` holds {size!r}; every batch size must be a positive integer.")
    if len(set(batch_sizes)) != len(batch_sizes):
        raise HfNotlikeInputError(f"`batch_sizes` {batch_sizes} has duplicates.")
    return batch_sizes


def _check_timed(timed_thresholds, thresholds: list[float], batch_sizes: list[int]) -> list[float]:
    """The thresholds to time, descending, 1.0 included; none when nothing is timed."""
    if timed_thresholds is None:
        timed = list(thresholds)
    elif isinstance(timed_thresholds, (str, bytes)):
        raise HfNotlikeInputError("`timed_thresholds` must be a list of thresholds in (0, 1], not a string.")
    else:
        try:
            timed = check_thresholds(list(timed_thresholds) + [1.0], "timed_thresholds")
        except TypeError:
            raise HfNotlikeInputError(f"`timed_thresholds` must be a list of thresholds, got {timed_thresholds!r}.") from None
    return sorted(set(timed) | {1.0}, reverse=True) if batch_sizes else []


def _check_stock_model(model, stock_model, timing: bool) -> torch.nn.Module | None:
    if isinstance(stock_model, torch.nn.Module):
        return stock_model.eval()
    if stock_model is True:
        return stock_model_for(model) if timing else None
    if stock_model is False or stock_model is None:
        return None
    raise HfNotlikeInputError(f"`stock_model` must be True, False or a model, got {type(stock_model).__name__}.")


def _check_baselines(model, baselines) -> dict[str, torch.nn.Module]:
    if baselines is not None and not isinstance(baselines, dict):
        raise HfNotlikeInputError(f"`baselines` must be a dict of name -> model, got {type(baselines).__name__}.")
    baselines = dict(baselines or {})
    for name, baseline in baselines.items():
        if not isinstance(name, str) or not isinstance(baseline, torch.nn.Module):
            raise HfNotlikeInputError(f"`baselines` must map names (str) to models, got {name!r}: {type(baseline).__name__}.")
        layers = getattr(getattr(baseline, "config", None), "num_hidden_layers", None)
        if not isinstance(layers, int) or getattr(baseline.config, "num_labels", None) != model.config.num_labels:
            raise HfNotlikeInputError(
                f"Baseline {name!r} must be a sequence classifier with a `config.num_hidden_layers` and the same "
                f"num_labels as the model ({model.config.num_labels})."
            )
    return baselines


def _check_sweep(model, eval_dataset, thresholds, timed_thresholds, batch_sizes, num_timing_examples, repeats,
                 stock_model, baselines, eval_batch_size, seed, plot_path) -> _Sweep:
    """Step 0: every argument checked, before any pass over the data (the stock model is built last)."""
    from pathlib import Path

    check_early_exit_model(model)
    thresholds = check_thresholds(thresholds)
    batch_sizes = _check_batch_sizes(batch_sizes)
    timed = _check_timed(timed_thresholds, thresholds, batch_sizes)
    for value, name in ((repeats, "repeats"), (num_timing_examples, "num_timing_examples"),
                        (eval_batch_size, "eval_batch_size")):
        check_positive_int(value, name)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise HfNotlikeInputError(f"`seed` must be an integer, got {seed!r}.")
    if plot_path is not None and not Path(plot_path).parent.is_dir():
        raise HfNotlikeInputError(f"`plot_path` {str(plot_path)!r} is in a folder that does not exist; create it first.")
    baselines = _check_baselines(model, baselines)
    check_eval_dataset(eval_dataset, model)
    return _Sweep(
        thresholds=sorted(set(thresholds) | set(timed), reverse=True), timed=timed, batch_sizes=batch_sizes,
        num_timing_examples=num_timing_examples, repeats=repeats, eval_batch_size=eval_batch_size, seed=seed,
        stock=_check_stock_model(model, stock_model, bool(batch_sizes)), baselines=baselines,
    )


def _exact_curve(model, eval_dataset, sweep: _Sweep, show_progress: bool) -> list[dict]:
    """Step 1: one all-exits pass gives the exact accuracy and mean layers of every threshold."""
    exit_logits, labels = collect_exit_logits(model, eval_dataset, sweep.eval_batch_size, show_progress=show_progress,
                                              desc="All-exits pass")
    rows = curve_from_logits(exit_logits, labels, model.config.exit_layers, model.config.temperatures,
                             sweep.thresholds, model.config.num_hidden_layers)
    for row in rows:
        row.update(kind="early_exit", name=f"early exit @ {row['threshold']:g}")
    return rows


def _reference_rows(model, eval_dataset, sweep: _Sweep) -> list[dict]:
    """Step 2: rows for the stock model (speed only) and the baselines (accuracy on `eval_dataset` too)."""
    num_layers = model.config.num_hidden_layers
    device = next(model.parameters()).device
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    rows = []
    if sweep.stock is not None:
        n = sweep.stock.config.num_hidden_layers
        rows.append({"kind": "stock", "name": f"stock {type(sweep.stock).__name__}", "threshold": None,
                     "accuracy": None, "mean_layers": float(n), "ideal_speedup": num_layers / n,
                     "exit_fractions": None})
    for name, baseline in sweep.baselines.items():
        baseline.eval()
        n = baseline.config.num_hidden_layers
        rows.append({"kind": "baseline", "name": name, "threshold": None,
                     "accuracy": _accuracy(baseline, eval_dataset, sweep.eval_batch_size, pad_token_id, device),
                     "mean_layers": float(n), "ideal_speedup": num_layers / n, "exit_fractions": None})
    return rows


def _contenders(model, rows: list[dict], sweep: _Sweep) -> list[tuple[dict, Callable]]:
    """Step 3: what is timed, as `(row, forward)`: the timed thresholds (full model first), stock, baselines."""
    by_threshold = {row["threshold"]: row for row in rows if row["kind"] == "early_exit"}
    contenders: list[tuple[dict, Callable]] = [
        (by_threshold[t], lambda inputs, t=t: model(**inputs, exit_threshold=t, return_dict=True)) for t in sweep.timed
    ]
    for row in rows:
        if row["kind"] == "stock":
            contenders.append((row, lambda inputs: sweep.stock(**inputs)))
        elif row["kind"] == "baseline":
            contenders.append((row, lambda inputs, m=sweep.baselines[row["name"]]: m(**inputs)))
    return contenders


def _device_batches(dataset, size: int, model) -> list[dict]:
    device = next(model.parameters()).device
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    return [
        {k: v.to(device) for k, v in inputs.items()}
        for _, inputs in iterate_batches(dataset, size, pad_token_id, sort_by_length=False)
    ]


def _timing_plan(model, subset, contenders: list[tuple[dict, Callable]], sweep: _Sweep) -> TimingPlan:
    """Step 4: the plan, with an estimate from probing the full model once per batch size on a few rows."""
    num_layers = model.config.num_hidden_layers
    plan = TimingPlan(
        num_examples=len(subset), contenders=[row["name"] for row, _ in contenders], batch_sizes=sweep.batch_sizes,
        repeats=sweep.repeats, relative_cost=[row["mean_layers"] / num_layers for row, _ in contenders],
    )
    full_forward = contenders[0][1]  # threshold 1.0
    for size in sweep.batch_sizes:
        probe = subset.select(range(min(len(subset), max(size, 4))))
        batches = _device_batches(probe, size, model)
        time_forward(full_forward, batches[:1])  # warm-up
        plan.seconds_per_example[size] = time_forward(full_forward, batches) / len(probe)
    return plan


def _time_interleaved(contenders, batches: list[dict], repeats: int, desc: str, show_progress: bool) -> list[float]:
    """Seconds of each contender over `batches`: the batches are cut into chunks of about `CHUNK_EXAMPLES` examples;
    each round runs every contender on each chunk back to back (rotating who goes first), each chunk keeps its
    fastest round, and the chunks are summed. Contenders thus share the machine's load within seconds."""
    from tqdm.auto import tqdm

    size = batches[0]["input_ids"].shape[0]
    per_chunk = max(1, CHUNK_EXAMPLES // size)
    chunks = [batches[i : i + per_chunk] for i in range(0, len(batches), per_chunk)]
    for _, forward in contenders:  # warm-up
        time_forward(forward, chunks[0])
    best = [[math.inf] * len(chunks) for _ in contenders]
    with tqdm(total=repeats * len(chunks), desc=desc, disable=not show_progress) as bar:
        for r in range(repeats):
            for j, chunk in enumerate(chunks):
                shift = (r + j) % len(contenders)
                for i in list(range(shift, len(contenders))) + list(range(shift)):
                    best[i][j] = min(best[i][j], time_forward(contenders[i][1], chunk))
                bar.update(1)
    return [sum(times) for times in best]


def _time_batch_size(model, subset, contenders, sweep: _Sweep, size: int, show_progress: bool) -> None:
    """Step 5, for one batch size: the layers the real loop used on the subset (also a check that the loop agrees
    with the curve), then the interleaved timing; fills the row's `*_bs<size>` columns."""
    num_layers = model.config.num_hidden_layers
    batches = _device_batches(subset, size, model)
    early_exit = [(row, forward) for row, forward in contenders if row["kind"] == "early_exit"]
    with torch.inference_mode():
        for row, forward in early_exit:
            used = torch.cat([forward(inputs).exit_layer for inputs in batches])
            row[f"timed_mean_layers_bs{size}"] = float(used.double().mean())
    seconds = _time_interleaved(contenders, batches, sweep.repeats, f"Timing (bs {size})", show_progress)
    full_time = seconds[0]  # contenders start with threshold 1.0
    stock_time = next((s for (row, _), s in zip(contenders, seconds) if row["kind"] == "stock"), None)
    for (row, _), time_s in zip(contenders, seconds):
        row[f"ms_per_example_bs{size}"] = 1000 * time_s / len(subset)
        row[f"speedup_bs{size}"] = full_time / time_s
        row[f"speedup_vs_stock_bs{size}"] = stock_time / time_s if stock_time else None
        if row["kind"] == "early_exit":
            ideal = num_layers / row[f"timed_mean_layers_bs{size}"]
            row[f"efficiency_bs{size}"] = row[f"speedup_bs{size}"] / ideal


def _batch_retention(contenders, batch_sizes: list[int]) -> None:
    """Step 6: how much of the batch-1 speed-up survives at the largest batch size."""
    if len(batch_sizes) < 2:
        return
    first, last = batch_sizes[0], batch_sizes[-1]
    for row, _ in contenders:
        if row["kind"] == "early_exit" and row["threshold"] < 1.0:
            row["batch_retention"] = row[f"speedup_bs{last}"] / row[f"speedup_bs{first}"]


def _table(rows: list[dict], batch_sizes: list[int]) -> list[dict]:
    """Every row with the same columns, in a fixed order (untimed cells `None`)."""
    columns = ["kind", "name", "threshold", "accuracy", "mean_layers", "ideal_speedup", "exit_fractions"]
    for size in batch_sizes:
        columns += [f"timed_mean_layers_bs{size}", f"ms_per_example_bs{size}", f"speedup_bs{size}",
                    f"speedup_vs_stock_bs{size}", f"efficiency_bs{size}"]
    columns.append("batch_retention")
    return [{c: row.get(c) for c in columns} for row in rows]


def _add_flops(model, eval_dataset, table: list[dict], sweep: _Sweep, stock_model, num_examples: int) -> dict:
    """FLOPs per example of every row (the exit loop at each threshold, the stock model, the baselines), counted on a
    seeded sample at batch size 1; adds `flops_per_example`, `flops_speedup` and `flops_speedup_vs_stock`."""
    from .flops import sweep_flops

    stock = sweep.stock
    if stock is None and stock_model is True:
        try:
            stock = stock_model_for(model)
        except (TypeError, RuntimeError):
            stock = None
    generator = torch.Generator().manual_seed(sweep.seed)
    n = min(num_examples, len(eval_dataset))
    sample = eval_dataset.select(torch.randperm(len(eval_dataset), generator=generator)[:n].tolist())
    batches = _device_batches(sample, 1, model)
    others = {row["name"]: sweep.baselines[row["name"]] for row in table if row["kind"] == "baseline"}
    if stock is not None:
        others["__stock__"] = stock
    flops = sweep_flops(model, batches, sorted(set(sweep.thresholds) | {1.0}, reverse=True), others)
    full, stock_flops = flops[1.0], flops.get("__stock__")
    for row in table:
        key = row["threshold"] if row["kind"] == "early_exit" else ("__stock__" if row["kind"] == "stock" else row["name"])
        value = flops.get(key)
        row["flops_per_example"] = value
        row["flops_speedup"] = full / value if value else None
        row["flops_speedup_vs_stock"] = stock_flops / value if value and stock_flops else None
    return {"flops_examples": n, "stock_flops_per_example": stock_flops, "flops_counter": "FlopCounterMode, batch 1"}


def speed_accuracy_curve(
    model,
    eval_dataset,
    thresholds: Sequence[float],
    timed_thresholds: Sequence[float] | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    num_timing_examples: int = 64,
    repeats: int = 2,
    stock_model: bool | torch.nn.Module = True,
    baselines: dict[str, torch.nn.Module] | None = None,
    plot_path: str | None = None,
    print_table: bool | None = None,
    eval_batch_size: int = 32,
    seed: int = 0,
    show_progress: bool = True,
    num_flops_examples: int = 64,
) -> TradeoffResult:
    """Accuracy, layers used and measured wall-clock speed-up of an early-exit model across exit thresholds.

    The steps, each a function of this module:

    0. `_check_sweep`: every argument and every row of `eval_dataset` is checked against the model, before any pass.
    1. `_exact_curve`: one all-exits pass gives, exactly, the accuracy and mean number of layers of every threshold,
       with the model's (calibrated) `config.temperatures`.
    2. `_reference_rows`: the stock `transformers` classifier of the same backbone and the `baselines` get rows
       (baselines are evaluated on `eval_dataset`).
    3. `_contenders`: the timed thresholds (1.0, the full model, always among them), the stock model, the baselines.
    4. `_timing_plan`: what the timing will cost (rows x contenders x batch sizes x rounds) and, from a probe of a
       few rows, about how long it will take; logged at INFO level before the timing starts
       (`hf_notlike.logging.set_verbosity_info()` shows it) and kept in `result.info`.
    5. `_time_batch_size`: per batch size, on a seeded random subset of `num_timing_examples` rows (pre-tokenized,
       on the device), the real early-exit loop and the others are timed interleaved on chunks of about 8 examples,
       keeping each chunk's fastest round, so that contenders share the machine's load within seconds.
    6. `_batch_retention`, `_table`: the derived columns and the [`TradeoffResult`].

    The defaults are quick (64 timing rows, 2 rounds); for publishable numbers use more rows and rounds on an idle
    machine. `batch_sizes=()` skips the timing entirely (the exact curve only, e.g. on a validation split to pick
    a threshold with [`TradeoffResult.apply_threshold`]).

    Args:
        model ([`EarlyExitModelMixin`]): an early-exit classifier (calibrate it first: [`calibrate_temperatures`]).
        eval_dataset (`datasets.Dataset`): tokenized, with a `label` column (e.g. the test split).
        thresholds (`list[float]`): thresholds in `(0, 1]` for the exact curve.
        timed_thresholds (`list[float]`, *optional*): thresholds to time; defaults to all of `thresholds`. Pass `[]`
            to time only the full model.
        batch_sizes (`list[int]`, *optional*, defaults to `(1, 32)`): batch sizes to time at; `()` times nothing.
        num_timing_examples (`int`, *optional*, defaults to 64): rows in the timing subset.
        repeats (`int`, *optional*, defaults to 2): interleaved timing rounds (the fastest is kept).
        stock_model (`bool` or `torch.nn.Module`, *optional*, defaults to `True`): `True` times the stock classifier
            of the same backbone ([`stock_model_for`]); a model times that one; `False` skips it.
        baselines (`dict[str, torch.nn.Module]`, *optional*): other classifiers (e.g. the backbone truncated to fewer
            layers and fine-tuned alone), evaluated on `eval_dataset` and timed the same way.
        plot_path (`str`, *optional*): where to save the plot ([`TradeoffResult.plot`]; `DEFAULT_PLOT_NAME` is the
            file name the library's tools use).
        print_table (`bool`, *optional*): deprecated and ignored; nothing is printed. Show the table with
            `print(result)` or `result.to_markdown()`.
        eval_batch_size (`int`, *optional*, defaults to 32): batch size of the all-exits pass.
        seed (`int`, *optional*, defaults to 0): seed of the timing subset.
        show_progress (`bool`, *optional*, defaults to `True`): progress bars (and the timing plan).
        num_flops_examples (`int`, *optional*, defaults to 64): rows (a seeded sample) on which the FLOPs of every
            threshold's real exit loop, of the stock classifier and of the baselines are counted, one row at a time,
            with `torch.utils.flop_counter.FlopCounterMode` ([`~hf_notlike.early_exit.flops.sweep_flops`]); gives the
            columns `flops_per_example`, `flops_speedup` (the full model's FLOPs over the row's) and
            `flops_speedup_vs_stock`. `0` skips the count.

    Returns:
        [`TradeoffResult`] with `rows` (one per threshold, then the stock model and the baselines); `info` holds the
        timing plan, its estimate and the measured timing seconds.

    Raises:
        `TypeError` for a model without exits; `ValueError` for thresholds outside `(0, 1]`, an unlabelled or
        untokenized dataset, rows that do not fit the model, bad batch sizes, counts or baselines, or a plot folder
        that does not exist; all before any pass.

    Example:

    ```python
    >>> result = speed_accuracy_curve(model, tokenized_test, [0.5, 0.7, 0.9, 0.99, 1.0],
    ...                               timed_thresholds=[0.9], plot_path="speed_accuracy.png")  # doctest: +SKIP
    >>> result.to_json("outputs/rt/model/sweep.json")  # doctest: +SKIP
    ```
    """
    if print_table is not None:
        warnings.warn("speed_accuracy_curve(print_table=...) is deprecated and ignored: the table is returned, not "
                      "printed. Use print(result) or result.to_markdown().", FutureWarning, stacklevel=2)
    sweep = _check_sweep(model, eval_dataset, thresholds, timed_thresholds, batch_sizes, num_timing_examples,
                         repeats, stock_model, baselines, eval_batch_size, seed, plot_path)
    if isinstance(num_flops_examples, bool) or not isinstance(num_flops_examples, int) or num_flops_examples < 0:
        raise HfNotlikeInputError(f"`num_flops_examples` must be a non-negative integer, got {num_flops_examples!r}.")
    model.eval()
    rows = _exact_curve(model, eval_dataset, sweep, show_progress)
    rows += _reference_rows(model, eval_dataset, sweep)
    n_timed = min(sweep.num_timing_examples, len(eval_dataset)) if sweep.batch_sizes else 0
    info = {"torch_threads": torch.get_num_threads(), "device": str(next(model.parameters()).device),
            "temperatures": list(model.config.temperatures), "exit_layers": list(model.config.exit_layers)}
    if sweep.batch_sizes:
        generator = torch.Generator().manual_seed(sweep.seed)
        subset = eval_dataset.select(torch.randperm(len(eval_dataset), generator=generator)[:n_timed].tolist())
        contenders = _contenders(model, rows, sweep)
        plan = _timing_plan(model, subset, contenders, sweep)
        logger.info(str(plan))
        start = time.perf_counter()
        for size in sweep.batch_sizes:
            _time_batch_size(model, subset, contenders, sweep, size, show_progress)
        _batch_retention(contenders, sweep.batch_sizes)
        info.update(timing_plan=str(plan), estimated_timing_s=plan.estimated_seconds,
                    timing_s=time.perf_counter() - start)
    table = _table(rows, sweep.batch_sizes)
    if num_flops_examples:
        info.update(_add_flops(model, eval_dataset, table, sweep, stock_model, num_flops_examples))
    result = TradeoffResult(
        rows=table, batch_sizes=sweep.batch_sizes,
        num_layers=model.config.num_hidden_layers, num_examples=len(eval_dataset), num_timing_examples=n_timed,
        repeats=sweep.repeats, info=info,
    )
    record_on_card(model, sweep=result)  # the model card's trade-off table
    if plot_path is not None:
        result.plot(plot_path)
    return result
