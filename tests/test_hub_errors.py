"""Repos with missing or malformed files: loading fails with an error that names the file."""

import json
import textwrap

import numpy as np
import pytest
from hub_helpers import BLOCK_HF_NOTLIKE, child_env, run_python, tiny_early_exit_model

PROBE = textwrap.dedent(
    """
    import json, sys
    from transformers import AutoModelForSequenceClassification

    def attempt(load):
        try:
            load()
        except Exception as error:
            return f"{type(error).__name__}: {error}"
        return "LOADED"

    results = {}
    for repo_id in MODEL_REPOS:
        results[repo_id] = attempt(
            lambda: AutoModelForSequenceClassification.from_pretrained(repo_id, trust_remote_code=REMOTE)
        )
    for repo_id in DATA_MAP_REPOS:
        from hf_notlike.cartography import DataMap
        results[repo_id] = attempt(lambda: DataMap.from_pretrained(repo_id))
    json.dump(results, open(OUT, "w"))
    """
)


@pytest.fixture(scope="module")
def broken_repos(local_hub, tmp_path_factory):
    """Model and data-map repos with one file missing or malformed each, committed straight into the local Hub."""
    from hf_notlike.cartography import DataMap

    tmp = tmp_path_factory.mktemp("broken")
    model = tiny_early_exit_model("bert")
    model.save_pretrained(tmp / "model")
    files = {p.name: p.read_bytes() for p in (tmp / "model").iterdir()}
    DataMap(np.full((6, 2), 0.5), np.ones((6, 2), bool)).save_pretrained(tmp / "map", plot=False)
    map_files = {p.name: p.read_bytes() for p in (tmp / "map").iterdir()}
    user = local_hub.user
    config = json.loads(files["config.json"])
    models = {
        "no-weights": ({k: v for k, v in files.items() if k != "model.safetensors"}, "model.safetensors"),
        "no-config": ({k: v for k, v in files.items() if k != "config.json"}, "config.json"),
        "bad-config": ({**files, "config.json": b"{not json"}, "config.json"),
        "no-modeling": ({k: v for k, v in files.items() if k != "modeling.py"}, "modeling.py"),
        "bad-exits": ({**files, "config.json": json.dumps({**config, "temperatures": [1.0]}).encode()},
                      "temperatures"),
    }
    maps = {
        "map-no-table": ({k: v for k, v in map_files.items() if k != "data_map.parquet"}, "data_map.parquet"),
        "map-no-metadata": ({k: v for k, v in map_files.items() if k != "data_map.json"}, "data_map.json"),
        "map-bad-metadata": ({**map_files, "data_map.json": b"{oops"}, "data_map.json"),
        "map-bad-table": ({**map_files, "data_map.parquet": b"PAR1 not parquet"}, "data_map.parquet"),
    }
    for name, (content, _) in models.items():
        local_hub.add_repo(f"{user}/{name}", "model", content)
    for name, (content, _) in maps.items():
        local_hub.add_repo(f"{user}/{name}", "dataset", content)
    expected = {f"{user}/{name}": needle for name, (_, needle) in {**models, **maps}.items()}
    return tmp, expected


def run_probe(local_hub, tmp, model_repos, map_repos, remote):
    out = tmp / f"errors_remote={remote}.json"
    head = BLOCK_HF_NOTLIKE if remote else "import hf_notlike\n"
    setup = f"MODEL_REPOS = {model_repos!r}\nDATA_MAP_REPOS = {map_repos!r}\nREMOTE = {remote}\nOUT = {str(out)!r}\n"
    run_python(head + setup + PROBE, child_env(local_hub.client_env(), tmp / f"home_{remote}"), cwd=tmp)
    return json.loads(out.read_text())


@pytest.mark.slow  # fresh Python processes load from the local Hub
def test_broken_repos_name_the_file(local_hub, broken_repos):
    tmp, expected = broken_repos
    user = local_hub.user
    model_repos = [r for r in expected if not r.startswith(f"{user}/map-") and not r.endswith("no-modeling")]
    map_repos = [r for r in expected if r.startswith(f"{user}/map-")]
    results = run_probe(local_hub, tmp, model_repos, map_repos, remote=False)
    for repo_id in model_repos + map_repos:
        assert results[repo_id] != "LOADED", repo_id
        assert expected[repo_id] in results[repo_id], (repo_id, results[repo_id])


@pytest.mark.slow  # a fresh Python process without hf_notlike
def test_remote_code_repo_without_modeling_file(local_hub, broken_repos):
    """Without hf_notlike, the repo's modeling.py is the model: its absence is named."""
    tmp, expected = broken_repos
    repos = [f"{local_hub.user}/no-modeling", f"{local_hub.user}/no-weights"]
    results = run_probe(local_hub, tmp, repos, [], remote=True)
    for repo_id in repos:
        assert results[repo_id] != "LOADED"
        assert expected[repo_id] in results[repo_id], (repo_id, results[repo_id])


# ------------------------------------------------------------------------------ network failures of our Hub calls
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: the connection is refused at once


@pytest.fixture
def small_map():
    from hf_notlike.cartography import DataMap

    gold = np.array([[0.2, 0.4], [0.9, 0.95], [0.5, 0.7]])
    return DataMap(gold, gold > 0.5)


def test_unreachable_hub_names_what_was_pushed_and_where(monkeypatch, small_map):
    from huggingface_hub import constants

    from hf_notlike.hub import HubConnectionError

    monkeypatch.setattr(constants, "ENDPOINT", UNREACHABLE)
    model = tiny_early_exit_model("bert")
    with pytest.raises(OSError) as info:
        model.push_to_hub("me/tiny-early-exit", token="hf_x")
    message = str(info.value)
    assert "push the model" in message and "'me/tiny-early-exit'" in message and UNREACHABLE in message
    assert "network connection" in message and "HF_ENDPOINT" in message
    with pytest.raises(HubConnectionError, match=r"push the data map .*'me/map' on http://127\.0\.0\.1:9.*network"):
        small_map.push_to_hub("me/map", endpoint=UNREACHABLE, token="hf_x")
    with pytest.raises(HubConnectionError, match=r"download the data map .*'me/map'.*did not answer"):
        type(small_map).from_pretrained("me/map")


def test_offline_mode_and_refused_token(monkeypatch, local_hub, small_map):
    from huggingface_hub import constants

    from hf_notlike.hub import HubConnectionError

    with pytest.raises(HubConnectionError, match=r"'me/map' on .*refused the request \(401\)\. Check your token"):
        small_map.push_to_hub(f"{local_hub.user}/map".replace(local_hub.user, "me"), endpoint=local_hub.url,
                              token="hf_wrong")
    monkeypatch.setattr(constants, "ENDPOINT", local_hub.url)
    with pytest.raises(OSError, match=r"push the model to the model repo 'me/m' .*refused the token"):
        tiny_early_exit_model("bert").push_to_hub("me/m", token="hf_wrong")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match=r"push the model .*offline mode is on \(HF_HUB_OFFLINE=1\)"):
        tiny_early_exit_model("bert").push_to_hub("me/m", token="hf_x")
    with pytest.raises(HubConnectionError, match="offline mode is on"):
        small_map.push_to_hub("me/map", token="hf_x")
