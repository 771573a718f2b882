"""hf_notlike: "not all textual instances are alike" efficiency methods for the Hugging Face stack.

- Early-exit inference (Schwartz et al., ACL 2020): [`EarlyExitBertForSequenceClassification`],
  [`EarlyExitRobertaForSequenceClassification`], [`calibrate_temperatures`], [`speed_accuracy_curve`]; importing
  `hf_notlike` registers the models with the Auto classes.
- Dataset cartography (Swayamdipta et al., EMNLP 2020): [`CartographyCallback`], [`DataMap`].
- Masking for vision-and-language MLM (Bitton et al., Findings of EMNLP 2021): [`DataCollatorForVLMasking`].
- Hub sharing: `model.push_to_hub`, `DataMap.push_to_hub` / `DataMap.from_pretrained`, cards in `hf_notlike.hub`.
"""

__version__ = "0.1.0"

from .cartography import CartographyCallback, DataMap, DataMapSelection
from .early_exit import (
    CalibrationResult,
    EarlyExitBertConfig,
    EarlyExitBertForSequenceClassification,
    EarlyExitMetrics,
    EarlyExitRobertaConfig,
    EarlyExitRobertaForSequenceClassification,
    EarlyExitSequenceClassifierOutput,
    TradeoffResult,
    calibrate_temperatures,
    collect_exit_logits,
    exit_confidences,
    expected_calibration_error,
    select_exits,
    speed_accuracy_curve,
)
from .masking import DataCollatorForVLMasking, VLLexicon, VLMaskingTagger, load_concreteness

__all__ = [
    "__version__",
    "CartographyCallback",
    "DataMap",
    "DataMapSelection",
    "EarlyExitBertConfig",
    "EarlyExitRobertaConfig",
    "EarlyExitBertForSequenceClassification",
    "EarlyExitRobertaForSequenceClassification",
    "EarlyExitSequenceClassifierOutput",
    "exit_confidences",
    "select_exits",
    "CalibrationResult",
    "EarlyExitMetrics",
    "TradeoffResult",
    "calibrate_temperatures",
    "collect_exit_logits",
    "expected_calibration_error",
    "speed_accuracy_curve",
    "DataCollatorForVLMasking",
    "VLLexicon",
    "VLMaskingTagger",
    "load_concreteness",
]
