"""AUM and margins (Pleiss et al., NeurIPS 2020) recorded in the training pass, the gold labels kept in the map,
`select("low_aum")`, class-balanced selection and class balance of a selection."""

import numpy as np
import pytest
import torch
from cartography_helpers import tiny_choice_dataset, tiny_dataset, tiny_model, train

from hf_notlike.cartography import DataMap


@torch.no_grad()
def direct_margins(model, dataset) -> np.ndarray:
    """Gold logit minus the largest other logit, computed directly (eval mode, row order)."""
    model.eval()
    logits = model(input_ids=torch.tensor(dataset["input_ids"]),
                   attention_mask=torch.tensor(dataset["attention_mask"])).logits.float()
    labels = torch.tensor(dataset["label"])
    gold = logits.gather(1, labels[:, None]).squeeze(1)
    others = logits.clone()
    others[torch.arange(len(labels)), labels] = -torch.inf
    return (gold - others.max(1).values).numpy()


def test_margins_and_labels_recorded_in_the_training_pass(tmp_path):
    dataset = tiny_dataset(30)
    model = tiny_model()
    cartography, _ = train(str(tmp_path), dataset, model=model, learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map(dataset)
    margins = direct_margins(model, dataset)
    np.testing.assert_allclose(data_map.margins, np.repeat(margins[:, None], 2, axis=1), atol=1e-5)
    np.testing.assert_allclose(data_map.aum, margins, atol=1e-5)
    assert data_map.labels.tolist() == dataset["label"]
    # the margin is positive exactly when the argmax is the gold label
    assert ((data_map.margins > 0) == data_map.correct).all()
    # saved and loaded like the other columns
    loaded = DataMap.from_pretrained(data_map.save_pretrained(tmp_path / "map", plot=False, card=False))
    np.testing.assert_array_equal(loaded.margins, data_map.margins)
    assert loaded.labels.tolist() == dataset["label"]
    frame = loaded.to_pandas()
    np.testing.assert_allclose(frame["aum"], data_map.aum)
    assert frame["label"].tolist() == dataset["label"]


def test_margins_under_learning_average_over_epochs(tmp_path):
    dataset = tiny_dataset(24)
    cartography, _ = train(str(tmp_path), dataset, learning_rate=2e-2, num_train_epochs=3)
    data_map = cartography.data_map()
    assert np.abs(data_map.margins[:, 0] - data_map.margins[:, 2]).max() > 1e-2  # the margins moved
    np.testing.assert_allclose(data_map.aum, data_map.margins.mean(axis=1), rtol=1e-6, atol=1e-6)


def test_multiple_choice_margins(tmp_path):
    dataset = tiny_choice_dataset(12)
    model = tiny_model(head="choice")
    cartography, _ = train(str(tmp_path), dataset, model=model, learning_rate=0.0, num_train_epochs=1)
    data_map = cartography.data_map()
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(dataset["input_ids"]),
                       attention_mask=torch.tensor(dataset["attention_mask"])).logits
    labels = np.asarray(dataset["label"])
    expected = [row[y] - np.max(np.delete(row, y)) for row, y in zip(logits.numpy(), labels)]
    np.testing.assert_allclose(data_map.aum, expected, atol=1e-5)


def test_low_aum_finds_flipped_labels(tmp_path):
    # the label is the first token's parity (what BERT's pooler reads); 8 of 80 labels are flipped: the model learns
    # the rule and keeps a negative margin on the flipped ones (Pleiss et al., 2020), so they rank first by AUM
    dataset = tiny_dataset(80, num_labels=2)
    flipped = set(np.random.default_rng(1).choice(80, 8, replace=False).tolist())
    labels = [1 - row[0] % 2 if i in flipped else row[0] % 2 for i, row in enumerate(dataset["input_ids"])]
    noisy = dataset.remove_columns("label").add_column("label", labels)
    cartography, _ = train(str(tmp_path), noisy, model=tiny_model(num_labels=2), learning_rate=1e-2,
                           num_train_epochs=6)
    data_map = cartography.data_map()
    assert data_map.labels.tolist() == labels
    low = data_map.select("low_aum", 0.1).ids.tolist()
    # a random 10% would hold 0.8 flipped labels on average
    assert len(set(low) & flipped) >= 5, (sorted(low), sorted(flipped))
    assert (data_map.aum[sorted(flipped)] < np.median(data_map.aum)).mean() >= 0.75


def test_low_aum_region_matches_the_ranking():
    rng = np.random.default_rng(0)
    probs = rng.random((50, 3)).astype(np.float32)
    margins = rng.normal(size=(50, 3)).astype(np.float32)
    dm = DataMap(probs, probs > 0.5, margins=margins)
    ids = dm.select("low_aum", 0.2).ids
    assert sorted(ids.tolist()) == sorted(np.argsort(margins.mean(1))[:10].tolist())
    with pytest.raises(ValueError, match="needs margins"):
        DataMap(probs, probs > 0.5).select("low_aum", 0.1)
    with pytest.raises(ValueError, match="no margins"):
        DataMap(probs, probs > 0.5).aum  # noqa: B018


def test_class_balanced_selection_keeps_the_class_proportions():
    # 60 examples of class "a" with low confidence, 40 of class "b" with high confidence
    confidence = np.concatenate([np.linspace(0.05, 0.3, 60), np.linspace(0.7, 0.95, 40)]).astype(np.float32)
    labels = np.array(["a"] * 60 + ["b"] * 40)
    dm = DataMap(np.repeat(confidence[:, None], 2, axis=1), np.repeat((confidence > 0.5)[:, None], 2, axis=1),
                 labels=labels)
    plain = dm.select("easy_to_learn", 0.2).ids
    assert dm.class_balance(plain) == {"a": 0, "b": 20}
    balanced = dm.select("easy_to_learn", 0.2, class_balanced=True).ids
    assert dm.class_balance(balanced) == {"a": 12, "b": 8} and len(balanced) == 20
    # within each class the easiest examples
    assert sorted(balanced.tolist()) == list(range(48, 60)) + list(range(92, 100))
    assert dm.class_balance() == {"a": 60, "b": 40}
    rand = dm.select("random", 0.33, class_balanced=True, seed=3).ids
    assert dm.class_balance(rand) == {"a": 20, "b": 13} and len(rand) == 33
    with pytest.raises(ValueError, match="needs the gold labels"):
        DataMap([[0.5, 0.6]], [[True, True]]).select("random", 1.0, class_balanced=True)
    with pytest.raises(ValueError, match="not in this data map"):
        dm.class_balance([1000])


def test_one_epoch_map_refuses_the_ambiguous_region(tmp_path):
    # variability is 0 everywhere after one epoch; the selection used to be the first rows in order
    cartography, _ = train(str(tmp_path), tiny_dataset(16), num_train_epochs=1)
    data_map = cartography.data_map()
    assert data_map.num_epochs == 1 and (data_map.variability == 0).all()
    with pytest.raises(ValueError, match="one-epoch map"):
        data_map.select("ambiguous", 0.25)
    with pytest.raises(ValueError, match="one-epoch map"):
        DataMap([[0.2, 0.8], [0.5, 0.5]], [[False, True], [True, True]]).select("ambiguous", 0.5, epochs=1)
    assert len(data_map.select("hard_to_learn", 0.25).ids) == 4
