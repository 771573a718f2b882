"""The collator checks the values of the visual fields it passes through (once per batch, vectorised): LXMERT's
`visual_pos` as 4 box coordinates, `obj_labels` for as many boxes as the features, a 0/1 `visual_attention_mask`,
and finite float features; each error names the field, the rows and the fix."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from masking_fixtures import CAPTIONS, tag

from hf_notlike.masking import DataCollatorForVLMasking

BOXES, FEATURES = 3, 4


def lxmert_rows(tokenizer, n=3):
    rows = tag(tokenizer, CAPTIONS[:n])
    for i, row in enumerate(rows):
        row["visual_feats"] = torch.full((BOXES, FEATURES), float(i))
        row["visual_pos"] = torch.rand(BOXES, 4)
        row["visual_attention_mask"] = torch.ones(BOXES, dtype=torch.long)
        row["obj_labels"] = {"obj": ([1] * BOXES, [1.0] * BOXES), "attr": ([2] * BOXES, [0.5] * BOXES)}
    return rows


def collate(tokenizer, rows):
    return DataCollatorForVLMasking(tokenizer, seed=0)(rows)


def test_valid_lxmert_batch_collates(bert_tokenizer):
    batch = collate(bert_tokenizer, lxmert_rows(bert_tokenizer))
    assert batch["visual_pos"].shape == (3, BOXES, 4) and batch["obj_labels"]["obj"][0].shape == (3, BOXES)


def test_visual_pos_must_be_four_coordinates(bert_tokenizer):
    rows = lxmert_rows(bert_tokenizer)
    for row in rows:
        row["visual_pos"] = torch.rand(BOXES, 5)
    with pytest.raises(ValueError, match=r"`visual_pos` must be 4 box coordinates .* got \(3, 5\) per example"):
        collate(bert_tokenizer, rows)


@pytest.mark.parametrize("part", [0, 1])
def test_obj_labels_must_cover_every_box(bert_tokenizer, part):
    rows = lxmert_rows(bert_tokenizer)
    for row in rows:
        pair = list(row["obj_labels"]["attr"])
        pair[part] = pair[part][:2]
        row["obj_labels"]["attr"] = tuple(pair)
    what = ["labels", "confidences"][part]
    with pytest.raises(ValueError, match=rf"`obj_labels\['attr'\]` {what} are for \(2,\) boxes .* has 3"):
        collate(bert_tokenizer, rows)


@pytest.mark.parametrize("value", [2, -1])
def test_visual_attention_mask_must_be_zero_or_one(bert_tokenizer, value):
    rows = lxmert_rows(bert_tokenizer)
    rows[1]["visual_attention_mask"] = torch.tensor([1, value, 0])
    with pytest.raises(ValueError, match=r"`visual_attention_mask` must hold only 0 .* row 1 of the batch holds"):
        collate(bert_tokenizer, rows)


@pytest.mark.parametrize("field", ["visual_feats", "visual_pos"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_features_are_rejected(bert_tokenizer, field, bad):
    rows = lxmert_rows(bert_tokenizer)
    rows[2][field] = rows[2][field].clone()
    rows[2][field][1, 0] = bad
    with pytest.raises(ValueError, match=rf"'{field}' holds NaN or inf in row 2 of the batch"):
        collate(bert_tokenizer, rows)


def test_non_finite_visual_embeds_and_confidences(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS[:2])
    for row in rows:
        row["visual_embeds"] = np.zeros((BOXES, FEATURES), dtype=np.float32)
    rows[0]["visual_embeds"][0, 0] = np.nan
    with pytest.raises(ValueError, match="'visual_embeds' holds NaN or inf in row 0"):
        collate(bert_tokenizer, rows)
    rows = lxmert_rows(bert_tokenizer)
    rows[1]["obj_labels"]["obj"] = ([1] * BOXES, [1.0, float("nan"), 1.0])
    with pytest.raises(ValueError, match="'obj_labels.obj' holds NaN or inf in row 1"):
        collate(bert_tokenizer, rows)


def test_large_finite_values_whose_sum_overflows_pass(bert_tokenizer):
    rows = lxmert_rows(bert_tokenizer)
    for row in rows:
        row["visual_feats"] = torch.full((BOXES, FEATURES), 3e38)
    assert torch.isfinite(collate(bert_tokenizer, rows)["visual_feats"]).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pos_size=st.sampled_from([4, 4, 3, 5]),
    mask_value=st.sampled_from([0, 1, 1, 2, -1]),
    label_boxes=st.sampled_from([BOXES, BOXES, 2]),
    feature=st.sampled_from([0.5, 0.5, float("nan"), float("inf")]),
    row=st.integers(0, 2),
)
def test_collator_accepts_exactly_the_valid_visual_batches(bert_tokenizer, pos_size, mask_value, label_boxes,
                                                           feature, row):
    rows = lxmert_rows(bert_tokenizer)
    for r in rows:
        r["visual_pos"] = torch.rand(BOXES, pos_size)
        r["obj_labels"]["obj"] = ([1] * label_boxes, [1.0] * label_boxes)
    rows[row]["visual_attention_mask"] = torch.tensor([1, mask_value, 1])
    rows[row]["visual_feats"] = torch.full((BOXES, FEATURES), feature)
    valid = pos_size == 4 and mask_value in (0, 1) and label_boxes == BOXES and np.isfinite(feature)
    if valid:
        batch = collate(bert_tokenizer, rows)
        assert torch.isfinite(batch["visual_feats"]).all() and batch["visual_pos"].shape[-1] == 4
    else:
        with pytest.raises(ValueError) as info:
            collate(bert_tokenizer, rows)
        message = str(info.value)
        assert any(name in message for name in ("visual_pos", "visual_attention_mask", "obj_labels", "visual_feats"))
        if not np.isfinite(feature) or mask_value not in (0, 1):
            assert f"row {row}" in message or pos_size != 4 or label_boxes != BOXES
