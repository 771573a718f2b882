"""`exit_head="mlp"`: exits with a dense layer and tanh before their linear layer. Their logits are not linear in
the pooled states, so the exit loop calls each exit instead of fusing them: the same exits and logits as the
all-exits pass, batched and one row at a time; the layout buffer records the head, so an edited config.json fails
to load, and checkpoints saved before the field existed load as linear exits; training, saving, reloading through
the Auto classes, the remote code and `pipeline` work as for linear exits."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForSequenceClassification, TrainingArguments

from hf_notlike import EarlyExitTrainer, early_exit_from_classifier
from hf_notlike.early_exit.modeling import LAYOUT_KEY, select_exits


def _thresholds_between(conf: torch.Tensor, n: int = 5) -> list[float]:
    """Thresholds between observed confidences (never on one), so rounding cannot flip a decision."""
    values = sorted(set(conf[:, :-1].flatten().tolist()))
    mids = [(a + b) / 2 for a, b in zip(values, values[1:]) if b - a > 1e-4]
    step = max(1, len(mids) // n)
    return mids[::step][:n]


@pytest.mark.parametrize("arch", ["bert", "roberta", "mpnet"])
@pytest.mark.parametrize("exit_input, num_labels", [("weighted_mean", 3), ("cls", 2), ("weighted_cls", 2)])
def test_mlp_exits_leave_where_the_all_exits_rule_says(arch, exit_input, num_labels, early_exit_model, padded_batch,
                                                       all_exit_confidences):
    model = early_exit_model(arch, exit_input=exit_input, exit_head="mlp", num_labels=num_labels,
                             temperatures=[1.5, 1.0, 0.7, 1.0], exit_scale=8.0)
    assert all(exit_.dense is not None and not exit_.linear for exit_ in model.exits)
    ids, mask = padded_batch(model)
    exit_logits, conf = all_exit_confidences(model, ids, mask)
    thresholds = _thresholds_between(conf)
    per_exit = [thresholds[0], 1.0, thresholds[-1], 1.0]
    seen = set()
    with torch.no_grad():
        for threshold in [*thresholds, per_exit, 1.0]:
            expected = select_exits(exit_logits, model.config.temperatures, threshold)
            out = model(ids, attention_mask=mask, exit_threshold=threshold)
            assert out.exit_layer.tolist() == [model.config.exit_layers[k] for k in expected.tolist()]
            torch.testing.assert_close(out.logits, exit_logits[torch.arange(len(ids)), expected], atol=1e-5,
                                       rtol=1e-4)
            for row in range(len(ids)):  # batch size 1, unpadded
                single = model(ids[row : row + 1, : int(mask[row].sum())], exit_threshold=threshold)
                assert single.exit_layer.item() == out.exit_layer[row].item()
                # padded and unpadded runs round apart, and exit_scale multiplies the difference
                torch.testing.assert_close(single.logits[0], out.logits[row], atol=1e-4, rtol=1e-4)
            seen.update(out.exit_layer.tolist())
    assert len(seen) >= 3, "the thresholds should exercise several exits"


def test_the_dense_layer_changes_the_logits_and_is_counted(early_exit_model, padded_batch):
    linear = early_exit_model("bert", seed=0)
    mlp = early_exit_model("bert", seed=0, exit_head="mlp")
    hidden = linear.config.hidden_size
    extra = sum(p.numel() for p in mlp.parameters()) - sum(p.numel() for p in linear.parameters())
    assert extra == len(mlp.exits) * (hidden * hidden + hidden)
    ids, mask = padded_batch(mlp)
    with torch.no_grad():  # the same backbone (seeded) but other exits
        a = linear(ids, attention_mask=mask, output_all_exits=True).exit_logits
        b = mlp(ids, attention_mask=mask, output_all_exits=True).exit_logits
    assert not torch.allclose(a, b)


def test_bad_exit_head_names_the_choices(early_exit_config, config_errors):
    with pytest.raises(config_errors, match=r"`exit_head` must be one of \('linear', 'mlp'\), got 'tanh'"):
        early_exit_config("bert", exit_head="tanh")


def test_the_cli_offers_the_configuration_choices():
    """add-exits keeps its own copy of the choices (its --help imports no torch): the same as the configuration's."""
    from hf_notlike.early_exit import add_exits, configuration

    assert (add_exits.EXIT_HEADS, add_exits.EXIT_INPUTS) == (configuration.EXIT_HEADS, configuration.EXIT_INPUTS)


def _edit(folder, **changes):
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("saved, edited", [("mlp", "linear"), ("linear", "mlp")])
@pytest.mark.parametrize("layout", ["recorded", "stripped"])
def test_edited_exit_head_fails_naming_the_field(saved, edited, layout, tmp_path, early_exit_model):
    early_exit_model("bert", exit_layers=[1, 3], exit_head=saved).save_pretrained(tmp_path)
    if layout == "stripped":  # as saved before the layout buffer existed: read off the weight names
        state = load_file(tmp_path / "model.safetensors")
        del state[LAYOUT_KEY]
        save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    _edit(tmp_path, exit_head=edited)
    with pytest.raises(ValueError) as info:
        AutoModelForSequenceClassification.from_pretrained(tmp_path)
    message = str(info.value)
    assert f"`exit_head` is {edited!r} in the configuration but {saved!r} in the weights" in message
    assert f"exit_head={saved!r}" in message  # the fix


