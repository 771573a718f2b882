# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Early-exit BERT and RoBERTa for sequence classification.

Schwartz, Stanovsky, Swayamdipta, Dodge and Smith (ACL 2020), "The Right Tool for the Job: Matching Model and
Instance Complexities": a small classifier ("exit") sits after several encoder layers, all exits are trained
jointly, and at inference each instance leaves at the first exit whose temperature-calibrated confidence
`max softmax(z / T_k)` reaches one threshold. Unlike the paper's code, batches are supported: rows that have left are
dropped from the batch before the next layer, and the sequence is trimmed to the columns the remaining rows use.

This file imports only `torch`, `transformers` and its sibling `configuration.py`, so that it can be copied into a
Hub repository and loaded with `trust_remote_code=True` where `hf_notlike` is not installed.
"""

import os
import tempfile
from dataclasses import dataclass

import torch
from safetensors import SafetensorError
from torch import nn
from torch.nn import functional as F
from transformers import BertModel, BertPreTrainedModel, RobertaModel, RobertaPreTrainedModel
from transformers import initialization as init
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_outputs import ModelOutput
from transformers.utils import logging

from .configuration import EarlyExitBertConfig, EarlyExitRobertaConfig

logger = logging.get_logger(__name__)

# the class of `model.card_data` (see `register_card_data`); None in the self-contained Hub copy of this file
_CARD_DATA_CLASS = None
_PUSH_KWARGS = ("repo_id", "commit_message", "commit_description", "private", "revision", "create_pr")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model")


def register_card_data(card_data_class) -> None:
    """Sets the class of `model.card_data`, the object that writes the model card of every early-exit model.

    `hf_notlike.early_exit` registers `EarlyExitModelCardData` when imported. This file must stay self-contained (it
    is copied into Hub repos and loaded with `trust_remote_code=True` where hf_notlike is absent), so it only relies
    on this duck-typed protocol: the class is built with no arguments, and provides
    `write_card(model, save_directory, repo_id=None)` (writes README.md into a saved folder),
    `record_source(name_or_path)` (called by `from_pretrained`) and a `tags` list.

    Args:
        card_data_class (`type` or `None`): the class; None stops card writing.
    """
    global _CARD_DATA_CLASS
    _CARD_DATA_CLASS = card_data_class


@dataclass
class EarlyExitSequenceClassifierOutput(ModelOutput):
    r"""
    Output of the early-exit sequence classifiers.

    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*, returned when `labels` is provided):
            The weighted sum over exits of each exit's loss (cross-entropy; MSE for regression).
        logits (`torch.FloatTensor` of shape `(batch_size, num_labels)`):
            For each row, the (uncalibrated) logits of the exit it left at.
        exit_layer (`torch.LongTensor` of shape `(batch_size,)`):
            For each row, the 1-based encoder layer after which it left.
        exit_logits (`torch.FloatTensor` of shape `(batch_size, num_exits, num_labels)`, *optional*):
            The logits of every exit for every row; returned in training, when `labels` are given, or with
            `output_all_exits=True`.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    exit_layer: torch.LongTensor | None = None
    exit_logits: torch.FloatTensor | None = None


def exit_confidences(exit_logits: torch.Tensor, temperatures: torch.Tensor | list[float]) -> torch.Tensor:
    """Calibrated confidence `max softmax(z_k / T_k)` of every exit, shape `(batch_size, num_exits)`.

    Args:
        exit_logits (`torch.Tensor` of shape `(batch_size, num_exits, num_labels)`): logits of every exit.
        temperatures (`torch.Tensor` or `list[float]` of length `num_exits`): one temperature per exit.
    """
    temps = torch.as_tensor(temperatures, dtype=exit_logits.dtype, device=exit_logits.device)
    return torch.softmax(exit_logits / temps[None, :, None], dim=-1).amax(dim=-1)


def select_exits(exit_logits: torch.Tensor, temperatures: torch.Tensor | list[float], threshold: float) -> torch.Tensor:
    """The index of the exit every row leaves at: the first whose calibrated confidence is `>= threshold`, else the
    last one. A threshold of 1.0 (or a single-output regression head) always selects the last exit.

    Args:
        exit_logits (`torch.Tensor` of shape `(batch_size, num_exits, num_labels)`): logits of every exit.
        temperatures (`torch.Tensor` or `list[float]` of length `num_exits`): one temperature per exit.
        threshold (`float`): the exit threshold, in `(0, 1]`.

    Returns:
        `torch.LongTensor` of shape `(batch_size,)`.
    """
    batch_size, num_exits = exit_logits.shape[:2]
    last = torch.full((batch_size,), num_exits - 1, dtype=torch.long, device=exit_logits.device)
    if threshold >= 1.0 or exit_logits.shape[-1] == 1:
        return last
    passes = exit_confidences(exit_logits, temperatures) >= threshold
    passes[:, -1] = True
    return passes.to(torch.long).argmax(dim=-1)  # index of the first True


