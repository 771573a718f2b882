# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Configurations of the early-exit models (Schwartz et al., ACL 2020, "The Right Tool for the Job").

Every early-exit configuration is its backbone's configuration class plus the fields of [`EarlyExitConfigMixin`],
under transformers' `@strict` dataclass validation: the early-exit fields are checked by one class validator,
`validate_early_exit`, which runs when the configuration is built (including on load), before it is saved, and on
every forward pass of the model (so that a field changed after building, e.g. `config.temperatures = [0.0]`, fails
clearly instead of silently changing results).

This file imports only `transformers`, so that it can be copied into a Hub repository and loaded with
`trust_remote_code=True` where `hf_notlike` is not installed.
"""

import math
from dataclasses import dataclass

from huggingface_hub.dataclasses import strict
from transformers import (
    BertConfig,
    DebertaV2Config,
    DistilBertConfig,
    ElectraConfig,
    ModernBertConfig,
    MPNetConfig,
    RobertaConfig,
    XLMRobertaConfig,
)

EXIT_INPUTS = ("weighted_mean", "mean", "weighted_cls", "cls")
EXIT_HEADS = ("linear", "mlp")
CHECK_INPUTS_MODES = ("auto", "always", "cpu", "never")
EARLY_EXIT_FIELDS = (
    "exit_layers",
    "exit_threshold",
    "exit_thresholds",
    "temperatures",
    "exit_loss_weights",
    "exit_input",
    "exit_head",
    "head_from_classifier",
    "freeze_backbone",
    "distillation_weight",
    "distillation_temperature",
    "exit_learning_rate_multiplier",
    "backbone_learning_rate_multiplier",
    "layer_learning_rate_decay",
    "anchor_weight",
    "anchor_temperature",
    "alternate_objectives",
    "check_inputs",
)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(kw_only=True, repr=False)
class EarlyExitConfigMixin:
    r"""
    The fields shared by every early-exit configuration.

    Args:
        exit_layers (`list[int]`, *optional*):
            The (1-based) encoder layers after which a classifier ("exit") sits, strictly increasing, each in
            `[1, num_hidden_layers]`. The last layer always has an exit: it is appended when missing at build time.
            Defaults to an exit after every layer.
        exit_threshold (`float`, *optional*, defaults to 1.0):
            At inference, a row leaves at the first exit whose calibrated confidence `max softmax(logits / T)` is
            at least this value. Must lie in `(0, 1]`; `1.0` means "never leave early" (the full model).
        exit_thresholds (`list[float]`, *optional*):
            One threshold per exit, in `(0, 1]`, overriding `exit_threshold` when set: a row leaves at exit `k` when
            its calibrated confidence there is at least `exit_thresholds[k]`; an exit whose threshold is 1.0 is never
            left at early. The last exit's value has no effect (every row still running leaves there). Chosen on
            validation logits for an accuracy budget by [`~hf_notlike.choose_thresholds`]. `None` (the default): every
            exit uses `exit_threshold`.
        temperatures (`list[float]`, *optional*):
            One positive temperature per exit (Guo et al., 2017), `1.0` until calibrated with
            [`~hf_notlike.calibrate_temperatures`].
        exit_loss_weights (`list[float]`, *optional*):
            One non-negative weight per exit for the training loss. Defaults to all `1.0`, the plain sum of the
            paper.
        exit_input (`str`, *optional*, defaults to `"weighted_mean"`):
            What an exit reads. `"weighted_mean"`: the attention-masked mean of the tokens of every layer up to the
            exit, each through the pooler, mixed by a learned softmax-normalised weighted sum. `"mean"`: the same
            for the exit's own layer only. `"weighted_cls"` / `"cls"`: the same with the first-token ([CLS]) state
            instead of the token mean (`"weighted_cls"` is the paper's). The token mean is the default because it
            learns on every checkpoint: the lower layers' first-token state of a sentence encoder trained with mean
            pooling (sentence-transformers models such as all-MiniLM-L6-v2) is nearly the same for every input, so
            first-token exits there stay at the class prior. The last exit of `from_classifier` always reads what
            the classifier's own head reads, whatever this says.
        exit_head (`str`, *optional*, defaults to `"linear"`):
            What an exit puts on what it reads. `"linear"`: dropout and a linear layer (the paper's). `"mlp"`: a dense
            `hidden_size x hidden_size` layer with tanh first (each exit its own, shaped like BERT's pooler), then
            dropout and the linear layer. The dense layer costs about 0.3% of one encoder layer and lets the lower
            exits of a 12-layer encoder read more out of their states (2.6-5.3 points on exits 1-6 of a fine-tuned
            MPNet-12 on Rotten Tomatoes, with the backbone frozen). A `from_classifier` model's last exit stays the
            classifier's own head.
        head_from_classifier (`bool`, *optional*, defaults to `False`):
            The last exit is the head of a fine-tuned classifier (see `from_classifier`): it reads the last layer
            only, exactly as the original head does, whatever `exit_input` says for the other exits.
        freeze_backbone (`bool`, *optional*, defaults to `False`):
            Train the intermediate exits only: the backbone, the pooler and the last exit are frozen
            (`requires_grad=False`), the second stage of DeeBERT (Xin et al., ACL 2020). `from_classifier` sets it
            unless given `freeze_backbone=False` (anchored joint training, see `anchor_weight`).
        distillation_weight (`float`, *optional*, defaults to 0.0):
            Self-distillation: each exit but the last is trained on `(1 - w) * CE(gold) + w * T^2 * KL(teacher ||
            exit)`, where the teacher is the last exit's softened prediction (detached), Hinton et al. (2015); in
            `[0, 1]`, 0 trains on the gold labels only, 1 on the teacher only.
        distillation_temperature (`float`, *optional*, defaults to 1.0):
            The softmax temperature `T > 0` of self-distillation.
        exit_learning_rate_multiplier (`float`, *optional*, defaults to 30.0):
            The exits' (and the pooler's, when it is not the backbone's own) learning rate relative to the
            backbone's, used by [`~hf_notlike.early_exit_optimizer`] and [`~hf_notlike.EarlyExitTrainer`]. Freshly
            initialised exits on a pretrained backbone need a learning rate 20-40x higher than the backbone's
            fine-tuning rate to become useful.
        backbone_learning_rate_multiplier (`float`, *optional*, defaults to 1.0):
            The backbone's learning rate relative to the optimizer's base rate (and, after `from_classifier`, that of
            the classifier's own pooler and head, which are already trained), used by the same optimizer. Below 1
            when the backbone is already fine-tuned: e.g. `learning_rate=1e-4`, `exit_learning_rate_multiplier=20`,
            `backbone_learning_rate_multiplier=0.2` trains the exits at 2e-3 and the classifier at 2e-5.
        layer_learning_rate_decay (`float`, *optional*, defaults to 1.0):
            Learning rates per depth, used by the same optimizer: layer `l` of `L` (1 = the lowest) learns at the
            backbone's rate times `decay ** (l - 1)`; the embeddings at the lowest layer's rate, everything above the
            layers (a backbone pooler, the classifier's own head after `from_classifier`) at the top layer's. Below 1,
            the top of an already fine-tuned classifier stays close to where it was while the lower layers, which
            the early exits read, adapt faster (the opposite of the usual layer-wise decay of fine-tuning, which
            protects the lower layers; Howard & Ruder, ACL 2018). 1.0: one rate for the whole backbone. Measured on
            Rotten Tomatoes (MiniLM, anchored, one seed), 0.7 from 2e-4 at the bottom did not beat one rate of 1e-4
            (results page, "The anchored recipe, searched").
        anchor_weight (`float`, *optional*, defaults to 0.0):
            Anchored joint training: each exit, the last one included, is trained on
            `(1 - a) * CE(gold) + a * T^2 * KL(anchor || exit)`, where the anchor is the softened prediction of a
            frozen copy of the original classifier (`model.anchor_model`, attached by `from_classifier` when this is
            > 0, or with `set_anchor_model`; never saved with the model), so that the backbone may be fine-tuned for
            the exits without drifting from the classifier it started from. In `[0, 1]` and, with self-distillation,
            `distillation_weight + anchor_weight <= 1` (the intermediate exits then get `(1 - w - a) * CE + w * KL(last
            exit || exit) + a * KL(anchor || exit)`). 0 is plain (joint) training.
        anchor_temperature (`float`, *optional*, defaults to 1.0):
            The softmax temperature `T > 0` of the anchor term.
        alternate_objectives (`bool`, *optional*, defaults to `False`):
            BERxiT's alternating fine-tuning (Xin et al., EACL 2021): training forward passes alternate between the
            last exit's term alone (the 1st, 3rd, ... pass) and the intermediate exits' terms alone (the 2nd, 4th,
            ...), so that the exits do not pull the shared layers away from the last exit's objective. Without
            gradient accumulation a pass is an optimizer step. Eval-mode losses are not affected.
        check_inputs (`str`, *optional*, defaults to `"auto"`):
            When `forward` checks the values of its tensor inputs (token ids, token types and positions in range,
            a 0/1 `attention_mask` without left padding, labels in range); their types and shapes are always
            checked, and no check reads a value back more than once per pass. `"auto"`: on CPU tensors always (it
            costs no device synchronisation); on accelerator tensors in eval mode (one read back per pass), not in
            training mode, where [`~hf_notlike.EarlyExitTrainer`] checks every batch on the CPU before it moves to
            the device. `"always"`: on every pass (one read back per pass on an accelerator). `"cpu"`: on CPU
            tensors only (never a device synchronisation). `"never"`: types and shapes only.

    Regression (`num_labels == 1`) is trained with one MSE term per exit, but has no confidence to exit on:
    it always runs the full model, and an `exit_threshold` below 1.0 is rejected.

    Invalid values raise `huggingface_hub.errors.StrictDataclassClassValidationError` (as transformers' own
    configurations do) whose message names the field and the fix.
    """

    # Trainer.predict / evaluate hand `compute_metrics` `(logits, exit_layer[, exit_logits])`: exit_logits come with
    # labels (the all-exits path), for per-exit metrics (`hf_notlike.early_exit.evaluation`)
    keys_to_ignore_at_inference = ["hidden_states", "attentions", "training_loss", "exit_losses"]

    exit_layers: list[int] | None = None
    exit_threshold: float | int = 1.0
    exit_thresholds: list[float | int] | None = None
    temperatures: list[float | int] | None = None
    exit_loss_weights: list[float | int] | None = None
    exit_input: str = "weighted_mean"
    exit_head: str = "linear"
    head_from_classifier: bool = False
    freeze_backbone: bool = False
    distillation_weight: float | int = 0.0
    distillation_temperature: float | int = 1.0
    exit_learning_rate_multiplier: float | int = 30.0
    backbone_learning_rate_multiplier: float | int = 1.0
    layer_learning_rate_decay: float | int = 1.0
    anchor_weight: float | int = 0.0
    anchor_temperature: float | int = 1.0
    alternate_objectives: bool = False
    check_inputs: str = "auto"

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self._fill_early_exit_defaults()

    def _fill_early_exit_defaults(self) -> None:
        """Fills in the defaults of the early-exit fields at build time (validation is `validate_early_exit`)."""
        n_layers = self.num_hidden_layers
        if self.exit_layers is None:
            self.exit_layers = list(range(1, n_layers + 1))
        elif (
            isinstance(n_layers, int)
            and self.exit_layers
            and all(isinstance(v, int) and not isinstance(v, bool) for v in self.exit_layers)
            and self.exit_layers[-1] < n_layers
        ):
            self.exit_layers = [*self.exit_layers, n_layers]  # the last layer always has an exit
        n_exits = len(self.exit_layers)
        if self.temperatures is None:
            self.temperatures = [1.0] * n_exits
        if self.exit_loss_weights is None:
            self.exit_loss_weights = [1.0] * n_exits

    def validate_early_exit(self) -> None:
        """Part of the `@strict` validation (on build, load and save, and on every forward pass): checks every
        early-exit field and their consistency with `num_hidden_layers` and each other."""
        n_layers = self.num_hidden_layers
        exit_layers = self.exit_layers
        if not isinstance(exit_layers, list) or len(exit_layers) == 0:
            raise ValueError(
                f"`exit_layers` is {exit_layers!r}; give the 1-based layers to put an exit after, e.g. "
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
            raise ValueError(
                f"`exit_layers` {exit_layers} has no exit after the last layer ({n_layers}); the last layer always "
                f"has one: use {[*exit_layers, n_layers]}."
            )
        for name, positive in (("temperatures", True), ("exit_loss_weights", False)):
            values = getattr(self, name)
            allowed = "> 0" if positive else ">= 0"
            if not isinstance(values, list) or len(values) != len(exit_layers):
                count = len(values) if isinstance(values, list) else type(values).__name__
                raise ValueError(
                    f"`{name}` has {count} values but there are {len(exit_layers)} exits (after layers "
                    f"{exit_layers}); give one finite value {allowed} per exit."
                )
            if not all(_is_number(v) and (v > 0 if positive else v >= 0) for v in values):
                raise ValueError(f"`{name}` must all be finite and {allowed}, got {values}.")
        if sum(self.exit_loss_weights) <= 0:
            raise ValueError(f"`exit_loss_weights` must not all be 0, got {self.exit_loss_weights}.")
        if self.exit_input not in EXIT_INPUTS:
            raise ValueError(f"`exit_input` must be one of {EXIT_INPUTS}, got {self.exit_input!r}.")
        if self.exit_head not in EXIT_HEADS:
            raise ValueError(
                f"`exit_head` must be one of {EXIT_HEADS}, got {self.exit_head!r}: \"linear\" puts a linear layer on "
                "what the exit reads, \"mlp\" a dense layer with tanh before it."
            )
        if self.check_inputs not in CHECK_INPUTS_MODES:
            raise ValueError(
                f"`check_inputs` must be one of {CHECK_INPUTS_MODES}, got {self.check_inputs!r}: \"auto\" checks input "
                "values where it costs no device synchronisation (and once per eval pass), \"always\" on every pass."
            )
        self.check_exit_threshold(self.exit_threshold)
        if self.exit_thresholds is not None:
            self.check_exit_thresholds(self.exit_thresholds)
        if not _is_number(self.distillation_weight) or not 0.0 <= self.distillation_weight <= 1.0:
            raise ValueError(f"`distillation_weight` must lie in [0, 1], got {self.distillation_weight!r}.")
        if not _is_number(self.distillation_temperature) or self.distillation_temperature <= 0:
            raise ValueError(f"`distillation_temperature` must be finite and > 0, got {self.distillation_temperature!r}.")
        if self.distillation_weight > 0 and self.num_labels == 1:
            raise ValueError("`distillation_weight` > 0 needs a classification head (num_labels >= 2), not regression.")
        rates = ("exit_learning_rate_multiplier", "backbone_learning_rate_multiplier", "layer_learning_rate_decay")
        for name in rates:
            multiplier = getattr(self, name)
            if not _is_number(multiplier) or multiplier <= 0:
                raise ValueError(f"`{name}` must be finite and > 0, got {multiplier!r}.")
        if not _is_number(self.anchor_weight) or not 0.0 <= self.anchor_weight <= 1.0:
            raise ValueError(f"`anchor_weight` must lie in [0, 1], got {self.anchor_weight!r}.")
        if not _is_number(self.anchor_temperature) or self.anchor_temperature <= 0:
            raise ValueError(f"`anchor_temperature` must be finite and > 0, got {self.anchor_temperature!r}.")
        if self.anchor_weight > 0 and self.num_labels == 1:
            raise ValueError("`anchor_weight` > 0 needs a classification head (num_labels >= 2), not regression.")
        if self.distillation_weight + self.anchor_weight > 1.0 + 1e-9:
            raise ValueError(
                f"`distillation_weight` ({self.distillation_weight}) + `anchor_weight` ({self.anchor_weight}) must not "
                "exceed 1: they share each exit's loss with the gold-label term. Lower one of them."
            )
        if self.problem_type == "multi_label_classification":
            raise ValueError(
                "Early-exit models support single-label classification and regression, not "
                "`problem_type`='multi_label_classification'."
            )

    # Kept on purpose (checked against transformers 5.24): the stock `PreTrainedConfig.from_pretrained` builds the
    # config from the checkpoint first and only then `setattr`s the keyword arguments, so `__post_init__` and the
    # `@strict` class validator never see them at build time: `exit_layers=[2]` is not completed to `[2, 4]`, the
    # default `temperatures` / `exit_loss_weights` keep the checkpoint's exit count (12 for `num_hidden_layers=2` on
    # a 12-layer checkpoint), the instance keeps the plain checkpoint's `model_type` (saved as "bert", it would no longer load as
    # an early-exit model) and another backbone's checkpoint loads with a warning only. No public hook folds kwargs in
    # before construction (`from_dict` does so for a fixed list of fields only), hence this override, which uses only
    # the public `get_config_dict` / `from_dict`.
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, **kwargs):
        """Loads an early-exit configuration, or the configuration of a plain checkpoint of the same backbone (e.g.
        a BERT checkpoint for [`EarlyExitBertConfig`]), whose exits then get initialised. Early-exit fields given
        as keyword arguments are validated with the rest, before any weight is loaded."""
        return_unused_kwargs = kwargs.pop("return_unused_kwargs", False)
        overrides = {key: kwargs.pop(key) for key in (*EARLY_EXIT_FIELDS, "num_hidden_layers") if key in kwargs}
        config_dict, kwargs = cls.get_config_dict(pretrained_model_name_or_path, **kwargs)
        model_type = config_dict.get("model_type")
        if model_type not in (cls.model_type, cls.backbone_model_type, None):
            raise ValueError(
                f"{str(pretrained_model_name_or_path)!r} holds a `{model_type}` model, but {cls.__name__} loads "
                f"`{cls.backbone_model_type}` (or `{cls.model_type}`) checkpoints; use the early-exit class of that "
                "architecture."
            )
        config_dict = {**config_dict, **overrides, "model_type": cls.model_type}
        if model_type == cls.backbone_model_type:
            config_dict.pop("auto_map", None)
        return cls.from_dict(config_dict, return_unused_kwargs=return_unused_kwargs, **kwargs)

    def early_exit_fingerprint(self) -> tuple:
        """The values `validate_early_exit` reads (lists copied), so that a model re-validates only when they change."""
        values = self.__dict__  # read directly: cheap enough for every forward pass
        layers = type(self).attribute_map.get("num_hidden_layers", "num_hidden_layers")
        names = (*EARLY_EXIT_FIELDS, layers, "id2label", "problem_type")
        return tuple(list(v) if isinstance(v, list) else v for v in (values.get(name) for name in names))

    @property
    def attention_implementation(self) -> str | None:
        """The backbone's attention implementation (`"eager"`, `"sdpa"`, ...). transformers keeps it only under the
        private name `_attn_implementation` (and sets it through the public `attn_implementation=` argument of
        `from_pretrained` / `from_config`); this property is the one place hf_notlike reads it."""
        return getattr(self, "_attn_implementation", None)

    @property
    def num_exits(self) -> int:
        return len(self.exit_layers)

    def check_exit_thresholds(self, thresholds, name: str = "exit_thresholds") -> list[float]:
        """Checks per-exit thresholds (the configured ones or a per-call override): one value in `(0, 1]` per exit;
        returns them as floats."""
        if not isinstance(thresholds, (list, tuple)) or len(thresholds) != self.num_exits:
            count = len(thresholds) if isinstance(thresholds, (list, tuple)) else type(thresholds).__name__
            raise ValueError(
                f"`{name}` has {count} values but there are {self.num_exits} exits (after layers "
                f"{self.exit_layers}); give one threshold in (0, 1] per exit (the last one is not used: 1.0), or "
                "None to use `exit_threshold` for every exit."
            )
        bad = [t for t in thresholds if isinstance(t, bool) or not _is_number(t) or not 0.0 < t <= 1.0]
        if bad:
            raise ValueError(f"`{name}` must all lie in (0, 1] (1.0 = never exit there), got {list(thresholds)}.")
        if self.num_labels == 1 and any(t < 1.0 for t in thresholds[:-1]):
            raise ValueError(
                f"`{name}`={list(thresholds)} asks for early exit, but this is a regression model (num_labels=1), "
                "which has no confidence to exit on. Leave it unset or use 1.0 for every exit."
            )
        return [float(t) for t in thresholds]

    def thresholds_for(self, exit_threshold: float | list[float] | None = None) -> list[float]:
        """The threshold of every exit for one forward pass: the per-call `exit_threshold` when given (one float for
        every exit, or one per exit), else `exit_thresholds` when set, else `exit_threshold` for every exit."""
        if exit_threshold is None:
            if self.exit_thresholds is not None:
                return self.check_exit_thresholds(self.exit_thresholds)
            exit_threshold = self.exit_threshold
        if isinstance(exit_threshold, (list, tuple)):
            return self.check_exit_thresholds(exit_threshold, name="exit_threshold")
        return [self.check_exit_threshold(exit_threshold)] * self.num_exits

    def check_exit_threshold(self, threshold: float) -> float:
        """Checks a threshold (the configured one or a per-call override) and returns it as a float."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
            raise ValueError(f"`exit_threshold` must lie in (0, 1] (1.0 = never exit early), got {threshold!r}.")
        if threshold < 1.0 and self.num_labels == 1:
            raise ValueError(
                f"`exit_threshold`={threshold} asks for early exit, but this is a regression model "
                "(num_labels=1), which has no confidence to exit on. Use exit_threshold=1.0 (full model) or a "
                "classification head (num_labels >= 2)."
            )
        return float(threshold)


def _doc(backbone: str, model: str, example: str) -> str:
    return (
        f"\n    Configuration of [`{model}`]: a [`~transformers.{backbone}`] plus the early-exit fields documented in\n"
        f"    [`EarlyExitConfigMixin`].\n\n    Example:\n\n    ```python\n{example}    ```\n"
    )


@strict
class EarlyExitBertConfig(EarlyExitConfigMixin, BertConfig):
    __doc__ = _doc(
        "BertConfig",
        "EarlyExitBertForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitBertConfig\n"
        "    >>> config = EarlyExitBertConfig(num_hidden_layers=6, exit_layers=[1, 3], num_labels=2)\n"
        "    >>> config.exit_layers, config.temperatures\n"
        "    ([1, 3, 6], [1.0, 1.0, 1.0])\n",
    )
    model_type = "hf_notlike_early_exit_bert"
    backbone_model_type = "bert"


@strict
class EarlyExitRobertaConfig(EarlyExitConfigMixin, RobertaConfig):
    __doc__ = _doc(
        "RobertaConfig",
        "EarlyExitRobertaForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitRobertaConfig\n"
        "    >>> EarlyExitRobertaConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_roberta"
    backbone_model_type = "roberta"


@strict
class EarlyExitXLMRobertaConfig(EarlyExitConfigMixin, XLMRobertaConfig):
    __doc__ = _doc(
        "XLMRobertaConfig",
        "EarlyExitXLMRobertaForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitXLMRobertaConfig\n"
        "    >>> EarlyExitXLMRobertaConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_xlm_roberta"
    backbone_model_type = "xlm-roberta"


@strict
class EarlyExitElectraConfig(EarlyExitConfigMixin, ElectraConfig):
    __doc__ = _doc(
        "ElectraConfig",
        "EarlyExitElectraForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitElectraConfig\n"
        "    >>> EarlyExitElectraConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_electra"
    backbone_model_type = "electra"


@strict
class EarlyExitDistilBertConfig(EarlyExitConfigMixin, DistilBertConfig):
    __doc__ = _doc(
        "DistilBertConfig",
        "EarlyExitDistilBertForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitDistilBertConfig\n"
        "    >>> EarlyExitDistilBertConfig(n_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_distilbert"
    backbone_model_type = "distilbert"


@strict
class EarlyExitDebertaV2Config(EarlyExitConfigMixin, DebertaV2Config):
    __doc__ = _doc(
        "DebertaV2Config",
        "EarlyExitDebertaV2ForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitDebertaV2Config\n"
        "    >>> EarlyExitDebertaV2Config(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_deberta_v2"
    backbone_model_type = "deberta-v2"


@strict
class EarlyExitModernBertConfig(EarlyExitConfigMixin, ModernBertConfig):
    __doc__ = _doc(
        "ModernBertConfig",
        "EarlyExitModernBertForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitModernBertConfig\n"
        "    >>> EarlyExitModernBertConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_modernbert"
    backbone_model_type = "modernbert"


@strict
class EarlyExitMPNetConfig(EarlyExitConfigMixin, MPNetConfig):
    __doc__ = _doc(
        "MPNetConfig",
        "EarlyExitMPNetForSequenceClassification",
        "    >>> from hf_notlike import EarlyExitMPNetConfig\n"
        "    >>> EarlyExitMPNetConfig(num_hidden_layers=4, exit_layers=[2]).exit_layers\n"
        "    [2, 4]\n",
    )
    model_type = "hf_notlike_early_exit_mpnet"
    backbone_model_type = "mpnet"
