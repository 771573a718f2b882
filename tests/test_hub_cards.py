"""Model and dataset cards: the whole rendered text, card data filled by loading / training / calibration / sweeps,
meaningful names and no local paths, sweep files, errors."""

import json

import numpy as np
import pytest
import torch
from huggingface_hub import DatasetCard, ModelCard

from hf_notlike import EarlyExitBertForSequenceClassification, EarlyExitModelCardData
from hf_notlike.cartography import DataMap
from hf_notlike.cartography.card import check_data_map_card
from hf_notlike.early_exit import check_early_exit_card, load_sweep

EXPECTED_CARD = """---
base_model: google-bert/bert-base-uncased
datasets:
- cornell-movie-review-data/rotten_tomatoes
language:
- en
library_name: hf_notlike
license: apache-2.0
pipeline_tag: text-classification
tags:
- hf_notlike
- early-exit
- text-classification
- bert
- sentiment
model-index:
- name: tiny-early-exit
  results:
  - task:
      type: text-classification
    dataset:
      name: Rotten Tomatoes
      type: cornell-movie-review-data/rotten_tomatoes
      split: test
    metrics:
    - type: accuracy
      value: 0.75
      name: accuracy (exit threshold 0.8)
    - type: accuracy
      value: 0.8
      name: accuracy (full model)
---

# tiny-early-exit

An early-exit BERT sequence classifier fine-tuned from [google-bert/bert-base-uncased](https://huggingface.co/google-bert/bert-base-uncased) on Rotten Tomatoes, made with [hf_notlike](https://github.com/hf-notlike/hf_notlike). Following Schwartz et al. (ACL 2020), "The Right Tool for the Job: Matching Model and Instance Complexities", a classifier ("exit") sits after 3 of the 4 encoder layers; all exits were trained jointly, and at inference each input leaves at the first exit whose temperature-calibrated confidence `max softmax(z / T)` reaches the threshold, so easy inputs run fewer layers. The configured threshold is **0.8**.

## How to use

With `hf_notlike` installed, the Auto classes know the model (no remote code is run):

```python
import hf_notlike  # registers the early-exit models with the Auto classes
from transformers import AutoModelForSequenceClassification, AutoTokenizer

model = AutoModelForSequenceClassification.from_pretrained("me/tiny-early-exit")
tokenizer = AutoTokenizer.from_pretrained("me/tiny-early-exit")
inputs = tokenizer(["A gripping, beautifully acted film."], padding=True, return_tensors="pt")
outputs = model(**inputs)
outputs.logits      # the logits of the exit each input left at
outputs.exit_layer  # the encoder layer after which each input left
```

Without `hf_notlike`, the repository's own `configuration.py` and `modeling.py` (they import only `torch` and `transformers`) define the model:

```python
model = AutoModelForSequenceClassification.from_pretrained("me/tiny-early-exit", trust_remote_code=True)
```

Both give the same logits and exits. Trade speed for accuracy per call with `model(**inputs, exit_threshold=0.9)` (`1.0` runs every layer), or set `model.config.exit_threshold`; `model(**inputs, output_all_exits=True).exit_logits` returns every exit's logits.

## Exits

| exit | after layer | temperature | training loss weight |
|---:|---:|---:|---:|
| 1 | 1 | 1.5000 | 1 |
| 2 | 2 | 1.2500 | 1 |
| 3 | 4 | 1.0000 | 1 |

Temperatures were calibrated per exit on held-out data (Guo et al., 2017); a row leaves at exit *k* when `max softmax(z_k / T_k) >= threshold`. Each exit reads a learned softmax-weighted mix of the pooled [CLS] states of every layer up to it (`exit_input="weighted_cls"`).

Labels: `0` = rotten, `1` = fresh.

## Speed / accuracy trade-off

| threshold | accuracy | mean layers | speed-up |
|---|---:|---:|---:|
| 0.8000 | 0.7500 | 2.5000 | 1.5000 |
| 1.0000 | 0.8000 | 4.0000 | 1.0000 |


## Citation

```bibtex
@inproceedings{schwartz-etal-2020-right,
    title = "The Right Tool for the Job: Matching Model and Instance Complexities",
    author = "Schwartz, Roy and Stanovsky, Gabriel and Swayamdipta, Swabha and Dodge, Jesse and Smith, Noah A.",
    booktitle = "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics",
    year = "2020",
    pages = "6640--6651",
}
```"""


