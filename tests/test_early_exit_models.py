"""Early-exit encoders (BERT, RoBERTa, XLM-RoBERTa, ELECTRA, DistilBERT): configuration, the exit rule, batched
inference, save/load, Auto classes, pipeline, remote code, Trainer. Every architecture runs the same matrix."""

import logging

import pytest
import torch
from torch.nn import functional as F
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    BertModel,
    Trainer,
    TrainingArguments,
    pipeline,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from hf_notlike import (
    EarlyExitBertForSequenceClassification,
)
from hf_notlike.early_exit import EARLY_EXIT_MODELS, select_exits


def encoder_layers(model):
    return model.adapter.layers(model.backbone)


def count_rows_per_layer(model):
    """Forward hooks that count how many rows each encoder layer processed."""
    counts = [0] * model.config.num_hidden_layers
    handles = []
    for i, layer in enumerate(encoder_layers(model)):
        def hook(module, args, output, i=i):
            counts[i] += args[0].shape[0]
        handles.append(layer.register_forward_hook(hook))
    return counts, handles


# --------------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(exit_layers=[]), "exit_layers"),
        (dict(exit_layers=[3, 1]), "exit_layers"),
        (dict(exit_layers=[2, 2]), "exit_layers"),
        (dict(exit_layers=[0, 4]), "exit_layers"),
        (dict(exit_layers=[5]), "exit_layers"),
        (dict(exit_threshold=0.0), "exit_threshold"),
        (dict(exit_threshold=1.01), "exit_threshold"),
        (dict(exit_threshold=-0.5), "exit_threshold"),
        (dict(temperatures=[1.0, 1.0]), "temperatures"),
        (dict(temperatures=[1.0, 1.0, 0.0, 1.0]), "temperatures"),
        (dict(temperatures=[1.0, -2.0, 1.0, 1.0]), "temperatures"),
        (dict(exit_loss_weights=[1.0]), "exit_loss_weights"),
        (dict(exit_loss_weights=[1.0, -1.0, 1.0, 1.0]), "exit_loss_weights"),
        (dict(exit_input="max"), "exit_input"),
        (dict(num_labels=1, exit_threshold=0.9), "exit_threshold"),
    ],
)
def test_config_rejects_bad_values(arch, kwargs, field, early_exit_config, config_errors):
    with pytest.raises(config_errors, match=f"`{field}`"):
        early_exit_config(arch, **kwargs)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_config_defaults_and_last_layer_exit(arch, early_exit_config):
    config = early_exit_config(arch)
    assert config.exit_layers == [1, 2, 3, 4]
    assert config.temperatures == [1.0] * 4 and config.exit_loss_weights == [1.0] * 4
    assert config.exit_threshold == 1.0 and config.exit_input == "weighted_mean"
    config = early_exit_config(arch, exit_layers=[1, 3])
    assert config.exit_layers == [1, 3, 4] and config.num_exits == 3
    assert config.model_type.startswith("hf_notlike_early_exit_")


def test_forward_rejects_bad_threshold_override(early_exit_model, padded_batch):
    model = early_exit_model("bert")
    ids, mask = padded_batch(model)
    with pytest.raises(ValueError, match="exit_threshold"):
        model(ids, attention_mask=mask, exit_threshold=1.5)


# ------------------------------------------------------------------------------------------------- training / loss


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_training_computes_every_exit_and_weighted_loss(arch, early_exit_model, padded_batch):
    weights = [0.5, 1.0, 2.0, 0.25]
    model = early_exit_model(arch, exit_loss_weights=weights).train()
    ids, mask = padded_batch(model)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    torch.manual_seed(3)
    out = model(ids, attention_mask=mask, labels=labels)
    assert out.exit_logits.shape == (8, 4, 3)
    expected = sum(w * F.cross_entropy(out.exit_logits[:, k], labels) for k, w in enumerate(weights))
    torch.testing.assert_close(out.loss, expected)
    out.loss.backward()
    for exit_ in model.exits:  # every exit gets a gradient
        assert exit_.classifier.weight.grad is not None and exit_.classifier.weight.grad.abs().sum() > 0
        assert exit_.mix_logits.grad is not None


