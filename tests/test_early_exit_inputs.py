"""Early-exit models under hostile input: regression tests of what broke, the validation of every tensor
input and of configs changed after building, and a property test of the forward pass."""

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_notlike.early_exit import EARLY_EXIT_MODELS

# ------------------------------------------------------------------------------------ 11.1: all-padding rows


@pytest.mark.parametrize("arch", ["bert", "roberta"])
@pytest.mark.parametrize("exit_input", ["weighted_cls", "mean"])
def test_rows_left_running_that_are_all_padding(arch, exit_input, early_exit_model):
    """Row 0 leaves at the first exit; the only row left is all padding (trimming would drop every column)."""
    for seed in range(50):  # a model whose first exit is more confident on row 0 than on the padding row
        model = early_exit_model(arch, seed=seed, exit_input=exit_input)
        pad = model.config.pad_token_id
        ids = torch.tensor([[10, 23, 20, 12], [pad] * 4])
        mask = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 0]])
        with torch.no_grad():
            full = model(ids, attention_mask=mask, output_all_exits=True)
        conf = torch.softmax(full.exit_logits, -1).amax(-1)
        if conf[0, 0] > conf[1, 0] + 1e-3:
            break
    threshold = float(conf[0, 0]) - 1e-4
    with torch.no_grad():
        early = model(ids, attention_mask=mask, exit_threshold=threshold)
        rule = model(ids, attention_mask=mask, exit_threshold=threshold, output_all_exits=True)
    assert early.exit_layer[0] == 1 and early.exit_layer[1] > 1
    assert torch.equal(early.exit_layer, rule.exit_layer)
    torch.testing.assert_close(early.logits, rule.logits, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------ 11.2 / 15.4: hidden states, attentions


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_output_hidden_states_with_labels_and_in_training(arch, early_exit_model, padded_batch):
    model = early_exit_model(arch)
    ids, mask = padded_batch(model)
    labels = torch.arange(8) % 3
    model.train()
    out = model(ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    assert len(out.hidden_states) == 5 and out.hidden_states[0].shape[:2] == ids.shape
    out.loss.backward()
    model.eval()
    out = model(ids, attention_mask=mask, labels=labels, output_hidden_states=True)
    assert len(out.hidden_states) == 5


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_hidden_states_and_attentions_match_the_stock_backbone(arch, early_exit_model, padded_batch,
                                                               all_exit_confidences):
    """In eval without labels (the early-exit path) the layers that ran give what the stock backbone gives."""
    model = early_exit_model(arch, attn_implementation="eager")
    ids, mask = padded_batch(model)
    _, conf = all_exit_confidences(model, ids, mask)
    # halfway between two rows' confidences: no row sits on the threshold, where float rounding would decide
    ranked = conf[:, 1].sort().values
    threshold = float(ranked[len(ranked) // 2 - 1] + ranked[len(ranked) // 2]) / 2
    with torch.no_grad():
        stock = model.backbone(ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
        out = model(ids, attention_mask=mask, exit_threshold=threshold, output_hidden_states=True,
                    output_attentions=True)
        plain = model(ids, attention_mask=mask, exit_threshold=threshold)
    assert torch.equal(out.exit_layer, plain.exit_layer)
    torch.testing.assert_close(out.logits, plain.logits, rtol=1e-4, atol=1e-5)
    deepest = int(out.exit_layer.max())
    assert len(out.hidden_states) == deepest + 1 and len(out.attentions) == deepest
    for layer in range(deepest + 1):
        ran = out.exit_layer >= layer  # rows that ran this layer (all rows run the embeddings)
        torch.testing.assert_close(out.hidden_states[layer][ran], stock.hidden_states[layer][ran],
                                   rtol=1e-4, atol=1e-5)
        assert not out.hidden_states[layer][~ran].any()
        if layer:
            torch.testing.assert_close(out.attentions[layer - 1][ran], stock.attentions[layer - 1][ran],
                                       rtol=1e-4, atol=1e-5)
    # batch size 1 at threshold 1.0 is the stock model's output exactly
    with torch.no_grad():
        single = model(ids[:1], output_hidden_states=True, output_attentions=True)
        stock = model.backbone(ids[:1], output_hidden_states=True, output_attentions=True)
    assert len(single.hidden_states) == len(stock.hidden_states)
    for mine, theirs in zip(single.hidden_states + single.attentions, stock.hidden_states + stock.attentions):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_output_attentions_needs_eager_attention(early_exit_model, padded_batch):
    model = early_exit_model("bert", attn_implementation="sdpa")
    ids, mask = padded_batch(model)
    with pytest.raises(ValueError, match="attn_implementation='eager'"):
        model(ids, attention_mask=mask, output_attentions=True)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_return_dict_false_with_labels_gives_a_tuple(arch, early_exit_model, padded_batch):
    model = early_exit_model(arch).eval()
    ids, mask = padded_batch(model)
    labels = torch.arange(8) % 3
    out = model(ids, attention_mask=mask, labels=labels, return_dict=False)
    as_dict = model(ids, attention_mask=mask, labels=labels)
    assert isinstance(out, tuple)
    torch.testing.assert_close(out[0], as_dict.loss)
    torch.testing.assert_close(out[1], as_dict.logits)


def test_backbone_kwargs_are_passed_on(early_exit_model, padded_batch):
    """Keyword arguments reach the layers (here a keyword every layer rejects: the error proves it was passed)."""
    model = early_exit_model("bert")
    ids, mask = padded_batch(model)
    for extra in ({}, {"output_all_exits": True}):
        calls = []
        handle = model.backbone.encoder.layer[0].register_forward_pre_hook(
            lambda module, args, kwargs, calls=calls: calls.append(set(kwargs)), with_kwargs=True
        )
        try:
            with torch.no_grad():
                model(ids, attention_mask=mask, my_attention_kwarg=None, **extra)
        finally:
            handle.remove()
        assert calls and "my_attention_kwarg" in calls[0]


# ------------------------------------------------------------------------------------------ 11.3: missing inputs


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize("training", [False, True])
def test_neither_input_ids_nor_inputs_embeds(arch, training, early_exit_model, padded_batch):
    model = early_exit_model(arch).train(training)
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(attention_mask=torch.ones(2, 4, dtype=torch.long))
    ids, _ = padded_batch(model)
    embeds = torch.zeros(*ids.shape, model.adapter.embedding_size(model.backbone))
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model(ids, inputs_embeds=embeds)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_inputs_embeds_equal_input_ids(arch, early_exit_model, padded_batch):
    if arch in ("roberta", "xlm-roberta"):
        pytest.skip("RoBERTa derives positions from input_ids (padding-aware) and from embeddings sequentially")
    model = early_exit_model(arch)
    ids, mask = padded_batch(model)
    embeds = model.backbone.get_input_embeddings()(ids)
    with torch.no_grad():
        a = model(ids, attention_mask=mask, output_all_exits=True)
        b = model(inputs_embeds=embeds, attention_mask=mask, output_all_exits=True)
    torch.testing.assert_close(a.exit_logits, b.exit_logits, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------ 11.4: configs changed after building


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_invalid_temperatures_fail_on_use_and_before_save(arch, tmp_path, early_exit_model, padded_batch,
                                                          config_errors):
    model = early_exit_model(arch, exit_layers=[1, 3])
    ids, mask = padded_batch(model)
    model(ids, attention_mask=mask)  # checked and remembered as valid ...
    model.config.temperatures[1] = -1.0  # ... then changed in place: still caught
    with pytest.raises(config_errors, match="`temperatures`"):
        model(ids, attention_mask=mask)
    model.config.temperatures = [0.0, 0.0, 0.0]
    with pytest.raises(config_errors, match="`temperatures`"):
        model(ids, attention_mask=mask)
    with pytest.raises(config_errors, match="`temperatures`"):
        model.save_pretrained(tmp_path)
    assert not (tmp_path / "model.safetensors").exists()
    model.config.temperatures = [1.0, 1.0]  # wrong length
    with pytest.raises(config_errors, match="`temperatures` has 2 values but there are 3 exits"):
        model(ids, attention_mask=mask)


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
def test_exit_layers_changed_after_building(arch, early_exit_model, padded_batch, config_errors):
    model = early_exit_model(arch, exit_layers=[1, 3])
    ids, mask = padded_batch(model)
    model.config.exit_layers = [1]  # no last-layer exit, wrong count
    with pytest.raises(config_errors, match="`exit_layers`"):
        model(ids, attention_mask=mask)
    model.config.exit_layers = [2, 4]  # valid alone, but not what the model was built with
    model.config.temperatures = [1.0, 1.0]
    model.config.exit_loss_weights = [1.0, 1.0]
    with pytest.raises(ValueError, match="built with 3 exits"):
        model(ids, attention_mask=mask)
    model.config.exit_layers = [1, 2, 4]  # the right count, but the weighted exits were built for [1, 3, 4]
    model.config.temperatures = [1.0, 1.0, 1.0]
    model.config.exit_loss_weights = [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match=r"after layers \[1, 3, 4\]"):
        model(ids, attention_mask=mask)
    model.config.exit_layers = [1, 3, 4]
    model(ids, attention_mask=mask)  # restored: works again


def test_exit_threshold_set_to_nonsense_fails_on_use(tmp_path, early_exit_model, padded_batch, config_errors):
    model = early_exit_model("bert")
    model.config.exit_threshold = 0.0
    ids, mask = padded_batch(model)
    with pytest.raises(config_errors, match="`exit_threshold`"):
        model(ids, attention_mask=mask)
    with pytest.raises(config_errors, match="`exit_threshold`"):
        model.save_pretrained(tmp_path)


# ------------------------------------------------------------------ beyond the list: every tensor input is checked


def bad_inputs(model, padded_batch):
    ids, mask = padded_batch(model, batch_size=4, seq_len=6)
    vocab = model.config.vocab_size
    cases = {
        "ids as list": (dict(input_ids=ids.tolist()), TypeError, "`input_ids` must be a torch.Tensor"),
        "float ids": (dict(input_ids=ids.float()), TypeError, "`input_ids` must hold integer"),
        "1-D ids": (dict(input_ids=ids[0]), ValueError, r"input_ids\[None\]"),
        "ids too large": (dict(input_ids=ids + vocab), ValueError, "vocab_size"),
        "negative ids": (dict(input_ids=-ids), ValueError, "vocab_size"),
        "empty batch": (dict(input_ids=ids[:0]), ValueError, "empty"),
        "zero length": (dict(input_ids=ids[:, :0]), ValueError, "empty"),
        "too long": (dict(input_ids=ids[:, :1].repeat(1, 200)), ValueError, "truncat"),
        "mask shape": (dict(input_ids=ids, attention_mask=mask[:, :3]), ValueError, "`attention_mask` has shape"),
        "mask rows": (dict(input_ids=ids, attention_mask=mask[:2]), ValueError, "`attention_mask` has shape"),
        "mask values": (dict(input_ids=ids, attention_mask=mask * 2), ValueError, "only 0"),
        "left padding": (dict(input_ids=ids, attention_mask=mask.flip(1)), ValueError, "right"),
        "labels count": (dict(input_ids=ids, labels=torch.tensor([0, 1])), ValueError, "one label per row"),
        "labels range": (dict(input_ids=ids, labels=torch.tensor([0, 1, 2, 7])), ValueError, r"\[0, 3\)"),
        "float labels": (dict(input_ids=ids, labels=torch.zeros(4)), TypeError, "integer class"),
        "embeds size": (dict(inputs_embeds=torch.zeros(4, 6, 5)), ValueError, "`inputs_embeds` must have shape"),
        "int embeds": (dict(inputs_embeds=torch.zeros(4, 6, 32, dtype=torch.long)), TypeError, "floating"),
        "positions": (dict(input_ids=ids, position_ids=torch.zeros(4, 5, dtype=torch.long)), ValueError,
                      "`position_ids`"),
    }
    if "token_type_ids" in model.adapter.input_names:
        cases["types shape"] = (dict(input_ids=ids, token_type_ids=ids[:, :2]), ValueError, "`token_type_ids`")
        cases["types range"] = (dict(input_ids=ids, token_type_ids=ids * 0 + 9), ValueError, "type_vocab_size")
    else:
        cases["types given"] = (dict(input_ids=ids, token_type_ids=ids * 0), ValueError, "leave it out")
    return cases


@pytest.mark.parametrize("arch", EARLY_EXIT_MODELS)
@pytest.mark.parametrize("training", [False, True])
def test_bad_tensor_inputs_name_the_problem(arch, training, early_exit_model, padded_batch):
    model = early_exit_model(arch).train(training)
    for name, (inputs, error, message) in bad_inputs(model, padded_batch).items():
        with pytest.raises(error, match=message):
            model(**inputs)
            pytest.fail(f"{name} was accepted")


# ------------------------------------------------------------------------- property test of the forward pass

VOCAB = 100  # the vocabulary of the `early_exit_model` fixture's models


@pytest.fixture(scope="module")
def models(early_exit_model):
    return {arch: early_exit_model(arch, vocab_size=VOCAB, exit_input="weighted_mean" if arch == "electra"
                                   else "weighted_cls") for arch in EARLY_EXIT_MODELS}


@st.composite
def hostile_batches(draw):
    arch = draw(st.sampled_from(sorted(EARLY_EXIT_MODELS)))
    batch = draw(st.integers(0, 5))
    length = draw(st.integers(0, 8)) if draw(st.booleans()) else draw(st.integers(60, 70))
    vocab = VOCAB
    ids = torch.tensor(draw(st.lists(st.lists(st.integers(-3, vocab + 3), min_size=length, max_size=length),
                                     min_size=batch, max_size=batch)), dtype=torch.long).reshape(batch, length)
    if draw(st.booleans()):
        ids = ids.to(draw(st.sampled_from([torch.float32, torch.int32, torch.bool, torch.int8])))
    inputs = {"input_ids": ids}
    mask_kind = draw(st.sampled_from(["none", "lengths", "random", "wrong shape"]))
    if mask_kind == "lengths":
        lengths = draw(st.lists(st.integers(0, length), min_size=batch, max_size=batch))
        inputs["attention_mask"] = (torch.arange(length)[None, :] < torch.tensor(lengths, dtype=torch.long)[:, None]
                                    ).long().reshape(batch, length)
    elif mask_kind == "random":
        inputs["attention_mask"] = torch.tensor(
            draw(st.lists(st.integers(-1, 2), min_size=batch * length, max_size=batch * length)), dtype=torch.long
        ).reshape(batch, length)
    elif mask_kind == "wrong shape":
        inputs["attention_mask"] = torch.ones(batch + 1, length, dtype=torch.long)
    if draw(st.booleans()):
        labels = draw(st.lists(st.integers(-101, 4), min_size=0, max_size=6))
        inputs["labels"] = torch.tensor(labels, dtype=torch.long)
    if draw(st.booleans()):
        inputs["exit_threshold"] = draw(st.one_of(st.floats(-1, 2), st.just(float("nan")), st.just(0.5)))
    return arch, inputs, draw(st.booleans())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hostile_batches())
def test_forward_property_documented_error_or_correct_result(models, config_errors, case):
    """Generated hostile inputs: either a TypeError / ValueError (or a config validation error) with a message, or
    the early-exit path's answer equals the all-exits path's rule."""
    arch, inputs, training = case
    model = models[arch].train(training)
    try:
        try:
            out = model(**inputs)
        except (TypeError, ValueError, *config_errors) as error:
            assert str(error).strip(), "errors must carry a message"
            return
        assert out.logits.shape == (inputs["input_ids"].shape[0], model.config.num_labels)
        assert torch.isfinite(out.logits).all()
        if "labels" in inputs:
            assert torch.isfinite(out.loss) or bool((inputs["labels"] == -100).all())
        if not training and "labels" not in inputs:
            rule = model(**inputs, output_all_exits=True)
            assert torch.equal(out.exit_layer, rule.exit_layer)
            torch.testing.assert_close(out.logits, rule.logits, rtol=1e-3, atol=1e-4)
    finally:
        model.eval()
