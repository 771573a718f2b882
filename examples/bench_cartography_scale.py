# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Benchmark of building a data map from `CartographyCallback`'s record shards at LLM fine-tuning scale.

For each size, synthetic records are written the way the callback writes them: one Parquet shard per epoch and per
process (`hf_notlike.cartography.records.write_shard`), for `--ranks` processes whose samplers shard each epoch's
permutation into batches of `--batch` and pad the last global batch with the first examples of the epoch (repeated
records, as accelerate's even batches do). Then the map is built in a fresh subprocess, so that its peak resident
memory (`resource.getrusage`, `ru_maxrss`) is the build's alone:

- `shards` (the callback's path): count each epoch's records and examples (what every process does at epoch end),
  merge the shards one epoch at a time by example id (first occurrence: earliest step, lowest rank) straight into
  the map's columns (`build_map_columns`), and construct the `DataMap`;
- `in-memory` (the callback's former path, for comparison where it fits): every process's records of an epoch
  gathered in memory (as `torch.distributed.all_gather` left them on every process), merged with
  `merge_epoch_records`, one `[N]` array per epoch kept, then stacked into the `DataMap`.

Each build is run `--repeats` times, the two builds interleaved (the order alternates each repeat); the tables give
medians and the shards / in-memory ratios. The load average before and after each build is printed: other jobs on
the machine slow every stage, so compare only the builds of one run. Results go to
`outputs/results/cartography_scale/scale_<examples>.json`.

```bash
python examples/bench_cartography_scale.py                                   # 1M (both builds) and 10M (shards)
python examples/bench_cartography_scale.py --sizes 10000000 --compare 10000000 --repeats 1
```
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path("outputs/results/cartography_scale")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000], help="examples per map")
    parser.add_argument("--compare", type=int, nargs="*", default=[1_000_000],
                        help="sizes at which the in-memory merge is also run")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--ranks", type=int, default=2, help="processes writing shards")
    parser.add_argument("--batch", type=int, default=48, help="per-process batch size (sets the padding)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="where to write the shards (default: a temporary folder)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--child", choices=["shards", "in-memory"], help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--examples", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _status_mib(field: str) -> float:
    """`VmHWM` (peak) or `VmRSS` (current) resident memory of this process, from /proc (Linux). Unlike
    `getrusage().ru_maxrss`, `VmHWM` starts afresh at `exec`, so it does not count the parent that forked us."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---------------------------------------------------------------------------------------------------- shards
def write_synthetic(run_dir: Path, n: int, epochs: int, ranks: int, batch: int, seed: int = 0) -> dict:
    """One shard per epoch and rank, as the callback writes them; returns the counts and the write time."""
    from hf_notlike.cartography.records import epoch_dir, shard_name, write_shard

    rng = np.random.default_rng(seed)
    global_batch = ranks * batch
    padded = -(-n // global_batch) * global_batch
    seconds = 0.0
    for epoch in range(epochs):
        order = rng.permutation(n)
        order = np.concatenate([order, order[: padded - n]])  # the last global batch, completed from the start
        for rank in range(ranks):
            # global batch g holds positions [g*GB, (g+1)*GB); rank r takes its slice [r*B, (r+1)*B) of each
            mine = order.reshape(-1, ranks, batch)[:, rank, :].reshape(-1)
            rows = len(mine)
            columns = {
                "id": mine.astype(np.int64),
                "step": np.arange(rows, dtype=np.int64) // batch,
                "prob": rng.random(rows, dtype=np.float32),
                "correct": (rng.random(rows) > 0.4).astype(np.float32),
                "margin": rng.standard_normal(rows, dtype=np.float32),
                "label": (mine % 3).astype(np.int64),
            }
            start = time.perf_counter()
            write_shard(epoch_dir(run_dir, epoch) / shard_name(0, rank), columns, rank=rank, world_size=ranks,
                        num_examples=n)
            seconds += time.perf_counter() - start
            del columns, mine
    return {"records_per_epoch": padded, "padding_per_epoch": padded - n, "write_seconds": seconds}


# ---------------------------------------------------------------------------------------------------- builds (child)
def build_with_shards(run_dir: Path, n: int, epochs: int) -> dict:
    from hf_notlike.cartography import DataMap
    from hf_notlike.cartography.records import build_map_columns, epoch_dir, summarize_epoch

    stages = {}
    rss_imports = _status_mib("VmRSS")
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    summaries = [summarize_epoch(epoch_dir(run_dir, e), n) for e in range(epochs)]
    stages["count epochs"] = time.perf_counter() - start
    assert all(s.examples == n for s in summaries)
    start = time.perf_counter()
    columns = build_map_columns(run_dir, list(range(epochs)), num_examples=n, label_epoch=epochs - 1)
    stages["merge + columns"] = time.perf_counter() - start
    start = time.perf_counter()
    data_map = DataMap(columns.probs, columns.correct, margins=columns.margins, labels=columns.labels)
    stages["DataMap"] = time.perf_counter() - start
    return {"stages": stages, "rss_after_imports_mib": rss_imports, "check": float(data_map.gold_probs.sum()),
            "records_per_epoch": summaries[0].records, "cpu_seconds": _cpu_seconds() - cpu_start}


def build_in_memory(run_dir: Path, n: int, epochs: int) -> dict:
    import pyarrow.parquet as pq

    from hf_notlike.cartography import DataMap
    from hf_notlike.cartography.callback import merge_epoch_records
    from hf_notlike.cartography.records import epoch_dir, record_files

    stages = {"gather epochs": 0.0, "merge": 0.0}
    rss_imports = _status_mib("VmRSS")
    cpu_start = _cpu_seconds()
    probs, correct, margins, labels = [], [], [], None
    for epoch in range(epochs):
        start = time.perf_counter()
        parts = []
        for path, rank in record_files(epoch_dir(run_dir, epoch)):  # what all_gather left on every process
            table = pq.read_table(str(path))
            part = {"ids": table["id"].to_numpy(), "steps": table["step"].to_numpy(),
                    "probs": table["prob"].to_numpy(), "correct": table["correct"].to_numpy(),
                    "margins": table["margin"].to_numpy(), "labels": table["label"].to_numpy()}
            part["ranks"] = np.full(len(part["ids"]), rank, np.int64)
            parts.append(part)
            del table
        records = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
        del parts
        stages["gather epochs"] += time.perf_counter() - start
        start = time.perf_counter()
        merged = merge_epoch_records(records, n)
        del records
        probs.append(merged["probs"])
        correct.append(merged["correct"])
        margins.append(merged["margins"])
        labels = merged["labels"]
        del merged
        stages["merge"] += time.perf_counter() - start
    start = time.perf_counter()
    stacked = (np.stack(probs, axis=1), np.stack(correct, axis=1), np.stack(margins, axis=1))
    del probs, correct, margins
    stages["stack"] = time.perf_counter() - start
    start = time.perf_counter()
    data_map = DataMap(stacked[0], stacked[1], margins=stacked[2], labels=labels)
    stages["DataMap"] = time.perf_counter() - start
    return {"stages": stages, "rss_after_imports_mib": rss_imports, "check": float(data_map.gold_probs.sum()),
            "cpu_seconds": _cpu_seconds() - cpu_start}


def child(args) -> None:
    import torch

    torch.set_num_threads(1)
    build = build_with_shards if args.child == "shards" else build_in_memory
    result = build(Path(args.run_dir), args.examples, args.epochs)
    result["total_seconds"] = sum(result["stages"].values())
    result["peak_rss_mib"] = _status_mib("VmHWM")
    print("RESULT " + json.dumps(result))


def run_child(kind: str, run_dir: Path, n: int, epochs: int) -> dict:
    load_before = os.getloadavg()[0]
    command = [sys.executable, __file__, "--child", kind, "--run-dir", str(run_dir), "--examples", str(n),
               "--epochs", str(epochs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    result["load_before"], result["load_after"] = load_before, os.getloadavg()[0]
    return result


# ---------------------------------------------------------------------------------------------------- main
def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="cartography_scale_"))
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.2f} (other jobs slow every stage)")
    for n in args.sizes:
        run_dir = root / f"run-{n}"
        shutil.rmtree(run_dir, ignore_errors=True)
        written = write_synthetic(run_dir, n, args.epochs, args.ranks, args.batch)
        size_mib = sum(f.stat().st_size for f in run_dir.rglob("*.parquet")) / 2**20
        kinds = ["shards", "in-memory"] if n in args.compare else ["shards"]
        runs = {kind: [] for kind in kinds}
        for repeat in range(args.repeats):
            for kind in kinds if repeat % 2 == 0 else kinds[::-1]:
                result = run_child(kind, run_dir, n, args.epochs)
                runs[kind].append(result)
                print(f"  {n:,} examples, {kind:9s} repeat {repeat}: {result['total_seconds']:.2f} s, peak RSS "
                      f"{result['peak_rss_mib']:.0f} MiB (load {result['load_before']:.1f} -> "
                      f"{result['load_after']:.1f})", flush=True)
        summary = {
            "examples": n, "epochs": args.epochs, "ranks": args.ranks, "batch_per_rank": args.batch,
            "records_per_epoch": written["records_per_epoch"], "padding_per_epoch": written["padding_per_epoch"],
            "shard_write_seconds_total": written["write_seconds"], "shards_mib": size_mib,
            "repeats": args.repeats, "cpus": os.cpu_count(), "runs": runs,
            "median": {kind: {"total_seconds": _median(r, "total_seconds"), "cpu_seconds": _median(r, "cpu_seconds"),
                              "peak_rss_mib": _median(r, "peak_rss_mib"),
                              "rss_after_imports_mib": _median(r, "rss_after_imports_mib"),
                              "stages": {s: statistics.median(x["stages"][s] for x in r) for s in r[0]["stages"]}}
                       for kind, r in runs.items()},
        }
        if len(kinds) == 2:
            new, old = summary["median"]["shards"], summary["median"]["in-memory"]
            summary["ratio_shards_over_in_memory"] = {
                "seconds": new["total_seconds"] / old["total_seconds"],
                "cpu_seconds": new["cpu_seconds"] / old["cpu_seconds"],
                "peak_rss": new["peak_rss_mib"] / old["peak_rss_mib"],
                "peak_rss_above_imports": (new["peak_rss_mib"] - new["rss_after_imports_mib"])
                / (old["peak_rss_mib"] - old["rss_after_imports_mib"]),
            }
        (out / f"scale_{n}.json").write_text(json.dumps(summary, indent=2) + "\n")
        print_table(summary)
        if not args.workdir:
            shutil.rmtree(run_dir, ignore_errors=True)
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)


def print_table(summary: dict) -> None:
    n = summary["examples"]
    print(f"\n{n:,} examples x {summary['epochs']} epochs, {summary['ranks']} ranks, "
          f"{summary['records_per_epoch']:,} records per epoch ({summary['padding_per_epoch']} padding), shards "
          f"{summary['shards_mib']:.0f} MiB, written in {summary['shard_write_seconds_total']:.1f} s")
    print("| build | stage wall times (s, median) | wall (s) | CPU (s) | peak RSS (MiB) | above imports (MiB) |")
    print("|---|---|---:|---:|---:|---:|")
    for kind, median in summary["median"].items():
        stages = ", ".join(f"{name} {seconds:.2f}" for name, seconds in median["stages"].items())
        print(f"| {kind} | {stages} | {median['total_seconds']:.2f} | {median['cpu_seconds']:.2f} | "
              f"{median['peak_rss_mib']:.0f} | "
              f"{median['peak_rss_mib'] - median['rss_after_imports_mib']:.0f} |")
    ratio = summary.get("ratio_shards_over_in_memory")
    if ratio:
        print(f"shards / in-memory: wall {ratio['seconds']:.2f}x, CPU {ratio['cpu_seconds']:.2f}x, peak RSS {ratio['peak_rss']:.2f}x, peak RSS above "
              f"imports {ratio['peak_rss_above_imports']:.2f}x")


if __name__ == "__main__":
    main()
