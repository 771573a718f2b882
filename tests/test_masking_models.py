"""Collated batches fed to tiny LxmertForPreTraining and VisualBertForPreTraining models (forward, loss, Trainer)."""

import pytest
import torch
from masking_fixtures import CAPTIONS, bpe_tokenizer, norms_lexicon, tag
from transformers import LxmertConfig, LxmertForPreTraining, VisualBertConfig, VisualBertForPreTraining

from hf_notlike.masking import MASKING_STRATEGIES, DataCollatorForVLMasking

BOXES, FEATURES = 5, 16


def lxmert(tokenizer):
    torch.manual_seed(0)
    config = LxmertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_attention_heads=2, intermediate_size=37, l_layers=1,
        x_layers=1, r_layers=1, visual_feat_dim=FEATURES, visual_pos_dim=4, num_object_labels=7, num_attr_labels=5,
        num_qa_labels=3, task_qa=False,
    )
    return LxmertForPreTraining(config)


def visual_bert(tokenizer):
    torch.manual_seed(0)
    config = VisualBertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
        visual_embedding_dim=FEATURES,
    )
    return VisualBertForPreTraining(config)


def lxmert_rows(tokenizer, captions, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = tag(tokenizer, captions, lexicon=norms_lexicon())
    for i, row in enumerate(rows):
        row["visual_feats"] = torch.randn(BOXES, FEATURES, generator=generator).tolist()
        row["visual_pos"] = torch.rand(BOXES, 4, generator=generator).tolist()
        row["obj_labels"] = {
            "obj": [torch.randint(7, (BOXES,), generator=generator).tolist(), [1.0] * BOXES],
            "attr": [torch.randint(5, (BOXES,), generator=generator).tolist(), [1.0] * BOXES],
            "feat": {"features": row["visual_feats"], "confidences": [1.0] * BOXES},  # storable by Arrow
        }
        row["matched_label"] = i % 2
    return rows


def visual_bert_rows(tokenizer, captions, seed=0):
    generator = torch.Generator().manual_seed(seed)
    rows = tag(tokenizer, captions, lexicon=norms_lexicon())
    for i, row in enumerate(rows):
        row["visual_embeds"] = torch.randn(BOXES, FEATURES, generator=generator).tolist()
        row["sentence_image_labels"] = i % 2
    return rows


# MiniLM's 30k-word vocabulary makes the MLM head of a tiny model slow on CPU (seconds per step): the strategies
# run on the small byte-level BPE tokenizer, and one case per model family on the WordPiece one.
CASES = [("bpe", strategy) for strategy in MASKING_STRATEGIES] + [("wordpiece", "objects")]


def pick(name, bert_tokenizer):
    return bert_tokenizer if name == "wordpiece" else bpe_tokenizer()


@pytest.mark.parametrize("tokenizer_name, strategy", CASES)
def test_lxmert_forward_with_collated_batch(bert_tokenizer, tokenizer_name, strategy):
    tokenizer = pick(tokenizer_name, bert_tokenizer)
    rows = lxmert_rows(tokenizer, CAPTIONS)
    batch = DataCollatorForVLMasking(tokenizer, strategy, seed=0, lexicon=norms_lexicon())(rows)
    assert batch["visual_feats"].shape == (len(rows), BOXES, FEATURES) and batch["visual_feats"].dtype == torch.float32
    assert batch["visual_pos"].shape == (len(rows), BOXES, 4)
    labels, confidences = batch["obj_labels"]["obj"]
    assert labels.dtype == torch.long and labels.shape == confidences.shape == (len(rows), BOXES)
    assert batch["obj_labels"]["feat"][0].shape == (len(rows), BOXES, FEATURES)
    assert batch["matched_label"].tolist() == [i % 2 for i in range(len(rows))]
    assert batch["labels"].shape == batch["input_ids"].shape  # LXMERT: text-only labels
    assert torch.equal(batch["visual_feats"][0], torch.tensor(rows[0]["visual_feats"]))  # untouched
    model = lxmert(tokenizer)
    output = model(**batch)
    assert torch.isfinite(output.loss)
    output.loss.backward()
    assert model.lxmert.embeddings.word_embeddings.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "tokenizer_name, strategy",
    [("bpe", "random"), ("bpe", "content_words"), ("bpe", "top_concrete"), ("wordpiece", "objects")],
)
def test_visual_bert_forward_and_label_alignment(bert_tokenizer, tokenizer_name, strategy):
    tokenizer = pick(tokenizer_name, bert_tokenizer)
    rows = visual_bert_rows(tokenizer, CAPTIONS)
    batch = DataCollatorForVLMasking(tokenizer, strategy, seed=1, lexicon=norms_lexicon())(rows)
    text_length = batch["input_ids"].shape[1]
    assert batch["labels"].shape == (len(rows), text_length + BOXES)
    assert (batch["labels"][:, text_length:] == -100).all()
    assert batch["visual_attention_mask"].shape == (len(rows), BOXES) and (batch["visual_attention_mask"] == 1).all()
    model = visual_bert(tokenizer)
    sentence_image_labels = batch.pop("sentence_image_labels")
    output = model(**batch)
    manual = torch.nn.functional.cross_entropy(
        output.prediction_logits[:, :text_length].reshape(-1, len(tokenizer)),
        batch["labels"][:, :text_length].reshape(-1),
    )
    torch.testing.assert_close(output.loss, manual)  # the masked text positions are what the loss scores
    full = model(**batch, sentence_image_labels=sentence_image_labels)
    assert torch.isfinite(full.loss) and full.loss > output.loss


def test_visual_bert_family_needs_visual_embeds(bert_tokenizer):
    rows = tag(bert_tokenizer, CAPTIONS)
    with pytest.raises(ValueError, match="visual_embeds"):
        DataCollatorForVLMasking(bert_tokenizer, model_family="visualbert")(rows)
    with pytest.raises(ValueError, match="visual_feats"):
        DataCollatorForVLMasking(bert_tokenizer, model_family="lxmert")(rows)
    rows[0] = dict(rows[0], image_id=[1, 2])
    with pytest.raises(ValueError, match="'image_id' is in row 0 of the batch but missing from rows 1, 2"):
        DataCollatorForVLMasking(bert_tokenizer)(rows)
    rows = [dict(row, image_id=[1, 2, 3]) for row in rows]
    rows[0]["image_id"] = [1, 2]
    with pytest.raises(ValueError, match="Cannot stack the field 'image_id'"):
        DataCollatorForVLMasking(bert_tokenizer)(rows)


def test_trainer_pretrains_lxmert_with_tagged_dataset(tmp_path):
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    tokenizer = bpe_tokenizer()
    rows = lxmert_rows(tokenizer, CAPTIONS * 4)
    dataset = Dataset.from_list(rows)
    collator = DataCollatorForVLMasking(tokenizer, "objects", seed=0)
    model = lxmert(tokenizer)
    before = model.lxmert.embeddings.word_embeddings.weight.detach().clone()
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=3, learning_rate=1e-3,
        remove_unused_columns=False, report_to=[], save_strategy="no", use_cpu=True, logging_steps=1,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    result = trainer.train()
    assert result.global_step == 3 and torch.isfinite(torch.tensor(result.training_loss))
    assert not torch.equal(before, model.lxmert.embeddings.word_embeddings.weight.detach())
