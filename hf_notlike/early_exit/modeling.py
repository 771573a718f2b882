# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Early-exit encoders for sequence classification: BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DistilBERT, DeBERTa-v2/v3,
ModernBERT and MPNet.

Schwartz, Stanovsky, Swayamdipta, Dodge and Smith (ACL 2020), "The Right Tool for the Job: Matching Model and
Instance Complexities": a small classifier ("exit") sits after several encoder layers, all exits are trained
jointly, and at inference each instance leaves at the first exit whose temperature-calibrated confidence
`max softmax(z / T_k)` reaches one threshold. Unlike the paper's code, batches are supported: rows that have left are
dropped from the batch before the next layer, and the sequence is trimmed to the columns the remaining rows use.

Exits can also be added to a fine-tuned classifier, whose own head becomes the last exit while the backbone stays
frozen (`from_classifier`, the second stage of DeeBERT, Xin et al., ACL 2020), and trained on the last exit's soft
predictions (self-distillation).

The exit loop is written once, in [`EarlyExitModelMixin`]; what differs between architectures lives in the small
adapters of `adapters.py`. This file imports only `torch`, `transformers` and its siblings `configuration.py` and
`adapters.py`, so that it can be copied into a Hub repository and loaded with `trust_remote_code=True` where
`hf_notlike` is not installed.
"""

import logging
import math
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertModel,
    BertPreTrainedModel,
    DebertaV2Model,
    DebertaV2PreTrainedModel,
    DistilBertModel,
    DistilBertPreTrainedModel,
    ElectraModel,
    ElectraPreTrainedModel,
    ModernBertModel,
    ModernBertPreTrainedModel,
    MPNetModel,
    MPNetPreTrainedModel,
    PretrainedConfig,
    RobertaModel,
    RobertaPreTrainedModel,
    XLMRobertaModel,
    XLMRobertaPreTrainedModel,
)
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput
from transformers.utils.generic import can_return_tuple

from .adapters import (
    BertAdapter,
    DebertaV2Adapter,
    DistilBertAdapter,
    ElectraAdapter,
    EncoderAdapter,
    ModernBertAdapter,
    MPNetAdapter,
    RobertaAdapter,
)
from .configuration import (
    EARLY_EXIT_FIELDS,
    EXIT_HEADS,
    EXIT_INPUTS,
    EarlyExitBertConfig,
    EarlyExitDebertaV2Config,
    EarlyExitDistilBertConfig,
    EarlyExitElectraConfig,
    EarlyExitModernBertConfig,
    EarlyExitMPNetConfig,
    EarlyExitRobertaConfig,
    EarlyExitXLMRobertaConfig,
)

# a child of the `hf_notlike` logger (`hf_notlike.logging` sets its level); stdlib only: this file is copied into
# Hub repos and imports nothing of the package
logger = logging.getLogger(__name__)

IGNORE_LABEL = -100
"""The label of a row that no gold-label term reads (PyTorch's and transformers' ignore index)."""

# Every parameter or submodule assignment in the process bumps this count (torch's global registration hooks, public
# API; they add one Python call per registration), so that the exit loop's cache of fused exits tells a replaced exit,
# classifier or pooler from the one it fused without walking the modules on every pass; changes in place are seen by
# the tensors' version counters.
_ASSIGNMENTS = [0]


def _count_assignment(*args) -> None:
    _ASSIGNMENTS[0] += 1


torch.nn.modules.module.register_module_parameter_registration_hook(_count_assignment)
torch.nn.modules.module.register_module_module_registration_hook(_count_assignment)

# the class of `model.card_data` (see `register_card_data`); None in the self-contained Hub copy of this file
_CARD_DATA_CLASS = None
_PUSH_KWARGS = ("repo_id", "commit_message", "commit_description", "private", "revision", "create_pr")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


def register_card_data(card_data_class) -> None:
    """Sets the class of `model.card_data`, the object that writes the model card of every early-exit model.

    `hf_notlike.early_exit` registers `EarlyExitModelCardData` when imported. This file must stay self-contained (it
    is copied into Hub repos and loaded with `trust_remote_code=True` where hf_notlike is absent), so it only relies
    on this duck-typed protocol: the class is built with no arguments, and provides
    `write_card(model, save_directory, repo_id=None)` (writes README.md into a saved folder),
    `record_source(name_or_path)` (called by `from_pretrained`) and a `tags` list.

    Args:
        card_data_class (`type` or `None`): the class; None stops card writing.
    """
    global _CARD_DATA_CLASS
    _CARD_DATA_CLASS = card_data_class


# checks a "local folder or Hub repo id" argument before any Hub request (see `register_source_check`); None in the
# self-contained Hub copy of this file, where transformers reports a missing folder itself
_SOURCE_CHECK = None


def register_source_check(check) -> None:
    """Sets the function that every loading entry point of this file (`from_pretrained`, `from_classifier`,
    `early_exit_from_classifier`) calls first on its "folder or Hub repo id" argument: it raises for a local path
    that does not exist (naming close names) and returns otherwise. `hf_notlike.early_exit` registers
    `hf_notlike.paths.check_local_or_hub`; this file stays self-contained (only torch and transformers).

    Args:
        check (`Callable` or `None`): called as `check(name_or_path, what)`; None turns the check off.
    """
    global _SOURCE_CHECK
    _SOURCE_CHECK = check


def _check_source(pretrained_model_name_or_path, what: str = "model folder") -> None:
    if _SOURCE_CHECK is not None and isinstance(pretrained_model_name_or_path, (str, os.PathLike)):
        _SOURCE_CHECK(pretrained_model_name_or_path, what)


@dataclass
class EarlyExitSequenceClassifierOutput(ModelOutput):
    r"""
    Output of the early-exit sequence classifiers.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            In training mode, the training objective (`training_loss`). In eval mode, the loss of the last exit
            alone (cross-entropy; MSE for regression), which is what a stock `*ForSequenceClassification` of the
            same backbone reports, so that `eval_loss` can be compared with a stock model's.
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            For each row, the (uncalibrated) logits of the exit it left at.
        exit_layer (`torch.LongTensor` of shape `(batch_size,)`):
            For each row, the 1-based encoder layer after which it left.
        exit_logits (`torch.FloatTensor` of shape `(batch_size, num_exits, num_labels)`, *optional*):
            The logits of every exit for every row; returned in training, when `labels` are given, or with
            `output_all_exits=True`.
        training_loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            The training objective in both modes: the `exit_loss_weights`-weighted sum over exits of each exit's
            loss (with self-distillation mixed into the intermediate exits' terms when `distillation_weight > 0`,
            and distillation from the anchor classifier into every exit's term when `anchor_weight > 0` and
            `model.anchor_model` is attached).
        exit_losses (`torch.FloatTensor` of shape `(num_exits,)`, *optional*, returned when `labels` is provided):
            Each exit's own loss on the gold labels (unweighted, no distillation).
        hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned with `output_hidden_states=True`):
            As the stock model gives them, for the layers that ran: the embedding output, then one
            `(batch_size, sequence_length, hidden_size)` tensor per layer up to the deepest layer any row ran.
            In the early-exit path, the rows that had already left hold zeros in the later layers.
        attentions (`tuple(torch.FloatTensor)`, *optional*, returned with `output_attentions=True`):
            As the stock model gives them (needs `attn_implementation="eager"`), for the layers that ran; rows
            that had already left hold zeros, as for `hidden_states`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    exit_layer: torch.LongTensor | None = None
    exit_logits: torch.FloatTensor | None = None
    training_loss: torch.FloatTensor | None = None
    exit_losses: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None

    def __setattr__(self, name, value):
        # a field is set as `ModelOutput.__setattr__` sets it (kept in the dict when not None, and as an attribute),
        # without listing the dataclass's fields for each one (that was half the cost of building this output)
        if name in _OUTPUT_FIELDS:
            if value is not None:
                OrderedDict.__setitem__(self, name, value)
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


_OUTPUT_FIELDS = frozenset(field.name for field in dataclass_fields(EarlyExitSequenceClassifierOutput))


def exit_confidences(exit_logits: torch.Tensor, temperatures: torch.Tensor | list[float]) -> torch.Tensor:
    """Calibrated confidence `max softmax(z_k / T_k)` of every exit, shape `(batch_size, num_exits)`.

    Args:
        exit_logits (`torch.Tensor` of shape `(batch_size, num_exits, num_labels)`): logits of every exit.
        temperatures (`torch.Tensor` or `list[float]` of length `num_exits`): one temperature per exit.
    """
    temps = torch.as_tensor(temperatures, dtype=exit_logits.dtype, device=exit_logits.device)
    return torch.softmax(exit_logits / temps[None, :, None], dim=-1).amax(dim=-1)


def select_exits(
    exit_logits: torch.Tensor, temperatures: torch.Tensor | list[float], threshold: float | list[float] | torch.Tensor
) -> torch.Tensor:
    """The index of the exit every row leaves at: the first whose calibrated confidence is `>= threshold` (that exit's
    threshold, when one is given per exit), else the last one. A threshold of 1.0 never leaves at that exit; a
    single-output regression head always selects the last exit.

    Args:
        exit_logits (`torch.Tensor` of shape `(batch_size, num_exits, num_labels)`): logits of every exit.
        temperatures (`torch.Tensor` or `list[float]` of length `num_exits`): one temperature per exit.
        threshold (`float`, or `list[float]` / `torch.Tensor` of length `num_exits`): the exit threshold, in
            `(0, 1]`, for every exit or one per exit (the last exit's value is not used).

    Returns:
        `torch.LongTensor` of shape `(batch_size,)`.
    """
    batch_size, num_exits = exit_logits.shape[:2]
    last = torch.full((batch_size,), num_exits - 1, dtype=torch.long, device=exit_logits.device)
    if exit_logits.shape[-1] == 1:
        return last
    if isinstance(threshold, (int, float)):
        if threshold >= 1.0:
            return last
        passes = exit_confidences(exit_logits, temperatures) >= threshold
    else:
        if not isinstance(threshold, torch.Tensor):  # float64 first: each value rounds as a Python float would
            if len(threshold) == num_exits and all(float(t) >= 1.0 for t in threshold[:-1]):
                return last  # decided on the host list: no read back of a device tensor
            threshold = torch.tensor([float(t) for t in threshold], dtype=torch.float64)
        per_exit = threshold.to(device=exit_logits.device, dtype=exit_logits.dtype)
        if per_exit.shape != (num_exits,):
            raise ValueError(f"Got {tuple(per_exit.shape)} thresholds for {num_exits} exits; give one per exit.")
        if bool((per_exit[:-1] >= 1.0).all()):
            return last
        passes = (exit_confidences(exit_logits, temperatures) >= per_exit) & (per_exit < 1.0)
    passes[:, -1] = True
    return passes.to(torch.long).argmax(dim=-1)  # index of the first True


