"""The README's Python snippets, run exactly as written on tiny models and data.

Every ```python block of README.md is extracted and executed in order with `exec`, in the working directory of a
temporary folder, so relative paths in the snippets ("my-early-exit-model", "out", "speed_accuracy.png", ...) work
as written. What a reader brings to a snippet (their own data, collator, batch) comes from `READER_NAMES`, and the
placeholder paths are mapped to tiny saved models by `PLACEHOLDERS` (the only text substitution made):

| placeholder in README | replaced by |
|---|---|
| `"path/to/bert"` | a tiny 6-layer BERT saved with the MiniLM WordPiece tokenizer |
| `"path/to/fine-tuned-classifier"` | a tiny 6-layer `BertForSequenceClassification` (+ tokenizer) |

Snippets share one namespace per README section (`## ...`), as a reader's session would. The Hub snippets
(`model.push_to_hub("my-user/...")`, `from_pretrained("my-user/...")`, `load_dataset("my-user/...")`) run in a child
process against the local Hub server of `tests/hub_server.py`. A new snippet fails this test until it is covered
here (or listed in `SKIPPED` with a reason).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
REPO = README.parent

# snippet (by a line it contains) -> reason it is not run; empty: every snippet runs
SKIPPED: dict[str, str] = {}


def readme_snippets() -> list[tuple[str, str]]:
    """`(section heading, code)` of every ```python block, in README order."""
    snippets, section = [], None
    in_block, lines = False, []
    for line in README.read_text(encoding="utf-8").splitlines():
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


def reader_names(section: str, tmp: Path, tokenizer) -> dict:
    """What a reader has at hand before the snippets of `section`: their data, collator, model, ..."""
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, DataCollatorWithPadding

    if section == "Early-exit inference":
        return {
            "tokenizer": tokenizer,
            "train_set": labelled(tokenizer, 16),
            "tokenized_dev": labelled(tokenizer, 16, offset=1),
            "tokenized_test": labelled(tokenizer, 16, offset=2),
            "collator": DataCollatorWithPadding(tokenizer),
            "batch": tokenizer(TEXTS[:3], padding=True, return_tensors="pt"),
        }
    if section == "Dataset cartography":
        import torch
        from transformers import TrainingArguments

        torch.manual_seed(0)
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37, num_labels=2)
        return {"model": BertForSequenceClassification(config), "train": labelled(tokenizer, 16, padding="max_length", keep_text=True),  # no collator in the snippet
                "args": TrainingArguments("out", num_train_epochs=2, per_device_train_batch_size=4, report_to=[])}
    if section == "Masking for vision-and-language MLM":
        import datasets

        (tmp / "concreteness.csv").write_text("Word,Conc.M\nhorse,4.9\nbeach,4.8\nidea,1.6\nman,4.8\n")
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=37)
        captions = ["A man rides a brown horse on the beach.", "Two dogs play with a red ball.",
                    "A woman holds an umbrella in the rain.", "An idea on a plate."]
        return {"model": BertForMaskedLM(config), "dataset": datasets.Dataset.from_dict({"caption": captions})}
    raise AssertionError(f"README section {section!r} has Python snippets that this test does not cover yet")


HUB_SECTION = "Share on the Hub"


@pytest.mark.slow
def test_readme_python_snippets_run_as_written(tmp_path, monkeypatch, bert_tokenizer, local_hub):
    snippets = readme_snippets()
    assert len(snippets) >= 8
    placeholders = {
        '"path/to/bert"': repr(tiny_bert(tmp_path / "bert", bert_tokenizer)),
        '"path/to/fine-tuned-classifier"': repr(tiny_bert(tmp_path / "classifier", bert_tokenizer, classifier=True)),
    }
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    namespaces: dict[str, dict] = {}
    hub_snippets = []
    for section, code in snippets:
        if any(marker in code for marker in SKIPPED):
            continue
        for placeholder, path in placeholders.items():
            code = code.replace(placeholder, path)
        if section == HUB_SECTION:
            hub_snippets.append(code)
            continue
        if section not in namespaces:
            namespaces[section] = reader_names(section, work, bert_tokenizer)
        exec(compile(code, f"README.md ({section})", "exec"), namespaces[section])

    early_exit = namespaces["Early-exit inference"]
    assert early_exit["model"].config.exit_threshold == early_exit["threshold"]  # the chosen threshold was saved
    assert (work / "speed_accuracy.png").stat().st_size > 0 and (work / "my-early-exit-model" / "sweep.json").exists()
    assert (work / "outputs" / "rt_map" / "data_map.parquet").exists()

    # the Hub snippets, in a child process pointed at the local Hub server, with what the sections above left
    assert hub_snippets, "the README lost its Hub snippets"
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
    script = prelude + "\n".join(f"# --- README snippet {i}\n{code}" for i, code in enumerate(hub_snippets))
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
    sections = {section for section, _ in readme_snippets()}
    covered = {"Early-exit inference", "Dataset cartography", "Masking for vision-and-language MLM", HUB_SECTION}
    assert sections <= covered, f"uncovered README sections with Python snippets: {sections - covered}"
