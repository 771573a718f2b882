# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Exit thresholds chosen for an accuracy budget: one global threshold, or one threshold per exit.

Schwartz et al. (ACL 2020) use one confidence threshold for every exit. Exits differ, though: an early exit may be
over-confident where a later one is well calibrated, and one threshold must then be set for the worst of them.
[`choose_thresholds`] searches, on validation logits of every exit (one all-exits pass,
[`~hf_notlike.collect_exit_logits`]), for the thresholds that use the fewest layers on average while keeping the
validation accuracy within `max_drop` of a reference (by default the full model; given another model's accuracy,
such as the plain classifier's, the better of the two):

1. the best single threshold under that constraint, as [`~hf_notlike.TradeoffResult.threshold_for`] picks it;
2. with `per_exit=True`, coordinate descent from there: each intermediate exit's threshold in turn is moved to the
   candidate value that lowers the mean number of layers most while the constraint still holds, until no move
   helps. Every accepted move lowers the mean layers, so the result is never slower than the best global threshold
   on validation.

Thresholds chosen on validation overfit it a little (they usually lose some accuracy on test); `margin` asks for
that much more accuracy on validation than the budget allows, and `confidence` a bootstrap bound. Measuring the
budget from the better of the two references matters more: two models' accuracies on one validation split differ by
noise (about `sqrt(disagreement rate / rows)`, 0.7 points for models disagreeing on 6% of 1,281 sentences), and a
budget measured from the lower one hands that noise to the exits, which spend it and lose it again on test.
Everything runs on cached logits: a search over thousands of rows and a dozen exits takes well under a second.

Example:

```python
>>> from hf_notlike import choose_thresholds, collect_exit_logits
>>> val_logits, val_labels = collect_exit_logits(model, tokenized_validation)  # doctest: +SKIP
>>> choice = choose_thresholds(val_logits, val_labels, model.config.exit_layers, model.config.temperatures,
...                            max_drop=0.01, margin=0.005)  # doctest: +SKIP
>>> choice.apply(model)  # writes config.exit_thresholds, saved with the model  # doctest: +SKIP
>>> choice.evaluate(*collect_exit_logits(model, tokenized_test))  # the test split's accuracy and layers  # doctest: +SKIP
```
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from .modeling import exit_confidences, select_exits

__all__ = ["ThresholdChoice", "choose_thresholds"]

_NUM_CANDIDATES = 100


@dataclass
class ThresholdChoice:
    """The result of [`choose_thresholds`].

    Args:
        thresholds (`list[float]`): one threshold per exit (the last one, 1.0, is not used); equal for every
            intermediate exit when `per_exit=False`.
        accuracy (`float`): validation accuracy with these thresholds.
        mean_layers (`float`): mean number of layers used on validation.
        ideal_speedup (`float`): `num_layers / mean_layers`.
        exit_fractions (`list[float]`): share of validation rows leaving at each exit.
        reference_accuracy (`float`): the accuracy the budget is measured from (with `from_better_reference`, the
            better of the one given and the full model's).
        target_accuracy (`float`): the validation accuracy required (`reference - max_drop + margin`).
        global_threshold (`float`): the best single threshold under the same target (the search's start).
        global_accuracy (`float`), global_mean_layers (`float`): its validation accuracy and mean layers.
        exit_layers (`list[int]`): the layer of each exit the thresholds belong to.
        per_exit (`bool`): whether the thresholds were searched per exit.
    """

    thresholds: list[float]
    accuracy: float
    mean_layers: float
    ideal_speedup: float
    exit_fractions: list[float]
    reference_accuracy: float
    target_accuracy: float
    global_threshold: float
    global_accuracy: float
    global_mean_layers: float
    exit_layers: list[int]
    per_exit: bool = True
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def evaluate(self, exit_logits: torch.Tensor, labels: torch.Tensor, temperatures: Sequence[float] | None = None
                 ) -> dict:
        """Accuracy, mean layers and exit shares of these thresholds on other logits (e.g. the test split's).

        Args:
            exit_logits (`torch.Tensor` of shape `(num_rows, num_exits, num_labels)`), labels (`torch.Tensor`):
                from [`~hf_notlike.collect_exit_logits`].
            temperatures (`list[float]`, *optional*): defaults to those the choice was made with.

        Returns:
            `dict` with `accuracy`, `mean_layers`, `ideal_speedup` and `exit_fractions`.
        """
        temperatures = self.info["temperatures"] if temperatures is None else list(temperatures)
        exit_logits, labels = _check_logits(exit_logits, labels, self.exit_layers, temperatures)
        index = select_exits(exit_logits, temperatures, self.thresholds)
        correct = exit_logits.argmax(-1)[torch.arange(len(index)), index] == labels
        layers = torch.tensor(self.exit_layers, dtype=torch.float64)[index]
        num_layers = self.info.get("num_layers") or self.exit_layers[-1]
        mean_layers = float(layers.mean())
        return {"accuracy": float(correct.double().mean()), "mean_layers": mean_layers,
                "ideal_speedup": num_layers / mean_layers,
                "exit_fractions": _fractions(index, len(self.exit_layers))}

    def apply(self, model) -> list[float]:
        """Writes the choice into the model's config (saved with it): `exit_thresholds` for a per-exit choice;
        for a global one, `exit_threshold` (and `exit_thresholds` cleared).

        Args:
            model ([`EarlyExitModelMixin`] or its config): the model the validation logits came from.

        Returns:
            `list[float]`: the thresholds now in force, one per exit.
        """
        config = getattr(model, "config", model)
        if not hasattr(config, "exit_layers"):
            raise HfNotlikeTypeError(f"Expected an early-exit model or config, got {type(model).__name__}.")
        if list(config.exit_layers) != list(self.exit_layers):
            raise HfNotlikeInputError(
                f"These thresholds were chosen for exits after layers {self.exit_layers}, but the model's exits are "
                f"after layers {list(config.exit_layers)}: choose them on this model's logits."
            )
        if self.per_exit:
            config.exit_thresholds = config.check_exit_thresholds(list(self.thresholds))
        else:
            config.exit_threshold = config.check_exit_threshold(self.global_threshold)
            config.exit_thresholds = None
        return config.thresholds_for()

    def __str__(self) -> str:
        kind = "per-exit" if self.per_exit else "global"
        shown = ", ".join(f"{t:.4g}" for t in self.thresholds[:-1])
        return (
            f"{kind} thresholds [{shown}] (exits after layers {self.exit_layers[:-1]}): validation accuracy "
            f"{self.accuracy:.2%} (target {self.target_accuracy:.2%}), {self.mean_layers:.2f} layers on average "
            f"({self.ideal_speedup:.2f}x); best global threshold {self.global_threshold:.4g}: "
            f"{self.global_accuracy:.2%}, {self.global_mean_layers:.2f} layers"
        )


def _fractions(index: torch.Tensor, num_exits: int) -> list[float]:
    return [round(float(f), 6) for f in torch.bincount(index, minlength=num_exits).double() / len(index)]


def _fraction(value, name: str, upper: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not (
        0 <= value < upper
    ):
        raise HfNotlikeInputError(f"`{name}` must be a fraction in [0, {upper:g}) (0.01 = one accuracy point), got {value!r}.")
    return float(value)


def _check_logits(exit_logits, labels, exit_layers, temperatures) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(exit_logits, torch.Tensor) or exit_logits.dim() != 3 or not exit_logits.is_floating_point():
        shape = tuple(exit_logits.shape) if isinstance(exit_logits, torch.Tensor) else type(exit_logits).__name__
        raise HfNotlikeInputError(f"`exit_logits` must be a float tensor (num_rows, num_exits, num_labels) as "
                         f"collect_exit_logits returns it, got {shape}.")
    rows, num_exits, num_labels = exit_logits.shape
    labels = torch.as_tensor(labels)
    if labels.shape != (rows,) or labels.is_floating_point():
        raise HfNotlikeInputError(f"`labels` must hold {rows} integer class indices, got {labels.dtype} {tuple(labels.shape)}.")
    if rows == 0:
        raise HfNotlikeInputError("The logits hold no rows; collect them on a non-empty validation split.")
    if num_labels < 2:
        raise HfNotlikeInputError("Thresholds need a classification head (num_labels >= 2); a regression model always runs "
                         "the full model.")
    if bool(((labels < 0) | (labels >= num_labels)).any()):
        raise HfNotlikeInputError(f"`labels` must lie in [0, {num_labels}).")
    if len(exit_layers) != num_exits or len(temperatures) != num_exits:
        raise HfNotlikeInputError(f"The logits have {num_exits} exits but `exit_layers` has {len(exit_layers)} values and "
                         f"`temperatures` {len(temperatures)}; pass the model's config.exit_layers and "
                         "config.temperatures.")
    return exit_logits.float(), labels.long()


def _candidates(confidences: torch.Tensor, count: int) -> torch.Tensor:
    """Thresholds worth trying on one exit: quantiles of its confidences (each a value where rows start or stop
    leaving), and 1.0 (never leave there); increasing, unique, in (0, 1]."""
    quantiles = torch.quantile(confidences.double(), torch.linspace(0, 1, count, dtype=torch.float64))
    values = torch.cat([quantiles.float().clamp(min=1e-6), torch.ones(1)])
    return torch.unique(values[values <= 1.0])


class _Evaluator:
    """Accuracy and mean layers of threshold vectors, from the cached confidences and correctness."""

    def __init__(self, confidences: torch.Tensor, correct: torch.Tensor, exit_layers: Sequence[int]):
        self.confidences, self.correct = confidences, correct
        self.layers = torch.tensor(list(exit_layers), dtype=torch.float64)
        self.rows = torch.arange(confidences.shape[0])
        # a row leaves at or before exit k under one global threshold t iff max(conf_0..conf_k) >= t
        self.running_max = confidences[:, :-1].cummax(dim=1).values

    def index(self, thresholds: torch.Tensor) -> torch.Tensor:
        passes = (self.confidences >= thresholds) & (thresholds < 1.0)
        passes[:, -1] = True
        return passes.to(torch.long).argmax(dim=-1)

    def __call__(self, thresholds: torch.Tensor) -> tuple[float, float]:
        index = self.index(thresholds)
        return float(self.correct[self.rows, index].double().mean()), float(self.layers[index].mean())

    def global_scan(self, candidates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Accuracy and mean layers of every global threshold in `candidates`. As a global threshold `t` rises past
        `max(conf_0..conf_k)`, a row moves from exit `k` to exit `k + 1`: one sorted list of these events and their
        cumulative effect gives every threshold's result at once."""
        rows, width = self.running_max.shape
        correct = self.correct.double()
        start_correct, start_layers = correct[:, 0].sum(), self.layers[0] * rows  # t below every confidence
        values = self.running_max.reshape(-1)
        delta_correct = (correct[:, 1:] - correct[:, :-1]).reshape(-1)
        delta_layers = (self.layers[1:] - self.layers[:-1]).repeat(rows)
        order = values.argsort()
        zero = torch.zeros(1, dtype=torch.float64)
        cumulative_correct = torch.cat([zero, delta_correct[order].cumsum(0)])
        cumulative_layers = torch.cat([zero, delta_layers[order].cumsum(0)])
        moved = torch.searchsorted(values[order], candidates.to(values.dtype), side="left")  # events below t
        accuracy = (start_correct + cumulative_correct[moved]) / rows
        layers = (start_layers + cumulative_layers[moved]) / rows
        full = candidates >= 1.0  # 1.0: never leave early, whatever the confidences
        accuracy = torch.where(full, correct[:, -1].mean(), accuracy)
        layers = torch.where(full, self.layers[-1], layers)
        return accuracy, layers

    def exit_scan(self, thresholds: torch.Tensor, k: int, candidates: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Accuracy and mean layers when exit `k`'s threshold takes each value of `candidates`, the others fixed:
        rows running at exit `k` leave there when confident enough, else take the outcome they get without it."""
        never = thresholds.clone()
        never[k] = 1.0
        index = self.index(never)
        base_correct = self.correct[self.rows, index].double()
        base_layers = self.layers[index]
        running = index > k
        confidence = self.confidences[running, k]
        order = confidence.argsort(descending=True)
        gain_correct = self.correct[running, k].double() - base_correct[running]
        gain_layers = self.layers[k] - base_layers[running]
        zero = torch.zeros(1, dtype=torch.float64)
        cumulative_correct = torch.cat([zero, gain_correct[order].cumsum(0)])
        cumulative_layers = torch.cat([zero, gain_layers[order].cumsum(0)])
        ascending = confidence.sort().values
        leaving = len(ascending) - torch.searchsorted(ascending, candidates.to(ascending.dtype), side="left")
        leaving = torch.where(candidates >= 1.0, 0, leaving)  # 1.0: never leave at this exit
        total = len(self.rows)
        return ((base_correct.sum() + cumulative_correct[leaving]) / total,
                (base_layers.sum() + cumulative_layers[leaving]) / total)


def _global_candidates(confidences: torch.Tensor, num_candidates: int) -> torch.Tensor:
    """The global thresholds tried: quantiles of all intermediate exits' confidences, plus 1.0 (the full model)."""
    intermediate = confidences[:, :-1].reshape(-1)
    num_exits = confidences.shape[1]
    return _candidates(intermediate, num_candidates * (num_exits - 1)) if len(intermediate) else torch.ones(1)


def _search(evaluate: _Evaluator, confidences: torch.Tensor, target: float, per_exit: bool, num_candidates: int,
            max_rounds: int) -> tuple:
    """The best global threshold for `target`, then (with `per_exit`) coordinate descent from it; returns
    `(thresholds, accuracy, layers, global_t, global_accuracy, global_layers, rounds)`."""
    num_exits = confidences.shape[1]
    tolerance = 1e-12
    # 1. the best single threshold: fewest mean layers within the target (the higher threshold on a tie)
    global_candidates = _global_candidates(confidences, num_candidates)
    accuracies, mean_layers = evaluate.global_scan(global_candidates)
    within = (accuracies >= target - tolerance).nonzero().flatten().tolist()
    best = min(within, key=lambda i: (float(mean_layers[i]), -float(global_candidates[i])))
    global_t = float(global_candidates[best])
    thresholds = torch.full((num_exits,), global_t, dtype=confidences.dtype)
    thresholds[-1] = 1.0
    global_accuracy, global_layers = evaluate(thresholds)
    accuracy, layers = global_accuracy, global_layers

    # 2. coordinate descent over the intermediate exits' thresholds, every move strictly faster within the target
    rounds = 0
    if per_exit and num_exits > 1:
        per_exit_candidates = [_candidates(confidences[:, k], num_candidates) for k in range(num_exits - 1)]
        for _ in range(max_rounds):
            rounds += 1
            improved = False
            for k in range(num_exits - 1):
                candidates = per_exit_candidates[k]
                trial_accuracies, trial_layers = evaluate.exit_scan(thresholds, k, candidates)
                ok = (trial_accuracies >= target - tolerance) & (trial_layers < layers - 1e-9)
                if not bool(ok.any()):
                    continue
                masked = torch.where(ok, trial_layers, torch.full_like(trial_layers, math.inf))
                trial = thresholds.clone()
                trial[k] = candidates[int(masked.argmin())]
                trial_accuracy, trial_layer_mean = evaluate(trial)  # exact, as the model will run it
                if trial_accuracy >= target - tolerance and trial_layer_mean < layers - 1e-9:
                    thresholds, accuracy, layers = trial, trial_accuracy, trial_layer_mean
                    improved = True
            if not improved:
                break

    return thresholds, accuracy, layers, global_t, global_accuracy, global_layers, rounds


def _bootstrap_lower_bound(difference: torch.Tensor, confidence: float, num_bootstrap: int, seed: int) -> float:
    """The one-sided `confidence` lower bound of the mean of per-row values (percentile bootstrap over rows)."""
    generator = torch.Generator().manual_seed(seed)
    rows = difference.shape[0]
    means = torch.empty(num_bootstrap, dtype=torch.float64)
    chunk = max(1, 2**22 // rows)
    for start in range(0, num_bootstrap, chunk):
        size = min(chunk, num_bootstrap - start)
        sample = torch.randint(rows, (size, rows), generator=generator)
        means[start : start + size] = difference[sample].mean(dim=1)
    return float(torch.quantile(means, 1.0 - confidence))


def choose_thresholds(
    val_logits: torch.Tensor,
    val_labels: torch.Tensor,
    exit_layers: Sequence[int],
    temperatures: Sequence[float],
    reference_accuracy: float | None = None,
    max_drop: float = 0.01,
    margin: float = 0.0,
    from_better_reference: bool = True,
    per_exit: bool = True,
    num_candidates: int = _NUM_CANDIDATES,
    max_rounds: int = 10,
    num_layers: int | None = None,
    confidence: float | None = None,
    num_bootstrap: int = 1000,
    seed: int = 0,
) -> ThresholdChoice:
    r"""The fastest exit thresholds (fewest mean layers on validation) whose validation accuracy is at least
    `reference - max_drop + margin`, the reference being the better of `reference_accuracy` and the full model's
    validation accuracy (see `from_better_reference`).

    Args:
        val_logits (`torch.Tensor` of shape `(num_rows, num_exits, num_labels)`): every exit's logits on a
            validation split, from [`~hf_notlike.collect_exit_logits`].
        val_labels (`torch.Tensor` of shape `(num_rows,)`): gold class indices.
        exit_layers (`list[int]`): the (1-based) layer of each exit (`model.config.exit_layers`).
        temperatures (`list[float]`): one temperature per exit (`model.config.temperatures`, after calibration).
        reference_accuracy (`float`, *optional*): the accuracy the budget is measured from, as a fraction (e.g. a
            plain fine-tuned classifier's validation accuracy); defaults to the full model's (the last exit's).
        max_drop (`float`, *optional*, defaults to 0.01): the accuracy that may be lost, as a fraction (0.01 = one
            point).
        margin (`float`, *optional*, defaults to 0.0): a safety margin: ask for this much more validation accuracy
            than the budget allows, since thresholds chosen on validation tend to lose some accuracy on test
            (0.005-0.01 is typical).
        from_better_reference (`bool`, *optional*, defaults to `True`): with `reference_accuracy` given, measure
            the budget from the better of it and the full model's validation accuracy, so that the exits stay within
            `max_drop` of both. When the early-exit model's full depth happens to beat the reference on validation,
            that gap is mostly split noise; spending it on early exits over-promises on test. On Rotten Tomatoes
            (MiniLM-L6, exits anchored to the classifier, three seeds) the threshold chosen within 1 point of the
            classifier on validation lost 2.35 points on test at 4.08x fewer layers when measured from the
            classifier alone, and 0.99 points at 3.23x when measured from the better of the two. `False` measures
            from `reference_accuracy` alone.
        per_exit (`bool`, *optional*, defaults to `True`): search one threshold per exit, starting from the best
            global one; `False` returns the best global threshold only.
        num_candidates (`int`, *optional*, defaults to 100): thresholds tried per exit (quantiles of that exit's
            confidences, plus 1.0); the global search tries the quantiles of all exits' confidences.
        max_rounds (`int`, *optional*, defaults to 10): passes of coordinate descent over the exits.
        num_layers (`int`, *optional*): layers of the full model; defaults to the last exit's layer.
        confidence (`float`, *optional*): instead of (or besides) a fixed margin, require the one-sided bootstrap
            lower bound of the validation accuracy at this level (e.g. 0.9) to meet the target: paired with the full
            model when it is the reference (the lower bound of the accuracy difference), else of the accuracy itself.
            The search asks for more accuracy until the bound holds; the extra is `info["bootstrap_extra"]`.
        num_bootstrap (`int`, *optional*, defaults to 1000), seed (`int`, *optional*, defaults to 0): the bootstrap
            resamples (of validation rows) and their seed.

    Returns:
        [`ThresholdChoice`]: the thresholds with their validation accuracy and mean layers, and the best global
        threshold's for comparison; `apply(model)` writes them into the model's config.

    Raises:
        `ValueError`, before any search, for logits and labels that do not fit together or the exits, budgets out of
        range, or when no threshold reaches the target: neither the full model nor a single threshold that lets
        rows leave at an exit more accurate than the last on this split (which happens on small splits; the search
        then starts from that threshold). The message gives both accuracies and the target.

    Example:

    ```python
    >>> import torch
    >>> from hf_notlike import choose_thresholds
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> labels = torch.randint(0, 2, (500,))
    >>> logits = torch.randn(500, 3, 2) + 3 * torch.nn.functional.one_hot(labels, 2)[:, None] * torch.tensor(
    ...     [0.5, 1.0, 2.0])[None, :, None]
    >>> choice = choose_thresholds(logits, labels, [2, 4, 6], [1.0, 1.0, 1.0], max_drop=0.01)
    >>> choice.mean_layers <= choice.global_mean_layers and choice.accuracy >= choice.target_accuracy
    True
    ```
    """
    val_logits, val_labels = _check_logits(val_logits, val_labels, exit_layers, temperatures)
    max_drop = _fraction(max_drop, "max_drop")
    margin = _fraction(margin, "margin")
    if reference_accuracy is not None:
        reference_accuracy = _fraction(reference_accuracy, "reference_accuracy", upper=1.0 + 1e-12)
    if not isinstance(from_better_reference, bool):
        raise HfNotlikeInputError(f"`from_better_reference` must be True or False, got {from_better_reference!r}.")
    if confidence is not None and (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                                   or not 0.5 <= confidence < 1):
        raise HfNotlikeInputError(f"`confidence` must lie in [0.5, 1) (e.g. 0.9), got {confidence!r}.")
    for value, name in ((num_candidates, "num_candidates"), (max_rounds, "max_rounds"), (num_bootstrap, "num_bootstrap")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HfNotlikeInputError(f"`{name}` must be a positive integer, got {value!r}.")
    temperatures = [float(t) for t in temperatures]
    exit_layers = [int(layer) for layer in exit_layers]
    num_exits = len(exit_layers)

    confidences = exit_confidences(val_logits, temperatures)
    correct = val_logits.argmax(-1) == val_labels[:, None]
    evaluate = _Evaluator(confidences, correct, exit_layers)
    full_accuracy = float(correct[:, -1].double().mean())
    reference = full_accuracy if reference_accuracy is None else reference_accuracy
    if from_better_reference:
        reference = max(reference, full_accuracy)
    # the bootstrap pairs the chosen exits with the full model when the budget is measured from it
    paired = reference == full_accuracy
    target = reference - max_drop + margin
    tolerance = 1e-12
    if full_accuracy < target - tolerance:
        # an intermediate exit can beat the last one on a split: a threshold letting rows leave there may still
        # reach the target, and the search starts from the best such one
        best_global = float(evaluate.global_scan(_global_candidates(confidences, num_candidates))[0].max())
        if best_global < target - tolerance:
            raise HfNotlikeInputError(
                f"No thresholds reach the target validation accuracy {target:.2%} (reference {reference:.2%} - "
                f"max_drop {max_drop:.2%} + margin {margin:.2%}): even the full model reaches only "
                f"{full_accuracy:.2%}, the best single threshold {best_global:.2%}. Allow a larger `max_drop`, a "
                "smaller `margin`, or a lower `reference_accuracy`."
            )

    search = dict(evaluate=evaluate, confidences=confidences, per_exit=per_exit, num_candidates=num_candidates,
                  max_rounds=max_rounds)
    thresholds, accuracy, layers, global_t, global_accuracy, global_layers, rounds = _search(target=target, **search)
    lower_bound, extra = None, 0.0
    if confidence is not None:
        # ask for more validation accuracy until the bootstrap lower bound (paired with the full model when it is the
        # reference) meets the budget; the full model (all thresholds 1.0) always ends the loop
        full_correct = correct[:, -1].double()
        for _ in range(50):
            chosen_correct = correct[evaluate.rows, evaluate.index(thresholds)].double()
            if paired:
                lower_bound = full_accuracy + _bootstrap_lower_bound(chosen_correct - full_correct, confidence,
                                                                     num_bootstrap, seed)
            else:
                lower_bound = _bootstrap_lower_bound(chosen_correct, confidence, num_bootstrap, seed)
            shortfall = target - lower_bound
            if shortfall <= tolerance or bool((thresholds[:-1] >= 1.0).all()):
                break
            extra += max(shortfall, 1.0 / len(full_correct))
            if target + extra >= full_accuracy:  # only the full model is left
                extra = full_accuracy - target
                thresholds = torch.ones(len(exit_layers), dtype=confidences.dtype)
                global_t, accuracy, layers = 1.0, *evaluate(thresholds)
                global_accuracy, global_layers = accuracy, layers
                continue
            thresholds, accuracy, layers, global_t, global_accuracy, global_layers, rounds = _search(
                target=target + extra, **search)
        if lower_bound < target - tolerance:
            raise HfNotlikeInputError(
                f"Even the full model's {confidence:.0%} bootstrap lower bound of accuracy ({lower_bound:.2%}) is "
                f"below the target {target:.2%}: allow a larger `max_drop`, a lower `reference_accuracy` or "
                "`confidence`, or use more validation rows."
            )

    chosen = [float(t) for t in thresholds.tolist()]
    if not per_exit:
        chosen = [float(global_t)] * (num_exits - 1) + [1.0]
    index = evaluate.index(torch.tensor(chosen, dtype=confidences.dtype))
    num_layers = num_layers or exit_layers[-1]
    return ThresholdChoice(
        thresholds=chosen,
        accuracy=accuracy,
        mean_layers=layers,
        ideal_speedup=num_layers / layers,
        exit_fractions=_fractions(index, num_exits),
        reference_accuracy=reference,
        target_accuracy=target,
        global_threshold=float(global_t),
        global_accuracy=global_accuracy,
        global_mean_layers=global_layers,
        exit_layers=exit_layers,
        per_exit=per_exit,
        info={"temperatures": temperatures, "num_layers": num_layers, "max_drop": max_drop, "margin": margin,
              "given_reference_accuracy": reference_accuracy, "from_better_reference": from_better_reference,
              "num_rows": int(val_logits.shape[0]), "full_accuracy": full_accuracy, "rounds": rounds,
              "confidence": confidence, "bootstrap_lower_bound": lower_bound, "bootstrap_extra": extra},
    )