def test_regression_trains_with_mse_and_runs_the_full_model(early_exit_model, padded_batch):
    model = early_exit_model("bert", num_labels=1).train()
    ids, mask = padded_batch(model)
    targets = torch.linspace(-1, 1, 8)
    out = model(ids, attention_mask=mask, labels=targets)
    expected = sum(F.mse_loss(out.exit_logits[:, k, 0], targets) for k in range(4))
    torch.testing.assert_close(out.loss, expected)
    model.eval()
    assert model(ids, attention_mask=mask).exit_layer.tolist() == [4] * 8


def test_multi_label_is_rejected(early_exit_model, padded_batch, config_errors):
    with pytest.raises(config_errors, match="single-label classification and regression"):
        early_exit_model("bert", problem_type="multi_label_classification")
    model = early_exit_model("bert")
    model.config.problem_type = "multi_label_classification"  # changed after building: caught on use
    ids, mask = padded_batch(model)
    with pytest.raises(config_errors, match="single-label classification and regression"):
        model(ids, attention_mask=mask)


# ------------------------------------------------------------------------------------------------------ inference


def thresholds_away_from_confidences(conf: torch.Tensor, n: int = 6) -> list[float]:
    """Thresholds between observed confidences, so float noise cannot flip a decision."""
    values = sorted(set(conf.flatten().tolist()))
    mids = [(a + b) / 2 for a, b in zip(values, values[1:]) if b - a > 1e-4]
    step = max(1, len(mids) // n)
    return mids[::step][:n] + [1.0]


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize("exit_input", ["weighted_cls", "cls", "weighted_mean", "mean"])
def test_early_exit_equals_all_exits_rule_and_batch_of_one(arch, exit_input, early_exit_model, padded_batch,
                                                           all_exit_confidences):
    model = early_exit_model(arch, exit_input=exit_input, temperatures=[1.5, 1.0, 0.7, 1.0])
    ids, mask = padded_batch(model)
    exit_logits, conf = all_exit_confidences(model, ids, mask)
    thresholds = thresholds_away_from_confidences(conf)
    seen_layers = set()
    with torch.no_grad():
        for threshold in thresholds:
            # the rule, written out by hand on the all-exits pass
            expected = []
            for row in range(ids.shape[0]):
                passing = [k for k in range(4) if conf[row, k] >= threshold and threshold < 1.0]
                expected.append(passing[0] if passing else 3)
            expected = torch.tensor(expected)
            assert torch.equal(select_exits(exit_logits, model.config.temperatures, threshold), expected)

            batched = check_exit_loop(model, ids, mask, threshold, exit_logits, expected, one_by_one=True)
            assert batched.exit_logits is None
            seen_layers.update(batched.exit_layer.tolist())
    assert len(seen_layers) >= 3, "the thresholds should exercise several exits"


def check_exit_loop(model, ids, mask, threshold, exit_logits, expected, one_by_one: bool = False):
    """The batched exit loop at `threshold` takes the `expected` exits (indices) with those exits' logits from the
    all-exits pass; with `one_by_one`, every row alone and unpadded too. Returns the batched output."""
    batched = model(ids, attention_mask=mask, exit_threshold=threshold)
    assert batched.exit_layer.tolist() == [model.config.exit_layers[k] for k in expected]
    torch.testing.assert_close(batched.logits, exit_logits[torch.arange(ids.shape[0]), expected], atol=1e-5,
                               rtol=1e-4)
    for row in range(ids.shape[0]) if one_by_one else ():  # batch size 1, unpadded
        length = int(mask[row].sum())
        single = model(ids[row : row + 1, :length], exit_threshold=threshold)
        assert single.exit_layer.item() == batched.exit_layer[row].item()
        torch.testing.assert_close(single.logits[0], batched.logits[row], atol=1e-5, rtol=1e-4)
    return batched


@pytest.mark.parametrize("exit_input", ["weighted_mean", "cls"])
def test_two_labels_early_exit_equals_all_exits_rule_and_batch_of_one(exit_input, early_exit_model, padded_batch,
                                                                      all_exit_confidences):
    """Two labels take the exit loop's margin test (|z_1 - z_0| / T against log(t / (1 - t))) instead of a softmax:
    the same exits and logits as the all-exits rule, batched and one sentence at a time, per-exit thresholds too."""
    model = early_exit_model("bert", exit_input=exit_input, num_labels=2, temperatures=[1.5, 1.0, 0.7, 1.0])
    ids, mask = padded_batch(model)
    exit_logits, conf = all_exit_confidences(model, ids, mask)
    thresholds = thresholds_away_from_confidences(conf)
    seen_layers = set()
    with torch.no_grad():
        for threshold in thresholds + [[thresholds[0], 1.0, thresholds[1], 1.0]]:
            expected = select_exits(exit_logits, model.config.temperatures, threshold)
            batched = check_exit_loop(model, ids, mask, threshold, exit_logits, expected, one_by_one=True)
            seen_layers.update(batched.exit_layer.tolist())
    assert len(seen_layers) >= 3, "the thresholds should exercise several exits"


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_low_threshold_runs_fewer_layers(arch, early_exit_model, padded_batch, all_exit_confidences):
    model = early_exit_model(arch)
    ids, mask = padded_batch(model, batch_size=16)
    counts, handles = count_rows_per_layer(model)
    try:
        with torch.no_grad():
            full = model(ids, attention_mask=mask, exit_threshold=1.0)
            assert counts == [16, 16, 16, 16] and full.exit_layer.tolist() == [4] * 16
            counts[:] = [0] * 4
            _, conf = all_exit_confidences(model, ids, mask)
            counts[:] = [0] * 4
            threshold = float(conf[:, 0].median())  # about half the rows leave at the first exit
            early = model(ids, attention_mask=mask, exit_threshold=threshold)
    finally:
        for handle in handles:
            handle.remove()
    leaving_first = int((early.exit_layer == 1).sum())
    assert 0 < leaving_first < 16
    assert counts[0] == 16 and counts[1] == 16 - leaving_first
    for layer in range(1, 4):  # a row runs layer l+1 only if it had not left by layer l
        assert counts[layer] == int((early.exit_layer > layer).sum())


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_dropped_rows_trim_the_sequence(arch, early_exit_model, padded_batch, all_exit_confidences):
    model = early_exit_model(arch)
    ids, mask = padded_batch(model, batch_size=16, seq_len=20)
    _, conf = all_exit_confidences(model, ids, mask)
    threshold = float(conf[:, 0].median())
    lengths_seen = []
    handle = encoder_layers(model)[1].register_forward_hook(lambda m, a, o: lengths_seen.append(a[0].shape[1]))
    with torch.no_grad():
        out = model(ids, attention_mask=mask, exit_threshold=threshold)
    handle.remove()
    remaining = out.exit_layer > 1
    assert lengths_seen == [int(mask[remaining].sum(1).max())]


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_tuple_output_when_return_dict_false(arch, early_exit_model, padded_batch):
    model = early_exit_model(arch)
    ids, mask = padded_batch(model)
    out = model(ids, attention_mask=mask, return_dict=False)
    assert isinstance(out, tuple) and out[0].shape == (8, 3) and out[1].shape == (8,)


# ----------------------------------------------------------------------------------------- save / load / Auto / pipeline


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_save_and_load_round_trip_through_auto_classes(arch, tmp_path, early_exit_model, padded_batch):
    model = early_exit_model(arch, exit_layers=[1, 3], temperatures=[2.0, 0.5, 1.0], exit_threshold=0.8)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config = AutoConfig.from_pretrained(tmp_path)
    assert type(config) is type(model.config)
    assert (config.exit_layers, config.temperatures, config.exit_threshold) == ([1, 3, 4], [2.0, 0.5, 1.0], 0.8)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    ids, mask = padded_batch(model)
    with torch.no_grad():
        for threshold in (None, 0.6, 1.0):
            a = model(ids, attention_mask=mask, exit_threshold=threshold)
            b = loaded(ids, attention_mask=mask, exit_threshold=threshold)
            torch.testing.assert_close(a.logits, b.logits)
            assert torch.equal(a.exit_layer, b.exit_layer)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_pipeline_runs_the_early_exit_model(arch, tmp_path, bert_tokenizer, early_exit_model):
    model = early_exit_model(arch, vocab_size=bert_tokenizer.vocab_size, id2label={0: "neg", 1: "neu", 2: "pos"},
                             label2id={"neg": 0, "neu": 1, "pos": 2}, max_position_embeddings=128)
    model.save_pretrained(tmp_path)
    tokenizer = bert_tokenizer
    if "token_type_ids" not in model.adapter.input_names:
        tokenizer = bert_tokenizer.__class__.from_pretrained(bert_tokenizer.name_or_path,
                                                             model_input_names=["input_ids", "attention_mask"])
    tokenizer.save_pretrained(tmp_path)
    classifier = pipeline("text-classification", model=str(tmp_path), device="cpu")
    assert type(classifier.model) is type(model)
    texts = ["a gripping, beautifully shot film", "dull.", "it was fine I guess, nothing more"]
    predictions = classifier(texts)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = model(**encoded).logits.softmax(-1)
    assert [p["label"] for p in predictions] == [model.config.id2label[i] for i in expected.argmax(-1).tolist()]
    for prediction, probs in zip(predictions, expected):
        assert prediction["score"] == pytest.approx(probs.max().item(), abs=1e-5)


@pytest.mark.slow  # a fresh Python process per architecture
@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_remote_code_loads_without_the_library(arch, tmp_path, early_exit_model, padded_batch, all_exit_confidences):
    """The saved folder carries the modeling code: a process where hf_notlike cannot be imported loads it with
    trust_remote_code=True and gives the same logits and exits."""
    import json

    from hub_helpers import BLOCK_HF_NOTLIKE, child_env, run_python

    model = early_exit_model(arch, exit_layers=[1, 2])
    ids, mask = padded_batch(model, batch_size=6)
    _, conf = all_exit_confidences(model, ids, mask)
    model.config.exit_threshold = float(conf[:, 0].median())
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    assert saved["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling.")
    with torch.no_grad():
        expected = model(ids, attention_mask=mask)
    code = BLOCK_HF_NOTLIKE + f"""
import sys, torch
from safetensors.torch import save_file
from transformers import AutoModelForSequenceClassification
torch.set_num_threads(1)
model = AutoModelForSequenceClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
assert "hf_notlike" not in [m.split(".")[0] for m, v in sys.modules.items() if v is not None]
with torch.no_grad():
    out = model(torch.tensor({ids.tolist()}), attention_mask=torch.tensor({mask.tolist()}))
save_file({{"logits": out.logits, "exit_layer": out.exit_layer}}, {str(tmp_path / "out.safetensors")!r})
"""
    run_python(code, child_env({}, tmp_path), cwd=tmp_path)
    from safetensors.torch import load_file

    got = load_file(str(tmp_path / "out.safetensors"))
    assert torch.equal(got["exit_layer"], expected.exit_layer)
    assert len(set(expected.exit_layer.tolist())) > 1
    # another process (weights loaded at other addresses, so other SIMD paths): float32 tolerance relative to the logits
    torch.testing.assert_close(got["logits"], expected.logits, rtol=1e-5, atol=1e-6)


def test_from_plain_bert_checkpoint_loads_backbone(tmp_path, backbone_config):
    torch.manual_seed(0)
    plain = BertModel(backbone_config("bert"))
    plain.save_pretrained(tmp_path)
    model, info = EarlyExitBertForSequenceClassification.from_pretrained(
        tmp_path, exit_layers=[2], num_labels=2, output_loading_info=True
    )
    assert model.config.exit_layers == [2, 4] and model.config.num_labels == 2
    assert info["unexpected_keys"] == set() or not info["unexpected_keys"]
    assert all(key.startswith("exits.") for key in info["missing_keys"]), info["missing_keys"]
    for name, tensor in plain.state_dict().items():
        torch.testing.assert_close(model.bert.state_dict()[name], tensor)


def test_real_minilm_checkpoint(minilm_path, bert_tokenizer, caplog):
    with caplog.at_level(logging.WARNING):
        model, info = EarlyExitBertForSequenceClassification.from_pretrained(
            minilm_path, num_labels=2, output_loading_info=True
        )
    assert model.config.exit_layers == [1, 2, 3, 4, 5, 6] and model.config.hidden_size == 384
    assert info["missing_keys"] and all(key.startswith("exits.") for key in info["missing_keys"])
    assert not [r for r in caplog.records if "newly initialized" in r.getMessage() and "bert." in r.getMessage()]
    model.eval()
    encoded = bert_tokenizer(["the movie was awesome", "I could see why it got great reviews, but the plot..."],
                             padding=True, return_tensors="pt")
    with torch.no_grad():
        full = model(**encoded, output_all_exits=True)
        early = model(**encoded, exit_threshold=0.5)  # untrained 2-way exits: almost every row leaves at layer 1
    assert full.exit_logits.shape == (2, 6, 2)
    assert early.exit_layer.tolist() == [1, 1]
    torch.testing.assert_close(early.logits, full.exit_logits[:, 0], atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------------------------ Trainer


@pytest.mark.slow  # Trainer runs of 10 epochs per architecture
@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize("checkpointing", [False, True])
def test_trainer_trains_unchanged(arch, checkpointing, tmp_path, early_exit_model, backbone_config, toy_dataset):
    model = early_exit_model(arch, num_labels=2, initializer_range=0.02, hidden_dropout_prob=0.0,
                             attention_probs_dropout_prob=0.0).train()
    data = toy_dataset()
    supported = AutoModelForSequenceClassification.from_config(backbone_config(arch)).supports_gradient_checkpointing
    assert model.supports_gradient_checkpointing is supported  # as the stock classifier of the backbone (MPNet: no)
    if checkpointing and not supported:
        with pytest.raises(ValueError, match="does not support activation checkpointing"):
            model.activation_checkpointing_enable()
        return
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=16, learning_rate=3e-3, num_train_epochs=10,
        logging_steps=1, save_strategy="no", report_to=[], seed=0, use_cpu=True,
        activation_checkpointing=checkpointing, disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=data)
    trainer.train()
    assert getattr(encoder_layers(model)[0], "gradient_checkpointing", False) is checkpointing
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4
    # evaluate/predict hand compute_metrics (logits, exit_layer, exit_logits); eval_loss is the last exit's loss
    prediction = trainer.predict(data)
    logits, exit_layer, exit_logits = prediction.predictions
    assert logits.shape == (64, 2) and exit_layer.shape == (64,) and exit_logits.shape == (64, 4, 2)
    assert (logits.argmax(-1) == prediction.label_ids).mean() > 0.9
    last_exit_loss = F.cross_entropy(torch.from_numpy(exit_logits[:, -1]), torch.from_numpy(prediction.label_ids))
    assert prediction.metrics["test_loss"] == pytest.approx(last_exit_loss.item(), rel=1e-4)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_damaged_weights_file_is_named(damage, tmp_path, early_exit_model):
    early_exit_model("bert").save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3] if damage == "truncate" else b"not a safetensors file")
    with pytest.raises(OSError, match="model.safetensors"):
        AutoModelForSequenceClassification.from_pretrained(tmp_path)