def test_checkpoint_saved_before_exit_head_loads_as_linear(tmp_path, early_exit_model, padded_batch):
    """A layout buffer of format 1 (no exit-head field) and a config.json without `exit_head`: linear exits."""
    model = early_exit_model("roberta", exit_layers=[1, 3], exit_input="weighted_mean")
    model.save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    fmt, depth, exit_input, flags, *layers = state[LAYOUT_KEY].tolist()
    assert (fmt, flags) == (2, 0)  # linear exits, no classifier head
    state[LAYOUT_KEY] = torch.tensor([1, depth, exit_input, flags, *layers])
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((tmp_path / "config.json").read_text())
    del config["exit_head"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.exit_head == "linear" and all(exit_.linear for exit_ in loaded.exits)
    ids, mask = padded_batch(model)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, attention_mask=mask, output_all_exits=True).exit_logits,
                                   model(ids, attention_mask=mask, output_all_exits=True).exit_logits)
    assert loaded.get_buffer(LAYOUT_KEY).tolist() == [2, depth, exit_input, flags, *layers]  # rewritten on load
    # an exit head this code does not know is not misread: the layout is read off the weight names instead
    state[LAYOUT_KEY] = torch.tensor([2, depth, exit_input, 2 * 7, *layers])
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path).config.exit_head == "linear"


@pytest.mark.slow  # a short Trainer run, a pipeline and a fresh Python process
def test_anchored_training_with_mlp_exits_round_trips(tmp_path, bert_tokenizer, backbone_config, padded_batch,
                                                      toy_dataset):
    from hub_helpers import BLOCK_HF_NOTLIKE, child_env, run_python
    from transformers import pipeline

    config = AutoConfig.for_model(**backbone_config("bert", vocab_size=bert_tokenizer.vocab_size).to_dict())
    config.num_labels, config.id2label, config.label2id = 2, {0: "neg", 1: "pos"}, {"neg": 0, "pos": 1}
    torch.manual_seed(0)
    stock = AutoModelForSequenceClassification.from_config(config).eval()
    stock.save_pretrained(tmp_path / "stock")
    bert_tokenizer.save_pretrained(tmp_path / "stock")
    model = early_exit_from_classifier(tmp_path / "stock", exit_layers=[1, 2], exit_head="mlp", freeze_backbone=False,
                                       anchor_weight=0.5, anchor_temperature=2.0, exit_learning_rate_multiplier=20)
    # the new exits get the dense layer; the last exit is the classifier's own head, exactly
    assert [exit_.dense is not None for exit_ in model.exits] == [True, True, False]
    ids, mask = padded_batch(model)
    with torch.no_grad():
        assert torch.equal(model(ids, attention_mask=mask).logits, stock(ids, attention_mask=mask).logits)
    before = model.exits[0].dense.weight.detach().clone()
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=16, learning_rate=1e-3,
                             max_steps=4, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True, seed=0)
    EarlyExitTrainer(model=model.train(), args=args, train_dataset=toy_dataset()).train()
    assert not torch.equal(model.exits[0].dense.weight, before)

    model.eval().save_pretrained(tmp_path / "ee")
    bert_tokenizer.save_pretrained(tmp_path / "ee")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ee").eval()
    assert loaded.config.exit_head == "mlp" and loaded.exits[1].dense is not None
    with torch.no_grad():
        conf = torch.softmax(model(ids, attention_mask=mask, output_all_exits=True).exit_logits, -1).amax(-1)
        threshold = float(conf[:, 0].median())
        expected = model(ids, attention_mask=mask, exit_threshold=threshold)
        got = loaded(ids, attention_mask=mask, exit_threshold=threshold)
    assert torch.equal(got.exit_layer, expected.exit_layer)
    torch.testing.assert_close(got.logits, expected.logits)
    classifier = pipeline("text-classification", model=str(tmp_path / "ee"), device="cpu")
    assert all(p["label"] in ("neg", "pos") for p in classifier(["a gripping film", "dull."]))

    code = BLOCK_HF_NOTLIKE + f"""
import torch
from safetensors.torch import save_file
from transformers import AutoModelForSequenceClassification
torch.set_num_threads(1)
model = AutoModelForSequenceClassification.from_pretrained({str(tmp_path / "ee")!r}, trust_remote_code=True).eval()
with torch.no_grad():
    out = model(torch.tensor({ids.tolist()}), attention_mask=torch.tensor({mask.tolist()}), exit_threshold={threshold})
save_file({{"logits": out.logits, "exit_layer": out.exit_layer}}, {str(tmp_path / "out.safetensors")!r})
"""
    run_python(code, child_env({}, tmp_path), cwd=tmp_path)
    remote = load_file(str(tmp_path / "out.safetensors"))
    assert torch.equal(remote["exit_layer"], expected.exit_layer)
    torch.testing.assert_close(remote["logits"], expected.logits, rtol=1e-5, atol=1e-6)
