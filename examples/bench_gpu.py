# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Early exit against the stock classifier on an accelerator (or the CPU): inference at several batch sizes and
dtypes, a training step, and the host reads (device synchronisations) of each.

Loads a trained early-exit BERT-family model (`--model`) and builds the stock `BertForSequenceClassification` of
the same architecture (its weights do not change its speed), fits the exits' temperatures on the Rotten Tomatoes
validation split, then on `--device`:

- **inference**: for each dtype and batch size, the stock model, the early-exit model at threshold 1.0 and at
  `--threshold` run the first `--examples` test rows (rows in dataset order, padded per batch), interleaved, each
  chunk keeping its fastest of `--repeats` rounds (the device is synchronised around each chunk); with
  the early-exit model's accuracy and mean exit layer on those rows and the host reads per batch of each model;
- **training step** (forward, backward, AdamW step) at `--train-batch-size`, in `--train-dtype` autocast, the stock
  model against the early-exit model (its training path: every exit's loss), `--train-steps` steps each, taking
  turns for `--repeats` rounds (fastest kept), with the host reads per step.

A host read is any call that copies tensor values to Python (`item`, `tolist`, `bool()`, `int()`, `nonzero`,
`cpu`, boolean-mask indexing, ...), counted with a `TorchFunctionMode`; on an accelerator each is a synchronisation.
On the CPU the early-exit model's input checks read values (free there), so CPU counts are higher than an
accelerator's.

    python examples/bench_gpu.py --model <early-exit folder> --device cuda \\
        [--output outputs/results/early_exit_gpu/rt.json]   # a few minutes on one GPU

Prints markdown tables and writes everything as JSON.
"""

from __future__ import annotations

import argparse
import math
import os
import platform

import torch
from torch.overrides import TorchFunctionMode
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig, BertForSequenceClassification

import hf_notlike  # noqa: F401  (registers the early-exit Auto classes)
from hf_notlike import calibrate_temperatures
from hf_notlike.artifacts import write_json
from hf_notlike.early_exit.tradeoff import _device_batches, _time_interleaved, time_calls
from hf_notlike.resources import load_rotten_tomatoes

_T = torch.Tensor
_READS = {
    _T.item, _T.tolist, _T.__bool__, _T.__int__, _T.__float__, _T.__index__, _T.nonzero, torch.nonzero, _T.cpu,
    _T.numpy, _T.is_nonzero, torch.is_nonzero, torch.equal, torch.allclose, torch.masked_select, torch.unique,
}


class HostReads(TorchFunctionMode):
    """Counts the calls that copy tensor values back to the host."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        boolean_index = func in (_T.__getitem__, _T.__setitem__) and len(args) > 1 and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool
            for i in (args[1] if isinstance(args[1], tuple) else (args[1],)))
        if func in _READS or boolean_index:
            self.count += 1
        return func(*args, **(kwargs or {}))


def reads_per_call(call, inputs_list: list) -> float:
    """Host reads per call of `call(inputs)`, over `inputs_list`."""
    counter = HostReads()
    with counter:
        for inputs in inputs_list:
            call(inputs)
    return counter.count / len(inputs_list)


def stock_like(config) -> BertForSequenceClassification:
    """The stock classifier of the early-exit model's architecture (random weights: the speed does not depend on
    them)."""
    return BertForSequenceClassification(BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
        hidden_act=config.hidden_act, max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size, layer_norm_eps=config.layer_norm_eps, num_labels=config.num_labels,
        pad_token_id=config.pad_token_id,
    ))


def inference_table(model, stock, test, args, device) -> list[dict]:
    rows = []
    labels_all = torch.tensor(test["label"])
    for dtype_name in args.dtypes:
        dtype = getattr(torch, dtype_name)
        early, plain = model.to(device=device, dtype=dtype), stock.to(device=device, dtype=dtype)
        for size in args.batch_sizes:
            batches = _device_batches(test, size, early)
            contenders = [
                ("stock", lambda inputs, m=plain: m(**inputs)),
                ("early exit @ 1.0", lambda inputs, m=early: m(**inputs, exit_threshold=1.0)),
                (f"early exit @ {args.threshold:g}", lambda inputs, m=early: m(**inputs, exit_threshold=args.threshold)),
            ]
            with torch.inference_mode():
                outputs = [early(**inputs, exit_threshold=args.threshold) for inputs in batches]
                predictions = torch.cat([out.logits.argmax(-1).cpu() for out in outputs])
                layers = torch.cat([out.exit_layer.cpu() for out in outputs]).double()
                reads = [reads_per_call(call, batches[:4]) for _, call in contenders]
                seconds = _time_interleaved(contenders, batches, args.repeats, f"{dtype_name} bs {size}", False)
            row = {"dtype": dtype_name, "batch_size": size, "examples": len(test),
                   "accuracy_at_threshold": float((predictions == labels_all).double().mean()),
                   "mean_layers": float(layers.mean()), "layer_ratio": model.config.num_hidden_layers / float(layers.mean())}
            for (name, _), time_s, count in zip(contenders, seconds, reads):
                row[f"ms_per_example[{name}]"] = 1000 * time_s / len(test)
                row[f"host_reads_per_batch[{name}]"] = count
            row["speedup_vs_stock"] = seconds[0] / seconds[2]
            row["full_vs_stock"] = seconds[1] / seconds[0]
            rows.append(row)
            print(f"{dtype_name} bs {size}: {row['speedup_vs_stock']:.2f}x vs stock at {row['mean_layers']:.2f} "
                  f"layers; threshold 1.0 at {row['full_vs_stock']:.3f} of stock's time", flush=True)
    model.float()
    stock.float()
    return rows