def loop_agrees_with_all_exits(model, ids, mask, all_exit_confidences) -> set[int]:
    """Checks the exit loop against the all-exits pass at thresholds away from every confidence; returns the exit
    layers taken."""
    exit_logits, conf = all_exit_confidences(model, ids, mask)
    layers = set()
    for threshold in thresholds_away_from_confidences(conf):
        expected = select_exits(exit_logits, model.config.temperatures, threshold)
        with torch.no_grad():
            out = check_exit_loop(model, ids, mask, threshold, exit_logits, expected)
        layers.update(out.exit_layer.tolist())
    return layers


def test_fused_exits_follow_new_weights_and_temperatures(early_exit_model, padded_batch, all_exit_confidences):
    """The intermediate exits fused for the exit loop are kept between eval passes: a change of the exits' weights
    in place (an optimizer step, `load_state_dict`) or of the temperatures (calibration) must be seen by the next pass
    (the cache is keyed by torch's tensor version counters and the temperatures)."""
    model = early_exit_model("bert", num_labels=2, temperatures=[1.0, 1.0, 1.0, 1.0])
    ids, mask = padded_batch(model)

    def check():
        layers = loop_agrees_with_all_exits(model, ids, mask, all_exit_confidences)
        assert len(layers) >= 2, "the thresholds should exercise several exits"

    check()
    with torch.no_grad():
        for exit_ in model.exits[:-1]:
            exit_.classifier.weight.mul_(-3.0)  # in place, as an optimizer step
    check()
    model.config.temperatures = [5.0, 0.2, 5.0, 1.0]
    check()


