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
from transformers.masking_utils import create_bidirectional_mask


class EarlyExitPooler(nn.Module):
    """`activation(dense(x))`: the pooling part of a stock classification head (shared by every exit)."""

    def __init__(self, hidden_size: int, activation: str):
        super().__init__()
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.activation = ACT2FN[activation]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(features))


class EncoderAdapter:
    """A BERT-like encoder: `backbone.embeddings`, `backbone.encoder.layer`, a pooler (dense + tanh) on the first
    token in the backbone, and `layer(hidden_states, attention_mask)`.

    Subclasses override what differs. Attributes:
        input_names (`tuple[str, ...]`): the inputs the backbone's forward takes (others are rejected).
        own_pooler_activation (`str` or `None`): `None` when the backbone has its own pooler (`backbone.pooler`);
            otherwise the activation of the pooler the early-exit model adds (`model.pooler`), which mirrors the
            dense layer + activation of the stock classification head.
        classifier_keys (`dict[str, str]`): how the weights of the stock `*ForSequenceClassification` head map onto
            the early-exit model (`"{last}"` stands for the index of the last exit).
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

    def attention_mask(self, backbone: nn.Module, hidden: torch.Tensor, mask_2d: torch.Tensor):
        return create_bidirectional_mask(config=backbone.config, inputs_embeds=hidden, attention_mask=mask_2d)

    def call_layer(self, layer: nn.Module, hidden: torch.Tensor, mask, **kwargs) -> torch.Tensor:
        return layer(hidden, mask, **kwargs)

    def pooler(self, model: nn.Module) -> nn.Module:
        return model.backbone.pooler if self.own_pooler_activation is None else model.pooler

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
