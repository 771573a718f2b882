"""The Hub round trips of `test_hub_roundtrip.py` against the real Hugging Face Hub: run only with `HF_TOKEN` set
(`pytest -m hub`); the repos are created private under the token's user and deleted afterwards."""

import json
import os
import uuid

import pytest
from hub_helpers import child_env, model_round_trip, run_python

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(not os.environ.get("HF_TOKEN"), reason="needs HF_TOKEN (a write token) for the real Hub"),
]


@pytest.fixture
def real_hub_repo():
    from huggingface_hub import HfApi

    api = HfApi(token=os.environ["HF_TOKEN"])
    created = []

    def make(kind: str, repo_type: str = "model") -> str:
        repo_id = f"{api.whoami()['name']}/hf-notlike-test-{kind}-{uuid.uuid4().hex[:8]}"
        api.create_repo(repo_id, repo_type=repo_type, private=True)
        created.append((repo_id, repo_type))
        return repo_id

    yield make
    for repo_id, repo_type in created:
        api.delete_repo(repo_id, repo_type=repo_type, missing_ok=True)


def real_env() -> dict[str, str]:
    return {"HF_TOKEN": os.environ["HF_TOKEN"], "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0"}


def test_early_exit_model_round_trip_on_the_hub(real_hub_repo, tmp_path):
    repo_id = real_hub_repo("early-exit")
    model_round_trip("bert", repo_id, child_env(real_env(), tmp_path), tmp_path)


def test_data_map_round_trip_on_the_hub(real_hub_repo, tmp_path):
    repo_id = real_hub_repo("data-map", repo_type="dataset")
    env = child_env(real_env(), tmp_path)
    run_python(
        "import numpy as np\nfrom hf_notlike.cartography import DataMap\n"
        "gold = np.linspace(0.05, 0.95, 30).reshape(10, 3)\n"
        f"DataMap(gold, gold > 0.5, model_name='tiny-bert').push_to_hub({repo_id!r})\n",
        env, cwd=tmp_path,
    )
    run_python(
        "import json, numpy as np\nfrom hf_notlike.cartography import DataMap\nfrom datasets import load_dataset\n"
        f"dm = DataMap.from_pretrained({repo_id!r})\ntable = load_dataset({repo_id!r}, split='train')\n"
        "json.dump({'gold': dm.gold_probs.tolist(), 'rows': len(table)}, open('loaded.json', 'w'))\n",
        env, cwd=tmp_path,
    )
    import numpy as np

    loaded = json.loads((tmp_path / "loaded.json").read_text())
    assert np.allclose(loaded["gold"], np.linspace(0.05, 0.95, 30).reshape(10, 3), atol=1e-7)
    assert loaded["rows"] == 10
