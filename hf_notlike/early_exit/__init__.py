"""Early-exit inference (Schwartz et al., ACL 2020): models, calibration and the speed/accuracy trade-off.

Importing this package registers the configurations and models with `AutoConfig` and
`AutoModelForSequenceClassification`, so `from_pretrained` and `pipeline` work on saved early-exit models.
"""

from transformers import AutoConfig, AutoModelForSequenceClassification

from .calibration import CalibrationResult, calibrate_temperatures, collect_exit_logits, expected_calibration_error
from .configuration import EarlyExitBertConfig, EarlyExitConfigMixin, EarlyExitRobertaConfig
from .evaluation import EarlyExitMetrics
from .modeling import (
    EarlyExitBertForSequenceClassification,
    EarlyExitClassifier,
    EarlyExitModelMixin,
    EarlyExitRobertaForSequenceClassification,
    EarlyExitSequenceClassifierOutput,
    exit_confidences,
    select_exits,
)
from .tradeoff import TradeoffResult, speed_accuracy_curve, stock_model_for

for _config, _model in (
    (EarlyExitBertConfig, EarlyExitBertForSequenceClassification),
    (EarlyExitRobertaConfig, EarlyExitRobertaForSequenceClassification),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForSequenceClassification.register(_config, _model, exist_ok=True)
    # saved models carry `auto_map` and copies of configuration.py / modeling.py: they load with
    # trust_remote_code=True where hf_notlike is not installed
    _config.register_for_auto_class("AutoConfig")
    _model.register_for_auto_class("AutoModelForSequenceClassification")

from ..hub import write_early_exit_card as _write_early_exit_card  # noqa: E402

EarlyExitModelMixin.model_card_hook = _write_early_exit_card

__all__ = [
    "EarlyExitBertConfig",
    "EarlyExitRobertaConfig",
    "EarlyExitConfigMixin",
    "EarlyExitBertForSequenceClassification",
    "EarlyExitRobertaForSequenceClassification",
    "EarlyExitModelMixin",
    "EarlyExitClassifier",
    "EarlyExitSequenceClassifierOutput",
    "exit_confidences",
    "select_exits",
    "CalibrationResult",
    "calibrate_temperatures",
    "collect_exit_logits",
    "expected_calibration_error",
    "EarlyExitMetrics",
    "TradeoffResult",
    "speed_accuracy_curve",
    "stock_model_for",
]
