# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Dynamic int8 quantization of an encoder classifier's linear layers for CPU serving.

The path was chosen by measurement (`examples/bench_int8.py`, docs/benchmarks.md "Early exit with int8"): PyTorch's
eager dynamic quantization (`torch.ao.quantization.quantize_dynamic`, int8 weights, activations quantized per batch
on the fly, fbgemm kernels) was the fastest path on one CPU thread, where torchao's eager
`Int8DynamicActivationInt8WeightConfig` ran slower than float32. Weights are quantized per output channel, and the
second linear layer of every feed-forward block stays in float32 by default: its input (after GELU) holds the
outlier activations that per-tensor activation quantization handles worst (Bondarenko, Nagel and Blankevoort,
"Understanding and Overcoming the Challenges of Efficient Transformer Quantization", EMNLP 2021), and keeping it in
float removed most of the accuracy loss in our measurement. Given a few calibration batches, those layers are
quantized too after SmoothQuant's smoothing (Xiao et al., "SmoothQuant: Accurate and Efficient Post-Training
Quantization for Large Language Models", ICML 2023): each input channel `j` is divided by
`s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha)` (`max|X_j|` over the calibration batches) and the weight's column
multiplied by it, which leaves the layer's float output unchanged and moves the activation outliers into the
per-channel-quantized weights. The exits, the pooler and the classifier head stay in float32: they are a negligible
share of the work and the exit rule reads their outputs.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import nn

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from ..logging import get_logger

logger = get_logger(__name__)

__all__ = ["quantize_dynamic_int8", "is_quantized_int8", "DEFAULT_KEEP_FLOAT", "FEED_FORWARD_OUTPUTS"]

HEADS: tuple[str, ...] = (
    r"(^|\.)exits\.",  # the early-exit classifiers
    r"(^|\.)(classifier|pre_classifier|pooler|head)(\.|$)",  # stock heads and poolers
)
FEED_FORWARD_OUTPUTS: tuple[str, ...] = (
    r"\.layer\.\d+\.output\.dense$",  # BERT, RoBERTa, XLM-R, ELECTRA, DeBERTa-v2, MPNet: feed-forward output
    r"\.ffn\.lin2$",  # DistilBERT: feed-forward output
    r"\.mlp\.Wo$",  # ModernBERT: feed-forward output
)
"""Regular expressions of each feed-forward block's output layer, whose input (after the activation) holds the
outliers: kept in float32 by default, smoothed and quantized when [`quantize_dynamic_int8`] gets calibration
batches."""
DEFAULT_KEEP_FLOAT: tuple[str, ...] = HEADS + FEED_FORWARD_OUTPUTS
"""Regular expressions (`re.search` on the module's name in `model.named_modules()`) of the linear layers that
[`quantize_dynamic_int8`] keeps in float32 unless told otherwise (without calibration batches)."""
DEFAULT_SMOOTHING_ALPHA = 0.8


class SmoothedLinear(nn.Module):
    """A linear layer whose input channels are divided by fixed scales before it, `linear(x * inverse_scale)`, the
    scales folded into its weight's columns (SmoothQuant, Xiao et al., ICML 2023): the same float output, with the
    activation outliers moved into the weight, where per-channel int8 quantization absorbs them."""

    def __init__(self, linear: nn.Linear, scale: torch.Tensor):
        super().__init__()
        self.linear = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None,
                                device=linear.weight.device, dtype=linear.weight.dtype)
        with torch.no_grad():
            self.linear.weight.copy_(linear.weight * scale[None, :])
            if linear.bias is not None:
                self.linear.bias.copy_(linear.bias)
        self.register_buffer("inverse_scale", 1.0 / scale)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden * self.inverse_scale)


def _quantized_linear_class() -> type:
    from torch.ao.nn.quantized import dynamic

    return dynamic.Linear


def is_quantized_int8(model: nn.Module) -> bool:
    """Whether `model` holds dynamically quantized int8 linear layers (e.g. from [`quantize_dynamic_int8`]).

    Args:
        model (`torch.nn.Module`): any module.

    Returns:
        `bool`.

    Example:

    ```python
    >>> from torch import nn
    >>> from hf_notlike.early_exit.quantization import is_quantized_int8
    >>> is_quantized_int8(nn.Linear(4, 4))
    False
    ```
    """
    linear = _quantized_linear_class()
    return any(isinstance(module, linear) for module in model.modules())


