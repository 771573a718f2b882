# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Benchmark of a data map of 10 million examples x 3 epochs: opening it, its statistics, `select`, `plot`.

A synthetic map (seeded; per-epoch gold probabilities, correctness, margins and two gold labels) is saved once with
`save_pretrained` (its time is reported). Then every operation runs the same user code (`DataMap.from_pretrained(folder)`,
then e.g. `select("ambiguous", 0.33)` or `plot(path)`) with two versions of the library: `before` (the library at
`--before-commit`, extracted with `git archive`: every file read into memory and hashed whole, every column decoded
and checked, statistics derived from the per-epoch matrices, a hexbin plot above 25,000 examples) and `after` (this
checkout: memory-mapped Parquet, columns decoded and their bytes checked when first used, stored statistics, a density
raster). Each version is imported once by a server process. For each repeat and version, a forked process opens the
map (timed), then every operation runs in a process forked from it (so each operation starts from the freshly opened
map, as in a new session, and measures only its own work). The two versions alternate (the order flips every
repeat); the table gives wall and CPU seconds (medians), the ratio before / after, and peak resident memory
(ru_maxrss from `wait4`) above the memory of the imports: of the open, and of open + operation (the larger of the
open's peak and the operation's peak). The load average is recorded with every run: the
machine may be shared. The saved file stays in the page cache between runs (both paths read it warm).

Results (one JSON per finished run, so an interrupted benchmark resumes) go to
`outputs/results/cartography_scale/datamap_runs_<examples>x<epochs>.json`; the summary table to `datamap_scale_<examples>x<epochs>.md` and `.json`.