# a card's worth of settings: two early exits, calibrated temperatures, a threshold, named labels
CARD_FIELDS = dict(exit_layers=[1, 2], exit_input="weighted_cls", temperatures=[1.5, 1.25, 1.0], exit_threshold=0.8, num_labels=2,
                   id2label={0: "rotten", 1: "fresh"}, label2id={"rotten": 0, "fresh": 1})


@pytest.fixture(scope="module")
def card_config(early_exit_config):
    """`card_config(**overrides)`: a tiny early-exit BERT configuration with `CARD_FIELDS`."""
    return lambda **overrides: early_exit_config(**{**CARD_FIELDS, **overrides})


SWEEP = [
    {"threshold": 0.8, "accuracy": 0.75, "mean_layers": 2.5, "speedup": 1.5},
    {"threshold": 1.0, "accuracy": 0.8, "mean_layers": 4.0, "speedup": 1.0},
]


def card_text(folder) -> str:
    return (folder / "README.md").read_text()


def assert_no_local_path(text: str, *paths) -> None:
    for path in paths:
        assert str(path) not in text
    assert "/tmp/" not in text and "/home/" not in text and "/root/" not in text


def test_whole_early_exit_card_text(card_config):
    card = EarlyExitModelCardData(
        sweep=SWEEP, base_model="google-bert/bert-base-uncased", datasets=["cornell-movie-review-data/rotten_tomatoes"],
        dataset_name="Rotten Tomatoes", dataset_split="test", license="apache-2.0", language="en", tags=["sentiment"],
    ).to_card(card_config(), repo_id="me/tiny-early-exit")
    assert str(card) == EXPECTED_CARD


def test_early_exit_card_data_validates(card_config):
    card = EarlyExitModelCardData(sweep=SWEEP, datasets="org/data").to_card(card_config(), repo_id="me/m")
    reparsed = ModelCard(str(card), ignore_metadata_errors=False)  # raises on malformed metadata / model-index
    data = reparsed.data
    assert data.library_name == "hf_notlike" and data.pipeline_tag == "text-classification"
    assert data.tags[:2] == ["hf_notlike", "early-exit"]
    assert [(r.metric_name, r.metric_value) for r in data.eval_results] == [
        ("accuracy (exit threshold 0.8)", 0.75), ("accuracy (full model)", 0.8)
    ]
    # no data known: no eval results (they need a dataset), the card still validates
    bare = EarlyExitModelCardData().to_card(card_config(exit_threshold=1.0), repo_id="me/m")
    assert ModelCard(str(bare), ignore_metadata_errors=False).data.eval_results is None
    assert "No threshold sweep was recorded" in str(bare) and "The temperatures are all 1.0" not in str(bare)
    with pytest.raises(TypeError, match="Unknown model card fields"):
        EarlyExitModelCardData().update(base_modle="typo")
    with pytest.raises(TypeError, match="early-exit configuration"):
        EarlyExitModelCardData().to_card(object())


def test_card_checks_reject_incomplete_cards(card_config):
    text = str(EarlyExitModelCardData().to_card(card_config(), repo_id="me/m"))
    with pytest.raises(ValueError, match="tag 'early-exit' is missing"):
        check_early_exit_card(text.replace("- early-exit\n", ""))
    with pytest.raises(ValueError, match="library_name"):
        check_early_exit_card(text.replace("library_name: hf_notlike", "library_name: transformers"))
    with pytest.raises(ValueError, match="does not parse"):
        check_early_exit_card(text.replace("pipeline_tag: text-classification", "pipeline_tag: [unclosed"))
    with pytest.raises(ValueError, match="local absolute path"):
        check_early_exit_card(text.replace("# m\n", "# /home/me/runs/m\n"))
    with pytest.raises(ValueError, match="configs"):
        check_data_map_card("---\ntags:\n- hf_notlike\n- dataset-cartography\n---\n# x\n")


