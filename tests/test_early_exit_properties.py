"""Property-based tests (hypothesis) of the early-exit evaluation entry points: `calibrate_temperatures`,
`speed_accuracy_curve` and `EarlyExitMetrics` (a Trainer `compute_metrics`). Fed generated hostile inputs, each either
raises its documented exception (`ValueError` / `TypeError`) with a message, or returns a correct result; never
another exception."""

import math
import warnings

import datasets
import numpy as np
import pyarrow as pa
import pytest
import torch
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from transformers import EvalPrediction

from hf_notlike import (
    EarlyExitBertConfig,
    EarlyExitMetrics,
    calibrate_temperatures,
    collect_exit_logits,
    speed_accuracy_curve,
)
from hf_notlike.early_exit.tradeoff import curve_from_logits

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOCUMENTED = (ValueError, TypeError)


@pytest.fixture(scope="module")
def model(early_exit_model):
    """A tiny random BERT (3 layers, hidden 16, 3 labels, vocabulary 64) with exits after layers 1, 2 and 3."""
    return early_exit_model(vocab_size=64, hidden_size=16, num_hidden_layers=3, intermediate_size=20,
                            max_position_embeddings=16, exit_layers=[1, 2])


TOKEN = st.one_of(st.integers(5, 63), st.integers(-3, 70), st.none(), st.floats(allow_nan=True), st.text(max_size=2))
ROW = st.one_of(st.lists(st.integers(5, 63), min_size=1, max_size=8), st.lists(TOKEN, max_size=20), st.none())
LABEL = st.one_of(st.integers(0, 2), st.integers(-2, 5), st.floats(allow_nan=True), st.none(), st.booleans(),
                  st.text(max_size=2))


@st.composite
def hostile_datasets(draw):
    """Mostly valid tokenized rows, with hostile rows, labels, masks, columns or types mixed in."""
    hostile = draw(st.booleans())
    n = draw(st.integers(0 if hostile else 1, 6))
    valid_row = st.lists(st.integers(5, 63), min_size=1, max_size=8)
    ids = draw(st.lists(st.one_of(valid_row, ROW) if hostile else valid_row, min_size=n, max_size=n))
    label = st.one_of(st.integers(0, 2), LABEL) if hostile else st.integers(0, 2)
    labels = draw(st.lists(label, min_size=n, max_size=n))
    name = draw(st.sampled_from(["label", "labels", "target"])) if hostile else "label"
    columns = {"input_ids": ids, name: labels}
    if hostile and draw(st.booleans()):
        columns["attention_mask"] = [
            draw(st.one_of(st.just([1] * len(row)) if isinstance(row, list) else st.none(),
                           st.lists(st.integers(-1, 2), max_size=9)))
            for row in ids
        ]
    if draw(st.booleans()):
        columns["token_type_ids"] = [[draw(st.integers(0, 2))] * len(row) if isinstance(row, list) else None
                                     for row in ids]
    if hostile and draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([columns, list(columns.items()), None, "input_ids"]))  # not a Dataset at all
    try:
        return datasets.Dataset.from_dict(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        assume(False)


def rows_fit(data, calibrating: bool = False) -> bool:
    """Whether the dataset is one a user should be able to calibrate (`calibrating`) and sweep on (the reference's
    view)."""
    if not isinstance(data, datasets.Dataset) or len(data) == 0 or "input_ids" not in data.column_names:
        return False
    label = next((c for c in ("label", "labels") if c in data.column_names), None)
    if label is None:
        return False
    for row in data:
        ids = row["input_ids"]
        if not isinstance(ids, list) or not 0 < len(ids) <= 16:
            return False
        if not all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 64 for t in ids):
            return False
        for name, allowed in (("attention_mask", 2), ("token_type_ids", 2)):
            if name in row:
                values = row[name]
                if not isinstance(values, list) or len(values) != len(ids):
                    return False
                if not all(isinstance(v, int) and 0 <= v < allowed for v in values):
                    return False
                if name == "attention_mask" and not any(values):
                    return False
        y = row[label]
        if not isinstance(y, int) or isinstance(y, bool) or not 0 <= y < 3:
            return False
    if calibrating and len(data) > 1 and len({tuple(ids) for ids in data["input_ids"]}) == 1:
        return False  # every row the same sequence (e.g. all texts empty): nothing to calibrate on, refused
    return True


def reference_exit_logits(model, data):
    """Every exit's logits, one row at a time (no batching, no padding)."""
    out = []
    for row in data:
        inputs = {k: torch.tensor([row[k]]) for k in ("input_ids", "attention_mask", "token_type_ids") if k in row}
        with torch.no_grad():
            out.append(model(**inputs, output_all_exits=True).exit_logits[0])
    return torch.stack(out)


