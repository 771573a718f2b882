# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""`DataMap`: per-example training dynamics (Swayamdipta et al., EMNLP 2020, "Dataset Cartography").

A data map holds, for every training example and every epoch, the probability the model gave the gold label,
whether its argmax was correct and (when recorded) the margin of the gold logit. From these matrices it derives the
per-example statistics of the paper (plus the forgetting events of Toneva et al., ICLR 2019, and the area under the
margin of Pleiss et al., NeurIPS 2020), selects regions, plots the map, and saves it as Parquet + JSON.

Save-folder layout (`DataMap.save_pretrained(folder)`), all of it plain files, no pickle:

```
folder/
  data_map.parquet   one row per example: id, confidence, variability, correctness, forgetfulness,
                     gold_prob (list of float32, one per epoch), correct (list of bool, one per epoch),
                     and when recorded: aum, margin (list of float32, one per epoch), label (the gold label)
  data_map_tokens.parquet / data_map_labels.parquet
                     per-token (token classification, causal LM) / per-(example, label) (multi-label) statistics:
                     id, index, label, position, gold_prob and correct (one per epoch), when recorded
  data_map.json      metadata: format_version, model, dataset, num_examples, num_epochs, id_column, mode,
                     library_version, columns
  data_map.png       the plot (`save_pretrained(..., plot=True)`, the default)
  README.md          the dataset card (`save_pretrained(..., card=True)`, the default; see below)
  manifest.json      written last: the sizes and sha256 of data_map.parquet, data_map.json and the unit table,
                     checked by `from_pretrained` (folders saved without it load unchecked)
```

`save_pretrained` writes the folder atomically (`hf_notlike.artifacts.staged_folder`): a crash or a concurrent save
leaves either the previous complete map or the new one. Reading and writing the files lives in
`hf_notlike.cartography.storage`.

The card is rendered by `hf_notlike.cartography.card.write_data_map_card`. For a card of your own, save with
`card=False` and write `README.md` into the folder yourself (e.g. from `data_map_card(...)`, edited), then upload
the folder with `huggingface_hub.HfApi.upload_folder(repo_type="dataset")`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..artifacts import MANIFEST_FILE
from ..errors import HfNotlikeInputError
from ..paths import check_local_or_hub
from .storage import (
    DATA_MAP_FILE,
    FORMAT_VERSION,
    MAP_FIX,
    METADATA_FILE,
    PLOT_FILE,
    UNIT_FILES,
    load_data_map,
    save_data_map,
)

if TYPE_CHECKING:
    import datasets
    from matplotlib.figure import Figure

    from .storage import MapColumns

__all__ = ["DataMap", "DataMapSelection", "REGIONS", "DATA_MAP_FILE", "METADATA_FILE", "PLOT_FILE"]

REGIONS = ("ambiguous", "hard_to_learn", "easy_to_learn", "random", "low_aum")
_BLOCK = 1 << 20  # rows per block of the statistics derived from the per-epoch matrices


class DataMapSelection(NamedTuple):
    """What [`DataMap.select`] returns: the selected example ids (in dataset order) and, when a dataset was given,
    that dataset filtered to those rows (else `None`). Unpacks as `ids, subset = data_map.select(...)`."""

    ids: np.ndarray
    dataset: datasets.Dataset | None


