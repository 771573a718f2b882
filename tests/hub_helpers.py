"""Helpers of the Hub round-trip tests: child Python processes that talk to a Hub (the local test server or the real
one) through the environment, and the scripts they run. Results come back as JSON / safetensors files, never pickle.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

# Put first in a child script, this makes `import hf_notlike` fail in that process (a None entry in sys.modules
# stops the import system), as on a machine where hf_notlike is not installed.
BLOCK_HF_NOTLIKE = textwrap.dedent(
    """
    import sys
    sys.modules["hf_notlike"] = None
    try:
        import hf_notlike  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("hf_notlike should not be importable here")
    """
)

# Fixed inputs (right-padded) on which logits and exits are compared; vocab ids < 100 fit the tiny test models.
INPUT_IDS = [[2, 15, 27, 33, 41, 3, 0, 0], [2, 7, 7, 9, 3, 0, 0, 0], [2, 50, 61, 72, 83, 94, 5, 3]]
ATTENTION_MASK = [[1 if t else 0 for t in row] for row in INPUT_IDS]

PREDICT = textwrap.dedent(
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification

    def predict(model, path):
        input_ids = torch.tensor({input_ids})
        attention_mask = torch.tensor({attention_mask})
        model.eval()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # the same reduction order in every process: bitwise-comparable logits
        try:
            with torch.no_grad():
                out = model(input_ids=input_ids, attention_mask=attention_mask)
                full = model(input_ids=input_ids, attention_mask=attention_mask, output_all_exits=True)
        finally:
            torch.set_num_threads(threads)
        save_file({{"logits": out.logits.contiguous(), "exit_layer": out.exit_layer.contiguous(),
                    "exit_logits": full.exit_logits.contiguous()}}, path)
    """
).format(input_ids=INPUT_IDS, attention_mask=ATTENTION_MASK)


