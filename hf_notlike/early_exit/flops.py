# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Compute as "Green AI" asks (Schwartz et al., CACM 2020): floating-point operations per example, counted with
`torch.utils.flop_counter.FlopCounterMode` while the real code runs (the early-exit loop at a threshold, the stock
classifier, a training step), never estimated from layer counts.

FLOPs follow PyTorch's counter: the matrix products, convolutions and attention kernels (2 FLOPs per
multiply-add); element-wise work (activations, layer norm, softmax over logits) is not counted, so the figures are
the dominant cost of a transformer, not every operation.

Example:

```python
>>> import torch
>>> from hf_notlike.early_exit.flops import count_flops
>>> layer = torch.nn.Linear(4, 3, bias=False)
>>> count_flops(layer, torch.ones(2, 4))
48
```
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..errors import HfNotlikeInputError

__all__ = ["count_flops", "flops_per_example", "frozen", "sweep_flops"]


def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """The FLOPs of one call `fn(*args, **kwargs)` (its result is discarded), counted by `FlopCounterMode`; runs
    under `torch.inference_mode` unless gradients are already on (count a training step with a function that calls
    `backward` itself)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def flops_per_example(forward: Callable[[dict], Any], batches: Iterable[dict]) -> float:
    """Total FLOPs of `forward(batch)` over `batches`, divided by the number of rows (the first dimension of each
    batch's `input_ids`). Run it at batch size 1 for per-example figures without padding."""
    total, rows = 0, 0
    with torch.inference_mode():
        for batch in batches:
            total += count_flops(forward, batch)
            rows += int(batch["input_ids"].shape[0])
    if rows == 0:
        raise HfNotlikeInputError("No rows to count FLOPs on.")
    return total / rows


def sweep_flops(
    model,
    batches: list[dict],
    thresholds: Iterable[float],
    others: dict[str, torch.nn.Module] | None = None,
) -> dict[Any, float]:
    """FLOPs per example of the early-exit `model` run by its real exit loop at each threshold
    (`model(**batch, exit_threshold=t)`), and of each of `others` (e.g. the stock classifier, keyed by its row name),
    over the same `batches` (batch size 1 recommended: each row exits on its own).

    Returns:
        `dict`: threshold (float) or name (str) -> FLOPs per example.

    Example:

    ```python
    >>> flops = sweep_flops(model, batches, [1.0, 0.9], others={"stock": stock})  # doctest: +SKIP
    >>> flops[0.9] <= flops[1.0]  # doctest: +SKIP
    True
    ```
    """
    result: dict[Any, float] = {}
    with frozen(model):
        for threshold in thresholds:
            result[float(threshold)] = flops_per_example(
                lambda inputs, t=threshold: model(**inputs, exit_threshold=t, return_dict=True), batches
            )
    for name, other in (others or {}).items():
        other.eval()
        with frozen(other):
            result[name] = flops_per_example(lambda inputs, m=other: m(**inputs), batches)
    return result


@contextmanager
def frozen(module: torch.nn.Module) -> Iterator[None]:
    """`requires_grad=False` on every parameter of `module` for the duration, restored afterwards. The FLOP counter's
    module tracker hooks the gradients of module inputs that require them, which fails in inference mode when a
    model passes a parameter itself to a submodule (DeBERTa-v2's relative position embeddings)."""
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    try:
        for parameter, _ in flags:
            parameter.requires_grad_(False)
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
