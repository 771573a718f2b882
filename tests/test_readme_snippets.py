"""The Python examples users read, run exactly as written on tiny models and data: every ```python block of
README.md and of the guides (`docs/guides/*.md`, `docs/hub.md`).

Each document's snippets are executed in order with `exec`, in the working directory of a temporary folder, so
relative paths in the snippets ("my-early-exit-model", "out", "speed_accuracy.png", ...) work as written. What a
reader brings to a snippet (their own data, collator, batch) comes from `reader_names`, and the placeholder paths
are mapped to tiny saved models by `placeholders` (the only text substitution made):

| placeholder | replaced by |
|---|---|
| `"path/to/bert"` | a tiny 6-layer BERT saved with the MiniLM WordPiece tokenizer |
| `"path/to/fine-tuned-classifier"` | a tiny 6-layer `BertForSequenceClassification` (+ tokenizer) |

Snippets share one namespace per method (README section or guide), as a reader's session would. The Hub snippets
(the sections "The Hub path" of the guides and `docs/hub.md`: `push_to_hub("my-user/...")`,
`from_pretrained("my-user/...")`, `load_dataset("my-user/...")`) run in a child process against the local Hub server
of `tests/hub_server.py`. A new snippet fails `test_every_snippet_is_covered` until it is covered here (or listed in
`SKIPPED` with a reason).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"

# README section -> the method (namespace) its snippets belong to
README_SECTIONS = {
    "Early-exit inference": "early_exit",
    "Dataset cartography": "cartography",
    "Masking for vision-and-language MLM": "masking",
}
# guide -> its method; the snippets of a section whose heading mentions the Hub run against the local Hub
GUIDES = {
    "guides/early_exit.md": "early_exit",
    "guides/cartography.md": "cartography",
    "guides/vl_masking.md": "masking",
    "hub.md": "hub",
}
HUB = "hub"

# snippet (by a line it contains) -> reason it is not run; empty: every snippet runs
SKIPPED: dict[str, str] = {}


def python_snippets(path: Path) -> list[tuple[str | None, str]]:
    """`(## section heading, code)` of every ```python block of a Markdown file, in order."""
    snippets, section = [], None
    in_block, lines = False, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not in_block and line.startswith("## "):
            section = line[3:].strip()
        if not in_block and line.strip() == "```python":
            in_block, lines = True, []
        elif in_block and line.strip() == "```":
            in_block = False
            snippets.append((section, "\n".join(lines) + "\n"))
        elif in_block:
            lines.append(line)
    return snippets


def readme_snippets() -> list[tuple[str, str]]:
    """`(method, code)` of the README's snippets; a section not in `README_SECTIONS` gives method `None`."""
    return [(README_SECTIONS.get(section), code) for section, code in python_snippets(README)]


def guide_snippets() -> list[tuple[str, str]]:
    """`(method, code)` of the guides' snippets, guide by guide; Hub sections give method `"hub"`."""
    snippets = []
    for name, method in GUIDES.items():
        for section, code in python_snippets(DOCS / name):
            snippets.append((HUB if section and "Hub" in section else method, code))
    return snippets


def tiny_bert(path: Path, tokenizer, classifier: bool = False) -> str:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=6, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, num_labels=2)
    model = BertForSequenceClassification(config) if classifier else BertModel(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


TEXTS = ["a gorgeous, witty film", "dull and far too long", "the cast is superb", "a mess from start to end",
         "The movie was awesome.", "tedious and joyless", "warm, funny and wise", "I want my two hours back"]


def labelled(tokenizer, n: int, offset: int = 0, padding: bool | str = False, keep_text: bool = False):
    import datasets

    rows = {"text": [TEXTS[(i + offset) % len(TEXTS)] + f" {i}" for i in range(n)],
            "label": [((i + offset) % len(TEXTS)) in (0, 2, 4, 6) for i in range(n)]}
    data = datasets.Dataset.from_dict({"text": rows["text"], "label": [int(y) for y in rows["label"]]})
    return data.map(lambda b: tokenizer(b["text"], truncation=True, max_length=32, padding=padding), batched=True,
                    remove_columns=[] if keep_text else ["text"])


def reader_names(method: str, tmp: Path, tokenizer) -> dict:
    """What a reader has at hand before the snippets of `method`: their data, collator, model, ..."""
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, DataCollatorWithPadding

    if method == "early_exit":
        return {
            "tokenizer": tokenizer,
            "train_set": labelled(tokenizer, 16),
            # the same reviews untokenized, and the reader's tokenizing function (for the span-variants snippet)
            "train_texts": labelled(tokenizer, 16, keep_text=True).select_columns(["text", "label"]),
            "tokenize": lambda batch: tokenizer(batch["text"], truncation=True, max_length=32),
            "tokenized_dev": labelled(tokenizer, 16, offset=1),
            "tokenized_test": labelled(tokenizer, 16, offset=2),
            "collator": DataCollatorWithPadding(tokenizer),
            "batch": tokenizer(TEXTS[:3], padding=True, return_tensors="pt"),
        }
    if method == "cartography":
        import torch
        from transformers import TrainingArguments

        torch.manual_seed(0)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37, num_labels=2)
        train = labelled(tokenizer, 16, padding="max_length", keep_text=True)  # no collator in the snippet
        # the reader's tokenized JSON Lines file with an id column, for the streaming snippet
        train.remove_columns("text").add_column("uid", [f"review-{i}" for i in range(len(train))]).to_json(
            tmp / "train.jsonl")
        return {"model": BertForSequenceClassification(config), "train": train,
                "args": TrainingArguments("out", num_train_epochs=2, per_device_train_batch_size=4, report_to=[])}
    if method == "masking":
        import datasets

        (tmp / "concreteness.csv").write_text("Word,Conc.M\nhorse,4.9\nbeach,4.8\nidea,1.6\nman,4.8\n")
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37)
        captions = ["A man rides a brown horse on the beach.", "Two dogs play with a red ball.",
                    "A woman holds an umbrella in the rain.", "An idea on a plate."]
        return {"model": BertForMaskedLM(config), "dataset": datasets.Dataset.from_dict({"caption": captions})}
    raise AssertionError(f"snippets of {method!r} are not covered by this test yet")


