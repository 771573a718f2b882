"""Early-exit checkpoints whose config.json no longer matches their weights: every field that shapes the exits
(`exit_layers`, `exit_input`, `head_from_classifier`, `num_hidden_layers`) is compared with the layout saved in the
weights, and old checkpoints (saved before the layout was recorded) still load."""

import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from transformers import AutoModelForSequenceClassification

from hf_notlike.early_exit import EARLY_EXIT_MODELS
from hf_notlike.early_exit.modeling import LAYOUT_KEY


def _edit_config(folder, **changes):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    layers = list(config["exit_layers"])
    depth = config["n_layers" if "n_layers" in config else "num_hidden_layers"]  # DistilBERT: n_layers
    if layers[-1] != depth:
        layers.append(depth)
    config["exit_layers"] = layers
    for name in ("temperatures", "exit_loss_weights"):  # a careful edit: one value per exit, so the config is valid
        config[name] = (config[name] + [1.0] * len(layers))[: len(layers)]
    path.write_text(json.dumps(config))


def _strip_layout(folder):
    """Turns a saved checkpoint into one as saved before the layout buffer existed (the only difference)."""
    path = folder / "model.safetensors"
    state = load_file(path)
    del state[LAYOUT_KEY]
    save_file(state, path, metadata={"format": "pt"})


def _load_error(folder) -> str:
    with pytest.raises(ValueError) as info:
        AutoModelForSequenceClassification.from_pretrained(folder)
    return str(info.value)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize("exit_input", ["cls", "weighted_cls"])
def test_moved_exit_layers_fail_naming_the_field(arch, exit_input, tmp_path, early_exit_model):
    early_exit_model(arch, exit_layers=[1, 3], exit_input=exit_input).save_pretrained(tmp_path)
    _edit_config(tmp_path, exit_layers=[2, 3, 4])
    message = _load_error(tmp_path)
    assert "`exit_layers` is [2, 3, 4] in the configuration but [1, 3, 4] in the weights" in message
    assert "exit_layers=[1, 3, 4]" in message  # the fix


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"exit_input": "mean"}, "exit_input"),  # same weight shapes: loaded silently before
        ({"exit_input": "cls"}, "exit_input"),
        ({"head_from_classifier": True}, "head_from_classifier"),
        ({"num_hidden_layers": 5}, "num_hidden_layers"),
        ({"exit_layers": [2, 4]}, "exit_layers"),
    ],
)
def test_other_edited_fields_fail_naming_the_field(changes, field, tmp_path, early_exit_model):
    early_exit_model("bert", exit_layers=[1, 3], exit_input="weighted_cls").save_pretrained(tmp_path)
    _edit_config(tmp_path, **changes)
    message = _load_error(tmp_path)
    assert f"`{field}` is" in message and "in the weights" in message and "Restore" in message


def test_keyword_override_that_moves_exits_fails(tmp_path, early_exit_model):
    early_exit_model("bert", exit_layers=[1, 3]).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="`exit_layers` is \\[2, 3, 4\\] in the configuration but \\[1, 3, 4\\]"):
        EARLY_EXIT_MODELS["bert"].from_pretrained(tmp_path, exit_layers=[2, 3])


@pytest.mark.parametrize("arch", ["bert", "distilbert", "modernbert"])
@pytest.mark.parametrize("exit_input", ["cls", "weighted_mean"])
def test_old_checkpoint_without_layout_loads_and_resaves_with_it(arch, exit_input, tmp_path, early_exit_model,
                                                                  padded_batch):
    model = early_exit_model(arch, exit_layers=[1, 3], exit_input=exit_input)
    ids, mask = padded_batch(model)
    model.save_pretrained(tmp_path / "old")
    _strip_layout(tmp_path / "old")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "old")
    assert loaded.early_exit_layout.tolist() == model.early_exit_layout.tolist()
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids, attention_mask=mask, output_all_exits=True).exit_logits,
                                   model(ids, attention_mask=mask, output_all_exits=True).exit_logits)
    loaded.save_pretrained(tmp_path / "new")
    assert LAYOUT_KEY in load_file(tmp_path / "new" / "model.safetensors")


