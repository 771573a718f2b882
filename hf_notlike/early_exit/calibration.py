# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Temperature calibration of the exits of an early-exit model.

Schwartz et al. (ACL 2020, Sec. 3) calibrate every exit with temperature scaling (Guo, Pleiss, Sun and Weinberger,
ICML 2017, "On Calibration of Modern Neural Networks") so that one confidence threshold means the same thing at every
exit: each exit `k` gets one scalar `T_k > 0` that minimises the negative log-likelihood of a held-out split under
`softmax(z_k / T_k)`. Temperature scaling does not change any exit's prediction, only its confidence.

Example:

```python
>>> from hf_notlike import calibrate_temperatures
>>> result = calibrate_temperatures(model, tokenized_validation)  # doctest: +SKIP
>>> model.config.temperatures  # doctest: +SKIP
[1.41, 1.32, 1.27, 1.19, 1.15, 1.12]
>>> print(result)  # doctest: +SKIP
```
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import torch
from torch.nn import functional as F

from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from .model_card import record_on_card
from .modeling import EarlyExitModelMixin

__all__ = [
    "CalibrationResult",
    "calibrate_from_logits",
    "calibrate_temperatures",
    "collect_exit_logits",
    "iterate_batches",
    "expected_calibration_error",
    "fit_temperature",
    "check_early_exit_model",
    "check_eval_dataset",
    "check_positive_int",
    "check_exits_learned",
    "ece_noise",
    "CalibrationWarning",
]

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
WORSE_TOLERANCE = 1e-3
"""How much an exit's NLL may rise on the calibration split (and the least its ECE must rise, beyond the noise of
binned ECE on that many rows) before [`calibrate_temperatures`] calls it worse."""
TEMPERATURE_BOUNDS = (1e-2, 1e2)
"""The range [`fit_temperature`] searches; a fit at either end means the temperature is not meaningful."""
MIN_CALIBRATION_ROWS = 50
"""Fewer held-out rows than this give noisy temperatures: [`calibrate_temperatures`] warns."""
MIN_CHECK_ROWS = 20
"""[`check_exits_learned`] judges an exit on at least this many rows (fewer: it says so instead)."""
PRIOR_PREDICTION_SHARE = 0.98
"""An exit that predicts one class for at least this share of rows (whose labels are mixed) sits at the prior."""


class CalibrationWarning(UserWarning):
    """An exit that calibration cannot fix or made worse: it sits at the class prior (training failed for it), its
    temperature hit the search bound, its NLL rose, or its ECE rose by more than the rows' noise allows; also too few
    calibration rows. Each message names the exit and what to do."""

LABEL_COLUMNS = ("label", "labels")


def not_early_exit_message(model) -> str:
    """Why `model` cannot be calibrated or swept, and the fix: the early-exit classes (listed from
    `EARLY_EXIT_MODELS`, so that a new architecture is named too) and how to add exits to a fine-tuned classifier."""
    from .modeling import EARLY_EXIT_MODELS

    classes = ", ".join(f"{cls.__name__} ({backbone})" for backbone, cls in EARLY_EXIT_MODELS.items())
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    stock = model_type in EARLY_EXIT_MODELS
    fix = (
        f"add exits to this fine-tuned `{model_type}` classifier with `hf_notlike.early_exit_from_classifier(path, "
        "exit_layers=[...])` (or `hf-notlike early-exit add-exits`), train them, then calibrate"
        if stock else
        "add exits to a fine-tuned classifier of a supported backbone with `hf_notlike.early_exit_from_classifier("
        "path, exit_layers=[...])`, or load a backbone with `<EarlyExit class>.from_pretrained(path, num_labels=..., "
        "exit_layers=[...])` and train it"
    )
    return (f"Expected an early-exit model, got {type(model).__name__}, which has no exits. The early-exit classes "
            f"are {classes}. To get one, {fix}.")


def check_early_exit_model(model) -> None:
    """Raises a `TypeError` when `model` is not an early-exit classifier (one with exits and exit temperatures)."""
    if not isinstance(model, EarlyExitModelMixin) or not hasattr(model.config, "exit_layers"):
        raise HfNotlikeTypeError(not_early_exit_message(model))
    if model.config.num_labels < 2:
        raise HfNotlikeInputError(
            "This is a regression model (num_labels=1): it has no class confidence to calibrate or to exit on. "
            "Calibration and speed/accuracy sweeps need a classification head (num_labels >= 2)."
        )


def _label_column(dataset) -> str:
    for name in LABEL_COLUMNS:
        if name in dataset.column_names:
            return name
    raise HfNotlikeInputError(
        f"The evaluation set has no label column (looked for {list(LABEL_COLUMNS)}; it has {dataset.column_names}). "
        "Calibration and accuracy need gold labels: use a labelled split, or rename its label column to 'label'."
    )


def check_positive_int(value, name: str) -> int:
    """Returns `value` if it is a positive `int` (not a bool); raises a `ValueError` naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise HfNotlikeInputError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def _max_length(config, model) -> int | None:
    """The longest input the backbone's absolute position embeddings allow (None when not known)."""
    limit = getattr(config, "max_position_embeddings", None)
    prefix = getattr(model, "base_model_prefix", "")
    if not isinstance(limit, int) or prefix not in ("bert", "roberta", "distilbert", "electra", "xlm_roberta", "mpnet"):
        return None
    if "roberta" in prefix or prefix == "mpnet":  # RoBERTa's and MPNet's positions start after the padding index
        limit -= (config.pad_token_id if config.pad_token_id is not None else 1) + 1
    return limit