def _as_matrix(values: Any, name: str, dtype: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        raise HfNotlikeInputError(f"`{name}` must be a 2-D array of shape (num_examples, num_epochs); got shape {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise HfNotlikeInputError(f"`{name}` is empty (shape {array.shape}); a data map needs at least one example and one epoch.")
    return np.ascontiguousarray(array, dtype=dtype)


class DataMap:
    """Per-example training dynamics: the data map of Swayamdipta et al. (2020).

    For example i with gold-label probabilities p_{i,1..E} over E epochs (Swayamdipta et al., 2020, Sec. 2):
    confidence mu_i = (1/E) sum_e p_{i,e}; variability sigma_i = sqrt((1/E) sum_e (p_{i,e} - mu_i)^2) (population
    std, as in the paper); correctness = fraction of epochs whose argmax was the gold label; forgetfulness = number of
    correct -> incorrect transitions between consecutive epochs (forgetting events, Toneva et al., 2019).

    With margins recorded (the callback records them in the same forward pass), the margin of example i at epoch e is
    M_{i,e} = z_{i,e}[y_i] - max_{k != y_i} z_{i,e}[k], the gold logit minus the largest other logit, and the area under
    the margin is AUM_i = (1/E) sum_e M_{i,e} (Pleiss et al., NeurIPS 2020, *Identifying Mislabeled Data using the Area
    Under the Margin Ranking*, Eq. 1-2; they average over every epoch an example is trained on, as here). A negative AUM
    means the model kept preferring another class: the typical signature of a mislabeled example.

    Args:
        gold_probs (`array-like` of shape `(num_examples, num_epochs)`):
            Probability of the gold label for each example at each epoch, in [0, 1].
        correct (`array-like` of shape `(num_examples, num_epochs)`):
            Whether the argmax prediction was the gold label (bool or 0/1), or for token-level tasks the share of
            tokens predicted exactly (floats in [0, 1]; an epoch then counts as correct for forgetfulness when the
            share is at least 0.5).
        ids (`array-like` of shape `(num_examples,)`, *optional*):
            Stable example ids (unique). Defaults to the row index `0 .. num_examples - 1`.
        margins (`array-like` of shape `(num_examples, num_epochs)`, *optional*):
            The margin M_{i,e} above (finite floats). Needed for `aum` and `select("low_aum", ...)`.
        labels (`array-like` of shape `(num_examples,)`, *optional*):
            The gold label of each example (integers or strings). Needed for `select(..., class_balanced=True)` and
            `class_balance`.
        units (`dict`, *optional*):
            Per-label (multi-label classification) or per-token (token classification, causal LM) statistics, one row
            per unit: `example` (row of this map), `index` (label index, or the token's rank among the example's
            scored tokens), `label` (gold value / gold label / gold token id), `position` (token position among the
            example's attended tokens; -1 for labels), `gold_prob` and `correct` (shape `(num_units, num_epochs)`).
            Read them with [`token_table`] / [`label_table`].
        unit_kind (`str`, *optional*): `"label"` or `"token"`, what `units` describes.
        id_column (`str`, *optional*):
            Dataset column the ids come from; `None` means the ids are row indices.
        model_name (`str`, *optional*): Model the dynamics were recorded with (metadata).
        dataset_name (`str`, *optional*): Dataset the dynamics were recorded on (metadata).
        mode (`str`, *optional*, defaults to `"training"`):
            How the statistics were taken: `"training"` (the training forward pass) or `"rescore"` (an eval-mode pass
            over the train set at each epoch end).
        train_flops_per_example (`float`, *optional*): Training FLOPs per example (forward and backward): the
            forward of the first training batch counted with `FlopCounterMode` by [`CartographyCallback`], times 3
            for the backward pass (Kaplan et al., 2020); the card turns it into the compute a selected subset saves.

    Example:

    ```python
    >>> import numpy as np
    >>> from hf_notlike.cartography import DataMap
    >>> dm = DataMap(gold_probs=[[0.2, 0.8], [0.9, 0.9]], correct=[[False, True], [True, True]],
    ...              margins=[[-1.0, 2.0], [3.0, 3.0]], labels=[0, 1])
    >>> dm.confidence.tolist(), dm.variability.tolist(), dm.aum.tolist()
    ([0.5, 0.8999999761581421], [0.30000001192092896, 0.0], [0.5, 3.0])
    >>> dm.select("ambiguous", 0.5).ids.tolist(), dm.select("low_aum", 0.5).ids.tolist()
    ([0], [0])
    ```
    """

    def __init__(
        self,
        gold_probs: Any,
        correct: Any,
        ids: Any | None = None,
        *,
        margins: Any | None = None,
        labels: Any | None = None,
        units: dict[str, Any] | None = None,
        unit_kind: str | None = None,
        id_column: str | None = None,
        model_name: str | None = None,
        dataset_name: str | None = None,
        mode: str = "training",
        train_flops_per_example: float | None = None,
    ):
        gold = _as_matrix(gold_probs, "gold_probs", np.float32)
        correct_matrix = _check_correct(correct, gold.shape)
        _check_gold_values(gold)
        n, e = gold.shape
        margin_matrix = None if margins is None else _check_margins(margins, gold.shape)
        label_array = None if labels is None else _check_labels(labels, n)
        if ids is None:
            if id_column is not None:
                raise HfNotlikeInputError(f"`id_column={id_column!r}` was given without `ids`; pass the ids of that column.")
            id_array = np.arange(n, dtype=np.int64)
        else:
            id_array = _check_ids(ids, n)
        self._shape = (n, e)
        self._data: dict[str, np.ndarray | None] = {
            "gold_prob": gold, "correct": correct_matrix, "margin": margin_matrix, "label": label_array, "id": id_array,
        }
        self._columns = None
        self._set_metadata(mode, id_column, model_name, dataset_name, train_flops_per_example)
        self._units, self.unit_kind = _check_units(units, unit_kind, n, e)
        self._units_reader = None

    def _set_metadata(
        self, mode: Any, id_column: Any, model_name: Any, dataset_name: Any, train_flops_per_example: Any
    ) -> None:
        if mode not in ("training", "rescore"):
            raise HfNotlikeInputError(f"`mode` must be 'training' or 'rescore'; got {mode!r}.")
        for name, value in (("id_column", id_column), ("model_name", model_name), ("dataset_name", dataset_name)):
            if value is not None and not isinstance(value, str):
                raise HfNotlikeInputError(f"`{name}` must be a string or None; got {type(value).__name__}.")
        self.id_column = id_column
        self.model_name = model_name
        self.dataset_name = dataset_name
        self.mode = mode
        if train_flops_per_example is not None and (
            isinstance(train_flops_per_example, bool) or not isinstance(train_flops_per_example, (int, float))
            or not train_flops_per_example > 0
        ):
            raise HfNotlikeInputError(f"`train_flops_per_example` must be a positive number or None; got "
                             f"{train_flops_per_example!r}.")
        self.train_flops_per_example = None if train_flops_per_example is None else float(train_flops_per_example)
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def _open(cls, columns: MapColumns, meta: dict[str, Any], units_reader: Any | None = None) -> DataMap:
        """A map over the columns of a saved `data_map.parquet` (see `hf_notlike.cartography.storage.MapColumns`),
        each decoded and checked when first used; `units_reader(ids)` reads the per-unit table when first used."""
        self = cls.__new__(cls)
        self._shape = (columns.num_examples, columns.num_epochs)
        self._data = {name: None for name in ("margin", "label") if not columns.has(name)}
        self._columns = columns
        self._set_metadata(meta.get("mode", "training"), meta.get("id_column"), meta.get("model"), meta.get("dataset"),
                           meta.get("train_flops_per_example"))
        self.unit_kind = meta.get("unit_kind")
        self._units = None
        self._units_reader = units_reader
        return self

    def _read_all(self) -> None:
        """Decode and check every column of a map opened from a saved table now, rather than on first use."""
        for name in ("gold_prob", "correct", "margin", "label", "id"):
            self._array(name)
        for name in ("confidence", "variability", "correctness", "forgetfulness") + (("aum",) if self._has_margins else ()):
            getattr(self, name)
        self.units  # noqa: B018 (decoding the units checks them)

    def __getstate__(self) -> dict[str, Any]:
        # a copy (copy.deepcopy, multiprocessing) holds every array: the memory-mapped file stays with this map
        if self._columns is not None:
            self._read_all()
        return {**self.__dict__, "_columns": None, "_units_reader": None}

    # ------------------------------------------------------------------ the arrays (decoded on first use)
    def _array(self, name: str) -> np.ndarray | None:
        if name not in self._data:
            self._data[name] = self._decode(name)
        return self._data[name]

    def _decode(self, name: str) -> np.ndarray:
        """Decode and check the column `name` of the saved table (a map opened by `from_pretrained`)."""
        columns = self._columns
        values = columns.read(name)
        n, e = self._shape
        try:
            if name == "gold_prob":
                values = _as_matrix(values, "gold_probs", np.float32)
                _check_gold_values(values)
            elif name == "correct":
                values = _check_correct(values, (n, e))
            elif name == "margin":
                values = _check_margins(values, (n, e))
            elif name == "label":
                values = _check_labels(values, n, typed=True)
            else:
                values = _check_ids(values, n, typed=True)
        except HfNotlikeInputError as error:
            raise HfNotlikeInputError(f"{columns.path}: {error}") from None
        return values

    @property
    def gold_probs(self) -> np.ndarray:
        """Probability of the gold label for each example at each epoch, shape `(num_examples, num_epochs)`."""
        return self._array("gold_prob")

    @property
    def correct(self) -> np.ndarray:
        """Whether the argmax was the gold label (or the share of correct tokens) at each epoch, shape
        `(num_examples, num_epochs)`."""
        return self._array("correct")

    @property
    def margins(self) -> np.ndarray | None:
        """The margin of the gold logit at each epoch, shape `(num_examples, num_epochs)`, or `None`."""
        return self._array("margin")

    @property
    def ids(self) -> np.ndarray:
        """The example ids, shape `(num_examples,)`."""
        return self._array("id")

    @property
    def labels(self) -> np.ndarray | None:
        """The gold label of each example, shape `(num_examples,)`, or `None`."""
        return self._array("label")

    @property
    def units(self) -> dict[str, np.ndarray] | None:
        """The per-token / per-label statistics (see the `units` argument), or `None`."""
        if self._units is None and self._units_reader is not None:
            units = self._units_reader(self.ids)
            self._units, _ = _check_units(units, self.unit_kind, *self._shape)
            self._units_reader = None
        return self._units

    @property
    def _has_margins(self) -> bool:
        return self._data.get("margin", True) is not None

    @property
    def _has_labels(self) -> bool:
        return self._data.get("label", True) is not None

    # ------------------------------------------------------------------ statistics
    @property
    def num_examples(self) -> int:
        return self._shape[0]

    @property
    def num_epochs(self) -> int:
        return self._shape[1]

    def _stored(self, name: str) -> bool:
        """Read the statistic `name` from the saved table when it holds it (a map opened by `from_pretrained`, whose
        manifest covers the table: the values `save_pretrained` computed); False when it must be derived."""
        if name in self._cache:
            return True
        columns = self._columns
        if columns is None or not columns.has_stat(name):
            return False
        values = columns.read(name)
        if values.shape != (self.num_examples,) or not np.isfinite(values).all() or (
            name != "aum" and values.size and values.min() < 0
        ):
            raise HfNotlikeInputError(f"{columns.path}: column {name!r} holds values that are not a data map's "
                                      f"{name}. {MAP_FIX}")
        self._cache[name] = values
        return True

    def __len__(self) -> int:
        return self.num_examples

    def __repr__(self) -> str:
        return (
            f"DataMap(num_examples={self.num_examples}, num_epochs={self.num_epochs}, id_column={self.id_column!r}, "
            f"model={self.model_name!r}, dataset={self.dataset_name!r}, mode={self.mode!r})"
        )

    def _moments(self) -> None:
        # one float64 pass per epoch column, over blocks of rows (bounded temporary memory with millions of examples;
        # rows are independent, so the values do not depend on the block size)
        gold, e = self.gold_probs, self.num_epochs
        mean_out = np.empty(self.num_examples, np.float32)
        std_out = np.empty(self.num_examples, np.float32)
        for start in range(0, self.num_examples, _BLOCK):
            block = gold[start:start + _BLOCK]
            columns = [block[:, k].astype(np.float64) for k in range(e)]
            mean = sum(columns) / e
            variance = sum((column - mean) ** 2 for column in columns) / e
            mean_out[start:start + _BLOCK] = mean
            std_out[start:start + _BLOCK] = np.sqrt(variance)
        self._cache.setdefault("confidence", mean_out)
        self._cache.setdefault("variability", std_out)

    @property
    def confidence(self) -> np.ndarray:
        """Mean gold-label probability over epochs, shape `(num_examples,)`."""
        if not self._stored("confidence"):
            self._moments()
        return self._cache["confidence"]

    @property
    def variability(self) -> np.ndarray:
        """Population standard deviation of the gold-label probability over epochs, shape `(num_examples,)`."""
        if not self._stored("variability"):
            self._moments()
        return self._cache["variability"]

    @property
    def correctness(self) -> np.ndarray:
        """Fraction of epochs where the argmax was the gold label, shape `(num_examples,)`."""
        if not self._stored("correctness"):
            self._cache["correctness"] = (self.correct.sum(axis=1) / self.num_epochs).astype(np.float32)
        return self._cache["correctness"]

    @property
    def forgetfulness(self) -> np.ndarray:
        """Number of correct -> incorrect transitions between consecutive epochs, shape `(num_examples,)`."""
        if not self._stored("forgetfulness"):
            c = self.correct >= 0.5  # a share of correct tokens counts as correct from one half up
            self._cache["forgetfulness"] = (c[:, :-1] & ~c[:, 1:]).sum(axis=1).astype(np.int32)
        return self._cache["forgetfulness"]

    @property
    def aum(self) -> np.ndarray:
        """Area under the margin (Pleiss et al., 2020): the mean over epochs of the gold logit minus the largest other
        logit, shape `(num_examples,)`. Low (negative) values flag likely label errors.

        Raises:
            `ValueError` when the map has no margins (recorded before they existed, or built without `margins=`).
        """
        if not self._has_margins:
            raise HfNotlikeInputError("This data map has no margins (it was built without `margins=` or saved by an older "
                             "hf_notlike): record it again with `CartographyCallback` to get the AUM.")
        if not self._stored("aum"):
            self._cache["aum"] = self.margins.astype(np.float64).mean(axis=1).astype(np.float32)
        return self._cache["aum"]

    def token_table(self):
        """Per-token statistics (token classification, causal LM), one row per scored token: `id` (example id),
        `token` (rank among the example's scored tokens), `position` (among its attended tokens), `label` (gold label
        or gold token id), `confidence`, `variability`, `correctness` (over epochs) and `gold_prob` (one per epoch).
        Sort by `confidence` to find likely mislabeled tokens and spans. Saved as `data_map_tokens.parquet`."""
        return self._unit_frame("token")

    def label_table(self):
        """Per-(example, label) statistics (multi-label classification), one row per example and label: `id`,
        `label_index`, `gold` (0/1), `confidence` (mean probability of the gold value), `variability`,
        `correctness` and `gold_prob` (one per epoch). Saved as `data_map_labels.parquet`."""
        return self._unit_frame("label")

    def _unit_frame(self, kind: str):
        import pandas as pd

        if self.unit_kind != kind or self.units is None:
            raise HfNotlikeInputError(f"This data map has no per-{kind} statistics (it holds "
                             f"{'per-' + self.unit_kind if self.unit_kind else 'no per-unit'} statistics); they are "
                             f"recorded for {'multi-label classification' if kind == 'label' else 'token classification and causal LMs'}.")
        units = self.units
        probs = units["gold_prob"].astype(np.float64)
        frame = {"id": self.ids[units["example"]]}
        if kind == "token":
            frame.update(token=units["index"], position=units["position"], label=units["label"])
        else:
            frame.update(label_index=units["index"], gold=units["label"])
        frame.update(
            confidence=probs.mean(axis=1).astype(np.float32), variability=probs.std(axis=1).astype(np.float32),
            correctness=units["correct"].mean(axis=1).astype(np.float32), gold_prob=list(units["gold_prob"]),
        )
        return pd.DataFrame(frame)

    def first_epochs(self, k: int) -> DataMap:
        """The map restricted to its first `k` epochs (the paper notes that a few early epochs already give a
        usable map)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= self.num_epochs:
            raise HfNotlikeInputError(f"`epochs` must be an integer in [1, {self.num_epochs}]; got {k!r}.")
        if k == self.num_epochs:
            return self
        return DataMap(
            self.gold_probs[:, :k], self.correct[:, :k], self.ids,
            margins=None if self.margins is None else self.margins[:, :k], labels=self.labels,
            units=None if self.units is None else {
                **self.units, "gold_prob": self.units["gold_prob"][:, :k], "correct": self.units["correct"][:, :k]
            }, unit_kind=self.unit_kind,
            id_column=self.id_column, model_name=self.model_name, dataset_name=self.dataset_name, mode=self.mode,
            train_flops_per_example=self.train_flops_per_example,
        )

    def to_pandas(self):
        """One row per example: `id`, `confidence`, `variability`, `correctness`, `forgetfulness`, and `aum` and
        `label` when the map has them."""
        import pandas as pd

        columns = {
            "id": self.ids,
            "confidence": self.confidence,
            "variability": self.variability,
            "correctness": self.correctness,
            "forgetfulness": self.forgetfulness,
        }
        if self._has_margins:
            columns["aum"] = self.aum
        if self._has_labels:
            columns["label"] = self.labels
        return pd.DataFrame(columns)

    # ------------------------------------------------------------------ selection
    def positions(self, dataset: datasets.Dataset) -> np.ndarray:
        """Row positions in `dataset` of this map's examples (in map order).

        With `id_column=None` the ids are row indices and the dataset must have exactly `num_examples` rows (or, for a
        map of some of the rows, more rows than the largest index). With an id column, `dataset[id_column]` must hold
        exactly this map's ids (any order).

        Raises:
            `ValueError` when the map and the dataset do not match (size, missing column or different ids).
        """
        n_rows = len(dataset)
        if self.id_column is None and self.ids.dtype.kind in "iu" and not np.array_equal(
            self.ids, np.arange(self.num_examples)
        ):
            # a map of some of the rows (e.g. `data_map(include_incomplete=True)`): its ids are row indices
            if self.ids.min() < 0 or self.ids.max() >= n_rows:
                raise HfNotlikeInputError(f"This data map holds row indices up to {int(self.ids.max())} but the dataset has "
                                 f"{n_rows} rows: pass the dataset the map was recorded on.")
            return self.ids.astype(np.int64)
        if n_rows != self.num_examples:
            raise HfNotlikeInputError(
                f"This data map has {self.num_examples} examples but the dataset has {n_rows} rows: apply a map to "
                "the dataset it was recorded on (same rows; with `id_column` the order may differ)."
            )
        if self.id_column is None:
            if not np.array_equal(self.ids, np.arange(self.num_examples)):
                raise HfNotlikeInputError("This map's ids are not row indices; set `id_column` to the column holding them.")
            return np.arange(self.num_examples, dtype=np.int64)
        column_names = getattr(dataset, "column_names", None) or []
        if self.id_column not in column_names:
            raise HfNotlikeInputError(
                f"The data map is keyed by the column {self.id_column!r}, which the dataset lacks (columns: "
                f"{column_names}); pass the dataset the map was recorded on."
            )
        dataset_ids = np.asarray(dataset[self.id_column])
        order = np.argsort(dataset_ids, kind="stable")
        sorted_ids = dataset_ids[order]
        found = np.searchsorted(sorted_ids, self.ids)
        found = np.clip(found, 0, len(sorted_ids) - 1)
        matched = sorted_ids[found] == self.ids
        if not matched.all() or len(np.unique(dataset_ids)) != n_rows:
            missing = self.ids[~matched][:5].tolist()
            raise HfNotlikeInputError(
                f"The dataset's {self.id_column!r} values do not match this data map's ids (e.g. map ids missing from "
                f"the dataset: {missing}, or duplicated ids in the dataset); pass the dataset the map was recorded on."
            )
        return order[found]

    def select(
        self,
        region: str,
        fraction: float,
        *,
        dataset: datasets.Dataset | None = None,
        epochs: int | None = None,
        seed: int = 0,
        class_balanced: bool = False,
    ) -> DataMapSelection:
        """Select the `fraction` of examples in a region of the map (Swayamdipta et al., 2020, Sec. 3-4).

        Args:
            region (`str`):
                `"ambiguous"` (highest variability), `"easy_to_learn"` (highest confidence), `"hard_to_learn"`
                (lowest confidence), `"low_aum"` (lowest area under the margin, Pleiss et al., 2020: likely label
                errors; needs margins) or `"random"` (a seeded uniform sample).
            fraction (`float`):
                Share of the examples to keep, in (0, 1]; the count is `round(fraction * num_examples)` (at least 1).
            dataset (`datasets.Dataset`, *optional*):
                When given, the selection also returns this dataset filtered to the selected rows (after checking
                that it matches the map).
            epochs (`int`, *optional*):
                Use only the first `epochs` epochs of the map.
            seed (`int`, *optional*, defaults to 0):
                Seed of the `"random"` region.
            class_balanced (`bool`, *optional*, defaults to `False`):
                Select within each gold class separately, `round(fraction * class size)` examples per class (largest
                remainders rounded up so the total is the same as without it), so the subset keeps the class
                proportions of the whole map. Needs the map's `labels`. Check the result with [`class_balance`].

        Returns:
            [`DataMapSelection`]: `(ids, dataset)`, ids in dataset order; `dataset` is `None` when none was given.

        Raises:
            `ValueError` for an unknown region, a fraction outside (0, 1], `"ambiguous"` on a one-epoch map (its
            variability is 0 everywhere, so the ranking would be arbitrary), `"low_aum"` without margins, or
            `class_balanced=True` without labels.

        Example:

        ```python
        >>> ids, subset = data_map.select("ambiguous", 0.33, dataset=train_dataset)  # doctest: +SKIP
        >>> data_map.class_balance(ids)  # label -> count in the selection  # doctest: +SKIP
        ```
        """
        if region not in REGIONS:
            raise HfNotlikeInputError(f"Unknown region {region!r}; choose one of {list(REGIONS)}.")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.integer, np.floating)) or not (
            0 < fraction <= 1
        ):
            raise HfNotlikeInputError(f"`fraction` must be a number in (0, 1]; got {fraction!r}.")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise HfNotlikeInputError(f"`seed` must be an integer; got {seed!r}.")
        if not isinstance(class_balanced, bool):
            raise HfNotlikeInputError(f"`class_balanced` must be True or False; got {class_balanced!r}.")
        data_map = self if epochs is None else self.first_epochs(epochs)
        if region == "ambiguous" and data_map.num_epochs < 2:
            raise HfNotlikeInputError(
                "The 'ambiguous' region ranks examples by variability across epochs, which is 0 for every example of "
                "a one-epoch map (the selection would be the first rows in order): record at least 2 epochs, or "
                "select 'hard_to_learn' / 'easy_to_learn' / 'low_aum'."
            )
        if region == "low_aum" and not data_map._has_margins:
            raise HfNotlikeInputError("The 'low_aum' region needs margins, which this map lacks: record it again with "
                             "`CartographyCallback` (it records margins in the training pass).")
        if class_balanced and not data_map._has_labels:
            raise HfNotlikeInputError("`class_balanced=True` needs the gold labels, which this map lacks: record it with "
                             "`CartographyCallback` (it keeps the labels) or build it with `labels=`.")
        positions = data_map.positions(dataset) if dataset is not None else None
        n = data_map.num_examples
        count = max(1, int(round(float(fraction) * n)))
        rng = np.random.default_rng(seed)
        if region == "random":
            key = None
        elif region == "ambiguous":
            key = -data_map.variability
        elif region == "easy_to_learn":
            key = -data_map.confidence
        elif region == "hard_to_learn":
            key = data_map.confidence
        else:
            key = data_map.aum
        if class_balanced:
            classes, inverse = np.unique(data_map.labels, return_inverse=True)
            members = [np.flatnonzero(inverse == c) for c in range(len(classes))]
            quotas = _quotas(np.array([len(m) for m in members]), count)
            chosen = np.concatenate(
                [_pick(key, m, q, rng) for m, q in zip(members, quotas) if q > 0] or [np.zeros(0, np.int64)]
            )
        else:
            chosen = _pick(key, np.arange(n), count, rng)
        if positions is None:
            chosen = np.sort(chosen)
            return DataMapSelection(data_map.ids[chosen], None)
        rows = positions[chosen]
        order = np.argsort(rows, kind="stable")
        return DataMapSelection(data_map.ids[chosen][order], dataset.select(rows[order].tolist()))

    def class_balance(self, ids: Any | None = None) -> dict[Any, int]:
        """Number of examples per gold label, in the whole map or among `ids` (e.g. a selection's ids).

        Args:
            ids (`array-like`, *optional*): Example ids of this map (as returned by [`select`]); all examples when
                omitted.

        Returns:
            `dict`: label -> count, sorted by label; labels absent from the selection count 0.

        Example:

        ```python
        >>> dm = DataMap([[0.9], [0.2], [0.4]], [[True], [False], [False]], labels=[0, 1, 1])
        >>> dm.class_balance(), dm.class_balance([0, 2])
        ({0: 1, 1: 2}, {0: 1, 1: 1})
        ```
        """
        if not self._has_labels:
            raise HfNotlikeInputError("This data map has no gold labels: record it with `CartographyCallback` (it keeps the "
                             "labels) or build it with `labels=`.")
        classes = np.unique(self.labels)
        if ids is None:
            labels = self.labels
        else:
            wanted = np.asarray(ids)
            order = np.argsort(self.ids, kind="stable")
            found = np.clip(np.searchsorted(self.ids[order], wanted), 0, self.num_examples - 1)
            hit = self.ids[order][found] == wanted if len(wanted) else np.zeros(0, bool)
            if not np.all(hit):
                raise HfNotlikeInputError(f"Some ids are not in this data map (e.g. {wanted[~hit][:5].tolist()}).")
            labels = self.labels[order[found]]
        counts = {_plain(c): 0 for c in classes}
        values, numbers = np.unique(labels, return_counts=True)
        for value, number in zip(values, numbers):
            counts[_plain(value)] = int(number)
        return counts

    # ------------------------------------------------------------------ plotting
    def plot(self, path: str | os.PathLike | None = None, **kwargs: Any) -> Figure:
        """Draw the data map (x: variability, y: confidence, colour: correctness, region labels, marginal
        histograms); see [`~hf_notlike.cartography.plotting.plot_data_map`] for the options. Saves to `path`
        (`.png` or `.pdf`) when given and returns the matplotlib figure."""
        from .plotting import plot_data_map

        return plot_data_map(self, path=path, **kwargs)

    def to_html(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Write the map as one self-contained interactive HTML page (hover text, shaded regions, box/lasso selection
        exported as ids); see [`~hf_notlike.cartography.interactive.write_data_map_html`] for the options
        (`dataset=`, `text_column=`, ...). Needs Plotly (`pip install "hf_notlike[interactive]"`)."""
        from .interactive import write_data_map_html

        return write_data_map_html(self, path, **kwargs)

    # ------------------------------------------------------------------ persistence
    def metadata(self) -> dict[str, Any]:
        from ..version import __version__

        return {
            "format_version": FORMAT_VERSION,
            "library": "hf_notlike",
            "library_version": __version__,
            "model": self.model_name,
            "dataset": self.dataset_name,
            "num_examples": self.num_examples,
            "num_epochs": self.num_epochs,
            "id_column": self.id_column,
            "mode": self.mode,
            "train_flops_per_example": self.train_flops_per_example,
            "unit_kind": self.unit_kind,
            "columns": list(self.to_arrow_columns()),
        }

    def to_arrow_columns(self) -> tuple[str, ...]:
        """Names of the columns of `data_map.parquet` for this map."""
        columns = ("id", "confidence", "variability", "correctness", "forgetfulness", "gold_prob", "correct")
        if self._has_margins:
            columns += ("aum", "margin")
        if self._has_labels:
            columns += ("label",)
        return columns

    def to_arrow(self):
        """The map as a `pyarrow.Table` (the content of `data_map.parquet`)."""
        import pyarrow as pa

        n, e = self.gold_probs.shape
        offsets = pa.array(np.arange(0, (n + 1) * e, e, dtype=np.int64))
        columns = {
            "id": pa.array(self.ids),
            "confidence": pa.array(self.confidence),
            "variability": pa.array(self.variability),
            "correctness": pa.array(self.correctness),
            "forgetfulness": pa.array(self.forgetfulness),
            "gold_prob": pa.LargeListArray.from_arrays(offsets, pa.array(self.gold_probs.reshape(-1))),
            "correct": pa.LargeListArray.from_arrays(offsets, pa.array(self.correct.reshape(-1))),
        }
        if self._has_margins:
            columns["aum"] = pa.array(self.aum)
            columns["margin"] = pa.LargeListArray.from_arrays(offsets, pa.array(self.margins.reshape(-1)))
        if self._has_labels:
            columns["label"] = pa.array(self.labels)
        return pa.table(columns)

    def _units_arrow(self):
        import pyarrow as pa

        units = self.units
        m, e = units["gold_prob"].shape
        offsets = pa.array(np.arange(0, (m + 1) * e, e, dtype=np.int64))
        return pa.table({
            "id": pa.array(self.ids[units["example"]]),
            "index": pa.array(units["index"]),
            "label": pa.array(units["label"]),
            "position": pa.array(units["position"]),
            "gold_prob": pa.LargeListArray.from_arrays(offsets, pa.array(units["gold_prob"].reshape(-1))),
            "correct": pa.LargeListArray.from_arrays(offsets, pa.array(units["correct"].reshape(-1))),
        })

    def save_pretrained(
        self, save_directory: str | os.PathLike, *, card: bool = True, plot: bool = True, repo_id: str | None = None
    ) -> Path:
        """Save the map as `data_map.parquet` + `data_map.json`, plus `data_map.png` (when `plot=True`) and the
        dataset card `README.md` (when `card=True`), in `save_directory`, as one atomic commit: the files are written
        into a staging folder beside it, `manifest.json` last, then swapped in, so a crash at any point leaves the
        previous complete map (or the new one). Other files already in the folder are kept.

        Args:
            save_directory (`str` or `os.PathLike`): Folder to write (created if needed).
            card (`bool`, *optional*, defaults to `True`): Also write the dataset card, `README.md`
                ([`~hf_notlike.cartography.card.write_data_map_card`]).
            plot (`bool`, *optional*, defaults to `True`): Also write the plot, `data_map.png`.
            repo_id (`str`, *optional*): Repo id the card refers to (set by [`push_to_hub`]).

        Returns:
            `Path`: the folder.
        """
        return save_data_map(self, save_directory, card=card, plot=plot, repo_id=repo_id)

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        lazy: bool = True,
    ) -> DataMap:
        """Load a map saved with [`save_pretrained`] from a local folder or a Hub dataset repo.

        The map opens lazily: `data_map.parquet` is memory-mapped and each column is decoded (and its bytes checked
        against `manifest.json`) when first used, so opening a map of millions of examples takes milliseconds and
        `select` / `plot` read only the per-example statistics they need (see `hf_notlike.cartography.storage`).

        Args:
            path_or_repo_id (`str` or `os.PathLike`):
                A folder holding `data_map.parquet` and `data_map.json`, or the id of a dataset repo on the Hub
                (fetched with `huggingface_hub.snapshot_download(repo_type="dataset")`).
            revision (`str`, *optional*): Hub revision (branch, tag or commit).
            token (`str` or `bool`, *optional*): Hub token.
            cache_dir (`str` or `os.PathLike`, *optional*): Hub cache folder.
            lazy (`bool`, *optional*, defaults to `True`): Open lazily (above). `False` reads every file into memory,
                checks it whole against the manifest and decodes and checks every column at once.

        Example:

        ```python
        >>> data_map = DataMap.from_pretrained("outputs/cartography/rotten_tomatoes_map")  # doctest: +SKIP
        >>> data_map = DataMap.from_pretrained("me/rotten-tomatoes-data-map")  # a dataset repo  # doctest: +SKIP
        ```

        Raises:
            `hf_notlike.artifacts.ArtifactError` (a `ValueError`) naming the folder and the file when the files do not
            match the folder's `manifest.json` (edited or partly copied after saving); `ValueError` for a folder that
            is not a data map. Opened lazily, a file larger than 64 MiB whose size matches the manifest is checked
            part by part as it is used: a changed part is reported by the first operation that reads it.
        """
        if not isinstance(lazy, bool):
            raise HfNotlikeInputError(f"`lazy` must be True or False; got {lazy!r}.")
        if not isinstance(path_or_repo_id, (str, os.PathLike)) or not str(path_or_repo_id).strip():
            raise HfNotlikeInputError(f"`path_or_repo_id` must be a folder or a Hub repo id; got {path_or_repo_id!r}.")
        folder = check_local_or_hub(path_or_repo_id, "data-map folder")  # no such folder: says so, no Hub call
        if folder is not None and not folder.is_dir():
            raise HfNotlikeInputError(f"{str(path_or_repo_id)!r} is a file, not a data-map folder (written by save_pretrained).")
        if folder is None:
            from huggingface_hub import snapshot_download

            from ..hub import hub_call

            with hub_call("download the data map", str(path_or_repo_id), "dataset"):
                folder = Path(
                    snapshot_download(
                        str(path_or_repo_id), repo_type="dataset", revision=revision, token=token, cache_dir=cache_dir,
                        allow_patterns=[
                            DATA_MAP_FILE, METADATA_FILE, MANIFEST_FILE, *UNIT_FILES.values(), "*.md", "*.png", "*.pdf"
                        ],
                    )
                )
        return load_data_map(cls, folder, str(path_or_repo_id), lazy=lazy)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        private: bool | None = None,
        token: str | None = None,
        commit_message: str = "Upload data map",
        endpoint: str | None = None,
        card: bool = True,
        plot: bool = True,
    ) -> str:
        """Push the map to the Hub as a dataset repo (created if needed): the files of [`save_pretrained`].

        Args:
            repo_id (`str`): `"user/name"` of the dataset repo.
            private (`bool`, *optional*): Visibility of a new repo.
            token (`str`, *optional*): Hub token.
            commit_message (`str`, *optional*, defaults to `"Upload data map"`): Commit message.
            endpoint (`str`, *optional*): Hub endpoint (e.g. a local test server).
            card (`bool`, *optional*, defaults to `True`): Include the dataset card.
            plot (`bool`, *optional*, defaults to `True`): Include the plot `data_map.png`.

        Returns:
            `str`: the URL of the commit.
        """
        from ..hub import push_folder

        if not isinstance(repo_id, str) or not repo_id.strip():
            raise HfNotlikeInputError(f"`repo_id` must be a non-empty string like 'user/name'; got {repo_id!r}.")
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, card=card, plot=plot, repo_id=repo_id)
            return push_folder(
                tmp, repo_id, repo_type="dataset", what="data map", token=token, private=private,
                commit_message=commit_message, endpoint=endpoint,
            )