def training_step_table(model, stock, train, args, device) -> dict:
    """The stock model's training step against the early-exit model's, interleaved, with host reads per step."""
    size = args.train_batch_size
    batches = _device_batches(train.select(range(size * args.train_steps)), size, model)
    labels = torch.tensor(train["label"][: size * args.train_steps])
    for i, inputs in enumerate(batches):
        inputs["labels"] = labels[i * size : (i + 1) * size].to(device)
    autocast_dtype = getattr(torch, args.train_dtype)
    model.config.freeze_backbone = False  # full fine-tuning steps on both sides
    contenders = []
    for name, net in (("stock", stock), ("early exit", model)):
        net.to(device).train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-5)

        def step(inputs, net=net, optimizer=optimizer):
            with torch.autocast(device_type=device.type, dtype=autocast_dtype,
                                enabled=autocast_dtype != torch.float32):
                loss = net(**inputs).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        contenders.append((name, step))
    reads = [reads_per_call(step, batches[:2]) for _, step in contenders]  # also the warm-up
    seconds = [math.inf] * len(contenders)
    for round_ in range(args.repeats):  # each round runs both over every batch, alternating who goes first
        order = range(len(contenders)) if round_ % 2 == 0 else reversed(range(len(contenders)))
        for i in order:
            seconds[i] = min(seconds[i], time_calls(contenders[i][1], batches))
    result = {"batch_size": size, "steps": len(batches), "autocast": args.train_dtype,
              "ms_per_step[stock]": 1000 * seconds[0] / len(batches),
              "ms_per_step[early exit]": 1000 * seconds[1] / len(batches),
              "early_exit_vs_stock": seconds[1] / seconds[0],
              "host_reads_per_step[stock]": reads[0], "host_reads_per_step[early exit]": reads[1]}
    print(f"training step bs {size} ({args.train_dtype}): early exit at {result['early_exit_vs_stock']:.3f} of "
          f"stock's time; host reads per step {reads[1]:g} vs {reads[0]:g}", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="folder of a trained early-exit BERT-family model")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threshold", type=float, default=0.75)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 256])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--examples", type=int, default=1024, help="test rows timed")
    parser.add_argument("--calibration-examples", type=int, default=1281, help="validation rows for temperatures")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-batch-size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--train-dtype", default="bfloat16")
    parser.add_argument("--output", default="outputs/results/early_exit_gpu/rt.json")
    args = parser.parse_args(argv)
    device = torch.device(args.device)

    model = AutoModelForSequenceClassification.from_pretrained(args.model).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    torch.manual_seed(0)
    stock = stock_like(model.config).to(device).eval()
    splits = load_rotten_tomatoes()

    def tokenized(split, n):
        rows = splits[split].select(range(min(n, len(splits[split]))))
        return rows.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=64), batched=True,
                        remove_columns=["text"])

    calibrate_temperatures(model, tokenized("validation", args.calibration_examples), show_progress=False)
    inference = inference_table(model, stock, tokenized("test", args.examples), args, device)
    training = training_step_table(model, stock, tokenized("train", args.train_batch_size * args.train_steps), args,
                                   device)
    result = {
        "model": args.model, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__,
        "temperatures": list(model.config.temperatures), "threshold": args.threshold, "repeats": args.repeats,
        "inference": inference, "training_step": training,
    }
    write_json(args.output, result)

    threshold_name = f"early exit @ {args.threshold:g}"
    print("\n| dtype | batch size | stock ms / example | early exit ms / example | speed-up | mean layers | "
          "threshold 1.0 / stock | host reads per batch: stock, @ 1.0, @ threshold |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for row in inference:
        print(f"| {row['dtype']} | {row['batch_size']} | {row['ms_per_example[stock]']:.3f} | "
              f"{row[f'ms_per_example[{threshold_name}]']:.3f} | {row['speedup_vs_stock']:.2f}x | "
              f"{row['mean_layers']:.2f} | {row['full_vs_stock']:.3f} | "
              f"{row['host_reads_per_batch[stock]']:g}, {row['host_reads_per_batch[early exit @ 1.0]']:g}, "
              f"{row[f'host_reads_per_batch[{threshold_name}]']:g} |")
    print(f"\nTraining step, batch {training['batch_size']}, {training['autocast']} autocast: stock "
          f"{training['ms_per_step[stock]']:.1f} ms, early exit {training['ms_per_step[early exit]']:.1f} ms "
          f"({training['early_exit_vs_stock']:.3f}x); host reads per step {training['host_reads_per_step[stock]']:g} "
          f"vs {training['host_reads_per_step[early exit]']:g}.")


if __name__ == "__main__":
    main()
