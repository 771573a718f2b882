"""Exits added to a fine-tuned classifier (`from_classifier`, DeeBERT stage 2): the original head is the last exit, at
threshold 1.0 the model is the original classifier exactly, only the new exits train; bad checkpoints fail before
any weight is loaded."""

import pytest
import torch
from torch.nn import functional as F
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


# ------------------------------------------------------------------- anchored joint training from the classifier


def _anchored_setup(arch, folder, bert_tokenizer, backbone_config, stock_fields=None, **kwargs):
    """A tiny stock classifier of `arch` (with the MiniLM tokenizer's vocabulary, for the pipeline) saved in `folder`,
    and the anchored early-exit model built from it."""
    config = backbone_config(arch, vocab_size=bert_tokenizer.vocab_size, num_labels=2, max_position_embeddings=128,
                             id2label={0: "neg", 1: "pos"}, label2id={"neg": 0, "pos": 1}, **(stock_fields or {}))
    torch.manual_seed(0)
    stock = AutoModelForSequenceClassification.from_config(config).eval()
    stock.save_pretrained(folder)
    bert_tokenizer.save_pretrained(folder)
    fields = dict(freeze_backbone=False, anchor_weight=0.5, anchor_temperature=2.0,
                  backbone_learning_rate_multiplier=0.1, exit_learning_rate_multiplier=20)
    fields.update(kwargs)
    return stock, early_exit_from_classifier(folder, exit_layers=[1, 2], **fields)


@pytest.mark.slow  # a short Trainer run per architecture
@pytest.mark.parametrize("arch, how", [("bert", "early_exit_trainer"), ("roberta", "stock_trainer")])
def test_anchored_joint_training(arch, how, tmp_path, bert_tokenizer, backbone_config, padded_batch, toy_dataset):
    from safetensors import safe_open
    from transformers import pipeline

    from hf_notlike import EarlyExitTrainer, early_exit_optimizer

    stock, model = _anchored_setup(arch, tmp_path / "stock", bert_tokenizer, backbone_config)
    config = model.config
    assert not config.freeze_backbone and config.head_from_classifier
    assert all(p.requires_grad for p in model.parameters())
    anchor = model.anchor_model
    assert anchor is not None and type(anchor) is type(stock) and not anchor.training
    assert not any(p.requires_grad for p in anchor.parameters())
    assert all(p is not q for p in anchor.parameters() for q in model.parameters())
    assert not any("anchor" in name for name in model.state_dict())
    ids, mask = padded_batch(model)
    with torch.no_grad():  # before training: the original classifier at threshold 1.0, exactly
        assert torch.equal(model(ids, attention_mask=mask).logits, stock(ids, attention_mask=mask).logits)
    anchor_before = {n: p.detach().clone() for n, p in anchor.named_parameters()}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=16, learning_rate=1e-3,
                             max_steps=6, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
                             logging_steps=1, seed=0)
    if how == "early_exit_trainer":
        trainer = EarlyExitTrainer(model=model.train(), args=args, train_dataset=toy_dataset())
    else:
        trainer = Trainer(model=model.train(), args=args, train_dataset=toy_dataset(),
                          optimizers=early_exit_optimizer(model, args))
    trainer.train()
    # the optimizer: the new exits at 20x, the backbone and the classifier's own head at 0.1x the base rate
    rates = {id(p): group["initial_lr"] for group in trainer.optimizer.param_groups for p in group["params"]}
    for name, p in model.named_parameters():
        new_exit = name.startswith(("exits.0.", "exits.1."))
        assert rates[id(p)] == pytest.approx(1e-3 * (20 if new_exit else 0.1)), name
    # the anchor stayed frozen (and in eval mode) while the backbone and the head moved
    assert not anchor.training
    for name, p in anchor.named_parameters():
        assert torch.equal(p, anchor_before[name]), f"anchor {name} changed"
    for prefix in (f"{model.base_model_prefix}.encoder.", "exits.0.", "exits.2."):
        assert any(not torch.equal(p.detach(), before[n]) for n, p in model.named_parameters()
                   if n.startswith(prefix)), prefix

    # saved without the anchor; reloads through the Auto classes and runs in a pipeline
    model.eval().save_pretrained(tmp_path / "ee")
    bert_tokenizer.save_pretrained(tmp_path / "ee")
    with safe_open(tmp_path / "ee" / "model.safetensors", "pt") as weights:
        assert set(weights.keys()) == set(model.state_dict())
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ee").eval()
    assert type(loaded) is type(model) and loaded.anchor_model is None
    assert (loaded.config.anchor_weight, loaded.config.anchor_temperature, loaded.config.freeze_backbone,
            loaded.config.backbone_learning_rate_multiplier) == (0.5, 2.0, False, 0.1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits)
        # eval with labels but no anchor attached: the loss is still the last exit's
        out = loaded(ids, attention_mask=mask, labels=torch.tensor([0, 1] * 4))
        torch.testing.assert_close(out.loss, out.exit_losses[-1])
    classifier = pipeline("text-classification", model=str(tmp_path / "ee"), device="cpu")
    assert type(classifier.model) is type(model)
    predictions = classifier(["a gripping, beautifully shot film", "dull."])
    assert [p["label"] for p in predictions] and all(p["label"] in ("neg", "pos") for p in predictions)
    # training the reloaded model further needs the anchor back
    with pytest.raises(ValueError, match="no anchor classifier is attached.*set_anchor_model"):
        loaded.train()(ids, attention_mask=mask, labels=torch.tensor([0, 1] * 4))
    loaded.set_anchor_model(AutoModelForSequenceClassification.from_pretrained(tmp_path / "stock"))
    assert loaded(ids, attention_mask=mask, labels=torch.tensor([0, 1] * 4)).loss.isfinite()


