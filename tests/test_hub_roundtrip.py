"""Push -> fresh process -> load round trips through the real `huggingface_hub` client and a local Hub-compatible
server (`tests/hub_server.py`): early-exit models (with and without hf_notlike installed) and data maps."""

import json
from pathlib import Path

import pytest
import yaml
from hub_helpers import SWEEP, child_env, model_round_trip, run_python

import hf_notlike

pytestmark = pytest.mark.slow  # fresh Python processes push to and load from the local Hub

PACKAGE = Path(hf_notlike.__file__).parent


@pytest.mark.parametrize(("arch", "via"), [("bert", "push_to_hub"), ("roberta", "save_pretrained")])
def test_early_exit_model_round_trip(local_hub, tmp_path, arch, via):
    repo_id = f"{local_hub.user}/tiny-early-exit-{arch}"
    env = child_env(local_hub.client_env(), tmp_path)
    model_round_trip(arch, repo_id, env, tmp_path, via=via)

    files = local_hub.files(repo_id)
    assert {"config.json", "model.safetensors", "README.md", "modeling.py", "configuration.py", "adapters.py",
            "sweep.json"} <= set(files)
    assert not [name for name in files if name.endswith((".bin", ".pkl", ".pickle", ".pt", ".pth"))]
    # the weights went through the LFS batch API, as on the Hub
    assert local_hub.repos[("model", repo_id)].head.files["model.safetensors"].lfs_sha256 is not None
    assert any(path.endswith(".git/info/lfs/objects/batch") for _, path, _ in local_hub.requests)
    # the remote code is the package's own, self-contained source
    for name in ("modeling.py", "configuration.py", "adapters.py"):
        assert files[name] == (PACKAGE / "early_exit" / name).read_bytes()
    config = json.loads(files["config.json"])
    prefix = "Bert" if arch == "bert" else "Roberta"
    assert config["auto_map"] == {
        "AutoConfig": f"configuration.EarlyExit{prefix}Config",
        "AutoModelForSequenceClassification": f"modeling.EarlyExit{prefix}ForSequenceClassification",
    }
    # our card, written from `model.card_data` before the upload
    readme = files["README.md"].decode()
    metadata = yaml.safe_load(readme.split("---")[1])
    assert metadata["library_name"] == "hf_notlike"
    assert {"hf_notlike", "early-exit"} <= set(metadata["tags"])
    assert metadata["base_model"] == "google-bert/bert-base-uncased"
    assert metadata["model-index"][0]["results"][0]["dataset"]["type"] == "cornell-movie-review-data/rotten_tomatoes"
    assert f"model = AutoModelForSequenceClassification.from_pretrained(\"{repo_id}\")" in readme
    assert "| 0.8000 | 0.7800 | 2.9000 | 1.3100 |" in readme
    assert json.loads(files["sweep.json"]) == {"rows": SWEEP}  # the sweep the card data read, saved with the card
    assert local_hub.unhandled == []


def test_data_map_round_trip(local_hub, tmp_path):
    import numpy as np

    from hf_notlike.cartography import DataMap

    rng = np.random.default_rng(0)
    gold = rng.uniform(size=(40, 3)).astype(np.float32)
    correct = gold > 0.45
    ids = np.arange(100, 140)
    original = DataMap(gold, correct, ids, id_column="idx", model_name="tiny-bert", dataset_name="toy-reviews")
    (tmp_path / "arrays.json").write_text(
        json.dumps({"gold": gold.tolist(), "correct": correct.tolist(), "ids": ids.tolist()})
    )
    repo_id = f"{local_hub.user}/tiny-data-map"
    env = child_env(local_hub.client_env(), tmp_path)
    run_python(
        "import json\nfrom hf_notlike.cartography import DataMap\n"
        "a = json.load(open('arrays.json'))\n"
        "dm = DataMap(a['gold'], a['correct'], a['ids'], id_column='idx', model_name='tiny-bert',"
        " dataset_name='toy-reviews')\n"
        f"print(dm.push_to_hub({repo_id!r}))\n",
        env, cwd=tmp_path,
    )
    files = local_hub.files(repo_id, "dataset")
    assert {"data_map.parquet", "data_map.json", "data_map.png", "README.md"} <= set(files)
    assert local_hub.repos[("dataset", repo_id)].head.files["data_map.parquet"].lfs_sha256 is not None
    readme = files["README.md"].decode()
    metadata = yaml.safe_load(readme.split("---")[1])
    assert {"hf_notlike", "dataset-cartography"} <= set(metadata["tags"])
    assert metadata["configs"][0]["data_files"][0]["path"] == "data_map.parquet"
    assert "![Data map" in readme and "(data_map.png)" in readme

    run_python(
        "import json\nfrom hf_notlike.cartography import DataMap\nfrom datasets import load_dataset\n"
        f"dm = DataMap.from_pretrained({repo_id!r})\n"
        f"table = load_dataset({repo_id!r}, split='train')\n"
        "json.dump({'gold': dm.gold_probs.tolist(), 'correct': dm.correct.tolist(), 'ids': dm.ids.tolist(),"
        " 'id_column': dm.id_column, 'model': dm.model_name, 'dataset': dm.dataset_name,"
        " 'table_ids': list(table['id']), 'table_confidence': list(table['confidence']),"
        " 'columns': table.column_names},"
        " open('loaded.json', 'w'))\n",
        env, cwd=tmp_path,
    )
    loaded = json.loads((tmp_path / "loaded.json").read_text())
    assert np.array_equal(np.asarray(loaded["gold"], dtype=np.float32), gold)
    assert loaded["correct"] == correct.tolist() and loaded["ids"] == ids.tolist()
    assert (loaded["id_column"], loaded["model"], loaded["dataset"]) == ("idx", "tiny-bert", "toy-reviews")
    # datasets.load_dataset(repo_id) reads the per-example table through the card's `configs`
    assert loaded["table_ids"] == ids.tolist()
    assert np.array_equal(np.asarray(loaded["table_confidence"], dtype=np.float32), original.confidence)
    assert {"id", "confidence", "variability", "correctness", "forgetfulness"} <= set(loaded["columns"])
    assert local_hub.unhandled == []
