"""The last column of the search table on the early-exit results page: a global threshold chosen on a random half of
the Rotten Tomatoes test split (as many sentences as validation) within 1 point of (a) on that half, scored on the
other half, averaged over 50 splits; temperatures fitted on validation as in the protocol.

    python outputs/results/early_exit_search/matched_split.py OUTPUT_DIR [--seeds 1 2 3] [--model minilm|mpnet]

OUTPUT_DIR is the `--output-dir` of `examples/train_early_exit.py --variants g` (it holds variants/rt/seed*/{a,g}).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "examples"))
from train_early_exit import MODELS, prepare_splits  # noqa: E402

from hf_notlike import collect_exit_logits  # noqa: E402
from hf_notlike.early_exit.calibration import calibrate_from_logits, iterate_batches  # noqa: E402
from hf_notlike.early_exit.modeling import select_exits  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--splits", type=int, default=50)
    parser.add_argument("--model", choices=sorted(MODELS), default="minilm", help="the encoder of the runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, _, _, _ = prepare_splits("rt", argparse.Namespace(train_size=0, quick=False, test_size=0, seed=0,
                                                     model=args.model))
    results = []
    for seed in args.seeds:
        folder = Path(args.output_dir) / "variants" / "rt" / f"seed{seed}"
        model = AutoModelForSequenceClassification.from_pretrained(folder / "g").eval()
        stock = AutoModelForSequenceClassification.from_pretrained(folder / "a").eval()
        val_logits, val_labels = collect_exit_logits(model, data["validation"], show_progress=False)
        temperatures = calibrate_from_logits(val_logits, val_labels, model.config.exit_layers).temperatures
        logits, labels = collect_exit_logits(model, data["test"], show_progress=False)
        stock_predictions = torch.zeros(len(labels), dtype=torch.long)
        with torch.inference_mode():
            for rows, inputs in iterate_batches(data["test"], 64, 0):
                stock_predictions[torch.as_tensor(rows)] = stock(**inputs).logits.argmax(-1)
        layers = torch.tensor(model.config.exit_layers, dtype=torch.float64)
        probabilities = torch.softmax(logits / torch.tensor(temperatures)[None, :, None], -1).amax(-1)
        grid = torch.unique(torch.cat([torch.quantile(probabilities[:, :-1].flatten(), torch.linspace(0, 1, 300)),
                                       torch.ones(1)]))
        outcomes = {}
        for threshold in grid.tolist():  # each row's exit and correctness at every threshold, once
            index = select_exits(logits, temperatures, [threshold] * (len(layers) - 1) + [1.0])
            correct = logits.argmax(-1)[torch.arange(len(index)), index] == labels
            outcomes[threshold] = (correct.double(), layers[index])
        stock_correct = (stock_predictions == labels).double()
        generator = torch.Generator().manual_seed(0)
        for _ in range(args.splits):
            order = torch.randperm(len(labels), generator=generator)
            half, other = order[: len(labels) // 2], order[len(labels) // 2:]
            budget = stock_correct[half].mean() - 0.01
            ok = [t for t, (c, _) in outcomes.items() if c[half].mean() >= budget]
            chosen = min(ok, key=lambda t: (outcomes[t][1][half].mean(), -t)) if ok else 1.0  # 1.0 is on the grid
            correct, used = outcomes[chosen]
            results.append((100 * float(correct[other].mean() - stock_correct[other].mean()),
                            len(layers) / float(used[other].mean())))
    results = np.array(results)
    print(f"held-out half: {results[:, 0].mean():+.2f} points vs (a) (sd {results[:, 0].std():.2f}), "
          f"{results[:, 1].mean():.2f}x fewer layers, within 1 point in {100 * (results[:, 0] >= -1).mean():.0f}% "
          "of the splits")


if __name__ == "__main__":
    main()