def test_anchored_loss(tmp_path, bert_tokenizer, backbone_config, padded_batch):
    """Every exit, the last one included: `(1 - w - a) CE + w T^2 KL(last || exit) + a T_a^2 KL(anchor || exit)`
    (`w` only for the intermediate exits), the anchor's logits those of the original classifier."""
    stock, model = _anchored_setup("bert", tmp_path, bert_tokenizer, backbone_config, distillation_weight=0.3,
                                   distillation_temperature=1.5,
                                   stock_fields=dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    ids, mask = padded_batch(model)
    labels = torch.tensor([0, 1, 1, 0, -100, 1, 0, 1])
    with torch.no_grad():
        target = stock(ids, attention_mask=mask).logits
    out = model.train()(ids, attention_mask=mask, labels=labels)
    z = out.exit_logits

    def kl(teacher_logits, student_logits, t):  # a teacher needs no label: every row, the -100 row included
        p = F.softmax(teacher_logits / t, -1)
        return (p * (p.log() - F.log_softmax(student_logits / t, -1))).sum(-1).mean() * t**2

    expected = 0
    for k in range(3):
        ce = F.cross_entropy(z[:, k], labels)
        term = (1 - 0.5) * ce + 0.5 * kl(target, z[:, k], 2.0)
        if k < 2:
            term = term - 0.3 * ce + 0.3 * kl(z[:, -1].detach(), z[:, k], 1.5)
        expected = expected + term
    torch.testing.assert_close(out.loss, expected)
    # without dropout the last exit starts as the anchor exactly: its anchor term is 0
    torch.testing.assert_close(kl(target, z[:, -1], 2.0), torch.tensor(0.0), atol=1e-6, rtol=0)
    # unlabelled text (every label -100) trains on the teachers alone: finite, and the exits get gradients
    unlabelled = torch.full_like(labels, -100)
    model.zero_grad()
    out = model(ids, attention_mask=mask, labels=unlabelled)
    z = out.exit_logits
    expected = sum(0.5 * kl(target, z[:, k], 2.0) + (0.3 * kl(z[:, -1].detach(), z[:, k], 1.5) if k < 2 else 0)
                   for k in range(3))
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    assert all(any(p.grad is not None and p.grad.abs().sum() > 0 for p in exit_.parameters())
               for exit_ in model.exits[:-1])  # (the last starts equal to the anchor: no gradient yet)


def test_anchor_weight_zero_is_plain_joint_training(tmp_path, bert_tokenizer, backbone_config, padded_batch,
                                                    toy_dataset):
    from hf_notlike import EarlyExitTrainer

    stock, plain = _anchored_setup("bert", tmp_path, bert_tokenizer, backbone_config, anchor_weight=0.0)
    assert plain.anchor_model is None  # nothing to distil from: no copy is kept
    _, attached = _anchored_setup("bert", tmp_path, bert_tokenizer, backbone_config, anchor_weight=0.0)
    calls = []
    stock.register_forward_hook(lambda *args: calls.append(1))
    attached.set_anchor_model(stock)  # attached, but with weight 0 it is never run
    runs = []
    for model in (plain, attached):
        args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=16,
                                 learning_rate=1e-3, max_steps=3, save_strategy="no", report_to=[], use_cpu=True,
                                 disable_tqdm=True, logging_steps=1, seed=0)
        trainer = EarlyExitTrainer(model=model.train(), args=args, train_dataset=toy_dataset())
        trainer.train()
        runs.append([log["loss"] for log in trainer.state.log_history if "loss" in log])
    assert runs[0] == runs[1] and not calls
    ids, mask = padded_batch(plain)
    out = plain.train()(ids, attention_mask=mask, labels=torch.tensor([0, 1] * 4))
    torch.testing.assert_close(out.loss, out.exit_losses.sum())
    for a, b in zip(plain.parameters(), attached.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("freeze", [True, False])
def test_freeze_backbone_option_of_from_classifier(freeze, tmp_path, stock_classifier):
    stock_classifier("bert", tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1, 2], freeze_backbone=freeze)
    assert model.config.freeze_backbone is freeze and model.anchor_model is None
    trainable = {name for name, p in model.train().named_parameters() if p.requires_grad}
    if freeze:
        assert trainable and all(name.startswith(("exits.0.", "exits.1.")) for name in trainable)
    else:
        assert trainable == {name for name, _ in model.named_parameters()}