def _check_correct(values: Any, shape: tuple[int, int]) -> np.ndarray:
    correct_array = np.asarray(values)
    if correct_array.dtype == bool:
        correct = _as_matrix(correct_array, "correct", bool)
    elif correct_array.dtype.kind in "iuf" and np.isin(correct_array, (0, 1)).all():
        correct = _as_matrix(correct_array, "correct", bool)
    elif correct_array.dtype.kind == "f" and np.isfinite(correct_array).all() and (
        (correct_array >= 0) & (correct_array <= 1)
    ).all():
        # a share of correct predictions per epoch (token-level tasks): in [0, 1]
        correct = _as_matrix(correct_array, "correct", np.float32)
    else:
        raise HfNotlikeInputError("`correct` must hold booleans (or 0/1), or shares of correct predictions in [0, 1].")
    if correct.shape != shape:
        raise HfNotlikeInputError(f"`gold_probs` and `correct` must have the same shape; got {shape} and {correct.shape}.")
    return correct


def _check_gold_values(gold: np.ndarray) -> None:
    if not np.isfinite(gold).all():
        raise HfNotlikeInputError(
            "`gold_probs` contains NaN or infinite values (an example missing from an epoch?); every example "
            "needs a probability at every epoch."
        )
    if gold.min() < 0 or gold.max() > 1:
        raise HfNotlikeInputError("`gold_probs` must be probabilities in [0, 1]; pass softmax outputs, not logits.")


