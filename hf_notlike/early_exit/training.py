# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The training recipe of early-exit models, as library code: the exits learn at a higher rate than the backbone.

Freshly initialised exits on a pretrained backbone stay near the class prior for hundreds of steps at the backbone's
fine-tuning rate; at 20-40x that rate they become useful within the same budget (measured in
`examples/train_early_exit.py`). The multiplier lives in the model's config
(`config.exit_learning_rate_multiplier`, default 30), so one line gives the right optimizer:

```python
>>> trainer = EarlyExitTrainer(model=model, args=args, train_dataset=train_set)  # doctest: +SKIP
>>> # or, with a stock Trainer:
>>> trainer = Trainer(model=model, args=args, train_dataset=train_set,  # doctest: +SKIP
...                   optimizers=early_exit_optimizer(model, args))
```

Anchored joint training starts from a fine-tuned classifier instead: its backbone is unfrozen but trained slowly
(`config.backbone_learning_rate_multiplier`), and every exit, the classifier's own head included, is also distilled
from a frozen copy of that classifier (`config.anchor_weight`, `config.anchor_temperature`), held by the model outside
its state dict so that it is never saved:

```python
>>> model = early_exit_from_classifier("path/to/classifier", freeze_backbone=False, anchor_weight=0.5,  # doctest: +SKIP
...                                    anchor_temperature=2.0, backbone_learning_rate_multiplier=0.1)
>>> EarlyExitTrainer(model=model.train(), args=args, train_dataset=train_set).train()  # doctest: +SKIP
```
"""

from __future__ import annotations

import warnings

import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainingArguments
from transformers.trainer_pt_utils import get_parameter_names

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from .calibration import MIN_CHECK_ROWS, CalibrationWarning, check_exits_learned
from .modeling import IGNORE_LABEL, EarlyExitModelMixin, InputLimits, check_input_values

__all__ = ["EarlyExitTrainer", "early_exit_optimizer", "exit_parameter_groups"]


class _CheckedCollator:
    """A data collator whose batches get the model's input value checks on the CPU, before they move to the device
    (module level and holding only the ranges, so that dataloader workers can pickle it)."""

    def __init__(self, collator, limits: InputLimits):
        self.collator, self.limits = collator, limits

    def __call__(self, features):
        batch = self.collator(features)
        if hasattr(batch, "get"):
            inputs = {k: v for k, v in batch.items() if k != "labels" and isinstance(v, torch.Tensor)}
            labels = batch.get("labels")
            check_input_values(inputs, labels if isinstance(labels, torch.Tensor) else None, self.limits)
        return batch


_NO_DECAY_NAMES = [r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)"]


def _check_model(model) -> None:
    if not isinstance(model, EarlyExitModelMixin):
        raise HfNotlikeTypeError(
            f"Expected an hf_notlike early-exit model (e.g. EarlyExitBertForSequenceClassification), got "
            f"{type(model).__name__}; for other models use the stock Trainer optimizer."
        )


def _check_positive(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise HfNotlikeInputError(f"`{name}` must be > 0, got {value!r}.")


def exit_parameter_groups(
    model: EarlyExitModelMixin,
    learning_rate: float,
    weight_decay: float = 0.0,
    multiplier: float | None = None,
    backbone_multiplier: float | None = None,
) -> list[dict]:
    r"""
    Optimizer parameter groups: the new exits (and the pooler the model adds to backbones without one) at
    `learning_rate * multiplier`, the backbone at `learning_rate * backbone_multiplier`; after `from_classifier`,
    the classifier's own head (the last exit, and its pooler) counts as backbone: it is trained already. Weight decay
    on weights, not on biases and norms (as the Trainer does). Frozen parameters (`requires_grad=False`, e.g. after
    `from_classifier`) are left out.

    Args:
        model ([`EarlyExitModelMixin`]): an early-exit model.
        learning_rate (`float`): the base learning rate.
        weight_decay (`float`, *optional*, defaults to 0.0): weight decay of the weight matrices.
        multiplier (`float`, *optional*): the exits' rate relative to `learning_rate`; defaults to
            `model.config.exit_learning_rate_multiplier`.
        backbone_multiplier (`float`, *optional*): the backbone's rate relative to `learning_rate`; defaults to
            `model.config.backbone_learning_rate_multiplier` (1.0 unless set). Layer `l` (1 = the lowest) gets it
            times `model.config.layer_learning_rate_decay ** (l - 1)`.

    Returns:
        `list[dict]`: non-empty groups with `params`, `lr` and `weight_decay`.
    """
    _check_model(model)
    config = model.config
    _check_positive(learning_rate, "learning_rate")
    multiplier = config.exit_learning_rate_multiplier if multiplier is None else multiplier
    _check_positive(multiplier, "multiplier")
    backbone_multiplier = config.backbone_learning_rate_multiplier if backbone_multiplier is None else backbone_multiplier
    _check_positive(backbone_multiplier, "backbone_multiplier")
    decay = set(get_parameter_names(model, [torch.nn.LayerNorm], _NO_DECAY_NAMES))
    head_prefixes = ("exits.",) + (("pooler.",) if model.adapter.pooler_activation(config) is not None else ())
    trained_head = (f"exits.{config.num_exits - 1}.", "pooler.") if config.head_from_classifier else ()
    layer_decay = config.layer_learning_rate_decay
    depth = _parameter_depths(model) if layer_decay != 1 else {}  # one backbone rate: no group per layer
    top = config.num_hidden_layers - 1 if layer_decay != 1 else 0
    groups: dict[tuple[bool, bool, int], list] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            head = name.startswith(head_prefixes) and not name.startswith(trained_head)
            layer = 0 if head else depth.get(id(parameter), top)
            groups.setdefault((head, name in decay, layer), []).append(parameter)
    return [
        {"params": params, "lr": learning_rate * (multiplier if head else backbone_multiplier * layer_decay**layer),
         "weight_decay": weight_decay if decayed else 0.0}
        for (head, decayed, layer), params in sorted(groups.items())
    ]


def _parameter_depths(model: EarlyExitModelMixin) -> dict[int, int]:
    """The 0-based layer of each backbone parameter inside a transformer layer (by `id`), 0 for the embeddings;
    parameters missing from the map sit above the layers."""
    backbone = model.backbone
    depths = {id(p): 0 for p in getattr(backbone, "embeddings", torch.nn.Module()).parameters()}
    for index, layer in enumerate(model.adapter.layers(backbone)):
        depths.update({id(p): index for p in layer.parameters()})
    return depths


def early_exit_optimizer(model: EarlyExitModelMixin, args: TrainingArguments) -> tuple[torch.optim.Optimizer, None]:
    r"""
    The optimizer of `args.optim` (AdamW by default, with `args`' betas and epsilon) over
    [`exit_parameter_groups`]`(model, args.learning_rate, args.weight_decay)` (the exits at
    `config.exit_learning_rate_multiplier`, the backbone at `config.backbone_learning_rate_multiplier` times
    `args.learning_rate`), as the `optimizers` pair of a stock
    `Trainer` (the Trainer still builds the learning-rate schedule, which scales every group alike).

    Args:
        model ([`EarlyExitModelMixin`]): the early-exit model to train.
        args ([`~transformers.TrainingArguments`]): the Trainer's arguments.

    Returns:
        `tuple[torch.optim.Optimizer, None]`: pass it as `Trainer(..., optimizers=early_exit_optimizer(model, args))`.

    Example:

    ```python
    >>> from transformers import Trainer
    >>> from hf_notlike import early_exit_optimizer
    >>> trainer = Trainer(model=model, args=args, train_dataset=train_set,  # doctest: +SKIP
    ...                   optimizers=early_exit_optimizer(model, args))
    ```
    """
    if not isinstance(args, TrainingArguments):
        raise HfNotlikeTypeError(f"`args` must be transformers.TrainingArguments, got {type(args).__name__}.")
    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    optimizer_kwargs = {key: value for key, value in optimizer_kwargs.items() if key != "lr"}
    groups = exit_parameter_groups(model, args.learning_rate, args.weight_decay)
    return optimizer_cls(groups, lr=args.learning_rate, **optimizer_kwargs), None


class EarlyExitTrainer(Trainer):
    r"""
    A `Trainer` whose default optimizer is [`early_exit_optimizer`]: the exits learn at
    `model.config.exit_learning_rate_multiplier` times `args.learning_rate`. Everything else is the stock Trainer
    (an optimizer passed in `optimizers=` still wins).

    After `train()`, the model's `forward` is its own again: the stock Trainer leaves it wrapped in autocast after
    mixed-precision training (`bf16=True`, `fp16=True`), so temperatures, thresholds and timings taken in memory
    would describe a half-precision model while the saved one runs in float32. Then one no-grad pass over at most
    `check_exits_rows` rows (of `eval_dataset`, else of `train_dataset`) checks that every exit learned
    ([`~hf_notlike.early_exit.calibration.check_exits_learned`]) and warns
    ([`~hf_notlike.early_exit.calibration.CalibrationWarning`]) naming each exit that sits at the class prior and
    the fix. It runs once, after the last step (nothing is read back during training); in a multi-process run
    (`accelerate launch`, `torchrun`) on the main process only, which reads those rows itself, so the other processes
    never wait for it.

    Args:
        check_exits (`bool`, *optional*, defaults to `True`): run that check after training.
        check_exits_rows (`int`, *optional*, defaults to 256): rows it reads (spread over the dataset).
        *args, **kwargs: those of `transformers.Trainer`.

    Example:

    ```python
    >>> from hf_notlike import EarlyExitTrainer
    >>> trainer = EarlyExitTrainer(model=model, args=args, train_dataset=train_set)  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
    ```
    """

    def __init__(self, *args, check_exits: bool = True, check_exits_rows: int = 256, **kwargs):
        if not isinstance(check_exits, bool):
            raise HfNotlikeTypeError(f"`check_exits` must be True or False, got {check_exits!r}.")
        if isinstance(check_exits_rows, bool) or not isinstance(check_exits_rows, int) or check_exits_rows < 1:
            raise HfNotlikeInputError(f"`check_exits_rows` must be a positive integer, got {check_exits_rows!r}.")
        super().__init__(*args, **kwargs)
        self.check_exits = check_exits
        self.check_exits_rows = check_exits_rows

    def train(self, *args, **kwargs):
        # With `bf16=True` / `fp16=True` the stock Trainer leaves the model's `forward` wrapped in autocast after
        # training; calibration, threshold choice and timing must see the model that is saved and reloaded, so the
        # forward the model had before is put back.
        model, missing = self.model, object()
        forward = model.__dict__.get("forward", missing)
        output = super().train(*args, **kwargs)
        if model.__dict__.get("forward", missing) is not forward:
            if forward is missing:
                del model.forward
            else:
                model.forward = forward
        if self.check_exits and self.is_world_process_zero():
            for message in self.exits_not_learned():
                warnings.warn(message, CalibrationWarning, stacklevel=2)
        return output

    def get_train_dataloader(self):
        """The stock train dataloader, whose batches are checked on the CPU (token ids, token types, positions and
        labels in range, a 0/1 `attention_mask` without left padding) before they move to the device, when
        `model.config.check_inputs` is `"auto"` or `"cpu"`: the model's `forward` then skips those checks on
        accelerator tensors in training mode, so training makes no device synchronisation for them."""
        model = self.model
        if not isinstance(model, EarlyExitModelMixin) or model.config.check_inputs not in ("auto", "cpu"):
            return super().get_train_dataloader()
        collator = self.data_collator
        self.data_collator = _CheckedCollator(collator, model._input_limits())
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = collator

    @torch.no_grad()
    def exits_not_learned(self, dataset=None, max_rows: int | None = None) -> list[str]:
        """The [`~hf_notlike.early_exit.calibration.check_exits_learned`] messages of the model on (a spread of at
        most `max_rows` rows of) `dataset`, default the eval dataset, else the train dataset. Empty when every exit
        learned, or when the rows cannot tell (no labelled map-style dataset, fewer than `MIN_CHECK_ROWS` rows, a
        single class). In a multi-process run it reads every row on the process that calls it, with no collective
        call, so it can run on the main process alone (`if trainer.is_world_process_zero(): ...`)."""
        max_rows = self.check_exits_rows if max_rows is None else max_rows
        dataset = dataset if dataset is not None else (
            self.eval_dataset if self.eval_dataset is not None else self.train_dataset
        )
        model = self.model
        if (dataset is None or isinstance(dataset, dict) or not hasattr(dataset, "__len__") or len(dataset) == 0
                or not isinstance(model, EarlyExitModelMixin)):
            return []
        if len(dataset) > max_rows and hasattr(dataset, "select"):
            step = len(dataset) / max_rows
            dataset = dataset.select([int(i * step) for i in range(max_rows)])
        was_training = model.training
        model.eval()
        logits, labels = [], []
        try:
            for batch in self._check_dataloader(dataset):
                batch = self._prepare_inputs(batch)
                gold = batch.pop("labels", None)
                if gold is None:
                    gold = batch.pop("label", None)
                if gold is None or gold.ndim != 1:
                    return []  # unlabelled, or not single-label classification
                output = model(**batch, output_all_exits=True, return_dict=True)
                logits.append(output.exit_logits.float().cpu())
                labels.append(gold.long().cpu())
        finally:
            model.train(was_training)
        labels = torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long)
        labelled = labels != IGNORE_LABEL  # unlabelled rows (distillation on unlabelled text) tell nothing here
        labels = labels[labelled]
        if len(labels) < MIN_CHECK_ROWS or len(labels.unique()) < 2:
            return []  # the rows cannot tell
        return check_exits_learned(torch.cat(logits)[labelled], labels, model.config.exit_layers, model.config)

    def _check_dataloader(self, dataset) -> DataLoader:
        """The eval dataloader of the exit check. Several processes: a loader that accelerate has not prepared, so
        that the calling process reads every row (a prepared one would give it only its shard)."""
        if self.args.world_size == 1:
            return self.get_eval_dataloader(dataset)
        import datasets

        collator = self.data_collator
        if isinstance(dataset, datasets.Dataset):
            dataset = self._remove_unused_columns(dataset, description="evaluation")
        else:
            collator = self._get_collator_with_removed_columns(collator, description="evaluation")
        return DataLoader(dataset, batch_size=self.args.eval_batch_size, collate_fn=collator)

    def create_optimizer(self, model=None) -> torch.optim.Optimizer:
        if self.optimizer is None:
            self.optimizer = early_exit_optimizer(self.model if model is None else model, self.args)[0]
        return self.optimizer
