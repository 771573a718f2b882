"""Training under the launcher users use, `accelerate launch` with 2 CPU processes (gloo, CUDA hidden), against one
process with the same global batch (2 x the per-device batch), for the stock `Trainer` and TRL's `SFTTrainer` with a
`CartographyCallback`, and for `EarlyExitTrainer` (weights, the saved checkpoint, the check and calibration that run
on the main process after training). Each launch runs `tests/accelerate_worker.py` in one mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cartography_helpers import PROB_ATOL, assert_log_probs_close

from hf_notlike.cartography import DataMap

pytestmark = pytest.mark.slow  # each launch starts two Python processes

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch_command(script: Path, *script_args: str) -> list[str]:
    """`accelerate launch` with 2 CPU processes and no config file. `--multi_gpu` (with CUDA hidden) is what starts
    two processes through torch's elastic launcher; the Trainer's `use_cpu=True` then picks gloo. `--cpu` alone would
    start a single process (its several-process mode needs MPI)."""
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
            "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
            "--main_process_port", str(free_port()), str(script), *script_args]


def launch(mode: str, out: Path) -> dict[int, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
           "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}
    # no accelerate config file of the machine's user is read: every setting is on the command line
    env["HF_HOME"] = str(out / "hf_home")
    result = subprocess.run(accelerate_launch_command(HERE / "accelerate_worker.py", mode, str(out)), env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summaries = {rank: json.loads((out / f"summary_{mode}_rank{rank}.json").read_text()) for rank in (0, 1)}
    for rank, summary in summaries.items():
        assert summary["state"] == summary["state_after"] == {"world_size": 2, "backend": "gloo", "rank": rank}
    assert summaries[0]["weight_sums"] == summaries[1]["weight_sums"]  # DDP kept the processes' weights identical
    return summaries


@pytest.fixture(scope="module")
def cartography_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cartography")
    return out, launch("cartography", out)


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    pytest.importorskip("trl", reason="TRL (PyPI `trl`) is not installed")
    out = tmp_path_factory.mktemp("sft")
    return out, launch("sft", out)


@pytest.fixture(scope="module")
def early_exit_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("early_exit")
    return out, launch("early_exit", out)


# --------------------------------------------------------------------------------------- cartography, stock Trainer


@pytest.mark.parametrize("n", [32, 30])
def test_cartography_with_the_stock_trainer_matches_one_process(cartography_run, tmp_path, n):
    from accelerate_worker import run_cartography

    out, summaries = cartography_run
    padded = -(-n // 8) * 8  # the sampler shards whole global batches of 2 x 4 and repeats rows to fill the last
    for summary in summaries.values():  # every process gathers the same records and keeps each example once
        assert summary[str(n)]["epoch_log"] == [{"records": padded, "examples": n}] * 2
        assert summary[str(n)]["gradient_steps"] == 2 * padded // 8
    launched_map = DataMap.from_pretrained(out / f"map{n}")
    assert launched_map.num_examples == n and launched_map.num_epochs == 2

    single, trainer = run_cartography(tmp_path, n, per_device_batch=8)
    assert trainer.args.world_size == 1
    single_map = single.data_map()
    assert single.epoch_log == [{"records": n, "examples": n}] * 2
    # epoch 1 sees the same models on the same rows; with padding (n=30) the repeated rows also train the launched
    # model at the last step of each epoch, so only n=32 must match in epoch 2
    epochs = 2 if n % 8 == 0 else 1
    np.testing.assert_allclose(launched_map.gold_probs[:, :epochs], single_map.gold_probs[:, :epochs], atol=PROB_ATOL)
    np.testing.assert_array_equal(launched_map.correct[:, :epochs], single_map.correct[:, :epochs])
    assert launched_map.labels.tolist() == single_map.labels.tolist()
    assert np.abs(single_map.gold_probs[:, 1] - single_map.gold_probs[:, 0]).max() > 1e-3  # it trained


# ------------------------------------------------------------------------------------------ cartography, TRL SFT


@pytest.fixture(scope="module")
def sft_single(tmp_path_factory):
    from accelerate_worker import run_sft

    callback, trainer = run_sft(tmp_path_factory.mktemp("sft_single"), per_device_batch=4)
    assert trainer.args.world_size == 1
    return callback.data_map(), trainer.model


def test_cartography_with_trl_sft_trainer_matches_one_process(sft_run, sft_single):
    from accelerate_worker import SFT_TEXTS
    from safetensors.torch import load_file

    out, summaries = sft_run
    n = len(SFT_TEXTS)  # 12 rows: 3 full global batches of 2 x 2
    for summary in summaries.values():
        assert summary["epoch_log"] == [{"records": n, "examples": n}] * 2
    launched_map = DataMap.from_pretrained(out / "sft_map")
    assert launched_map.num_examples == n and launched_map.num_epochs == 2
    single_map, single_model = sft_single
    # geometric means of completion-token probabilities (~1e-4 on a 30k vocabulary): compared as log-probabilities
    assert_log_probs_close(launched_map.gold_probs, single_map.gold_probs)
    np.testing.assert_allclose(launched_map.correct, single_map.correct, atol=1e-6)
    # a random model scores every completion near log(1 / vocabulary) = -10.3: the rows scored after the first
    # updates sit well above it, so the synchronised updates are part of what matched
    log_probs = np.log(single_map.gold_probs)
    assert log_probs[:, 0].min() < -10 and log_probs[:, 1].max() > -9
    launched = load_file(out / "sft_model" / "model.safetensors")  # written by trainer.save_model on the main process
    for name, tensor in single_model.state_dict().items():
        torch.testing.assert_close(launched[name], tensor, atol=1e-6, rtol=1e-5, msg=name)


# ---------------------------------------------------------------------------------------------------- early exit


def _exit_names(messages: list[str]) -> list[str]:
    return [message.split(" has not learned")[0] for message in messages]


def test_early_exit_trainer_matches_one_process_and_checks_on_the_main_process(early_exit_run, tmp_path):
    from accelerate_worker import early_exit_model, run_early_exit
    from transformers import AutoModelForSequenceClassification

    from hf_notlike import EarlyExitBertForSequenceClassification

    out, summaries = early_exit_run
    single_trainer, single = run_early_exit(tmp_path, per_device_batch=8)
    assert single_trainer.args.world_size == 1

    # the checkpoint `trainer.save_model` wrote loads through the Auto class and holds the one-process weights: the
    # loss is a mean over the batch, so DDP's average of two half-batch gradients is the full batch's gradient (plain
    # SGD, no clipping: a summed loss would double every update)
    launched = AutoModelForSequenceClassification.from_pretrained(out / "early_exit_model")
    assert isinstance(launched, EarlyExitBertForSequenceClassification)
    expected = single_trainer.model.state_dict()
    initial = early_exit_model().state_dict()
    assert launched.state_dict().keys() == expected.keys()
    moved = 0.0
    for name, tensor in launched.state_dict().items():
        torch.testing.assert_close(tensor, expected[name], atol=1e-6, rtol=1e-5, msg=name)
        moved = max(moved, float((expected[name].float() - initial[name].float()).abs().max()))
    assert moved > 1e-3  # it trained

    # the exit check after training ran on the main process alone (the labels are noise: some exits cannot learn)
    rank0, rank1 = summaries[0], summaries[1]
    assert single["train_warnings"], "the reference run should flag exits that did not learn"
    assert _exit_names(rank0["train_warnings"]) == _exit_names(single["train_warnings"])
    assert rank1["train_warnings"] == [] and "exits_not_learned" not in rank1
    assert _exit_names(rank0["exits_not_learned"]) == _exit_names(single["exits_not_learned"])

    # calibration on the main process: same temperatures, saved with the model
    np.testing.assert_allclose(rank0["temperatures"], single["temperatures"], rtol=1e-3)
    calibrated = AutoModelForSequenceClassification.from_pretrained(out / "early_exit_calibrated")
    np.testing.assert_allclose(calibrated.config.temperatures, rank0["temperatures"], rtol=1e-6)


# --------------------------------------------------------------------------------------------------- the docs


@pytest.mark.parametrize("guide", ["cartography.md", "early_exit.md"])
def test_the_documented_command_is_the_tested_one(guide):
    text = (HERE.parent / "docs" / "guides" / guide).read_text()
    block = text.split("### Several processes", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    words = block.replace("\\\n", " ").split()
    assert words[:3] == ['CUDA_VISIBLE_DEVICES=""', "accelerate", "launch"] and words[-1] == "train.py"
    tested = accelerate_launch_command(Path("train.py"))
    assert tested[1:3] == ["-m", "accelerate.commands.launch"] and tested[-1] == "train.py"

    def options(flags: list[str]) -> list[str]:  # the port is free-chosen in the tests
        return [flag for i, flag in enumerate(flags) if i == 0 or flags[i - 1] != "--main_process_port"]

    assert options(words[3:-1]) == options(tested[3:-1])
