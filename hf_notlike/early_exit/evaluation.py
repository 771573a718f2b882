# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Per-exit evaluation of early-exit classifiers inside the `Trainer` loop.

`Trainer.evaluate()` gives the metrics of `compute_metrics`. For an early-exit model (in eval mode, with labels) the
model returns, besides the loss, `logits` (of the exit each row took at the configured `exit_threshold`),
`exit_layer` and `exit_logits` (every exit, every row), and the `Trainer` hands these three to `compute_metrics` as
`eval_prediction.predictions`. [`EarlyExitMetrics`] turns them into:

- `accuracy_exit_<L>`: the accuracy of the exit after layer `L`, every row counted at every exit;
- `accuracy` and `mean_layers` (and `ideal_speedup`, the layer ratio) at the model's configured threshold;
- optionally `accuracy_at_<t>` / `mean_layers_at_<t>` for other thresholds `t`, computed exactly from the same
  `exit_logits` with the model's (calibrated) temperatures, without another pass.

The numbers come from two `evaluate` metric modules shipped inside this package (`EXIT_ACCURACY`,
`EARLY_EXIT_ACCURACY`: folders under `hf_notlike/early_exit/metrics/`), so `evaluate.load` reads them from disk,
offline. They complement `eval_loss`, which is the loss the model returns in eval mode: the last exit's
cross-entropy, comparable with a stock classifier's (the summed training objective over all exits is returned
beside it as `training_loss` and is not what the Trainer reports; see `EarlyExitSequenceClassifierOutput`). The
metrics do not read any loss: they score predictions, exit by exit.

Example:

```python
>>> from transformers import Trainer
>>> from hf_notlike import EarlyExitMetrics
>>> trainer = Trainer(model=model, args=args, train_dataset=train, eval_dataset=dev,  # doctest: +SKIP
...                   compute_metrics=EarlyExitMetrics(model, thresholds=[0.8, 0.9]))
>>> trainer.evaluate()  # doctest: +SKIP
{'eval_loss': ..., 'eval_accuracy_exit_1': ..., ..., 'eval_accuracy': ..., 'eval_mean_layers': ..., ...}
```

Composing with other metrics: [`unpack_eval_prediction`] gives the arrays, [`EarlyExitMetrics`] the early-exit part.