def run_python(code: str, env: dict[str, str], cwd: str | os.PathLike, timeout: float = 300) -> str:
    """Runs `code` in a fresh Python process with `env` added to this one's environment (PYTHONPATH included, so the
    child imports the hf_notlike under test); returns its stdout, and fails the test with the child's output when it
    exits non-zero."""
    child_env = {**os.environ, **env}
    result = subprocess.run(
        [sys.executable, "-c", code], env=child_env, cwd=str(cwd), capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(
            f"child process failed ({result.returncode}):\n--- stdout\n{result.stdout[-4000:]}\n"
            f"--- stderr\n{result.stderr[-6000:]}"
        )
    return result.stdout


def child_env(hub_env: dict[str, str], home: Path) -> dict[str, str]:
    """The Hub environment plus a private cache (models, datasets, dynamic modules) for one test."""
    return {
        **hub_env,
        "HF_HOME": str(home / "hf_home"),
        "HF_DATASETS_CACHE": str(home / "hf_datasets"),
        "HF_MODULES_CACHE": str(home / "hf_modules"),
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


def predictions(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def push_model_script(model_dir: str, repo_id: str, via: str = "push_to_hub") -> str:
    """A child script that loads an early-exit model saved in `model_dir` and pushes it to `repo_id`, either with
    `model.push_to_hub(repo_id)` or with `model.save_pretrained(tmp, push_to_hub=True, repo_id=repo_id)`."""
    if via == "push_to_hub":
        push = f"print(model.push_to_hub({repo_id!r}))"
    else:
        push = textwrap.dedent(
            f"""
            import tempfile
            with tempfile.TemporaryDirectory() as tmp:
                model.save_pretrained(tmp, push_to_hub=True, repo_id={repo_id!r})
            """
        )
    return textwrap.dedent(
        f"""
        import hf_notlike
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained({model_dir!r})
        """
    ) + push


def load_model_script(repo_id: str, out_path: str, remote_code: bool) -> str:
    """A child script that loads `repo_id` with `AutoModelForSequenceClassification` and saves its predictions on the
    fixed inputs to `out_path`; with `remote_code`, hf_notlike is made unimportable first and
    `trust_remote_code=True` is passed."""
    head = BLOCK_HF_NOTLIKE if remote_code else "import hf_notlike\n"
    check = (
        "assert type(model).__module__.startswith('transformers_modules.'), type(model).__module__\n"
        "assert 'hf_notlike' not in [m.split('.')[0] for m, v in sys.modules.items() if v is not None]\n"
        if remote_code
        else "assert type(model).__module__ == 'hf_notlike.early_exit.modeling', type(model).__module__\n"
    )
    return (
        head
        + PREDICT
        + textwrap.dedent(
            f"""
            import sys
            model = AutoModelForSequenceClassification.from_pretrained({repo_id!r}, trust_remote_code={remote_code})
            """
        )
        + check
        + f"predict(model, {out_path!r})\nprint(type(model).__module__)\n"
    )


def data_map_arrays(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


# --------------------------------------------------------------------------------------------- round trips
TINY = dict(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
            max_position_embeddings=64, initializer_range=0.5)
SWEEP = [
    {"threshold": 0.5, "accuracy": 0.71, "mean_layers": 1.8, "speedup": 2.05},
    {"threshold": 0.8, "accuracy": 0.78, "mean_layers": 2.9, "speedup": 1.31},
    {"threshold": 1.0, "accuracy": 0.8, "mean_layers": 4.0, "speedup": 1.0},
]


def tiny_early_exit_model(arch: str, seed: int = 0):
    """A tiny random early-exit model whose exits differ across the fixed inputs: the threshold is set between the
    first exit's calibrated confidences, so some rows leave at layer 1 and others later."""
    from hf_notlike import (
        EarlyExitBertConfig,
        EarlyExitBertForSequenceClassification,
        EarlyExitRobertaConfig,
        EarlyExitRobertaForSequenceClassification,
    )
    from hf_notlike.early_exit import exit_confidences

    config_class, model_class = {
        "bert": (EarlyExitBertConfig, EarlyExitBertForSequenceClassification),
        "roberta": (EarlyExitRobertaConfig, EarlyExitRobertaForSequenceClassification),
    }[arch]
    extra = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2} if arch == "roberta" else {}
    config = config_class(**TINY, **extra, num_labels=3, exit_layers=[1, 2], temperatures=[1.7, 1.3, 1.0],
                          id2label={0: "negative", 1: "neutral", 2: "positive"},
                          label2id={"negative": 0, "neutral": 1, "positive": 2})
    torch.manual_seed(seed)
    model = model_class(config).eval()
    with torch.no_grad():
        exit_logits = model(input_ids=torch.tensor(INPUT_IDS), attention_mask=torch.tensor(ATTENTION_MASK),
                            output_all_exits=True).exit_logits
    first = exit_confidences(exit_logits, model.config.temperatures)[:, 0].sort().values
    model.config.exit_threshold = float((first[0] + first[-1]) / 2)
    return model


def reference_predictions(model, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    namespace: dict = {}
    exec(PREDICT, namespace)
    namespace["predict"](model, str(path))
    return predictions(path)


def assert_same_predictions(
    expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor], exact: bool = False
) -> None:
    """Exit decisions must be identical. Logits are compared bitwise when `exact`, else to float32 rounding: the
    early-exit path runs the surviving rows as a smaller batch, and CPU matmul kernels may round such a batch
    differently depending on the memory alignment of the weights (a freshly built model vs one loaded from
    safetensors differ by ~1e-7 in the same process)."""
    assert set(got) == set(expected)
    assert torch.equal(expected["exit_layer"], got["exit_layer"]), (expected["exit_layer"], got["exit_layer"])
    for key in ("logits", "exit_logits"):
        if exact:
            assert torch.equal(expected[key], got[key]), f"{key} differs: {expected[key]} vs {got[key]}"
        else:
            # float32 logits: a few ulps relative to their magnitude (rtol), plus a floor for logits near 0
            torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6, msg=f"{key} differs")


def model_round_trip(arch: str, repo_id: str, env: dict[str, str], tmp_path: Path, via: str = "push_to_hub") -> dict:
    """Saves a tiny early-exit model (with a sweep and card info) locally, pushes it from a child process, and loads
    it back in two fresh processes: with hf_notlike (no remote code) and, with hf_notlike unimportable, with
    `trust_remote_code=True`. Asserts identical logits, exit layers and per-exit logits; returns the reference."""
    model = tiny_early_exit_model(arch)
    source = tmp_path / "source"
    (source).mkdir()
    (source / "sweep.json").write_text(json.dumps(SWEEP))
    model.card_data.update(base_model="google-bert/bert-base-uncased",
                           datasets=["cornell-movie-review-data/rotten_tomatoes"], dataset_split="test")
    model.save_pretrained(source)
    expected = reference_predictions(model, tmp_path / "expected.safetensors")
    assert len(set(expected["exit_layer"].tolist())) > 1, "the fixed inputs should leave at different exits"

    run_python(push_model_script(str(source), repo_id, via=via), env, cwd=tmp_path)
    loaded = {}
    for remote_code in (False, True):
        out = tmp_path / f"loaded_remote={remote_code}.safetensors"
        stdout = run_python(load_model_script(repo_id, str(out), remote_code), env, cwd=tmp_path)
        assert ("transformers_modules." in stdout) == remote_code
        loaded[remote_code] = predictions(out)
        assert_same_predictions(expected, loaded[remote_code])
    # the two load paths run the same weights through the same code: bitwise identical
    assert_same_predictions(loaded[False], loaded[True], exact=True)
    return expected
