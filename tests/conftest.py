"""Shared pytest fixtures. Each part of the library keeps its own helpers in its test modules; only what several
parts need lives here."""

import os

import pytest

# Everything the tests load is built in code or shipped by an installed package (the Hub tests start their own
# local server); telemetry would be the only outgoing request.
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


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


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The tests run tiny models, which gain nothing from intra-op threads; on a shared 2-core machine extra threads
    only contend (seen here: a tiny-model pass 40x slower with 2 threads under load)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