def _refuse_saving(*args, **kwargs):
    raise HfNotlikeInputError(
        "This model holds int8 dynamically quantized linear layers, which cannot be written as safetensors "
        "(their weights are packed fbgemm objects, not tensors). Save the float32 model instead, and quantize after "
        "loading: `quantize_dynamic_int8(AutoModelForSequenceClassification.from_pretrained(path))`."
    )


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise HfNotlikeTypeError(
            f"`model` must be a torch.nn.Module (e.g. from AutoModelForSequenceClassification.from_pretrained), got "
            f"{type(model).__name__}."
        )
    if is_quantized_int8(model):
        raise HfNotlikeInputError(
            "`model` is already int8-quantized; quantize the float32 model once (load it again from its folder)."
        )
    linears = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise HfNotlikeInputError(f"`model` ({type(model).__name__}) has no nn.Linear layers to quantize.")
    devices = {param.device.type for param in model.parameters()}
    if devices != {"cpu"}:
        raise HfNotlikeInputError(
            f"int8 dynamic quantization runs on the CPU only, but the model's weights are on {sorted(devices)}; "
            "move it first with `model.to('cpu')`."
        )
    dtypes = {str(module.weight.dtype).removeprefix("torch.") for _, module in linears}
    if dtypes != {"float32"}:
        raise HfNotlikeInputError(
            f"int8 dynamic quantization starts from float32 weights, but the linear layers hold {sorted(dtypes)}; "
            "load the model with `dtype=torch.float32` (or call `model.float()`) first."
        )
    if "fbgemm" not in torch.backends.quantized.supported_engines and "x86" not in torch.backends.quantized.supported_engines:
        raise HfNotlikeInputError(
            "This PyTorch build has no x86 int8 kernels (`torch.backends.quantized.supported_engines` = "
            f"{torch.backends.quantized.supported_engines}); int8 dynamic quantization needs an x86 CPU build."
        )


def _is_early_exit_model(model: nn.Module) -> bool:
    return hasattr(model, "exits") and hasattr(model, "adapter")


def _exit_modules(model: nn.Module) -> list[str]:
    """The names of an early-exit model's exits and of the pooler they read: the exit loop reads their weights
    directly, so they stay in float32 whatever `keep_float` says (none for other models)."""
    if not _is_early_exit_model(model):
        return []
    pooler = model.adapter.pooler(model)
    return ["exits", *(name for name, module in model.named_modules() if module is pooler)]


