"""`quantize_dynamic_int8`: int8 dynamic quantization of early-exit (and stock) classifiers for CPU serving."""

from __future__ import annotations

import copy
import re
import warnings

import pytest
import torch
from early_exit_helpers import save_tiny_model
from torch import nn
from transformers import AutoModelForSequenceClassification, pipeline

from hf_notlike import calibrate_temperatures, quantize_dynamic_int8
from hf_notlike.early_exit import EARLY_EXIT_MODELS, select_exits
from hf_notlike.early_exit.quantization import FEED_FORWARD_OUTPUTS, SmoothedLinear, _smooth, is_quantized_int8
from hf_notlike.errors import HfNotlikeInputError, HfNotlikeTypeError

QUANTIZED = torch.ao.nn.quantized.dynamic.Linear


def quantize(model, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao.quantization's own notice
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic_int8(model, **kwargs)


def test_quantized_model_runs_in_a_pipeline_with_its_exit_rule(tmp_path, bert_tokenizer):
    folder = save_tiny_model(tmp_path / "ee", bert_tokenizer)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.config.temperatures = [1.5, 1.0]
    model.config.exit_threshold = 0.6
    quantized = quantize(model)
    assert quantized is not model and is_quantized_int8(quantized) and not is_quantized_int8(model)
    assert quantized.config.exit_layers == [1, 2] and quantized.config.temperatures == [1.5, 1.0]
    assert quantized.config.exit_threshold == 0.6
    assert all(type(exit_.classifier) is nn.Linear for exit_ in quantized.exits)  # exits stay float
    classifier = pipeline("text-classification", model=quantized, tokenizer=bert_tokenizer, device="cpu")
    texts = ["a wonderful, moving film", "dull and lifeless", "it was fine"]
    predictions = classifier(texts)
    assert [p["label"] for p in predictions] and {p["label"] for p in predictions} <= {"rotten", "fresh"}
    # the pipeline's label is the quantized model's own prediction
    inputs = bert_tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = quantized(**inputs).logits
    assert [p["label"] for p in predictions] == [quantized.config.id2label[int(i)] for i in logits.argmax(-1)]


def test_int8_logits_close_to_float_and_loop_follows_the_rule(early_exit_model, padded_batch):
    # weights of a trained model's scale (a narrower initialisation than the helper's default 0.5)
    model = early_exit_model("bert", initializer_range=0.1, exit_scale=4.0)
    quantized = quantize(model)
    ids, mask = padded_batch(model, batch_size=16)
    with torch.no_grad():
        exact = model(ids, attention_mask=mask, output_all_exits=True).exit_logits
        approx = quantized(ids, attention_mask=mask, output_all_exits=True).exit_logits
    assert (approx - exact).abs().max() < 0.03 * exact.abs().max()  # measured: 1% here
    assert torch.equal(approx.argmax(-1), exact.argmax(-1))
    assert not torch.equal(approx, exact)  # the int8 path really ran
    model = early_exit_model("bert", exit_scale=4.0)  # wide initialisation: confidences spread over thresholds
    quantized = quantize(model)
    # row by row (dynamic quantization scales activations per batch), the early-exit loop of the quantized model
    # leaves where the exit rule applied to its own all-exits logits says
    for threshold in (0.4, 0.6, 0.9):
        for row in range(ids.shape[0]):
            one_ids, one_mask = ids[row : row + 1], mask[row : row + 1]
            with torch.no_grad():
                out = quantized(one_ids, attention_mask=one_mask, exit_threshold=threshold)
                all_exits = quantized(one_ids, attention_mask=one_mask, output_all_exits=True).exit_logits
            index = select_exits(all_exits, quantized.config.temperatures, threshold)
            assert out.exit_layer.tolist() == [quantized.config.exit_layers[int(index)]]
            torch.testing.assert_close(out.logits, all_exits[0, index], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("arch", sorted(EARLY_EXIT_MODELS))
def test_every_architecture_keeps_its_feed_forward_output_in_float(arch, early_exit_model, padded_batch):
    model = early_exit_model(arch, initializer_range=0.1)
    quantized = quantize(model)
    layers = quantized.adapter.layers(quantized.backbone)
    for layer in layers:
        kinds = [type(module) for module in layer.modules() if isinstance(module, (nn.Linear, QUANTIZED))]
        assert kinds.count(nn.Linear) == 1, f"{arch}: one float linear (the feed-forward output) per layer"
        assert kinds.count(QUANTIZED) >= 2
    ids, mask = padded_batch(model)
    with torch.no_grad():
        exact = model(ids, attention_mask=mask, output_all_exits=True).exit_logits
        approx = quantized(ids, attention_mask=mask, output_all_exits=True).exit_logits
    assert (approx - exact).abs().max() < 0.1 * exact.abs().max()


def test_keep_float_and_per_channel_options(early_exit_model, padded_batch):
    model = early_exit_model("bert")
    everything = quantize(model, keep_float=(), per_channel=False)
    # every linear layer but the exits and the pooler they read, which the exit loop reads directly
    floats = [name for name, m in everything.named_modules() if type(m) is nn.Linear]
    assert floats and all(name.startswith(("exits.", "bert.pooler.")) for name in floats)
    ids, mask = padded_batch(model)
    with torch.no_grad():  # one row at a time (int8 activations are quantized per batch): the exit loop takes
        for row in range(len(ids)):  # the exit the all-exits pass gives
            inputs = {"input_ids": ids[row : row + 1], "attention_mask": mask[row : row + 1]}
            exit_logits = everything(**inputs, output_all_exits=True).exit_logits
            expected = select_exits(exit_logits, everything.config.temperatures, 0.5)
            out = everything(**inputs, exit_threshold=0.5)
            assert int(out.exit_layer) == everything.config.exit_layers[int(expected)]
    only_queries = quantize(model, keep_float=[r"^(?!.*\.query$)"])
    quantized_names = [name for name, m in only_queries.named_modules() if isinstance(m, QUANTIZED)]
    assert quantized_names and all(name.endswith(".query") for name in quantized_names)


def test_inplace_quantizes_the_model_itself(early_exit_model):
    model = early_exit_model("bert")
    assert quantize(model, inplace=True) is model and is_quantized_int8(model)


def test_save_is_refused_and_quantizing_after_loading_works(tmp_path, early_exit_model, padded_batch):
    model = early_exit_model("bert")
    quantized = quantize(model)
    with pytest.raises(HfNotlikeInputError, match="quantize after loading"):
        quantized.save_pretrained(tmp_path / "int8")
    with pytest.raises(HfNotlikeInputError, match="cannot be written as safetensors"):
        quantized.push_to_hub("someone/model")
    assert not (tmp_path / "int8").exists()
    model.save_pretrained(tmp_path / "float")  # the supported story: save float, quantize after loading
    reloaded = quantize(AutoModelForSequenceClassification.from_pretrained(tmp_path / "float"))
    ids, mask = padded_batch(model)
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids, attention_mask=mask, output_all_exits=True).exit_logits,
                                   quantized(ids, attention_mask=mask, output_all_exits=True).exit_logits)