def _check_margins(values: Any, shape: tuple[int, int]) -> np.ndarray:
    margin_array = np.asarray(values)
    if margin_array.dtype.kind not in "iuf":
        raise HfNotlikeInputError(f"`margins` must hold numbers; got dtype {margin_array.dtype}.")
    margins = _as_matrix(margin_array, "margins", np.float32)
    if margins.shape != shape:
        raise HfNotlikeInputError(f"`margins` must have the shape of `gold_probs`, {shape}; got {margins.shape}.")
    if not np.isfinite(margins).all():
        raise HfNotlikeInputError("`margins` contains NaN or infinite values; every example needs a finite margin.")
    return margins


def _integers_or_strings(values: Any, n: int, name: str, per_example: str, kinds: str, typed: bool) -> np.ndarray:
    """`values` as an array of shape `(n,)` of integers or strings (numpy kinds `kinds`, or objects that are ints or
    strings); `typed`: the values come from a column whose type was checked, so the per-value type check of an object
    array is skipped."""
    array = np.asarray(values)
    if array.shape != (n,):
        raise HfNotlikeInputError(f"`{name}` must have shape ({n},) ({per_example}); got {array.shape}.")
    if array.dtype.kind not in kinds and not (array.dtype == object and (
        typed or all(isinstance(x, (str, int, np.integer)) for x in array)
    )):
        raise HfNotlikeInputError(f"`{name}` must hold integers or strings; got dtype {array.dtype}.")
    return array