def test_tradeoff_sweep_file_renders_speedups(tmp_path, card_config):
    sweep = {
        "rows": [
            {"kind": "early_exit", "name": "early exit @ 0.9", "threshold": 0.9, "accuracy": 0.7, "mean_layers": 2.0,
             "ideal_speedup": 2.0, "exit_fractions": [0.5, 0.5], "speedup_bs1": 1.8, "speedup_vs_stock_bs1": 1.7},
            {"kind": "early_exit", "name": "early exit @ 1", "threshold": 1.0, "accuracy": 0.72, "mean_layers": 4.0,
             "ideal_speedup": 1.0, "exit_fractions": [0.0, 1.0], "speedup_bs1": 1.0, "speedup_vs_stock_bs1": 0.9},
            {"kind": "stock", "name": "stock BertForSequenceClassification", "threshold": None, "accuracy": None,
             "mean_layers": 4.0, "ideal_speedup": 1.0, "exit_fractions": None, "speedup_bs1": 1.1,
             "speedup_vs_stock_bs1": 1.0},
        ],
        "batch_sizes": [1], "num_layers": 4, "num_examples": 200, "num_timing_examples": 64, "repeats": 3,
        "info": {"device": "cpu", "torch_threads": 2},
    }
    (tmp_path / "sweep.json").write_text(json.dumps(sweep))
    card = EarlyExitModelCardData(sweep=load_sweep(tmp_path)).to_card(card_config(exit_threshold=0.9), repo_id="me/m")
    text = str(card)
    assert "| model | threshold | accuracy | mean layers | ideal speed-up | speed-up (bs 1) | vs stock (bs 1) |" in text
    assert "| early exit @ 0.9 | 0.9000 | 0.7000 | 2.0000 | 2.0000 | 1.8000 | 1.7000 |" in text
    assert "| stock BertForSequenceClassification |  |  | 4.0000 | 1.0000 | 1.1000 | 1.0000 |" in text
    assert "over 200 evaluation examples; wall-clock speed-ups over 64 of them at batch size 1, best of 3 runs" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ("[]", "non-empty JSON list"), ('[{"accuracy": 0.5}]', "no `threshold`")],
)
def test_malformed_sweep_file_names_the_file(tmp_path, content, message):
    (tmp_path / "sweep.json").write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_sweep(tmp_path)
    assert str(tmp_path / "sweep.json") in str(info.value)
    with pytest.raises(FileNotFoundError, match="sweep.json"):
        load_sweep(tmp_path / "missing")


def test_save_pretrained_writes_card_and_keeps_it_on_reload(tmp_path, card_config):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    model = EarlyExitBertForSequenceClassification(card_config())
    model.card_data.update(base_model="google-bert/bert-base-uncased", datasets=["org/reviews"], sweep=SWEEP)
    model.save_pretrained(tmp_path / "a")
    card = ModelCard.load(tmp_path / "a" / "README.md")
    assert card.data.base_model == "google-bert/bert-base-uncased" and card.data.model_name == "a"
    assert card.data.eval_results[0].metric_value == 0.75
    assert json.loads((tmp_path / "a" / "sweep.json").read_text()) == {"rows": SWEEP}
    # a reloaded model saved elsewhere keeps its name, base model, data and sweep
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "a")
    reloaded.save_pretrained(tmp_path / "b")
    again = ModelCard.load(tmp_path / "b" / "README.md")
    assert again.data.base_model == "google-bert/bert-base-uncased" and again.data.datasets == ["org/reviews"]
    assert again.data.model_name == "a"
    assert json.loads((tmp_path / "b" / "sweep.json").read_text()) == {"rows": SWEEP}
    assert "| 0.8000 | 0.7500 | 2.5000 | 1.5000 |" in str(again)
    # the card of a push names the repo in both loading snippets; no tokenizer saved: the base model's
    text = reloaded.card_data.write_card(reloaded, tmp_path / "b", repo_id="me/x").read_text()
    assert text.count('from_pretrained("me/x"') == 2
    assert 'AutoTokenizer.from_pretrained("google-bert/bert-base-uncased")' in text


def test_card_filled_by_calibration_and_sweep(tmp_path, token_dataset, card_config):
    """`calibrate_temperatures` and `speed_accuracy_curve` record what they measured on the model's card data."""
    from hf_notlike import calibrate_temperatures, speed_accuracy_curve

    torch.manual_seed(0)
    model = EarlyExitBertForSequenceClassification(card_config(temperatures=[1.0, 1.0, 1.0])).eval()
    data = token_dataset(40, num_labels=2)
    calibrate_temperatures(model, data, show_progress=False)
    assert model.card_data.calibration["num_examples"] == 40
    result = speed_accuracy_curve(model, data, [0.6, 1.0], batch_sizes=[1], num_timing_examples=4, repeats=1,
                                  stock_model=False, show_progress=False)
    assert model.card_data.sweep == result.to_dict()
    model.save_pretrained(tmp_path / "calibrated")
    text = card_text(tmp_path / "calibrated")
    assert "calibrated per exit on 40 held-out examples" in text
    accuracy = next(r["accuracy"] for r in result.rows if r["threshold"] == 0.6)
    assert f"| 0.6000 | {accuracy:.4f} |" in text
    assert json.loads((tmp_path / "calibrated" / "sweep.json").read_text()) == json.loads(json.dumps(result.to_dict()))


