"""Builders of tiny random early-exit models and their inputs. Imported only by `conftest.py`, which hands each of
them to the tests as a fixture (`early_exit_model`, `early_exit_config`, `backbone_config`, `stock_classifier`,
`padded_batch`, `all_exit_confidences`, `toy_dataset`, `token_dataset`, `config_errors`); tests parametrize over
the supported backbones with the library's own `hf_notlike.early_exit.EARLY_EXIT_MODELS`."""

from __future__ import annotations

import datasets
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModelForSequenceClassification

from hf_notlike.early_exit import EARLY_EXIT_MODELS

# 4 layers, hidden 32: small enough for a forward pass in milliseconds, deep enough for several exits
TINY = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37)
# what differs per architecture in a tiny random config (keys: the backbone `model_type`s of EARLY_EXIT_MODELS)
ARCH_EXTRA = {
    "bert": {},
    "roberta": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
    "xlm-roberta": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
    "electra": {"embedding_size": 16},  # exercises the embedding projection
    "distilbert": {"hidden_dim": 37},
    # DeBERTa-v3's shape: relative attention with buckets, no absolute positions, no token types
    "deberta-v2": {"pooler_hidden_size": 32, "relative_attention": True, "position_buckets": 8,
                   "max_relative_positions": 64, "position_biased_input": False, "type_vocab_size": 0,
                   "pos_att_type": ["p2c", "c2p"], "norm_rel_ebd": "layer_norm"},
    # alternating global / sliding-window (4 tokens) layers; special tokens inside the tiny vocabulary
    "modernbert": {"global_attn_every_n_layers": 2, "local_attention": 4, "pad_token_id": 0, "bos_token_id": 2,
                   "eos_token_id": 3, "cls_token_id": 2, "sep_token_id": 3},
    # relative position bias (computed once per forward, shared by the layers), positions after padding index 1
    "mpnet": {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
}
# errors a configuration changed into an invalid one raises (transformers' `@strict` validation, or ours)
CONFIG_ERRORS = (ValueError, StrictDataclassClassValidationError)


def _shape(arch: str, vocab_size: int, overrides: dict) -> dict:
    # a wide initialisation makes a random model's confidences depend on its input, so thresholds move rows around
    kwargs = dict(TINY, vocab_size=vocab_size, num_labels=3, initializer_range=0.5, max_position_embeddings=64)
    kwargs.update(ARCH_EXTRA[arch])
    kwargs.update(overrides)
    return kwargs


def early_exit_config(arch: str = "bert", vocab_size: int = 100, **overrides):
    """The early-exit configuration of a tiny random `arch` (4 layers, hidden 32, 3 labels, an exit after every
    layer); `overrides` change any field."""
    return EARLY_EXIT_MODELS[arch].config_class(**_shape(arch, vocab_size, overrides))


def backbone_config(arch: str = "bert", vocab_size: int = 100, **overrides):
    """The stock (transformers) configuration of the same tiny `arch`."""
    return AutoConfig.for_model(arch, **_shape(arch, vocab_size, overrides))


def early_exit_model(arch: str = "bert", seed: int = 0, vocab_size: int = 100, exit_scale: float | None = None,
                     **overrides):
    """A tiny random early-exit model of `arch` in eval mode (`overrides` change its configuration); `exit_scale`
    multiplies the exits' weights (spreads their confidences)."""
    config = early_exit_config(arch, vocab_size=vocab_size, **overrides)
    torch.manual_seed(seed)
    model = EARLY_EXIT_MODELS[arch](config).eval()
    if exit_scale is not None:
        with torch.no_grad():
            for exit_ in model.exits:
                exit_.classifier.weight.mul_(exit_scale)
    return model


def stock_classifier(arch: str, folder, num_labels: int = 3, seed: int = 0):
    """A tiny random fine-tuned `*ForSequenceClassification` of `arch`, saved in `folder`."""
    config = backbone_config(arch, num_labels=num_labels)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    model.save_pretrained(folder)
    return model


def padded_batch(model, batch_size: int = 8, seq_len: int = 12, seed: int = 1):
    """Random ids, right-padded to different lengths (row 0 full length), and their attention mask."""
    generator = torch.Generator().manual_seed(seed)
    pad = model.config.pad_token_id
    ids = torch.randint(5, model.config.vocab_size, (batch_size, seq_len), generator=generator)
    lengths = torch.randint(2, seq_len + 1, (batch_size,), generator=generator)
    lengths[0] = seq_len
    mask = (torch.arange(seq_len)[None, :] < lengths[:, None]).long()
    ids[mask == 0] = pad
    return ids, mask


def all_exit_confidences(model, ids, mask):
    """`(exit_logits, confidences)` of the all-exits pass: `[batch, exits, labels]` and the calibrated
    `max softmax(logits / T)` per row and exit."""
    with torch.no_grad():
        exit_logits = model(ids, attention_mask=mask, output_all_exits=True).exit_logits
    temps = torch.tensor(model.config.temperatures)
    return exit_logits, torch.softmax(exit_logits / temps[None, :, None], -1).amax(-1)


def toy_dataset(n: int = 64, vocab_size: int = 100, seq_len: int = 8, seed: int = 0) -> datasets.Dataset:
    """A learnable task for the Trainer (label = whether token 7 appears: learnable by the first layers), with
    `input_ids`, `attention_mask` and `labels`."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, vocab_size, (n, seq_len), generator=generator)
    labels = torch.arange(n) % 2
    ids[labels == 1, 3] = 7
    return datasets.Dataset.from_dict({"input_ids": ids.tolist(), "attention_mask": [[1] * seq_len] * n,
                                       "labels": labels.tolist()})


def token_dataset(n, num_labels=3, seed=0, with_labels=True, bos=2, eos=3, max_length=12) -> datasets.Dataset:
    """`n` random tokenized rows of different lengths (`input_ids` framed by `bos` / `eos`, 3 to `max_length - 1`
    inner tokens in [5, 64)) and, unless `with_labels=False`, a random `label` column."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(3, max_length, (1,), generator=g))
        row = {"input_ids": [bos] + torch.randint(5, 64, (length,), generator=g).tolist() + [eos]}
        if with_labels:
            row["label"] = int(torch.randint(0, num_labels, (1,), generator=g))
        rows.append(row)
    return datasets.Dataset.from_list(rows)


def save_tiny_model(folder, tokenizer, label_names: tuple[str, ...] | None = ("rotten", "fresh")):
    """Saves a tiny 2-layer early-exit BERT (seeded) with `tokenizer` into `folder`, the model the command-line tests
    run on: two labels, named `label_names` (`None`: transformers' LABEL_0 / LABEL_1)."""
    from hf_notlike import EarlyExitBertConfig, EarlyExitBertForSequenceClassification

    torch.manual_seed(0)
    labels = {} if label_names is None else dict(
        id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)})
    config = EarlyExitBertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, num_labels=2, **labels,
    )
    EarlyExitBertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