def quantize_dynamic_int8(
    model: nn.Module,
    keep_float: Sequence[str] | None = None,
    per_channel: bool = True,
    inplace: bool = False,
    calibration_batches: Iterable[dict] | None = None,
    smoothing_alpha: float = DEFAULT_SMOOTHING_ALPHA,
) -> nn.Module:
    """Quantizes the linear layers of a CPU classifier to int8 (dynamic quantization: int8 weights, activations
    quantized per batch at run time) for faster CPU inference, early-exit models included.

    The exit rule does not change: exits, temperatures and thresholds stay in `model.config`, and the exits
    themselves stay in float32, so `model(**inputs)`, `exit_threshold=...` and
    `pipeline("text-classification", model=quantized, tokenizer=tokenizer)` work as before. Exit confidences move
    slightly with the quantized backbone; [`calibrate_temperatures`] on the quantized model refits the temperatures
    to them (our measurement on Rotten Tomatoes: docs/benchmarks.md, "Early exit with int8").

    It uses `torch.ao.quantization.quantize_dynamic`, which PyTorch has deprecated in favour of torchao: calling this
    function therefore emits PyTorch's `DeprecationWarning` (and a `UserWarning` about quantized tensors), which are
    left visible on purpose. It was kept because it measured fastest of the int8 paths tried on one CPU thread (MiniLM-L6
    at batch size 1: 1.2x float32 with the default layers, 1.6x with every layer; torchao's eager int8: 0.6x).

    With `calibration_batches` (a few batches of the model's inputs, e.g. 512 training texts), each feed-forward
    block's output layer is quantized too, after SmoothQuant's smoothing of its input channels (module docstring),
    measured from those batches: the model gets faster (MiniLM-L6 at batch size 1: 1.6x float32 instead of 1.3x)
    at about the accuracy of the default (docs/benchmarks.md, "Early exit with int8").

    Quantized modules cannot be saved with safetensors: the returned model's `save_pretrained` and `push_to_hub`
    raise. Save and share the float32 model, and quantize after loading.

    Args:
        model (`torch.nn.Module`): a float32 model on the CPU, e.g. an early-exit model or a stock
            `*ForSequenceClassification` from `from_pretrained`.
        keep_float (`Sequence[str]`, *optional*): regular expressions of module names (as in
            `model.named_modules()`) whose linear layers stay in float32; defaults to [`DEFAULT_KEEP_FLOAT`] (exits,
            heads, poolers and each feed-forward block's output layer), or to the exits, heads and poolers alone
            with `calibration_batches`. `()` quantizes every linear layer, except that an early-exit model's
            exits and the pooler they read always stay in float32 (the exit loop reads their weights).
        per_channel (`bool`, *optional*, defaults to `True`): one weight scale per output channel (more accurate
            than one per tensor, at the same speed).
        inplace (`bool`, *optional*, defaults to `False`): quantize `model` itself instead of a copy.
        calibration_batches (`Iterable[dict]`, *optional*): batches of the model's keyword inputs (`labels` are
            ignored) to measure the input range of every quantized feed-forward output layer ([`FEED_FORWARD_OUTPUTS`])
            for smoothing; early-exit models run them at full depth. Without them, those layers are not smoothed.
        smoothing_alpha (`float`, *optional*, defaults to 0.8): SmoothQuant's migration strength in `(0, 1]`: how
            much of the activation range moves into the weights (0.8 was best of 0.5-0.9 on Rotten Tomatoes).

    Returns:
        `torch.nn.Module`: the quantized model, in eval mode (quantized layers cannot be trained).

    Raises:
        [`~hf_notlike.errors.HfNotlikeTypeError`]: `model` is not a `torch.nn.Module`.
        [`~hf_notlike.errors.HfNotlikeInputError`]: a model not on the CPU, not in float32, already quantized,
            without linear layers, a `keep_float` that is not a sequence of valid regular expressions or that keeps
            every linear layer in float, a PyTorch build without x86 int8 kernels, `calibration_batches` that are
            not dicts of tensors, empty, or never reach a layer to smooth, or `smoothing_alpha` outside `(0, 1]`.

    Example:

    ```python
    >>> import warnings
    >>> import torch
    >>> from hf_notlike import EarlyExitBertConfig, EarlyExitBertForSequenceClassification, quantize_dynamic_int8
    >>> config = EarlyExitBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    ...                              intermediate_size=37, exit_layers=[1, 2], num_labels=2, exit_threshold=0.9)
    >>> model = EarlyExitBertForSequenceClassification(config).eval()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # PyTorch's deprecation notice of torch.ao.quantization
    ...     quantized = quantize_dynamic_int8(model)
    >>> quantized.config.exit_threshold, quantized(torch.tensor([[2, 5, 7, 3]])).logits.shape
    (0.9, torch.Size([1, 2]))
    ```
    """
    _check_model(model)
    smoothing = calibration_batches is not None
    if smoothing and (isinstance(smoothing_alpha, bool) or not isinstance(smoothing_alpha, (int, float))
                      or not 0.0 < smoothing_alpha <= 1.0):
        raise HfNotlikeInputError(f"`smoothing_alpha` must lie in (0, 1], got {smoothing_alpha!r}; 0.8 is the default.")
    if smoothing and (isinstance(calibration_batches, (Mapping, str, torch.Tensor))
                      or not isinstance(calibration_batches, Iterable)):
        raise HfNotlikeTypeError(
            "`calibration_batches` must be an iterable of batches (dicts of the model's input tensors, e.g. from a "
            f"DataLoader with a padding collator), got {type(calibration_batches).__name__}."
        )
    if keep_float is None:
        keep_float = HEADS if smoothing else DEFAULT_KEEP_FLOAT
    if isinstance(keep_float, str) or not isinstance(keep_float, Sequence):
        raise HfNotlikeTypeError(
            f"`keep_float` must be a list of regular expressions of module names, got {keep_float!r}; wrap a single "
            "pattern in a list."
        )
    try:
        patterns = [re.compile(pattern) for pattern in keep_float]
    except (re.error, TypeError) as error:
        raise HfNotlikeInputError(f"`keep_float` holds an invalid regular expression: {error}.") from None
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    always_float = _exit_modules(model)
    chosen = [name for name in names if not any(pattern.search(name) for pattern in patterns)
              and not any(name == prefix or name.startswith(prefix + ".") for prefix in always_float)]
    if not chosen:
        raise HfNotlikeInputError(
            f"`keep_float` keeps all {len(names)} linear layers in float32, so nothing would be quantized; pass "
            "fewer patterns (None for the defaults)."
        )
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic

    model.eval()
    if smoothing:
        smoothed = [name for name in chosen if any(re.search(pattern, name) for pattern in FEED_FORWARD_OUTPUTS)]
        if not inplace:
            model = copy.deepcopy(model)
        _smooth(model, smoothed, calibration_batches, float(smoothing_alpha))
        chosen = [f"{name}.linear" if name in smoothed else name for name in chosen]
        inplace = True
    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    logger.info("Quantizing %d of %d linear layers to int8 (dynamic, %s weights%s)", len(chosen), len(names),
                "per-channel" if per_channel else "per-tensor",
                f", {len(smoothed)} smoothed with alpha {smoothing_alpha:g}" if smoothing else "")
    quantized = quantize_dynamic(model, {name: qconfig for name in chosen}, dtype=torch.qint8, inplace=inplace)
    if inplace:
        quantized = model
    for method in ("save_pretrained", "push_to_hub"):
        if hasattr(quantized, method):
            setattr(quantized, method, _refuse_saving)
    return quantized.eval()


