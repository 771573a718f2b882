# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Configurations of the early-exit models (Schwartz et al., ACL 2020, "The Right Tool for the Job").

This file imports only `transformers`, so that it can be copied into a Hub repository and loaded with
`trust_remote_code=True` where `hf_notlike` is not installed.
"""

import math
from dataclasses import dataclass

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, RobertaConfig

EXIT_INPUTS = ("weighted_cls", "cls", "weighted_mean", "mean")
EARLY_EXIT_FIELDS = ("exit_layers", "exit_threshold", "temperatures", "exit_loss_weights", "exit_input")


def _per_exit_values(name: str, values, exit_layers: list[int], positive: bool) -> list[float]:
    """One finite float per exit (default 1.0 each), each > 0 (`positive`) or >= 0."""
    n_exits = len(exit_layers)
    values = [1.0] * n_exits if values is None else [float(v) for v in values]
    allowed = "> 0" if positive else ">= 0"
    if len(values) != n_exits:
        raise ValueError(
            f"`{name}` has {len(values)} values but there are {n_exits} exits (after layers {exit_layers}); "
            f"give one finite value {allowed} per exit."
        )
    if not all(math.isfinite(v) and (v > 0 if positive else v >= 0) for v in values):
        raise ValueError(f"`{name}` must all be finite and {allowed}, got {values}.")
    return values


@dataclass(kw_only=True, repr=False)
class EarlyExitConfigMixin:
    r"""
    The fields shared by every early-exit configuration. They are validated when the configuration is built, so
    that a bad value fails before any weight is loaded.

    Args:
        exit_layers (`list[int]`, *optional*):
            The (1-based) encoder layers after which a classifier ("exit") sits, strictly increasing, each in
            `[1, num_hidden_layers]`. The last layer always has an exit: it is appended when missing. Defaults to
            an exit after every layer.
        exit_threshold (`float`, *optional*, defaults to 1.0):
            At inference, a row leaves at the first exit whose calibrated confidence `max softmax(logits / T)` is
            at least this value. Must lie in `(0, 1]`; `1.0` means "never leave early" (the full model).
        temperatures (`list[float]`, *optional*):
            One positive temperature per exit (Guo et al., 2017), `1.0` until calibrated with
            [`~hf_notlike.calibrate_temperatures`].
        exit_loss_weights (`list[float]`, *optional*):
            One non-negative weight per exit for the training loss. Defaults to all `1.0`, the plain sum of the
            paper.
        exit_input (`str`, *optional*, defaults to `"weighted_cls"`):
            What an exit reads. `"weighted_cls"` (the paper): the pooled [CLS] state of every layer up to the exit,
            mixed by a learned softmax-normalised weighted sum. `"cls"`: the pooled [CLS] state of the exit's own
            layer only. `"weighted_mean"` / `"mean"`: the same with the attention-masked mean of the layer's tokens
            (through the same pooler) instead of [CLS]; use them for checkpoints trained with mean pooling, such as
            sentence-transformers models, whose lower-layer [CLS] states barely depend on the input.

    Regression (`num_labels == 1`) is trained with one MSE term per exit, but has no confidence to exit on:
    it always runs the full model, and an `exit_threshold` below 1.0 is rejected.
    """

    # Trainer.predict / evaluate hand `compute_metrics` only the logits
    keys_to_ignore_at_inference = ["exit_layer", "exit_logits", "hidden_states", "attentions"]

    exit_layers: list[int] | None = None
    exit_threshold: float | int = 1.0
    temperatures: list[float | int] | None = None
    exit_loss_weights: list[float | int] | None = None
    exit_input: str = "weighted_cls"

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._init_early_exit()


    def _init_early_exit(self) -> None:
        """Fills in the defaults and validates the early-exit fields (called by `__post_init__`)."""
        exit_layers, exit_threshold = self.exit_layers, self.exit_threshold
        temperatures, exit_loss_weights, exit_input = self.temperatures, self.exit_loss_weights, self.exit_input
        n_layers = self.num_hidden_layers
        if exit_layers is None:
            exit_layers = list(range(1, n_layers + 1))
        exit_layers = list(exit_layers)
        if len(exit_layers) == 0:
            raise ValueError(
                f"`exit_layers` is empty; give the 1-based layers to put an exit after, e.g. "
                f"{list(range(1, n_layers + 1))}, or leave it unset for an exit after every layer."
            )
        for layer in exit_layers:
            if isinstance(layer, bool) or not isinstance(layer, int) or not 1 <= layer <= n_layers:
                raise ValueError(
                    f"`exit_layers` holds {layer!r}; every exit layer must be an integer in [1, {n_layers}] "
                    f"(num_hidden_layers={n_layers}, layers are 1-based)."
                )
        if len(set(exit_layers)) != len(exit_layers):
            raise ValueError(f"`exit_layers` {exit_layers} has duplicates; each layer may hold one exit.")
        if exit_layers != sorted(exit_layers):
            raise ValueError(f"`exit_layers` {exit_layers} is not sorted; give them in increasing order.")
        if exit_layers[-1] != n_layers:
            exit_layers.append(n_layers)  # the last layer always has an exit

        temperatures = _per_exit_values("temperatures", temperatures, exit_layers, positive=True)
        weights = _per_exit_values("exit_loss_weights", exit_loss_weights, exit_layers, positive=False)
        if sum(weights) <= 0:
            raise ValueError(f"`exit_loss_weights` must not all be 0, got {weights}.")

        if exit_input not in EXIT_INPUTS:
            raise ValueError(f"`exit_input` must be one of {EXIT_INPUTS}, got {exit_input!r}.")

        self.exit_layers = exit_layers
        self.exit_threshold = self.check_exit_threshold(exit_threshold)
        self.temperatures = temperatures
        self.exit_loss_weights = weights
        self.exit_input = exit_input

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        if config_dict.get("model_type") == super().model_type:
            # a plain BERT / RoBERTa checkpoint: its backbone is ours, the exits get initialised
            config_dict = {**config_dict, "model_type": cls.model_type}
        return config_dict, kwargs

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        # early-exit fields given to `from_pretrained` are validated with the rest, not set after validation
        config_dict = dict(config_dict)
        for key in EARLY_EXIT_FIELDS:
            if key in kwargs:
                config_dict[key] = kwargs.pop(key)
        if "num_hidden_layers" in kwargs:
            config_dict["num_hidden_layers"] = kwargs.pop("num_hidden_layers")
        return super().from_dict(config_dict, **kwargs)

    @property
    def num_exits(self) -> int:
        return len(self.exit_layers)

    def check_exit_threshold(self, threshold: float) -> float:
        """Checks a threshold (the configured one or a per-call override) and returns it as a float."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
            raise ValueError(f"`exit_threshold` must lie in (0, 1] (1.0 = never exit early), got {threshold!r}.")
        if self.num_labels == 1 and threshold < 1.0:
            raise ValueError(
                f"`exit_threshold`={threshold} asks for early exit, but this is a regression model "
                "(num_labels=1), which has no confidence to exit on. Use exit_threshold=1.0 (full model) or a "
                "classification head (num_labels >= 2)."
            )
        return float(threshold)


@strict
class EarlyExitBertConfig(EarlyExitConfigMixin, BertConfig):
    r"""
    Configuration of [`EarlyExitBertForSequenceClassification`]: a [`~transformers.BertConfig`] plus the early-exit
    fields documented in [`EarlyExitConfigMixin`].

    Example:

    ```python
    >>> from hf_notlike import EarlyExitBertConfig
    >>> config = EarlyExitBertConfig(num_hidden_layers=6, exit_layers=[1, 3], num_labels=2)
    >>> config.exit_layers, config.temperatures
    ([1, 3, 6], [1.0, 1.0, 1.0])
    ```
    """

    model_type = "hf_notlike_early_exit_bert"


@strict
class EarlyExitRobertaConfig(EarlyExitConfigMixin, RobertaConfig):
    r"""
    Configuration of [`EarlyExitRobertaForSequenceClassification`]: a [`~transformers.RobertaConfig`] plus the
    early-exit fields documented in [`EarlyExitConfigMixin`].

    Example:

    ```python
    >>> from hf_notlike import EarlyExitRobertaConfig
    >>> EarlyExitRobertaConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers
    [2, 4]
    ```
    """

    model_type = "hf_notlike_early_exit_roberta"
