"""CartographyCallback with a stock Trainer: ids under shuffling, gradient accumulation, resume, re-score mode,
multiple choice, mixed precision, and the errors for what is not supported."""

import gc
import weakref

import numpy as np
import pytest
import torch
from cartography_helpers import (
    PROB_ATOL,
    SCALE_FREE,
    StopAt,
    direct_gold_probs,
    tiny_choice_dataset,
    tiny_dataset,
    tiny_model,
    train,
    training_args,
)
from transformers import Trainer, TrainerCallback

from hf_notlike.cartography import STATE_FILE, CartographyCallback, DataMap
from hf_notlike.cartography.callback import merge_epoch_records


class _OrderSpy(TrainerCallback):
    """Records the order the examples reached the model in (to prove the loader really shuffled)."""

    def __init__(self):
        self.order = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        model.register_forward_pre_hook(
            lambda module, a, kw: self.order.extend(kw["cartography_id"].tolist()) if "cartography_id" in kw else None,
            with_kwargs=True,
            prepend=True,
        )


def test_ids_right_under_shuffling(tmp_path):
    # learning_rate=0 and no dropout: an example's probability is a fixed function of the example, so any id mix-up
    # under the shuffled sampler shows up as a mismatch with a direct, row-ordered computation
    dataset = tiny_dataset(42)  # 42 = 10 batches of 4 + a partial one; `text`/`uid` dropped by remove_unused_columns
    spy = _OrderSpy()
    cartography = CartographyCallback()
    model = tiny_model()
    trainer = Trainer(model=model, args=training_args(str(tmp_path), learning_rate=0.0, num_train_epochs=2),
                      train_dataset=dataset, callbacks=[spy, cartography])
    trainer.train()
    order = np.asarray(spy.order)
    assert sorted(order[:42].tolist()) == list(range(42)) and order[:42].tolist() != list(range(42))
    assert order[:42].tolist() != order[42:].tolist()  # a new permutation per epoch
    data_map = cartography.data_map(dataset)
    probs, correct = direct_gold_probs(model, dataset)
    assert data_map.num_examples == 42 and data_map.num_epochs == 2
    # batches of 4 in the training pass, one batch of 42 directly: float32-sized tolerance (cartography_helpers)
    np.testing.assert_allclose(data_map.gold_probs, np.repeat(probs[:, None], 2, axis=1), atol=PROB_ATOL)
    assert (data_map.correct == correct[:, None]).all()
    assert data_map.ids.tolist() == list(range(42))
    # the model is left as it was: the callback's hooks are removed, so the model holds no reference to it
    callback_ref = weakref.ref(cartography)
    del cartography, trainer
    gc.collect()
    assert callback_ref() is None


def test_id_column_dropped_by_remove_unused_columns(tmp_path):
    dataset = tiny_dataset(20)
    cartography, _ = train(str(tmp_path), dataset, callback=CartographyCallback(id_column="uid"), num_train_epochs=1)
    with pytest.raises(ValueError, match="dropped from the train set by `remove_unused_columns`"):
        cartography.data_map()
    data_map = cartography.data_map(dataset)
    assert data_map.id_column == "uid" and data_map.ids.tolist() == dataset["uid"]
    ids, subset = data_map.select("hard_to_learn", 0.25, dataset=dataset.shuffle(seed=3))
    assert sorted(subset["uid"]) == sorted(ids.tolist()) and len(ids) == 5
    with pytest.raises(ValueError, match="rows"):
        cartography.data_map(dataset.select(range(10)))


def test_gradient_accumulation_matches_the_large_batch(tmp_path):
    # batch 4 x 2 accumulation steps == batch 8: same samples per update, same update direction, so the same map
    # (AdamW with a negligible epsilon and no clipping ignores the scale of the gradient, which the Trainer's loss
    # scaling under accumulation may change)
    dataset = tiny_dataset(32)
    options = dict(learning_rate=2e-2, **SCALE_FREE)
    small, _ = train(str(tmp_path / "a"), dataset, per_device_train_batch_size=4, gradient_accumulation_steps=2,
                     **options)
    large, _ = train(str(tmp_path / "b"), dataset, per_device_train_batch_size=8, **options)
    small_map, large_map = small.data_map(), large.data_map()
    assert small_map.num_epochs == 3
    # two training trajectories that differ only in float32 rounding (1 ulp here after 12 updates): 2e-5 leaves
    # ~300x headroom for other kernels; a real difference (other samples per update) moves probabilities by >1e-3
    np.testing.assert_allclose(small_map.gold_probs, large_map.gold_probs, atol=2e-5)
    assert np.abs(small_map.gold_probs[:, 0] - small_map.gold_probs[:, 2]).max() > 1e-3  # the model did learn