class EarlyExitClassifier(nn.Module):
    """One exit: mixes the pooled [CLS] states it reads, then dropout and a linear layer."""

    def __init__(self, config, num_inputs: int):
        super().__init__()
        weighted = config.exit_input.startswith("weighted_")
        self.mix_logits = nn.Parameter(torch.zeros(num_inputs)) if weighted else None
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """`pooled`: the pooled state of layers 1..k (all of them for the `weighted_*` inputs, at least the last)."""
        if self.mix_logits is None:
            features = pooled[-1]
        else:
            weights = torch.softmax(self.mix_logits, dim=0).to(pooled[-1].dtype)
            features = torch.einsum("lbh,l->bh", torch.stack(pooled[-len(weights) :]), weights)
        return self.classifier(self.dropout(features))


class EarlyExitModelMixin:
    """The shared machinery of exits, loss and the exit loop; subclasses only provide the backbone."""

    # --- saving, loading and pushing (the model card is written through `card_data`, see `register_card_data`) ---

    @property
    def card_data(self):
        """What the model card says beyond the configuration: an instance of the class given to
        [`register_card_data`] (`hf_notlike.early_exit.EarlyExitModelCardData` when hf_notlike is imported), created
        with the model; None where nothing is registered (the Hub copy of this file): then no card is written."""
        data = self.__dict__.get("_card_data")
        if data is None and _CARD_DATA_CLASS is not None:
            data = self.__dict__["_card_data"] = _CARD_DATA_CLASS()
        return data

    @card_data.setter
    def card_data(self, value) -> None:
        self.__dict__["_card_data"] = value

    def save_pretrained(self, save_directory, *args, push_to_hub: bool = False, **kwargs):
        """`PreTrainedModel.save_pretrained`, then the model card (README.md) from `card_data`. With
        `push_to_hub=True` the saved folder is uploaded as by [`push_to_hub`] (keyword arguments `repo_id`,
        `commit_message`, `commit_description`, `private`, `revision`, `create_pr`; `token` is used for both)."""
        hub_kwargs = {key: kwargs.pop(key) for key in _PUSH_KWARGS if key in kwargs}
        repo_id = hub_kwargs.pop("repo_id", None)
        output = super().save_pretrained(save_directory, *args, **kwargs)
        if not kwargs.get("is_main_process", True):
            return output
        if push_to_hub:
            repo_id = repo_id or os.path.basename(os.path.normpath(os.fspath(save_directory)))
            return self._push_folder(save_directory, repo_id, token=kwargs.get("token"), **hub_kwargs)
        if self.card_data is not None:
            self.card_data.write_card(self, save_directory, repo_id=repo_id)
        return output

    def push_to_hub(
        self,
        repo_id: str,
        *,
        commit_message: str | None = None,
        commit_description: str | None = None,
        private: bool | None = None,
        token: bool | str | None = None,
        revision: str | None = None,
        create_pr: bool = False,
        max_shard_size: int | str | None = "50GB",
        tags: list[str] | None = None,
    ) -> str:
        """Saves the model (weights, config, the remote-code files and the model card) into a temporary folder and
        uploads it with `huggingface_hub.HfApi.upload_folder` (the repo is created if needed).

        Args:
            repo_id (`str`): `"user/name"` of the model repo.
            commit_message (`str`, *optional*), commit_description (`str`, *optional*): the commit.
            private (`bool`, *optional*): visibility of a new repo.
            token (`bool` or `str`, *optional*): Hub token (default: the logged-in one).
            revision (`str`, *optional*): branch to push to.
            create_pr (`bool`, *optional*, defaults to `False`): open a pull request instead of committing.
            max_shard_size (`int` or `str`, *optional*, defaults to `"50GB"`): shard size of the weights.
            tags (`list[str]`, *optional*): extra tags for the model card.

        Returns:
            `str`: the URL of the commit.

        Raises:
            `OSError` naming the repo, the endpoint and what to check when the Hub cannot be reached or refuses the
            token.
        """
        with tempfile.TemporaryDirectory() as folder:
            super().save_pretrained(folder, max_shard_size=max_shard_size)
            return self._push_folder(
                folder, repo_id, token=token, commit_message=commit_message, commit_description=commit_description,
                private=private, revision=revision, create_pr=create_pr, tags=tags,
            )

    def _push_folder(self, folder, repo_id: str, token=None, tags=None, commit_message=None, **upload_kwargs) -> str:
        """Writes the card for `repo_id` into `folder` and uploads the folder; network failures name what to check."""
        from huggingface_hub import HfApi, constants
        from huggingface_hub.errors import HfHubHTTPError, HTTPError, OfflineModeIsEnabled

        if not isinstance(repo_id, str) or not repo_id.strip():
            raise ValueError(f"`repo_id` must be a non-empty string like 'user/name'; got {repo_id!r}.")
        if self.card_data is not None:
            if tags:
                self.card_data.tags = list(dict.fromkeys([*(self.card_data.tags or []), *tags]))
            self.card_data.write_card(self, folder, repo_id=repo_id)
        api = HfApi(token=token)
        private = upload_kwargs.pop("private", None)
        where = f"the model repo {repo_id!r} on {constants.ENDPOINT}"
        try:
            repo_id = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            info = api.upload_folder(
                repo_id=repo_id, folder_path=os.fspath(folder), commit_message=commit_message or "Upload model",
                **upload_kwargs,
            )
        except OfflineModeIsEnabled as error:
            raise OSError(f"Could not push the model to {where}: offline mode is on (HF_HUB_OFFLINE=1).") from error
        except HfHubHTTPError as error:
            if getattr(getattr(error, "response", None), "status_code", None) not in (401, 403):
                raise
            raise OSError(
                f"Could not push the model to {where}: the Hub refused the token. Check your token (`hf auth login`, "
                "HF_TOKEN or `token=`) and its write access to the repo."
            ) from error
        except HTTPError as error:  # no answer at all: DNS, refused connection, timeout, proxy
            raise OSError(
                f"Could not push the model to {where}: the Hub did not answer ({' '.join(str(error).split())}). "
                "Check your network connection (and proxy), the endpoint (HF_ENDPOINT) and your token."
            ) from error
        return str(getattr(info, "commit_url", info))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, with a clear error for a truncated weights file, a warning when a local
        folder has no tokenizer files, and the source recorded in `card_data` (base model, earlier card)."""
        try:
            model = super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as error:
            raise OSError(
                f"Could not read the weights file `model.safetensors` of {str(pretrained_model_name_or_path)!r} "
                f"({error}): it is truncated or not a safetensors file. Save or download the model again."
            ) from error
        loaded = model[0] if isinstance(model, tuple) else model  # output_loading_info=True
        source = os.fspath(pretrained_model_name_or_path)
        if os.path.isdir(source) and not any(os.path.isfile(os.path.join(source, n)) for n in _TOKENIZER_FILES):
            logger.warning(
                f"{source} has no tokenizer files, so `AutoTokenizer.from_pretrained` and `pipeline(..., "
                f"model={source!r})` cannot load a tokenizer from it: save one there with "
                "`tokenizer.save_pretrained(folder)`, or pass `tokenizer=` to `pipeline`."
            )
        if loaded.card_data is not None:
            loaded.card_data.record_source(source)
        return model

    def _init_exits(self) -> None:
        self.num_labels = self.config.num_labels
        self.exits = nn.ModuleList(EarlyExitClassifier(self.config, layer) for layer in self.config.exit_layers)

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, EarlyExitClassifier) and module.mix_logits is not None:
            init.zeros_(module.mix_logits)

    @property
    def backbone(self) -> nn.Module:
        return getattr(self, self.base_model_prefix)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        exit_threshold: float | None = None,
        output_all_exits: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> tuple | EarlyExitSequenceClassifierOutput:
        r"""
        Args:
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds:
                As for the backbone (`BertModel` / `RobertaModel`). Padding must be on the right (the default of
                BERT and RoBERTa tokenizers), as for the stock classifiers, which read the first token.
            labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
                Class indices (or float targets when `num_labels == 1`). The loss is the weighted sum over exits of
                each exit's loss, weighted by `config.exit_loss_weights`.
            exit_threshold (`float`, *optional*):
                Overrides `config.exit_threshold` for this call; in `(0, 1]`, 1.0 runs the full model.
            output_all_exits (`bool`, *optional*):
                Run every layer and return `exit_logits` for every exit and row (calibration, sweeps). Implied in
                training mode and when `labels` are given; `logits` and `exit_layer` then apply the exit rule to
                those logits.
            return_dict (`bool`, *optional*): Return an [`EarlyExitSequenceClassifierOutput`] instead of a tuple.

        Example:

        ```python
        >>> import torch
        >>> from hf_notlike import EarlyExitBertConfig, EarlyExitBertForSequenceClassification
        >>> config = EarlyExitBertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
        ...                              intermediate_size=37, exit_layers=[1, 2, 3, 4], num_labels=3)
        >>> model = EarlyExitBertForSequenceClassification(config).eval()
        >>> out = model(torch.tensor([[2, 5, 7, 3]]), exit_threshold=0.2)
        >>> out.logits.shape, out.exit_layer.tolist()
        (torch.Size([1, 3]), [1])
        ```
        """
        if return_dict is None:
            return_dict = getattr(self.config, "return_dict", True)
        if self.config.problem_type == "multi_label_classification":
            raise ValueError(
                "Early-exit models support single-label classification and regression, not "
                "problem_type='multi_label_classification'."
            )
        threshold = self.config.check_exit_threshold(
            self.config.exit_threshold if exit_threshold is None else exit_threshold
        )
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "position_ids": position_ids,
            "inputs_embeds": inputs_embeds,
        }
        exit_logits = None
        if output_all_exits or self.training or labels is not None:
            exit_logits = self._all_exits(inputs, **kwargs)
            exit_index = select_exits(exit_logits, self.config.temperatures, threshold)
            logits = exit_logits[torch.arange(exit_logits.shape[0], device=exit_logits.device), exit_index]
        else:
            logits, exit_index = self._early_exit(inputs, threshold)
        layers = torch.tensor(self.config.exit_layers, device=exit_index.device)
        exit_layer = layers[exit_index]

        loss = self._exit_loss(exit_logits, labels) if labels is not None else None
        output = EarlyExitSequenceClassifierOutput(
            loss=loss, logits=logits, exit_layer=exit_layer, exit_logits=exit_logits
        )
        return output if return_dict else output.to_tuple()

    def _token_weights(self, hidden: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """For the `*mean` exit inputs, `(batch, seq, 1)` weights that average a layer over its unmasked tokens;
        None for the [CLS] inputs. Computed once per set of rows, not per layer."""
        if not self.config.exit_input.endswith("mean"):
            return None
        if attention_mask is None:
            return hidden.new_full((*hidden.shape[:2], 1), 1.0 / hidden.shape[1])
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        return weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)

    @staticmethod
    def _summary(hidden: torch.Tensor, token_weights: torch.Tensor | None) -> torch.Tensor:
        """One layer's `(batch, hidden)` summary: its [CLS] state, or its attention-masked token mean."""
        return hidden[:, 0] if token_weights is None else (hidden * token_weights).sum(dim=1)

    def _pool(self, summaries: list[torch.Tensor]) -> list[torch.Tensor]:
        """What the exits read: the backbone's pooler (dense + tanh) over layer summaries, all layers in one call."""
        pooler = self.backbone.pooler
        if len(summaries) == 1:
            return [pooler.activation(pooler.dense(summaries[0]))]
        return list(pooler.activation(pooler.dense(torch.stack(summaries))).unbind(0))

    def _all_exits(self, inputs: dict, **kwargs) -> torch.Tensor:
        """Runs every layer with the backbone's own forward; returns `(batch, num_exits, num_labels)` logits."""
        outputs = self.backbone(**inputs, output_hidden_states=True, return_dict=True, **kwargs)
        hidden_states = outputs.hidden_states[1:]  # [0] is the embedding output
        token_weights = self._token_weights(hidden_states[0], inputs["attention_mask"])
        pooled = self._pool([self._summary(h, token_weights) for h in hidden_states])
        exit_logits = [exit_(pooled[:layer]) for exit_, layer in zip(self.exits, self.config.exit_layers)]
        return torch.stack(exit_logits, dim=1)

    def _early_exit(self, inputs: dict, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Runs layer by layer; rows leave at their first confident exit and are dropped from the batch.

        Layer summaries are put through the pooler only when an exit is evaluated (at threshold 1.0: once, for the
        last exit), so that the loop adds as few small operations per layer as possible to the backbone's work."""
        backbone = self.backbone
        hidden = backbone.embeddings(
            input_ids=inputs["input_ids"],
            token_type_ids=inputs["token_type_ids"],
            position_ids=inputs["position_ids"],
            inputs_embeds=inputs["inputs_embeds"],
        )
        batch_size, seq_len = hidden.shape[:2]
        mask_2d = inputs["attention_mask"]
        if mask_2d is None:
            mask_2d = torch.ones(batch_size, seq_len, dtype=torch.long, device=hidden.device)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=mask_2d)
        token_weights = self._token_weights(hidden, mask_2d)

        exit_at = {layer: k for k, layer in enumerate(self.config.exit_layers)}
        last_exit = len(self.exits) - 1
        temperatures = torch.as_tensor(self.config.temperatures, dtype=hidden.dtype, device=hidden.device)
        weighted = self.config.exit_input.startswith("weighted_")
        rows = torch.arange(batch_size, device=hidden.device)  # original index of each row still running
        logits = hidden.new_empty(batch_size, self.num_labels)
        exit_index = torch.full((batch_size,), last_exit, dtype=torch.long, device=hidden.device)
        pooled: list[torch.Tensor] = []  # what the exits read, per layer kept (all layers for `weighted_*`)
        pending: list[torch.Tensor] = []  # summaries of those layers not yet through the pooler

        for layer_number, layer in enumerate(backbone.encoder.layer, start=1):
            hidden = layer(hidden, mask)
            k = exit_at.get(layer_number)
            if weighted or k is not None:
                pending.append(self._summary(hidden, token_weights))
            if k is None or (k != last_exit and threshold >= 1.0):
                continue
            pooled += self._pool(pending)
            pending = []
            exit_logits = self.exits[k](pooled)
            if k == last_exit:
                logits[rows] = exit_logits.to(logits.dtype)
                exit_index[rows] = k
                break
            done = exit_confidences(exit_logits[:, None], temperatures[k : k + 1])[:, 0] >= threshold
            if not done.any():
                continue
            logits[rows[done]] = exit_logits[done].to(logits.dtype)
            exit_index[rows[done]] = k
            if done.all():
                break
            keep = ~done
            rows, hidden, mask_2d = rows[keep], hidden[keep], mask_2d[keep]
            pooled = [p[keep] for p in pooled]
            used_columns = mask_2d.bool().any(dim=0)
            if not used_columns.all():  # trim padding no remaining row needs
                hidden, mask_2d = hidden[:, used_columns], mask_2d[:, used_columns]
            mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=mask_2d)
            token_weights = self._token_weights(hidden, mask_2d)
        return logits, exit_index

    def _exit_loss(self, exit_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Weighted sum over exits of each exit's loss (Schwartz et al., 2020, Sec. 3: a plain sum by default)."""
        labels = labels.to(exit_logits.device)
        if self.config.problem_type is None:
            self.config.problem_type = "regression" if self.num_labels == 1 else "single_label_classification"
        weights = self.config.exit_loss_weights
        if self.config.problem_type == "regression":
            targets = labels.view(-1).to(exit_logits.dtype)
            losses = [F.mse_loss(exit_logits[:, k, 0], targets) for k in range(len(weights))]
        else:
            losses = [F.cross_entropy(exit_logits[:, k], labels.view(-1)) for k in range(len(weights))]
        return sum(w * loss for w, loss in zip(weights, losses))


class EarlyExitBertForSequenceClassification(EarlyExitModelMixin, BertPreTrainedModel):
    r"""
    BERT with an exit after each of `config.exit_layers` (see [`EarlyExitBertConfig`]).

    Load the backbone from a plain BERT checkpoint and initialise the exits:

    ```python
    >>> from hf_notlike import EarlyExitBertForSequenceClassification
    >>> model = EarlyExitBertForSequenceClassification.from_pretrained(  # doctest: +SKIP
    ...     "path/to/bert", exit_layers=[1, 2, 3, 4, 5, 6], num_labels=2)
    ```
    """

    config_class = EarlyExitBertConfig
    config: EarlyExitBertConfig

    def __init__(self, config: EarlyExitBertConfig):
        super().__init__(config)
        self.bert = BertModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()


class EarlyExitRobertaForSequenceClassification(EarlyExitModelMixin, RobertaPreTrainedModel):
    r"""
    RoBERTa with an exit after each of `config.exit_layers` (see [`EarlyExitRobertaConfig`]). The exits read
    RoBERTa's pooler, which plain RoBERTa checkpoints carry (it is initialised if one does not).
    """

    config_class = EarlyExitRobertaConfig
    config: EarlyExitRobertaConfig

    def __init__(self, config: EarlyExitRobertaConfig):
        super().__init__(config)
        self.roberta = RobertaModel(config, add_pooling_layer=True)
        self._init_exits()
        self.post_init()
