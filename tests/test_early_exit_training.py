"""Early-exit training: the losses (joint, self-distilled, exits-only), the eval loss a user can compare with a stock
model's, and the library's optimizer recipe (exits at a higher learning rate)."""

import pytest
import torch
from torch.nn import functional as F
from transformers import Trainer, TrainingArguments

from hf_notlike import EarlyExitTrainer, early_exit_from_classifier, early_exit_optimizer
from hf_notlike.early_exit import EARLY_EXIT_MODELS, exit_parameter_groups

LABELS = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])

# ----------------------------------------------------------------------------------------------------- the losses


@pytest.mark.parametrize("weight, temperature", [(0.5, 2.0), (1.0, 1.0)])
def test_self_distillation_loss(weight, temperature, early_exit_model, padded_batch):
    weights = [0.5, 1.0, 2.0, 1.0]
    model = early_exit_model("bert", exit_loss_weights=weights, distillation_weight=weight,
                             distillation_temperature=temperature, hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0).train()
    ids, mask = padded_batch(model)
    out = model(ids, attention_mask=mask, labels=LABELS)
    z = out.exit_logits
    teacher = F.softmax(z[:, -1] / temperature, -1)
    expected = weights[-1] * F.cross_entropy(z[:, -1], LABELS)
    for k in range(3):
        kl = (teacher * (teacher.log() - F.log_softmax(z[:, k] / temperature, -1))).sum(-1).mean()
        expected = expected + weights[k] * ((1 - weight) * F.cross_entropy(z[:, k], LABELS)
                                            + weight * temperature**2 * kl)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.training_loss, out.loss)
    torch.testing.assert_close(out.exit_losses, torch.stack([F.cross_entropy(z[:, k], LABELS) for k in range(4)]))
    # the teacher is detached: the last exit's gradient comes from its own cross-entropy only
    out.loss.backward()
    grad = model.exits[-1].classifier.weight.grad.clone()
    model.zero_grad()
    (weights[-1] * F.cross_entropy(model(ids, attention_mask=mask, labels=LABELS).exit_logits[:, -1], LABELS)
     ).backward()
    torch.testing.assert_close(model.exits[-1].classifier.weight.grad, grad)


def test_no_distillation_is_the_plain_weighted_sum(early_exit_model, padded_batch):
    model = early_exit_model("bert", distillation_weight=0.0).train()
    ids, mask = padded_batch(model)
    out = model(ids, attention_mask=mask, labels=LABELS)
    torch.testing.assert_close(out.loss, out.exit_losses.sum())


@pytest.mark.parametrize("kwargs", [dict(distillation_weight=1.5), dict(distillation_weight=-0.1),
                                    dict(distillation_temperature=0.0), dict(exit_learning_rate_multiplier=0),
                                    dict(num_labels=1, distillation_weight=0.5)])
def test_bad_training_fields(kwargs, early_exit_model, config_errors):
    with pytest.raises(config_errors, match="`(distillation_weight|distillation_temperature|exit_learning_rate)"):
        early_exit_model("bert", **kwargs)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_eval_loss_is_the_last_exits_and_equals_the_stock_classifiers(arch, tmp_path, stock_classifier, padded_batch):
    """In eval, `loss` is what the stock classifier reports (here: exactly, on the same weights)."""
    stock = stock_classifier(arch, tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1, 2])
    ids, mask = padded_batch(model)
    with torch.no_grad():
        out = model(ids, attention_mask=mask, labels=LABELS)
        expected = stock(ids, attention_mask=mask, labels=LABELS).loss
    # a float32 mean cross-entropy of scale ~1: ~80 ulps (the loss may be reduced by another op than the stock one)
    torch.testing.assert_close(out.loss, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.exit_losses[-1], out.loss)
    torch.testing.assert_close(out.training_loss, out.exit_losses.sum())
    model.train()
    out = model(ids, attention_mask=mask, labels=LABELS)
    assert torch.equal(out.loss, out.training_loss)


# ------------------------------------------------------------------------------------------- the optimizer recipe


