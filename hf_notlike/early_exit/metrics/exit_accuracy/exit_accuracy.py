# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`exit_accuracy`: the accuracy of every exit of an early-exit classifier (an `evaluate` metric module).

Shipped inside `hf_notlike` so that it loads offline:

```python
>>> import evaluate
>>> from hf_notlike.early_exit.evaluation import EXIT_ACCURACY
>>> metric = evaluate.load(EXIT_ACCURACY)
>>> metric.compute(predictions=[[0, 1], [1, 1]], references=[1, 1], exit_layers=[3, 6])
{'accuracy_exit_3': 0.5, 'accuracy_exit_6': 1.0}
```

This file imports only `evaluate`, `datasets` and `numpy` (evaluate copies it into its module cache).
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = """The accuracy of each exit of an early-exit classifier (Schwartz et al., ACL 2020): the share of rows
whose prediction at that exit equals the reference, every row counted at every exit (as if all rows ran the full
model). Rows whose reference is -100 (the ignore index of the loss) are left out."""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list[list[int]]`): for every row, the predicted class at every exit (`exit_logits.argmax(-1)`).
    references (`list[int]`): the gold class of every row.
    exit_layers (`list[int]`, *optional*): the (1-based) layer of each exit; names the results. Defaults to
        1, 2, ... (the exit's position).
Returns:
    `accuracy_exit_<layer>` (`float`) for each exit.
"""

_CITATION = """@inproceedings{schwartz-etal-2020-right,
  title = {The Right Tool for the Job: Matching Model and Instance Complexities},
  author = {Schwartz, Roy and Stanovsky, Gabriel and Swayamdipta, Swabha and Dodge, Jesse and Smith, Noah A.},
  booktitle = {Proceedings of ACL}, year = {2020}
}"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class ExitAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Sequence(datasets.Value("int64")), "references": datasets.Value("int64")}
            ),
        )

    def _compute(self, predictions, references, exit_layers=None):
        predictions = [list(row) for row in predictions]
        widths = {len(row) for row in predictions}
        if len(widths) > 1:
            raise ValueError(f"Every row needs one prediction per exit; rows hold {sorted(widths)} predictions.")
        num_exits = widths.pop() if widths else 0
        if num_exits == 0:
            raise ValueError("`predictions` is empty (or its rows are): give one prediction per exit for each row.")
        layers = list(range(1, num_exits + 1)) if exit_layers is None else [int(layer) for layer in exit_layers]
        if len(layers) != num_exits:
            raise ValueError(f"{len(layers)} `exit_layers` given for {num_exits} exits (predictions per row).")
        predictions = np.asarray(predictions, dtype=np.int64)
        references = np.asarray(references, dtype=np.int64)
        keep = references != -100
        if not keep.any():
            raise ValueError("Every reference is -100 (ignored): there is nothing to score.")
        correct = predictions[keep] == references[keep, None]
        return {f"accuracy_exit_{layer}": float(correct[:, k].mean()) for k, layer in enumerate(layers)}