POSITIVE_INT = st.one_of(st.integers(1, 8), st.integers(-3, 0), st.none(), st.floats(allow_nan=True),
                         st.booleans(), st.text(max_size=2))


@SETTINGS
@given(data=hostile_datasets(), batch_size=st.one_of(st.integers(1, 4), POSITIVE_INT),
       num_bins=st.one_of(st.just(15), POSITIVE_INT))
def test_calibrate_temperatures_on_hostile_input(model, data, batch_size, num_bins):
    before = list(model.config.temperatures)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = calibrate_temperatures(model, data, batch_size=batch_size, num_bins=num_bins, show_progress=False)
    except DOCUMENTED as error:
        event(f"refused: {type(error).__name__}")
        assert str(error)
        assert model.config.temperatures == before  # nothing changed on failure
        assert not (rows_fit(data, calibrating=True) and isinstance(batch_size, int) and not isinstance(batch_size, bool)
                    and batch_size > 0 and isinstance(num_bins, int) and not isinstance(num_bins, bool)
                    and num_bins > 0), f"valid input refused: {error}"
        return
    event("calibrated")
    try:
        assert rows_fit(data, calibrating=True), "invalid input accepted"
        labels = torch.tensor(data["label" if "label" in data.column_names else "labels"])
        exit_logits = reference_exit_logits(model, data)
        assert len(result.temperatures) == 3 and all(0.01 <= t <= 100 for t in result.temperatures)
        assert model.config.temperatures == result.temperatures
        expected = (exit_logits.argmax(-1) == labels[:, None]).double().mean(0).tolist()
        assert result.accuracy == pytest.approx(expected)
    finally:
        model.config.temperatures = before


THRESHOLD = st.one_of(st.floats(0.34, 1.0), st.floats(allow_nan=True, allow_infinity=True), st.integers(-1, 2),
                      st.booleans(), st.text(max_size=3), st.none())
THRESHOLDS = st.one_of(st.lists(st.floats(0.34, 1.0), min_size=1, max_size=4), st.lists(THRESHOLD, max_size=4),
                       THRESHOLD)


VALID_SWEEP = dict(
    thresholds=st.lists(st.floats(0.34, 1.0), min_size=1, max_size=4),
    timed=st.one_of(st.none(), st.lists(st.floats(0.34, 1.0), max_size=2)),
    batch_sizes=st.one_of(st.just(()), st.lists(st.integers(1, 3), min_size=1, max_size=2, unique=True)),
    num_timing_examples=st.integers(1, 3), repeats=st.just(1), stock_model=st.sampled_from([False, True]),
    baselines=st.sampled_from([None, {}]),
)
HOSTILE_SWEEP = dict(
    thresholds=THRESHOLDS, timed=THRESHOLDS,
    batch_sizes=st.one_of(st.lists(st.one_of(st.integers(-1, 3), st.booleans(), st.floats()), max_size=2),
                          st.text(max_size=2), st.just([1, 1])),
    num_timing_examples=POSITIVE_INT, repeats=POSITIVE_INT, stock_model=st.sampled_from([None, "yes", 1]),
    baselines=st.sampled_from([{"x": "not a model"}, [1], {"x": torch.nn.Linear(2, 2)}]),
)


@SETTINGS
@given(data=hostile_datasets(), choice=st.data())
def test_speed_accuracy_curve_on_hostile_input(model, data, choice):
    hostile = choice.draw(st.sampled_from([None, None, *HOSTILE_SWEEP]))  # at most one hostile argument
    args = {name: choice.draw(HOSTILE_SWEEP[name] if name == hostile else VALID_SWEEP[name]) for name in VALID_SWEEP}
    thresholds, timed, batch_sizes = args["thresholds"], args["timed"], args["batch_sizes"]
    num_timing_examples, repeats = args["num_timing_examples"], args["repeats"]
    stock_model, baselines = args["stock_model"], args["baselines"]
    try:
        result = speed_accuracy_curve(model, data, thresholds, timed_thresholds=timed, batch_sizes=batch_sizes,
                                      num_timing_examples=num_timing_examples, repeats=repeats,
                                      stock_model=stock_model, baselines=baselines,
                                      show_progress=False)
    except DOCUMENTED as error:
        event(f"refused: {type(error).__name__}")
        assert str(error)
        assert hostile is not None or not rows_fit(data), f"valid input refused: {error}"
        return
    event(f"swept, timed at {len(result.batch_sizes)} batch sizes")
    assert rows_fit(data), "invalid input accepted"
    asked = [thresholds] if not isinstance(thresholds, list) else thresholds
    assert all(isinstance(t, (int, float)) and not isinstance(t, bool) and 0 < t <= 1 for t in asked)
    ee = [row for row in result.rows if row["kind"] == "early_exit"]
    timed_rows = [row for row in ee if row.get(f"ms_per_example_bs{result.batch_sizes[0]}") is not None] if (
        result.batch_sizes) else []
    expected_thresholds = set(map(float, asked)) | {row["threshold"] for row in timed_rows}
    assert [row["threshold"] for row in ee] == sorted(expected_thresholds, reverse=True)
    if result.batch_sizes:
        assert 1.0 in {row["threshold"] for row in timed_rows}
        wanted = set(map(float, asked)) if timed is None else set(map(float, timed))
        assert {row["threshold"] for row in timed_rows} == wanted | {1.0}
    exit_logits, labels = collect_exit_logits(model, data, show_progress=False)
    reference = curve_from_logits(exit_logits, labels, [1, 2, 3], model.config.temperatures,
                                  [row["threshold"] for row in ee], 3)
    for row, ref in zip(ee, reference):
        assert row["accuracy"] == pytest.approx(ref["accuracy"]) and row["mean_layers"] == ref["mean_layers"]
    for row in ee:
        if row["threshold"] == 1.0:  # the full model: the last exit's accuracy
            assert math.isclose(row["accuracy"], float((exit_logits[:, -1].argmax(-1) == labels).double().mean()))


