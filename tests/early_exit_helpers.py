"""Helpers shared by the early-exit calibration and trade-off tests."""

import datasets
import torch

TINY = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37)


def tiny_model(arch="bert", num_labels=3, vocab_size=64, seed=0, exit_scale=None, **config):
    """A tiny random early-exit BERT or RoBERTa (4 layers, hidden 32) in eval mode; `config` overrides the
    configuration, `exit_scale` multiplies the exits' weights (spreads their confidences)."""
    from hf_notlike import (
        EarlyExitBertConfig,
        EarlyExitBertForSequenceClassification,
        EarlyExitRobertaConfig,
        EarlyExitRobertaForSequenceClassification,
    )

    torch.manual_seed(seed)
    if arch == "bert":
        config_class, model_class, extra = EarlyExitBertConfig, EarlyExitBertForSequenceClassification, {}
    else:
        config_class, model_class = EarlyExitRobertaConfig, EarlyExitRobertaForSequenceClassification
        extra = dict(pad_token_id=1, max_position_embeddings=40)
    model = model_class(config_class(vocab_size=vocab_size, num_labels=num_labels, **TINY, **extra, **config)).eval()
    if exit_scale is not None:
        with torch.no_grad():
            for exit_ in model.exits:
                exit_.classifier.weight.mul_(exit_scale)
    return model


def token_dataset(n, num_labels=3, seed=0, with_labels=True, bos=2, eos=3, max_length=12):
    """`n` random tokenized rows (`input_ids` framed by `bos` / `eos`, 3 to `max_length - 1` inner tokens) and,
    unless `with_labels=False`, a random `label` column."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        length = int(torch.randint(3, max_length, (1,), generator=g))
        row = {"input_ids": [bos] + torch.randint(5, 64, (length,), generator=g).tolist() + [eos]}
        if with_labels:
            row["label"] = int(torch.randint(0, num_labels, (1,), generator=g))
        rows.append(row)
    return datasets.Dataset.from_list(rows)
