"""Which exit head reads the lower layers of a fine-tuned MPNet-12 best? Exit heads of four designs trained on the
frozen token states of the plain classifier (a), then scored as the early-exit protocol scores a model: one
temperature per exit fitted on validation, the global threshold and the per-exit thresholds chosen on validation
within `--max-drop` points of (a), reported on test. The last exit is (a)'s own head, so the full model is (a) and
every point lost comes from the early exits.

Designs (each exit k reads layers 1..k; `linear` is the library's `exit_input="weighted_mean"` exit):

- `linear`: softmax-weighted mix of the mean-pooled states of layers 1..k, dropout, a linear layer;
- `mlp`: the same mixed vector through dense 768x768 + tanh (as BERT's pooler), dropout, a linear layer;
- `attention`: the token states of layers 1..k mixed, pooled by a learned query (softmax over the tokens), linear;
- `mean_max`: the mixed token states mean- and max-pooled side by side, dropout, a linear layer.

Each exit's loss is that of the anchored recipe on frozen states: on labelled rows half cross-entropy with the gold
label, half T^2-scaled KL from (a)'s logits at temperature T; on the unlabelled rows (spans of the training
sentences, out-of-domain texts) the KL alone.

    python examples/train_early_exit.py --model mpnet --variants a --datasets rt --train-size 2000 --seeds 1 \
        --epochs 2 --learning-rate 3e-5 --head-learning-rate 5e-4 --threads 2 \
        --output-dir outputs/early_exit_mpnet_heads --results-dir outputs/results/early_exit_mpnet_heads
    python outputs/results/early_exit_heads/exit_heads.py outputs/early_exit_mpnet_heads --seed 1

The token states are cached under OUTPUT_DIR/heads_cache (fp16 safetensors, several GB) so that a second run only
trains heads.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils.rnn import pad_sequence
from transformers import AutoModelForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
from train_early_exit import (  # noqa: E402
    THRESHOLDS,
    budget_reference,
    budget_thresholds,
    exit_accuracies,
    fastest_within,
    prepare_splits,
)

from hf_notlike.early_exit.calibration import calibrate_from_logits, iterate_batches  # noqa: E402
from hf_notlike.early_exit.tradeoff import curve_from_logits  # noqa: E402

DESIGNS = ("linear", "mlp", "attention", "mean_max")
SPLIT_SEED = 42  # train_early_exit.py's --seed default: the same 2,000 sentences and spans as its (a)


@torch.no_grad()
def extract(model, dataset, pad_token_id: int, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Token states of layers 1..L-1 (fp16, rows concatenated: `tokens` (total_tokens, L-1, H), `offsets`), (a)'s
    logits and the labels of `dataset`, in its row order."""
    per_row: list[torch.Tensor | None] = [None] * len(dataset)
    logits = torch.zeros(len(dataset), model.config.num_labels)
    done, start = 0, time.time()
    for rows, inputs in iterate_batches(dataset, batch_size, pad_token_id):
        output = model(**inputs, output_hidden_states=True)
        states = torch.stack(output.hidden_states[1:-1], dim=2)  # (B, T, L-1, H)
        lengths = inputs["attention_mask"].sum(1).tolist()
        for b, row in enumerate(rows):
            per_row[row] = states[b, : lengths[b]].to(torch.float16).clone()
        logits[torch.as_tensor(rows)] = output.logits.float()
        done += len(rows)
        print(f"\r  {done}/{len(dataset)} rows, {time.time() - start:.0f} s", end="", flush=True)
    print()
    lengths = torch.tensor([len(t) for t in per_row])
    return {"tokens": torch.cat(per_row), "offsets": torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]),
            "logits": logits, "labels": torch.tensor(dataset["label"], dtype=torch.long)}


def cached(path: Path, build) -> dict[str, torch.Tensor]:
    if path.is_file():
        return load_file(str(path))
    data = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(data, str(path.with_suffix(".tmp")))
    path.with_suffix(".tmp").rename(path)
    return data


