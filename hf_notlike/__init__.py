"""hf_notlike: "not all textual instances are alike" efficiency methods for the Hugging Face stack.

- Early-exit inference (Schwartz et al., ACL 2020): [`EarlyExitBertForSequenceClassification`],
  [`EarlyExitRobertaForSequenceClassification`], [`calibrate_temperatures`], [`speed_accuracy_curve`]; importing
  `hf_notlike` registers the models with the Auto classes; [`choose_thresholds`] picks one threshold per exit for an
  accuracy budget.
- Dataset cartography (Swayamdipta et al., EMNLP 2020): [`CartographyCallback`], [`DataMap`].
- Masking for vision-and-language MLM (Bitton et al., Findings of EMNLP 2021): [`DataCollatorForVLMasking`].
- Hub sharing: `model.push_to_hub` (card from [`EarlyExitModelCardData`], `model.card_data`), `DataMap.push_to_hub` /
  `DataMap.from_pretrained`; each method renders its own card, `hf_notlike.hub` holds the shared helpers.
- Building a data map in one call: `hf_notlike.cartography.build_data_map` (the `hf-notlike datamap build` command).
- Offline samples: `hf_notlike.resources` loads the shipped sample model and datasets (`minilm_path()`,
  `load_rotten_tomatoes()`, `load_20newsgroups()`, ...) for examples and quick experiments; the library itself takes
  paths and `datasets.Dataset` objects and never needs them.

Errors: input the library rejects raises `hf_notlike.errors.HfNotlikeInputError` (a `ValueError`; its
`HfNotlikeTypeError` / `HfNotlikeFileNotFoundError` flavours are also `TypeError` / `FileNotFoundError`).

Logging: every module logs through the `hf_notlike` logger; `hf_notlike.logging.set_verbosity_info()` (or
`_warning`, `_error`, `_debug`, or the environment variable `HF_NOTLIKE_VERBOSITY`) sets how much is shown.

Low-level helpers stay in their subpackages (`hf_notlike.early_exit.select_exits`, `exit_confidences`, ...). The
quick-start demo, `hf_notlike.demo`, is not part of the library API.
"""

from . import errors, logging
from .cartography import CartographyCallback, DataMap, DataMapSelection
from .early_exit import (
    CalibrationResult,
    CalibrationWarning,
    EarlyExitBertConfig,
    EarlyExitBertForSequenceClassification,
    EarlyExitCardCallback,
    EarlyExitDebertaV2Config,
    EarlyExitDebertaV2ForSequenceClassification,
    EarlyExitDistilBertConfig,
    EarlyExitDistilBertForSequenceClassification,
    EarlyExitElectraConfig,
    EarlyExitElectraForSequenceClassification,
    EarlyExitMetrics,
    EarlyExitModelCardData,
    EarlyExitModernBertConfig,
    EarlyExitModernBertForSequenceClassification,
    EarlyExitMPNetConfig,
    EarlyExitMPNetForSequenceClassification,
    EarlyExitRobertaConfig,
    EarlyExitRobertaForSequenceClassification,
    EarlyExitSequenceClassifierOutput,
    EarlyExitTrainer,
    EarlyExitXLMRobertaConfig,
    EarlyExitXLMRobertaForSequenceClassification,
    ThresholdChoice,
    TradeoffResult,
    calibrate_temperatures,
    check_exits_learned,
    choose_thresholds,
    collect_exit_logits,
    early_exit_from_classifier,
    early_exit_optimizer,
    expected_calibration_error,
    quantize_dynamic_int8,
    span_variants,
    speed_accuracy_curve,
    text_span_variants,
    unlabelled_dataset,
)
from .masking import DataCollatorForVLMasking, VLLexicon, VLMaskingTagger, load_concreteness
from .version import __version__

__all__ = [
    "__version__",
    "errors",
    "logging",
    "CartographyCallback",
    "DataMap",
    "DataMapSelection",
    "EarlyExitBertConfig",
    "EarlyExitRobertaConfig",
    "EarlyExitBertForSequenceClassification",
    "EarlyExitRobertaForSequenceClassification",
    "EarlyExitXLMRobertaConfig",
    "EarlyExitXLMRobertaForSequenceClassification",
    "EarlyExitElectraConfig",
    "EarlyExitElectraForSequenceClassification",
    "EarlyExitDistilBertConfig",
    "EarlyExitDistilBertForSequenceClassification",
    "EarlyExitDebertaV2Config",
    "EarlyExitDebertaV2ForSequenceClassification",
    "EarlyExitModernBertConfig",
    "EarlyExitMPNetConfig",
    "EarlyExitModernBertForSequenceClassification",
    "EarlyExitMPNetForSequenceClassification",
    "early_exit_from_classifier",
    "EarlyExitTrainer",
    "early_exit_optimizer",
    "span_variants",
    "text_span_variants",
    "unlabelled_dataset",
    "EarlyExitSequenceClassifierOutput",
    "EarlyExitModelCardData",
    "EarlyExitCardCallback",
    "CalibrationResult",
    "CalibrationWarning",
    "EarlyExitMetrics",
    "TradeoffResult",
    "ThresholdChoice",
    "choose_thresholds",
    "calibrate_temperatures",
    "check_exits_learned",
    "collect_exit_logits",
    "expected_calibration_error",
    "speed_accuracy_curve",
    "quantize_dynamic_int8",
    "DataCollatorForVLMasking",
    "VLLexicon",
    "VLMaskingTagger",
    "load_concreteness",
]
