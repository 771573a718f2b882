# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""The interactive data map (`DataMap.to_html`) in headless Chromium: how large a map the browser takes, and a
screenshot of a real one.

`render`: maps of growing size N (synthetic statistics, real Rotten Tomatoes sentences as hover text), every point
drawn (`max_points` above N) and, for comparison, the default sampled page. For each: the time to write the file,
its size, the time from navigation until Plotly has drawn the plot (`Plotly.newPlot` resolved), and the time from a
mouse move until the hover label shows (median of 5 points). `DEFAULT_MAX_POINTS` in
`hf_notlike/cartography/interactive.py` is set from this table. Results: `outputs/results/interactive_map/render.json`.

`screenshot`: a real map (all-MiniLM-L6-v2 fine-tuned 3 epochs on `--examples` Rotten Tomatoes sentences with a
stock `Trainer` and `CartographyCallback`), written as HTML with the sentences, opened in headless Chromium with one
point hovered and a box selection made, and saved as a PNG.

```bash
OMP_NUM_THREADS=1 python examples/bench_interactive_map.py render --sizes 1000 5000 20000 50000 100000
OMP_NUM_THREADS=1 python examples/bench_interactive_map.py screenshot --image docs/images/interactive_data_map.png
```

Needs Chromium (`apt-get install -y chromium`) and Plotly (`pip install "hf_notlike[interactive]"`); the browser is
driven by `tests/chromium_cdp.py` (the DevTools protocol over a pipe, no extra dependency).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from chromium_cdp import Chromium  # noqa: E402

from hf_notlike.cartography import DataMap  # noqa: E402
from hf_notlike.cartography.interactive import DEFAULT_MAX_POINTS  # noqa: E402

RESULTS = Path("outputs/results/interactive_map")


def _sentences(n: int) -> list[str]:
    from hf_notlike.resources import load_rotten_tomatoes

    texts = load_rotten_tomatoes()["train"]["text"]
    return [texts[i % len(texts)] for i in range(n)]


def _synthetic_map(n: int, seed: int = 0) -> DataMap:
    rng = np.random.default_rng(seed)
    probs = rng.beta(2, 1, size=(n, 3))
    return DataMap(probs, rng.random((n, 3)) < probs)


def _plot_area(browser: Chromium) -> dict:
    return browser.evaluate(
        """(() => { const r = document.querySelector('#datamap-plot .nsewdrag').getBoundingClientRect();
        const l = document.getElementById('datamap-plot').layout;
        return {left: r.left, top: r.top, width: r.width, height: r.height, x: l.xaxis.range, y: l.yaxis.range}; })()"""
    )


def _pixel(area: dict, x: float, y: float) -> tuple[float, float]:
    (x0, x1), (y0, y1) = area["x"], area["y"]
    return (float(area["left"] + (x - x0) / (x1 - x0) * area["width"]),
            float(area["top"] + (1 - (y - y0) / (y1 - y0)) * area["height"]))


def measure_page(browser: Chromium, path: Path, data_map: DataMap, drawn: np.ndarray) -> dict:
    start = time.perf_counter()
    browser.navigate(path.resolve().as_uri(), timeout=600)
    browser.wait_until("document.body.getAttribute('data-ready') === '1'", timeout=600)
    load = time.perf_counter() - start
    area = _plot_area(browser)
    hovers = []
    for i in np.random.default_rng(0).choice(drawn, size=5, replace=False):
        browser.mouse("mouseMoved", 1, 1)  # away from the plot: clear the label
        browser.wait_until("!document.querySelector('#datamap-plot .hoverlayer .hovertext')", timeout=60)
        start = time.perf_counter()
        browser.mouse("mouseMoved", *_pixel(area, float(data_map.variability[i]), float(data_map.confidence[i])))
        try:
            browser.wait_until("!!document.querySelector('#datamap-plot .hoverlayer .hovertext')", timeout=60, poll=0.01)
            hovers.append(time.perf_counter() - start)
        except TimeoutError:
            hovers.append(float("nan"))
    return {"load_seconds": load, "hover_seconds_median": statistics.median(hovers),
            "console_errors": list(browser.console_errors)}


