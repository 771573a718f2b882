# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The speed/accuracy trade-off of an early-exit model: one curve from one pass, plus measured wall-clock time.

Schwartz et al. (ACL 2020, Sec. 4, Fig. 3) report one trained model covering a whole speed/accuracy curve by
varying the confidence threshold. Since the exit rule only reads the exits' logits, a single all-exits pass
([`~hf_notlike.early_exit.calibration.collect_exit_logits`]) gives the exact accuracy and mean number of layers of
every threshold. Layers are not time, though: for chosen thresholds this module also times the real early-exit loop
at batch size 1 and at a larger batch, against the same model at threshold 1.0 (the full model), against the stock
`transformers` classifier of the same backbone, and against any baselines (e.g. smaller models trained alone), all
in the same run and interleaved, so that they share the machine's conditions.

Example:

```python
>>> from hf_notlike import speed_accuracy_curve
>>> result = speed_accuracy_curve(model, tokenized_test, [0.6, 0.8, 0.9, 0.95, 0.99, 1.0],
...                               timed_thresholds=[0.9, 1.0], plot_path="curve.png")  # doctest: +SKIP
>>> result.rows[0]["accuracy"], result.rows[0]["mean_layers"]  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .calibration import check_early_exit_model, check_eval_dataset, collect_exit_logits, iterate_batches
from .model_card import record_on_card
from .modeling import select_exits

__all__ = [
    "TradeoffResult",
    "check_thresholds",
    "curve_from_logits",
    "speed_accuracy_curve",
    "stock_model_for",
    "time_forward",
]


def check_thresholds(thresholds, name: str = "thresholds") -> list[float]:
    """Returns `thresholds` as a list of floats; raises a `ValueError` if it is empty or any value is outside
    `(0, 1]`."""
    if isinstance(thresholds, (int, float)):
        thresholds = [thresholds]
    thresholds = list(thresholds)
    if len(thresholds) == 0:
        raise ValueError(f"`{name}` is empty; give at least one exit threshold in (0, 1], e.g. [0.8, 0.9, 1.0].")
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0.0 < t <= 1.0:
            raise ValueError(
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
    """The stock `transformers` classifier of the same backbone as an early-exit model (`BertForSequenceClassification`
    or `RobertaForSequenceClassification`), with the early-exit model's backbone weights, in eval mode.

    Its classification head is freshly initialised: it serves as the speed reference, not for accuracy.
    """
    from transformers import BertConfig, BertForSequenceClassification, RobertaConfig, RobertaForSequenceClassification

    check_early_exit_model(model)
    if model.base_model_prefix == "roberta":
        config_class, model_class = RobertaConfig, RobertaForSequenceClassification
    elif model.base_model_prefix == "bert":
        config_class, model_class = BertConfig, BertForSequenceClassification
    else:
        raise TypeError(f"No stock classifier known for backbone {model.base_model_prefix!r}; pass `stock_model=`.")
    own = model.config.to_dict()
    keys = set(config_class().to_dict()) - {"model_type", "transformers_version", "architectures", "auto_map"}
    config = config_class(**{k: v for k, v in own.items() if k in keys})
    config._attn_implementation = model.config._attn_implementation
    stock = model_class(config)
    # RobertaForSequenceClassification has no pooler (its head pools); everything else must match
    missing, unexpected = stock.base_model.load_state_dict(model.backbone.state_dict(), strict=False)
    if missing or any(not key.startswith("pooler.") for key in unexpected):
        raise RuntimeError(f"Backbone weights do not fit {model_class.__name__}: missing {missing}, "
                           f"unexpected {unexpected}.")
    device = next(model.parameters()).device
    return stock.to(device=device, dtype=next(model.parameters()).dtype).eval()


@torch.inference_mode()
def time_forward(forward: Callable[[dict], object], batches: list[dict]) -> float:
    """Wall-clock seconds of calling `forward(inputs)` on every batch in turn (inputs already on the device)."""
    start = time.perf_counter()
    for inputs in batches:
        forward(inputs)
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
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2)

    @classmethod
    def from_json(cls, path: str) -> TradeoffResult:
        with open(path, encoding="utf-8") as handle:
            return cls(**json.load(handle))

    def to_markdown(self, timed_only: bool = False) -> str:
        """The table in Markdown (all rows, or only the timed ones)."""
        b = self.batch_sizes
        header = ["model", "threshold", "accuracy", "mean layers", "ideal speed-up"]
        for size in b:
            header += [f"ms/ex (bs {size})", f"speed-up (bs {size})", f"vs stock (bs {size})", f"eff. (bs {size})"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

        def fmt(value, spec):
            return "" if value is None else format(value, spec)

        for row in self.rows:
            timed = row.get(f"ms_per_example_bs{b[0]}") is not None
            if timed_only and not timed:
                continue
            cells = [
                row["name"],
                fmt(row["threshold"], ".3g"),
                fmt(100 * row["accuracy"] if row["accuracy"] is not None else None, ".2f"),
                fmt(row["mean_layers"], ".2f"),
                fmt(row["ideal_speedup"], ".2f"),
            ]
            for size in b:
                cells += [
                    fmt(row.get(f"ms_per_example_bs{size}"), ".2f"),
                    fmt(row.get(f"speedup_bs{size}"), ".2f"),
                    fmt(row.get(f"speedup_vs_stock_bs{size}"), ".2f"),
                    fmt(row.get(f"efficiency_bs{size}"), ".2f"),
                ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (
            f"Speed/accuracy trade-off ({self.num_examples} examples; timing on {self.num_timing_examples}, best of "
            f"{self.repeats} rounds per interleaved chunk)\n" + self.to_markdown()
        )

    def plot(self, path: str | None = None, title: str | None = None):
        """Accuracy against speed-up: the exact curve of every threshold (speed-up = ideal layer ratio), the measured
        batch-1 speed-up of the timed thresholds, and the baselines. Speed-ups are relative to the stock model when it
        was timed, else to the full early-exit model. Returns the matplotlib figure; saves it to `path` if given."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        b1 = self.batch_sizes[0]
        has_stock = any(r["kind"] == "stock" and r.get(f"ms_per_example_bs{b1}") is not None for r in self.rows)
        key = f"speedup_vs_stock_bs{b1}" if has_stock else f"speedup_bs{b1}"
        reference = "stock model" if has_stock else "full early-exit model"
        ee = [r for r in self.rows if r["kind"] == "early_exit"]
        ee = sorted(ee, key=lambda r: r["ideal_speedup"])
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        ax.plot(
            [r["ideal_speedup"] for r in ee], [100 * r["accuracy"] for r in ee], "-", color="tab:blue", alpha=0.5,
            marker=".", label="early exit, all thresholds (layer ratio)",
        )
        timed = [r for r in ee if r.get(key) is not None]
        if timed:
            ax.plot(
                [r[key] for r in timed], [100 * r["accuracy"] for r in timed], "o", color="tab:blue",
                label=f"early exit, measured (bs {b1})",
            )
            for r in timed:
                ax.annotate(f"{r['threshold']:g}", (r[key], 100 * r["accuracy"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7, color="tab:blue")
        larger = None
        if len(self.batch_sizes) > 1:
            larger = f"speedup_vs_stock_bs{self.batch_sizes[-1]}" if has_stock else f"speedup_bs{self.batch_sizes[-1]}"
        if larger and any(r.get(larger) is not None for r in timed):
            ax.plot(
                [r[larger] for r in timed], [100 * r["accuracy"] for r in timed], "o", mfc="none", color="tab:blue",
                label=f"early exit, measured (bs {self.batch_sizes[-1]})",
            )
        base = [r for r in self.rows if r["kind"] == "baseline" and r.get(key) is not None]
        if base:
            ax.plot([r[key] for r in base], [100 * r["accuracy"] for r in base], "s", color="tab:orange",
                    label=f"smaller model trained alone (bs {b1})")
            for r in base:
                ax.annotate(r["name"], (r[key], 100 * r["accuracy"]), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color="tab:orange")
        full = [r for r in ee if r["threshold"] == 1.0]
        if full:
            ax.axhline(100 * full[0]["accuracy"] - 1, color="grey", ls=":", lw=1, label="full model - 1 point")
        ax.set_xlabel(f"speed-up over the {reference}")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(title or "Early exit: accuracy vs speed-up")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


def _accuracy(model, dataset, batch_size: int, pad_token_id: int, device) -> float:
    label_column = check_eval_dataset(dataset)
    labels = torch.tensor(dataset[label_column])
    correct = 0
    with torch.inference_mode():
        for indices, inputs in iterate_batches(dataset, batch_size, pad_token_id):
            logits = model(**{k: v.to(device) for k, v in inputs.items()}).logits
            correct += int((logits.argmax(-1).cpu() == labels[indices]).sum())
    return correct / len(dataset)


def speed_accuracy_curve(
    model,
    eval_dataset,
    thresholds: Sequence[float],
    timed_thresholds: Sequence[float] | None = None,
    batch_sizes: Sequence[int] = (1, 32),
    num_timing_examples: int = 256,
    repeats: int = 3,
    stock_model: bool | torch.nn.Module = True,
    baselines: dict[str, torch.nn.Module] | None = None,
    plot_path: str | None = None,
    print_table: bool = True,
    eval_batch_size: int = 32,
    seed: int = 0,
    show_progress: bool = True,
) -> TradeoffResult:
    """Accuracy, layers used and measured wall-clock speed-up of an early-exit model across exit thresholds.

    1. One all-exits pass over `eval_dataset` gives, exactly, the accuracy and mean number of layers of every
       threshold, with the model's (calibrated) `config.temperatures`.
    2. For `timed_thresholds` (1.0 is always added: the full model), the real early-exit loop is timed on a seeded
       random subset of `num_timing_examples` rows at each of `batch_sizes`, together with the stock `transformers`
       classifier of the same backbone and the `baselines`. Inputs are pre-tokenized and on the device. The subset
       is cut into chunks of about 8 examples; each round runs every contender on each chunk back to back (in
       rotated order), each chunk's fastest round is kept and the chunks are summed: contenders thus share the
       machine's load within seconds, which keeps comparisons fair on a busy machine.

    Args:
        model ([`EarlyExitModelMixin`]): an early-exit classifier (calibrate it first: [`calibrate_temperatures`]).
        eval_dataset (`datasets.Dataset`): tokenized, with a `label` column (e.g. the test split).
        thresholds (`list[float]`): thresholds in `(0, 1]` for the exact curve.
        timed_thresholds (`list[float]`, *optional*): thresholds to time; defaults to all of `thresholds`. Pass `[]`
            to time only the full model; with no `batch_sizes`, nothing is timed.
        batch_sizes (`list[int]`, *optional*, defaults to `(1, 32)`): batch sizes to time at.
        num_timing_examples (`int`, *optional*, defaults to 256): rows in the timing subset.
        repeats (`int`, *optional*, defaults to 3): interleaved timing rounds (the fastest is kept).
        stock_model (`bool` or `torch.nn.Module`, *optional*, defaults to `True`): `True` times the stock classifier
            of the same backbone ([`stock_model_for`]); a model times that one; `False` skips it.
        baselines (`dict[str, torch.nn.Module]`, *optional*): other classifiers (e.g. the backbone truncated to fewer
            layers and fine-tuned alone), evaluated on `eval_dataset` and timed the same way.
        plot_path (`str`, *optional*): where to save the plot ([`TradeoffResult.plot`]).
        print_table (`bool`, *optional*, defaults to `True`): print the table.
        eval_batch_size (`int`, *optional*, defaults to 32): batch size of the all-exits pass.
        seed (`int`, *optional*, defaults to 0): seed of the timing subset.
        show_progress (`bool`, *optional*, defaults to `True`): progress bars.

    Returns:
        [`TradeoffResult`] with `rows` (one per threshold, then the stock model and the baselines).

    Raises:
        `TypeError` for a model without exits; `ValueError` for thresholds outside `(0, 1]`, an unlabelled or
        untokenized dataset, or a bad batch size; all before any pass.

    Example:

    ```python
    >>> result = speed_accuracy_curve(model, tokenized_test, [0.5, 0.7, 0.9, 0.99, 1.0],
    ...                               timed_thresholds=[0.9], plot_path="curve.png")  # doctest: +SKIP
    >>> result.to_json("outputs/rt/model/sweep.json")  # doctest: +SKIP
    ```
    """
    from tqdm.auto import tqdm

    check_early_exit_model(model)
    check_eval_dataset(eval_dataset)
    thresholds = check_thresholds(thresholds)
    timed = thresholds if timed_thresholds is None else check_thresholds(list(timed_thresholds) + [1.0],
                                                                           "timed_thresholds")
    if 1.0 not in timed:
        timed = timed + [1.0]
    timed = sorted(set(timed), reverse=True)
    batch_sizes = list(batch_sizes)
    for size in batch_sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"`batch_sizes` holds {size!r}; every batch size must be a positive integer.")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"`repeats` must be a positive integer, got {repeats!r}.")
    if not isinstance(num_timing_examples, int) or num_timing_examples < 1:
        raise ValueError(f"`num_timing_examples` must be a positive integer, got {num_timing_examples!r}.")
    baselines = dict(baselines or {})
    num_layers = model.config.num_hidden_layers
    device = next(model.parameters()).device
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0

    # 1. the exact curve
    exit_logits, labels = collect_exit_logits(model, eval_dataset, eval_batch_size, show_progress=show_progress,
                                              desc="All-exits pass")
    all_thresholds = sorted(set(thresholds) | set(timed), reverse=True)
    rows = curve_from_logits(exit_logits, labels, model.config.exit_layers, model.config.temperatures,
                             all_thresholds, num_layers)
    for row in rows:
        row.update(kind="early_exit", name=f"early exit @ {row['threshold']:g}")

    stock = None
    if stock_model is True:
        stock = stock_model_for(model)
    elif isinstance(stock_model, torch.nn.Module):
        stock = stock_model.eval()
    if stock is not None:
        rows.append({"kind": "stock", "name": f"stock {type(stock).__name__}", "threshold": None, "accuracy": None,
                     "mean_layers": float(stock.config.num_hidden_layers),
                     "ideal_speedup": num_layers / stock.config.num_hidden_layers, "exit_fractions": None})
    for name, baseline in baselines.items():
        baseline.eval()
        n = baseline.config.num_hidden_layers
        rows.append({"kind": "baseline", "name": name, "threshold": None,
                     "accuracy": _accuracy(baseline, eval_dataset, eval_batch_size, pad_token_id, device),
                     "mean_layers": float(n), "ideal_speedup": num_layers / n, "exit_fractions": None})

    # 2. the timing
    n_timed = min(num_timing_examples, len(eval_dataset))
    generator = torch.Generator().manual_seed(seed)
    subset = eval_dataset.select(torch.randperm(len(eval_dataset), generator=generator)[:n_timed].tolist())
    model.eval()
    by_threshold = {row["threshold"]: row for row in rows if row["kind"] == "early_exit"}
    contenders: list[tuple[dict, Callable]] = []
    for t in timed:
        contenders.append((by_threshold[t], lambda inputs, t=t: model(**inputs, exit_threshold=t, return_dict=True)))
    for row in rows:
        if row["kind"] == "stock":
            contenders.append((row, lambda inputs: stock(**inputs)))
        elif row["kind"] == "baseline":
            contenders.append((row, lambda inputs, m=baselines[row["name"]]: m(**inputs)))

    for size in batch_sizes:
        batches = [
            {k: v.to(device) for k, v in inputs.items()}
            for _, inputs in iterate_batches(subset, size, pad_token_id, sort_by_length=False)
        ]
        # the layers the real loop used on the timing subset (also a check that the loop agrees with the curve)
        with torch.inference_mode():
            for t in timed:
                used = torch.cat([model(**inputs, exit_threshold=t, return_dict=True).exit_layer for inputs in batches])
                by_threshold[t][f"timed_mean_layers_bs{size}"] = float(used.double().mean())
            for _, forward in contenders:  # warm-up
                time_forward(forward, batches[: max(1, 8 // size)])
        # interleave at the level of short chunks (~8 examples), so that every contender sees the same load
        # within seconds; keep each chunk's fastest round and sum over chunks
        per_chunk = max(1, 8 // size)
        chunks = [batches[i : i + per_chunk] for i in range(0, len(batches), per_chunk)]
        chunk_best = [[math.inf] * len(chunks) for _ in contenders]
        with tqdm(total=repeats * len(chunks), desc=f"Timing (bs {size})", disable=not show_progress) as bar:
            for r in range(repeats):
                for j, chunk in enumerate(chunks):
                    shift = (r + j) % len(contenders)
                    for i in list(range(shift, len(contenders))) + list(range(shift)):
                        chunk_best[i][j] = min(chunk_best[i][j], time_forward(contenders[i][1], chunk))
                    bar.update(1)
        best = [sum(times) for times in chunk_best]
        full_time = best[[row for row, _ in contenders].index(by_threshold[1.0])]
        stock_time = best[len(timed)] if stock is not None else None
        for (row, _), seconds in zip(contenders, best):
            row[f"ms_per_example_bs{size}"] = 1000 * seconds / n_timed
            row[f"speedup_bs{size}"] = full_time / seconds
            row[f"speedup_vs_stock_bs{size}"] = stock_time / seconds if stock_time else None
            if row["kind"] == "early_exit":
                row[f"efficiency_bs{size}"] = row[f"speedup_bs{size}"] / (
                    num_layers / row[f"timed_mean_layers_bs{size}"]
                )
    if len(batch_sizes) > 1:
        first, last = batch_sizes[0], batch_sizes[-1]
        for row, _ in contenders:
            if row["kind"] == "early_exit" and row["threshold"] < 1.0:
                row["batch_retention"] = row[f"speedup_bs{last}"] / row[f"speedup_bs{first}"]

    columns = ["kind", "name", "threshold", "accuracy", "mean_layers", "ideal_speedup", "exit_fractions"]
    for size in batch_sizes:
        columns += [f"timed_mean_layers_bs{size}", f"ms_per_example_bs{size}", f"speedup_bs{size}",
                    f"speedup_vs_stock_bs{size}", f"efficiency_bs{size}"]
    columns.append("batch_retention")
    rows = [{c: row.get(c) for c in columns} for row in rows]
    result = TradeoffResult(
        rows=rows, batch_sizes=batch_sizes, num_layers=num_layers, num_examples=len(eval_dataset),
        num_timing_examples=n_timed, repeats=repeats,
        info={"torch_threads": torch.get_num_threads(), "device": str(device),
              "temperatures": list(model.config.temperatures), "exit_layers": list(model.config.exit_layers)},
    )
    record_on_card(model, sweep=result)  # the model card's trade-off table
    if print_table:
        print(result)
    if plot_path is not None:
        result.plot(plot_path)
    return result