def test_temperatures_can_be_refitted_on_the_quantized_model(early_exit_model, token_dataset):
    model = early_exit_model("bert", exit_scale=3.0)
    quantized = quantize(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = calibrate_temperatures(quantized, token_dataset(48), show_progress=False)
    assert quantized.config.temperatures == result.temperatures
    assert model.config.temperatures == [1.0] * 4  # the float model's config is its own


def test_stock_classifier_keeps_its_head_in_float(tmp_path):
    from early_exit_helpers import stock_classifier

    model = stock_classifier("bert", tmp_path)
    quantized = quantize(model)
    assert type(quantized.classifier) is nn.Linear and is_quantized_int8(quantized)


def test_errors(early_exit_model):
    model = early_exit_model("bert")
    with pytest.raises(HfNotlikeTypeError, match="torch.nn.Module"):
        quantize_dynamic_int8("bert-base-uncased")
    with pytest.raises(HfNotlikeInputError, match="already int8-quantized"):
        quantize(quantize(model))
    with pytest.raises(HfNotlikeInputError, match="float32"):
        quantize(early_exit_model("bert").to(torch.bfloat16))
    with pytest.raises(HfNotlikeInputError, match=r"CPU only.*model.to\('cpu'\)"):
        quantize(early_exit_model("bert").to("meta"))
    with pytest.raises(HfNotlikeTypeError, match="list of regular expressions"):
        quantize(model, keep_float=r"\.query$")
    with pytest.raises(HfNotlikeInputError, match="invalid regular expression"):
        quantize(model, keep_float=["("])
    with pytest.raises(HfNotlikeInputError, match="nothing would be quantized"):
        quantize(model, keep_float=[""])
    with pytest.raises(HfNotlikeInputError, match="no nn.Linear"):
        quantize(nn.Sequential(nn.ReLU()))
    assert not is_quantized_int8(model)  # a refused call leaves the model as it was


@pytest.mark.parametrize("arch", sorted(EARLY_EXIT_MODELS))
def test_calibration_batches_smooth_and_quantize_the_feed_forward_outputs(arch, early_exit_model, padded_batch):
    model = early_exit_model(arch, initializer_range=0.1)
    ids, mask = padded_batch(model)
    batches = [{"input_ids": ids, "attention_mask": mask, "labels": torch.zeros(len(ids), dtype=torch.long)}]
    with torch.no_grad():
        exact = model(ids, attention_mask=mask, output_all_exits=True).exit_logits
    # smoothing alone changes nothing in float: the scales divide the inputs and multiply the weights' columns
    smoothed_float = copy.deepcopy(model)
    names = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)
             and any(re.search(p, name) for p in FEED_FORWARD_OUTPUTS)]
    _smooth(smoothed_float, names, batches, 0.8)
    with torch.no_grad():
        torch.testing.assert_close(smoothed_float(ids, attention_mask=mask, output_all_exits=True).exit_logits,
                                   exact, atol=1e-5, rtol=1e-4)
    quantized = quantize(model, calibration_batches=batches)
    for layer in quantized.adapter.layers(quantized.backbone):
        linears = [m for m in layer.modules() if isinstance(m, (nn.Linear, QUANTIZED))]
        assert all(isinstance(m, QUANTIZED) for m in linears), f"{arch}: every linear of a layer in int8"
        assert sum(isinstance(m, SmoothedLinear) for m in layer.modules()) == 1
    assert all(type(exit_.classifier) is nn.Linear for exit_ in quantized.exits)  # the exits stay float
    assert not is_quantized_int8(model) and not any(isinstance(m, SmoothedLinear) for m in model.modules())
    with torch.no_grad():
        approx = quantized(ids, attention_mask=mask, output_all_exits=True).exit_logits
    assert (approx - exact).abs().max() < 0.1 * exact.abs().max()