def run_snippets(snippets: list[tuple[str, str]], work: Path, placeholders: dict[str, str], tokenizer,
                 source: str) -> tuple[dict[str, dict], list[str]]:
    """Execute the non-Hub snippets in `work`, one namespace per method; return the namespaces and the Hub snippets."""
    namespaces: dict[str, dict] = {}
    hub_snippets = []
    for method, code in snippets:
        if any(marker in code for marker in SKIPPED):
            continue
        for placeholder, path in placeholders.items():
            code = code.replace(placeholder, path)
        if method == HUB:
            hub_snippets.append(code)
            continue
        if method not in namespaces:
            namespaces[method] = reader_names(method, work, tokenizer)
        exec(compile(code, f"{source} ({method})", "exec"), namespaces[method])
    return namespaces, hub_snippets


@pytest.fixture
def placeholders(tmp_path, bert_tokenizer) -> dict[str, str]:
    return {
        '"path/to/bert"': repr(tiny_bert(tmp_path / "bert", bert_tokenizer)),
        '"path/to/fine-tuned-classifier"': repr(tiny_bert(tmp_path / "classifier", bert_tokenizer, classifier=True)),
    }


def check_pipeline_labels(early_exit: dict) -> None:
    """The early-exit snippets name their labels, so `pipeline` answers with those names, not LABEL_0 / LABEL_1."""
    (prediction,) = early_exit["prediction"]
    assert prediction["label"] in {"negative", "positive"}, prediction


@pytest.mark.slow
def test_readme_python_snippets_run_as_written(tmp_path, monkeypatch, bert_tokenizer, placeholders):
    snippets = readme_snippets()
    assert {method for method, _ in snippets} == set(README_SECTIONS.values()), "a method lost its README example"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    namespaces, hub_snippets = run_snippets(snippets, work, placeholders, bert_tokenizer, "README.md")
    assert hub_snippets == []
    early_exit = namespaces["early_exit"]
    check_pipeline_labels(early_exit)
    assert early_exit["model"].config.id2label == {0: "negative", 1: "positive"}
    assert early_exit["model"].config.exit_threshold == 0.9
    assert len(early_exit["model"].config.temperatures) == 6  # calibrated: one temperature per exit
    assert (work / "outputs" / "rt_map" / "data_map.parquet").exists() and (work / "data_map.png").exists()
    assert len(namespaces["masking"]["dataset"]) == 4


@pytest.mark.slow
def test_guide_python_snippets_run_as_written(tmp_path, monkeypatch, bert_tokenizer, local_hub, placeholders):
    snippets = guide_snippets()
    assert len(snippets) >= 9
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    namespaces, hub_snippets = run_snippets(snippets, work, placeholders, bert_tokenizer, "docs")

    early_exit = namespaces["early_exit"]
    check_pipeline_labels(early_exit)
    assert early_exit["model"].config.exit_threshold == early_exit["threshold"]  # the chosen threshold was saved
    assert (work / "speed_accuracy.png").stat().st_size > 0 and (work / "my-early-exit-model" / "sweep.json").exists()
    assert (work / "outputs" / "rt_map" / "data_map.parquet").exists()
    assert (work / "map.html").exists()

    # the Hub snippets, in a child process pointed at the local Hub server, with what the guides above left
    assert hub_snippets, "the guides lost their Hub snippets"
    prelude = textwrap.dedent(
        f"""
        import torch
        from transformers import AutoTokenizer
        from hf_notlike import DataMap, EarlyExitBertForSequenceClassification
        model = EarlyExitBertForSequenceClassification.from_pretrained({str(work / "my-early-exit-model")!r})
        tokenizer = AutoTokenizer.from_pretrained({str(work / "my-early-exit-model")!r})
        data_map = DataMap.from_pretrained({str(work / "outputs" / "rt_map")!r})
        """
    )
    script = prelude + "\n".join(f"# --- docs snippet {i}\n{code}" for i, code in enumerate(hub_snippets))
    script += "\nprint('rows', len(table), 'exits', model.config.exit_layers)\n"
    (tmp_path / "hub_snippets.py").write_text(script)
    env = {**os.environ, **local_hub.client_env(), "HF_HOME": str(tmp_path / "hf_home"),
           "HF_MODULES_CACHE": str(tmp_path / "hf_modules"), "HF_DATASETS_CACHE": str(tmp_path / "hf_datasets"),
           "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(tmp_path / "hub_snippets.py")], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"rows 16 exits \[1, 2, 3, 4, 5, 6\]", done.stdout), done.stdout


def test_every_snippet_is_covered():
    uncovered = [code.splitlines()[0] for method, code in readme_snippets() if method is None]
    assert uncovered == [], f"README snippets outside the sections this test covers: {uncovered}"
    with_snippets = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md") if python_snippets(path)}
    assert with_snippets <= set(GUIDES), f"docs pages with Python snippets this test does not run: {with_snippets - set(GUIDES)}"
    assert {method for method, _ in guide_snippets()} == {"early_exit", "cartography", "masking", HUB}