def _check_labels(values: Any, n: int, typed: bool = False) -> np.ndarray:
    return _integers_or_strings(values, n, "labels", "one gold label per example", "iuUSb", typed)


def _check_ids(values: Any, n: int, typed: bool = False) -> np.ndarray:
    ids = _integers_or_strings(values, n, "ids", "one per example", "iuUS", typed)
    # increasing integer ids (the usual case: row indices or a counter) are unique without sorting them
    increasing = ids.dtype.kind in "iu" and bool((ids[1:] > ids[:-1]).all())
    if not increasing and len(np.unique(ids)) != n:
        raise HfNotlikeInputError("`ids` must be unique: each example needs its own id.")
    return ids


def _check_units(units: Any, kind: Any, n: int, e: int) -> tuple[dict[str, np.ndarray] | None, str | None]:
    if units is None:
        if kind is not None:
            raise HfNotlikeInputError("`unit_kind` was given without `units`.")
        return None, None
    if kind not in UNIT_FILES:
        raise HfNotlikeInputError(f"`unit_kind` must be 'token' or 'label' with `units`; got {kind!r}.")
    if not isinstance(units, dict):
        raise HfNotlikeInputError(f"`units` must be a dict of arrays; got {type(units).__name__}.")
    missing = [k for k in ("example", "index", "label", "position", "gold_prob", "correct") if k not in units]
    if missing:
        raise HfNotlikeInputError(f"`units` lacks {missing}.")
    out = {k: np.asarray(units[k]) for k in ("example", "index", "label", "position")}
    m = len(out["example"])
    for key, value in out.items():
        if value.shape != (m,) or value.dtype.kind not in "iu":
            raise HfNotlikeInputError(f"`units[{key!r}]` must be a 1-D integer array of length {m}; got {value.dtype} "
                             f"{value.shape}.")
        out[key] = value.astype(np.int64)
    if m and (out["example"].min() < 0 or out["example"].max() >= n):
        raise HfNotlikeInputError(f"`units['example']` must be rows of the map, in [0, {n}).")
    gold = np.asarray(units["gold_prob"], dtype=np.float32)
    correct = np.asarray(units["correct"])
    if gold.shape != (m, e) or correct.shape != (m, e):
        raise HfNotlikeInputError(f"`units['gold_prob']` and `units['correct']` must have shape ({m}, {e}); got {gold.shape} "
                         f"and {correct.shape}.")
    if not np.isfinite(gold).all() or (gold < 0).any() or (gold > 1).any():
        raise HfNotlikeInputError("`units['gold_prob']` must be probabilities in [0, 1].")
    if correct.dtype != bool and not np.isin(correct, (0, 1)).all():
        raise HfNotlikeInputError("`units['correct']` must hold booleans (or 0/1).")
    out["gold_prob"], out["correct"] = gold, correct.astype(bool)
    return out, kind


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _quotas(sizes: np.ndarray, count: int) -> np.ndarray:
    """Split `count` over classes proportionally to `sizes` (largest remainder), never above a class's size."""
    exact = sizes * (count / sizes.sum())
    quotas = np.minimum(np.floor(exact).astype(np.int64), sizes)
    remainder = exact - quotas
    for c in np.argsort(-remainder, kind="stable"):
        if quotas.sum() >= count:
            break
        if quotas[c] < sizes[c]:
            quotas[c] += 1
    return quotas


def _pick(key: np.ndarray | None, members: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` of `members`: those with the smallest `key` (ties by position), or a seeded sample when `key` is None."""
    if key is None:
        return members[rng.choice(len(members), size=count, replace=False)]
    return members[_smallest(key[members], count)]


def _smallest(key: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` smallest values of `key`, ties at the boundary broken by lowest position (the same set as
    `np.argsort(key, kind="stable")[:k]`, in linear time)."""
    if k >= len(key):
        return np.arange(len(key))
    threshold = key[np.argpartition(key, k - 1)[:k]].max()
    better = np.flatnonzero(key < threshold)
    ties = np.flatnonzero(key == threshold)
    return np.concatenate([better, ties[: k - len(better)]])
