"""Early-exit inference (Schwartz et al., ACL 2020): models, calibration and the speed/accuracy trade-off.

Importing this package registers the configurations and models with `AutoConfig` and
`AutoModelForSequenceClassification`, so `from_pretrained` and `pipeline` work on saved early-exit models.
"""

from transformers import AutoConfig, AutoModelForSequenceClassification

from ..paths import check_local_or_hub
from .augmentation import span_variants, text_span_variants, unlabelled_dataset
from .calibration import (
    CalibrationResult,
    CalibrationWarning,
    calibrate_temperatures,
    check_exits_learned,
    collect_exit_logits,
    expected_calibration_error,
)
from .configuration import (
    EarlyExitBertConfig,
    EarlyExitConfigMixin,
    EarlyExitDebertaV2Config,
    EarlyExitDistilBertConfig,
    EarlyExitElectraConfig,
    EarlyExitModernBertConfig,
    EarlyExitMPNetConfig,
    EarlyExitRobertaConfig,
    EarlyExitXLMRobertaConfig,
)
from .evaluation import EarlyExitMetrics
from .model_card import EarlyExitCardCallback, EarlyExitModelCardData, check_early_exit_card, load_sweep
from .modeling import (
    EARLY_EXIT_MODELS,
    EarlyExitBertForSequenceClassification,
    EarlyExitClassifier,
    EarlyExitDebertaV2ForSequenceClassification,
    EarlyExitDistilBertForSequenceClassification,
    EarlyExitElectraForSequenceClassification,
    EarlyExitModelMixin,
    EarlyExitModernBertForSequenceClassification,
    EarlyExitMPNetForSequenceClassification,
    EarlyExitRobertaForSequenceClassification,
    EarlyExitSequenceClassifierOutput,
    EarlyExitXLMRobertaForSequenceClassification,
    early_exit_from_classifier,
    exit_confidences,
    register_card_data,
    register_source_check,
    select_exits,
)
from .quantization import quantize_dynamic_int8
from .thresholds import ThresholdChoice, choose_thresholds
from .tradeoff import TradeoffResult, speed_accuracy_curve, stock_model_for
from .training import EarlyExitTrainer, early_exit_optimizer, exit_parameter_groups

for _model in EARLY_EXIT_MODELS.values():
    _config = _model.config_class
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForSequenceClassification.register(_config, _model, exist_ok=True)
    # saved models carry `auto_map` and copies of configuration.py / modeling.py: they load with
    # trust_remote_code=True where hf_notlike is not installed
    _config.register_for_auto_class("AutoConfig")
    _model.register_for_auto_class("AutoModelForSequenceClassification")

# every early-exit model holds an `EarlyExitModelCardData` as `model.card_data` (see modeling.register_card_data)
register_card_data(EarlyExitModelCardData)
# a mistyped local folder is reported as "no such folder" (with close names), not as a Hub problem
register_source_check(check_local_or_hub)

__all__ = [
    "EARLY_EXIT_MODELS",
    "EarlyExitBertConfig",
    "EarlyExitRobertaConfig",
    "EarlyExitXLMRobertaConfig",
    "EarlyExitElectraConfig",
    "EarlyExitDistilBertConfig",
    "EarlyExitDebertaV2Config",
    "EarlyExitModernBertConfig",
    "EarlyExitMPNetConfig",
    "EarlyExitConfigMixin",
    "EarlyExitBertForSequenceClassification",
    "EarlyExitRobertaForSequenceClassification",
    "EarlyExitXLMRobertaForSequenceClassification",
    "EarlyExitElectraForSequenceClassification",
    "EarlyExitDistilBertForSequenceClassification",
    "EarlyExitDebertaV2ForSequenceClassification",
    "EarlyExitModernBertForSequenceClassification",
    "EarlyExitMPNetForSequenceClassification",
    "early_exit_from_classifier",
    "EarlyExitTrainer",
    "early_exit_optimizer",
    "exit_parameter_groups",
    "span_variants",
    "text_span_variants",
    "unlabelled_dataset",
    "EarlyExitModelMixin",
    "EarlyExitClassifier",
    "EarlyExitSequenceClassifierOutput",
    "EarlyExitModelCardData",
    "EarlyExitCardCallback",
    "check_early_exit_card",
    "load_sweep",
    "exit_confidences",
    "select_exits",
    "CalibrationResult",
    "calibrate_temperatures",
    "collect_exit_logits",
    "expected_calibration_error",
    "CalibrationWarning",
    "check_exits_learned",
    "EarlyExitMetrics",
    "TradeoffResult",
    "speed_accuracy_curve",
    "ThresholdChoice",
    "choose_thresholds",
    "stock_model_for",
    "quantize_dynamic_int8",
]
