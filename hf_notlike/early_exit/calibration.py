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
    "CalibrationWarning",
]

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
WORSE_TOLERANCE = 1e-3
"""How much an exit's ECE (or NLL) may rise on the calibration split before [`calibrate_temperatures`] warns."""


class CalibrationWarning(UserWarning):
    """Calibration made an exit worse (higher ECE or NLL) on the very split it was fitted on."""

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
        raise TypeError(not_early_exit_message(model))
    if model.config.num_labels < 2:
        raise ValueError(
            "This is a regression model (num_labels=1): it has no class confidence to calibrate or to exit on. "
            "Calibration and speed/accuracy sweeps need a classification head (num_labels >= 2)."
        )


def _label_column(dataset) -> str:
    for name in LABEL_COLUMNS:
        if name in dataset.column_names:
            return name
    raise ValueError(
        f"The evaluation set has no label column (looked for {list(LABEL_COLUMNS)}; it has {dataset.column_names}). "
        "Calibration and accuracy need gold labels: use a labelled split, or rename its label column to 'label'."
    )


def check_positive_int(value, name: str) -> int:
    """Returns `value` if it is a positive `int` (not a bool); raises a `ValueError` naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    return value


def _max_length(config, model) -> int | None:
    """The longest input the backbone's absolute position embeddings allow (None when not known)."""
    limit = getattr(config, "max_position_embeddings", None)
    prefix = getattr(model, "base_model_prefix", "")
    if not isinstance(limit, int) or prefix not in ("bert", "roberta", "distilbert", "electra", "xlm_roberta"):
        return None
    if "roberta" in prefix:  # RoBERTa's positions start after the padding index
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
        raise TypeError(
            f"`eval_dataset` must be a tokenized `datasets.Dataset`, got {type(dataset).__name__}. For a "
            "`DatasetDict`, pick a split, e.g. `splits['validation']`."
        )
    if len(dataset) == 0:
        raise ValueError("`eval_dataset` is empty; give at least one labelled example.")
    if "input_ids" not in dataset.column_names:
        raise ValueError(
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
            raise ValueError(
                f"`eval_dataset` row {i}: 'input_ids' must be a non-empty list of token ids, got {ids!r}. Drop empty "
                "texts before tokenizing, e.g. `dataset.filter(lambda row: row['text'].strip() != '')`."
            )
        if not all(_is_int(t) and 0 <= t < vocab_size for t in ids):
            bad = next(t for t in ids if not (_is_int(t) and 0 <= t < vocab_size))
            raise ValueError(
                f"`eval_dataset` row {i}: 'input_ids' holds {bad!r}; token ids must be integers in [0, {vocab_size}) "
                "(the model's vocab_size). Tokenize with the model's own tokenizer."
            )
        if max_length is not None and len(ids) > max_length:
            raise ValueError(
                f"`eval_dataset` row {i} has {len(ids)} tokens; this model takes at most {max_length} (its position "
                "embeddings). Tokenize with `truncation=True, max_length=...`."
            )
        for name, allowed in (("attention_mask", 2), ("token_type_ids", type_vocab_size)):
            if name not in data:
                continue
            values = data[name][i]
            if not isinstance(values, (list, tuple)) or len(values) != len(ids):
                raise ValueError(
                    f"`eval_dataset` row {i}: '{name}' must have one value per token ({len(ids)}), got {values!r}."
                )
            if allowed is not None and not all(_is_int(v) and 0 <= v < allowed for v in values):
                raise ValueError(f"`eval_dataset` row {i}: '{name}' values must be integers in [0, {allowed}).")
            if name == "attention_mask" and not any(values):
                raise ValueError(f"`eval_dataset` row {i}: 'attention_mask' masks every token; drop the row.")
    num_labels = config.num_labels
    for i, label in enumerate(data[label_column]):
        if not _is_int(label) or not 0 <= label < num_labels:
            raise ValueError(
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
    logits: torch.Tensor, labels: torch.Tensor, max_iter: int = 100, bounds: tuple[float, float] = (1e-2, 1e2)
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
    """

    exit_layers: list[int]
    temperatures: list[float]
    ece_before: list[float]
    ece_after: list[float]
    nll_before: list[float]
    nll_after: list[float]
    accuracy: list[float]
    num_examples: int = 0
    rows: list[dict] = field(default_factory=list, repr=False)

    def __post_init__(self):
        self.rows = [
            {
                "exit_layer": layer,
                "temperature": t,
                "accuracy": acc,
                "ece_before": eb,
                "ece_after": ea,
                "nll_before": nb,
                "nll_after": na,
            }
            for layer, t, acc, eb, ea, nb, na in zip(
                self.exit_layers, self.temperatures, self.accuracy, self.ece_before, self.ece_after,
                self.nll_before, self.nll_after,
            )
        ]

    @property
    def worse_exits(self) -> list[int]:
        """The exit layers whose ECE or NLL on the calibration split rose with the fitted temperature (by more than
        `WORSE_TOLERANCE`). Temperature scaling minimises NLL, not ECE, so ECE can rise, typically when a model has
        not learned (its confidence carries little information about being right)."""
        return [
            row["exit_layer"] for row in self.rows
            if row["ece_after"] > row["ece_before"] + WORSE_TOLERANCE
            or row["nll_after"] > row["nll_before"] + WORSE_TOLERANCE
        ]

    def worse_message(self) -> str | None:
        """A sentence on the exits calibration made worse, with what to check; None when there are none."""
        worse = self.worse_exits
        if not worse:
            return None
        details = ", ".join(
            f"exit {row['exit_layer']} (ECE {row['ece_before']:.3f} -> {row['ece_after']:.3f}, NLL "
            f"{row['nll_before']:.3f} -> {row['nll_after']:.3f}, accuracy {row['accuracy']:.3f})"
            for row in self.rows if row["exit_layer"] in worse
        )
        return (
            f"Calibration made {len(worse)} exit(s) worse on the split it was fitted on: {details}. This happens when "
            "a model has not learned (confidence says little about being right): check the training (accuracy, "
            "loss, labels) before trusting the thresholds, or give more held-out rows. To keep an exit "
            "uncalibrated, set its entry of `model.config.temperatures` back to 1.0."
        )

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (the per-exit lists and `num_examples`)."""
        data = asdict(self)
        data.pop("rows")
        return data

    def __str__(self) -> str:
        header = f"{'exit':>4} {'T':>6} {'acc':>6} {'ECE before':>10} {'ECE after':>9} {'NLL before':>10} {'NLL after':>9}"
        lines = [f"Temperature calibration on {self.num_examples} examples", header]
        worse = self.worse_exits
        for row in self.rows:
            lines.append(
                f"{row['exit_layer']:>4} {row['temperature']:>6.3f} {row['accuracy']:>6.4f} {row['ece_before']:>10.4f} "
                f"{row['ece_after']:>9.4f} {row['nll_before']:>10.4f} {row['nll_after']:>9.4f}"
                + ("  <- worse after calibration" if row["exit_layer"] in worse else "")
            )
        message = self.worse_message()
        if message:
            lines.append("WARNING: " + message)
        return "\n".join(lines)


def calibrate_from_logits(exit_logits: torch.Tensor, labels: torch.Tensor, exit_layers: list[int], num_bins: int = 15,
                          max_iter: int = 100) -> CalibrationResult:
    """Fits one temperature per exit on precomputed `exit_logits` `(num_rows, num_exits, num_labels)`; see
    [`calibrate_temperatures`]. Does not touch any model. Warns ([`CalibrationWarning`]) when an exit gets worse on
    these rows."""
    check_positive_int(num_bins, "num_bins")
    check_positive_int(max_iter, "max_iter")
    if not isinstance(exit_logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError("`exit_logits` and `labels` must be torch tensors (see `collect_exit_logits`).")
    if exit_logits.ndim != 3 or labels.ndim != 1 or exit_logits.shape[0] != labels.shape[0]:
        raise ValueError(
            f"`exit_logits` must have shape (num_rows, num_exits, num_labels) with num_rows = len(labels); got "
            f"{tuple(exit_logits.shape)} and {tuple(labels.shape)}."
        )
    if exit_logits.shape[1] != len(exit_layers):
        raise ValueError(f"{exit_logits.shape[1]} exits in `exit_logits` but {len(exit_layers)} `exit_layers`.")
    if exit_logits.shape[0] == 0 or exit_logits.shape[2] < 2:
        raise ValueError(f"Calibration needs at least one row and two classes; `exit_logits` has shape "
                         f"{tuple(exit_logits.shape)}.")
    if not torch.isfinite(exit_logits).all():
        raise ValueError("`exit_logits` contain NaN or inf: the model diverged or overflowed; nothing to calibrate.")
    if labels.dtype.is_floating_point or labels.min() < 0 or labels.max() >= exit_logits.shape[2]:
        raise ValueError(f"`labels` must be integer class indices in [0, {exit_logits.shape[2] - 1}].")
    temperatures, ece_before, ece_after, nll_before, nll_after, accuracy = [], [], [], [], [], []
    for k in range(exit_logits.shape[1]):
        logits = exit_logits[:, k]
        t = fit_temperature(logits, labels, max_iter=max_iter)
        temperatures.append(t)
        accuracy.append(float((logits.argmax(-1) == labels).float().mean()))
        ece_before.append(expected_calibration_error(logits, labels, num_bins))
        ece_after.append(expected_calibration_error(logits / t, labels, num_bins))
        nll_before.append(_nll(logits, labels))
        nll_after.append(_nll(logits, labels, t))
    result = CalibrationResult(
        exit_layers=list(exit_layers), temperatures=temperatures, ece_before=ece_before, ece_after=ece_after,
        nll_before=nll_before, nll_after=nll_after, accuracy=accuracy, num_examples=int(labels.shape[0]),
    )
    message = result.worse_message()
    if message:
        warnings.warn(message, CalibrationWarning, stacklevel=3)
    return result


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
        labels), a regression model, or a non-positive `batch_size` / `num_bins` / `max_iter`; all before any pass.

    Warns:
        [`CalibrationWarning`] when an exit's ECE or NLL rises on `eval_dataset` itself (see
        [`CalibrationResult.worse_exits`]); `print(result)` marks those exits too.

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
    exit_logits, labels = collect_exit_logits(  # checks the dataset against the model before the pass
        model, eval_dataset, batch_size=batch_size, show_progress=show_progress, desc="Calibration pass"
    )
    result = calibrate_from_logits(exit_logits, labels, model.config.exit_layers, num_bins=num_bins, max_iter=max_iter)
    model.config.temperatures = [float(t) for t in result.temperatures]
    record_on_card(model, calibration=result.to_dict())  # the model card says on how many examples
    return result