class EarlyExitClassifier(nn.Module):
    """One exit: mixes the pooled states it reads (when `weighted`), then, for an `"mlp"` head, a dense layer with
    tanh, then dropout and a linear layer."""

    def __init__(self, config, num_inputs: int, weighted: bool, dropout: float, head: str = "linear"):
        super().__init__()
        self.mix_logits = nn.Parameter(torch.zeros(num_inputs)) if weighted else None
        self.dense = nn.Linear(config.hidden_size, config.hidden_size) if head == "mlp" else None
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    @property
    def linear(self) -> bool:
        """Whether the logits are linear in the pooled states (no dense layer): what [`_FusedExits`] fuses."""
        return self.dense is None

    def forward(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """`pooled`: the pooled state of layers 1..k (all of them for the `weighted_*` inputs, at least the last)."""
        if self.mix_logits is None:
            features = pooled[-1]
        else:
            weights = torch.softmax(self.mix_logits, dim=0).to(pooled[-1].dtype)
            features = torch.einsum("lbh,l->bh", torch.stack(pooled[-len(weights) :]), weights)
        if self.dense is not None:
            features = torch.tanh(self.dense(features))
        return self.classifier(self.dropout(features))


@dataclass
class _FusedExits:
    """The intermediate exits one early-exit pass evaluates, fused for the exit loop.

    In eval mode an exit's logits are linear in the pooled layer states it reads (mixing weights `a_kl`, dropout as
    the identity, then the linear layer `W_k`, `b_k`): `W_k (sum_l a_kl p_l) + b_k = sum_l (a_kl W_k) p_l + b_k`.
    So each layer's pooled state `p_l` goes through one matrix product, `projections[l]` (the `a_kl W_k` of every
    evaluated exit `k` that reads layer `l`, side by side), added to running logits that start from the biases;
    an exit's logits are its slice of the running sum when its layer is reached. This replaces, per evaluated exit,
    stacking the pooled states, mixing them and the classifier call by one `addmm` per layer. For two labels the
    projections also carry each exit's calibrated margin `(z_1 - z_0) / T_k`, and `max softmax(z / T_k) >= t` is
    decided as `|margin| >= log(t / (1 - t))` (the same rule: the larger softmax probability of two classes is the
    sigmoid of the absolute margin), without a softmax.

    Exits with a dense layer (`exit_head="mlp"`) are not linear: then `linear` is False, `projections` only names the
    layers the evaluated exits read (the loop pools those) and the loop calls each exit on them when it is reached."""

    slots: dict[int, int]  # exit index -> its position among the evaluated exits
    projections: dict[int, torch.Tensor]  # layer number (1-based) -> (hidden_size, len(slots) * num_labels)
    bias: torch.Tensor  # (1, len(slots) * num_labels)
    num_labels: int
    temperatures: list[float]  # of every exit of the model
    margins: bool  # two labels: the last len(slots) columns are the calibrated margins
    pool: Callable[[torch.Tensor], torch.Tensor]  # the pooler of one layer summary (`model._single_pool()`)
    linear: bool = True  # False: the exits are not fused (see above); `bias` is then empty

    @classmethod
    def build(cls, model, evaluated: tuple[int, ...], num_layers: int, dtype: torch.dtype, device) -> "_FusedExits":
        config, num_labels = model.config, model.num_labels
        if not all(model.exits[k].linear for k in evaluated):
            reads = set()
            for k in evaluated:
                mix = model.exits[k].mix_logits
                layer = config.exit_layers[k]
                reads.update(range(layer - (len(mix) if mix is not None else 1) + 1, layer + 1))
            return cls(slots={k: slot for slot, k in enumerate(evaluated)}, projections=dict.fromkeys(sorted(reads)),
                       bias=torch.empty(1, 0, device=device, dtype=dtype), num_labels=num_labels,
                       temperatures=[float(t) for t in config.temperatures], margins=False, pool=model._single_pool(),
                       linear=False)
        weights = torch.stack([model.exits[k].classifier.weight for k in evaluated]).to(device=device, dtype=dtype)
        biases = [model.exits[k].classifier.bias for k in evaluated]
        bias = torch.cat([b if b is not None else weights.new_zeros(num_labels) for b in biases])
        temperatures = [float(t) for t in config.temperatures]
        margins = num_labels == 2
        if margins:  # one more output per exit: (z_1 - z_0) / T_k
            scale = torch.tensor([1.0 / temperatures[k] for k in evaluated], device=device, dtype=dtype)[:, None]
            margin_weights = (weights[:, 1] - weights[:, 0]) * scale  # (exits, hidden)
            weights = torch.cat([weights.reshape(-1, weights.shape[-1]), margin_weights])[None]
            bias = bias.to(device=device, dtype=dtype)
            bias = torch.cat([bias, (bias.view(-1, 2)[:, 1] - bias.view(-1, 2)[:, 0]) * scale[:, 0]])
        coefficients = weights.new_zeros(num_layers, len(evaluated))
        reads: set[int] = set()
        for slot, k in enumerate(evaluated):
            layer, mix = config.exit_layers[k], model.exits[k].mix_logits
            if mix is None:  # the exit reads its own layer
                coefficients[layer - 1, slot] = 1.0
                reads.add(layer)
            else:  # the last `len(mix)` layers up to its own, mixed as `EarlyExitClassifier.forward` mixes them
                mixed = torch.softmax(mix, dim=0).to(device=device, dtype=dtype)
                coefficients[layer - len(mixed) : layer, slot] = mixed
                reads.update(range(layer - len(mixed) + 1, layer + 1))
        if margins:  # the coefficient of each output row: its exit's, for the logits and the margin alike
            rows = torch.cat([coefficients.repeat_interleave(2, dim=1), coefficients], dim=1)
            weights = weights[0]
        else:
            rows = coefficients.repeat_interleave(num_labels, dim=1)
            weights = weights.reshape(-1, weights.shape[-1])
        projections = {layer: (rows[layer - 1][:, None] * weights).T.contiguous() for layer in sorted(reads)}
        return cls(slots={k: slot for slot, k in enumerate(evaluated)}, projections=projections,
                   bias=bias.to(device=device, dtype=dtype)[None], num_labels=num_labels,
                   temperatures=temperatures, margins=margins, pool=model._single_pool())

    def logits(self, running: torch.Tensor, k: int) -> torch.Tensor:
        """Exit `k`'s logits, `(rows, num_labels)`, once the loop has reached its layer."""
        start = self.slots[k] * self.num_labels
        return running[:, start : start + self.num_labels]

    def confident(self, running: torch.Tensor, logits: torch.Tensor, k: int, threshold: float):
        """Rows whose calibrated confidence `max softmax(z / T_k)` reaches the threshold (as `exit_confidences`), and
        rows too close to the threshold to trust the fused arithmetic's rounding (the loop decides those with the
        exit's own forward, as the all-exits pass computes it)."""
        if self.margins:
            column = len(self.slots) * 2 + self.slots[k]
            gap = running[:, column].abs() - math.log(threshold / (1.0 - threshold))
            return gap >= 0, gap.abs() <= 1e-4
        gap = torch.softmax(logits / self.temperatures[k], dim=-1).amax(dim=-1) - threshold
        return gap >= 0, gap.abs() <= 1e-5

    def confident_row(self, running: torch.Tensor, logits: torch.Tensor, k: int, threshold: float) -> tuple[bool, bool]:
        """[`confident`] for a batch of one row, decided on the host from one read back (batch size 1 is where the
        loop's small operations cost the most): whether the row leaves, and whether it is too close to tell."""
        if self.margins:
            gap = abs(float(running[0, len(self.slots) * 2 + self.slots[k]])) - math.log(threshold / (1.0 - threshold))
            return gap >= 0, abs(gap) <= 1e-4
        done, close = self.confident(running, logits, k, threshold)
        leave, unsure = torch.cat([done, close]).tolist()
        return leave, unsure


# ------------------------------------------------------------------------------- the exits' layout in the weights

# Every early-exit model saves, next to its weights, one small int64 buffer that records the configuration fields
# that shape the exits: [format, num_hidden_layers, index of exit_input in EXIT_INPUTS, flags, *exit_layers], where
# flags is head_from_classifier + 2 * (index of exit_head in EXIT_HEADS) (format 1, before exit_head existed: the
# same with linear exits; one length for both, so that an older checkpoint's buffer loads into a newer model).
# `from_pretrained` compares it (or, for checkpoints saved before the buffer existed, what the weight names and
# shapes show) with config.json before loading, so that a hand-edited config cannot move exits silently, and then
# rewrites it in the current format.
LAYOUT_KEY = "early_exit_layout"
_LAYOUT_FORMAT = 2
_LAYER_NUMBER = re.compile(r"\.(?:layer|layers)\.(\d+)\.")
_EXIT_KEY = re.compile(r"^exits\.(\d+)\.(.+)$")


def exit_layout(config) -> dict:
    """The fields of an early-exit `config` that shape the exits' weights (what the saved layout buffer records)."""
    return {
        "num_hidden_layers": config.num_hidden_layers,
        "exit_input": config.exit_input,
        "exit_head": config.exit_head,
        "head_from_classifier": bool(config.head_from_classifier),
        "exit_layers": list(config.exit_layers),
    }


def _layout_tensor(config) -> torch.Tensor:
    layout = exit_layout(config)
    flags = int(layout["head_from_classifier"]) + 2 * EXIT_HEADS.index(layout["exit_head"])
    values = [_LAYOUT_FORMAT, layout["num_hidden_layers"], EXIT_INPUTS.index(layout["exit_input"]), flags,
              *layout["exit_layers"]]
    return torch.tensor(values, dtype=torch.long)


def _decode_layout(values: list[int]) -> dict | None:
    """The fields recorded in a layout buffer; None for an unknown format (a newer version of this code)."""
    if len(values) < 5 or values[0] not in (1, _LAYOUT_FORMAT) or not 0 <= values[2] < len(EXIT_INPUTS):
        return None
    flags = values[3] if values[0] == _LAYOUT_FORMAT else int(bool(values[3]))  # format 1: linear exits
    if not 0 <= flags >> 1 < len(EXIT_HEADS):
        return None
    return {"num_hidden_layers": values[1], "exit_input": EXIT_INPUTS[values[2]], "exit_head": EXIT_HEADS[flags >> 1],
            "head_from_classifier": bool(flags & 1), "exit_layers": list(values[4:])}


def _safetensors_files(pretrained_model_name_or_path, hub_kwargs: dict) -> list[str]:
    """The local paths of a checkpoint's safetensors weights (downloaded into the cache for a Hub id, as
    `from_pretrained` does next); [] when there are none (e.g. a `.bin` checkpoint) or they cannot be had."""
    import json

    from transformers.utils import cached_file

    source = os.fspath(pretrained_model_name_or_path)
    subfolder = hub_kwargs.get("subfolder") or ""
    kwargs = {key: value for key, value in hub_kwargs.items() if key not in ("subfolder", "trust_remote_code")}

    def resolve(name: str) -> str | None:
        if os.path.isdir(source):
            path = os.path.join(source, subfolder, name)
            return path if os.path.isfile(path) else None
        try:
            return cached_file(source, name, subfolder=subfolder, _raise_exceptions_for_missing_entries=False,
                               _raise_exceptions_for_connection_errors=False, **kwargs)
        except (OSError, ValueError):
            return None

    single = resolve("model.safetensors")
    if single is not None:
        return [single]
    index = resolve("model.safetensors.index.json")
    if index is None:
        return []
    with open(index, encoding="utf-8") as file:
        shards = sorted(set(json.load(file).get("weight_map", {}).values()))
    paths = [resolve(name) for name in shards]
    return [path for path in paths if path is not None]


def _checkpoint_layout(files: list[str], prefix: str) -> tuple[dict, bool] | None:
    """What a checkpoint's weights say about its exits: `(fields, recorded)`, where `recorded` tells whether the
    fields come from the saved layout buffer (all of them) or were read off the weight names and shapes (a
    checkpoint saved before the buffer existed: the fields that cannot be read are left out). None for a checkpoint
    without exits (a plain backbone, whose exits get initialised)."""
    from safetensors import safe_open

    layers, exits, mix_sizes, dense, recorded = set(), set(), {}, set(), None
    for path in files:
        with safe_open(path, framework="pt") as file:
            for key in file.keys():
                if key == LAYOUT_KEY:
                    recorded = _decode_layout(file.get_tensor(key).tolist())
                elif (match := _EXIT_KEY.match(key)) is not None:
                    exits.add(int(match.group(1)))
                    if match.group(2) == "mix_logits":
                        mix_sizes[int(match.group(1))] = file.get_slice(key).get_shape()[0]
                    elif match.group(2).startswith("dense."):
                        dense.add(int(match.group(1)))
                elif key.startswith(f"{prefix}.") and (match := _LAYER_NUMBER.search(key)) is not None:
                    layers.add(int(match.group(1)))
    if not exits:
        return None
    if recorded is not None:
        return recorded, True
    fields = {"num_exits": len(exits), "mix_sizes": mix_sizes, "exit_head": "mlp" if dense else "linear"}
    if layers:
        fields["num_hidden_layers"] = max(layers) + 1
    return fields, False


class _Seen(str):
    """What the weights show of a field, in words (not a value of it): named as is in the error, with no fix."""


def _layout_mismatches(config, fields: dict, recorded: bool) -> list[tuple[str, object, object]]:
    """`(field, value in config, value in the weights)` for each early-exit field on which they disagree."""
    expected = exit_layout(config)
    if recorded:
        return [(name, expected[name], fields[name]) for name in expected if expected[name] != fields[name]]
    problems = []
    if "num_hidden_layers" in fields and fields["num_hidden_layers"] != expected["num_hidden_layers"]:
        problems.append(("num_hidden_layers", expected["num_hidden_layers"], fields["num_hidden_layers"]))
    if fields["exit_head"] != expected["exit_head"]:
        problems.append(("exit_head", expected["exit_head"], fields["exit_head"]))
    layers, mix_sizes = expected["exit_layers"], fields["mix_sizes"]
    if fields["num_exits"] != len(layers):
        problems.append(("exit_layers", layers, _Seen(f"{fields['num_exits']} exits")))
        return problems
    last = len(layers) - 1
    weighted = expected["exit_input"].startswith("weighted_")
    if not weighted and any(k != last for k in mix_sizes):
        problems.append(("exit_input", expected["exit_input"],
                         _Seen("a weighted_* input (the exits have mix weights)")))
    elif weighted and any(k not in mix_sizes for k in range(last)):
        problems.append(("exit_input", expected["exit_input"],
                         _Seen("'cls' or 'mean' (the exits have no mix weights)")))
    if weighted and last > 0 and last in mix_sizes and expected["head_from_classifier"]:
        problems.append(("head_from_classifier", True, False))
    elif weighted and last not in mix_sizes and not expected["head_from_classifier"]:
        problems.append(("head_from_classifier", False, True))
    read = [mix_sizes.get(k) for k in range(len(layers))]
    if any(size is not None and size != layer for size, layer in zip(read, layers)):
        shown = read if None not in read else _Seen(f"{[size if size is not None else '?' for size in read]}")
        problems.append(("exit_layers", layers, shown))
    return problems


def _layout_error(source: str, problems: list[tuple[str, object, object]]) -> ValueError:
    said = "; ".join(f"`{name}` is {config!r} in the configuration but "
                     f"{weights if isinstance(weights, _Seen) else repr(weights)} in the weights"
                     for name, config, weights in problems)
    fixes = ", ".join(f"{name}={weights!r}" for name, _, weights in problems if not isinstance(weights, _Seen))
    return ValueError(
        f"The weights of {source!r} do not match its configuration: {said}. The exits are built from these fields, "
        "so a changed config.json (or a keyword argument of from_pretrained) cannot move or reshape them. Restore "
        f"the saved values in config.json{f' ({fixes})' if fixes else ''} or drop the keyword argument; to put "
        "exits elsewhere, build a new model from the backbone (e.g. `from_pretrained(backbone, exit_layers=...)`, "
        "or `early_exit_from_classifier`) and train its exits."
    )




def _versions(tensors: list[torch.Tensor]) -> tuple | None:
    """Where each tensor's values live and how often they were changed in place; None for inference tensors
    (made under `torch.inference_mode`), which have no version counter."""
    try:
        return tuple((t.data_ptr(), t._version) for t in tensors)
    except RuntimeError:
        return None


def _reads_are_free(tensor: torch.Tensor) -> bool:
    """Reading a tensor's values back costs no device synchronisation (it is on the CPU). Tests replace this to take
    the accelerator path on CPU tensors."""
    return tensor.device.type == "cpu"


@dataclass(frozen=True)
class InputLimits:
    """The ranges [`check_input_values`] holds a batch to: token ids in `[0, vocab_size)`, token types in
    `[0, type_vocab_size)`, positions in `[0, max_position_embeddings)`, class labels in `[0, num_labels)` or -100."""

    vocab_size: int
    type_vocab_size: int
    max_position_embeddings: int
    num_labels: int


def _integer(tensor) -> bool:
    return isinstance(tensor, torch.Tensor) and not (
        tensor.dtype.is_floating_point or tensor.dtype.is_complex or tensor.dtype == torch.bool
    )


def check_input_values(inputs: dict, labels: torch.Tensor | None, limits: InputLimits) -> None:
    """Checks the values of a batch's tensors: token ids, token types, positions and class labels in range, an
    `attention_mask` of 0 and 1 without left padding. Every condition is computed where the tensors are and read back
    in one `tolist()` (one device synchronisation per device, none on the CPU); only when one fails are the details
    of the message read. Tensors of a type or shape the model rejects anyway are left to its `forward`.

    Args:
        inputs (`dict[str, torch.Tensor]`): `input_ids`, `attention_mask`, `token_type_ids` and `position_ids`,
            any of them (other keys are ignored).
        labels (`torch.Tensor`, *optional*): one label per row; checked as class indices when
            `limits.num_labels >= 2` and they are integers.
        limits ([`InputLimits`]): the model's ranges.

    Raises:
        `ValueError` naming the input and the fix.
    """
    if _surely_valid_on_the_cpu(inputs, labels, limits):
        return
    checks: list[tuple[torch.Tensor, object]] = []  # (flag: true when bad, message builder)
    ids = inputs.get("input_ids")
    if _integer(ids) and ids.numel():
        checks.append(((ids < 0).any() | (ids >= limits.vocab_size).any(), lambda: (
            f"`input_ids` holds ids outside [0, {limits.vocab_size}) (vocab_size); got min {int(ids.min())}, max "
            f"{int(ids.max())}. Use the tokenizer of this model.")))
    mask = inputs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and not mask.dtype.is_complex and mask.dim() == 2 and mask.numel():
        checks.append((~((mask == 0) | (mask == 1)).all(),
                       lambda: "`attention_mask` must hold only 0 (padding) and 1 (token)."))
        checks.append(((mask.bool().any(dim=1) & ~mask[:, 0].bool()).any(), lambda: (
            "`attention_mask` shows left padding; the exits read the first token, so pad on the right "
            "(tokenizer.padding_side = 'right', the default of these models).")))
    types = inputs.get("token_type_ids")
    if _integer(types) and types.numel():
        checks.append(((types < 0).any() | (types >= limits.type_vocab_size).any(),
                       lambda: f"`token_type_ids` must lie in [0, {limits.type_vocab_size}) (type_vocab_size)."))
    positions = inputs.get("position_ids")
    if _integer(positions) and positions.numel():
        checks.append(((positions < 0).any() | (positions >= limits.max_position_embeddings).any(),
                       lambda: f"`position_ids` must lie in [0, {limits.max_position_embeddings})."))
    if limits.num_labels >= 2 and _integer(labels) and labels.numel():
        flat = labels.reshape(-1)
        valid = (flat >= 0) & (flat < limits.num_labels) | (flat == IGNORE_LABEL)
        checks.append((~valid.all(), lambda: (
            f"`labels` must be class indices in [0, {limits.num_labels}) (or -100 to ignore a row), got "
            f"{sorted(set(flat[~valid].tolist()))[:5]}.")))
    if not checks:
        return
    by_device: dict[torch.device, list[int]] = {}
    for i, (flag, _) in enumerate(checks):
        by_device.setdefault(flag.device, []).append(i)
    failed = [False] * len(checks)
    for indices in by_device.values():  # one read back per device (one in practice)
        for i, bad in zip(indices, torch.stack([checks[i][0] for i in indices]).tolist()):
            failed[i] = bad
    for bad, (_, message) in zip(failed, checks):
        if bad:
            raise ValueError(message())


def _within(tensor: torch.Tensor, low: int, high: int) -> bool:
    """All values in `[low, high)`: one `aminmax` and two host reads (CPU tensors only)."""
    smallest, largest = torch.aminmax(tensor)
    return int(smallest) >= low and int(largest) < high


def _surely_valid_on_the_cpu(inputs: dict, labels: torch.Tensor | None, limits: InputLimits) -> bool:
    """The usual inference batch on the CPU, checked with a few reductions: ids, token types and positions in
    range, an integer `attention_mask` of 0 and 1 whose first column is all 1 (no left padding), no labels. False
    when any of that does not hold (or cannot be decided this way): `check_input_values` then runs every check and
    names the problem."""
    if labels is not None:
        return False
    present = [inputs.get(name) for name in ("input_ids", "attention_mask", "token_type_ids", "position_ids")]
    if not all(t is None or (isinstance(t, torch.Tensor) and _reads_are_free(t) and t.numel()) for t in present):
        return False
    ids, mask, types, positions = present
    if ids is not None and not (_integer(ids) and _within(ids, 0, limits.vocab_size)):
        return False
    if mask is not None:
        if not (_integer(mask) and mask.dim() == 2):
            return False
        smallest, largest = (int(v) for v in torch.aminmax(mask))
        # all 1 (no padding: the usual single sentence) or 0/1 with the first column all 1 (no left padding)
        if not (0 <= smallest and largest <= 1 and (smallest == 1 or bool(mask[:, 0].all()))):
            return False
    if types is not None and not (_integer(types) and _within(types, 0, limits.type_vocab_size)):
        return False
    return positions is None or (_integer(positions) and _within(positions, 0, limits.max_position_embeddings))


def _bad(kind: type[Exception], message: str):
    raise kind(message)


class EarlyExitModelMixin:
    """The shared machinery of exits, loss and the exit loop; each architecture gives its backbone and an adapter
    (`adapters.py`)."""

    adapter: EncoderAdapter = BertAdapter()
    # the loss is a mean over the batch: the Trainer normalises it under gradient accumulation
    accepts_loss_kwargs = False
    # checkpoints saved before the layout buffer existed load without it (it then holds the config's layout)
    _keys_to_ignore_on_load_missing = [rf"^{LAYOUT_KEY}$"]

    # --- saving, loading and pushing (the model card is written through `card_data`, see `register_card_data`) ---

    @property
    def card_data(self):
        """What the model card says beyond the configuration: an instance of the class given to
        [`register_card_data`] (`hf_notlike.early_exit.EarlyExitModelCardData` when hf_notlike is imported), created
        with the model; None where nothing is registered (the Hub copy of this file): then no card is written."""
        data = self.__dict__.get("_card_data")
        if data is None and _CARD_DATA_CLASS is not None:
            data = self.__dict__["_card_data"] = _CARD_DATA_CLASS()
        return data

    @card_data.setter
    def card_data(self, value) -> None:
        self.__dict__["_card_data"] = value

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`, then the model card (README.md) from `card_data`. With
        `push_to_hub=True` the saved folder is uploaded as by [`push_to_hub`] (keyword arguments `repo_id`,
        `commit_message`, `commit_description`, `private`, `revision`, `create_pr`; `token` is used for both)."""
        self.check_exits_match_config()  # never write a checkpoint that will not reload
        hub_kwargs = {key: kwargs.pop(key) for key in _PUSH_KWARGS if key in kwargs}
        repo_id = hub_kwargs.pop("repo_id", None)
        output = super().save_pretrained(save_directory, *args, **kwargs)
        if not kwargs.get("is_main_process", True):
            return output
        if push_to_hub:
            repo_id = repo_id or os.path.basename(os.path.normpath(os.fspath(save_directory)))
            return self._push_folder(save_directory, repo_id, token=kwargs.get("token"), **hub_kwargs)
        if self.card_data is not None:
            self.card_data.write_card(self, save_directory, repo_id=repo_id)
        return output

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ) -> str:
        """Saves the model (weights, config, the remote-code files and the model card) into a temporary folder and
        uploads it with `huggingface_hub.HfApi.upload_folder` (the repo is created if needed).

        Args:
            repo_id (`str`): `"user/name"` of the model repo.
            commit_message (`str`, *optional*), commit_description (`str`, *optional*): the commit.
            private (`bool`, *optional*): visibility of a new repo.
            token (`bool` or `str`, *optional*): Hub token (default: the logged-in one).
            revision (`str`, *optional*): branch to push to.
            create_pr (`bool`, *optional*, defaults to `False`): open a pull request instead of committing.
            max_shard_size (`int` or `str`, *optional*, defaults to `"50GB"`): shard size of the weights.
            tags (`list[str]`, *optional*): extra tags for the model card.

        Returns:
            `str`: the URL of the commit.

        Raises:
            `OSError` naming the repo, the endpoint and what to check when the Hub cannot be reached or refuses the
            token.
        """
        self.check_exits_match_config()
        with tempfile.TemporaryDirectory() as folder:
            super().save_pretrained(folder, max_shard_size=max_shard_size)
            return self._push_folder(
                folder, repo_id, token=token, commit_message=commit_message, commit_description=commit_description,
                private=private, revision=revision, create_pr=create_pr, tags=tags,
            )

    def _push_folder(self, folder, repo_id: str, token=None, tags=None, commit_message=None, **upload_kwargs) -> str:
        """Writes the card for `repo_id` into `folder` and uploads the folder; network failures name what to check."""
        from huggingface_hub import HfApi, constants
        from huggingface_hub.errors import HfHubHTTPError, HTTPError, OfflineModeIsEnabled

        if not isinstance(repo_id, str) or not repo_id.strip():
            raise ValueError(f"`repo_id` must be a non-empty string like 'user/name'; got {repo_id!r}.")
        if self.card_data is not None:
            if tags:
                self.card_data.tags = list(dict.fromkeys([*(self.card_data.tags or []), *tags]))
            self.card_data.write_card(self, folder, repo_id=repo_id)
        api = HfApi(token=token)
        private = upload_kwargs.pop("private", None)
        where = f"the model repo {repo_id!r} on {constants.ENDPOINT}"
        try:
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            info = api.upload_folder(
                repo_id=repo_id, folder_path=os.fspath(folder), commit_message=commit_message or "Upload model",
                **upload_kwargs,
            )
        except OfflineModeIsEnabled as error:
            raise OSError(f"Could not push the model to {where}: offline mode is on (HF_HUB_OFFLINE=1).") from error
        except HfHubHTTPError as error:
            if getattr(getattr(error, "response", None), "status_code", None) not in (401, 403):
                raise
            raise OSError(
                f"Could not push the model to {where}: the Hub refused the token. Check your token (`hf auth login`, "
                "HF_TOKEN or `token=`) and its write access to the repo."
            ) from error
        except HTTPError as error:  # no answer at all: DNS, refused connection, timeout, proxy
            raise OSError(
                f"Could not push the model to {where}: the Hub did not answer ({' '.join(str(error).split())}). "
                "Check your network connection (and proxy), the endpoint (HF_ENDPOINT) and your token."
            ) from error
        return str(getattr(info, "commit_url", info))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, with a clear error for a truncated weights file, a warning when a local
        folder has no tokenizer files, and the source recorded in `card_data` (base model, earlier card)."""
        _check_source(pretrained_model_name_or_path)
        try:
            cls.check_checkpoint_layout(pretrained_model_name_or_path, **kwargs)
            model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"Could not read the weights file `model.safetensors` of {str(pretrained_model_name_or_path)!r} "
                f"({error}): it is truncated or not a safetensors file. Save or download the model again."
            ) from error
        loaded = model[0] if isinstance(model, tuple) else model  # output_loading_info=True
        with torch.no_grad():  # checked above; an older format is rewritten in the current one
            loaded.get_buffer(LAYOUT_KEY).copy_(_layout_tensor(loaded.config))
        source = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(source) and not any(os.path.isfile(os.path.join(source, n)) for n in _TOKENIZER_FILES):
            logger.warning(
                f"{source} has no tokenizer files, so `AutoTokenizer.from_pretrained` and `pipeline(..., "
                f"model={source!r})` cannot load a tokenizer from it: save one there with "
                "`tokenizer.save_pretrained(folder)`, or pass `tokenizer=` to `pipeline`."
            )
        if loaded.card_data is not None:
            loaded.card_data.record_source(source)
        return model

    @classmethod
    def check_checkpoint_layout(cls, pretrained_model_name_or_path, **kwargs) -> None:
        """Raises a `ValueError` naming the field, its value in the configuration and in the weights, and the fix, when
        the early-exit fields that shape the exits (`exit_layers`, `exit_input`, `head_from_classifier`,
        `num_hidden_layers`) differ between a checkpoint's configuration (with the keyword arguments given to
        `from_pretrained`) and its weights. Reads the weights' names and the small layout buffer only (no tensor
        is loaded). Checkpoints without exits (a plain backbone) pass; for checkpoints saved before the layout
        buffer existed, what the weight names and shapes show is checked.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): the checkpoint (folder or Hub id).
            kwargs: the keyword arguments of `from_pretrained` (`config`, early-exit fields, Hub arguments).
        """
        if not isinstance(pretrained_model_name_or_path, (str, os.PathLike)) or kwargs.get("state_dict") is not None:
            return  # weights given in memory: nothing saved to compare with
        hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if key in kwargs}
        files = _safetensors_files(pretrained_model_name_or_path, hub_kwargs)
        if not files:
            return
        config = kwargs.get("config")
        if not isinstance(config, PretrainedConfig):
            overrides = {key: kwargs[key] for key in (*EARLY_EXIT_FIELDS, "num_hidden_layers") if key in kwargs}
            hub_kwargs.pop("trust_remote_code", None)
            try:
                config = cls.config_class.from_pretrained(config or pretrained_model_name_or_path, **hub_kwargs,
                                                          **overrides)
            except Exception:  # noqa: BLE001 - from_pretrained reports a bad configuration itself
                return
        found = _checkpoint_layout(files, cls.base_model_prefix)
        if found is None or getattr(config, "exit_layers", None) is None:
            return
        problems = _layout_mismatches(config, *found)
        if problems:
            raise _layout_error(os.fspath(pretrained_model_name_or_path), problems)

    # ---------------------------------------------------------------------------------------------------- building

    def _init_exits(self) -> None:
        """Builds the exits (and the pooler, for backbones without one) and applies `freeze_backbone`; called by
        each architecture's `__init__` after the backbone, before `post_init()`."""
        config = self.config
        config.validate_early_exit()
        self.num_labels = config.num_labels
        if self.adapter.pooler_activation(config) is not None:
            self.pooler = self.adapter.build_pooler(config)
        weighted = config.exit_input.startswith("weighted_")
        dropout = self.adapter.classifier_dropout(config)
        last = config.num_exits - 1

        def own_head(k: int) -> bool:  # the last exit of `from_classifier` is the classifier's head, as it is
            return not (k == last and config.head_from_classifier)

        self.exits = nn.ModuleList(
            EarlyExitClassifier(config, layer, weighted and own_head(k), dropout,
                                config.exit_head if own_head(k) else "linear")
            for k, layer in enumerate(config.exit_layers)
        )
        # saved with the weights, compared with the configuration on load (`check_checkpoint_layout`)
        self.register_buffer(LAYOUT_KEY, _layout_tensor(config), persistent=True)
        if config.freeze_backbone:
            for module in self._frozen_modules():
                module.requires_grad_(False)

    def _frozen_modules(self) -> list[nn.Module]:
        """What `freeze_backbone` freezes: the backbone, the pooler and the last exit."""
        return [self.backbone, self.adapter.pooler(self), self.exits[-1]]

    def train(self, mode: bool = True):
        """As `nn.Module.train`; with `freeze_backbone`, the frozen parts also get `requires_grad=False` (again:
        loading weights builds new parameters; `from_pretrained` ends with `eval()`) and run as at inference."""
        super().train(mode)
        if self.config.freeze_backbone:
            for module in self._frozen_modules():
                module.requires_grad_(False)
                module.eval()
        return self

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, EarlyExitClassifier) and module.mix_logits is not None:
            init.zeros_(module.mix_logits)
        if module is self and LAYOUT_KEY in self._buffers:  # e.g. a checkpoint saved before the buffer existed
            init.copy_(self._buffers[LAYOUT_KEY], _layout_tensor(self.config))

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    @classmethod
    def classifier_config(cls, pretrained_model_name_or_path, exit_layers: list[int] | None = None, **kwargs):
        r"""
        The early-exit configuration [`from_classifier`] builds for a fine-tuned classifier, from its config only
        (no weight is read): the checks of `from_classifier` without the loading.

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): the fine-tuned classifier.
            exit_layers (`list[int]`, *optional*): where the new exits go.
            kwargs: early-exit fields, and `revision` / `token` / `local_files_only` / ... for the Hub.

        Raises:
            `ValueError`: another architecture, or a head that is not sequence classification;
            `StrictDataclassClassValidationError`: exit layers beyond the depth or other invalid fields.
        """
        hub_kwargs = {key: kwargs.pop(key) for key in _HUB_KWARGS if key in kwargs}
        _check_source(pretrained_model_name_or_path, "classifier folder")
        stock_config = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs)
        backbone_type = cls.config_class.backbone_model_type
        if stock_config.model_type != backbone_type:
            raise ValueError(
                f"{str(pretrained_model_name_or_path)!r} is a `{stock_config.model_type}` checkpoint; "
                f"{cls.__name__}.from_classifier loads fine-tuned `{backbone_type}` classifiers. "
                "Use `hf_notlike.early_exit_from_classifier`, which picks the class from the checkpoint."
            )
        architectures = stock_config.architectures or []
        if not any(name.endswith("ForSequenceClassification") for name in architectures):
            raise ValueError(
                f"{str(pretrained_model_name_or_path)!r} holds {architectures or 'no recorded architecture'}, not a "
                "fine-tuned `*ForSequenceClassification` head; from_classifier needs a sequence classifier. For a "
                f"plain backbone, use {cls.__name__}.from_pretrained(path, num_labels=..., exit_layers=...)."
            )
        values = {key: value for key, value in stock_config.to_dict().items()
                  if key not in ("model_type", "architectures", "transformers_version", "auto_map")}
        values.update(kwargs)
        values.update(exit_layers=exit_layers, head_from_classifier=True,
                      freeze_backbone=kwargs.get("freeze_backbone", True))
        return cls.config_class(**values)  # validated here: exit layers beyond the depth fail before loading

    @classmethod
    def from_classifier(
        cls, pretrained_model_name_or_path, exit_layers: list[int] | None = None, **kwargs
    ) -> "EarlyExitModelMixin":
        r"""
        Adds exits to a fine-tuned `*ForSequenceClassification` checkpoint of this class's architecture: its own head
        becomes the last exit (same weights, same predictions at `exit_threshold=1.0`), the backbone and that head
        are frozen, and only the new intermediate exits train (DeeBERT's second stage, Xin et al., ACL 2020).
        [`hf_notlike.early_exit_from_classifier`] picks the class from the checkpoint.

        With `freeze_backbone=False` everything trains (joint training that starts from the classifier); add
        `anchor_weight > 0` to keep it close to the classifier it started from: a frozen copy of the classifier is
        attached as `model.anchor_model` (not saved with the model) and every exit, the last one included, is also
        trained towards its soft predictions (see [`EarlyExitConfigMixin`]); train the backbone slowly with
        `backbone_learning_rate_multiplier` and the exits at `exit_learning_rate_multiplier`
        ([`~hf_notlike.EarlyExitTrainer`] or [`~hf_notlike.early_exit_optimizer`]).

        Args:
            pretrained_model_name_or_path (`str` or `os.PathLike`): the fine-tuned classifier (folder or Hub id).
            exit_layers (`list[int]`, *optional*): where the new exits go (1-based; the last layer is the
                original head). Defaults to every layer.
            kwargs: other early-exit fields (e.g. `exit_input`, `freeze_backbone`, `distillation_weight`,
                `anchor_weight`, `anchor_temperature`), and keyword arguments of `from_pretrained` (`revision`,
                `token`, `dtype`, ...).

        Raises:
            `ValueError`: before any weight is loaded, when the checkpoint is of another architecture, its head is not
            sequence classification, or an exit layer is beyond the backbone's depth.

        Example:

        ```python
        >>> from hf_notlike import EarlyExitBertForSequenceClassification
        >>> model = EarlyExitBertForSequenceClassification.from_classifier(  # doctest: +SKIP
        ...     "path/to/fine-tuned-bert-classifier", exit_layers=[2, 4])
        >>> # anchored joint training: the backbone unfrozen, every exit also distilled from the frozen classifier
        >>> model = EarlyExitBertForSequenceClassification.from_classifier(  # doctest: +SKIP
        ...     "path/to/fine-tuned-bert-classifier", freeze_backbone=False, anchor_weight=0.5,
        ...     anchor_temperature=2.0, backbone_learning_rate_multiplier=0.1)
        ```
        """
        hub_kwargs = {key: kwargs.pop(key) for key in _HUB_KWARGS if key in kwargs}
        early_fields = {key: kwargs.pop(key) for key in _EARLY_EXIT_KWARGS if key in kwargs}
        config = cls.classifier_config(pretrained_model_name_or_path, exit_layers, **early_fields, **hub_kwargs)
        stock = AutoModelForSequenceClassification.from_pretrained(
            pretrained_model_name_or_path, **hub_kwargs, **kwargs
        )
        model = cls(config)
        state = {}
        last = config.num_exits - 1
        for key, tensor in stock.state_dict().items():
            for old, new in model.adapter.classifier_keys.items():
                if key.startswith(old):
                    key = new.format(last=last, prefix=cls.base_model_prefix) + key[len(old) :]
                    break
            state[key] = tensor
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [key for key in missing if key != LAYOUT_KEY
                   and (not key.startswith("exits.") or key.startswith(f"exits.{last}."))]
        if missing or unexpected:
            raise ValueError(
                f"The weights of {str(pretrained_model_name_or_path)!r} do not map onto {cls.__name__}: missing "
                f"{missing}, unexpected {list(unexpected)}."
            )
        model.to(dtype=next(stock.parameters()).dtype)
        if config.anchor_weight > 0:
            model.set_anchor_model(stock)
        return model.eval()

    # ----------------------------------------------------------------------------------------- the anchor classifier

    @property
    def anchor_model(self) -> nn.Module | None:
        """The frozen classifier of anchored training (see `anchor_weight`), or None. It is held outside the module
        tree: not a submodule, not in `parameters()` or `state_dict()`, never saved, not moved by `.to()` (it
        follows the inputs' device when it runs)."""
        return self.__dict__.get("_anchor_model")

    def set_anchor_model(self, anchor_model: nn.Module | None) -> None:
        r"""
        Attaches the frozen classifier that anchored training distils every exit from (`config.anchor_weight`), or
        detaches it (`None`). `from_classifier` attaches the original classifier itself when `anchor_weight > 0`;
        call this after reloading a checkpoint saved during anchored training, to train it further.

        The model is frozen here (`requires_grad_(False)`, `eval()`) and kept out of the module tree, so that it is
        neither trained nor saved.

        Args:
            anchor_model (`torch.nn.Module` or `None`): a sequence classifier taking the same inputs as this model
                (e.g. the stock `*ForSequenceClassification` the exits were added to) whose output has `logits` of
                shape `(batch_size, num_labels)`.

        Example:

        ```python
        >>> from transformers import AutoModelForSequenceClassification
        >>> model.set_anchor_model(AutoModelForSequenceClassification.from_pretrained(  # doctest: +SKIP
        ...     "path/to/fine-tuned-bert-classifier"))
        ```
        """
        if anchor_model is None:
            self.__dict__.pop("_anchor_model", None)
            return
        if not isinstance(anchor_model, nn.Module):
            raise TypeError(f"`anchor_model` must be a torch.nn.Module (a sequence classifier), got "
                            f"{type(anchor_model).__name__}.")
        if anchor_model is self:
            raise ValueError("`anchor_model` must be a separate, frozen copy of the classifier, not the model itself.")
        num_labels = getattr(getattr(anchor_model, "config", None), "num_labels", None)
        if num_labels is not None and num_labels != self.num_labels:
            raise ValueError(f"`anchor_model` predicts {num_labels} labels but this model {self.num_labels}; give the "
                             "classifier the exits were added to.")
        anchor_model.requires_grad_(False)
        anchor_model.eval()
        self.__dict__["_anchor_model"] = anchor_model

    def _anchor_logits(self, inputs: dict) -> torch.Tensor | None:
        """The anchor classifier's logits for `inputs` (no gradient), or None when no anchor term applies. Training
        with `anchor_weight > 0` and no anchor model attached fails; in eval mode `training_loss` then leaves the
        anchor term out (with a warning)."""
        if self.config.anchor_weight <= 0:
            return None
        anchor = self.anchor_model
        if anchor is None:
            if self.training:
                raise ValueError(
                    f"`anchor_weight` is {self.config.anchor_weight} but no anchor classifier is attached (it is not "
                    "saved with the model). Build the model with `from_classifier(..., anchor_weight=...)`, call "
                    "`model.set_anchor_model(classifier)`, or set `model.config.anchor_weight = 0.0`."
                )
            if not self.__dict__.get("_warned_no_anchor"):
                logger.warning("`anchor_weight` > 0 but no anchor classifier is attached: `training_loss` leaves the "
                               "anchor term out (the reported `loss` is the last exit's, as always in eval mode).")
                self.__dict__["_warned_no_anchor"] = True
            return None
        reference = next(iter(inputs.values()))
        first = next(anchor.parameters(), None)
        if first is not None and first.device != reference.device:
            anchor.to(reference.device)
        if anchor.training:
            anchor.eval()
        with torch.no_grad():
            output = anchor(**inputs)
        logits = output if isinstance(output, torch.Tensor) else output.logits
        expected = (reference.shape[0], self.num_labels)
        if tuple(logits.shape) != expected:
            raise ValueError(f"The anchor classifier returned logits of shape {tuple(logits.shape)}, expected "
                             f"{expected}; attach the classifier the exits were added to.")
        return logits.detach()

    # ------------------------------------------------------------------------------------------------------ checks

    def check_exits_match_config(self) -> None:
        """Raises a `ValueError` when `config` was changed after building so that it no longer describes the exits
        (e.g. `config.exit_layers` set to fewer layers), and validates every early-exit field of the config. While
        `torch.compile` traces the model, the configuration is still checked but the layout buffer is not read back
        (a host read would break the graph); the first eager call checks it."""
        self._config_memo()

    def _config_memo(self) -> dict:
        """[`check_exits_match_config`], returning a dict for values derived from the early-exit fields (thresholds,
        the exit loop's plan): kept, with the fields' values, while they are unchanged (a fresh one while
        `torch.compile` traces the model)."""
        fingerprint = self.config.early_exit_fingerprint()
        memo = self.__dict__.get("_config_memo_values")
        if memo is not None and memo["fingerprint"] == fingerprint:  # unchanged since the last check
            return memo
        self.config.validate_early_exit()
        built = [exit_.mix_logits.numel() if exit_.mix_logits is not None else None for exit_ in self.exits]
        layers = self.config.exit_layers
        if len(layers) != len(self.exits) or any(n is not None and n != layer for n, layer in zip(built, layers)):
            raise ValueError(
                f"`config.exit_layers` is {layers} but this model was built with {len(self.exits)} exits"
                f"{'' if None in built else f' after layers {built}'}; exits cannot be moved after building. "
                "Restore `config.exit_layers`, or build a new model with the new exit layers."
            )
        layout = getattr(self, LAYOUT_KEY, None)
        if torch.compiler.is_compiling():
            # while `torch.compile` traces the model, the buffer is not read back (a `.tolist()` breaks a dynamic
            # whole-model trace) and nothing is cached: the next eager call checks it
            return {"fingerprint": fingerprint}
        # the buffer is read back only when it or the fields it records change (not when e.g. `problem_type` is set)
        layout_key = (id(layout), getattr(layout, "_version", None), repr(exit_layout(self.config)))
        if layout is not None and layout.device.type != "meta" and self.__dict__.get("_checked_layout") != layout_key:
            built = _decode_layout(layout.tolist())
            problems = [(name, value, built[name]) for name, value in exit_layout(self.config).items()
                        if built is not None and built[name] != value]
            if problems:
                raise ValueError(
                    "The configuration was changed after building so that it no longer describes the exits: "
                    + "; ".join(f"`config.{name}` is {value!r} but the model was built with {was!r}"
                                for name, value, was in problems)
                    + ". Exits cannot be moved or reshaped after building: restore the field, or build a new model."
                )
            self.__dict__["_checked_layout"] = layout_key
        memo = {"fingerprint": fingerprint}
        self.__dict__["_config_memo_values"] = memo
        return memo

    def _thresholds(self, memo: dict, exit_threshold) -> tuple[float, ...]:
        """`config.thresholds_for(exit_threshold)` (which checks it), kept in `memo` per value and type of
        `exit_threshold` (so that e.g. `True` is refused even after `1.0` was accepted)."""
        values = exit_threshold if isinstance(exit_threshold, (list, tuple)) else [exit_threshold]
        key = ("thresholds", type(exit_threshold), *((type(v), v) for v in values))
        try:
            thresholds = memo.get(key)
        except TypeError:  # unhashable values: checked, never kept
            return tuple(self.config.thresholds_for(exit_threshold))
        if thresholds is None:
            thresholds = tuple(self.config.thresholds_for(exit_threshold))
            if len(memo) < 64:  # a few thresholds per model in practice; a sweep over many is not kept
                memo[key] = thresholds
        return thresholds

    def _input_limits(self) -> "InputLimits":
        """The ranges the value checks hold the inputs to (picklable: `EarlyExitTrainer` checks batches with it)."""
        config = self.config
        return InputLimits(config.vocab_size, self.adapter.token_type_count(config), config.max_position_embeddings,
                           self.num_labels)

    def check_batch(self, batch: dict) -> None:
        """Checks the values of a batch of inputs (token ids, token types and positions in range, a 0/1
        `attention_mask` without left padding, class labels in range) with one read back, or none on the CPU. Call
        it on the CPU copy of each batch in a training loop of your own on an accelerator, where `forward` skips these
        checks under `config.check_inputs="auto"` ([`EarlyExitTrainer`] does so for you).

        Args:
            batch (`dict[str, torch.Tensor]`): the model's keyword inputs, `labels` included.

        Raises:
            `ValueError` naming the input and the fix.

        Example:

        ```python
        >>> for batch in dataloader:  # doctest: +SKIP
        ...     model.check_batch(batch)
        ...     loss = model(**{k: v.to("cuda") for k, v in batch.items()}).loss
        ```
        """
        inputs = {k: v for k, v in batch.items() if k != "labels" and isinstance(v, torch.Tensor)}
        labels = batch.get("labels")
        check_input_values(inputs, labels if isinstance(labels, torch.Tensor) else None, self._input_limits())

    def _checks_values(self, tensors: list[torch.Tensor]) -> bool:
        """Whether this pass checks input values (`config.check_inputs`): reading them back is free on the CPU and a
        device synchronisation elsewhere."""
        mode = getattr(self.config, "check_inputs", "auto")
        if mode == "never" or any(t.device.type == "meta" for t in tensors):
            return False
        if mode == "always" or all(_reads_are_free(t) for t in tensors):
            return True
        return mode == "auto" and not self.training

    def _check_inputs(self, inputs: dict, labels) -> tuple[dict, torch.Tensor | None]:
        """Type, shape and value checks of every tensor input, with errors that name the input and the fix.

        Types and shapes are always checked; values (ranges, mask values, left padding) as `config.check_inputs`
        says, all with one read back.

        Raises `TypeError` (not a tensor, wrong dtype) or `ValueError` (shapes that disagree across inputs, values
        out of range)."""
        config, adapter = self.config, self.adapter
        for name, value in inputs.items():
            if value is not None and name not in adapter.input_names:
                _bad(ValueError, f"`{name}` is not an input of {type(self.backbone).__name__}; leave it out.")
        given = {name: value for name, value in inputs.items() if value is not None}
        for name, value in given.items():
            if not isinstance(value, torch.Tensor):
                _bad(TypeError, f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
        if ("input_ids" in given) == ("inputs_embeds" in given):
            _bad(ValueError, "You must specify exactly one of input_ids or inputs_embeds")
        if "input_ids" in given:
            ids = given["input_ids"]
            if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
                _bad(TypeError, f"`input_ids` must hold integer token ids, got dtype {ids.dtype}.")
            if ids.dim() != 2:
                _bad(ValueError, f"`input_ids` must have shape (batch_size, sequence_length), got {tuple(ids.shape)}; "
                     "add a batch dimension with `input_ids[None]` for one sequence.")
            shape = tuple(ids.shape)
        else:
            embeds = given["inputs_embeds"]
            size = adapter.embedding_size(self.backbone)
            if not embeds.dtype.is_floating_point:
                _bad(TypeError, f"`inputs_embeds` must be floating point, got dtype {embeds.dtype}.")
            if embeds.dim() != 3 or embeds.shape[-1] != size:
                _bad(ValueError, f"`inputs_embeds` must have shape (batch_size, sequence_length, {size}), got "
                     f"{tuple(embeds.shape)}.")
            shape = tuple(embeds.shape[:2])
        if shape[0] == 0 or shape[1] == 0:
            _bad(ValueError, f"The batch is empty (shape {shape}); give at least one row of at least one token.")
        if shape[1] > adapter.max_positions(config):
            _bad(ValueError, f"The sequences are {shape[1]} tokens long, more than this model's "
                 f"{adapter.max_positions(config)} positions; truncate them (tokenizer(..., truncation=True)).")
        mask = given.get("attention_mask")
        if mask is not None:
            if tuple(mask.shape) != shape:
                _bad(ValueError, f"`attention_mask` has shape {tuple(mask.shape)} but the inputs have {shape}; "
                     "give one 0/1 value per token.")
            if mask.dtype.is_complex:
                _bad(ValueError, "`attention_mask` must hold only 0 (padding) and 1 (token).")
        types = given.get("token_type_ids")
        if types is not None:
            if types.dtype.is_floating_point or types.dtype == torch.bool or tuple(types.shape) != shape:
                _bad(ValueError, f"`token_type_ids` must be integers of shape {shape}, got {types.dtype} "
                     f"{tuple(types.shape)}.")
        positions = given.get("position_ids")
        if positions is not None:
            if positions.dtype.is_floating_point or positions.dtype == torch.bool or positions.dim() != 2 or (
                positions.shape[0] not in (1, shape[0]) or positions.shape[1] != shape[1]
            ):
                _bad(ValueError, f"`position_ids` must be integers of shape {shape} (or (1, {shape[1]})), got "
                     f"{positions.dtype} {tuple(positions.shape)}.")
        if labels is not None:
            if not isinstance(labels, torch.Tensor):
                _bad(TypeError, f"`labels` must be a torch.Tensor, got {type(labels).__name__}.")
            if labels.dim() > 2 or labels.numel() != shape[0] or (labels.dim() == 2 and labels.shape[1] != 1):
                _bad(ValueError, f"`labels` must have shape ({shape[0]},): one label per row, got "
                     f"{tuple(labels.shape)}.")
            labels = labels.reshape(-1)
            if self.num_labels == 1:
                if not labels.dtype.is_floating_point:
                    labels = labels.float()
            else:
                if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.dtype.is_complex:
                    _bad(TypeError, f"`labels` of a {self.num_labels}-class classifier must be integer class "
                         f"indices, got dtype {labels.dtype}.")
                labels = labels.long()  # any integer dtype (int32 from NumPy / Arrow, int16, ...): cross-entropy needs long
        if self._checks_values([*given.values(), *([labels] if labels is not None else [])]):
            check_input_values(given, labels, self._input_limits())
        for name in ("input_ids", "token_type_ids", "position_ids"):  # any integer dtype, as long (embedding indices)
            if name in given and given[name].dtype != torch.long:
                given[name] = given[name].long()
        return given, labels

    # ----------------------------------------------------------------------------------------------------- forward

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        exit_threshold: float | list[float] | None = None,
        output_all_exits: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        **kwargs,
    ) -> tuple | EarlyExitSequenceClassifierOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds:
                As for the backbone (`BertModel`, `RobertaModel`, ...; DistilBERT takes no `token_type_ids`).
                Padding must be on the right (the default of these tokenizers): the exits read the first token.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Class indices of any integer dtype, cast to long (or float targets when `num_labels == 1`); ids,
                token types and positions of any integer dtype are cast to long too. See the output's `loss`,
                `training_loss` and `exit_losses`.
            exit_threshold (`float` or `list[float]`, *optional*):
                Overrides `config.exit_threshold` and `config.exit_thresholds` for this call: one threshold in
                `(0, 1]` for every exit (1.0 runs the full model), or one per exit.
            output_all_exits (`bool`, *optional*):
                Run every layer and return `exit_logits` for every exit and row (calibration, sweeps). Implied in
                training mode and when `labels` are given; `logits` and `exit_layer` then apply the exit rule to
                those logits.
            output_hidden_states (`bool`, *optional*), output_attentions (`bool`, *optional*):
                As for the stock model, for the layers that ran (see [`EarlyExitSequenceClassifierOutput`]).
            return_dict (`bool`, *optional*): Return an [`EarlyExitSequenceClassifierOutput`] instead of a tuple.
            kwargs: passed on to the backbone's layers (e.g. attention kwargs).

        Raises:
            `TypeError` / `ValueError`: inputs of the wrong type, shape or values (the message names the input and
            the fix); `ValueError` or `huggingface_hub.errors.StrictDataclassClassValidationError`: a configuration
            changed after building into an invalid or inconsistent one.

        Example:

        ```python
        >>> import torch
        >>> from hf_notlike import EarlyExitBertConfig, EarlyExitBertForSequenceClassification
        >>> config = EarlyExitBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        ...                              intermediate_size=37, exit_layers=[1, 2, 3, 4], num_labels=3)
        >>> model = EarlyExitBertForSequenceClassification(config).eval()
        >>> out = model(torch.tensor([[2, 5, 7, 3]]), exit_threshold=0.2)
        >>> out.logits.shape, out.exit_layer.tolist()
        (torch.Size([1, 3]), [1])
        ```
        """
        config = self.config
        memo = self._config_memo()
        thresholds = self._thresholds(memo, exit_threshold)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids,
                  "position_ids": position_ids, "inputs_embeds": inputs_embeds}
        inputs, labels = self._check_inputs(inputs, labels)
        kwargs.pop("num_items_in_batch", None)
        output_hidden_states = config.output_hidden_states if output_hidden_states is None else output_hidden_states
        output_attentions = config.output_attentions if output_attentions is None else output_attentions
        if output_attentions and config.attention_implementation not in ("eager", None):
            raise ValueError(
                f"`output_attentions=True` needs the eager attention, but this model uses "
                f"{config.attention_implementation!r}; load it with attn_implementation='eager'."
            )

        exit_logits = None
        if output_all_exits or self.training or labels is not None:
            exit_logits, hidden_states, attentions = self._all_exits(
                inputs, output_hidden_states, output_attentions, **kwargs
            )
            exit_index = select_exits(exit_logits, config.temperatures, thresholds)
            logits = exit_logits[torch.arange(exit_logits.shape[0], device=exit_logits.device), exit_index]
        else:
            logits, exit_index, hidden_states, attentions = self._early_exit(
                inputs, thresholds, memo, output_hidden_states, output_attentions, **kwargs
            )
        layers = self._exit_layer_numbers(memo, exit_index.device)

        loss = training_loss = exit_losses = None
        if labels is not None:
            training_loss, exit_losses = self._exit_loss(exit_logits, labels, self._anchor_logits(inputs))
            loss = training_loss if self.training else exit_losses[-1]
        return EarlyExitSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            exit_layer=layers.index_select(0, exit_index),
            exit_logits=exit_logits,
            training_loss=training_loss,
            exit_losses=exit_losses,
            hidden_states=hidden_states,
            attentions=attentions,
        )

    def _exit_layer_numbers(self, memo: dict, device) -> torch.Tensor:
        """`config.exit_layers` as a tensor on `device`, kept in the config memo ([`_config_memo`])."""
        key = ("exit_layers", device)
        layers = memo.get(key)
        if layers is None:
            layers = memo[key] = torch.tensor(self.config.exit_layers, device=device)
        return layers

    # ----------------------------------------------------------------------------------------------- the exit loop

    def _token_weights(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None,
                       means: bool | None = None) -> torch.Tensor | None:
        """For the `*mean` exit inputs, `(batch, seq, 1)` weights that average a layer over its unmasked tokens;
        None for the first-token inputs (`means`: whether the exits read means, when the caller knows it). Computed
        once per set of rows, not per layer."""
        if not (self.config.exit_input.endswith("mean") if means is None else means):
            return None
        if attention_mask is None:
            return hidden.new_full((*hidden.shape[:2], 1), 1.0 / hidden.shape[1])
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)

    @staticmethod
    def _summary(hidden: torch.Tensor, token_weights: torch.Tensor | None) -> torch.Tensor:
        """One layer's `(batch, hidden)` summary: its first-token state, or its attention-masked token mean."""
        return hidden[:, 0] if token_weights is None else (hidden * token_weights).sum(dim=1)

    def _pool(self, summaries: list[torch.Tensor]) -> list[torch.Tensor]:
        """What the exits read: the pooler (dense + activation) over layer summaries, all layers in one call."""
        pooler = self.adapter.pooler(self)
        norm = getattr(pooler, "norm", None)
        if len(summaries) == 1:
            pooled = pooler.activation(pooler.dense(summaries[0]))
            return [pooled if norm is None else norm(pooled)]
        pooled = pooler.activation(pooler.dense(torch.stack(summaries)))
        return list((pooled if norm is None else norm(pooled)).unbind(0))

    def _single_pool(self):
        """`_pool` of one summary as a plain function, without the per-call module lookups (the exit loop pools one
        layer at a time for the exits it evaluates)."""
        pooler = self.adapter.pooler(self)
        dense, activation = pooler.dense, pooler.activation
        activation = torch.tanh if isinstance(activation, nn.Tanh) else activation
        norm = getattr(pooler, "norm", None)
        norm = None if isinstance(norm, nn.Identity) else norm

        def pool(summary: torch.Tensor) -> torch.Tensor:
            pooled = activation(F.linear(summary, dense.weight, dense.bias))
            return pooled if norm is None else norm(pooled)

        return pool

    def _head_pool(self, hidden: torch.Tensor, mask_2d: torch.Tensor | None) -> list[torch.Tensor]:
        """The last exit's input when it is a classifier's own head: the last layer's (normed) output pooled exactly
        as the stock head pools it."""
        return self._pool([self.adapter.head_input(hidden, mask_2d, self.config)])

    def _all_exits(self, inputs: dict, output_hidden_states: bool, output_attentions: bool, **kwargs):
        """Runs every layer with the backbone's own forward; returns `(batch, num_exits, num_labels)` logits and the
        backbone's hidden states and attentions when asked for."""
        frozen = self.config.freeze_backbone and torch.is_grad_enabled()
        with torch.no_grad() if frozen else _no_context():
            outputs = self.backbone(
                **inputs, output_hidden_states=True, output_attentions=output_attentions, return_dict=True, **kwargs
            )
            # [0] is the embedding output; the last one is already what the stock head reads
            hidden_states = self.adapter.normed_states(self.backbone, list(outputs.hidden_states[1:]), True)
            token_weights = self._token_weights(hidden_states[0], inputs.get("attention_mask"))
            pooled = self._pool([self._summary(h, token_weights) for h in hidden_states])
            head_pooled = (
                self._head_pool(hidden_states[-1], inputs.get("attention_mask"))
                if self.config.head_from_classifier else None
            )
        exit_logits = []
        for k, (exit_, layer) in enumerate(zip(self.exits, self.config.exit_layers)):
            reads = head_pooled if head_pooled is not None and k == len(self.exits) - 1 else pooled[:layer]
            exit_logits.append(exit_(reads))
        return (
            torch.stack(exit_logits, dim=1),
            outputs.hidden_states if output_hidden_states else None,
            outputs.attentions if output_attentions else None,
        )

    def _fused_exits(self, thresholds: tuple[float, ...], num_layers: int, dtype: torch.dtype, device) -> "_FusedExits | None":
        """The intermediate exits this pass evaluates (threshold below 1.0), fused for the loop (see [`_FusedExits`]);
        None when there is none. Kept between passes while the exits' weight tensors are the same tensors with the
        same values (torch's tensor version counters, `_version`: there is no public one;
        `test_fused_exits_follow_new_weights_and_temperatures` fails if it changes), no module or parameter was
        assigned anywhere (`_ASSIGNMENTS`), the temperatures, dtype and device are unchanged and no gradient is
        recorded."""
        evaluated = tuple(k for k in range(len(thresholds) - 1) if thresholds[k] < 1.0)
        if not evaluated:
            return None
        cacheable = not torch.is_grad_enabled()
        temperatures = tuple(self.config.__dict__["temperatures"])  # calibration changes them in place
        key = (evaluated, dtype, device, torch.is_inference_mode_enabled(), temperatures, _ASSIGNMENTS[0])
        cached = self.__dict__.get("_fused_exits_cache")
        if cacheable and cached is not None and cached[0] == key and _versions(cached[1]) == cached[2]:
            return cached[3]
        exits = list(self.exits)  # iterating the ModuleList: indexing it costs several microseconds an index
        parts = [p for k in evaluated
                 for p in (exits[k].classifier.weight, exits[k].classifier.bias, exits[k].mix_logits) if p is not None]
        fused = _FusedExits.build(self, evaluated, num_layers, dtype, device)
        versions = _versions(parts) if cacheable else None
        self.__dict__["_fused_exits_cache"] = (key, parts, versions, fused) if versions is not None else None
        return fused

    def _loop_plan(self, memo: dict) -> tuple[dict[int, int], int, frozenset[int], bool]:
        """What the exit loop reads from the config, kept in the config memo ([`_config_memo`]): the exit after each
        exit layer, the last exit's index, the layers whose pooled state the last exit reads (none when it is the
        classifier's own head), and whether the exits read token means."""
        plan = memo.get("plan")
        if plan is None:
            config = self.config
            layers, last_exit = config.exit_layers, len(config.exit_layers) - 1
            if config.head_from_classifier:
                last_reads = frozenset()
            elif config.exit_input.startswith("weighted_"):
                last_reads = frozenset(range(1, layers[last_exit] + 1))
            else:
                last_reads = frozenset({layers[last_exit]})
            plan = memo["plan"] = ({layer: k for k, layer in enumerate(layers)}, last_exit, last_reads,
                                   config.exit_input.endswith("mean"))
        return plan

    def _early_exit(self, inputs: dict, thresholds: tuple[float, ...], memo: dict, output_hidden_states: bool,
                    output_attentions: bool, **kwargs):
        """Runs layer by layer; rows leave at their first confident exit and are dropped from the batch, and the
        sequence is trimmed to the columns the remaining rows use (not when hidden states or attentions are asked
        for, nor while a remaining row is all padding, so that every row's result equals the all-exits path's).

        Layer summaries are put through the pooler only when an exit is evaluated (at threshold 1.0: once, for the
        last exit), so that the loop adds as few small operations per layer as possible to the backbone's work."""
        backbone, adapter, config = self.backbone, self.adapter, self.config
        hidden = adapter.embed(backbone, inputs)
        batch_size, seq_len = hidden.shape[:2]
        mask_2d = inputs.get("attention_mask")
        if mask_2d is None:
            mask_2d = torch.ones(batch_size, seq_len, dtype=torch.long, device=hidden.device)
            unpadded = True
        else:  # e.g. one sentence: the backbone's mask of no mask serves (found with a read: free on the CPU)
            unpadded = not torch.compiler.is_compiling() and _reads_are_free(mask_2d) and bool(mask_2d.all())
        mask = adapter.attention_mask(backbone, hidden, mask_2d, unpadded)
        keep_shape = output_hidden_states or output_attentions

        exit_at, last_exit, last_reads, means = self._loop_plan(memo)
        num_layers = len(adapter.layers(backbone))
        fused = self._fused_exits(thresholds, num_layers, hidden.dtype, hidden.device)
        summarizes = fused is not None or bool(last_reads)  # whether any layer summary is taken
        token_weights = self._token_weights(hidden, mask_2d, means) if summarizes else None
        # original index of each row still running (None for a batch of one row)
        rows = torch.arange(batch_size, device=hidden.device) if batch_size > 1 else None
        logits = hidden.new_empty(batch_size, self.num_labels)
        exit_index = torch.full((batch_size,), last_exit, dtype=torch.long, device=hidden.device)
        # the evaluated exits' logits so far, summed over the layers they read (their biases to start with)
        running = fused.bias.expand(batch_size, -1) if fused is not None else None  # (rows, 0) when not fused
        exact: list[torch.Tensor] = []  # the pooled states the evaluated exits read, for a decision at the threshold
        pooled: list[torch.Tensor] = []  # what the last exit reads, per layer kept
        pending: list[torch.Tensor] = []  # summaries of those layers not yet through the pooler
        all_hidden = [hidden] if output_hidden_states else None
        all_attentions = [] if output_attentions else None
        attention_class = adapter.attention_module_class(backbone) if output_attentions else None
        recorder = _AttentionRecorder(backbone, attention_class) if attention_class is not None else None

        try:
            for layer_number in range(1, num_layers + 1):
                hidden, attentions = adapter.call_layer(backbone, layer_number - 1, hidden, mask,
                                                        output_attentions, **kwargs)
                if all_hidden is not None:
                    shown = adapter.final_hidden(backbone, hidden) if layer_number == num_layers else hidden
                    all_hidden.append(_scatter_rows(shown, rows, batch_size))
                if output_attentions:
                    attentions = recorder.pop() if recorder is not None else attentions
                    all_attentions.append(_scatter_rows(attentions, rows, batch_size))
                read = fused is not None and layer_number in fused.projections
                if read or layer_number in last_reads:
                    pending.append(self._summary(adapter.normed_states(backbone, [hidden], False)[0], token_weights))
                if read:  # an evaluated exit reads this layer: pool it now, add it to the (fused) logits
                    pooled += [fused.pool(pending[0])] if len(pending) == 1 else self._pool(pending)
                    pending = []
                    if fused.linear:
                        running = torch.addmm(running, pooled[-1], fused.projections[layer_number])
                    exact.append(pooled[-1])
                    if layer_number not in last_reads:
                        pooled.pop()
                k = exit_at.get(layer_number)
                if k is None or (k != last_exit and thresholds[k] >= 1.0):
                    continue
                if k == last_exit:
                    if config.head_from_classifier:
                        exit_logits = self.exits[k](self._head_pool(adapter.final_hidden(backbone, hidden), mask_2d))
                    else:
                        pooled += self._pool(pending)
                        exit_logits = self.exits[k](pooled)
                    _put_rows(logits, exit_index, rows, exit_logits, k)
                    break
                if not fused.linear:  # the exit's own forward, as the all-exits pass computes it
                    leave, unsure = False, True
                elif running.shape[0] == 1:
                    exit_logits = fused.logits(running, k)
                    leave, unsure = fused.confident_row(running, exit_logits, k, thresholds[k])
                    done = None
                else:
                    exit_logits = fused.logits(running, k)
                    done, close = fused.confident(running, exit_logits, k, thresholds[k])
                    leave, unsure = torch.stack([done.any(), close.any()]).tolist()
                if unsure:  # a confidence at the threshold: decide as the all-exits pass does, bit for bit
                    exit_logits = self.exits[k](exact)
                    done = exit_confidences(exit_logits[:, None], config.temperatures[k : k + 1])[:, 0] >= thresholds[k]
                    leave = bool(done.any())
                if not leave:
                    continue
                if running.shape[0] == 1:  # the only row leaves
                    _put_rows(logits, exit_index, rows, exit_logits, k)
                    break
                _put_rows(logits, exit_index, rows[done], exit_logits[done], k)
                if done.all():
                    break
                keep = ~done
                rows, hidden, mask_2d, running = rows[keep], hidden[keep], mask_2d[keep], running[keep]
                pooled = [p[keep] for p in pooled]
                exact = [p[keep] for p in exact]
                if "position_ids" in kwargs:
                    kwargs["position_ids"] = kwargs["position_ids"][keep]
                used_columns = mask_2d.bool().any(dim=0)
                all_padding_row = not bool(mask_2d.bool().any(dim=1).all())
                if not (keep_shape or all_padding_row or used_columns.all()):  # trim padding no remaining row needs
                    hidden, mask_2d = hidden[:, used_columns], mask_2d[:, used_columns]
                mask = adapter.attention_mask(backbone, hidden, mask_2d, unpadded)
                token_weights = self._token_weights(hidden, mask_2d, means) if summarizes else None
        finally:
            if recorder is not None:
                recorder.remove()
        return (
            logits,
            exit_index,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attentions) if all_attentions is not None else None,
        )

    # ------------------------------------------------------------------------------------------------------- loss

    def _exit_loss(
        self, exit_logits: torch.Tensor, labels: torch.Tensor, anchor_logits: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The training objective and each exit's gold-label loss.

        The objective is the `exit_loss_weights`-weighted sum over exits of each exit's loss (Schwartz et al., 2020,
        Sec. 3: a plain sum by default). With `distillation_weight = w > 0`, each exit but the last is trained on
        `(1 - w) * CE(z_k, y) + w * T^2 * KL(softmax(z_L / T) || softmax(z_k / T))`, the last exit's detached soft
        prediction as teacher (Hinton et al., 2015; self-distillation of exits as in Phuong & Lampert, ICCV 2019).
        With `anchor_logits` (anchored training, `anchor_weight = a > 0`), every exit, the last one included, gives
        up a further share `a` of its gold-label term to `T_a^2 * KL(softmax(anchor / T_a) || softmax(z_k / T_a))`.
        The gold-label terms average over the rows labelled other than -100, the distillation terms over every row:
        rows labelled -100 (unlabelled text) learn from the teachers alone (distillation on unlabelled text, as in
        Turc et al., 2019, "Well-Read Students Learn Better").
        With `alternate_objectives` (training mode), the sum is over the last exit only or the other exits only,
        in turns (BERxiT, Xin et al., EACL 2021)."""
        config = self.config
        labels = labels.to(exit_logits.device)
        if config.problem_type is None:
            config.problem_type = "regression" if self.num_labels == 1 else "single_label_classification"
        num_exits = exit_logits.shape[1]
        if config.problem_type == "regression":
            targets = labels.view(-1).to(exit_logits.dtype)
            losses = [F.mse_loss(exit_logits[:, k, 0], targets) for k in range(num_exits)]
        else:
            # the gold-label terms average over the rows with a label (-100 rows left out; 0, not NaN, when a batch
            # has none); counted rather than indexed: boolean indexing would read the mask back to the host (a
            # device synchronisation) on every pass
            flat = labels.view(-1)
            kept = (flat != IGNORE_LABEL).sum().clamp(min=1).to(exit_logits.dtype)
            losses = [F.cross_entropy(exit_logits[:, k], flat, reduction="sum") / kept for k in range(num_exits)]
        exit_losses = torch.stack(losses)
        terms = list(losses)
        w, temperature = config.distillation_weight, config.distillation_temperature

        def kl_mean(student_logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
            # a teacher needs no label: the distillation terms average over every row, -100 rows included, so that
            # unlabelled text (labels -100) trains the exits on the teachers' predictions alone
            student = F.log_softmax(student_logits / temperature, dim=-1)
            return F.kl_div(student, target, reduction="batchmean") * temperature**2

        if w > 0 and num_exits > 1:
            teacher = F.softmax(exit_logits[:, -1].detach() / temperature, dim=-1)
            for k in range(num_exits - 1):
                terms[k] = (1 - w) * losses[k] + w * kl_mean(exit_logits[:, k], teacher, temperature)
        if anchor_logits is not None:
            a, temperature = config.anchor_weight, config.anchor_temperature
            anchor = F.softmax(anchor_logits.to(exit_logits.dtype) / temperature, dim=-1)
            for k in range(num_exits):
                terms[k] = terms[k] - a * losses[k] + a * kl_mean(exit_logits[:, k], anchor, temperature)
        weighted = [weight * term for weight, term in zip(config.exit_loss_weights, terms)]
        if config.alternate_objectives and self.training and num_exits > 1:
            step = self.__dict__.get("_objective_step", 0)  # not a buffer: never saved
            self.__dict__["_objective_step"] = step + 1
            weighted = weighted[-1:] if step % 2 == 0 else weighted[:-1]
        training_loss = sum(weighted)
        return training_loss, exit_losses


class _no_context:
    def __enter__(self):
        return None

    def __exit__(self, *args):
        return False


def _put_rows(logits: torch.Tensor, exit_index: torch.Tensor, rows: torch.Tensor | None, values: torch.Tensor,
              k: int) -> None:
    """Records that `rows` (None: the batch's only row) leave at exit `k` with these logits."""
    if rows is None:
        logits.copy_(values)
        exit_index.fill_(k)
    else:
        logits[rows] = values.to(logits.dtype)
        exit_index[rows] = k


def _scatter_rows(values: torch.Tensor, rows: torch.Tensor | None, batch_size: int) -> torch.Tensor:
    """`values` of the rows still running, put back at their original batch index (zeros for the other rows)."""
    if values.shape[0] == batch_size:
        return values
    full = values.new_zeros((batch_size, *values.shape[1:]))
    full[rows] = values
    return full


class _AttentionRecorder:
    """Records the attention weights of each layer that runs, with forward hooks on the attention modules that the
    backbone declares in `_can_record_outputs["attentions"]` (the mechanism transformers itself uses)."""

    def __init__(self, backbone: nn.Module, target: type):
        spec = type(backbone)._can_record_outputs["attentions"]
        self.index = 1 if isinstance(spec, type) else spec.index
        self.weights: list[torch.Tensor] = []
        self.handles = [
            module.register_forward_hook(lambda m, a, output: self.weights.append(output[self.index]))
            for module in backbone.modules()
            if isinstance(module, target)
        ]

    def pop(self) -> torch.Tensor:
        weights, self.weights = self.weights, []
        return weights[-1]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


_EARLY_EXIT_KWARGS = (
    "exit_threshold", "exit_thresholds", "temperatures", "exit_loss_weights", "exit_input", "exit_head",
    "freeze_backbone",
    "distillation_weight", "distillation_temperature", "exit_learning_rate_multiplier",
    "backbone_learning_rate_multiplier", "layer_learning_rate_decay", "anchor_weight", "anchor_temperature",
    "alternate_objectives",
)
_HUB_KWARGS = ("revision", "token", "cache_dir", "local_files_only", "force_download", "subfolder",
               "trust_remote_code")


# ----------------------------------------------------------------------------------------------- the architectures


class EarlyExitBertForSequenceClassification(EarlyExitModelMixin, BertPreTrainedModel):
    r"""
    BERT with an exit after each of `config.exit_layers` (see [`EarlyExitBertConfig`]).

    Load the backbone from a plain BERT checkpoint and initialise the exits:

    ```python
    >>> from hf_notlike import EarlyExitBertForSequenceClassification
    >>> model = EarlyExitBertForSequenceClassification.from_pretrained(  # doctest: +SKIP
    ...     "path/to/bert", exit_layers=[1, 2, 3, 4, 5, 6], num_labels=2)
    ```
    """

    config_class = EarlyExitBertConfig
    config: EarlyExitBertConfig
    adapter = BertAdapter()

    def __init__(self, config: EarlyExitBertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()


class EarlyExitRobertaForSequenceClassification(EarlyExitModelMixin, RobertaPreTrainedModel):
    r"""
    RoBERTa with an exit after each of `config.exit_layers` (see [`EarlyExitRobertaConfig`]). The exits read
    RoBERTa's pooler, which plain RoBERTa checkpoints carry (it is initialised if one does not).
    """

    config_class = EarlyExitRobertaConfig
    config: EarlyExitRobertaConfig
    adapter = RobertaAdapter()

    def __init__(self, config: EarlyExitRobertaConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()


class EarlyExitXLMRobertaForSequenceClassification(EarlyExitModelMixin, XLMRobertaPreTrainedModel):
    r"""XLM-RoBERTa with an exit after each of `config.exit_layers` (see [`EarlyExitXLMRobertaConfig`])."""

    config_class = EarlyExitXLMRobertaConfig
    config: EarlyExitXLMRobertaConfig
    adapter = RobertaAdapter()

    def __init__(self, config: EarlyExitXLMRobertaConfig):
        super().__init__(config)
        self.roberta = XLMRobertaModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()


class EarlyExitElectraForSequenceClassification(EarlyExitModelMixin, ElectraPreTrainedModel):
    r"""ELECTRA (discriminator) with an exit after each of `config.exit_layers` (see [`EarlyExitElectraConfig`]);
    the exits share a pooler shaped like ELECTRA's classification head (dense + GELU)."""

    config_class = EarlyExitElectraConfig
    config: EarlyExitElectraConfig
    adapter = ElectraAdapter()

    def __init__(self, config: EarlyExitElectraConfig):
        super().__init__(config)
        self.electra = ElectraModel(config)
        self._init_exits()
        self.post_init()


class EarlyExitDistilBertForSequenceClassification(EarlyExitModelMixin, DistilBertPreTrainedModel):
    r"""DistilBERT with an exit after each of `config.exit_layers` (see [`EarlyExitDistilBertConfig`]); the exits
    share a pooler shaped like DistilBERT's classification head (`pre_classifier` + ReLU)."""

    config_class = EarlyExitDistilBertConfig
    config: EarlyExitDistilBertConfig
    adapter = DistilBertAdapter()

    def __init__(self, config: EarlyExitDistilBertConfig):
        super().__init__(config)
        self.distilbert = DistilBertModel(config)
        self._init_exits()
        self.post_init()


class EarlyExitDebertaV2ForSequenceClassification(EarlyExitModelMixin, DebertaV2PreTrainedModel):
    r"""DeBERTa-v2 / DeBERTa-v3 with an exit after each of `config.exit_layers` (see [`EarlyExitDebertaV2Config`]);
    the exits share a pooler shaped like DeBERTa's `ContextPooler` (dense + `pooler_hidden_act` on [CLS])."""

    config_class = EarlyExitDebertaV2Config
    config: EarlyExitDebertaV2Config
    adapter = DebertaV2Adapter()

    def __init__(self, config: EarlyExitDebertaV2Config):
        super().__init__(config)
        self.deberta = DebertaV2Model(config)
        self._init_exits()
        self.post_init()


class EarlyExitModernBertForSequenceClassification(EarlyExitModelMixin, ModernBertPreTrainedModel):
    r"""ModernBERT with an exit after each of `config.exit_layers` (see [`EarlyExitModernBertConfig`]); the exits
    read every layer through the backbone's final norm and share a pooler shaped like ModernBERT's `head` (dense,
    activation, norm). From a classifier, its `classifier_pooling` ([CLS] or mean) is kept for the last exit."""

    config_class = EarlyExitModernBertConfig
    config: EarlyExitModernBertConfig
    adapter = ModernBertAdapter()

    def __init__(self, config: EarlyExitModernBertConfig):
        super().__init__(config)
        self.model = ModernBertModel(config)
        self._init_exits()
        self.post_init()


class EarlyExitMPNetForSequenceClassification(EarlyExitModelMixin, MPNetPreTrainedModel):
    r"""
    MPNet with an exit after each of `config.exit_layers` (see [`EarlyExitMPNetConfig`]). The exits read MPNet's
    pooler (dense + tanh on <s>), which plain MPNet checkpoints such as sentence-transformers' all-mpnet-base-v2 carry
    (it is initialised if one does not); for such mean-pooling sentence encoders, `exit_input="weighted_mean"` (or
    `"mean"`) matches how they were trained. From a classifier, the stock head's `dense` becomes the pooler.

    ```python
    >>> from hf_notlike import EarlyExitMPNetForSequenceClassification
    >>> model = EarlyExitMPNetForSequenceClassification.from_pretrained(  # doctest: +SKIP
    ...     "path/to/all-mpnet-base-v2", exit_layers=[2, 4, 6, 8, 10], num_labels=2)
    ```
    """

    config_class = EarlyExitMPNetConfig
    config: EarlyExitMPNetConfig
    adapter = MPNetAdapter()

    def __init__(self, config: EarlyExitMPNetConfig):
        super().__init__(config)
        self.mpnet = MPNetModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()


EARLY_EXIT_MODELS = {
    model.config_class.backbone_model_type: model
    for model in (
        EarlyExitBertForSequenceClassification,
        EarlyExitRobertaForSequenceClassification,
        EarlyExitXLMRobertaForSequenceClassification,
        EarlyExitElectraForSequenceClassification,
        EarlyExitDistilBertForSequenceClassification,
        EarlyExitDebertaV2ForSequenceClassification,
        EarlyExitModernBertForSequenceClassification,
        EarlyExitMPNetForSequenceClassification,
    )
}
"""The early-exit class of each supported backbone `model_type`."""


def early_exit_from_classifier(pretrained_model_name_or_path, exit_layers: list[int] | None = None, **kwargs):
    r"""
    Adds exits to any supported fine-tuned `*ForSequenceClassification` checkpoint (BERT, RoBERTa, XLM-RoBERTa,
    ELECTRA, DistilBERT, DeBERTa-v2/v3, ModernBERT, MPNet): the class is picked from its `model_type`, then see
    [`EarlyExitModelMixin.from_classifier`].

    Args:
        pretrained_model_name_or_path (`str` or `os.PathLike`): the fine-tuned classifier.
        exit_layers (`list[int]`, *optional*): where the new exits go; defaults to every layer.
        kwargs: as for `from_classifier`.

    Raises:
        `ValueError`: before any weight is loaded, for an unsupported architecture (the message lists the supported
        ones), a head that is not sequence classification, or exit layers beyond the depth.

    Example:

    ```python
    >>> from hf_notlike import early_exit_from_classifier
    >>> model = early_exit_from_classifier("path/to/classifier", exit_layers=[2, 4])  # doctest: +SKIP
    ```
    """
    return early_exit_class_for(pretrained_model_name_or_path, **kwargs).from_classifier(
        pretrained_model_name_or_path, exit_layers, **kwargs
    )


def early_exit_class_for(pretrained_model_name_or_path, **kwargs) -> type[EarlyExitModelMixin]:
    """The early-exit class of a checkpoint's architecture (read from its config only); `ValueError` listing the
    supported architectures otherwise. `kwargs` may hold Hub arguments (`revision`, `local_files_only`, ...)."""
    hub_kwargs = {key: kwargs[key] for key in _HUB_KWARGS if key in kwargs}
    _check_source(pretrained_model_name_or_path, "classifier folder")
    model_type = AutoConfig.from_pretrained(pretrained_model_name_or_path, **hub_kwargs).model_type
    if model_type not in EARLY_EXIT_MODELS:
        raise ValueError(
            f"{str(pretrained_model_name_or_path)!r} is a `{model_type}` checkpoint, which early exit does not "
            f"support; supported: {sorted(EARLY_EXIT_MODELS)}."
        )
    return EARLY_EXIT_MODELS[model_type]