def training_args(tmp_path, **kwargs):
    defaults = dict(output_dir=str(tmp_path), per_device_train_batch_size=16, learning_rate=1e-4, num_train_epochs=3,
                    logging_steps=1, save_strategy="no", report_to=[], seed=0, use_cpu=True, disable_tqdm=True,
                    weight_decay=0.01, warmup_steps=2)
    defaults.update(kwargs)
    return TrainingArguments(**defaults)


@pytest.mark.parametrize("arch", ["bert", "electra"])
def test_parameter_groups(arch, early_exit_model):
    model = early_exit_model(arch, exit_learning_rate_multiplier=25)
    groups = exit_parameter_groups(model, 1e-4, weight_decay=0.01)
    by_id = {id(p): g for g in groups for p in g["params"]}
    assert len(by_id) == sum(p.numel() > 0 for p in model.parameters())
    for name, p in model.named_parameters():
        group = by_id[id(p)]
        head = name.startswith("exits.") or (arch == "electra" and name.startswith("pooler."))
        assert group["lr"] == pytest.approx(1e-4 * (25 if head else 1)), name
        assert group["weight_decay"] == (0.0 if ("bias" in name or "LayerNorm" in name) else 0.01), name


@pytest.mark.parametrize("arch", ["bert", "distilbert", "modernbert", "mpnet"])
def test_layer_learning_rate_decay(arch, tmp_path, stock_classifier):
    """Layer l learns at the backbone's rate times decay ** (l - 1): the embeddings at the lowest layer's rate, the
    classifier's own (trained) head at the top layer's, the new exits at their own rate whatever the decay."""
    stock_classifier(arch, tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1], freeze_backbone=False,
                                       backbone_learning_rate_multiplier=0.5, layer_learning_rate_decay=0.5,
                                       exit_learning_rate_multiplier=20)
    by_id = {id(p): g["lr"] for g in exit_parameter_groups(model, 1e-3) for p in g["params"]}

    def rates(module) -> list[float]:
        return sorted({by_id[id(p)] for p in module.parameters()})

    layers = model.adapter.layers(model.backbone)
    top = len(layers) - 1
    assert top >= 1
    for index, layer in enumerate(layers):
        assert rates(layer) == pytest.approx([1e-3 * 0.5 * 0.5**index])
    assert rates(model.backbone.embeddings) == pytest.approx([5e-4])
    assert rates(model.exits[-1]) == pytest.approx([1e-3 * 0.5 * 0.5**top])
    assert rates(model.exits[0]) == pytest.approx([2e-2])
    assert len(by_id) == sum(p.requires_grad for p in model.parameters())
    # decay 1.0 (the default) keeps one backbone group per weight-decay setting, as before
    model.config.layer_learning_rate_decay = 1.0
    assert len(exit_parameter_groups(model, 1e-3)) == 4


def test_frozen_parameters_are_left_out(tmp_path, stock_classifier):
    stock_classifier("bert", tmp_path)
    model = early_exit_from_classifier(tmp_path, exit_layers=[1, 2])
    params = [p for g in exit_parameter_groups(model, 1e-4) for p in g["params"]]
    assert params and all(p.requires_grad for p in params)
    assert {id(p) for p in params} == {id(p) for n, p in model.named_parameters() if n.startswith(("exits.0", "exits.1"))}


def test_optimizer_rejects_other_models():
    from transformers import BertConfig, BertForSequenceClassification

    with pytest.raises(TypeError, match="early-exit model"):
        exit_parameter_groups(BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=1,
                                                                       num_attention_heads=2, intermediate_size=8)),
                              1e-4)


