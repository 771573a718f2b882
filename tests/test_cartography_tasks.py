"""Data maps beyond single-label classification: multi-label classification, token classification (with a
per-token table saved as Parquet) and causal-LM fine-tuning with the stock `Trainer` and TRL's `SFTTrainer`.
With `learning_rate=0` and no dropout a statistic is a fixed function of the example, so the recorded maps are checked
against a direct computation."""

import numpy as np
import pytest
import torch
from cartography_helpers import (
    PROB_ATOL,
    VOCAB,
    assert_log_probs_close,
    tiny_bert_config,
    tiny_dataset,
    tiny_token_dataset,
    train,
    training_args,
)
from transformers import Trainer

from hf_notlike.cartography import CartographyCallback, DataMap


def _multi_label_model(num_labels=4):
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    config = tiny_bert_config(num_labels=num_labels)
    config.problem_type = "multi_label_classification"
    return BertForSequenceClassification(config)


def _multi_label_dataset(n=20, num_labels=4):
    dataset = tiny_dataset(n)
    rng = np.random.default_rng(1)
    targets = (rng.random((n, num_labels)) > 0.5).astype(np.float32)
    return dataset.remove_columns("label").add_column("labels", targets.tolist())


def test_multi_label_classification(tmp_path):
    dataset = _multi_label_dataset()
    model = _multi_label_model()
    cartography, _ = train(str(tmp_path), dataset, model=model, learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map()
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(dataset["input_ids"]),
                       attention_mask=torch.tensor(dataset["attention_mask"])).logits
    targets = torch.tensor(dataset["labels"]) > 0.5
    prob = torch.sigmoid(logits)
    gold = torch.where(targets, prob, 1 - prob)
    np.testing.assert_allclose(data_map.confidence, gold.mean(1).numpy(), atol=PROB_ATOL)
    assert data_map.correctness.tolist() == ((logits > 0) == targets).all(1).float().tolist()
    np.testing.assert_allclose(data_map.aum, torch.where(targets, logits, -logits).mean(1).numpy(), atol=1e-5)
    table = data_map.label_table()
    assert len(table) == 20 * 4 and table["gold"].tolist() == targets.long().reshape(-1).tolist()
    np.testing.assert_allclose(table["confidence"], gold.reshape(-1).numpy(), atol=PROB_ATOL)
    loaded = DataMap.from_pretrained(data_map.save_pretrained(tmp_path / "map", plot=False, card=False))
    assert (tmp_path / "map" / "data_map_labels.parquet").is_file()
    np.testing.assert_allclose(loaded.label_table()["confidence"], table["confidence"])
    with pytest.raises(ValueError, match="no per-token"):
        data_map.token_table()


def test_token_classification_with_a_token_table(tmp_path):
    from transformers import BertForTokenClassification

    torch.manual_seed(0)
    model = BertForTokenClassification(tiny_bert_config(num_labels=5))
    dataset = tiny_token_dataset()
    cartography, _ = train(str(tmp_path), dataset, model=model, learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map()
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(dataset["input_ids"]),
                       attention_mask=torch.tensor(dataset["attention_mask"])).logits
    labels = torch.tensor(dataset["labels"])
    scored = labels != -100
    probs = logits.softmax(-1).gather(-1, labels.clamp(min=0)[..., None]).squeeze(-1)
    right = (logits.argmax(-1) == labels) & scored
    expected = (probs * scored).sum(1) / scored.sum(1)
    np.testing.assert_allclose(data_map.confidence, expected.numpy(), atol=PROB_ATOL)
    np.testing.assert_allclose(data_map.correctness, (right.sum(1) / scored.sum(1)).numpy(), atol=1e-6)
    table = data_map.token_table()
    assert len(table) == int(scored.sum())
    rows, cols = torch.nonzero(scored, as_tuple=True)
    assert table["id"].tolist() == rows.tolist() and table["position"].tolist() == cols.tolist()
    assert table["label"].tolist() == labels[rows, cols].tolist()
    np.testing.assert_allclose(table["confidence"], probs[rows, cols].numpy(), atol=PROB_ATOL)
    folder = data_map.save_pretrained(tmp_path / "map", plot=False, card=False)
    import pyarrow.parquet as pq

    saved = pq.read_table(folder / "data_map_tokens.parquet")
    assert saved.num_rows == len(table) and set(saved.column_names) >= {"id", "position", "label", "gold_prob"}
    loaded = DataMap.from_pretrained(folder)
    assert loaded.token_table()["position"].tolist() == cols.tolist()