```python
>>> import evaluate
>>> from hf_notlike.early_exit.evaluation import unpack_eval_prediction
>>> f1 = evaluate.load("f1")  # doctest: +SKIP
>>> early_exit_metrics = EarlyExitMetrics(model)  # doctest: +SKIP
>>> def compute_metrics(eval_prediction):
...     outputs = unpack_eval_prediction(eval_prediction)
...     f1_score = f1.compute(predictions=outputs.predictions, references=outputs.labels)  # doctest: +SKIP
...     return {**early_exit_metrics(eval_prediction), **f1_score}
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from .modeling import IGNORE_LABEL, select_exits

__all__ = [
    "EARLY_EXIT_ACCURACY",
    "EXIT_ACCURACY",
    "EarlyExitMetrics",
    "EarlyExitPredictions",
    "unpack_eval_prediction",
]

_METRICS = Path(__file__).resolve().parent / "metrics"
EXIT_ACCURACY = str(_METRICS / "exit_accuracy")
"""Path of the `exit_accuracy` metric module (per-exit accuracy); `evaluate.load(EXIT_ACCURACY)`."""
EARLY_EXIT_ACCURACY = str(_METRICS / "early_exit_accuracy")
"""Path of the `early_exit_accuracy` metric module (accuracy and mean layers at a threshold)."""

_DROPPED = (
    "`compute_metrics` received only the logits: the Trainer dropped `exit_layer` and `exit_logits`. They are "
    "returned when the eval set has labels and must not be listed in `model.config.keys_to_ignore_at_inference` nor "
    "in `ignore_keys` / `ignore_keys_for_eval`. For a model saved with an older hf_notlike, set "
    "`model.config.keys_to_ignore_at_inference = ['hidden_states', 'attentions']`."
)


@dataclass
class EarlyExitPredictions:
    """The arrays of an early-exit model's evaluation, as numpy arrays over the rows with a label (`!= -100`).

    Args:
        logits (`np.ndarray` of shape `(num_rows, num_labels)`): logits of the exit each row took.
        exit_layer (`np.ndarray` of shape `(num_rows,)`): the 1-based layer each row left after.
        exit_logits (`np.ndarray` of shape `(num_rows, num_exits, num_labels)`): logits of every exit.
        labels (`np.ndarray` of shape `(num_rows,)`): gold class indices.
    """

    logits: np.ndarray
    exit_layer: np.ndarray
    exit_logits: np.ndarray
    labels: np.ndarray

    @property
    def predictions(self) -> np.ndarray:
        """The predicted class of every row at the configured threshold."""
        return self.logits.argmax(-1)

    @property
    def exit_predictions(self) -> np.ndarray:
        """The predicted class of every row at every exit, shape `(num_rows, num_exits)`."""
        return self.exit_logits.argmax(-1)


def _numeric_array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().float().numpy() if value.is_floating_point() else value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as error:
        raise HfNotlikeTypeError(f"`{name}` must be a numeric array, got {type(value).__name__} ({error}).") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise HfNotlikeTypeError(f"`{name}` must be a numeric array, got an array of {array.dtype}.")
    return array


def unpack_eval_prediction(eval_prediction, config=None) -> EarlyExitPredictions:
    """Checks and unpacks what the `Trainer` hands `compute_metrics` for an early-exit model.

    Args:
        eval_prediction (`transformers.EvalPrediction` or `tuple`): `predictions` = `(logits, exit_layer,
            exit_logits, ...)` as the model returns them with labels in eval mode, and `label_ids`.
        config (*optional*): the model's config; when given, the number of exits, their layers and the number of
            labels are checked against it.

    Returns:
        [`EarlyExitPredictions`] over the rows whose label is not -100.

    Raises:
        `TypeError` for non-numeric arrays; `ValueError` when the Trainer dropped `exit_layer` / `exit_logits`, when
        there are no labels, when shapes disagree, for non-finite logits, or labels outside `[0, num_labels)`.
    """
    if hasattr(eval_prediction, "predictions") and hasattr(eval_prediction, "label_ids"):
        predictions, label_ids = eval_prediction.predictions, eval_prediction.label_ids
    elif isinstance(eval_prediction, (tuple, list)) and len(eval_prediction) == 2:
        predictions, label_ids = eval_prediction
    else:
        raise HfNotlikeTypeError(
            f"Expected a `transformers.EvalPrediction` (or a `(predictions, label_ids)` pair), got "
            f"{type(eval_prediction).__name__}."
        )
    if label_ids is None:
        raise HfNotlikeInputError("`label_ids` is None: early-exit metrics need gold labels; give the eval set a label column.")
    if not isinstance(predictions, (tuple, list)):
        raise HfNotlikeInputError(_DROPPED)
    if len(predictions) < 3:
        raise HfNotlikeInputError(
            f"`predictions` holds {len(predictions)} arrays; expected (logits, exit_layer, exit_logits). " + _DROPPED
        )
    logits = _numeric_array(predictions[0], "logits")
    exit_layer = _numeric_array(predictions[1], "exit_layer")
    exit_logits = _numeric_array(predictions[2], "exit_logits")
    labels = _numeric_array(label_ids, "label_ids")

    if logits.ndim != 2 or exit_layer.ndim != 1 or exit_logits.ndim != 3 or labels.ndim != 1:
        raise HfNotlikeInputError(
            "Expected logits (num_rows, num_labels), exit_layer (num_rows,), exit_logits (num_rows, num_exits, "
            f"num_labels) and label_ids (num_rows,); got shapes {logits.shape}, {exit_layer.shape}, "
            f"{exit_logits.shape} and {labels.shape}."
        )
    n, num_labels = logits.shape
    if exit_layer.shape[0] != n or labels.shape[0] != n or exit_logits.shape[0] != n:
        raise HfNotlikeInputError(
            f"The arrays disagree on the number of rows: logits {n}, exit_layer {exit_layer.shape[0]}, exit_logits "
            f"{exit_logits.shape[0]}, label_ids {labels.shape[0]}."
        )
    if exit_logits.shape[2] != num_labels or num_labels < 2:
        raise HfNotlikeInputError(
            f"logits have {num_labels} classes and exit_logits {exit_logits.shape[2]}: early-exit metrics need one "
            "classification head (num_labels >= 2) shared by every exit."
        )
    if exit_logits.shape[1] == 0:
        raise HfNotlikeInputError("`exit_logits` holds no exit.")
    if config is not None:
        if exit_logits.shape[1] != len(config.exit_layers):
            raise HfNotlikeInputError(
                f"`exit_logits` holds {exit_logits.shape[1]} exits but the model has {len(config.exit_layers)} "
                f"(after layers {list(config.exit_layers)}): were these predictions made by another model?"
            )
        if num_labels != config.num_labels:
            raise HfNotlikeInputError(f"logits have {num_labels} classes but the model has num_labels={config.num_labels}.")
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.mod(labels, 1) == 0):
        raise HfNotlikeInputError("`label_ids` must be integer class indices (this is a classification metric).")
    labels = labels.astype(np.int64)
    keep = labels != IGNORE_LABEL
    if not keep.any():
        raise HfNotlikeInputError("Every label is -100 (ignored) or there are no rows: there is nothing to score.")
    if (labels[keep] < 0).any() or (labels[keep] >= num_labels).any():
        raise HfNotlikeInputError(
            f"`label_ids` must be class indices in [0, {num_labels - 1}] (or -100 to ignore a row), found values in "
            f"[{int(labels[keep].min())}, {int(labels[keep].max())}]."
        )
    logits, exit_layer, exit_logits, labels = logits[keep], exit_layer[keep], exit_logits[keep], labels[keep]
    if not (np.isfinite(logits).all() and np.isfinite(exit_logits).all()):
        raise HfNotlikeInputError("The logits contain NaN or inf: the model diverged or overflowed (e.g. in fp16).")
    if not np.all(np.mod(exit_layer, 1) == 0):
        raise HfNotlikeInputError("`exit_layer` must hold integer layers.")
    exit_layer = exit_layer.astype(np.int64)
    if config is not None and not np.isin(exit_layer, list(config.exit_layers)).all():
        raise HfNotlikeInputError(
            f"`exit_layer` holds layers {sorted(set(exit_layer.tolist()))}, not all among the model's exit layers "
            f"{list(config.exit_layers)}."
        )
    return EarlyExitPredictions(logits=logits, exit_layer=exit_layer, exit_logits=exit_logits, labels=labels)


def _threshold_key(threshold: float) -> str:
    return f"{threshold:g}"


class EarlyExitMetrics:
    """A ready `compute_metrics` for `Trainer` on an early-exit classifier.

    It reports each exit's accuracy (`accuracy_exit_<layer>`), and at the model's configured threshold
    (`config.exit_threshold`) the accuracy, the mean number of layers used (`mean_layers`) and the layer ratio
    (`ideal_speedup`); with `thresholds`, also `accuracy_at_<t>` and `mean_layers_at_<t>` for each, computed from the
    same exit logits with the model's current temperatures (so it follows [`calibrate_temperatures`]). The Trainer
    prefixes every key with `eval_`.

    Args:
        model (`PreTrainedModel` or its config): the early-exit model (or its config) being evaluated; its config is
            read at each call, so a later calibration or threshold change is picked up.
        thresholds (`list[float]`, *optional*): extra thresholds in `(0, 1]` to report.

    Raises:
        `TypeError` when `model` is not an early-exit model or config; `ValueError` for thresholds outside
        `(0, 1]`; both when built, before any evaluation.

    Example:

    ```python
    >>> import numpy as np
    >>> from transformers import EvalPrediction
    >>> from hf_notlike import EarlyExitBertConfig, EarlyExitMetrics
    >>> config = EarlyExitBertConfig(num_hidden_layers=2, num_labels=2, exit_threshold=0.9)
    >>> metrics = EarlyExitMetrics(config)
    >>> exit_logits = np.array([[[3.0, 0.0], [2.0, 0.0]], [[0.0, 0.1], [0.0, 2.0]]])  # 2 rows, 2 exits, 2 classes
    >>> logits, exit_layer = np.array([[3.0, 0.0], [0.0, 2.0]]), np.array([1, 2])
    >>> metrics(EvalPrediction(predictions=(logits, exit_layer, exit_logits), label_ids=np.array([0, 1])))
    {'accuracy_exit_1': 1.0, 'accuracy_exit_2': 1.0, 'accuracy': 1.0, 'mean_layers': 1.5, 'ideal_speedup': 1.3333333333333333}
    ```
    """

    def __init__(self, model, thresholds: Sequence[float] | None = None):
        from .tradeoff import check_thresholds

        config = getattr(model, "config", model)
        if not all(hasattr(config, name) for name in ("exit_layers", "temperatures", "num_hidden_layers")):
            raise HfNotlikeTypeError(
                f"`EarlyExitMetrics` needs an early-exit model or its config (with `exit_layers` and "
                f"`temperatures`), got {type(model).__name__}. For a stock classifier, use a plain accuracy metric."
            )
        if config.num_labels < 2:
            raise HfNotlikeInputError("Early-exit metrics need a classification head (num_labels >= 2), not regression.")
        self.config = config
        self.thresholds = [] if thresholds is None else check_thresholds(thresholds)
        import evaluate

        self.exit_accuracy = evaluate.load(EXIT_ACCURACY, keep_in_memory=True)
        self.early_exit_accuracy = evaluate.load(EARLY_EXIT_ACCURACY, keep_in_memory=True)

    def __call__(self, eval_prediction) -> dict[str, float]:
        """Computes the metrics from a `transformers.EvalPrediction`; see [`unpack_eval_prediction`] for what is
        checked."""
        outputs = unpack_eval_prediction(eval_prediction, self.config)
        layers = list(self.config.exit_layers)
        metrics = self.exit_accuracy.compute(
            predictions=outputs.exit_predictions.tolist(), references=outputs.labels.tolist(), exit_layers=layers
        )
        metrics.update(
            self.early_exit_accuracy.compute(
                predictions=outputs.predictions.tolist(), references=outputs.labels.tolist(),
                exit_layer=outputs.exit_layer.tolist(), num_layers=self.config.num_hidden_layers,
            )
        )
        if self.thresholds:
            exit_logits = torch.from_numpy(np.ascontiguousarray(outputs.exit_logits, dtype=np.float32))
            rows = torch.arange(exit_logits.shape[0])
            for threshold in self.thresholds:
                index = select_exits(exit_logits, self.config.temperatures, threshold)
                at = self.early_exit_accuracy.compute(
                    predictions=exit_logits[rows, index].argmax(-1).tolist(), references=outputs.labels.tolist(),
                    exit_layer=[layers[i] for i in index.tolist()],
                )
                key = _threshold_key(threshold)
                metrics[f"accuracy_at_{key}"] = at["accuracy"]
                metrics[f"mean_layers_at_{key}"] = at["mean_layers"]
        return {name: float(value) for name, value in metrics.items()}
