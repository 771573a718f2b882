"""A 2-process `torchrun` run on CPU (gloo): every example is counted exactly once per epoch (the padding that evens
out the last global batch is dropped) and the map matches the 1-process run with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cartography_helpers import SCALE_FREE, tiny_dataset, train

from hf_notlike.cartography import DataMap

pytestmark = pytest.mark.slow  # torchrun with several processes

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(HERE / "cartography_ddp_worker.py"), str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.mark.parametrize("n", [32, 30])
def test_two_processes_count_every_example_once_and_match_one_process(ddp_run, tmp_path, n):
    summary = json.loads((ddp_run / "summary.json").read_text())[str(n)]
    assert summary["world_size"] == 2
    padded = -(-n // 8) * 8  # the sampler shards whole batches of 4 over 2 processes and repeats examples to fill
    assert summary["epoch_log"] == [{"records": padded, "examples": n}] * 2
    ddp_map = DataMap.from_pretrained(ddp_run / f"map{n}")
    assert ddp_map.num_examples == n and ddp_map.num_epochs == 2
    assert np.isfinite(ddp_map.gold_probs).all()

    single, _ = train(str(tmp_path), tiny_dataset(n), per_device_train_batch_size=8, learning_rate=2e-2,
                      num_train_epochs=2, **SCALE_FREE)
    single_map = single.data_map()
    # epoch 1 sees the same models on the same examples; with padding (n=30) the repeated examples also train the
    # DDP model at the last step, so only n=32 must match in every epoch
    epochs = 2 if n % 8 == 0 else 1
    np.testing.assert_allclose(ddp_map.gold_probs[:, :epochs], single_map.gold_probs[:, :epochs], atol=1e-5)
    np.testing.assert_array_equal(ddp_map.correct[:, :epochs], single_map.correct[:, :epochs])
    np.testing.assert_allclose(ddp_map.margins[:, :epochs], single_map.margins[:, :epochs], atol=1e-4)
    assert ddp_map.labels.tolist() == single_map.labels.tolist()
    assert np.abs(single_map.gold_probs[:, 1] - single_map.gold_probs[:, 0]).max() > 1e-3  # it trained


def test_two_processes_token_table_matches_one_process(ddp_run, tmp_path):
    from cartography_helpers import tiny_token_dataset, tiny_token_model

    ddp_map = DataMap.from_pretrained(ddp_run / "tokens30")
    single, _ = train(str(tmp_path), tiny_token_dataset(30), model=tiny_token_model(), per_device_train_batch_size=8,
                      learning_rate=0.0, num_train_epochs=2)
    ddp_table, single_table = ddp_map.token_table(), single.data_map().token_table()
    assert len(ddp_table) == len(single_table)  # the padded duplicates' tokens are dropped
    assert ddp_table["id"].tolist() == single_table["id"].tolist()
    assert ddp_table["position"].tolist() == single_table["position"].tolist()
    np.testing.assert_allclose(np.stack(ddp_table["gold_prob"]), np.stack(single_table["gold_prob"]), atol=1e-5)
    np.testing.assert_allclose(ddp_map.confidence, single.data_map().confidence, atol=1e-5)


def test_two_processes_on_an_iterable_dataset_match_one_process(ddp_run, tmp_path):
    from hf_notlike.cartography import CartographyCallback

    summary = json.loads((ddp_run / "summary.json").read_text())["stream"]
    assert summary["epoch_log"] == [{"records": 30, "examples": 30}] * 2  # the last batch is split, not padded
    ddp_map = DataMap.from_pretrained(ddp_run / "stream30")
    dataset = tiny_dataset(30)
    single, _ = train(str(tmp_path), dataset, callback=CartographyCallback(id_column="uid"),
                      per_device_train_batch_size=8, learning_rate=2e-2, num_train_epochs=2,
                      train_sampling_strategy="sequential", **SCALE_FREE)
    single_map = single.data_map(dataset)
    assert ddp_map.ids.tolist() == single_map.ids.tolist() == dataset["uid"]  # string ids, in stream order
    # the first pass sees the same models on the same examples (the uneven last step then weighs examples otherwise)
    np.testing.assert_allclose(ddp_map.gold_probs[:, 0], single_map.gold_probs[:, 0], atol=1e-5)
    np.testing.assert_array_equal(ddp_map.correct[:, 0], single_map.correct[:, 0])