def test_card_filled_by_training_with_meaningful_names(tmp_path):
    """A backbone loaded from a local folder: the card is named after it (not `model`, never the path), the Trainer
    callback records the training setup, and the snippet names the folder's tokenizer only when it was saved."""
    import datasets
    from transformers import BertConfig, BertModel, Trainer, TrainingArguments

    from hf_notlike import EarlyExitCardCallback

    torch.manual_seed(0)
    base = tmp_path / "tiny-bert-base"
    BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37)).save_pretrained(base)
    model = EarlyExitBertForSequenceClassification.from_pretrained(base, num_labels=2)
    assert model.card_data.base_model is None and model.card_data.base_model_name == "tiny-bert-base"
    train = datasets.Dataset.from_dict(
        {"input_ids": [[2, 5 + i % 7, 3] for i in range(8)], "label": [i % 2 for i in range(8)]}
    )
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=4, num_train_epochs=1,
                             learning_rate=1e-3, report_to=[], save_strategy="no", use_cpu=True, seed=3)
    Trainer(model=model, args=args, train_dataset=train, callbacks=[EarlyExitCardCallback()]).train()
    assert model.card_data.training["train_examples"] == 8 and model.card_data.training["steps"] == 2
    model.card_data.dataset_name = str(tmp_path / "data.csv")  # a local file: only a meaningful name is shown
    model.save_pretrained(tmp_path / "outputs" / "model")
    text = card_text(tmp_path / "outputs" / "model")
    card = ModelCard.load(tmp_path / "outputs" / "model" / "README.md")
    assert card.data.model_name == "tiny-bert-base-early-exit"
    assert "\n# tiny-bert-base-early-exit\n" in text
    assert "Trained with a stock `transformers.Trainer` on 8 examples, 1 epochs, learning rate 0.001, batch size 4, " \
           "seed 3." in text
    assert "# no tokenizer was saved with this model" in text
    assert_no_local_path(text, tmp_path)
    check_early_exit_card(tmp_path / "outputs" / "model" / "README.md")


def test_missing_tokenizer_is_reported_on_load(tmp_path, card_config):
    from transformers import AutoModelForSequenceClassification
    from transformers.testing_utils import CaptureLogger

    from hf_notlike.early_exit import modeling

    EarlyExitBertForSequenceClassification(card_config()).save_pretrained(tmp_path / "m")
    with CaptureLogger(modeling.logger) as captured:
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "m")
    assert "has no tokenizer files" in captured.out and "tokenizer.save_pretrained" in captured.out
    (tmp_path / "m" / "tokenizer.json").write_text("{}")
    with CaptureLogger(modeling.logger) as captured:
        AutoModelForSequenceClassification.from_pretrained(tmp_path / "m")
    assert "tokenizer" not in captured.out


def test_data_map_card(tmp_path):
    gold = np.array([[0.1, 0.2], [0.9, 0.95], [0.2, 0.9], [0.5, 0.6], [0.8, 0.7], [0.3, 0.1]])
    data_map = DataMap(gold, gold > 0.5, model_name="tiny-bert", dataset_name="toy")
    data_map.save_pretrained(tmp_path)
    card = DatasetCard.load(tmp_path / "README.md")
    metadata = check_data_map_card(tmp_path / "README.md")
    assert metadata["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data_map.parquet"}]}
    ]
    assert metadata["size_categories"] == ["n<1K"] and "dataset-cartography" in metadata["tags"]
    text = card.text
    # regions at 33% of 6 examples: 2 each; the statistics are those of the map
    assert "| easy-to-learn | 2 | 33.3% |" in text and "| hard-to-learn | 2 | 33.3% |" in text
    assert f"| confidence | {data_map.confidence.mean():.4f} |" in text
    assert "| `variability` | population standard deviation of p<sub>i,e</sub> over epochs |" in text
    assert "| model | tiny-bert |" in text and "| epochs | 2 |" in text
    assert "![Data map: variability (x) against confidence (y), coloured by correctness](data_map.png)" in text
    assert card.data.pretty_name == "Data map of toy (tiny-bert)"