class _OutlierBlock(nn.Module):
    """A model whose only linear layer is named like a feed-forward output and reads inputs with an outlier channel."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([nn.Module()])
        self.encoder.layer[0].output = nn.Module()
        self.encoder.layer[0].output.dense = nn.Linear(64, 16)

    def forward(self, inputs_embeds):
        return self.encoder.layer[0].output.dense(inputs_embeds)


def test_smoothing_lowers_the_int8_error_on_outlier_channels():
    torch.manual_seed(0)
    model = _OutlierBlock().eval()
    inputs = torch.randn(256, 64)
    inputs[:, 3] *= 100.0  # one channel two orders of magnitude larger, as after the activation of a feed-forward
    with torch.no_grad():
        exact = model(inputs)
        plain = quantize(model, keep_float=())(inputs)
        smoothed = quantize(model, calibration_batches=[{"inputs_embeds": inputs[:128]}])(inputs)
    error = lambda approx: float((approx - exact).abs().mean())  # noqa: E731
    assert error(smoothed) < 0.5 * error(plain)


def test_smoothing_errors(early_exit_model, padded_batch):
    model = early_exit_model("bert")
    ids, mask = padded_batch(model)
    batch = {"input_ids": ids, "attention_mask": mask}
    for alpha in (0.0, 1.5, True, "0.8"):
        with pytest.raises(HfNotlikeInputError, match="smoothing_alpha"):
            quantize(model, calibration_batches=[batch], smoothing_alpha=alpha)
    with pytest.raises(HfNotlikeTypeError, match="iterable of batches"):
        quantize(model, calibration_batches=batch)
    with pytest.raises(HfNotlikeTypeError, match="dict of tensors"):
        quantize(model, calibration_batches=[ids])
    with pytest.raises(HfNotlikeInputError, match="empty"):
        quantize(model, calibration_batches=[])
    assert not is_quantized_int8(model) and not any(isinstance(m, SmoothedLinear) for m in model.modules())