def check_eval_dataset(dataset, model=None) -> str:
    """Checks that `dataset` is a non-empty tokenized `datasets.Dataset` with labels; returns the label column.

    With `model`, also checks every row against it (this reads the columns once, which costs far less than a pass):
    `input_ids` non-empty lists of token ids in `[0, vocab_size)` no longer than the position embeddings allow,
    `attention_mask` / `token_type_ids` of the same lengths with valid values, and labels that are integer class
    indices in `[0, num_labels)`.

    Raises:
        `TypeError` when it is not a `datasets.Dataset`; `ValueError` when it is empty, not tokenized, unlabelled, or
        (with `model`) a row does not fit the model; each message names the column and the first bad row.
    """
    import datasets

    if not isinstance(dataset, datasets.Dataset):
        raise HfNotlikeTypeError(
            f"`eval_dataset` must be a tokenized `datasets.Dataset`, got {type(dataset).__name__}. For a "
            "`DatasetDict`, pick a split, e.g. `splits['validation']`."
        )
    if len(dataset) == 0:
        raise HfNotlikeInputError("`eval_dataset` is empty; give at least one labelled example.")
    if "input_ids" not in dataset.column_names:
        raise HfNotlikeInputError(
            f"`eval_dataset` is not tokenized (no 'input_ids' column; it has {dataset.column_names}). Tokenize it "
            "first, e.g. `dataset.map(lambda b: tokenizer(b['text'], truncation=True), batched=True)`."
        )
    label_column = _label_column(dataset)
    if model is not None:
        _check_rows(dataset, label_column, model)
    return label_column


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rows(dataset, label_column: str, model) -> None:
    config = model.config
    columns = [name for name in MODEL_INPUTS if name in dataset.column_names]
    data = dataset.select_columns(columns + [label_column]).to_dict()
    vocab_size = config.vocab_size
    max_length = _max_length(config, model)
    type_vocab_size = getattr(config, "type_vocab_size", None)
    for i, ids in enumerate(data["input_ids"]):
        if not isinstance(ids, (list, tuple)) or len(ids) == 0:
            raise HfNotlikeInputError(
                f"`eval_dataset` row {i}: 'input_ids' must be a non-empty list of token ids, got {ids!r}. Drop empty "
                "texts before tokenizing, e.g. `dataset.filter(lambda row: row['text'].strip() != '')`."
            )
        if not all(_is_int(t) and 0 <= t < vocab_size for t in ids):
            bad = next(t for t in ids if not (_is_int(t) and 0 <= t < vocab_size))
            raise HfNotlikeInputError(
                f"`eval_dataset` row {i}: 'input_ids' holds {bad!r}; token ids must be integers in [0, {vocab_size}) "
                "(the model's vocab_size). Tokenize with the model's own tokenizer."
            )
        if max_length is not None and len(ids) > max_length:
            raise HfNotlikeInputError(
                f"`eval_dataset` row {i} has {len(ids)} tokens; this model takes at most {max_length} (its position "
                "embeddings). Tokenize with `truncation=True, max_length=...`."
            )
        for name, allowed in (("attention_mask", 2), ("token_type_ids", type_vocab_size)):
            if name not in data:
                continue
            values = data[name][i]
            if not isinstance(values, (list, tuple)) or len(values) != len(ids):
                raise HfNotlikeInputError(
                    f"`eval_dataset` row {i}: '{name}' must have one value per token ({len(ids)}), got {values!r}."
                )
            if allowed is not None and not all(_is_int(v) and 0 <= v < allowed for v in values):
                raise HfNotlikeInputError(f"`eval_dataset` row {i}: '{name}' values must be integers in [0, {allowed}).")
            if name == "attention_mask" and not any(values):
                raise HfNotlikeInputError(f"`eval_dataset` row {i}: 'attention_mask' masks every token; drop the row.")
    num_labels = config.num_labels
    for i, label in enumerate(data[label_column]):
        if not _is_int(label) or not 0 <= label < num_labels:
            raise HfNotlikeInputError(
                f"The labels of `eval_dataset` must be class indices in [0, {num_labels - 1}] "
                f"(num_labels={num_labels}); row {i} has {label!r} in column '{label_column}'."
            )


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([list(row) + [value] * (width - len(row)) for row in rows], dtype=torch.long)


def iterate_batches(dataset, batch_size: int, pad_token_id: int = 0, sort_by_length: bool = True):
    """Yields `(indices, inputs)` over a tokenized dataset: `inputs` is a dict of right-padded `LongTensor`s for the
    model inputs present (`input_ids`, `attention_mask`, `token_type_ids`), `indices` the dataset rows it holds.
    With `sort_by_length`, batches hold rows of similar length (less padding); the indices tell where they belong."""
    columns = [name for name in MODEL_INPUTS if name in dataset.column_names]
    data = dataset.select_columns(columns).to_dict()
    lengths = [len(ids) for ids in data["input_ids"]]
    order = sorted(range(len(lengths)), key=lengths.__getitem__) if sort_by_length else list(range(len(lengths)))
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        inputs = {}
        for name in columns:
            rows = [data[name][i] for i in indices]
            inputs[name] = _pad(rows, pad_token_id if name == "input_ids" else 0)
        if "attention_mask" not in inputs:
            inputs["attention_mask"] = _pad([[1] * lengths[i] for i in indices], 0)
        yield indices, inputs