def render(args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "render.json"
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {(r["examples"], r["max_points"]) for r in rows}
    texts = _sentences(max(args.sizes))
    import datasets

    for n in args.sizes:
        data_map = _synthetic_map(n)
        dataset = datasets.Dataset.from_dict({"text": texts[:n], "label": [i % 2 for i in range(n)]})
        for max_points in (n, DEFAULT_MAX_POINTS):
            if max_points > n or (n, max_points) in done:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "map.html"
                start = time.perf_counter()
                data_map.to_html(path, dataset=dataset, max_points=max_points)
                write = time.perf_counter() - start
                drawn = np.arange(n) if max_points >= n else np.sort(
                    np.random.default_rng(0).choice(n, size=max_points, replace=False))
                with Chromium() as browser:
                    page = measure_page(browser, path, data_map, drawn)
                row = {"examples": n, "max_points": max_points, "drawn": len(drawn), "write_seconds": write,
                       "file_mb": path.stat().st_size / 1e6, **page}
            rows.append(row)
            out.write_text(json.dumps(rows, indent=2) + "\n")
            print(f"N={n:>7,} drawn={len(drawn):>7,}: write {write:5.1f} s, {row['file_mb']:6.1f} MB, load "
                  f"{page['load_seconds']:6.2f} s, hover {page['hover_seconds_median'] * 1000:6.0f} ms, "
                  f"console errors {len(page['console_errors'])}", flush=True)


def real_map(args):
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from hf_notlike.cartography import CartographyCallback
    from hf_notlike.resources import load_rotten_tomatoes, minilm_path

    torch.set_num_threads(1)
    train = load_rotten_tomatoes()["train"].shuffle(seed=0).select(range(args.examples))
    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    tokenized = train.map(lambda b: tokenizer(b["text"], truncation=True, max_length=48), batched=True)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    callback = CartographyCallback(dataset_name="rotten_tomatoes")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model=model, train_dataset=tokenized, data_collator=DataCollatorWithPadding(tokenizer),
            callbacks=[callback],
            args=TrainingArguments(tmp, per_device_train_batch_size=32, num_train_epochs=3, learning_rate=1e-4,
                                   save_strategy="no", report_to=[], disable_tqdm=True, use_cpu=True, seed=0),
        )
        trainer.train()
    data_map = callback.data_map(dataset=tokenized)
    data_map.model_name = "all-MiniLM-L6-v2"
    return data_map, train


def screenshot(args) -> None:
    folder = Path(args.output_dir)
    if (folder / "map" / "data_map.json").is_file():
        data_map = DataMap.from_pretrained(folder / "map")
        from hf_notlike.resources import load_rotten_tomatoes

        train = load_rotten_tomatoes()["train"].shuffle(seed=0).select(range(data_map.num_examples))
    else:
        data_map, train = real_map(args)
        data_map.save_pretrained(folder / "map")
    path = data_map.to_html(folder / "map.html", dataset=train, text_column="text")
    with Chromium(width=1200, height=800) as browser:
        browser.navigate(path.resolve().as_uri())
        browser.wait_until("document.body.getAttribute('data-ready') === '1'")
        area = _plot_area(browser)
        # a box over the hard-to-learn corner, then hover an ambiguous example
        corner = (area["left"] + 0.02 * area["width"], area["top"] + 0.62 * area["height"])
        browser.drag(corner, (area["left"] + 0.45 * area["width"], area["top"] + 0.97 * area["height"]))
        browser.wait_until("document.getElementById('datamap-selected').value !== ''")
        upper = np.flatnonzero(data_map.confidence > np.quantile(data_map.confidence, 0.8))
        i = int(upper[np.argmax(data_map.variability[upper])])  # an upper-right point: its label hides no region name
        browser.mouse("mouseMoved", *_pixel(area, float(data_map.variability[i]), float(data_map.confidence[i])))
        browser.wait_until("!!document.querySelector('#datamap-plot .hoverlayer .hovertext')")
        time.sleep(0.5)
        Path(args.image).parent.mkdir(parents=True, exist_ok=True)
        browser.screenshot(args.image)
        print(f"wrote {args.image}; console errors: {browser.console_errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("render", help="load and hover times for growing maps")
    r.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000, 50000, 100000])
    s = sub.add_parser("screenshot", help="a screenshot of a real map")
    s.add_argument("--examples", type=int, default=600)
    s.add_argument("--output-dir", default="outputs/interactive_map")
    s.add_argument("--image", default="docs/images/interactive_data_map.png")
    args = parser.parse_args()
    render(args) if args.command == "render" else screenshot(args)


if __name__ == "__main__":
    main()
