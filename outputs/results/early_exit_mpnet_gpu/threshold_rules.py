"""Other ways of choosing the thresholds, scored post hoc on the saved exit logits of the (g) runs
(`examples/train_early_exit.py --save-logits`): does any rule chosen on validation keep within 1 point of (a) on test
while saving more layers than the global threshold? Prints one row per rule: test accuracy vs (a) in points and the
layer speed-up, per seed.

    python outputs/results/early_exit_mpnet_gpu/threshold_rules.py [RESULTS_DIR] [--seeds 1 2 3]

RESULTS_DIR (default: this folder's rt/) holds `g_seed{N}.json` and `g_seed{N}_logits.safetensors`. Temperatures are
the run's (fitted on validation); the budget is measured from the better of (a) and the full model on validation, as
in the protocol. Rules: the library's global and per-exit choices (`choose_thresholds`), also with its 90% bootstrap
guard (`confidence=0.9`, per exit also 0.8 and 0.95); per-exit thresholds bagged over 40 bootstrap resamples of validation (median / 75th
percentile, margin 0 or 0.5 points); two parameters (a threshold rising linearly with depth); per-exit thresholds
over a subset of the exits; the exits' averaged
probabilities (cumulative mean, recalibrated) with the same per-exit choice and their ceiling; a learned exit decision
(per exit, a logistic regression on validation predicting that exit's correctness from exits 1..k; one threshold on
its score); and one global threshold with and without two consecutive exits agreeing.
"""

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from hf_notlike.early_exit.calibration import calibrate_from_logits
from hf_notlike.early_exit.thresholds import choose_thresholds


def evaluate(logits, labels, temperatures, thresholds, layers, agree=False):
    """Accuracy and layer speed-up (of `max(layers)`) of first-confident-exit decisions; with `agree`, an exit lets
    a row leave only when its prediction is also the previous exit's."""
    probs = torch.softmax(logits / torch.tensor(temperatures)[None, :, None], -1)
    confidence, prediction = probs.max(-1)
    leaves = confidence >= torch.tensor(thresholds, dtype=confidence.dtype)[None]
    if agree:
        leaves[:, 1:] &= prediction[:, 1:] == prediction[:, :-1]
    return leave_first(leaves, prediction, labels, layers)


def leave_first(leaves, prediction, labels, layers):
    """Accuracy and layer speed-up (of `max(layers)`) when each row leaves at its first exit marked in `leaves`
    (rows, exits; the last exit always takes the rest)."""
    leaves[:, -1] = True
    index = leaves.float().argmax(1)
    accuracy = (prediction[torch.arange(len(index)), index] == labels).float().mean().item()
    return accuracy, max(layers) / torch.tensor(layers, dtype=torch.float)[index].mean().item()


def fastest(results, floor):
    """The index of the (accuracy, speed-up) pair with the highest speed-up among those at or above `floor`."""
    return max(range(len(results)), key=lambda i: results[i][1] if results[i][0] >= floor else 0.0)


def add(table, name, result, reference):
    """Adds `name`'s (accuracy, speed-up) `result` to `table` as test accuracy vs (a) in points at the speed-up."""
    table.setdefault(name, []).append(f"{100 * (result[0] - reference):+.2f} at {result[1]:.2f}x")


def score(table, name, logits, labels, temperatures, thresholds, layers, reference, keep=None):
    """Adds `name`'s test accuracy vs (a) and layer speed-up (over the exits `keep`, default all) to `table`."""
    keep = keep or list(range(len(layers)))
    add(table, name, evaluate(logits[:, keep], labels, [temperatures[k] for k in keep], thresholds,
                              [layers[k] for k in keep]), reference)


def choose(logits, labels, layers, temperatures, reference, per_exit=True, margin=0.0, confidence=None):
    return choose_thresholds(logits, labels, layers, temperatures, reference_accuracy=reference, max_drop=0.01,
                             margin=margin, per_exit=per_exit, num_layers=max(layers), confidence=confidence).thresholds