def test_resume_from_checkpoint_gives_the_same_map(tmp_path):
    dataset = tiny_dataset(40)  # 10 steps per epoch; the checkpoint at step 14 is in the middle of epoch 2
    options = dict(num_train_epochs=3, learning_rate=2e-2, save_strategy="steps", save_steps=14)
    full, _ = train(str(tmp_path / "full"), dataset, model=tiny_model(dropout=0.1), **options)

    interrupted = CartographyCallback()
    trainer = Trainer(model=tiny_model(dropout=0.1), args=training_args(str(tmp_path / "run"), **options),
                      train_dataset=dataset, callbacks=[interrupted, StopAt(14)])
    with pytest.warns(UserWarning, match="incomplete"):
        trainer.train()
        assert interrupted.data_map().num_epochs == 1
    checkpoint = tmp_path / "run" / "checkpoint-14"
    assert (checkpoint / STATE_FILE).is_file()

    resumed, _ = train(str(tmp_path / "run"), dataset, model=tiny_model(dropout=0.1),
                       resume_from_checkpoint=str(checkpoint), **options)
    np.testing.assert_array_equal(resumed.data_map().gold_probs, full.data_map().gold_probs)
    np.testing.assert_array_equal(resumed.data_map().correct, full.data_map().correct)
    np.testing.assert_array_equal(resumed.data_map().margins, full.data_map().margins)
    np.testing.assert_array_equal(resumed.data_map().labels, full.data_map().labels)

    # exact: the resumed run replays the same forwards (same weights, seeds, batches and kernels in this process),
    # and the reloaded epochs are the saved bits, so the maps are equal bit for bit by construction
    # `resume_from_checkpoint=True` (the latest checkpoint, step 28, saved by the resumed run) works as well
    again, _ = train(str(tmp_path / "run"), dataset, model=tiny_model(dropout=0.1), resume_from_checkpoint=True,
                     **options)
    np.testing.assert_array_equal(again.data_map().gold_probs, full.data_map().gold_probs)

    # a checkpoint without the callback's state is an error, not a silently partial map
    (checkpoint / STATE_FILE).unlink()
    with pytest.raises(ValueError, match="no CartographyCallback state"):
        train(str(tmp_path / "run"), dataset, model=tiny_model(dropout=0.1), resume_from_checkpoint=str(checkpoint),
              **options)


