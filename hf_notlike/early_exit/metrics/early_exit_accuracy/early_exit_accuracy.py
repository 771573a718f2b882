# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`early_exit_accuracy`: accuracy and mean layers used of an early-exit classifier at its exit threshold (an
`evaluate` metric module).

Shipped inside `hf_notlike` so that it loads offline:

```python
>>> import evaluate
>>> from hf_notlike.early_exit.evaluation import EARLY_EXIT_ACCURACY
>>> metric = evaluate.load(EARLY_EXIT_ACCURACY)
>>> metric.compute(predictions=[0, 1], references=[1, 1], exit_layer=[2, 6], num_layers=6)
{'accuracy': 0.5, 'mean_layers': 4.0, 'ideal_speedup': 1.5}
```

This file imports only `evaluate`, `datasets` and `numpy` (evaluate copies it into its module cache).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """Accuracy and cost of an early-exit classifier at one exit threshold (Schwartz et al., ACL 2020):
each row is predicted by the exit it left at. `mean_layers` is the mean of the layer each row left after, and, given
the model's depth, `ideal_speedup` is `num_layers / mean_layers` (the layer ratio, not measured time). Rows whose
reference is -100 (the ignore index of the loss) are left out."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[int]`): the predicted class of every row (at the exit it left at).
    references (`list[int]`): the gold class of every row.
    exit_layer (`list[int]`): the (1-based) layer after which every row left.
    num_layers (`int`, *optional*): the model's number of layers; adds `ideal_speedup`.
Returns:
    `accuracy` (`float`), `mean_layers` (`float`) and, with `num_layers`, `ideal_speedup` (`float`).
"""

_CITATION = """@inproceedings{schwartz-etal-2020-right,
  title = {The Right Tool for the Job: Matching Model and Instance Complexities},
  author = {Schwartz, Roy and Stanovsky, Gabriel and Swayamdipta, Swabha and Dodge, Jesse and Smith, Noah A.},
  booktitle = {Proceedings of ACL}, year = {2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class EarlyExitAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                    "exit_layer": datasets.Value("int64"),
                }
            ),
        )

    def _compute(self, predictions, references, exit_layer, num_layers=None):
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        exit_layer = np.asarray(exit_layer, dtype=np.int64)
        keep = references != -100
        if not keep.any():
            raise ValueError("Every reference is -100 (ignored): there is nothing to score.")
        if (exit_layer[keep] < 1).any():
            raise ValueError(f"`exit_layer` must hold 1-based layers (>= 1), got {int(exit_layer[keep].min())}.")
        mean_layers = float(exit_layer[keep].mean())
        result = {"accuracy": float((predictions[keep] == references[keep]).mean()), "mean_layers": mean_layers}
        if num_layers is not None:
            result["ideal_speedup"] = float(num_layers) / mean_layers
        return result