ARRAY = st.one_of(
    st.builds(lambda shape, seed: np.random.default_rng(seed).normal(size=shape).astype(np.float32),
              st.tuples(st.integers(0, 4), st.integers(0, 4)), st.integers(0, 9)),
    st.builds(lambda shape, seed: np.random.default_rng(seed).normal(size=shape),
              st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 4)), st.integers(0, 9)),
    st.lists(st.one_of(st.integers(-100, 5), st.floats(allow_nan=True), st.text(max_size=1)), max_size=4),
    st.none(), st.text(max_size=2),
)


@st.composite
def hostile_predictions(draw):
    """Valid eval outputs of a 3-exit, 3-class model, then, often, one part replaced by something hostile."""
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 99)))
    exit_logits = rng.normal(size=(n, 3, 3)).astype(np.float32)
    index = rng.integers(0, 3, size=n)
    parts = [exit_logits[np.arange(n), index], np.array([1, 2, 4])[index], exit_logits]
    labels = rng.integers(0, 3, size=n)
    if draw(st.booleans()):
        labels[draw(st.integers(0, n - 1))] = draw(st.sampled_from([-100, -1, 3, 7]))
    which = draw(st.integers(0, 9))
    if which < 3:
        parts[which] = draw(ARRAY)
    elif which == 3:
        labels = draw(ARRAY)
    elif which == 4:
        parts = draw(st.sampled_from([parts[:2], parts[0], parts[::-1], [*parts, parts[0]]]))
    return parts, labels


CONFIG_4 = EarlyExitBertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                               intermediate_size=20, exit_layers=[1, 2, 4], num_labels=3, exit_threshold=0.6)
METRICS = EarlyExitMetrics(CONFIG_4, thresholds=[0.5, 0.9])


@SETTINGS
@given(prediction=hostile_predictions())
def test_compute_metrics_on_hostile_input(prediction):
    parts, labels = prediction
    predictions = tuple(parts) if isinstance(parts, list) else parts
    try:
        result = METRICS(EvalPrediction(predictions=predictions, label_ids=labels))
    except DOCUMENTED as error:
        event(f"refused: {type(error).__name__}")
        assert str(error)
        return
    event("scored")
    # accepted: it must be a well-formed output, and the numbers a numpy reference gives
    logits, exit_layer, exit_logits = (np.asarray(p) for p in predictions[:3])
    labels = np.asarray(labels)
    assert logits.ndim == 2 and exit_logits.shape == (len(labels), 3, 3) and np.isfinite(exit_logits).all()
    keep = labels != -100
    assert keep.any() and ((labels[keep] >= 0) & (labels[keep] < 3)).all()
    y = labels[keep]
    for k, layer in enumerate([1, 2, 4]):
        assert result[f"accuracy_exit_{layer}"] == pytest.approx((exit_logits[keep, k].argmax(-1) == y).mean())
    assert result["accuracy"] == pytest.approx((logits[keep].argmax(-1) == y).mean())
    assert result["mean_layers"] == pytest.approx(exit_layer[keep].mean())
    for t in (0.5, 0.9):
        probs = torch.softmax(torch.tensor(exit_logits[keep], dtype=torch.float32), -1).amax(-1).numpy()
        passes = probs >= t
        passes[:, -1] = True
        first = passes.argmax(1)
        assert result[f"mean_layers_at_{t:g}"] == pytest.approx(np.array([1, 2, 4])[first].mean())
