# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The one place where the cartography callback relies on how `transformers.Trainer` and `accelerate` work inside.

A `TrainerCallback` never sees batches, so [`CartographyCallback`] tags each example with its row index by wrapping
the Trainer's train dataloader at `on_train_begin`. That needs three things no public API offers; each is used
through one function here, and [`check_trainer_internals`] (run by `tests/test_cartography_internals.py`) verifies
all of them against the installed versions, failing with a message that names what changed:

1. **The iterating loader.** `Trainer.get_train_dataloader()` returns accelerate's `DataLoaderShard` /
   `DataLoaderDispatcher` (subclasses of `torch.utils.data.DataLoader`); for some setups (e.g. `torchdata`
   stateful loaders) it delegates to an inner loader kept in `vars(loader)["base_dataloader"]`. [`iterating_loader`]
   follows that chain to the `DataLoader` whose `dataset` and `collate_fn` are used when iterating.
2. **Replacing the dataset.** `torch.utils.data.DataLoader.__setattr__` refuses to reassign `dataset` once the loader
   is built. [`replace_dataset`] bypasses the guard with `object.__setattr__`; this is sound because the sampler
   only reads `len(dataset)` (unchanged: the wrapper has the same length; an iterable dataset has no sampler) and the
   loader reads `self.dataset` when each iterator is created. The loader is the Trainer's own object for this `train()` call.
3. **A marker in the checkpoint's `trainer_state.json`.** The callback writes `{"run": <token>}` under
   `TrainerState.stateful_callbacks[RUN_KEY]` (a public, JSON-saved dict; the Trainer keeps keys it does not know).
   On resume, the Trainer loads `trainer_state.json` from the checkpoint it actually resumes from, so the token tells
   the callback which `cartography_state.safetensors` belongs to that checkpoint ([`run_marker`]).

If a transformers or accelerate upgrade breaks one of these, `tests/test_cartography_internals.py` fails with the
message of [`check_trainer_internals`]; fix it here, nowhere else.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["RUN_KEY", "iterating_loader", "replace_dataset", "run_marker", "set_run_marker", "check_trainer_internals"]

RUN_KEY = "hf_notlike.CartographyCallback"


def iterating_loader(dataloader: Any) -> torch.utils.data.DataLoader:
    """The `torch.utils.data.DataLoader` that actually iterates: accelerate's `DataLoaderShard` may delegate to a
    `base_dataloader` (its `DataLoaderAdapter`)."""
    while "base_dataloader" in vars(dataloader):
        dataloader = vars(dataloader)["base_dataloader"]
    if not isinstance(dataloader, torch.utils.data.DataLoader):
        raise TypeError(
            f"CartographyCallback expected the Trainer's train dataloader to be a torch DataLoader; got "
            f"{type(dataloader).__name__}. This transformers/accelerate version builds loaders differently: see "
            "hf_notlike/cartography/_trainer_internals.py."
        )
    return dataloader


def replace_dataset(loader: torch.utils.data.DataLoader, dataset: Any) -> None:
    """Set `loader.dataset` on a built `DataLoader` (see the module docstring, point 2)."""
    if not isinstance(loader.dataset, torch.utils.data.IterableDataset) and len(dataset) != len(loader.dataset):
        raise ValueError("replace_dataset: the new dataset must have the length of the old one (the sampler keeps it).")
    object.__setattr__(loader, "dataset", dataset)


def run_marker(state: Any) -> tuple[str | None, str | None]:
    """The run token and checkpoint folder stored in `state.stateful_callbacks` (as loaded from the checkpoint the
    Trainer resumes from), or `(None, None)`."""
    entry = (getattr(state, "stateful_callbacks", None) or {}).get(RUN_KEY)
    attributes = entry.get("attributes") if isinstance(entry, dict) else None
    if not isinstance(attributes, dict):
        return None, None
    token, folder = attributes.get("run"), attributes.get("folder")
    return (token if isinstance(token, str) else None), (folder if isinstance(folder, str) else None)


def set_run_marker(state: Any, token: str, folder: str | None) -> None:
    """Store the run token (and the folder the next checkpoint is saved to) in `state.stateful_callbacks`, which the
    Trainer saves in every checkpoint's `trainer_state.json` (shaped like an `ExportableState` entry:
    `{"args": {}, "attributes": {...}}`)."""
    if getattr(state, "stateful_callbacks", None) is None:
        state.stateful_callbacks = {}
    state.stateful_callbacks[RUN_KEY] = {"args": {}, "attributes": {"run": token, "folder": folder}}


def check_trainer_internals() -> list[str]:
    """Check every assumption of this module against the installed transformers and accelerate; returns the list of
    problems found (empty when all hold). Builds a tiny Trainer on CPU (no model download, a second or two)."""
    import json
    import os
    import tempfile

    import accelerate
    import transformers
    from transformers import Trainer, TrainerState, TrainingArguments

    versions = f"transformers {transformers.__version__}, accelerate {accelerate.__version__}"
    problems: list[str] = []

    class _Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x=None, labels=None):
            logits = self.linear(x)
            return {"loss": torch.nn.functional.cross_entropy(logits, labels), "logits": logits}

    class _Rows(torch.utils.data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return {"x": torch.full((2,), float(i)), "labels": i % 2}

    class _Doubled(_Rows):
        def __getitem__(self, i):
            return {"x": torch.full((2,), float(100 + i)), "labels": i % 2}

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=2, report_to=[], use_cpu=True,
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True)
        trainer = Trainer(model=_Tiny(), args=args, train_dataset=_Rows())
        outer = trainer.get_train_dataloader()
        try:
            loader = iterating_loader(outer)
        except TypeError as error:
            return [f"{versions}: {error}"]
        try:
            replace_dataset(loader, _Doubled())
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            problems.append(f"{versions}: setting DataLoader.dataset with object.__setattr__ failed ({error!r}).")
        else:
            seen = [float(x) for batch in outer for x in batch["x"][:, 0]]
            if sorted(seen) != [100.0 + i for i in range(6)]:
                problems.append(
                    f"{versions}: the train dataloader no longer reads the replaced `dataset` when iterating (saw "
                    f"{seen}); the callback's example ids would be wrong."
                )
        collate = loader.collate_fn
        marker = []
        loader.collate_fn = lambda items: (marker.append(len(items)), collate(items))[1]
        next(iter(outer))
        if not marker:
            problems.append(f"{versions}: the train dataloader no longer calls `collate_fn` set on it after it was "
                            "built; the callback's ids would not reach the batch.")
        state = TrainerState()
        set_run_marker(state, "token", "/some/checkpoint-1")
        path = os.path.join(tmp, "trainer_state.json")
        state.save_to_json(path)
        if run_marker(TrainerState.load_from_json(path)) != ("token", "/some/checkpoint-1"):
            problems.append(f"{versions}: TrainerState no longer saves and reloads `stateful_callbacks` entries "
                            f"(saved: {json.load(open(path)).get('stateful_callbacks')}).")
    return problems
