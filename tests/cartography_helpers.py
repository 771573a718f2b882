"""Helpers shared by the cartography tests and their `torchrun` worker: a tiny BERT built in code, a synthetic
pre-tokenised dataset (fixed length, so batch composition never changes the numbers), a stock `Trainer` run."""

from __future__ import annotations

import numpy as np
import torch
from transformers import TrainerCallback

SEQ_LEN = 8
VOCAB = 40


def tiny_bert_config(num_labels: int = 3, dropout: float = 0.0):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=SEQ_LEN + 2, num_labels=num_labels, hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )


def tiny_model(seed: int = 0, num_labels: int = 3, dropout: float = 0.0, head: str = "sequence"):
    from transformers import BertForMultipleChoice, BertForSequenceClassification

    torch.manual_seed(seed)
    cls = BertForSequenceClassification if head == "sequence" else BertForMultipleChoice
    return cls(tiny_bert_config(num_labels=num_labels, dropout=dropout))


def tiny_dataset(n: int = 40, num_labels: int = 3, seed: int = 0):
    """Learnable toy task: the label is the token at position 1 modulo `num_labels`; a `text` column (dropped by
    `remove_unused_columns`) and a `uid` column with stable string ids."""
    import datasets

    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, size=(n, SEQ_LEN))
    lengths = rng.integers(4, SEQ_LEN + 1, size=n)
    mask = (np.arange(SEQ_LEN)[None, :] < lengths[:, None]).astype(np.int64)
    ids = ids * mask
    labels = ids[:, 1] % num_labels
    return datasets.Dataset.from_dict(
        {
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "label": labels.tolist(),
            "text": [f"example {i}" for i in range(n)],
            "uid": [f"ex-{i:04d}" for i in range(n)],
        }
    )


def tiny_choice_dataset(n: int = 24, num_choices: int = 3, seed: int = 0):
    """Multiple choice: `input_ids` of shape (num_choices, SEQ_LEN) per example."""
    import datasets

    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, size=(n, num_choices, SEQ_LEN))
    labels = rng.integers(0, num_choices, size=n)
    return datasets.Dataset.from_dict(
        {
            "input_ids": ids.tolist(),
            "attention_mask": np.ones_like(ids).tolist(),
            "label": labels.tolist(),
        }
    )


def tiny_token_dataset(n: int = 18, num_labels: int = 5):
    """Token classification: one label per attended token (the token id modulo `num_labels`), -100 on padding and on
    the first token (like [CLS])."""
    dataset = tiny_dataset(n)
    ids, mask = np.asarray(dataset["input_ids"]), np.asarray(dataset["attention_mask"])
    labels = np.where(mask == 1, ids % num_labels, -100)
    labels[:, 0] = -100
    return dataset.remove_columns("label").add_column("labels", labels.tolist())


def tiny_token_model(num_labels: int = 5, seed: int = 0):
    from transformers import BertForTokenClassification

    torch.manual_seed(seed)
    return BertForTokenClassification(tiny_bert_config(num_labels=num_labels))


def training_args(output_dir: str, **overrides):
    from transformers import TrainingArguments

    options = dict(
        output_dir=output_dir, per_device_train_batch_size=4, num_train_epochs=3, learning_rate=5e-3,
        save_strategy="no", report_to=[], disable_tqdm=True, logging_strategy="no", use_cpu=True, seed=7,
        dataloader_num_workers=0,
    )
    options.update(overrides)
    return TrainingArguments(**options)


def train(output_dir: str, dataset, model=None, callback=None, resume_from_checkpoint=None, **overrides):
    """Train `model` (a fresh tiny BERT by default) with a stock Trainer and a `CartographyCallback`; returns the
    callback and the trainer."""
    from transformers import Trainer

    from hf_notlike.cartography import CartographyCallback

    callback = callback if callback is not None else CartographyCallback()
    trainer = Trainer(
        model=model if model is not None else tiny_model(), args=training_args(output_dir, **overrides),
        train_dataset=dataset, callbacks=[callback],
    )
    trainer.train(resume_from_checkpoint=resume_from_checkpoint)
    return callback, trainer


@torch.no_grad()
def direct_gold_probs(model, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Gold-label probability and correctness of every row, computed directly (eval mode, row order)."""
    model.eval()
    ids = torch.tensor(dataset["input_ids"])
    mask = torch.tensor(dataset["attention_mask"])
    labels = torch.tensor(dataset["label"])
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    probs = logits.softmax(-1).gather(1, labels[:, None]).squeeze(1)
    return probs.numpy(), (logits.argmax(-1) == labels).numpy()

# AdamW with a negligible epsilon and no gradient clipping: updates ignore the scale of the gradient, which the
# Trainer's loss scaling changes under gradient accumulation and across processes (so runs that differ only in how a
# global batch is split give the same models)
SCALE_FREE = dict(max_grad_norm=0.0, adam_epsilon=1e-16)


# Tolerances for float32 statistics of the tiny models compared with a direct computation of the same quantity (other
# batch shapes, other kernels: TRL's fused LM head, DDP reductions). float32 resolves ~1.2e-7 relative; a log-softmax
# over a vocabulary sits at the scale of log(vocab) ~ 10 (so ~1e-6 absolute per operation) and passes through a few
# dozen reductions whose order depends on the BLAS build and the batch shape. Small probabilities (a geometric mean
# of token probabilities is ~1e-5) are compared as log-probabilities, where their float32 error is absolute: a relative
# tolerance on the probability itself holds only on the machine whose kernels happened to agree. A real error (a wrong
# example id, token or shift) moves a log-probability by O(0.1) or more, far above these.
LOG_PROB_ATOL = 1e-4
PROB_ATOL = 1e-5  # probabilities in [0, 1] of moderate size (not near 0): ~80 float32 ulps at 1.0


def assert_log_probs_close(actual, expected, atol: float = LOG_PROB_ATOL) -> None:
    """`actual` and `expected` probabilities agree as log-probabilities within `atol` (absolute)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert (actual > 0).all() and (expected > 0).all(), "probabilities must be positive to compare their logs"
    np.testing.assert_allclose(np.log(actual), np.log(expected), rtol=0, atol=atol)


class StopAt(TrainerCallback):
    """Stops training after optimizer step `step` (an interrupted run, with the checkpoints saved until then)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


class CountSteps(TrainerCallback):
    """Counts the optimizer steps a run took (0 when it was refused before training)."""

    def __init__(self):
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1
