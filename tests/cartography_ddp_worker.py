"""`torchrun` worker of tests/test_cartography_distributed.py: trains the tiny BERT with a CartographyCallback on
every process (gloo, CPU) and saves each data map, plus the per-epoch record counts, from rank 0."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from cartography_helpers import SCALE_FREE, tiny_dataset, tiny_token_dataset, tiny_token_model, train

from hf_notlike.cartography import CartographyCallback

torch.set_num_threads(1)


def main(out: str) -> None:
    out = Path(out)
    summary = {}
    for n in (32, 30):  # 32: 4 full global batches of 2 x 4; 30: the last batch is padded with repeated examples
        callback, trainer = train(str(out / f"run{n}"), tiny_dataset(n), per_device_train_batch_size=4,
                                  learning_rate=2e-2, num_train_epochs=2, **SCALE_FREE)
        data_map = callback.data_map()
        if trainer.is_world_process_zero():
            data_map.save_pretrained(out / f"map{n}", card=False, plot=False)
        summary[n] = {"world_size": dist.get_world_size(), "epoch_log": callback.epoch_log,
                      "rank": dist.get_rank()}
    # token classification, last batch padded: each token is counted once (the units of the kept occurrence)
    callback, trainer = train(str(out / "tokens"), tiny_token_dataset(30), model=tiny_token_model(),
                              per_device_train_batch_size=4, learning_rate=0.0, num_train_epochs=2)
    if trainer.is_world_process_zero():
        callback.data_map().save_pretrained(out / "tokens30", card=False, plot=False)
    # an iterable dataset keyed by string ids: accelerate dispatches (and slices) the batches, ids included
    callback, trainer = train(str(out / "stream"), tiny_dataset(30).to_iterable_dataset(),
                              callback=CartographyCallback(id_column="uid"), per_device_train_batch_size=4,
                              learning_rate=2e-2, max_steps=2 * 4, **SCALE_FREE)  # 2 passes of 4 global batches
    stream_map = callback.data_map()  # on every process, from the shards on disk
    if trainer.is_world_process_zero():
        stream_map.save_pretrained(out / "stream30", card=False, plot=False)
    summary["stream"] = {"epoch_log": callback.epoch_log, "rank": dist.get_rank()}
    if dist.get_rank() == 0:
        (out / "summary.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1])