def _smooth(model: nn.Module, names: list[str], calibration_batches: Iterable[dict], alpha: float) -> None:
    """Replaces each named linear layer of `model` by a [`SmoothedLinear`] with SmoothQuant's scales
    `s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha)`, `max|X_j|` measured on the calibration batches (an iterable
    that `quantize_dynamic_int8` checked)."""
    if not names:
        return
    modules = dict(model.named_modules())
    ranges: dict[str, torch.Tensor] = {}

    def recorder(name):
        def hook(module, args):
            largest = args[0].detach().abs().reshape(-1, args[0].shape[-1]).amax(dim=0).float()
            ranges[name] = largest if name not in ranges else torch.maximum(ranges[name], largest)
        return hook

    hooks = [modules[name].register_forward_pre_hook(recorder(name)) for name in names]
    full_depth = {"exit_threshold": 1.0} if _is_early_exit_model(model) else {}
    count = 0
    try:
        with torch.inference_mode():
            for batch in calibration_batches:
                if not isinstance(batch, Mapping) or not all(isinstance(v, torch.Tensor) for v in batch.values()):
                    raise HfNotlikeTypeError(
                        f"Every calibration batch must be a dict of tensors (the model's keyword inputs), got "
                        f"{type(batch).__name__}."
                    )
                model(**{k: v for k, v in batch.items() if k != "labels"}, **full_depth)
                count += 1
    finally:
        for hook in hooks:
            hook.remove()
    if count == 0:
        raise HfNotlikeInputError("`calibration_batches` is empty; give a few batches of the model's inputs.")
    missing = [name for name in names if name not in ranges]
    if missing:
        raise HfNotlikeInputError(
            f"The calibration batches never reached {missing[:3]}; run batches the model processes at full depth."
        )
    for name in names:
        linear = modules[name]
        activation = ranges[name].to(linear.weight.dtype).clamp(min=1e-5)
        weight = linear.weight.detach().abs().amax(dim=0).clamp(min=1e-5)
        scale = activation.pow(alpha) / weight.pow(1.0 - alpha)
        if not bool(torch.isfinite(scale).all()):
            raise HfNotlikeInputError(f"The calibration batches gave non-finite input ranges for `{name}`.")
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, SmoothedLinear(linear, scale))
