"""Exits added to a fine-tuned classifier (`from_classifier`, DeeBERT stage 2): the original head is the last exit, at
threshold 1.0 the model is the original classifier exactly, only the new exits train; bad checkpoints fail before
any weight is loaded."""

import pytest
import torch
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from hf_notlike import (
    EarlyExitBertForSequenceClassification,
    EarlyExitRobertaForSequenceClassification,
    early_exit_from_classifier,
)
from hf_notlike.early_exit import EARLY_EXIT_MODELS


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_threshold_one_is_the_original_classifier_exactly(arch, tmp_path, stock_classifier, padded_batch):
    stock = stock_classifier(arch, tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1, 2])
    assert type(model) is EARLY_EXIT_MODELS[arch]
    assert model.config.exit_layers == [1, 2, 4] and model.config.head_from_classifier
    assert not model.training
    ids, mask = padded_batch(model)
    with torch.no_grad():
        expected = stock(ids, attention_mask=mask).logits
        got = model(ids, attention_mask=mask, exit_threshold=1.0)
        all_exits = model(ids, attention_mask=mask, output_all_exits=True)
        single = model(ids[:1], attention_mask=mask[:1])
        single_stock = stock(ids[:1], attention_mask=mask[:1]).logits
    # exact by construction: at threshold 1.0 no example exits early, so the stock layers and the stock classifier run
    # on the same tensors in the same order (the guarantee of `from_classifier`), batched and for one example alike
    assert torch.equal(got.logits, expected), (got.logits - expected).abs().max()
    assert torch.equal(got.logits.argmax(-1), expected.argmax(-1))
    assert got.exit_layer.tolist() == [4] * 8
    assert torch.equal(single.logits, single_stock)
    # computing every exit is another code path: float32 tolerance relative to the logits' magnitude
    torch.testing.assert_close(all_exits.exit_logits[:, -1], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a Trainer run per architecture
@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_only_the_new_exits_train(arch, tmp_path, stock_classifier, padded_batch, toy_dataset):
    stock = stock_classifier(arch, tmp_path / "stock", num_labels=2)
    model = EARLY_EXIT_MODELS[arch].from_classifier(tmp_path / "stock", exit_layers=[1, 2], distillation_weight=0.5)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("exits.0.", "exits.1.")) for name in trainable), trainable
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=16, learning_rate=1e-2,
                             num_train_epochs=2, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True)
    Trainer(model=model.train(), args=args, train_dataset=toy_dataset()).train()
    for name, p in model.named_parameters():
        if name not in trainable:
            assert torch.equal(p.detach(), before[name]), f"frozen {name} changed"
    assert any(not torch.equal(p.detach(), before[n]) for n, p in model.named_parameters() if n in trainable)
    model.eval()
    ids, mask = padded_batch(model)
    with torch.no_grad():  # exact at threshold 1.0 (the default), as above
        assert torch.equal(model(ids, attention_mask=mask).logits, stock(ids, attention_mask=mask).logits)
    # saved and reloaded through the Auto classes: still frozen, still the original at threshold 1.0
    model.save_pretrained(tmp_path / "ee")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ee").eval()
    assert type(loaded) is type(model) and loaded.config.freeze_backbone
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == trainable
    with torch.no_grad():
        assert torch.equal(loaded(ids, attention_mask=mask).logits, stock(ids, attention_mask=mask).logits)


def test_unsupported_architecture_fails_before_loading_weights(tmp_path):
    AutoConfig.for_model("albert", num_hidden_layers=2, architectures=["AlbertForSequenceClassification"]
                         ).save_pretrained(tmp_path)  # a config and no weights: loading them would fail differently
    with pytest.raises(ValueError, match=r"`albert`.*supported: \['bert', 'deberta-v2', 'distilbert'"):
        early_exit_from_classifier(tmp_path)


def test_head_that_is_not_sequence_classification(tmp_path, backbone_config):
    backbone_config("bert", architectures=["BertForMaskedLM"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"BertForMaskedLM.*ForSequenceClassification"):
        early_exit_from_classifier(tmp_path, exit_layers=[1])
    backbone_config("bert").save_pretrained(tmp_path / "none")
    with pytest.raises(ValueError, match="no recorded architecture"):
        EarlyExitBertForSequenceClassification.from_classifier(tmp_path / "none")


@pytest.mark.parametrize("exit_layers", [[5], [0, 2], [2, 9]])
def test_exit_layers_beyond_the_depth(exit_layers, tmp_path, backbone_config, config_errors):
    backbone_config("bert", architectures=["BertForSequenceClassification"]).save_pretrained(tmp_path)
    with pytest.raises(config_errors, match=r"`exit_layers`.*\[1, 4\]"):
        early_exit_from_classifier(tmp_path, exit_layers=exit_layers)


def test_class_of_another_architecture(tmp_path, backbone_config):
    backbone_config("bert", architectures=["BertForSequenceClassification"]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="is a `bert` checkpoint.*early_exit_from_classifier"):
        EarlyExitRobertaForSequenceClassification.from_classifier(tmp_path)


def test_modernbert_mean_pooling_head_is_kept_exactly(tmp_path, backbone_config, padded_batch):
    """ModernBERT classifiers may pool by the masked mean: the last exit pools as the original head does."""
    config = backbone_config("modernbert", classifier_pooling="mean")
    torch.manual_seed(0)
    stock = AutoModelForSequenceClassification.from_config(config).eval()
    stock.save_pretrained(tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1, 2], exit_input="cls")
    ids, mask = padded_batch(model)
    with torch.no_grad():
        assert torch.equal(model(ids, attention_mask=mask).logits, stock(ids, attention_mask=mask).logits)