def test_fused_exits_follow_replaced_modules(early_exit_model, padded_batch, all_exit_confidences):
    """The fused exits are also rebuilt when an exit's classifier, one of its weights or the pooler is replaced (not
    changed in place): the cache is keyed by every parameter or module assignment, so the next pass must agree with
    the all-exits pass of the new modules."""
    model = early_exit_model("bert", num_labels=2, temperatures=[1.0, 1.0, 1.0, 1.0], exit_scale=4.0)
    ids, mask = padded_batch(model)

    def exits_taken() -> set[int]:
        return loop_agrees_with_all_exits(model, ids, mask, all_exit_confidences)

    exits_taken()
    generator = torch.Generator().manual_seed(5)
    hidden = model.config.hidden_size
    model.exits[0].classifier = torch.nn.Linear(hidden, 2)  # a new module
    with torch.no_grad():
        model.exits[0].classifier.weight.copy_(torch.randn(2, hidden, generator=generator) * 8)
    exits_taken()
    model.exits[1].classifier.weight = torch.nn.Parameter(torch.randn(2, hidden, generator=generator) * 8)  # new tensor
    exits_taken()
    pooler = model.adapter.pooler(model)
    pooler.dense = torch.nn.Linear(hidden, hidden)  # the pooler the fused exits call
    assert len(exits_taken()) >= 2, "the thresholds should exercise several exits"


