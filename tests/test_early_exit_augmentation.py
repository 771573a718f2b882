"""Distillation on unlabelled text: `span_variants` / `text_span_variants` / `unlabelled_dataset`, and rows labelled -100 training the exits
from the anchor alone, through `EarlyExitTrainer`."""

import doctest

import pytest
import torch

from hf_notlike import span_variants, text_span_variants, unlabelled_dataset
from hf_notlike.early_exit import augmentation
from hf_notlike.errors import HfNotlikeInputError

TEXTS = ["a gripping , beautifully shot film about grief and memory", "dull .", "x"]


def test_docstring_examples_run():
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(augmentation):
        for example in test.examples:
            example.want = example.want.replace("```\n", "")  # the closing fence is not output
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


def test_text_span_variants_are_spans_with_words_dropped():
    """Each variant keeps, in order, words of a contiguous span of at least half of its text; none is empty; the
    same seed gives the same variants, another seed others."""
    variants = text_span_variants(TEXTS, copies=3, seed=0)
    assert len(variants) == 9 and variants == text_span_variants(TEXTS, copies=3, seed=0)
    assert variants != text_span_variants(TEXTS, copies=3, seed=1)
    for i, variant in enumerate(variants):
        source, words = TEXTS[i % 3].split(), variant.split()
        assert words and len(words) <= len(source)
        positions = iter(range(len(source)))
        assert all(any(source[j] == w for j in positions) for w in words)  # a subsequence of the source
    assert len(set(variants[::3])) > 1  # the long text gets different variants
    # no drop, whole texts: the texts themselves
    assert text_span_variants(TEXTS, copies=1, min_fraction=1.0, drop_probability=0.0) == TEXTS
    spans = text_span_variants([" ".join(map(str, range(20)))] * 200, copies=1, min_fraction=0.5, seed=2)
    assert min(len(v.split()) for v in spans) >= 8 and max(len(v.split()) for v in spans) == 20


@pytest.mark.parametrize("kwargs, message", [
    (dict(copies=0), "`copies` must be an integer >= 1"),
    (dict(copies=1.5), "`copies` must be an integer >= 1"),
    (dict(min_fraction=0.0), r"`min_fraction` must lie in \(0, 1\]"),
    (dict(min_fraction=1.5), r"`min_fraction` must lie in \(0, 1\]"),
    (dict(drop_probability=1.0), r"`drop_probability` must lie in \[0, 1\)"),
])
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(HfNotlikeInputError, match=message):
        text_span_variants(TEXTS, **kwargs)


def test_span_variants_dataset_and_bad_input():
    from datasets import Dataset, Value, concatenate_datasets

    train = Dataset.from_dict({"review": TEXTS, "label": [1, 0, 1]})
    extra = span_variants(train, copies=2, text_column="review", seed=5)
    assert extra.column_names == ["review", "label"] and set(extra["label"]) == {-100}
    assert extra["review"] == text_span_variants(TEXTS, copies=2, seed=5)
    both = concatenate_datasets([train.cast_column("label", Value("int64")), extra])
    assert len(both) == 9
    with pytest.raises(HfNotlikeInputError, match="no column 'text'.*text_column="):
        span_variants(train)
    with pytest.raises(HfNotlikeInputError, match="must be a datasets.Dataset.*text_span_variants"):
        span_variants(TEXTS)
    with pytest.raises(HfNotlikeInputError, match="no text in 1 row"):
        span_variants(Dataset.from_dict({"text": ["fine", "  "], "label": [0, 1]}))


def test_unlabelled_dataset_concatenates_with_the_labelled_set_and_refuses_bad_texts():
    from datasets import Dataset, Value, concatenate_datasets

    train = Dataset.from_dict({"review": TEXTS, "label": [1, 0, 1]}).cast_column("label", Value("int64"))
    extra = unlabelled_dataset(("works well", "broke in a week"), text_column="review")
    assert list(extra["review"]) == ["works well", "broke in a week"] and list(extra["label"]) == [-100, -100]
    assert list(concatenate_datasets([train, extra])["label"]) == [1, 0, 1, -100, -100]
    with pytest.raises(HfNotlikeInputError, match="must be a sequence of strings"):
        unlabelled_dataset("works well")
    with pytest.raises(HfNotlikeInputError, match="must be a sequence of strings"):
        text_span_variants("works well")
    with pytest.raises(HfNotlikeInputError, match="no text in 1 row"):
        unlabelled_dataset(["fine", None])


@pytest.mark.filterwarnings("ignore::hf_notlike.CalibrationWarning")  # 4 steps: the exits learn little
def test_unlabelled_rows_train_the_exits_from_the_anchor(tmp_path, bert_tokenizer, backbone_config):
    """Labelled rows plus their span variants (-100) through EarlyExitTrainer on an anchored model; then a run on
    the variants alone: the exits still learn (towards the anchor), the anchor stays frozen."""
    from datasets import Dataset, Value, concatenate_datasets
    from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, TrainingArguments

    from hf_notlike import EarlyExitTrainer, early_exit_from_classifier

    config = backbone_config("bert", vocab_size=bert_tokenizer.vocab_size, num_labels=2, max_position_embeddings=64)
    torch.manual_seed(0)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(tmp_path / "stock")
    bert_tokenizer.save_pretrained(tmp_path / "stock")
    words = ["great", "moving", "fine", "dull", "awful", "boring", "film", "plot", "cast", "the"]
    generator = torch.Generator().manual_seed(0)
    texts = [" ".join(words[i] for i in torch.randint(0, 10, (8,), generator=generator).tolist()) for _ in range(48)]
    train = Dataset.from_dict({"text": texts, "label": [int(t.count("great") > t.count("dull")) for t in texts]})

    def tokenize(dataset):
        return dataset.map(lambda b: bert_tokenizer(b["text"], truncation=True, max_length=32), batched=True,
                           remove_columns=["text"])

    extra = tokenize(span_variants(train, copies=2))
    labelled = tokenize(train.cast_column("label", Value("int64")))
    for name, dataset in (("both", concatenate_datasets([labelled, extra])), ("unlabelled", extra)):
        model = early_exit_from_classifier(tmp_path / "stock", exit_layers=[1], freeze_backbone=False,
                                           anchor_weight=0.5, anchor_temperature=2.0,
                                           backbone_learning_rate_multiplier=0.1, exit_learning_rate_multiplier=20)
        anchor = {n: p.detach().clone() for n, p in model.anchor_model.named_parameters()}
        exit_before = {n: p.detach().clone() for n, p in model.exits[0].named_parameters()}
        args = TrainingArguments(output_dir=str(tmp_path / name), per_device_train_batch_size=16, learning_rate=1e-3,
                                 max_steps=4, save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
                                 logging_steps=1, seed=0)
        trainer = EarlyExitTrainer(model=model.train(), args=args, train_dataset=dataset,
                                   data_collator=DataCollatorWithPadding(bert_tokenizer))
        trainer.train()
        losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
        assert len(losses) == 4 and all(loss == loss and loss > 0 for loss in losses), (name, losses)  # no NaN
        assert any(not torch.equal(p, exit_before[n]) for n, p in model.exits[0].named_parameters()), name
        assert all(torch.equal(p, anchor[n]) for n, p in model.anchor_model.named_parameters()), name
        if name == "unlabelled":  # the post-training check reads labelled rows only: none here, so it cannot tell
            assert trainer.exits_not_learned() == []
        else:
            assert trainer.exits_not_learned(labelled) == trainer.exits_not_learned(dataset)  # -100 rows left out
