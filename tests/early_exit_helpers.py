"""Helpers shared by the early-exit calibration and trade-off tests."""

import datasets
import torch


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