def test_data_map_names_never_show_paths_or_builder_names(tmp_path):
    """A map recorded from a local model folder on a CSV file: card and plot are named after the folders."""
    gold = np.array([[0.1, 0.2], [0.9, 0.95], [0.2, 0.9]])
    model_dir = tmp_path / "minilm-rt" / "checkpoint-500"
    data_map = DataMap(gold, gold > 0.5, model_name=str(model_dir), dataset_name="csv")
    data_map.save_pretrained(tmp_path / "rt-map")
    card = DatasetCard.load(tmp_path / "rt-map" / "README.md")
    assert card.data.pretty_name == "Data map of rt-map (minilm-rt)" and "base_model" not in card.data.to_dict()
    assert "| model | minilm-rt |" in card.text and " csv" not in card.text
    assert_no_local_path(str(card), tmp_path)
    figure = data_map.plot()
    assert figure.get_suptitle() == "Data map: minilm-rt (3 examples, 2 epochs)"
    hub_named = DataMap(gold, gold > 0.5, model_name="org/bert-base", dataset_name="org/reviews")
    hub_named.save_pretrained(tmp_path / "hub-map", plot=False)
    card = DatasetCard.load(tmp_path / "hub-map" / "README.md")
    assert card.data.to_dict()["base_model"] == "org/bert-base" and card.data.source_datasets == ["org/reviews"]
    assert card.data.pretty_name == "Data map of reviews (bert-base)"


def test_render_model_cards_script(tmp_path, card_config, load_example):
    """examples/render_model_cards.py renders whatever artifacts exist (here: one model with its sweep, one map)."""
    module = load_example("render_model_cards")

    outputs = tmp_path / "outputs"
    torch.manual_seed(0)
    EarlyExitBertForSequenceClassification(card_config()).save_pretrained(outputs / "early_exit" / "rt" / "model")
    sweep = {"rows": SWEEP, "batch_sizes": [1], "num_layers": 4, "num_examples": 50, "num_timing_examples": 20,
             "repeats": 2, "info": {"train_examples": 400, "epochs": 2.0, "learning_rate": 5e-5, "max_length": 64,
                                    "threads": 1, "validation_examples": 60, "test_examples": 50,
                                    "chosen_threshold": 0.8}}
    (outputs / "early_exit" / "rt" / "model" / "sweep.json").write_text(json.dumps(sweep))
    gold = np.random.default_rng(0).uniform(size=(6, 2))
    DataMap(gold, gold > 0.5, model_name="sentence-transformers/all-MiniLM-L6-v2").save_pretrained(
        outputs / "cartography" / "rotten_tomatoes_map"
    )
    cards = tmp_path / "model_cards"
    assert module.main(["--outputs", str(outputs), "--model-cards", str(cards)]) == 0
    model_card = check_early_exit_card(cards / "minilm-l6-early-exit-rotten-tomatoes" / "README.md")
    assert model_card["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    text = (cards / "minilm-l6-early-exit-rotten-tomatoes" / "README.md").read_text()
    assert "Training: 400 examples, 2 epochs, learning rate 5e-05" in text and "threshold 0.8 was also chosen" in text
    assert "| 0.8000 | 0.7500 | 2.5000 | 1.5000 |" in text
    assert not (cards / "minilm-l6-early-exit-20newsgroups").exists()  # no artifact: skipped
    check_data_map_card(cards / "data-map-rotten-tomatoes" / "README.md")
    assert (cards / "data-map-rotten-tomatoes" / "data_map.png").is_file()


def test_card_names_every_backbone():
    from hf_notlike import EarlyExitDistilBertConfig, EarlyExitElectraConfig, EarlyExitXLMRobertaConfig

    tiny = dict(vocab_size=100, num_labels=2)
    for config, name in (
        (EarlyExitElectraConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                                embedding_size=16, **tiny), "ELECTRA"),
        (EarlyExitDistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, **tiny), "DistilBERT"),
        (EarlyExitXLMRobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                                   **tiny), "XLM-RoBERTa"),
    ):
        card = EarlyExitModelCardData().to_card(config, repo_id="me/m")
        assert f"An early-exit {name} sequence classifier" in str(card)
        assert card.data.tags[:4] == ["hf_notlike", "early-exit", "text-classification", name.lower()]

