"""Worker of tests/test_accelerate_launch.py, started by `accelerate launch` with 2 CPU processes (gloo):

    python tests/accelerate_worker.py MODE OUT   (MODE: cartography | sft | early_exit)

Each `run_*` function is also what the test calls in its own (single) process for the reference run, with twice the
per-device batch, so both runs share every setting except how the global batch is split. The worker fails unless
`torch.distributed` is initialised with world size 2 and the gloo backend, so a launch that silently ran one process
(e.g. `accelerate launch --cpu`, which starts one process without MPI) cannot pass."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from cartography_helpers import SCALE_FREE, tiny_dataset, train, training_args

torch.set_num_threads(1)

WORLD_SIZE = 2
CARTOGRAPHY_SIZES = (32, 30)  # 32: 4 full global batches of 2 x 4; 30: the last one is padded with repeated rows
EARLY_EXIT_ROWS = 32  # 4 full global batches of 2 x 4 (no padding: the padded rows would also train the model)
SFT_LR = 0.1  # plain SGD, small enough to move smoothly: a wrongly normalised loss shows, float noise stays small


def distributed_state() -> dict:
    """World size and backend of the default process group (1 and None when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return {"world_size": 1, "backend": None, "rank": 0}
    return {"world_size": dist.get_world_size(), "backend": dist.get_backend(), "rank": dist.get_rank()}


def require_two_gloo_processes() -> dict:
    state = distributed_state()
    if state["world_size"] != WORLD_SIZE or state["backend"] != "gloo":
        raise SystemExit(f"expected torch.distributed initialised with {WORLD_SIZE} processes and the gloo backend, "
                         f"got {state}: launch with `accelerate launch --multi_gpu --num_processes 2` and "
                         "CUDA_VISIBLE_DEVICES=''")
    return state


def weight_sums(model) -> dict[str, float]:
    """Per parameter, the float64 sum of its values: every process must end with the same weights."""
    return {name: float(tensor.double().sum()) for name, tensor in model.state_dict().items()}


# ------------------------------------------------------------------------------------------------- cartography


def run_cartography(out: Path, n: int, per_device_batch: int):
    """Stock `Trainer`, tiny BERT, `CartographyCallback`; returns the callback and the trainer."""
    return train(str(out / f"cartography{n}"), tiny_dataset(n), per_device_train_batch_size=per_device_batch,
                 learning_rate=2e-2, num_train_epochs=2, **SCALE_FREE)


# --------------------------------------------------------------------------------------------------------- SFT

SFT_TEXTS = ["the movie was great", "a dull and boring film", "what a fun ride", "i hated every minute",
             "an instant classic", "two hours i will never get back", "warm and funny", "a mess from start to end",
             "the cast shines", "flat and lifeless", "i would watch it again", "not worth the ticket"]


def sft_tokenizer():
    from transformers import AutoTokenizer

    from hf_notlike.resources import minilm_path

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    tokenizer.eos_token = tokenizer.sep_token
    return tokenizer


def tiny_llama(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def run_sft(out: Path, per_device_batch: int):
    """TRL's `SFTTrainer` on 12 prompt-completion rows (a tiny 2-layer Llama, the MiniLM WordPiece tokenizer), with a
    `CartographyCallback`; returns the callback and the trainer."""
    import datasets
    import trl

    from hf_notlike.cartography import CartographyCallback

    tokenizer = sft_tokenizer()
    dataset = datasets.Dataset.from_dict({
        "prompt": [f"review: {t}. sentiment:" for t in SFT_TEXTS],
        "completion": [" positive" if i % 2 == 0 else " negative" for i in range(len(SFT_TEXTS))],
    })
    callback = CartographyCallback()
    # SFTConfig defaults to bf16 autocast, on the CPU too: in float32 the runs compare to float32 precision
    args = trl.SFTConfig(output_dir=str(out / "sft"), per_device_train_batch_size=per_device_batch,
                         num_train_epochs=2, learning_rate=SFT_LR, optim="sgd", max_grad_norm=0.0, bf16=False,
                         report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
                         max_length=32, seed=7)
    trainer = trl.SFTTrainer(model=tiny_llama(len(tokenizer)), args=args, train_dataset=dataset,
                             processing_class=tokenizer, callbacks=[callback])
    trainer.train()
    return callback, trainer


# -------------------------------------------------------------------------------------------------- early exit


def early_exit_rows(n: int = EARLY_EXIT_ROWS):
    """Rows whose labels are independent of the tokens (seeded): two epochs move the weights, but no exit can learn
    them, so the check after training has something to report."""
    from early_exit_helpers import toy_dataset

    dataset = toy_dataset(n, seed=3).remove_columns("labels")
    labels = torch.randperm(n, generator=torch.Generator().manual_seed(5)) % 2
    return dataset.add_column("label", labels.tolist())


def early_exit_model():
    from early_exit_helpers import early_exit_model as build

    return build("bert", num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                 classifier_dropout=0.0).train()


def run_early_exit(out: Path, per_device_batch: int):
    """`EarlyExitTrainer` on a tiny early-exit BERT with plain SGD and no clipping (updates proportional to the
    gradient, so a loss that were summed instead of averaged over the batch would show); the model is saved with
    `trainer.save_model`, then, on the main process only, the exits are checked and calibrated and the calibrated
    model saved. Returns the trainer and a summary."""
    from hf_notlike import EarlyExitTrainer, calibrate_temperatures

    dataset = early_exit_rows()
    args = training_args(str(out / "early_exit_run"), per_device_train_batch_size=per_device_batch,
                         num_train_epochs=2, learning_rate=2e-3, optim="sgd", max_grad_norm=0.0,
                         per_device_eval_batch_size=per_device_batch)
    trainer = EarlyExitTrainer(model=early_exit_model(), args=args, train_dataset=dataset)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()  # the check after training runs on the main process only
    summary = {"train_warnings": [str(w.message) for w in caught if w.category.__name__ == "CalibrationWarning"]}
    trainer.save_model(str(out / "early_exit_model"))  # every process calls it; the main process writes
    if trainer.is_world_process_zero():
        summary["exits_not_learned"] = trainer.exits_not_learned()
        result = calibrate_temperatures(trainer.model, dataset, batch_size=8, show_progress=False)
        summary["temperatures"] = [float(t) for t in result.temperatures]
        trainer.model.save_pretrained(out / "early_exit_calibrated")
    return trainer, summary


def main(mode: str, out: str) -> None:
    out = Path(out)
    training_args(str(out / "probe"))  # builds the accelerate state: initialises torch.distributed
    state = require_two_gloo_processes()
    summary: dict = {"state": state}
    if mode == "cartography":
        for n in CARTOGRAPHY_SIZES:  # the weights compared across processes are those of the last run
            callback, trainer = run_cartography(out, n, per_device_batch=4)
            if trainer.is_world_process_zero():
                callback.data_map().save_pretrained(out / f"map{n}", card=False, plot=False)
            summary[n] = {"epoch_log": callback.epoch_log, "gradient_steps": trainer.state.global_step}
    elif mode == "sft":
        callback, trainer = run_sft(out, per_device_batch=2)
        if trainer.is_world_process_zero():
            callback.data_map().save_pretrained(out / "sft_map", card=False, plot=False)
        trainer.save_model(str(out / "sft_model"))
        summary["epoch_log"] = callback.epoch_log
    elif mode == "early_exit":
        trainer, early = run_early_exit(out, per_device_batch=4)
        summary.update(early)
    else:
        raise SystemExit(f"unknown mode {mode!r}: use cartography, sft or early_exit")
    summary["weight_sums"] = weight_sums(trainer.model)
    summary["state_after"] = require_two_gloo_processes()
    # every process meets here: a collective call left on the main process alone (above) would hang instead
    dist.barrier()
    (out / f"summary_{mode}_rank{state['rank']}.json").write_text(json.dumps(summary, default=_jsonable))


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


if __name__ == "__main__":
    main(*sys.argv[1:])
