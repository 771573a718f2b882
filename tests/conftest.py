"""Shared pytest fixtures: the offline MiniLM checkpoint, the local Hub server, one torch thread, a saved data map
for the CLI tests, the example scripts as modules (`load_example`), and the tiny early-exit models and data of `early_exit_helpers.py` (builders handed out as fixtures; no test module imports
another). Test modules parametrize over the supported backbones with `hf_notlike.early_exit.EARLY_EXIT_MODELS`."""

import os

import pytest

# Everything the tests load is built in code or shipped by an installed package (the Hub tests start their own
# local server); telemetry would be the only outgoing request.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Hypothesis: the default profile draws the same examples on every machine (`derandomize`), so the suite passes or
# fails the same way everywhere; `HYPOTHESIS_PROFILE=explore` draws new random examples on every run (run it a few
# times when changing input handling: docs/development.md).
from hypothesis import settings  # noqa: E402

settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))


@pytest.fixture(scope="session")
def load_example():
    """`load_example("name")`: the script `examples/name.py` imported as a module (its `main` not run), for tests
    of the examples' own functions."""
    import importlib.util
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"example_{name}", examples / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """Folder of the shipped all-MiniLM-L6-v2 checkpoint (BERT, 6 layers, with its fast tokenizer)."""
    from hf_notlike.resources import minilm_path

    return minilm_path()


@pytest.fixture(scope="session")
def bert_tokenizer(minilm_path):
    """The MiniLM WordPiece tokenizer (fast)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def local_hub():
    """A Hub-compatible HTTP server on 127.0.0.1 (`tests/hub_server.py`) for the session. Child processes reach it
    with `local_hub.client_env()` (HF_ENDPOINT, a fake HF_TOKEN, HF_HUB_DISABLE_XET)."""
    from hub_server import LocalHub

    with LocalHub() as hub:
        yield hub


@pytest.fixture
def map_dir(tmp_path):
    """A data map of 4 examples over 3 epochs, saved (no card, no plot) in `tmp_path / "map"`: the CLI tests' input."""
    import numpy as np

    from hf_notlike.cartography import DataMap

    gold = np.array([[0.9, 0.9, 0.9], [0.1, 0.9, 0.1], [0.1, 0.2, 0.1], [0.6, 0.4, 0.8]], dtype=np.float32)
    return DataMap(gold, gold > 0.5).save_pretrained(tmp_path / "map", card=False, plot=False)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run tiny models, which gain nothing from intra-op threads; on a shared 2-core machine extra threads
    only contend (seen here: a tiny-model pass 40x slower with 2 threads under load)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# --------------------------------------------------------------------------------- tiny early-exit models and data


@pytest.fixture(scope="session")
def early_exit_model():
    """`early_exit_model(arch="bert", seed=0, vocab_size=100, exit_scale=None, **config)`: a tiny random early-exit
    model (4 layers, hidden 32, 3 labels, an exit after every layer) in eval mode."""
    from early_exit_helpers import early_exit_model

    return early_exit_model


@pytest.fixture(scope="session")
def early_exit_config():
    """`early_exit_config(arch="bert", vocab_size=100, **overrides)`: the configuration of `early_exit_model`."""
    from early_exit_helpers import early_exit_config

    return early_exit_config


@pytest.fixture(scope="session")
def backbone_config():
    """`backbone_config(arch="bert", vocab_size=100, **overrides)`: the stock configuration of the same shape."""
    from early_exit_helpers import backbone_config

    return backbone_config


@pytest.fixture(scope="session")
def stock_classifier():
    """`stock_classifier(arch, folder, num_labels=3, seed=0)`: a tiny random stock `*ForSequenceClassification`,
    saved in `folder`."""
    from early_exit_helpers import stock_classifier

    return stock_classifier


@pytest.fixture(scope="session")
def padded_batch():
    """`padded_batch(model, batch_size=8, seq_len=12, seed=1) -> (input_ids, attention_mask)`, right-padded."""
    from early_exit_helpers import padded_batch

    return padded_batch


@pytest.fixture(scope="session")
def all_exit_confidences():
    """`all_exit_confidences(model, ids, mask) -> (exit_logits, confidences)` of the all-exits pass."""
    from early_exit_helpers import all_exit_confidences

    return all_exit_confidences


@pytest.fixture(scope="session")
def toy_dataset():
    """`toy_dataset(n=64, vocab_size=100, seq_len=8, seed=0)`: a learnable two-class task for the Trainer."""
    from early_exit_helpers import toy_dataset

    return toy_dataset


@pytest.fixture(scope="session")
def token_dataset():
    """`token_dataset(n, num_labels=3, seed=0, with_labels=True, bos=2, eos=3, max_length=12)`: random tokenized
    rows of different lengths with a `label` column."""
    from early_exit_helpers import token_dataset

    return token_dataset


@pytest.fixture(scope="session")
def config_errors():
    """The exceptions an invalid early-exit configuration raises: `ValueError` and transformers' `@strict` error."""
    from early_exit_helpers import CONFIG_ERRORS

    return CONFIG_ERRORS


@pytest.fixture(autouse=True)
def _library_logs_reach_caplog():
    """The `hf_notlike` logger does not propagate to the root logger (like transformers'), where pytest's `caplog`
    listens: let it propagate during each test so `caplog` sees the library's messages."""
    import hf_notlike

    hf_notlike.logging.enable_propagation()
    yield
    hf_notlike.logging.disable_propagation()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    import socket

    def refuse(self, address, *args, **kwargs):
        raise AssertionError(f"network access attempted: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