@torch.no_grad()
def collect_exit_logits(
    model,
    eval_dataset,
    batch_size: int = 32,
    show_progress: bool = True,
    desc: str = "All-exits pass",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of an early-exit model over a labelled, tokenized dataset that returns the logits of every exit.

    This is the single pass that calibration ([`calibrate_temperatures`]) and the speed/accuracy curve
    ([`~hf_notlike.speed_accuracy_curve`]) both start from: since the exit rule only reads these logits, any threshold
    and any temperatures can be evaluated from them exactly, without running the model again.

    Args:
        model ([`EarlyExitModelMixin`]): an early-exit classifier; it is put in eval mode (and left there).
        eval_dataset (`datasets.Dataset`): tokenized (`input_ids`, optionally `attention_mask`, `token_type_ids`)
            with a `label` (or `labels`) column of class indices.
        batch_size (`int`, *optional*, defaults to 32): rows per forward pass (rows are grouped by length).
        show_progress (`bool`, *optional*, defaults to `True`): show a tqdm progress bar.
        desc (`str`, *optional*): the progress bar's label.

    Returns:
        `(exit_logits, labels)`: a float32 CPU tensor of shape `(num_rows, num_exits, num_labels)` in dataset order,
        and a `LongTensor` of shape `(num_rows,)`.

    Example:

    ```python
    >>> exit_logits, labels = collect_exit_logits(model, tokenized_test)  # doctest: +SKIP
    >>> (exit_logits.argmax(-1) == labels[:, None]).float().mean(0)  # accuracy of every exit  # doctest: +SKIP
    ```
    """
    from tqdm.auto import tqdm

    check_early_exit_model(model)
    check_positive_int(batch_size, "batch_size")
    label_column = check_eval_dataset(eval_dataset, model)
    labels = torch.tensor(eval_dataset[label_column], dtype=torch.long)
    num_labels = model.config.num_labels
    model.eval()
    device = next(model.parameters()).device
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    exit_logits = torch.empty(len(eval_dataset), model.config.num_exits, num_labels)
    with tqdm(total=len(eval_dataset), desc=desc, unit="ex", disable=not show_progress) as bar:
        for indices, inputs in iterate_batches(eval_dataset, batch_size, pad_token_id):
            inputs = {name: tensor.to(device) for name, tensor in inputs.items()}
            output = model(**inputs, output_all_exits=True, return_dict=True)
            exit_logits[torch.tensor(indices)] = output.exit_logits.float().cpu()
            bar.update(len(indices))
    return exit_logits, labels


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 15) -> float:
    r"""Expected calibration error of a classifier (Naeini et al., AAAI 2015; Guo et al., ICML 2017, Eq. 3).

    Rows are put into `num_bins` equal-width bins of confidence `max softmax(logits)`, and
    `ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|`.

    Args:
        logits (`torch.Tensor` of shape `(num_rows, num_labels)`): (temperature-scaled) logits.
        labels (`torch.Tensor` of shape `(num_rows,)`): gold class indices.
        num_bins (`int`, *optional*, defaults to 15): the number of confidence bins (Guo et al. use 15).

    Example:

    ```python
    >>> import torch
    >>> expected_calibration_error(torch.tensor([[4.0, 0.0], [0.0, 4.0]]), torch.tensor([0, 0]))  # doctest: +ELLIPSIS
    0.5...
    ```
    """
    probs = torch.softmax(logits.float(), dim=-1)
    confidence, prediction = probs.max(dim=-1)
    correct = (prediction == labels).float()
    bins = torch.clamp((confidence * num_bins).long(), max=num_bins - 1)  # bin b holds (b/n, (b+1)/n]
    ece = torch.zeros(())
    for b in range(num_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.float().mean() * (correct[in_bin].mean() - confidence[in_bin].mean()).abs()
    return float(ece)


def _nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    return float(F.cross_entropy(logits.double() / temperature, labels))


def fit_temperature(
    logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100, bounds: tuple[float, float] = TEMPERATURE_BOUNDS
) -> float:
    """The temperature `T > 0` minimising the NLL of `softmax(logits / T)` (Guo et al., ICML 2017, Sec. 4.2).

    Optimised with L-BFGS (strong Wolfe line search) on `log T`, which keeps `T` positive; the result is clipped to
    `bounds` (on separable data the NLL keeps falling as `T -> 0`).

    Args:
        logits (`torch.Tensor` of shape `(num_rows, num_labels)`): uncalibrated logits of one exit.
        labels (`torch.Tensor` of shape `(num_rows,)`): gold class indices.
        max_iter (`int`, *optional*, defaults to 100): L-BFGS iterations.
        bounds (`tuple[float, float]`, *optional*, defaults to `(0.01, 100.0)`): the allowed range of `T`.

    Example:

    ```python
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <...>
    >>> true_logits = torch.randn(4000, 5) * 3
    >>> labels = torch.distributions.Categorical(logits=true_logits).sample()
    >>> round(fit_temperature(true_logits * 2.0, labels), 1)  # over-confident by a factor 2
    2.0
    ```
    """
    logits = logits.detach().double()
    labels = labels.detach().long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    temperature = float(log_t.detach().exp())
    if not math.isfinite(temperature):
        temperature = bounds[1]
    return min(max(temperature, bounds[0]), bounds[1])


def ece_noise(logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 15) -> float:
    r"""The sampling noise of [`expected_calibration_error`] on these rows: `sum_b sqrt(|B_b| c_b (1 - c_b)) / n`, the
    standard error of each bin's accuracy at its mean confidence `c_b`, weighted like the ECE. A perfectly calibrated
    model shows an ECE of about this size on `n` rows by chance alone, so ECE changes smaller than it mean nothing.

    Example:

    ```python
    >>> import torch
    >>> logits = torch.tensor([[3.0, 0.0]] * 200)  # confidence 0.95 on 200 rows
    >>> round(ece_noise(logits, torch.zeros(200, dtype=torch.long)), 4)
    0.015
    ```
    """
    confidence = torch.softmax(logits.double(), dim=-1).max(dim=-1).values
    bins = torch.clamp((confidence * num_bins).long(), max=num_bins - 1)
    total = 0.0
    for b in bins.unique():
        c = confidence[bins == b]
        mean = float(c.mean())
        total += math.sqrt(len(c) * mean * (1 - mean))
    return total / max(len(confidence), 1)


def _label_prior(labels: torch.Tensor, num_labels: int) -> tuple[torch.Tensor, float]:
    """The label frequencies and their entropy (the NLL of always predicting the prior)."""
    prior = torch.bincount(labels, minlength=num_labels).double() / len(labels)
    entropy = float(-(prior[prior > 0] * prior[prior > 0].log()).sum())
    return prior, entropy


def _at_prior_reason(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> str | None:
    """Why this exit's predictions sit at the class prior (None when they do not), from its logits on the rows."""
    n, num_labels = logits.shape
    prior, entropy = _label_prior(labels, num_labels)
    majority = float(prior.max())
    predictions = logits.argmax(-1)
    shares = torch.bincount(predictions, minlength=num_labels).double() / n
    top_share, top_class = float(shares.max()), int(shares.argmax())
    nll = _nll(logits, labels, temperature)
    if (top_share >= PRIOR_PREDICTION_SHARE and majority < PRIOR_PREDICTION_SHARE - 0.03
            and nll > 0.9 * entropy):  # one class for (nearly) every row, and the confidences explain little
        return (f"it predicts class {top_class} for {100 * top_share:.1f}% of the rows, whose most frequent class "
                f"is only {100 * majority:.1f}% (calibrated NLL {nll:.3f}, label prior's {entropy:.3f})")
    accuracy = float((predictions == labels).double().mean())
    noise = 2 * math.sqrt(majority * (1 - majority) / n)  # two standard errors of an accuracy at the majority rate
    margin = max(0.01, 0.02 * entropy)
    if accuracy <= majority + noise and nll >= entropy - margin:
        return (f"its accuracy {100 * accuracy:.1f}% is no better than always predicting the majority class "
                f"({100 * majority:.1f}% on {n} rows, up to noise), and its calibrated NLL {nll:.3f} no better than "
                f"the label prior's {entropy:.3f}")
    return None


def _prior_fix(config=None) -> str:
    """What to change when an exit has not learned, tailored to the model's config when given."""
    fixes = []
    exit_input = getattr(config, "exit_input", None)
    if exit_input is None or exit_input in ("cls", "weighted_cls"):
        fixes.append('on a sentence encoder (mean-pooled, e.g. all-MiniLM or all-mpnet) build the model with '
                     'exit_input="weighted_mean"' + (f" (it reads {exit_input!r})" if exit_input else ""))
    multiplier = getattr(config, "exit_learning_rate_multiplier", None)
    fixes.append("train longer (more epochs or rows)")
    fixes.append("raise exit_learning_rate_multiplier" + (f" (now {multiplier:g})" if multiplier is not None else "")
                 + " and train with EarlyExitTrainer or early_exit_optimizer")
    fixes.append("check that the labels match the texts")
    return "; ".join(fixes)


def _as_exit_logits(logits_per_exit) -> torch.Tensor:
    if isinstance(logits_per_exit, (list, tuple)):
        if not logits_per_exit or not all(isinstance(t, torch.Tensor) for t in logits_per_exit):
            raise HfNotlikeTypeError("`logits_per_exit` must be a tensor (num_rows, num_exits, num_labels) or a non-empty list "
                            "of (num_rows, num_labels) tensors, one per exit.")
        logits_per_exit = torch.stack([t.detach().float().cpu() for t in logits_per_exit], dim=1)
    if not isinstance(logits_per_exit, torch.Tensor):
        raise HfNotlikeTypeError(f"`logits_per_exit` must be a torch tensor, got {type(logits_per_exit).__name__}.")
    return logits_per_exit.detach().float().cpu()


def check_exits_learned(
    logits_per_exit: torch.Tensor | list[torch.Tensor],
    labels: torch.Tensor,
    exit_layers: list[int] | None = None,
    config=None,
    temperatures: list[float] | None = None,
) -> list[str]:
    """Which exits have not learned: their predictions sit at the class prior. One message per such exit, naming it
    and the fix; an empty list when every exit learned something.

    An exit sits at the prior when it predicts one class for at least `PRIOR_PREDICTION_SHARE` (98%) of rows whose
    labels are mixed while its calibrated NLL explains less than a tenth of the label entropy, or when its accuracy is within two standard errors of always predicting the majority class
    *and* its (temperature-scaled) NLL is no better than the label prior's entropy. Exits that are merely weak (an
    early layer well above the majority rate) pass. Runs on the CPU in well under a second for a few hundred rows;
    the trainer calls it once after training ([`EarlyExitTrainer`]), and [`calibrate_temperatures`] on its rows.

    Args:
        logits_per_exit (`torch.Tensor` of shape `(num_rows, num_exits, num_labels)`, or a list of
            `(num_rows, num_labels)` tensors): every exit's logits on held-out (or training) rows, e.g. from
            [`collect_exit_logits`].
        labels (`torch.Tensor` of shape `(num_rows,)`): gold class indices.
        exit_layers (`list[int]`, *optional*): the layer of each exit, for the messages (default: 1, 2, ...).
        config (`PretrainedConfig`, *optional*): the model's config; tailors the fix (its `exit_input`,
            `exit_learning_rate_multiplier`).
        temperatures (`list[float]`, *optional*): temperatures to judge the NLL at (default: the best one per exit,
            so that a merely over-confident exit is not blamed).

    Returns:
        `list[str]`: one message per exit at the prior.

    Raises:
        `ValueError` when the rows cannot tell (fewer than `MIN_CHECK_ROWS`, or a single class), or for malformed
        shapes; `TypeError` for non-tensors.

    Example:

    ```python
    >>> import torch
    >>> labels = torch.arange(200) % 2
    >>> good = torch.stack([(2 * labels - 1).float(), (1 - 2 * labels).float()], -1) * -2  # right, confident
    >>> stuck = torch.zeros(200, 2) + torch.tensor([0.3, 0.0])  # always class 0
    >>> check_exits_learned(torch.stack([stuck, good], 1), labels, exit_layers=[3, 6])  # doctest: +ELLIPSIS
    ['exit 3 has not learned: it predicts class 0 for 100.0% of the rows, ...']
    ```
    """
    exit_logits = _as_exit_logits(logits_per_exit)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype.is_floating_point:
        raise HfNotlikeTypeError("`labels` must be a 1-D integer tensor of class indices.")
    labels = labels.detach().long().cpu()
    if exit_logits.ndim != 3 or exit_logits.shape[0] != labels.shape[0] or exit_logits.shape[2] < 2:
        raise HfNotlikeInputError(f"`logits_per_exit` must have shape (num_rows, num_exits, num_labels >= 2) with num_rows = "
                         f"len(labels); got {tuple(exit_logits.shape)} and {tuple(labels.shape)}.")
    num_rows, num_exits, num_labels = exit_logits.shape
    exit_layers = list(range(1, num_exits + 1)) if exit_layers is None else list(exit_layers)
    if len(exit_layers) != num_exits:
        raise HfNotlikeInputError(f"{num_exits} exits in `logits_per_exit` but {len(exit_layers)} `exit_layers`.")
    if labels.min() < 0 or labels.max() >= num_labels:
        raise HfNotlikeInputError(f"`labels` must be class indices in [0, {num_labels - 1}].")
    if num_rows < MIN_CHECK_ROWS:
        raise HfNotlikeInputError(f"{num_rows} rows are too few to tell whether the exits learned; give at least "
                         f"{MIN_CHECK_ROWS} held-out rows.")
    if int((torch.bincount(labels, minlength=num_labels) > 0).sum()) < 2:
        raise HfNotlikeInputError(f"All {num_rows} rows have label {int(labels[0])}: give rows of several classes to tell "
                         "whether the exits learned.")
    messages = []
    for k, layer in enumerate(exit_layers):
        logits = exit_logits[:, k]
        if temperatures is not None:
            temperature = float(temperatures[k])
        else:
            temperature = fit_temperature(logits, labels)
        reason = _at_prior_reason(logits, labels, temperature)
        if reason is not None:
            messages.append(f"exit {layer} has not learned: {reason}; no threshold makes it useful. Fix the "
                            f"training: {_prior_fix(config)}.")
    return messages


ECE_NOISE_FACTOR = 1.5
"""An ECE rise counts as calibration making an exit worse only beyond this many times the rows' ECE noise
([`ece_noise`]). Temperature scaling minimises NLL, not ECE: on a few hundred rows a good model's binned ECE moves
by up to about one noise unit either way with the fitted temperature (e.g. when a few confident mistakes dominate
the NLL), which is not a failure."""


def _ece_rose(row: dict) -> bool:
    """Whether calibration raised an exit's ECE beyond noise (by more than `ECE_NOISE_FACTOR` x its noise on these
    rows, and more than `WORSE_TOLERANCE`)."""
    noise = row.get("ece_noise") or 0.0
    return row["ece_after"] > row["ece_before"] + max(WORSE_TOLERANCE, ECE_NOISE_FACTOR * noise)


@dataclass
class CalibrationResult:
    """What [`calibrate_temperatures`] fitted and how much it helped, per exit.

    Args:
        exit_layers (`list[int]`): the (1-based) layer of each exit.
        temperatures (`list[float]`): the fitted temperature of each exit (now in `model.config.temperatures`).
        ece_before, ece_after (`list[float]`): expected calibration error of each exit with `T = 1` and with the fit.
        nll_before, nll_after (`list[float]`): mean negative log-likelihood of each exit, likewise.
        accuracy (`list[float]`): accuracy of each exit (unchanged by temperature scaling).
        num_examples (`int`): size of the calibration set.
        ece_noise (`list[float]`, *optional*): per exit, the sampling noise of its ECE on these rows
            ([`ece_noise`]); ECE rises below it are not called worse.
        messages (`list[str]`, *optional*): the problems found ([`CalibrationWarning`] messages), one per exit and
            problem; empty when calibration went well.
    """

    exit_layers: list[int]
    temperatures: list[float]
    ece_before: list[float]
    ece_after: list[float]
    nll_before: list[float]
    nll_after: list[float]
    accuracy: list[float]
    num_examples: int = 0
    ece_noise: list[float] | None = None
    messages: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list, repr=False)

    def __post_init__(self):
        noise = self.ece_noise if self.ece_noise is not None else [0.0] * len(self.exit_layers)
        self.rows = [
            {
                "exit_layer": layer,
                "temperature": t,
                "accuracy": acc,
                "ece_before": eb,
                "ece_after": ea,
                "nll_before": nb,
                "nll_after": na,
                "ece_noise": en,
            }
            for layer, t, acc, eb, ea, nb, na, en in zip(
                self.exit_layers, self.temperatures, self.accuracy, self.ece_before, self.ece_after,
                self.nll_before, self.nll_after, noise,
            )
        ]

    @property
    def worse_exits(self) -> list[int]:
        """The exit layers that calibration made worse on its own rows: NLL up by more than `WORSE_TOLERANCE`
        (the fit failed: `T = 1` was in reach), or ECE up beyond the noise of binned ECE on this many rows
        ([`ece_noise`]: up by more than `ECE_NOISE_FACTOR` times it), so that a wobble of a good model is not called
        a failure."""
        return [
            row["exit_layer"] for row in self.rows
            if _ece_rose(row)
            or row["nll_after"] > row["nll_before"] + WORSE_TOLERANCE
        ]

    @property
    def failed_exits(self) -> list[int]:
        """The exit layers named by a message (at the prior, temperature at the search bound, or worse)."""
        return [layer for layer in self.exit_layers if any(m.startswith(f"exit {layer} ") for m in self.messages)]

    def worse_message(self) -> str | None:
        """All problems in one paragraph (None when there are none)."""
        return " ".join(self.messages) if self.messages else None

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (the per-exit lists, `num_examples` and the messages)."""
        data = asdict(self)
        data.pop("rows")
        return data

    def __str__(self) -> str:
        header = f"{'exit':>4} {'T':>6} {'acc':>6} {'ECE before':>10} {'ECE after':>9} {'NLL before':>10} {'NLL after':>9}"
        lines = [f"Temperature calibration on {self.num_examples} examples", header]
        failed = set(self.failed_exits) | set(self.worse_exits)
        for row in self.rows:
            lines.append(
                f"{row['exit_layer']:>4} {row['temperature']:>6.3f} {row['accuracy']:>6.4f} {row['ece_before']:>10.4f} "
                f"{row['ece_after']:>9.4f} {row['nll_before']:>10.4f} {row['nll_after']:>9.4f}"
                + ("  <- see the warning below" if row["exit_layer"] in failed else "")
            )
        lines += ["WARNING: " + message for message in self.messages]
        return "\n".join(lines)


def _calibration_messages(result: CalibrationResult, exit_logits: torch.Tensor, labels: torch.Tensor,
                          config=None) -> list[str]:
    """The problems of a calibration, one message per exit and problem, each naming the fix."""
    n = result.num_examples
    messages = []
    if n < MIN_CALIBRATION_ROWS:
        messages.append(
            f"Calibrated on only {n} rows: the temperatures are noise (a handful of rows is often separated "
            f"perfectly, driving T to a bound). Calibrate on a held-out split of a few hundred rows (at least "
            f"{MIN_CALIBRATION_ROWS})."
        )
    at_prior = {}
    if n >= MIN_CHECK_ROWS and int((torch.bincount(labels) > 0).sum()) >= 2:
        for k, layer in enumerate(result.exit_layers):
            reason = _at_prior_reason(exit_logits[:, k], labels, result.temperatures[k])
            if reason is not None:
                at_prior[layer] = reason
                messages.append(f"exit {layer} has not learned: {reason}; calibration cannot fix that and no "
                                f"threshold makes it useful. Fix the training: {_prior_fix(config)}.")
    elif n >= MIN_CHECK_ROWS:
        messages.append(f"All {n} calibration rows have label {int(labels[0])}: the temperatures only learn to be "
                        "confident. Calibrate on rows of every class.")
    low, high = TEMPERATURE_BOUNDS
    for row in result.rows:
        layer, t = row["exit_layer"], row["temperature"]
        if layer in at_prior:
            continue  # one message per exit at the prior: its temperature and ECE follow from it
        if t >= high / 1.05:
            messages.append(
                f"exit {layer}: the temperature reached the search bound ({t:g}): the exit's confidence carries no "
                f"information about being right on these {n} rows, so calibration flattened it to uniform. Check the "
                f"exit's training ({_prior_fix(config)}) and calibrate on more held-out rows."
            )
        elif t <= low * 1.05:
            messages.append(
                f"exit {layer}: the temperature reached the search bound ({t:g}): the exit separates these {n} rows "
                "perfectly, so the fit makes it certain of everything. Calibrate on more (and harder) held-out rows, "
                "not on training rows."
            )
        elif row["nll_after"] > row["nll_before"] + WORSE_TOLERANCE:
            messages.append(
                f"exit {layer}: calibration raised the NLL on its own rows ({row['nll_before']:.3f} -> "
                f"{row['nll_after']:.3f}): the temperature fit failed. Set this exit's entry of "
                "`model.config.temperatures` back to 1.0 and report the logits' range (very large logits overflow)."
            )
        elif _ece_rose(row):
            messages.append(
                f"exit {layer} (ECE {row['ece_before']:.3f} -> {row['ece_after']:.3f}, NLL {row['nll_before']:.3f} "
                f"-> {row['nll_after']:.3f}, accuracy {row['accuracy']:.3f}): calibration raised the ECE beyond its "
                f"noise on {n} rows ({row['ece_noise']:.3f}): the exit's confidence ranks its right and "
                "wrong rows poorly. Check its training before trusting thresholds there, or set its entry of "
                "`model.config.temperatures` back to 1.0."
            )
    return messages


def calibrate_from_logits(exit_logits: torch.Tensor, labels: torch.Tensor, exit_layers: list[int], num_bins: int = 15,
                          max_iter: int = 100, config=None) -> CalibrationResult:
    """Fits one temperature per exit on precomputed `exit_logits` `(num_rows, num_exits, num_labels)`; see
    [`calibrate_temperatures`]. Does not touch any model. Warns ([`CalibrationWarning`], one per problem, naming the
    exit and the fix) when an exit sits at the class prior, its temperature hits the search bound, calibration made
    it worse beyond the rows' noise, or the rows are too few; `config` (the model's) tailors the fixes.

    Raises:
        `ValueError` when every row gives the same logits at every exit (e.g. all texts empty), besides malformed
        inputs; `TypeError` for non-tensors.
    """
    check_positive_int(num_bins, "num_bins")
    check_positive_int(max_iter, "max_iter")
    if not isinstance(exit_logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise HfNotlikeTypeError("`exit_logits` and `labels` must be torch tensors (see `collect_exit_logits`).")
    if exit_logits.ndim != 3 or labels.ndim != 1 or exit_logits.shape[0] != labels.shape[0]:
        raise HfNotlikeInputError(
            f"`exit_logits` must have shape (num_rows, num_exits, num_labels) with num_rows = len(labels); got "
            f"{tuple(exit_logits.shape)} and {tuple(labels.shape)}."
        )
    if exit_logits.shape[1] != len(exit_layers):
        raise HfNotlikeInputError(f"{exit_logits.shape[1]} exits in `exit_logits` but {len(exit_layers)} `exit_layers`.")
    if exit_logits.shape[0] == 0 or exit_logits.shape[2] < 2:
        raise HfNotlikeInputError(f"Calibration needs at least one row and two classes; `exit_logits` has shape "
                         f"{tuple(exit_logits.shape)}.")
    if not torch.isfinite(exit_logits).all():
        raise HfNotlikeInputError("`exit_logits` contain NaN or inf: the model diverged or overflowed; nothing to calibrate.")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= exit_logits.shape[2]:
        raise HfNotlikeInputError(f"`labels` must be integer class indices in [0, {exit_logits.shape[2] - 1}].")
    if exit_logits.shape[0] > 1 and bool((exit_logits == exit_logits[:1]).all()):
        raise HfNotlikeInputError(
            f"All {exit_logits.shape[0]} rows give the same logits at every exit (e.g. every text is empty, so each "
            "row is only the special tokens): there is nothing to calibrate on, and the temperatures would sit at a "
            "search bound. Calibrate on real held-out texts."
        )
    exit_logits = exit_logits.detach().float().cpu()
    labels = labels.detach().long().cpu()
    temperatures, ece_before, ece_after, nll_before, nll_after, accuracy, noise = [], [], [], [], [], [], []
    for k in range(exit_logits.shape[1]):
        logits = exit_logits[:, k]
        t = fit_temperature(logits, labels, max_iter=max_iter)
        temperatures.append(t)
        accuracy.append(float((logits.argmax(-1) == labels).float().mean()))
        ece_before.append(expected_calibration_error(logits, labels, num_bins))
        ece_after.append(expected_calibration_error(logits / t, labels, num_bins))
        nll_before.append(_nll(logits, labels))
        nll_after.append(_nll(logits, labels, t))
        noise.append(max(ece_noise(logits, labels, num_bins), ece_noise(logits / t, labels, num_bins)))
    result = CalibrationResult(
        exit_layers=list(exit_layers), temperatures=temperatures, ece_before=ece_before, ece_after=ece_after,
        nll_before=nll_before, nll_after=nll_after, accuracy=accuracy, num_examples=int(labels.shape[0]),
        ece_noise=noise,
    )
    result.messages = _calibration_messages(result, exit_logits, labels, config)
    for message in result.messages:
        warnings.warn(message, CalibrationWarning, stacklevel=3)
    return result


def _check_texts(dataset) -> None:
    """Raises when every row is the same token sequence (e.g. all texts empty: each row only `[CLS] [SEP]`); warns
    when more than a tenth of the rows are one and the same sequence of at most two tokens (empty texts)."""
    from collections import Counter

    ids = dataset["input_ids"]
    counts = Counter(tuple(row) for row in ids)
    if len(ids) > 1 and len(counts) == 1:
        only = next(iter(counts))
        raise HfNotlikeInputError(
            f"`eval_dataset` holds no text to calibrate on: all {len(ids)} rows are the same token sequence "
            f"{list(only)}" + (" (empty texts: only the special tokens)" if len(only) <= 2 else "") + ", so every "
            "exit gives every row the same logits and the temperatures would sit at a search bound. Check the text "
            "column you tokenized, and drop empty texts, e.g. `dataset.filter(lambda row: row['text'].strip() != '')`."
        )
    empty = max((count for row, count in counts.items() if len(row) <= 2), default=0)
    if empty >= 2 and empty > len(ids) / 10:
        warnings.warn(
            f"{empty} of {len(ids)} calibration rows hold no text (one and the same sequence of at most two tokens, "
            "e.g. empty strings tokenized): they pull every temperature towards the exits' answer on an "
            "empty input. Drop empty texts before tokenizing.",
            CalibrationWarning, stacklevel=3,
        )


def calibrate_temperatures(
    model,
    eval_dataset,
    batch_size: int = 32,
    num_bins: int = 15,
    max_iter: int = 100,
    show_progress: bool = True,
) -> CalibrationResult:
    """Fits one temperature per exit of an early-exit model on a held-out split and stores them in its config.

    One all-exits pass ([`collect_exit_logits`]) gives every exit's logits for every row; then each exit's
    temperature minimises the negative log-likelihood (temperature scaling, Guo et al., ICML 2017), as Schwartz et
    al. (ACL 2020) do so that one confidence threshold means the same at every exit. The result is written into
    `model.config.temperatures`, so `save_pretrained` keeps it. Predictions do not change; confidences do.

    Args:
        model ([`EarlyExitModelMixin`]): an early-exit classifier (`num_labels >= 2`).
        eval_dataset (`datasets.Dataset`): a held-out split (not the test set), tokenized, with a `label` column.
        batch_size (`int`, *optional*, defaults to 32): rows per forward pass.
        num_bins (`int`, *optional*, defaults to 15): confidence bins of the expected calibration error.
        max_iter (`int`, *optional*, defaults to 100): L-BFGS iterations per exit.
        show_progress (`bool`, *optional*, defaults to `True`): show a progress bar over the pass.

    Returns:
        [`CalibrationResult`]: the temperatures, and per exit the ECE and NLL before and after, and the accuracy.

    Raises:
        `TypeError` for a model without exits or an `eval_dataset` that is not a `datasets.Dataset`;
        `ValueError` for an unlabelled or untokenized dataset, rows that do not fit the model (token ids, lengths,
        labels), a regression model, or a non-positive `batch_size` / `num_bins` / `max_iter`, or rows that hold no
        text (every row only the special tokens, e.g. empty strings tokenized); all before any pass.

    Warns:
        [`CalibrationWarning`], one per problem, naming the exit and the fix (also in `result.messages`, and
        `print(result)` shows them): an exit that sits at the class prior (it predicts one class for nearly every
        row, or is no more accurate and no more informative than the label prior: training failed for it, e.g. the
        exits of a sentence encoder reading `[CLS]`: use `exit_input="weighted_mean"`, more epochs or a higher
        `exit_learning_rate_multiplier`); a temperature at the search bound; an NLL that rose; an ECE that rose by
        more than the noise of binned ECE on this many rows (a small wobble of a good model does not warn); fewer
        than `MIN_CALIBRATION_ROWS` rows; more than a tenth of the rows without text.

    Example:

    ```python
    >>> from hf_notlike import EarlyExitBertForSequenceClassification, calibrate_temperatures
    >>> model = EarlyExitBertForSequenceClassification.from_pretrained("outputs/rt/model")  # doctest: +SKIP
    >>> result = calibrate_temperatures(model, tokenized_validation)  # doctest: +SKIP
    >>> print(result)  # doctest: +SKIP
    >>> model.save_pretrained("outputs/rt/model")  # doctest: +SKIP
    ```
    """
    check_early_exit_model(model)
    for value, name in ((batch_size, "batch_size"), (num_bins, "num_bins"), (max_iter, "max_iter")):
        check_positive_int(value, name)
    check_eval_dataset(eval_dataset, model)
    _check_texts(eval_dataset)
    exit_logits, labels = collect_exit_logits(
        model, eval_dataset, batch_size=batch_size, show_progress=show_progress, desc="Calibration pass"
    )
    result = calibrate_from_logits(exit_logits, labels, model.config.exit_layers, num_bins=num_bins, max_iter=max_iter,
                                   config=model.config)
    model.config.temperatures = [float(t) for t in result.temperatures]
    record_on_card(model, calibration=result.to_dict())  # the model card says on how many examples
    return result