def rules(run, val, test):
    """name -> (logits transform, thresholds chosen on validation or on test)"""
    layers, temperatures, reference = run["exit_layers"], run["temperatures"], run["reference_validation_accuracy"]
    (vl, vy), (tl, ty) = val, test
    out = {"global (library)": choose(vl, vy, layers, temperatures, reference, per_exit=False),
           "per exit (library)": choose(vl, vy, layers, temperatures, reference),
           "global (library), 90% bootstrap bound": choose(vl, vy, layers, temperatures, reference, per_exit=False,
                                                           confidence=0.9),
           **{f"per exit (library), {100 * level:g}% bootstrap bound": choose(vl, vy, layers, temperatures, reference,
                                                                             confidence=level)
              for level in (0.8, 0.9, 0.95)},
           "per exit, chosen on test (ceiling)": choose_thresholds(
               tl, ty, layers, temperatures, reference_accuracy=run["reference_test_accuracy"], max_drop=0.01,
               from_better_reference=False, num_layers=max(layers)).thresholds}
    generator = torch.Generator().manual_seed(0)
    for margin in (0.0, 0.005):
        picks = []
        for _ in range(40):
            rows = torch.randint(0, len(vy), (len(vy),), generator=generator)
            try:
                picks.append(choose(vl[rows], vy[rows], layers, temperatures, reference, margin=margin))
            except ValueError:
                picks.append([1.0] * len(layers))
        for q in (50, 75):
            out[f"per exit bagged, {q}th percentile, margin {100 * margin:g}"] = list(np.percentile(picks, q, axis=0))
    full = evaluate(vl, vy, temperatures, [1.0] * len(layers), layers)[0]
    best = None
    for low in np.arange(0.5, 1.0001, 0.01):
        for high in np.arange(0.5, 1.0001, 0.01):
            thresholds = list(np.linspace(low, high, len(layers) - 1)) + [1.0]
            accuracy, speedup = evaluate(vl, vy, temperatures, thresholds, layers)
            if accuracy >= max(reference, full) - 0.01 and (best is None or speedup > best[0]):
                best = (speedup, thresholds)
    out["two parameters, linear in depth"] = best[1]
    return out


def exit_features(logits, temperatures):
    """Per row and exit k, what exits 1..k say: each one's calibrated log-odds of its top class and whether it
    predicts what exit k predicts (later exits' columns zero). Shape (rows, exits, 2 * exits)."""
    probs = torch.softmax(logits / torch.tensor(temperatures)[None, :, None], -1)
    confidence, prediction = probs.max(-1)
    log_odds = (confidence.clamp(max=1 - 1e-6).logit())
    rows, exits = confidence.shape
    features = torch.zeros(rows, exits, 2 * exits)
    for k in range(exits):
        features[:, k, : k + 1] = log_odds[:, : k + 1]
        features[:, k, exits: exits + k + 1] = (prediction[:, : k + 1] == prediction[:, k: k + 1]).float()
    return features, prediction


def fit_logistic(x, y, weight_decay):
    """An L2-regularised logistic regression of `y` on standardised `x`: returns its predicted probabilities as a
    function of new features."""
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    weights = torch.zeros(x.shape[1] + 1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=200)

    def closure():
        optimizer.zero_grad()
        z = ((x - mean) / std) @ weights[:-1] + weights[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y) + weight_decay * weights[:-1].square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda features: torch.sigmoid(((features - mean) / std) @ weights.detach()[:-1] + weights.detach()[-1])


