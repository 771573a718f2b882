"""The collator before and after the input-check speed-ups, interleaved in one run: the previous version's
`hf_notlike/masking/collator.py` (read from git at `--previous`), this checkout's, and the benchmark's unchecked
copy, on the bench batches (Guardian headlines, batches of 32, at most 48 tokens, fixed and dynamic padding).
Microseconds per batch: each batch's best CPU time of this thread over `--repeats` interleaved rounds, averaged.

    OMP_NUM_THREADS=1 nice python outputs/results/masking_collator/compare_previous.py --previous 27e74ea
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import AutoTokenizer

import hf_notlike.masking.collator as current
from hf_notlike.masking import MASKING_STRATEGIES, VLLexicon
from hf_notlike.resources import concreteness_path, load_guardian_headlines, minilm_path


def load(name, path, package=None):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    if package:
        module.__package__ = package
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--previous", default="27e74ea")
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    source = subprocess.run(["git", "show", f"{args.previous}:hf_notlike/masking/collator.py"], check=True,
                            capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "collator_previous.py")
        with open(path, "w") as file:
            file.write(source)
        previous = load("hf_notlike.masking.collator_previous", path, package="hf_notlike.masking")
    bench = load("bench_masking", os.path.join(os.path.dirname(__file__), "../../../examples/bench_masking.py"))
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    lexicon = VLLexicon(concreteness=concreteness_path())
    tagger = current.DataCollatorForVLMasking(tokenizer, strategy="top_concrete", lexicon=lexicon).tagger
    headlines = load_guardian_headlines()
    print(f"load average before: {os.getloadavg()}; previous = {args.previous}")
    clock = time.thread_time_ns
    for setting, row_tagger in (("fixed", tagger(max_length=48, padding="max_length")), ("dynamic", tagger(max_length=48))):
        rows = headlines.map(row_tagger, batched=True, remove_columns=["text"]).to_list()
        batches = [rows[i : i + 32] for i in range(0, len(rows), 32)]
        print(f"\n{setting} padding, us per batch of 32 (each batch's best of {args.repeats} interleaved rounds, CPU time)\n")
        print("| strategy | previous (checked) | now (checked) | now (unchecked copy) | now / previous speed | checked / unchecked speed |")
        print("|---|---:|---:|---:|---:|---:|")
        for strategy in MASKING_STRATEGIES:
            collators = {
                "previous": previous.DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=0, lexicon=lexicon),
                "now": current.DataCollatorForVLMasking(tokenizer, strategy=strategy, seed=0, lexicon=lexicon),
                "unchecked": bench.UncheckedCollator(tokenizer, strategy=strategy, seed=0, lexicon=lexicon),
            }
            names = list(collators)
            best = {name: np.full(len(batches), np.inf) for name in names}
            for round_ in range(args.repeats):
                for index, batch in enumerate(batches):
                    shift = (round_ + index) % len(names)
                    for name in names[shift:] + names[:shift]:
                        start = clock()
                        collators[name](batch)
                        best[name][index] = min(best[name][index], clock() - start)
            p, n, u = (best[name].mean() / 1e3 for name in names)
            print(f"| {strategy} | {p:.0f} | {n:.0f} | {u:.0f} | {p / n:.2f}x | {u / n:.2f} |")
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