def train_toy(tmp_path, how: str, early_exit_model, toy_dataset):
    model = early_exit_model("bert", num_labels=2, exit_learning_rate_multiplier=30,
                             hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    args = training_args(tmp_path / how, learning_rate=3e-4, num_train_epochs=6)
    data = toy_dataset()
    if how == "trainer_subclass":
        trainer = EarlyExitTrainer(model=model, args=args, train_dataset=data)
    elif how == "optimizers_pair":
        trainer = Trainer(model=model, args=args, train_dataset=data, optimizers=early_exit_optimizer(model, args))
    else:
        trainer = Trainer(model=model, args=args, train_dataset=data)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return model, trainer, sum(losses[-4:]) / 4


@pytest.mark.slow  # three Trainer runs
def test_one_line_recipe_trains_exits_faster_than_one_learning_rate(tmp_path, early_exit_model, toy_dataset):
    _, _, stock_loss = train_toy(tmp_path, "stock", early_exit_model, toy_dataset)
    for how in ("trainer_subclass", "optimizers_pair"):
        model, trainer, loss = train_toy(tmp_path, how, early_exit_model, toy_dataset)
        assert len(trainer.optimizer.param_groups) == 4
        head = [g for g in trainer.optimizer.param_groups
                if any(p is model.exits[0].classifier.weight for p in g["params"])]
        body = [g for g in trainer.optimizer.param_groups
                if any(p is model.bert.encoder.layer[0].output.dense.weight for p in g["params"])]
        assert head[0]["initial_lr"] == pytest.approx(30 * body[0]["initial_lr"])
        assert loss < 0.9 * stock_loss, (how, loss, stock_loss)


# ------------------------------------------------------------------------- alternating objectives (BERxiT)


def test_alternating_objectives(early_exit_model, padded_batch, tmp_path):
    weights = [0.5, 1.0, 2.0, 3.0]
    model = early_exit_model("bert", exit_loss_weights=weights, alternate_objectives=True, hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0).train()
    ids, mask = padded_batch(model)
    losses = [model(ids, attention_mask=mask, labels=LABELS) for _ in range(4)]
    per_exit = losses[0].exit_losses
    last, others = 3.0 * per_exit[-1], sum(w * loss for w, loss in zip(weights[:-1], per_exit[:-1]))
    for index, out in enumerate(losses):
        torch.testing.assert_close(out.exit_losses, per_exit)
        torch.testing.assert_close(out.loss, last if index % 2 == 0 else others)
    # the last exit gets no gradient from the exits' turn
    model.zero_grad()
    model(ids, attention_mask=mask, labels=LABELS).loss.backward()  # the 5th pass: the last exit's turn
    def moved(parameter):
        return parameter.grad is not None and bool(parameter.grad.any())

    assert moved(model.exits[-1].classifier.weight) and not moved(model.exits[0].classifier.weight)
    model.zero_grad()
    model(ids, attention_mask=mask, labels=LABELS).loss.backward()
    assert moved(model.exits[0].classifier.weight) and not moved(model.exits[-1].classifier.weight)
    # eval mode: the whole objective; the option is saved
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(ids, attention_mask=mask, labels=LABELS).training_loss,
                                   last + others)
    model.save_pretrained(tmp_path)
    assert type(model).from_pretrained(tmp_path).config.alternate_objectives is True


# ------------------------------------------------------------------------------------ mixed-precision training


def test_after_bf16_training_the_model_in_memory_is_the_saved_one(tmp_path, early_exit_model, toy_dataset):
    """The stock Trainer leaves `forward` wrapped in autocast after `bf16=True`; EarlyExitTrainer takes it off, so
    calibration and timing in memory see the float32 model that is saved and reloaded."""
    from transformers import AutoModelForSequenceClassification

    model = early_exit_model("bert").train()
    args = TrainingArguments(str(tmp_path / "run"), bf16=True, use_cpu=True, max_steps=2, per_device_train_batch_size=8,
                             report_to=[], save_strategy="no", disable_tqdm=True)
    EarlyExitTrainer(model=model, args=args, train_dataset=toy_dataset(n=16)).train()  # with the exits check
    assert "forward" not in model.__dict__
    model.eval().save_pretrained(tmp_path / "saved")
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "saved").eval()
    ids = torch.randint(5, 100, (4, 8))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reloaded(ids).logits, rtol=0, atol=0)