def learned_exit_scores(val, test, temperatures, weight_decay=1e-2):
    """A learned exit decision in the spirit of BERxiT's learning-to-exit (Xin et al., EACL 2021), from the exits'
    outputs rather than their hidden states: per exit, a logistic regression fitted on validation predicts whether
    that exit's prediction is right from what exits 1..k say. Returns the validation and test scores and predictions
    (each rows x exits)."""
    (vf, vp), (tf, tp) = exit_features(val[0], temperatures), exit_features(test[0], temperatures)
    correct = (vp == val[1][:, None]).float()
    scores = [torch.zeros(vf.shape[:2]), torch.zeros(tf.shape[:2])]
    for k in range(vf.shape[1]):
        predict = fit_logistic(vf[:, k, :], correct[:, k], weight_decay)
        for out, features in zip(scores, (vf, tf)):
            out[:, k] = predict(features[:, k, :])
    return scores[0], scores[1], vp, tp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results_dir", nargs="?", default=str(Path(__file__).resolve().parent / "rt"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    table = {}
    for seed in args.seeds:
        run = json.loads((Path(args.results_dir) / f"g_seed{seed}.json").read_text())
        saved = load_file(str(Path(args.results_dir) / f"g_seed{seed}_logits.safetensors"))
        val = saved["validation_logits"], saved["validation_labels"]
        test = saved["test_logits"], saved["test_labels"]
        layers = run["exit_layers"] = list(range(1, val[0].shape[1] + 1))
        reference = run["reference_test_accuracy"]

        for name, thresholds in rules(run, val, test).items():
            score(table, name, test[0], test[1], run["temperatures"], thresholds, layers, reference)
        for subset in ([1, 2, 3, 4, 6, 12], [2, 4, 6, 12], [1, 3, 5, 12]):
            keep = [layer - 1 for layer in subset]
            temperatures = [run["temperatures"][k] for k in keep]
            thresholds = choose(val[0][:, keep], val[1], subset, temperatures, run["reference_validation_accuracy"])
            score(table, f"per exit, exits {subset} only", test[0], test[1], run["temperatures"], thresholds, layers,
                  reference, keep)
        # the exits' averaged probabilities: exit k predicts with the mean of exits 1..k
        steps = torch.arange(1, len(layers) + 1)[None, :, None]
        temperatures = torch.tensor(run["temperatures"])[None, :, None]
        mean_val, mean_test = ((torch.softmax(logits / temperatures, -1).cumsum(1) / steps).clamp_min(1e-9).log()
                               for logits in (val[0], test[0]))
        refit = calibrate_from_logits(mean_val, val[1], layers).temperatures
        score(table, "averaged exits, per exit", mean_test, test[1], refit,
              choose(mean_val, val[1], layers, refit, run["reference_validation_accuracy"]), layers, reference)
        score(table, "averaged exits, chosen on test (ceiling)", mean_test, test[1], refit, choose_thresholds(
            mean_test, test[1], layers, refit, reference_accuracy=reference, max_drop=0.01,
            from_better_reference=False, num_layers=max(layers)).thresholds, layers, reference)
        # a learned exit decision: one global threshold on the per-exit logistic scores
        val_scores, test_scores, val_prediction, test_prediction = learned_exit_scores(val, test, run["temperatures"])
        candidates = np.arange(0.5, 1.0, 0.005)
        full = evaluate(val[0], val[1], run["temperatures"], [1.0] * len(layers), layers)[0]
        budget = max(run["reference_validation_accuracy"], full) - 0.01
        on_val = [leave_first(val_scores >= t, val_prediction, val[1], layers) for t in candidates]
        on_test = [leave_first(test_scores >= t, test_prediction, test[1], layers) for t in candidates]
        add(table, "learned exit decision (logistic, per exit), one threshold", on_test[fastest(on_val, budget)],
            reference)
        add(table, "learned exit decision, threshold chosen on test", on_test[fastest(on_test, reference - 0.01)],
            reference)
        # one global threshold, chosen on test, with and without the agreement of two consecutive exits
        for agree in (False, True):
            on_test = [evaluate(test[0], test[1], run["temperatures"], [t] * (len(layers) - 1) + [1.0], layers, agree)
                       for t in candidates]
            name = f"one global threshold{', two consecutive exits agreeing' if agree else ''}, chosen on test"
            add(table, name, on_test[fastest(on_test, reference - 0.01)], reference)
    print(f"| rule (chosen on validation unless said) | {' | '.join(f'seed {s}' for s in args.seeds)} |")
    print(f"|---|{'---|' * len(args.seeds)}")
    for name, cells in table.items():
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