@pytest.mark.parametrize(
    ("changes", "field"),
    [({"exit_layers": [2, 3, 4]}, "exit_layers"), ({"exit_layers": [1, 4]}, "exit_layers"),
     ({"exit_input": "cls"}, "exit_input"), ({"head_from_classifier": True}, "head_from_classifier"),
     ({"num_hidden_layers": 5}, "num_hidden_layers")],
)
def test_old_checkpoint_edits_seen_in_the_weight_shapes_fail(changes, field, tmp_path, early_exit_model):
    early_exit_model("bert", exit_layers=[1, 3], exit_input="weighted_cls").save_pretrained(tmp_path)
    _strip_layout(tmp_path)
    _edit_config(tmp_path, **changes)
    assert f"`{field}` is" in _load_error(tmp_path)


def test_classifier_with_exits_round_trips(tmp_path, stock_classifier, padded_batch):
    from hf_notlike import early_exit_from_classifier

    stock_classifier("bert", tmp_path / "stock")
    model = early_exit_from_classifier(tmp_path / "stock", exit_layers=[2])
    model.save_pretrained(tmp_path / "ee")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ee")
    assert loaded.config.head_from_classifier and loaded.config.exit_layers == [2, 4]
    _edit_config(tmp_path / "ee", head_from_classifier=False)
    assert "`head_from_classifier` is False in the configuration but True in the weights" in _load_error(
        tmp_path / "ee")


def test_plain_backbone_still_loads_with_any_exits(tmp_path, backbone_config):
    from transformers import BertModel

    BertModel(backbone_config("bert")).save_pretrained(tmp_path)
    model = EARLY_EXIT_MODELS["bert"].from_pretrained(tmp_path, exit_layers=[2], num_labels=3)
    assert model.early_exit_layout.tolist()[-2:] == [2, 4]


def test_config_changed_in_memory_is_caught_for_first_token_exits(early_exit_model, padded_batch):
    """`cls` exits have no mix weights whose size shows their layer: the layout buffer does."""
    model = early_exit_model("bert", exit_layers=[1, 3], exit_input="cls")
    ids, mask = padded_batch(model)
    model.config.exit_layers = [2, 3, 4]
    with pytest.raises(ValueError, match="`config.exit_layers` is \\[2, 3, 4\\] but the model was built with"):
        model(ids, attention_mask=mask)
    model.config.exit_layers = [1, 3, 4]
    model.config.exit_input = "mean"
    with pytest.raises(ValueError, match="`config.exit_input` is 'mean'"):
        model(ids, attention_mask=mask)


_LAYERS = st.lists(st.integers(1, 4), min_size=1, max_size=4, unique=True).map(sorted)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saved=_LAYERS, edited=_LAYERS, exit_input=st.sampled_from(["cls", "weighted_cls", "mean"]),
       old=st.booleans())
def test_load_succeeds_exactly_when_config_matches_the_weights(saved, edited, exit_input, old, tmp_path_factory,
                                                               early_exit_model):
    folder = tmp_path_factory.mktemp("ckpt")
    model = early_exit_model("bert", exit_layers=saved, exit_input=exit_input)
    model.save_pretrained(folder)
    if old:
        _strip_layout(folder)
    saved_layers = model.config.exit_layers
    _edit_config(folder, exit_layers=edited)
    edited_layers = edited if edited[-1] == 4 else [*edited, 4]
    detectable = not old or exit_input.startswith("weighted") or len(edited_layers) != len(saved_layers)
    if edited_layers == saved_layers or not detectable:
        loaded = AutoModelForSequenceClassification.from_pretrained(folder)
        assert loaded.config.exit_layers == edited_layers
    else:
        assert f"`exit_layers` is {edited_layers} in the configuration" in _load_error(folder)