def test_rescore_mode_scores_the_train_set_in_eval_mode(tmp_path):
    dataset = tiny_dataset(22)
    model = tiny_model(dropout=0.3)
    cartography, _ = train(str(tmp_path), dataset, model=model, callback=CartographyCallback(mode="rescore"),
                           learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map()
    probs, _ = direct_gold_probs(model, dataset)  # eval mode: no dropout, like the re-scoring pass
    assert data_map.mode == "rescore"
    np.testing.assert_allclose(data_map.gold_probs, np.repeat(probs[:, None], 2, axis=1), atol=PROB_ATOL)


def test_multiple_choice(tmp_path):
    dataset = tiny_choice_dataset(18)
    model = tiny_model(head="choice")
    cartography, _ = train(str(tmp_path), dataset, model=model, learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map(dataset)
    direct = direct_gold_probs(model, dataset)[0]
    np.testing.assert_allclose(data_map.confidence, direct, atol=PROB_ATOL)


def test_mixed_precision_bf16(tmp_path):
    dataset = tiny_dataset(16)
    model = tiny_model()
    cartography, _ = train(str(tmp_path), dataset, model=model, bf16=True, learning_rate=0.0, num_train_epochs=1)
    data_map = cartography.data_map()
    assert data_map.gold_probs.dtype == np.float32 and np.isfinite(data_map.gold_probs).all()
    np.testing.assert_allclose(data_map.confidence, direct_gold_probs(model, dataset)[0], atol=2e-2)


# ------------------------------------------------------------------------------------------------- bad input
def test_models_the_callback_cannot_map_are_rejected_before_any_step(tmp_path):
    # regression, question answering (another head) and an unknown custom head: one error naming what is
    # supported, before the first training step
    from cartography_helpers import tiny_bert_config
    from transformers import BertForQuestionAnswering

    dataset = tiny_dataset(8)
    for model, match in [
        (tiny_model(num_labels=1), "regression"),
        (BertForQuestionAnswering(tiny_bert_config()), "BertForQuestionAnswering"),
        (_TokenLevel(), "cannot tell what `_TokenLevel` is trained for"),
    ]:
        with pytest.raises(ValueError, match=match) as error:
            Trainer(model=model, args=training_args(str(tmp_path)), train_dataset=dataset,
                    callbacks=[CartographyCallback()])
        assert "supports single-label sequence classification" in str(error.value)
    # also at on_train_begin when the model is swapped after the Trainer was built
    trainer = Trainer(model=tiny_model(), args=training_args(str(tmp_path)), train_dataset=dataset,
                      callbacks=[CartographyCallback()])
    trainer.model = trainer.model_wrapped = tiny_model(num_labels=1)
    with pytest.raises(ValueError, match="regression"):
        trainer.train()
    assert trainer.state.global_step == 0


class _TokenLevel(torch.nn.Module):
    """A custom model (unknown class name) whose logits are per token: caught at the first batch."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(64, 3)

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        from transformers.modeling_outputs import TokenClassifierOutput

        logits = self.embed(input_ids)
        return TokenClassifierOutput(loss=logits.mean(), logits=logits)


def test_token_level_logits_are_rejected_at_the_first_batch(tmp_path):
    # a custom model declared as a classifier whose logits are per token
    with pytest.raises(ValueError, match=r"logits of shape \(4, 8, 3\)"):
        train(str(tmp_path), tiny_dataset(8), model=_TokenLevel(), callback=CartographyCallback(task="classification"))


def test_bad_setups_are_rejected_before_training(tmp_path):
    dataset = tiny_dataset(8)
    with pytest.raises(ValueError, match="dataloader_drop_last"):
        train(str(tmp_path), dataset, dataloader_drop_last=True)
    with pytest.raises(ValueError, match="map-style"):
        train(str(tmp_path), dataset.to_iterable_dataset(), max_steps=2)
    with pytest.raises(ValueError, match="mode"):
        CartographyCallback(mode="eval")
    with pytest.raises(ValueError, match="no finished epoch"):
        CartographyCallback().data_map()


def test_training_stopped_mid_epoch_leaves_the_partial_epoch_out(tmp_path):
    cartography, _ = train(str(tmp_path), tiny_dataset(16), max_steps=6)  # 4 steps per epoch: 1.5 epochs
    assert cartography.epochs_recorded == 2
    with pytest.warns(UserWarning, match="1 incomplete epoch"):
        data_map = cartography.data_map()
    assert isinstance(data_map, DataMap) and data_map.num_epochs == 1


def test_epoch_merge_keeps_the_first_occurrence_of_repeated_examples():
    records = {  # example 0 seen at step 0 (rank 1) and again as padding at step 2; example 2 twice at step 1
        "ids": np.array([3, 0, 1, 2, 0, 2]),
        "probs": np.array([0.3, 0.1, 0.2, 0.9, 0.7, 0.4], dtype=np.float32),
        "correct": np.array([False, False, False, True, True, False]),
        "margins": np.array([-1.0, -2.0, -1.5, 2.0, 1.0, -0.5], dtype=np.float32),
        "labels": np.array([0, 1, 2, 0, 1, 2]),
        "steps": np.array([1, 0, 1, 1, 2, 1]),
        "ranks": np.array([0, 1, 0, 1, 0, 0]),
    }
    merged = merge_epoch_records(records, 4)
    np.testing.assert_array_equal(merged["probs"], np.array([0.1, 0.2, 0.4, 0.3], dtype=np.float32))
    assert merged["correct"].tolist() == [False, False, False, False] and merged["labels"].tolist() == [1, 2, 2, 0]
    np.testing.assert_array_equal(merged["margins"], np.array([-2.0, -1.5, -0.5, -1.0], dtype=np.float32))
    partial = merge_epoch_records({key: value[:2] for key, value in records.items()}, 4)  # examples 1, 2 missing
    assert partial["seen"].tolist() == [True, False, False, True] and np.isnan(partial["probs"][[1, 2]]).all()


def test_profile_counts_the_callbacks_own_calls(tmp_path):
    dataset = tiny_dataset(16)  # 4 steps per epoch, 2 epochs
    cartography, _ = train(str(tmp_path), dataset, callback=CartographyCallback(profile=True), num_train_epochs=2)
    stats = cartography.profile_stats
    # per step: the two forward hooks, the collator wrapper and the dataset wrapper; plus the event handlers
    assert stats["calls"] >= 4 * 8 and stats["seconds"] < 60
    with pytest.raises(ValueError, match="profile=True"):
        CartographyCallback().profile_stats  # noqa: B018