```bash
python examples/bench_datamap_scale.py --before-commit 4bb9dd8         # 10,000,000 x 3, 3 repeats
python examples/bench_datamap_scale.py --examples 1000000 --repeats 1    # a quick look
```
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OPS = (
    "statistics", "select_ambiguous", "select_hard_to_learn", "select_easy_to_learn", "select_low_aum",
    "select_random", "select_ambiguous_balanced", "to_pandas", "plot",
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ops", nargs="*", default=list(OPS), choices=OPS)
    parser.add_argument("--work", default="/tmp/datamap_scale", help="folder for the saved map (not committed)")
    parser.add_argument("--out", default="outputs/results/cartography_scale")
    parser.add_argument("--timeout", type=int, default=900, help="seconds before a run is stopped and recorded as such")
    parser.add_argument("--before-commit", default="4bb9dd8",
                        help="the library version to compare with ('none': measure this checkout only)")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    return parser.parse_args()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mib() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:")) / 1024


def forked(function, *arguments, timeout: float) -> dict:
    """Run `function(*arguments)` (which returns a JSON-able dict) in a forked process; add its peak resident memory
    (`wait4`'s ru_maxrss) and its resident memory at the fork (`import_mib`)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        code = 0
        try:
            payload = {"import_mib": rss_mib(), **function(*arguments)}
        except BaseException as error:  # noqa: BLE001  (reported to the parent)
            payload, code = {"error": f"{type(error).__name__}: {error}"[:300]}, 1
        with os.fdopen(write, "w") as handle:
            handle.write(json.dumps(payload))
        os._exit(code)
    os.close(write)
    deadline = time.monotonic() + timeout
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.wait4(pid, 0)
            os.close(read)
            return {"error": f"stopped after {timeout:.0f} s"}
        time.sleep(0.05)
    with os.fdopen(read) as handle:
        text = handle.read()
    payload = json.loads(text) if text else {"error": f"exit status {status}"}
    payload["peak_mib"] = usage.ru_maxrss / 1024
    payload["cpu_s"] = usage.ru_utime + usage.ru_stime
    return payload


def synthetic_map(n: int, epochs: int):
    """A seeded map with the shape of real ones: a latent difficulty per example, probabilities drifting up over the
    epochs with per-example noise (large for middling examples), correctness drawn from them, margins on the logit
    scale, two gold labels."""
    from hf_notlike.cartography import DataMap

    rng = np.random.default_rng(0)
    ease = rng.beta(2.0, 1.2, n).astype(np.float32)
    gold = np.empty((n, epochs), np.float32)
    for e in range(epochs):
        drift = np.float32(0.15 * (e - (epochs - 1) / 2))
        noise = rng.normal(0.0, 1.0, n).astype(np.float32) * (np.float32(0.35) * ease * (1 - ease))
        gold[:, e] = np.clip(ease + drift + noise, 0.0, 1.0)
    correct = rng.random((n, epochs), dtype=np.float32) < gold
    margins = np.log(np.clip(gold, 1e-4, 1 - 1e-4) / np.clip(1 - gold, 1e-4, 1)).astype(np.float32)
    labels = rng.integers(0, 2, n).astype(np.int64)
    return DataMap(gold, correct, margins=margins, labels=labels, model_name="synthetic", dataset_name="synthetic")


def build(folder: str, n: int, epochs: int) -> dict:
    start = time.perf_counter()
    data_map = synthetic_map(n, epochs)
    built = time.perf_counter() - start
    start = time.perf_counter()
    data_map.save_pretrained(folder)
    saved = time.perf_counter() - start
    sizes = {p.name: p.stat().st_size for p in Path(folder).iterdir()}
    return {"build_s": built, "save_s": saved, "files": sizes}


def run_op(data_map, folder: str, path: str, op: str) -> dict:
    start, cpu = time.perf_counter(), time.process_time()
    detail = None
    if op == "statistics":
        detail = float(sum(float(np.asarray(a, np.float64).mean()) for a in (
            data_map.confidence, data_map.variability, data_map.correctness, data_map.forgetfulness, data_map.aum)))
    elif op.startswith("select_"):
        region = op[len("select_"):].replace("_balanced", "")
        ids = data_map.select(region, 0.33, class_balanced=op.endswith("_balanced")).ids
        detail = [len(ids), int(ids[:1000].sum())]  # a fingerprint: both versions must select the same examples
    elif op == "to_pandas":
        detail = list(data_map.to_pandas().shape)
    elif op == "plot":
        target = Path(folder).parent / f"plot_{path}.png"
        data_map.plot(target)
        detail = target.stat().st_size
    return {"op_s": time.perf_counter() - start, "op_cpu_s": time.process_time() - cpu, "detail": detail}


def session(folder: str, path: str, ops: list[str], timeout: float) -> dict:
    """Open the map, then run each operation in a process forked from this one."""
    from hf_notlike.cartography import DataMap

    start, cpu = time.perf_counter(), time.process_time()
    data_map = DataMap.from_pretrained(folder)
    result = {"open_s": time.perf_counter() - start, "open_cpu_s": time.process_time() - cpu,
              "open_peak_mib": peak_mib(), "opened_rss_mib": rss_mib(), "ops": {}}
    for op in ops:
        load = os.getloadavg()[0]
        result["ops"][op] = {**forked(run_op, data_map, folder, path, op, timeout=timeout), "load_before": load}
    return result


def serve(timeout: float) -> None:
    """Import the library once, then run each request (a JSON line: folder, path, op) in a forked process."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import hf_notlike.cartography  # noqa: F401

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    print(json.dumps({"ready": hf_notlike.cartography.__file__}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        result = forked(session, request["folder"], request["path"], request["ops"], timeout,
                        timeout=timeout * (1 + len(request["ops"])))
        print(json.dumps(result), flush=True)


class Server:
    """A `--serve` process of this script importing the library from `code` (a folder put first on the path)."""

    def __init__(self, code: Path, timeout: float):
        env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, __file__, "--serve", str(code), "--timeout", str(timeout)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = json.loads(self.process.stdout.readline())
        if not ready["ready"].startswith(str(code)):
            raise SystemExit(f"the server for {code} imported {ready['ready']}")
        self.module = ready["ready"]

    def run(self, folder: Path, path: str, ops: list[str]) -> dict:
        self.process.stdin.write(json.dumps({"folder": str(folder), "path": path, "ops": ops}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def summarise(runs: list[dict], args) -> tuple[list[dict], str]:
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    rows = []
    for op in ["open", *args.ops]:
        row = {"op": op}
        for path in ("before", "after"):
            sessions = [r for r in runs if r["path"] == path and "error" not in r]
            if op == "open":
                done = [{"s": r["open_s"], "cpu": r["open_cpu_s"], "total": r["open_s"],
                         "peak": r["open_peak_mib"] - r["import_mib"], "detail": None} for r in sessions]
                failed = [r["error"] for r in runs if r["path"] == path and "error" in r]
            else:
                done = [{"s": r["ops"][op]["op_s"], "cpu": r["ops"][op]["op_cpu_s"], "total": r["open_s"] + r["ops"][op]["op_s"],
                         "peak": max(r["open_peak_mib"], r["ops"][op]["peak_mib"]) - r["import_mib"],
                         "detail": r["ops"][op]["detail"]} for r in sessions if "error" not in r["ops"].get(op, {"error": 1})]
                failed = [r["ops"][op]["error"] for r in sessions if "error" in r["ops"].get(op, {})]
            row[path] = {
                "runs": len(done), "failed": failed,
                "seconds": median(d["s"] for d in done), "cpu_seconds": median(d["cpu"] for d in done),
                "open_plus_op_s": median(d["total"] for d in done),
                "peak_above_imports_mib": median(d["peak"] for d in done),
                "details": sorted({json.dumps(d["detail"]) for d in done}),
            }
        rows.append(row)

    def fmt(value, digits=2):
        return "-" if value is None else f"{value:,.{digits}f}"

    def ratio(a, b):
        return "-" if a is None or b is None or b <= 0 else f"{a / b:,.1f}x"

    lines = [
        "| operation | wall s, before | after | before / after | CPU s, before | after | before / after "
        "| open + operation wall s, before | after | peak MiB above imports (open + operation), before | after "
        "| before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        e, z = row["before"], row["after"]
        name = "open (`DataMap.from_pretrained`)" if row["op"] == "open" else f"`{row['op']}`"
        if e["failed"] and e["seconds"] is None:
            name += f" (before: {e['failed'][0]})"
        lines.append(
            f"| {name} | {fmt(e['seconds'])} | {fmt(z['seconds'])} | {ratio(e['seconds'], z['seconds'])} "
            f"| {fmt(e['cpu_seconds'])} | {fmt(z['cpu_seconds'])} | {ratio(e['cpu_seconds'], z['cpu_seconds'])} "
            f"| {fmt(e['open_plus_op_s'])} | {fmt(z['open_plus_op_s'])} "
            f"| {fmt(e['peak_above_imports_mib'], 0)} | {fmt(z['peak_above_imports_mib'], 0)} "
            f"| {ratio(e['peak_above_imports_mib'], z['peak_above_imports_mib'])} |"
        )
    return rows, "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.serve:
        serve(args.timeout)
        return
    root = Path(__file__).resolve().parents[1]
    before = Path(args.work) / f"code_{args.before_commit}"
    if args.before_commit != "none" and not (before / "hf_notlike" / "__init__.py").is_file():
        before.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(root), "archive", args.before_commit, "hf_notlike"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(args.work) / f"map_{args.examples}x{args.epochs}"
    build_file = out / f"datamap_build_{args.examples}x{args.epochs}.json"
    if not (folder / "manifest.json").is_file() or not build_file.is_file():
        print(f"building and saving the {args.examples:,} x {args.epochs} map in {folder} ...", flush=True)
        load = os.getloadavg()[0]
        import hf_notlike.cartography  # noqa: F401  (this checkout)

        built = forked(build, str(folder), args.examples, args.epochs, timeout=3 * args.timeout)
        if "error" in built:
            raise SystemExit(f"building the map failed: {built['error']}")
        built = {**built, "load_before": load,
                 "load_after": os.getloadavg()[0], "examples": args.examples, "epochs": args.epochs}
        build_file.write_text(json.dumps(built, indent=2) + "\n")
    built = json.loads(build_file.read_text())
    print(f"build {built['build_s']:.1f} s, save_pretrained (table, plot, card, manifest) {built['save_s']:.1f} s, "
          f"peak {built['peak_mib']:.0f} MiB (imports {built['import_mib']:.0f} MiB); files: "
          + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sorted(built["files"].items())), flush=True)

    runs_file = out / f"datamap_runs_{args.examples}x{args.epochs}.json"
    runs = json.loads(runs_file.read_text()) if runs_file.is_file() else []
    done = {(r["repeat"], r["path"]) for r in runs}
    servers = {"after": Server(root, args.timeout)}
    if args.before_commit != "none":
        servers["before"] = Server(before, args.timeout)
    print(", ".join(f"{path}: {server.module}" for path, server in servers.items()), flush=True)
    for repeat in range(args.repeats):
        for path in ("before", "after") if repeat % 2 == 0 else ("after", "before"):
            if (repeat, path) in done or path not in servers:
                continue
            load = os.getloadavg()[0]
            result = {**servers[path].run(folder, path, args.ops), "path": path, "repeat": repeat, "load_before": load,
                      "load_after": os.getloadavg()[0]}
            runs.append(result)
            runs_file.write_text(json.dumps(runs, indent=1) + "\n")
            if "error" in result:
                print(f"[{repeat}] {path:6s} {result['error']}", flush=True)
                continue
            print(f"[{repeat}] {path:6s} open {result['open_s']:.2f} s (CPU {result['open_cpu_s']:.2f} s), peak "
                  f"{result['open_peak_mib']:.0f} MiB (imports {result['import_mib']:.0f})  load {load:.1f}", flush=True)
            for op, r in result["ops"].items():
                shown = r.get("error") or f"{r['op_s']:.2f} s (CPU {r['op_cpu_s']:.2f} s), peak {r['peak_mib']:.0f} MiB"
                print(f"      {op:26s} {shown}  load {r['load_before']:.1f}", flush=True)
    for server in servers.values():
        server.close()
    rows, table = summarise(runs, args)
    loads = [r["load_before"] for r in runs] + [o["load_before"] for r in runs for o in r.get("ops", {}).values()]
    header = (f"DataMap of {args.examples:,} examples x {args.epochs} epochs, before = {args.before_commit}, after = "
              f"this checkout; medians of {args.repeats} run(s) per cell; "
              f"load average during the runs {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print("\n" + header + "\n\n" + table)
    (out / f"datamap_scale_{args.examples}x{args.epochs}.md").write_text(header + "\n\n" + table + "\n")
    (out / f"datamap_scale_{args.examples}x{args.epochs}.json").write_text(json.dumps(
        {"examples": args.examples, "epochs": args.epochs, "repeats": args.repeats, "before_commit": args.before_commit,
         "build": built, "rows": rows,
         "load_min": min(loads), "load_max": max(loads), "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