def gather(data: dict[str, torch.Tensor], rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded float32 token states `(B, T, L-1, H)` of `rows` and their mask `(B, T)`."""
    offsets = data["offsets"]
    pieces = [data["tokens"][offsets[r] : offsets[r + 1]] for r in rows.tolist()]
    states = pad_sequence(pieces, batch_first=True).float()
    mask = pad_sequence([torch.ones(len(p)) for p in pieces], batch_first=True)
    return states, mask


class Heads(nn.Module):
    """One exit head of `design` after each of `num_exits` layers; exit k reads layers 1..k."""

    def __init__(self, design: str, num_exits: int, hidden: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.design = design
        self.mix = nn.Parameter(torch.zeros(num_exits, num_exits))
        self.register_buffer("allowed", torch.tril(torch.ones(num_exits, num_exits, dtype=torch.bool)))
        self.query = nn.Parameter(torch.zeros(num_exits, hidden)) if design == "attention" else None
        self.dense = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(num_exits)) if design == "mlp" else None
        width = 2 * hidden if design == "mean_max" else hidden
        self.out = nn.ModuleList(nn.Linear(width, num_labels) for _ in range(num_exits))
        self.dropout = nn.Dropout(dropout)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = self.mix.masked_fill(~self.allowed, float("-inf")).softmax(-1)  # (exit, layer)
        mixed = torch.einsum("btlh,kl->btkh", states, weights)  # (B, T, exit, H)
        m = mask[:, :, None, None]
        mean = (mixed * m).sum(1) / m.sum(1)  # (B, exit, H)
        if self.design == "attention":
            scores = torch.einsum("btkh,kh->btk", mixed, self.query) / math.sqrt(mixed.shape[-1])
            scores = scores.masked_fill(mask[:, :, None] == 0, float("-inf")).softmax(1)
            pooled = torch.einsum("btk,btkh->bkh", scores, mixed)
        elif self.design == "mean_max":
            pooled = torch.cat([mean, mixed.masked_fill(m == 0, float("-inf")).amax(1)], -1)
        else:
            pooled = mean
        logits = []
        for k, out in enumerate(self.out):
            x = pooled[:, k]
            if self.dense is not None:
                x = torch.tanh(self.dense[k](x))
            logits.append(out(self.dropout(x)))
        return torch.stack(logits, 1)  # (B, exit, C)


def train_heads(design: str, train: dict, args, num_labels: int) -> Heads:
    torch.manual_seed(args.seed)
    num_exits, hidden = train["tokens"].shape[1:]
    heads = Heads(design, num_exits, hidden, num_labels)
    optimizer = torch.optim.AdamW(heads.parameters(), lr=args.lr, weight_decay=0.01)
    steps = args.epochs * math.ceil(len(train["labels"]) / args.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    generator = torch.Generator().manual_seed(args.seed)
    t, start = args.temperature, time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train["labels"]), generator=generator)
        total = 0.0
        for begin in range(0, len(order), args.batch_size):
            rows = order[begin : begin + args.batch_size]
            states, mask = gather(train, rows)
            logits = heads(states, mask)  # (B, exit, C)
            teacher = (train["logits"][rows] / t).softmax(-1)[:, None].expand_as(logits)
            kl = (teacher * (teacher.clamp_min(1e-12).log() - (logits / t).log_softmax(-1))).sum(-1) * t * t
            labels = train["labels"][rows]
            labelled = labels != -100
            ce = nn.functional.cross_entropy(logits.transpose(1, 2), labels.clamp_min(0)[:, None].expand(-1, num_exits),
                                             reduction="none")
            w = args.anchor_weight
            loss = torch.where(labelled[:, None], (1 - w) * ce + w * kl, kl).sum(1).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(rows)
        print(f"  {design} epoch {epoch + 1}: loss {total / len(order):.3f} ({time.time() - start:.0f} s)", flush=True)
    return heads.eval()


@torch.no_grad()
def exit_logits(heads: Heads, data: dict, batch_size: int = 128) -> torch.Tensor:
    """(rows, exits + 1, C): the heads' logits, then (a)'s own as the last exit."""
    n = len(data["labels"])
    out = []
    for begin in range(0, n, batch_size):
        out.append(heads(*gather(data, torch.arange(begin, min(n, begin + batch_size)))))
    return torch.cat([torch.cat(out), data["logits"][:, None]], 1)


def score(val_logits, val_labels, test_logits, test_labels, num_layers: int, max_drop: float) -> dict:
    layers = list(range(1, num_layers + 1))
    temperatures = calibrate_from_logits(val_logits, val_labels, layers).temperatures
    val_curve = curve_from_logits(val_logits, val_labels, layers, temperatures, THRESHOLDS)
    test_curve = curve_from_logits(test_logits, test_labels, layers, temperatures, THRESHOLDS)
    exit_val, exit_test = exit_accuracies(val_logits, val_labels), exit_accuracies(test_logits, test_labels)
    reference_val, reference_test = exit_val[-1], exit_test[-1]  # the last exit is (a)'s own head
    chosen = fastest_within(val_curve, budget_reference(reference_val, val_curve), max_drop)
    threshold = chosen["threshold"] if chosen else 1.0
    at_chosen = next(r for r in test_curve if r["threshold"] == threshold)
    oracle = fastest_within(test_curve, reference_test, max_drop)
    config = SimpleNamespace(exit_layers=layers, temperatures=temperatures, num_hidden_layers=num_layers)
    budget = budget_thresholds(val_logits, val_labels, test_logits, test_labels, config, reference_val, max_drop)
    return {
        "reference_validation_accuracy": reference_val, "reference_test_accuracy": reference_test,
        "exit_test_accuracies": exit_test, "exit_validation_accuracies": exit_val,
        "temperatures": temperatures, "chosen_threshold": threshold,
        "test_accuracy_at_chosen": at_chosen["accuracy"], "layer_speedup_at_chosen": num_layers / at_chosen["mean_layers"],
        "test_oracle_threshold": oracle["threshold"] if oracle else None,
        "test_oracle_accuracy": oracle["accuracy"] if oracle else None,
        "test_oracle_layer_speedup": num_layers / oracle["mean_layers"] if oracle else None,
        **{k: v for k, v in budget.items() if not k.endswith("thresholds") or k.startswith("per_exit")},
        "test_curve": test_curve,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir", help="--output-dir of the (a) run (holds variants/rt/seed<seed>/a)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--augment-copies", type=int, default=2)
    parser.add_argument("--transfer-sets", nargs="*", default=[])
    parser.add_argument("--designs", nargs="+", choices=DESIGNS, default=list(DESIGNS))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--anchor-weight", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="a smoke run: at most this many rows per split")
    parser.add_argument("--results", default=str(Path(__file__).resolve().parent / "rt_seed{seed}.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder = Path(args.output_dir) / "variants" / "rt" / f"seed{args.seed}" / "a"
    cache = Path(args.output_dir) / "heads_cache" / f"seed{args.seed}"
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    splits, tokenizer, num_labels, _ = prepare_splits("rt", SimpleNamespace(
        train_size=args.train_size, quick=False, test_size=0, seed=SPLIT_SEED, model="mpnet",
        augment_copies=args.augment_copies, transfer_sets=args.transfer_sets))
    if args.limit:  # a smoke run
        for name in splits:
            splits[name] = splits[name].select(range(min(args.limit, len(splits[name]))))
    files = {"train": f"train{args.train_size}", "validation": "validation", "test": "test",
             "augmented": f"augmented{args.train_size}_{args.augment_copies}_" + "+".join(args.transfer_sets)}
    data = {}
    for name in ("train", "augmented", "validation", "test"):
        if name in splits:
            print(f"{name}: {len(splits[name])} rows", flush=True)
            data[name] = cached(cache / f"{files[name]}{args.limit or ''}.safetensors",
                                lambda name=name: extract(model, splits[name], tokenizer.pad_token_id))
    train = data["train"]
    if "augmented" in data:  # labels -100: distilled from (a) alone
        extra = data["augmented"]
        train = {"tokens": torch.cat([train["tokens"], extra["tokens"]]),
                 "offsets": torch.cat([train["offsets"][:-1], extra["offsets"] + train["offsets"][-1]]),
                 "logits": torch.cat([train["logits"], extra["logits"]]),
                 "labels": torch.cat([train["labels"], torch.full((len(extra["labels"]),), -100)])}
    num_layers = train["tokens"].shape[1] + 1
    results = {"protocol": {k: v for k, v in vars(args).items() if k != "results"},
               "train_rows": len(train["labels"]), "labelled_rows": len(data["train"]["labels"]), "designs": {}}
    for design in args.designs:
        heads = train_heads(design, train, args, num_labels)
        val, test = exit_logits(heads, data["validation"]), exit_logits(heads, data["test"])
        record = score(val, data["validation"]["labels"], test, data["test"]["labels"], num_layers, args.max_drop)
        record["parameters_per_exit"] = sum(p.numel() for p in heads.parameters()) // (num_layers - 1)
        results["designs"][design] = record
        def drop(key: str, record: dict = record) -> float:
            return 100 * (record[key] - record["reference_test_accuracy"])

        print(f"{design}: exits on test {[round(100 * a, 1) for a in record['exit_test_accuracies']]}\n"
              f"  global {record['chosen_threshold']}: {drop('test_accuracy_at_chosen'):+.2f} at "
              f"{record['layer_speedup_at_chosen']:.2f}x; per-exit {drop('per_exit_test_accuracy'):+.2f} at "
              f"{record['per_exit_layer_speedup']:.2f}x; oracle "
              + (f"{drop('test_oracle_accuracy'):+.2f} at {record['test_oracle_layer_speedup']:.2f}x"
                 if record["test_oracle_threshold"] else "none"), flush=True)
        out = Path(args.results.format(seed=args.seed))
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