def test_per_call_thresholds_are_checked_every_time(early_exit_model):
    """Per-call thresholds are kept per value once checked, but by type too: `True` equals 1.0 and must still be
    refused after 1.0 was accepted; a configured threshold changed in place is followed."""
    model = early_exit_model("bert", num_labels=3)
    ids = torch.tensor([[2, 5, 7, 3, 9]])
    with torch.no_grad():
        assert model(ids, exit_threshold=1.0).exit_layer.tolist() == [4]
        with pytest.raises(ValueError, match="exit_threshold"):
            model(ids, exit_threshold=True)
        assert model(ids, exit_threshold=[1.0, 1.0, 1.0, 1.0]).exit_layer.tolist() == [4]
        with pytest.raises(ValueError, match="exit_threshold"):
            model(ids, exit_threshold=[1.0, True, 1.0, 1.0])
        with pytest.raises(ValueError, match="exit_threshold"):
            model(ids, exit_threshold=[[0.5], 1.0, 1.0, 1.0])  # unhashable: checked, not kept
        model.config.exit_threshold = 0.01
        assert model(ids).exit_layer.tolist() == [1]
        model.config.exit_thresholds = [1.0, 0.01, 1.0, 1.0]
        assert model(ids).exit_layer.tolist() == [2]
        model.config.exit_thresholds[1] = 1.0  # in place
        assert model(ids).exit_layer.tolist() == [4]


def test_output_is_a_model_output(early_exit_model):
    """The output sets its fields faster than `ModelOutput` does, with the same behaviour: keys and tuple of the
    fields that are not None, indexing by name and position, attributes, a field set later."""
    model = early_exit_model("bert", num_labels=3)
    with torch.no_grad():
        out = model(torch.tensor([[2, 5, 7, 3, 9]]), exit_threshold=0.5)
    assert list(out.keys()) == ["logits", "exit_layer"]
    assert out["logits"] is out.logits and out[0] is out.logits and out[1] is out.exit_layer
    assert len(out.to_tuple()) == 2 and out.loss is None and out.hidden_states is None
    out.loss = torch.tensor(1.0)  # appended, as a stock output appends it
    assert list(out.keys()) == ["logits", "exit_layer", "loss"] and out[2] is out.loss
    stock = SequenceClassifierOutput(logits=out.logits)
    stock.loss = out.loss
    assert list(stock.keys()) == ["logits", "loss"]
    out.note = "not a field"
    assert "note" not in out and out.note == "not a field"
