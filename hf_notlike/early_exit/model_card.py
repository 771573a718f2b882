# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The model card of early-exit models, in the manner of setfit's `SetFitModelCardData`: an
[`EarlyExitModelCardData`] held by each model as `model.card_data`, filled as things happen (the base model when the
backbone is loaded, training by [`EarlyExitCardCallback`], the temperatures by `calibrate_temperatures`, the
trade-off table by `speed_accuracy_curve`) and by the user (`model.card_data.dataset_name = "Rotten Tomatoes"`), and
rendered into README.md by every `save_pretrained` and `push_to_hub`.

How the card gets written while `modeling.py` stays self-contained (it is copied into Hub repos and loaded with
`trust_remote_code=True` where hf_notlike is absent, so it may import only torch and transformers):
`modeling.register_card_data(EarlyExitModelCardData)` (called when `hf_notlike.early_exit` is imported) tells the
model file which class to instantiate for `model.card_data`; the model then calls the duck-typed
`card_data.write_card(model, save_directory, repo_id)` at the end of `save_pretrained`. In the Hub copy nothing is
registered, `model.card_data` is None and no card is written.

Example:

```python
>>> from hf_notlike import EarlyExitBertConfig, EarlyExitModelCardData
>>> config = EarlyExitBertConfig(num_hidden_layers=4, exit_layers=[2], num_labels=2)
>>> card = EarlyExitModelCardData(dataset_name="Rotten Tomatoes").to_card(config, repo_id="me/tiny-early-exit")
>>> card.data.tags, card.data.model_name
(['hf_notlike', 'early-exit', 'text-classification', 'bert'], 'tiny-early-exit')
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from ..artifacts import write_text
from ..errors import HfNotlikeInputError, HfNotlikeTypeError
from ..hub import LIBRARY_NAME, TEMPLATES_DIR, check_card, display_name, is_hub_repo_id, load_json_file, markdown_table

__all__ = [
    "EarlyExitModelCardData",
    "EarlyExitCardCallback",
    "SWEEP_FILE",
    "check_early_exit_card",
    "load_sweep",
    "record_on_card",
]

TEMPLATE = TEMPLATES_DIR / "early_exit_model_card.md"
SWEEP_FILE = "sweep.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")
# sweep.json column names (any of the aliases) and how the card shows them
SWEEP_COLUMNS = {
    "threshold": (("threshold", "exit_threshold"), "threshold"),
    "accuracy": (("accuracy", "acc", "eval_accuracy"), "accuracy"),
    "mean_layers": (("mean_layers", "avg_layers", "mean_layer", "layers_used", "mean_exit_layer"), "mean layers"),
    "speedup": (("speedup", "speed_up", "speed-up", "wall_clock_speedup"), "speed-up"),
}
# display names of the backbones (others show their transformers model_type)
_BACKBONE_NAMES = {"bert": "BERT", "roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa", "electra": "ELECTRA",
                   "distilbert": "DistilBERT", "deberta-v2": "DeBERTa-v2", "modernbert": "ModernBERT",
                   "mpnet": "MPNet"}
# card fields kept from an earlier hf_notlike card in the folder a model was loaded from
_KEPT_FROM_CARD = ("base_model", "datasets", "license", "language", "model_name")


@dataclass
class EarlyExitModelCardData:
    """What the model card of an early-exit model says beyond its configuration; held by the model as
    `model.card_data` and rendered into README.md by `save_pretrained` / `push_to_hub`.

    Args:
        model_name (`str`, *optional*): the title; defaults to the repo name, else a name made from the save folder
            or the base model (never a local path).
        model_summary (`str`, *optional*): a paragraph at the top.
        base_model (`str`, *optional*): Hub id of the checkpoint the model was fine-tuned from; recorded when the
            backbone is loaded from a Hub id.
        datasets (`list[str]`, *optional*): Hub ids of the training data.
        dataset_name (`str`, *optional*): display name of the data (defaults to the first of `datasets`).
        dataset_id (`str`, *optional*): Hub id of the evaluation data in `eval_results` (defaults to the first of
            `datasets`).
        dataset_split (`str`, *optional*): the split the trade-off table was measured on.
        license (`str`, *optional*), language (`list[str]`, *optional*), tags (`list[str]`, *optional*): metadata;
            the tags `hf_notlike`, `early-exit`, `text-classification` and the backbone are always present.
        training_details (`str`, *optional*): Markdown for the "Training" section (default: what
            [`EarlyExitCardCallback`] recorded).
        example_text (`str`, *optional*): the input of the usage snippet.
        sweep (`dict`, *optional*): a threshold sweep (`TradeoffResult.to_dict()` or a list of rows); set by
            `speed_accuracy_curve`, saved as `sweep.json` and rendered as the trade-off table.
        sweep_description (`str`, *optional*): a sentence above the table (default: from the sweep).
        calibration (`dict`, *optional*): `CalibrationResult.to_dict()`; set by `calibrate_temperatures`.
        training (`dict`, *optional*): the training setup; set by [`EarlyExitCardCallback`].
        base_model_name (`str`, *optional*): display name of the base model when it is a local folder (not a Hub
            id); used to name the model, never written as metadata.
    """

    model_name: str | None = None
    model_summary: str | None = None
    base_model: str | None = None
    datasets: list[str] | None = None
    dataset_name: str | None = None
    dataset_id: str | None = None
    dataset_split: str | None = None
    license: str | None = None
    language: list[str] | None = None
    tags: list[str] = field(default_factory=list)
    training_details: str | None = None
    example_text: str | None = None
    sweep: dict[str, Any] | None = None
    sweep_description: str | None = None
    calibration: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    base_model_name: str | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("datasets", "language") and isinstance(value, str):
            value = [value]
        if name == "sweep" and value is not None:
            value = _check_sweep(value.to_dict() if hasattr(value, "to_dict") else value)
        super().__setattr__(name, value)

    def update(self, **fields_: Any) -> EarlyExitModelCardData:
        """Sets several fields at once (unknown names raise a `TypeError` listing the fields); returns self."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(fields_) - known)
        if unknown:
            raise HfNotlikeTypeError(f"Unknown model card fields {unknown}; the fields are {sorted(known)}.")
        for name, value in fields_.items():
            setattr(self, name, value)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value not in (None, [], {})}

    # ------------------------------------------------------------------------------------------ filled by the model
    def record_source(self, name_or_path: str | os.PathLike) -> None:
        """Called by `from_pretrained`: a folder with an hf_notlike card gives the fields of that card (unless set);
        otherwise the source is the base model (its Hub id as `base_model`, or a display name for a local folder)."""
        source = str(name_or_path)
        earlier = _card_fields(Path(source)) if os.path.isdir(source) else None
        if earlier is not None:
            for key, value in earlier.items():
                if getattr(self, key) in (None, []):
                    setattr(self, key, value)
            if self.sweep is None and (Path(source) / SWEEP_FILE).is_file():
                self.sweep = load_sweep(Path(source) / SWEEP_FILE)
        elif is_hub_repo_id(source):
            self.base_model = self.base_model or source
        else:
            self.base_model_name = self.base_model_name or display_name(source)

    # ------------------------------------------------------------------------------------------------- rendering
    def default_model_name(self, save_directory: str | os.PathLike | None = None, repo_id: str | None = None) -> str:
        """The title when `model_name` is not set: the repo name, else the save folder's name when it is meaningful,
        else `<base model>-early-exit[-<data>]`."""
        if self.model_name:
            return self.model_name
        if repo_id:
            return repo_id.rstrip("/").split("/")[-1]
        folder = Path(save_directory).name if save_directory is not None else None
        if folder and display_name(folder) == folder:
            return folder
        base = display_name(self.base_model) or self.base_model_name
        data = display_name(self.dataset_name or (self.datasets or [None])[0])
        if base:
            return "-".join(part for part in (base, "early-exit", _slug(data) if data else None) if part)
        return display_name(save_directory) or "early-exit-model"

    def to_card(
        self,
        config: Any,
        repo_id: str | None = None,
        save_directory: str | os.PathLike | None = None,
        has_tokenizer: bool = True,
    ):
        """Renders the card (`huggingface_hub.ModelCard`) of a model with this `config` (exits, threshold,
        temperatures, labels).

        Args:
            config ([`EarlyExitBertConfig`] or [`EarlyExitRobertaConfig`]): the model's configuration.
            repo_id (`str`, *optional*): the repository the card is for (used in the loading snippets).
            save_directory (`str` or `os.PathLike`, *optional*): the folder the model is saved to (names the model
                when nothing else does; never written into the card).
            has_tokenizer (`bool`, *optional*, defaults to `True`): whether the tokenizer is saved with the model;
                otherwise the snippet loads it from `base_model`, or says that it must be supplied.
        """
        from huggingface_hub import EvalResult, ModelCard, ModelCardData

        if not hasattr(config, "exit_layers") or not hasattr(config, "temperatures"):
            raise HfNotlikeTypeError(
                "An early-exit model card needs an early-exit configuration (with `exit_layers` and `temperatures`), "
                f"got {type(config).__name__}."
            )
        model_name = self.default_model_name(save_directory, repo_id)
        repo = repo_id or model_name
        backbone_type = getattr(config, "backbone_model_type", None) or config.model_type
        backbone = _BACKBONE_NAMES.get(backbone_type, backbone_type)
        datasets = [d for d in (self.datasets or []) if is_hub_repo_id(d)] or None
        dataset_id = self.dataset_id or (datasets[0] if datasets else None)
        dataset_name = display_name(self.dataset_name) or display_name(dataset_id)
        sweep = self.sweep
        eval_results = None
        per_exit = getattr(config, "exit_thresholds", None)  # when set, they override exit_threshold
        if sweep and dataset_id:
            eval_results = [
                EvalResult(
                    task_type="text-classification", dataset_type=dataset_id, dataset_name=dataset_name or dataset_id,
                    dataset_split=self.dataset_split, metric_type="accuracy", metric_value=accuracy, metric_name=label,
                )
                for label, accuracy in _threshold_accuracies(sweep, config.exit_threshold if per_exit is None else 1.0)
            ] or None
        all_tags = [LIBRARY_NAME, "early-exit", "text-classification", backbone.lower()]
        all_tags += [tag for tag in self.tags or [] if tag not in all_tags]
        base_model = self.base_model if is_hub_repo_id(self.base_model) else None
        card_data = ModelCardData(
            library_name=LIBRARY_NAME, tags=all_tags, base_model=base_model, datasets=datasets,
            pipeline_tag="text-classification", license=self.license, language=self.language,
            model_name=model_name, eval_results=eval_results,
        )
        exits = [
            {"index": k + 1, "layer": layer, "temperature": f"{temperature:.4f}", "loss_weight": f"{weight:g}"}
            for k, (layer, temperature, weight) in enumerate(
                zip(config.exit_layers, config.temperatures, config.exit_loss_weights, strict=True)
            )
        ]
        id2label = getattr(config, "id2label", None) or {}
        labels = ", ".join(f"`{i}` = {name}" for i, name in sorted(id2label.items(), key=lambda item: int(item[0])))
        if config.num_labels == 1:
            labels = "one regression output (always runs the full model)"
        tokenizer_id = repo if has_tokenizer else base_model
        card = ModelCard.from_template(
            card_data,
            template_path=str(TEMPLATE),
            model_name=model_name,
            model_summary=self.model_summary,
            backbone=backbone,
            repo_id=repo,
            tokenizer_id=tokenizer_id or "path/to/the/tokenizer",
            missing_tokenizer=not has_tokenizer and tokenizer_id is None,
            example_text=(self.example_text or "A gripping, beautifully acted film.").replace('"', '\\"'),
            num_exits=config.num_exits,
            num_layers=config.num_hidden_layers,
            exit_threshold=config.exit_threshold if per_exit is None else (
                "one per exit: " + ", ".join(f"{t:.4g}" for t in per_exit[:-1]) + " (the last exit answers the rest)"),
            exit_input=config.exit_input,
            exit_head=getattr(config, "exit_head", "linear"),
            exits=exits,
            calibrated=any(abs(t - 1.0) > 1e-12 for t in config.temperatures),
            calibration_examples=(self.calibration or {}).get("num_examples"),
            labels=labels or f"{config.num_labels} classes",
            sweep_table=_sweep_table(sweep) if sweep else None,
            sweep_description=self.sweep_description or (_sweep_description(sweep) if sweep else None),
            training_details=self.training_details or _training_text(self.training),
            dataset_name=dataset_name,
        )
        check_early_exit_card(card)
        return card

    def write_card(self, model: Any, save_directory: str | os.PathLike, repo_id: str | None = None) -> Path:
        """Writes README.md (and `sweep.json` when a sweep is recorded and the folder has none) into the folder a
        model was saved to; called by the model's `save_pretrained` and `push_to_hub`. Each file is written
        atomically, README.md only when its text changes.

        Returns:
            `pathlib.Path`: the README.md written.
        """
        folder = Path(save_directory)
        if self.sweep is not None and not (folder / SWEEP_FILE).is_file():
            import json

            write_text(folder / SWEEP_FILE, json.dumps(self.sweep, indent=2))
        elif self.sweep is None and (folder / SWEEP_FILE).is_file():
            self.sweep = load_sweep(folder / SWEEP_FILE)
        has_tokenizer = any((folder / name).is_file() for name in TOKENIZER_FILES)
        card = self.to_card(model.config, repo_id=repo_id, save_directory=folder, has_tokenizer=has_tokenizer)
        path = folder / "README.md"
        text = str(card)  # what `ModelCard.save` writes
        if not (path.is_file() and path.read_bytes() == text.encode("utf-8")):  # rewritten only when it changes
            write_text(path, text)
        return path


def record_on_card(model: Any, **fields_: Any) -> None:
    """Sets fields of `model.card_data` when the model has an [`EarlyExitModelCardData`] (calibration and sweeps call
    it with what they measured); a no-op for other models."""
    card_data = getattr(model, "card_data", None)
    if isinstance(card_data, EarlyExitModelCardData):
        card_data.update(**fields_)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def _card_fields(folder: Path) -> dict[str, Any] | None:
    """The fields of an earlier hf_notlike card in `folder` (None when there is no such card)."""
    from huggingface_hub import ModelCard

    readme = folder / "README.md"
    if not readme.is_file():
        return None
    try:
        data = ModelCard.load(readme).data
    except (ValueError, OSError, UnicodeDecodeError):  # a hand-written or broken README: start afresh
        return None
    if LIBRARY_NAME not in (data.tags or []):
        return None
    found = {key: getattr(data, key, None) for key in _KEPT_FROM_CARD}
    return {key: value for key, value in found.items() if value}


def check_early_exit_card(card: Any) -> dict[str, Any]:
    """[`hf_notlike.hub.check_card`] with what an early-exit card needs: `library_name: hf_notlike`, the tags
    `hf_notlike` and `early-exit`, `pipeline_tag: text-classification`, and no local path."""
    return check_card(
        card, repo_type="model", tags=(LIBRARY_NAME, "early-exit"), library_name=LIBRARY_NAME,
        pipeline_tag="text-classification",
    )


class EarlyExitCardCallback(TrainerCallback):
    """Records the training setup into the model's card data (`model.card_data.training`): number of training
    examples, epochs, learning rate, batch size, seed, steps and the final training loss; and the training data's name
    when the dataset knows it.

    Example:

    ```python
    >>> trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[EarlyExitCardCallback()])  # doctest: +SKIP
    ```
    """

    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        card_data = getattr(model, "card_data", None)
        if not isinstance(card_data, EarlyExitModelCardData):
            return
        dataset = getattr(train_dataloader, "dataset", None)
        info = getattr(dataset, "info", None)
        name = display_name(getattr(info, "dataset_name", None))
        if name and not card_data.dataset_name:
            card_data.dataset_name = name
        card_data.training = {
            "train_examples": len(dataset) if dataset is not None and hasattr(dataset, "__len__") else None,
            "epochs": args.num_train_epochs,
            "learning_rate": args.learning_rate,
            "batch_size": args.per_device_train_batch_size * max(1, args.world_size),
            "seed": args.seed,
        }

    def on_train_end(self, args, state, control, model=None, **kwargs):
        card_data = getattr(model, "card_data", None)
        if not isinstance(card_data, EarlyExitModelCardData) or card_data.training is None:
            return
        losses = [entry["train_loss"] for entry in state.log_history if "train_loss" in entry]
        card_data.training.update(steps=state.global_step, train_loss=losses[-1] if losses else None)


def _training_text(training: Mapping[str, Any] | None) -> str | None:
    if not training:
        return None
    parts = []
    if training.get("train_examples"):
        parts.append(f"{training['train_examples']} examples")
    if training.get("epochs") is not None:
        parts.append(f"{training['epochs']:g} epochs")
    if training.get("learning_rate") is not None:
        parts.append(f"learning rate {training['learning_rate']:g}")
    if training.get("batch_size"):
        parts.append(f"batch size {training['batch_size']}")
    if training.get("seed") is not None:
        parts.append(f"seed {training['seed']}")
    text = "Trained with a stock `transformers.Trainer` on " + ", ".join(parts) + "."
    if isinstance(training.get("train_loss"), (int, float)):
        text += f" Final training loss (sum over the exits): {training['train_loss']:.4f} after {training['steps']} steps."
    return text


# --------------------------------------------------------------------------------------------------- the sweep
def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a threshold sweep saved as `sweep.json` next to an early-exit model: either the JSON of
    `TradeoffResult.to_json` (`{"rows": [...], "batch_sizes": [...], "num_examples": ..., ...}`) or a plain list of row
    dicts (threshold, accuracy, mean layers, speed-up, ...).

    Args:
        path (`str` or `os.PathLike`): the `sweep.json` file, or the model folder that holds it.

    Returns:
        `dict` with the `rows` and whatever else the file records.

    Raises:
        `FileNotFoundError` / `ValueError` naming the file when it is missing or malformed.
    """
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / SWEEP_FILE
    return _check_sweep(load_json_file(path, what="threshold sweep"), where=f"The threshold sweep {path}")


def _check_sweep(sweep: Any, where: str = "The threshold sweep") -> dict[str, Any]:
    if isinstance(sweep, list):
        sweep = {"rows": sweep}
    rows = sweep.get("rows") if isinstance(sweep, dict) else None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise HfNotlikeInputError(
            f"{where} must be a non-empty JSON list of row objects (e.g. "
            '[{"threshold": 0.9, "accuracy": 0.85, "mean_layers": 3.2, "speedup": 1.7}]) or an object with such '
            '"rows" (`TradeoffResult.to_json`).'
        )
    if not any(_find_column(row, "threshold") is not None for row in rows):
        raise HfNotlikeInputError(f"{where} has no `threshold` column (columns: {sorted(rows[0])}).")
    return sweep


def _find_column(row: Mapping[str, Any], name: str) -> str | None:
    normalized = {key.lower().replace(" ", "_"): key for key in row}
    return next((normalized[alias] for alias in SWEEP_COLUMNS[name][0] if alias in normalized), None)


def _sweep_table(sweep: dict[str, Any]) -> str:
    """The trade-off table: model name (when rows have one), threshold, accuracy, mean layers, ideal and measured
    speed-ups (per batch size, and against the stock model when it was timed); other columns stay in sweep.json."""
    rows = sweep["rows"]
    keys = list(dict.fromkeys(key for row in rows for key in row))

    def present(key: str) -> bool:
        return any(row.get(key) is not None for row in rows)

    def column(name: str) -> str | None:
        return next((k for k in (_find_column(row, name) for row in rows) if k is not None), None)

    columns: list[tuple[str, str]] = [("name", "model")] if present("name") else []
    columns += [(key, SWEEP_COLUMNS[name][1]) for name in ("threshold", "accuracy", "mean_layers")
                if (key := column(name)) is not None]
    if present("ideal_speedup"):
        columns.append(("ideal_speedup", "ideal speed-up"))
    if (key := column("speedup")) is not None:
        columns.append((key, SWEEP_COLUMNS["speedup"][1]))
    if present("flops_per_example"):  # counted with FlopCounterMode on the real exit loop (TradeoffResult)
        rows = [{**row, "gflops_per_example": _gflops(row.get("flops_per_example"))} for row in rows]
        columns.append(("gflops_per_example", "GFLOPs / example"))
        if present("flops_speedup"):
            columns.append(("flops_speedup", "FLOPs speed-up"))
        if present("flops_speedup_vs_stock"):
            columns.append(("flops_speedup_vs_stock", "FLOPs vs stock"))
    for size in sorted({int(m.group(1)) for k in keys if (m := re.fullmatch(r"speedup_bs(\d+)", k))}):
        if present(f"speedup_bs{size}"):
            columns.append((f"speedup_bs{size}", f"speed-up (bs {size})"))
        if present(f"speedup_vs_stock_bs{size}"):
            columns.append((f"speedup_vs_stock_bs{size}", f"vs stock (bs {size})"))
    return markdown_table(rows, columns)


def _gflops(value: Any) -> str | None:
    return f"{value / 1e9:.3g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _sweep_description(sweep: dict[str, Any]) -> str | None:
    """What the sweep measured, from the fields `TradeoffResult.to_json` records."""
    if "num_examples" not in sweep:
        return None
    info = sweep.get("info") or {}
    text = f"Accuracy and mean layers used over {sweep['num_examples']} evaluation examples"
    sizes = sweep.get("batch_sizes") or []
    if sweep.get("num_timing_examples") and sizes:
        where = ", ".join(
            part for part in (info.get("device"), f"{info['torch_threads']} threads" if "torch_threads" in info else None)
            if part
        )
        text += (
            f"; wall-clock speed-ups over {sweep['num_timing_examples']} of them at batch size"
            f"{'s' if len(sizes) > 1 else ''} {' and '.join(str(b) for b in sizes)}, best of "
            f"{sweep.get('repeats', 1)} runs{f' ({where})' if where else ''}, relative to this model at threshold 1.0"
            " (\"vs stock\": relative to the stock transformers classifier of the same backbone)"
        )
    if info.get("flops_examples"):
        text += (
            f"; FLOPs per example counted with PyTorch's `FlopCounterMode` while the real exit loop ran at each "
            f"threshold, one example at a time, on {info['flops_examples']} of them (\"FLOPs speed-up\": the full "
            "model's FLOPs over the row's; \"FLOPs vs stock\": the stock classifier's over the row's; matrix "
            "products and attention, not element-wise operations)"
        )
    return text + ". The ideal speed-up is `num_layers / mean layers`."


def _threshold_accuracies(sweep: dict[str, Any], threshold: float) -> list[tuple[str, float]]:
    """(label, accuracy) at the configured threshold and of the full model (threshold 1.0), when the sweep has them."""
    rows = [row for row in sweep["rows"] if row.get("kind", "early_exit") == "early_exit"]
    targets = [(threshold, f"accuracy (exit threshold {threshold:g})")]
    if threshold != 1.0:
        targets.append((1.0, "accuracy (full model)"))
    found = []
    for target, label in targets:
        for row in rows:
            t_key, a_key = _find_column(row, "threshold"), _find_column(row, "accuracy")
            value, accuracy = row.get(t_key) if t_key else None, row.get(a_key) if a_key else None
            if isinstance(value, (int, float)) and isinstance(accuracy, (int, float)) and abs(value - target) < 1e-9:
                found.append((label, float(accuracy)))
                break
    return found
