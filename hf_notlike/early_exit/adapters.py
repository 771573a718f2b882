# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Per-architecture adapters of the early-exit loop.

The exit loop (`EarlyExitModelMixin._early_exit` in `modeling.py`) is written once. What differs between encoders is
said here, one small adapter per architecture: how to embed the inputs, which layers to run, how to build the
attention mask and call one layer, which inputs the backbone takes, and how its stock sequence-classification head
pools (so that the head of a fine-tuned classifier can become the last exit, `from_classifier`).

This file imports only `torch` and `transformers`, so that it can be copied into a Hub repository with `modeling.py`
and loaded with `trust_remote_code=True` where `hf_notlike` is not installed.
"""

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.masking_utils import create_bidirectional_mask, create_bidirectional_sliding_window_mask


class EarlyExitPooler(nn.Module):
    """`activation(dense(x))`: the pooling part of a stock classification head (shared by every exit)."""

    def __init__(self, hidden_size: int, activation: str, bias: bool = True, norm: nn.Module | None = None):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size, bias=bias)
        self.activation = ACT2FN[activation]
        self.norm = norm if norm is not None else nn.Identity()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.activation(self.dense(features)))


class EncoderAdapter:
    """A BERT-like encoder: `backbone.embeddings`, `backbone.encoder.layer`, a pooler (dense + tanh) on the first
    token in the backbone, and `layer(hidden_states, attention_mask)`.

    Subclasses override what differs. Attributes:
        input_names (`tuple[str, ...]`): the inputs the backbone's forward takes (others are rejected).
        own_pooler_activation (`str` or `None`): `None` when the backbone has its own pooler (`backbone.pooler`);
            otherwise the activation of the pooler the early-exit model adds (`model.pooler`), which mirrors the
            dense layer + activation of the stock classification head.
        classifier_keys (`dict[str, str]`): how the weights of the stock `*ForSequenceClassification` head map onto
            the early-exit model (`"{last}"` stands for the index of the last exit, `"{prefix}"` for the backbone's
            attribute name).

    Methods the exit loop calls: `embed`, `layers`, `attention_mask` (whatever `call_layer` needs besides the hidden
    states, rebuilt when rows or columns are dropped), `call_layer`, `attention_module_class`, `normed_states` /
    `final_hidden` (a final norm, ModernBERT) and `head_input` (how the stock head pools), plus `pooler_activation` /
    `build_pooler` / `pooler` and `classifier_dropout` for building the exits.
    """

    input_names: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds")
    own_pooler_activation: str | None = None
    classifier_keys: dict[str, str] = {"classifier.": "exits.{last}.classifier."}

    def layers(self, backbone: nn.Module) -> nn.ModuleList:
        return backbone.encoder.layer

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        return backbone.embeddings(
            input_ids=inputs.get("input_ids"),
            token_type_ids=inputs.get("token_type_ids"),
            position_ids=inputs.get("position_ids"),
            inputs_embeds=inputs.get("inputs_embeds"),
        )

    def embedding_size(self, backbone: nn.Module) -> int:
        return backbone.embeddings.word_embeddings.embedding_dim

    def attention_mask(self, backbone: nn.Module, hidden: torch.Tensor, mask_2d: torch.Tensor,
                       unpadded: bool = False):
        """What every layer call needs besides the hidden states (rebuilt when rows or columns are dropped);
        `unpadded`: the caller knows that `mask_2d` is all ones (no padding), so that the mask of no mask serves."""
        return create_bidirectional_mask(config=backbone.config, inputs_embeds=hidden,
                                         attention_mask=None if unpadded else mask_2d)

    def call_layer(self, backbone: nn.Module, index: int, hidden: torch.Tensor, mask, output_attentions: bool,
                   **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Runs layer `index` (0-based); returns its output and, where the layer returns them rather than
        `_can_record_outputs` hooks recording them, its attention weights."""
        return self.layers(backbone)[index](hidden, mask, **kwargs), None

    def attention_module_class(self, backbone: nn.Module):
        """The module class whose second output is the attention weights (`_can_record_outputs["attentions"]`), or
        None when `call_layer` returns them itself."""
        spec = getattr(type(backbone), "_can_record_outputs", {}).get("attentions")
        return spec if spec is None or isinstance(spec, type) else spec.target_class

    def pooler_activation(self, config) -> str | None:
        """`None` when the backbone has its own pooler; else the activation of the pooler the model adds."""
        return self.own_pooler_activation

    def build_pooler(self, config) -> nn.Module:
        """The pooler the model adds when the backbone has none (`pooler_activation` is not None)."""
        return EarlyExitPooler(config.hidden_size, self.pooler_activation(config))

    def pooler(self, model: nn.Module) -> nn.Module:
        return model.backbone.pooler if self.pooler_activation(model.config) is None else model.pooler

    def normed_states(self, backbone: nn.Module, hidden_states: list[torch.Tensor], last_is_normed: bool):
        """The layer outputs as the stock head reads them (ModernBERT: after its final norm); `last_is_normed`: the
        last one already is (the backbone's own `hidden_states`)."""
        return hidden_states

    def final_hidden(self, backbone: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        """The last layer's output as the stock backbone returns it in `hidden_states`."""
        return hidden

    def head_input(self, hidden: torch.Tensor, mask_2d: torch.Tensor | None, config) -> torch.Tensor:
        """What the stock head pools from the last layer's (normed) output: its first token."""
        return hidden[:, 0]

    def token_type_count(self, config) -> int:
        return getattr(config, "type_vocab_size", 1) or 1

    def classifier_dropout(self, config) -> float:
        dropout = getattr(config, "classifier_dropout", None)
        return dropout if dropout is not None else config.hidden_dropout_prob

    def max_positions(self, config) -> int:
        """The longest sequence the position embeddings accept."""
        return config.max_position_embeddings


class BertAdapter(EncoderAdapter):
    """BERT: `BertForSequenceClassification` is pooler (dense + tanh on [CLS]) -> dropout -> `classifier`."""


class RobertaAdapter(EncoderAdapter):
    """RoBERTa and XLM-RoBERTa: the stock head is dropout -> `dense` -> tanh -> dropout -> `out_proj` on <s>; its
    `dense` becomes the backbone's pooler (the same function in eval mode) and `out_proj` the last exit."""

    classifier_keys = {"classifier.dense.": "{prefix}.pooler.dense.", "classifier.out_proj.": "exits.{last}.classifier."}

    def max_positions(self, config) -> int:
        return config.max_position_embeddings - config.pad_token_id - 1  # positions start after padding_idx


class ElectraAdapter(EncoderAdapter):
    """ELECTRA: no pooler in the backbone; the stock head is dropout -> `dense` -> GELU -> dropout -> `out_proj` on
    [CLS]. Embeddings are projected when `embedding_size != hidden_size`."""

    own_pooler_activation = "gelu"
    classifier_keys = {"classifier.dense.": "pooler.dense.", "classifier.out_proj.": "exits.{last}.classifier."}

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        hidden = super().embed(backbone, inputs)
        if hasattr(backbone, "embeddings_project"):
            hidden = backbone.embeddings_project(hidden)
        return hidden


class DistilBertAdapter(EncoderAdapter):
    """DistilBERT: `transformer.layer`, no token types; the stock head is `pre_classifier` -> ReLU -> dropout ->
    `classifier` on [CLS]."""

    input_names = ("input_ids", "attention_mask", "position_ids", "inputs_embeds")
    own_pooler_activation = "relu"
    classifier_keys = {"pre_classifier.": "pooler.dense.", "classifier.": "exits.{last}.classifier."}

    def layers(self, backbone: nn.Module) -> nn.ModuleList:
        return backbone.transformer.layer

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        return backbone.embeddings(inputs.get("input_ids"), inputs.get("inputs_embeds"), inputs.get("position_ids"))

    def classifier_dropout(self, config) -> float:
        return config.seq_classif_dropout


class DebertaV2Adapter(EncoderAdapter):
    """DeBERTa-v2 / v3: embeddings zero the padding (`mask=`), layers take the 4-D 0/1 mask, the relative positions
    and the relative embeddings (and the first layer's output goes through the optional `ConvLayer`); the stock head
    is `ContextPooler` (`dense` + `pooler_hidden_act` on [CLS]) -> dropout -> `classifier`."""

    classifier_keys = {"pooler.dense.": "pooler.dense.", "classifier.": "exits.{last}.classifier."}

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        mask = inputs.get("attention_mask")
        reference = inputs.get("input_ids") if inputs.get("input_ids") is not None else inputs["inputs_embeds"]
        if mask is None:
            mask = torch.ones(reference.shape[:2], dtype=torch.long, device=reference.device)
        types = inputs.get("token_type_ids")
        if types is None:
            types = torch.zeros(reference.shape[:2], dtype=torch.long, device=reference.device)
        return backbone.embeddings(input_ids=inputs.get("input_ids"), token_type_ids=types,
                                   position_ids=inputs.get("position_ids"), mask=mask,
                                   inputs_embeds=inputs.get("inputs_embeds"))

    def attention_mask(self, backbone: nn.Module, hidden: torch.Tensor, mask_2d: torch.Tensor,
                       unpadded: bool = False):
        encoder = backbone.encoder
        return {"attention_mask": encoder.get_attention_mask(mask_2d), "input_mask": mask_2d,
                "relative_pos": encoder.get_rel_pos(hidden), "rel_embeddings": encoder.get_rel_embedding()}

    def call_layer(self, backbone: nn.Module, index: int, hidden: torch.Tensor, mask, output_attentions: bool,
                   **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        encoder = backbone.encoder
        output, attentions = encoder.layer[index](
            hidden, mask["attention_mask"], relative_pos=mask["relative_pos"], rel_embeddings=mask["rel_embeddings"],
            output_attentions=output_attentions,
        )
        if index == 0 and encoder.conv is not None:
            output = encoder.conv(hidden, output, mask["input_mask"])
        return output, attentions

    def attention_module_class(self, backbone: nn.Module):
        return None

    def pooler_activation(self, config) -> str | None:
        return config.pooler_hidden_act

    def classifier_dropout(self, config) -> float:
        dropout = getattr(config, "cls_dropout", None)
        return dropout if dropout is not None else config.hidden_dropout_prob


class ModernBertAdapter(EncoderAdapter):
    """ModernBERT: `embeddings(input_ids, inputs_embeds)`, `layers`, global and sliding-window layers with their own
    masks and rotary embeddings, a final norm; the stock head pools ([CLS] or the masked mean, `classifier_pooling`)
    the normed last layer, then `head` (dense, activation, norm) -> dropout -> `classifier`. The exits read every
    layer through the same final norm and a pooler shaped like `head`."""

    input_names = ("input_ids", "attention_mask", "inputs_embeds")
    classifier_keys = {"head.": "pooler.", "classifier.": "exits.{last}.classifier."}

    def layers(self, backbone: nn.Module) -> nn.ModuleList:
        return backbone.layers

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        return backbone.embeddings(input_ids=inputs.get("input_ids"), inputs_embeds=inputs.get("inputs_embeds"))

    def embedding_size(self, backbone: nn.Module) -> int:
        return backbone.embeddings.tok_embeddings.embedding_dim

    def attention_mask(self, backbone: nn.Module, hidden: torch.Tensor, mask_2d: torch.Tensor,
                       unpadded: bool = False):
        kwargs = {"config": backbone.config, "inputs_embeds": hidden, "attention_mask": None if unpadded else mask_2d}
        masks = {"full_attention": create_bidirectional_mask(**kwargs),
                 "sliding_attention": create_bidirectional_sliding_window_mask(**kwargs)}
        positions = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        rotary = {kind: backbone.rotary_emb(hidden, positions, kind) for kind in set(backbone.config.layer_types)}
        return masks, rotary

    def call_layer(self, backbone: nn.Module, index: int, hidden: torch.Tensor, mask, output_attentions: bool,
                   **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        layer = backbone.layers[index]
        masks, rotary = mask
        kind = layer.attention_type
        return layer(hidden, attention_mask=masks[kind], position_embeddings=rotary[kind], **kwargs), None

    def pooler_activation(self, config) -> str | None:
        return config.classifier_activation

    def build_pooler(self, config) -> nn.Module:
        norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        return EarlyExitPooler(config.hidden_size, config.classifier_activation, bias=config.classifier_bias, norm=norm)

    def classifier_dropout(self, config) -> float:
        return config.classifier_dropout

    def normed_states(self, backbone: nn.Module, hidden_states: list[torch.Tensor], last_is_normed: bool):
        states = [backbone.final_norm(h) for h in (hidden_states[:-1] if last_is_normed else hidden_states)]
        return states + ([hidden_states[-1]] if last_is_normed else [])

    def final_hidden(self, backbone: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return backbone.final_norm(hidden)

    def head_input(self, hidden: torch.Tensor, mask_2d: torch.Tensor | None, config) -> torch.Tensor:
        if config.classifier_pooling == "cls":
            return hidden[:, 0]
        if mask_2d is None:
            mask_2d = torch.ones(hidden.shape[:2], device=hidden.device, dtype=torch.bool)
        return (hidden * mask_2d.unsqueeze(-1)).sum(dim=1) / mask_2d.sum(dim=1, keepdim=True)  # as the stock head


class MPNetAdapter(RobertaAdapter):
    """MPNet: no token types; positions derived from `input_ids` after the padding index (as RoBERTa); every layer
    takes the additive attention mask and the relative position bias the encoder computes once per forward
    (`encoder.compute_position_bias`), recomputed here whenever rows or columns are dropped; layers return their
    attention weights themselves. The stock head is RoBERTa's: dropout -> `dense` -> tanh -> dropout -> `out_proj` on
    <s>; its `dense` becomes the backbone's pooler and `out_proj` the last exit."""

    input_names = ("input_ids", "attention_mask", "position_ids", "inputs_embeds")

    def embed(self, backbone: nn.Module, inputs: dict) -> torch.Tensor:
        return backbone.embeddings(input_ids=inputs.get("input_ids"), position_ids=inputs.get("position_ids"),
                                   inputs_embeds=inputs.get("inputs_embeds"))

    def attention_mask(self, backbone: nn.Module, hidden: torch.Tensor, mask_2d: torch.Tensor,
                       unpadded: bool = False):
        mask = create_bidirectional_mask(config=backbone.config, inputs_embeds=hidden,
                                         attention_mask=None if unpadded else mask_2d)
        return mask, backbone.encoder.compute_position_bias(hidden)

    def call_layer(self, backbone: nn.Module, index: int, hidden: torch.Tensor, mask, output_attentions: bool,
                   **kwargs) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_mask, position_bias = mask
        outputs = backbone.encoder.layer[index](hidden, attention_mask, position_bias,
                                                output_attentions=output_attentions, **kwargs)
        return outputs[0], outputs[1] if output_attentions else None

    def attention_module_class(self, backbone: nn.Module):
        return None

    def token_type_count(self, config) -> int:
        return 1

    def max_positions(self, config) -> int:
        return config.max_position_embeddings - 2  # positions start after padding_idx (1)
