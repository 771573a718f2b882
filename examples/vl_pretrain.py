# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Pre-train a tiny LXMERT with each masking strategy, with `Trainer`, on captions with synthetic visual features.

No image data is available offline, so the "images" are synthetic but not meaningless: each caption (a Guardian
headline) gets `--boxes` region features; region j carries a fixed random embedding of the caption's j-th content
word plus noise (as if a detector had found that object), the other regions noise only; box positions are random.
A model can therefore recover content words from the image, and the probe below measures how much it does.

For each strategy, a fresh tiny `LxmertForPreTraining` (MLM task only) is trained for `--steps` steps; then, on
held-out captions with one content word masked per caption (all replaced by the mask token), it reports the accuracy of
the masked-word prediction with the caption's own regions and with regions shuffled across the batch. The gap is
how much the model learned to look at the image (Bitton et al., 2021, argue that content-word masking helps here).

    python examples/vl_pretrain.py [--steps 200] [--strategies random content_words ...]

Takes a few minutes on CPU for the five strategies. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from tqdm.auto import tqdm
from transformers import LxmertConfig, LxmertForPreTraining, Trainer, TrainingArguments

from hf_notlike.masking import MASKING_STRATEGIES, TAG_STOP, DataCollatorForVLMasking, VLLexicon
from hf_notlike.resources import concreteness_path, load_guardian_headlines


def train_tokenizer(texts: list[str], vocab_size: int):
    """A RoBERTa-style byte-level BPE tokenizer trained on the pre-training text (a small vocabulary keeps the
    MLM head of a tiny model cheap; MiniLM's 30k-word vocabulary would cost most of the step time)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=special, show_progress=False)
    bpe._tokenizer.post_processor = RobertaProcessing(
        ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")), trim_offsets=True
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )


def add_synthetic_regions(rows: dict, embedding: torch.Tensor, boxes: int, seed: int) -> dict:
    """Region features (`visual_feats`, `visual_pos`) for a batch of tagged rows (a `datasets.map` function)."""
    generator = torch.Generator().manual_seed(seed + len(rows["input_ids"]) + rows["input_ids"][0][1])
    features, positions = [], []
    for ids, words, tags in zip(rows["input_ids"], rows["vl_word_ids"], rows["vl_word_tags"]):
        first_pieces, seen = [], set()
        for token, word, tag in zip(ids, words, tags):
            if word >= 0 and word not in seen and not tag & TAG_STOP:
                first_pieces.append(token)
            seen.add(word)
        regions = 0.3 * torch.randn(boxes, embedding.shape[1], generator=generator)
        for j, token in enumerate(first_pieces[:boxes]):
            regions[j] += embedding[token]
        regions = regions[torch.randperm(boxes, generator=generator)]  # region order says nothing
        corners = torch.rand(boxes, 2, generator=generator) * 0.5
        features.append(regions.tolist())
        positions.append(torch.cat([corners, corners + 0.5], dim=1).tolist())
    return {"visual_feats": features, "visual_pos": positions}


@torch.no_grad()
def probe(model, tokenizer, rows: list[dict], batch_size: int = 64) -> tuple[float, float]:
    """Masked content-word accuracy with the caption's own regions and with regions shuffled across the batch."""
    collator = DataCollatorForVLMasking(
        tokenizer, "content_words", mlm_probability=1e-6, mask_replace_prob=1.0, random_replace_prob=0.0, seed=123
    )
    model.eval()
    right = {"own": 0, "shuffled": 0}
    total = 0
    for start in range(0, len(rows), batch_size):
        batch = collator(rows[start : start + batch_size])
        masked = batch["labels"] != -100
        total += int(masked.sum())
        for name in right:
            inputs = dict(batch)
            if name == "shuffled":
                order = torch.roll(torch.arange(len(inputs["visual_feats"])), 1)
                inputs["visual_feats"] = inputs["visual_feats"][order]
                inputs["visual_pos"] = inputs["visual_pos"][order]
            labels = inputs.pop("labels")
            logits = model(**inputs).prediction_logits
            right[name] += int((logits.argmax(-1)[masked] == labels[masked]).sum())
    return right["own"] / total, right["shuffled"] / total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=list(MASKING_STRATEGIES), choices=MASKING_STRATEGIES)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-size", type=int, default=3000)
    parser.add_argument("--eval-size", type=int, default=300)
    parser.add_argument("--boxes", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab-size", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = load_guardian_headlines().shuffle(seed=args.seed)
    data = data.select(range(min(len(data), args.train_size + args.eval_size)))
    tokenizer = train_tokenizer(data["text"][: args.train_size], args.vocab_size)
    lexicon = VLLexicon(concreteness=concreteness_path())
    tagger = DataCollatorForVLMasking(tokenizer, "top_concrete", lexicon=lexicon).tagger(max_length=32)
    feature_dim = 32
    embedding = torch.randn(len(tokenizer), feature_dim, generator=torch.Generator().manual_seed(args.seed))
    data = data.map(tagger, batched=True, remove_columns=["text"], desc="tagging")
    data = data.map(
        add_synthetic_regions, batched=True, batch_size=100, desc="synthetic regions",
        fn_kwargs={"embedding": embedding, "boxes": args.boxes, "seed": args.seed},
    )
    train = data.select(range(args.train_size))
    held_out = data.select(range(args.train_size, len(data))).with_format("torch").to_list()
    held_out = [{key: torch.as_tensor(value) for key, value in row.items()} for row in held_out]

    config = LxmertConfig(
        vocab_size=len(tokenizer), hidden_size=args.hidden, num_attention_heads=4, intermediate_size=4 * args.hidden,
        l_layers=2, x_layers=1, r_layers=1, visual_feat_dim=feature_dim, visual_pos_dim=4,
        task_matched=False, task_obj_predict=False, task_qa=False,
    )
    results = []
    for strategy in tqdm(args.strategies, desc="strategies"):
        torch.manual_seed(args.seed)
        model = LxmertForPreTraining(config)
        collator = DataCollatorForVLMasking(tokenizer, strategy, seed=args.seed, lexicon=lexicon)
        with tempfile.TemporaryDirectory() as output_dir:
            training_args = TrainingArguments(
                output_dir=output_dir, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                learning_rate=args.learning_rate, warmup_steps=args.steps // 10, weight_decay=0.01,
                remove_unused_columns=False,  # the word columns must reach the collator
                report_to=[], save_strategy="no", logging_steps=max(args.steps // 4, 1), use_cpu=True,
                disable_tqdm=True, seed=args.seed, dataloader_num_workers=0,
            )
            trainer = Trainer(model=model, args=training_args, train_dataset=train, data_collator=collator)
            loss = trainer.train().training_loss
        own, shuffled = probe(model, tokenizer, held_out)
        results.append((strategy, loss, own, shuffled))

    print(f"\nTiny LXMERT (hidden {args.hidden}, 2+1+1 layers, byte-level BPE vocabulary {len(tokenizer)}), "
          f"{args.steps} steps of {args.batch_size} Guardian headlines with {args.boxes} synthetic regions each; "
          f"probe: {len(held_out)} held-out captions, one content word masked.\n")
    print("| strategy | training MLM loss | probe accuracy, own regions | probe accuracy, shuffled regions "
          "| gain from the image |")
    print("|---|---:|---:|---:|---:|")
    for strategy, loss, own, shuffled in results:
        gain = 100 * (own - shuffled)
        print(f"| {strategy} | {loss:.3f} | {100 * own:.1f}% | {100 * shuffled:.1f}% | {gain:+.1f} |")


if __name__ == "__main__":
    main()