def test_token_classification_resume_keeps_the_token_table(tmp_path):
    from transformers import BertForTokenClassification, TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 7

    def model():
        torch.manual_seed(0)
        return BertForTokenClassification(tiny_bert_config(num_labels=5))

    dataset = tiny_token_dataset(20)  # 5 steps per epoch: the checkpoint at 7 is inside epoch 2
    options = dict(num_train_epochs=3, learning_rate=2e-2, save_strategy="steps", save_steps=7)
    full, _ = train(str(tmp_path / "full"), dataset, model=model(), **options)
    trainer = Trainer(model=model(), args=training_args(str(tmp_path / "run"), **options), train_dataset=dataset,
                      callbacks=[CartographyCallback(), StopAt()])
    trainer.train()
    resumed, _ = train(str(tmp_path / "run"), dataset, model=model(),
                       resume_from_checkpoint=str(tmp_path / "run" / "checkpoint-7"), **options)
    # exact: the resumed run replays the same forwards in this process and reloads the saved bits
    np.testing.assert_array_equal(resumed.data_map().gold_probs, full.data_map().gold_probs)
    a, b = resumed.data_map().token_table(), full.data_map().token_table()
    np.testing.assert_array_equal(np.stack(a["gold_prob"]), np.stack(b["gold_prob"]))


def _tiny_llama(vocab_size=VOCAB):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=64)
    return LlamaForCausalLM(config)


def _direct_causal(model, input_ids, labels, attention_mask):
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    target = labels[:, 1:]
    scored = target != -100
    log_probs = logits.log_softmax(-1).gather(-1, target.clamp(min=0)[..., None]).squeeze(-1)
    right = (logits.argmax(-1) == target) & scored
    count = scored.sum(1)
    return ((log_probs * scored).sum(1) / count).exp().numpy(), (right.sum(1) / count).numpy()


def test_causal_lm_with_the_stock_trainer(tmp_path):
    # prompt = the first 3 tokens (label -100), completion = the rest up to the padding
    dataset = tiny_dataset(16)
    ids, mask = np.asarray(dataset["input_ids"]), np.asarray(dataset["attention_mask"])
    labels = np.where(mask == 1, ids, -100)
    labels[:, :3] = -100
    lm = dataset.remove_columns("label").add_column("labels", labels.tolist())
    model = _tiny_llama()
    cartography, _ = train(str(tmp_path), lm, model=model, callback=CartographyCallback(token_table=True),
                           learning_rate=0.0, num_train_epochs=2)
    data_map = cartography.data_map()
    confidence, correctness = _direct_causal(model, torch.tensor(ids), torch.tensor(labels), torch.tensor(mask))
    assert_log_probs_close(data_map.confidence, confidence)  # geometric means of token probabilities: ~1e-5
    np.testing.assert_allclose(data_map.correctness, correctness, atol=1e-6)
    table = data_map.token_table()
    assert len(table) == int((labels[:, 1:] != -100).sum())
    assert table.groupby("id")["position"].min().min() == 3  # the first completion token
    data_map.plot(tmp_path / "lm.png")  # fractional correctness plots like the others
    assert (tmp_path / "lm.png").read_bytes()[:4] == b"\x89PNG"


def test_causal_lm_with_trl_sft_trainer(tmp_path, bert_tokenizer):
    trl = pytest.importorskip("trl", reason="TRL (PyPI `trl`) is not installed")
    import datasets

    tokenizer = bert_tokenizer
    tokenizer.eos_token = tokenizer.sep_token
    texts = ["the movie was great", "a dull and boring film", "what a fun ride", "i hated every minute",
             "an instant classic", "two hours i will never get back"]
    dataset = datasets.Dataset.from_dict({
        "prompt": [f"review: {t}. sentiment:" for t in texts],
        "completion": [" positive" if i % 2 == 0 else " negative" for i in range(len(texts))],
    })
    model = _tiny_llama(vocab_size=len(tokenizer))
    cartography = CartographyCallback()
    args = trl.SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=2,
                         learning_rate=0.0, report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no",
                         disable_tqdm=True, max_length=32)
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             callbacks=[cartography])
    trainer.train()
    data_map = cartography.data_map()
    assert data_map.num_examples == 6 and data_map.num_epochs == 2
    # direct computation on the tokenised rows: completion tokens only (the prompt is masked out of the loss)
    train_rows = trainer.train_dataset  # tokenised by SFTTrainer, prompt labels -100
    assert data_map.margins is None  # TRL's fused LM head never builds the logits: no margin
    for row, confidence, correctness in zip(train_rows, data_map.confidence, data_map.correctness):
        input_ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
        assert 0 < (labels[0] != -100).sum() < len(row["input_ids"]) - 2
        expected = _direct_causal(model, input_ids, labels, torch.ones_like(input_ids))
        # TRL's fused LM head (batch of 4, padded) against a plain forward of one row: other kernels, so compare the
        # log of the ~3e-5 geometric-mean probability with a float32-sized absolute tolerance
        assert_log_probs_close(confidence, expected[0][0])
        np.testing.assert_allclose(correctness, expected[1][0], atol=1e-6)