@pytest.mark.parametrize("kwargs, match", [
    (dict(anchor_weight=1.5), "`anchor_weight` must lie in"),
    (dict(anchor_temperature=0.0), "`anchor_temperature` must be"),
    (dict(anchor_weight=0.6, distillation_weight=0.6), "must not exceed 1"),
    (dict(backbone_learning_rate_multiplier=-1.0), "`backbone_learning_rate_multiplier` must be"),
    (dict(layer_learning_rate_decay=0.0), "`layer_learning_rate_decay` must be"),
    (dict(freeze_backbone="no"), "freeze_backbone"),
])
def test_bad_anchor_fields_fail_before_loading(kwargs, match, tmp_path, backbone_config, config_errors):
    from huggingface_hub.errors import StrictDataclassFieldValidationError

    backbone_config("bert", architectures=["BertForSequenceClassification"]).save_pretrained(tmp_path)  # no weights
    with pytest.raises((*config_errors, StrictDataclassFieldValidationError), match=match):
        early_exit_from_classifier(tmp_path, exit_layers=[1], **kwargs)


def test_set_anchor_model_checks(tmp_path, stock_classifier):
    stock = stock_classifier("bert", tmp_path, num_labels=3)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1])
    with pytest.raises(TypeError, match="torch.nn.Module"):
        model.set_anchor_model("path")
    with pytest.raises(ValueError, match="not the model itself"):
        model.set_anchor_model(model)
    stock_classifier("bert", tmp_path / "two", num_labels=2)
    with pytest.raises(ValueError, match="predicts 2 labels but this model 3"):
        model.set_anchor_model(AutoModelForSequenceClassification.from_pretrained(tmp_path / "two"))
    model.set_anchor_model(stock)
    assert model.anchor_model is stock
    model.set_anchor_model(None)
    assert model.anchor_model is None
