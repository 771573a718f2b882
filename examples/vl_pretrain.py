# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Vision-and-language pre-training with each masking strategy on real images (easy-VQA), and its downstream effect.

Bitton et al. (2021, "Data Efficient Masked Language Modeling for Vision and Language", Findings of EMNLP) report
that masking content words, objects or concrete words instead of 15% random tokens makes V&L pre-training more data
efficient. This script tests that at CPU scale on easy-VQA (MIT; PyPI `easy-vqa==1.0`, installed with `--no-deps` and
read as files: 4,000 train / 1,000 test 64x64 images of one coloured shape, 38,575 / 9,673 questions, 13 answers).

1. **Visual front end, no download.** Each image becomes 6 regions: a 2x2 grid of 32x32 patches, the whole image
   and the foreground's bounding box (what a detector would propose; the foreground is every pixel far from the
   border's median colour). Each region is described by its foreground silhouette on a 4x4 grid (rescaled to the
   box), foreground share, mean foreground colour, a 64-bin foreground colour histogram, the background colour,
   fill ratio and aspect ratio (89 numbers), with its box (x1, y1, x2, y2). They serve LXMERT's `visual_feats` / `visual_pos`
   (VisualBERT's `visual_embeds` would be the same features). Computed once with `datasets.map`, stored as Arrow
   under the cache folder and reused by every run.
2. **Pre-training per strategy**: a small `LxmertForPreTraining` from scratch, masked language modelling on the
   training questions with their images, with `Trainer` and `DataCollatorForVLMasking`; every strategy gets the
   same step budget, and each strategy's masking rate is set (once, on the training questions) so that it masks
   as many tokens per question as `random` at 0.15. `objects` is grounded on each image's own shape and colour.
   `none` (no pre-training) is the baseline.
3. **Measured per strategy and seed**: masked-word accuracy on held-out (test) questions for shape and colour words,
   with the question's own image and with another image (the gap is what the model takes from the image); VQA
   accuracy on the test split after fine-tuning (`LxmertForQuestionAnswering`) on 10% and on 100% of the training
   questions; the two collator statistics of the paper on the held-out questions.

Each (strategy, seed) result goes to `<results-dir>/<strategy>-seed<seed>.json`; runs whose JSON exists are skipped
(resumable); pre-trained models are kept under the cache folder so an interrupted run resumes after pre-training.

    OMP_NUM_THREADS=1 python examples/vl_pretrain.py                       # the full protocol
    python examples/vl_pretrain.py --strategies random objects --seeds 0 --pretrain-steps 200   # a pilot
    python examples/vl_pretrain.py --report-only                             # table + plot from the JSONs
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from hf_notlike.artifacts import write_json, write_text

STRATEGIES = ("random", "content_words", "objects", "top_concrete", "stop_words")
RUN_ORDER = ("random", "objects", "content_words", "none", "top_concrete", "stop_words")  # per seed
SHAPES = ("circle", "rectangle", "triangle")
COLOURS = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")
GRID = 2  # 2x2 patches of 32x32 pixels, the whole image, and the foreground's bounding box
SILHOUETTE = 4  # each region's foreground mask, averaged to 4x4 cells
HIST_LEVELS = 4  # per channel: 64 colour bins
FEATURE_DIM = SILHOUETTE**2 + 1 + 3 + HIST_LEVELS**3 + 3 + 2
REGIONS = GRID * GRID + 2
# the settings a pre-trained model depends on (a configuration that reuses it must share them)
PRETRAIN_KEYS = ("model", "hidden", "layers", "l_layers", "x_layers", "r_layers", "pretrain_steps", "batch_size",
                 "pretrain_lr", "random_rate", "max_images", "matching", "captions")

# -- data ----------------------------------------------------------------------------------------------------------
def easy_vqa_root() -> Path:
    """The `easy_vqa/data` folder of the installed `easy-vqa` package (located, never imported)."""
    try:
        files = importlib.metadata.files("easy-vqa") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if str(file).replace("\\", "/") == "easy_vqa/data/answers.txt":
            return Path(file.locate()).resolve().parent
    raise SystemExit("easy-VQA is not installed: run `pip install --no-deps -r requirements-data.txt` (it lists `easy-vqa==1.0`).")


def image_labels(questions: list[list]) -> dict[int, list[str]]:
    """Each image's shape and colour, read off its questions and answers (the data ships no other annotation)."""
    found: dict[int, dict[str, str]] = {}
    for question, answer, image in questions:
        words = question.replace("?", " ").split()
        slots = found.setdefault(image, {})
        if answer in SHAPES:
            slots["shape"] = answer
        if answer in COLOURS:
            slots["colour"] = answer
        negated = "not" in words or "no" in words
        present = (answer == "yes") != negated if answer in ("yes", "no") else True
        if present:
            for word in words:
                if word in SHAPES:
                    slots["shape"] = word
                elif word in COLOURS:
                    slots["colour"] = word
    return {image: [slots[key] for key in ("shape", "colour") if key in slots] for image, slots in found.items()}


def load_questions(root: Path, split: str):
    import datasets

    questions = json.loads((root / split / "questions.json").read_text())
    answers = (root / "answers.txt").read_text().split()
    labels = image_labels(questions)
    return datasets.Dataset.from_dict(
        {
            "text": [q for q, _, _ in questions],
            "answer": [answers.index(a) for _, a, _ in questions],
            "image_id": [i for _, _, i in questions],
            "object_labels": [labels.get(i, []) for _, _, i in questions],
        }
    ), answers


def colour_histogram(pixels: np.ndarray) -> np.ndarray:
    """Share of pixels in each of HIST_LEVELS**3 colour bins; `pixels` is (n, 3) uint8."""
    if not len(pixels):
        return np.zeros(HIST_LEVELS**3, dtype=np.float32)
    levels = (pixels.astype(np.int64) * HIST_LEVELS) // 256
    bins = (levels[:, 0] * HIST_LEVELS + levels[:, 1]) * HIST_LEVELS + levels[:, 2]
    return np.bincount(bins, minlength=HIST_LEVELS**3).astype(np.float32) / len(pixels)


def read_image(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def foreground(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Foreground mask (pixels far from the background colour, the median colour of the border) and that colour."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    background = np.median(border, axis=0)
    distance = np.abs(image.astype(np.float32) - background).sum(axis=-1)
    return distance > 60, background


def region_vector(image: np.ndarray, mask: np.ndarray, background: np.ndarray, box: tuple[int, int, int, int]):
    """One region's features: its foreground silhouette on a SILHOUETTE x SILHOUETTE grid (rescaled to the box),
    foreground share, mean foreground colour, foreground colour histogram, background colour, and the box's
    foreground fill ratio and aspect ratio."""
    x1, y1, x2, y2 = box
    crop, pixels = mask[y1:y2, x1:x2], image[y1:y2, x1:x2]
    rows = np.linspace(0, crop.shape[0], SILHOUETTE + 1).astype(int)
    cols = np.linspace(0, crop.shape[1], SILHOUETTE + 1).astype(int)
    silhouette = [
        crop[rows[i] : max(rows[i + 1], rows[i] + 1), cols[j] : max(cols[j + 1], cols[j] + 1)].mean()
        for i in range(SILHOUETTE) for j in range(SILHOUETTE)
    ]
    fg = pixels[crop]
    share = crop.mean()
    colour = fg.mean(axis=0) / 255.0 if len(fg) else np.zeros(3)
    aspect = (x2 - x1) / max(y2 - y1, 1)
    return np.concatenate(
        [silhouette, [share], colour, colour_histogram(fg), background / 255.0, [share, math.log(aspect)]]
    ).astype(np.float32)


def region_features(rows: dict) -> dict:
    """`datasets.map` function: `visual_feats` (REGIONS, FEATURE_DIM) and `visual_pos` (REGIONS, 4) per image: a
    2x2 grid of patches, the whole image, and the foreground's bounding box (what a detector would propose)."""
    feats, positions = [], []
    for path in rows["path"]:
        image = read_image(path)
        size = image.shape[0]
        mask, background = foreground(image)
        step = size // GRID
        boxes = [(c * step, r * step, (c + 1) * step, (r + 1) * step) for r in range(GRID) for c in range(GRID)]
        boxes.append((0, 0, size, size))
        ys, xs = np.nonzero(mask)
        boxes.append((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) if len(xs) else (0, 0, size, size))
        feats.append(np.stack([region_vector(image, mask, background, box) for box in boxes]).tolist())
        positions.append([[coordinate / size for coordinate in box] for box in boxes])
    return {"visual_feats": feats, "visual_pos": positions}


def image_features(root: Path, cache: Path, max_images: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per split, (visual_feats, visual_pos) tensors indexed by image id; computed once into Arrow files."""
    import datasets

    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "test"):
        arrow = cache / f"features-{split}.arrow"
        if arrow.exists():
            data = datasets.Dataset.from_file(str(arrow))
        else:
            files = sorted((root / split / "images").glob("*.png"), key=lambda p: int(p.stem))
            files = files[:max_images] if max_images else files
            data = datasets.Dataset.from_dict({"image_id": [int(p.stem) for p in files], "path": [str(p) for p in files]})
            data = data.map(
                region_features, batched=True, batch_size=100, remove_columns=["path"], cache_file_name=str(arrow),
                desc=f"features {split}",
            )
        columns = data.with_format("torch")[:]
        if not torch.equal(columns["image_id"], torch.arange(len(data))):
            raise SystemExit(f"{arrow}: image ids are not 0..{len(data) - 1}; delete the cache folder.")
        out[split] = (columns["visual_feats"].float(), columns["visual_pos"].float())
    # standardise every feature with the training images' mean and std (dims that never vary stay 0)
    mean = out["train"][0].mean(dim=(0, 1))
    std = out["train"][0].std(dim=(0, 1)).clamp(min=1e-3)
    return {split: ((feats - mean) / std, pos) for split, (feats, pos) in out.items()}


def train_tokenizer(texts: list[str], cache: Path):
    """A byte-level BPE tokenizer trained on the training questions (a 27-word language: every word is one token)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import PreTrainedTokenizerFast

    folder = cache / "tokenizer"
    if not (folder / "tokenizer.json").exists():
        bpe = ByteLevelBPETokenizer(add_prefix_space=True, trim_offsets=True)
        special = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        bpe.train_from_iterator(texts, vocab_size=400, min_frequency=2, special_tokens=special, show_progress=False)
        bpe._tokenizer.post_processor = RobertaProcessing(
            ("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")), trim_offsets=True
        )
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
            pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
        )
        tokenizer.save_pretrained(folder)
    return PreTrainedTokenizerFast.from_pretrained(folder)


class PairedQuestions(torch.utils.data.Dataset):
    """Tagged questions with their image's regions (looked up by image id, so features are stored once per image).

    LXMERT gets `visual_feats` and `visual_pos`; VisualBERT gets `visual_embeds` (features and box together)."""

    def __init__(self, rows, feats, pos, keys, model: str = "lxmert"):
        self.columns = rows.select_columns([*keys, "image_id"]).to_dict()  # one Arrow read, not a row loop
        self.image_ids = self.columns.pop("image_id")
        self.feats, self.pos, self.model = feats, pos, model
        self.embeds = torch.cat([feats, pos], dim=-1)  # VisualBERT: one vector per region, box included

    def __len__(self):
        return len(self.image_ids)

    def __getitem__(self, index):
        item = {key: values[index] for key, values in self.columns.items()}
        image = self.image_ids[index]
        if self.model == "visualbert":
            item["visual_embeds"] = self.embeds[image]
        else:
            item["visual_feats"], item["visual_pos"] = self.feats[image], self.pos[image]
        return item


def qa_collate(tokenizer, model: str = "lxmert", num_labels: int = 0):
    """Batches for answer classification: LXMERT takes the answer id; VisualBERT's head (a KL divergence to a target
    distribution) takes the one-hot answer, which makes it the cross-entropy."""

    def collate(rows):
        text = tokenizer.pad([{"input_ids": r["input_ids"]} for r in rows], return_tensors="pt")
        answers = torch.tensor([r["answer"] for r in rows])
        batch = {"input_ids": text["input_ids"], "attention_mask": text["attention_mask"]}
        if model == "visualbert":
            batch["visual_embeds"] = torch.stack([r["visual_embeds"] for r in rows])
            batch["labels"] = torch.nn.functional.one_hot(answers, num_labels).float()
        else:
            batch["visual_feats"] = torch.stack([r["visual_feats"] for r in rows])
            batch["visual_pos"] = torch.stack([r["visual_pos"] for r in rows])
            batch["labels"] = answers
        return batch

    return collate


class ImageTextMatching:
    """LXMERT's image-text matching task (Tan & Bansal, 2019, "LXMERT", EMNLP) on top of a masking collator: with
    probability `probability` a question is paired with another training image (drawn at random) and labelled as not
    matching (`matched_label` 0); the masked words of such a pair are left out of the MLM loss, since the image they
    come with does not determine them. The loss is then MLM + matching, and the matching head trains LXMERT's pooler,
    which the question-answering head reads."""

    def __init__(self, collator, feats: torch.Tensor, pos: torch.Tensor, probability: float, seed: int):
        self.collator, self.feats, self.pos, self.probability = collator, feats, pos, probability
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, rows):
        batch = self.collator(rows)
        n = batch["input_ids"].shape[0]
        swap = torch.rand(n, generator=self.generator) < self.probability
        images = torch.randint(0, len(self.feats), (n,), generator=self.generator)[swap]
        batch["visual_feats"][swap] = self.feats[images]
        batch["visual_pos"][swap] = self.pos[images]
        batch["labels"][swap] = -100
        batch["matched_label"] = (~swap).long()
        return batch


CAPTION_TEMPLATES = ("there is a {colour} {shape} in the image", "a {colour} {shape} is present",
                     "the color of the {shape} is {colour}", "the shape is a {colour} {shape}")


def captions_for(rows):
    """One caption per template for each image whose shape and colour are known (the annotation `objects` grounds
    on), in the questions' 27-word vocabulary: text that describes its image, as image captions do."""
    import datasets

    labels = dict(zip(rows["image_id"], rows["object_labels"]))
    text, images, objects = [], [], []
    for image, found in sorted(labels.items()):
        shape = next((w for w in found if w in SHAPES), None)
        colour = next((w for w in found if w in COLOURS), None)
        if shape is None or colour is None:
            continue
        for template in CAPTION_TEMPLATES:
            text.append(template.format(shape=shape, colour=colour))
            images.append(image)
            objects.append([shape, colour])
    return datasets.Dataset.from_dict(
        {"text": text, "answer": [-1] * len(text), "image_id": images, "object_labels": objects}
    )


# -- the protocol --------------------------------------------------------------------------------------------------
class Experiment:
    def __init__(self, args):
        import datasets

        from hf_notlike.masking import VLLexicon
        from hf_notlike.resources import concreteness_path

        self.args = args
        self.cache = Path(args.cache_dir)
        root = easy_vqa_root()
        t0 = time.time()
        self.features = image_features(root, self.cache / "features", args.max_images)
        train, self.answers = load_questions(root, "train")
        test, _ = load_questions(root, "test")
        if args.max_images:  # the small version (tests): the questions about the first images only
            train = train.filter(lambda row: row["image_id"] < args.max_images)
            test = test.filter(lambda row: row["image_id"] < args.max_images)
        self.tokenizer = train_tokenizer(train["text"], self.cache)
        self.lexicon = VLLexicon(concreteness=concreteness_path())
        from hf_notlike.masking import DataCollatorForVLMasking

        tagger = DataCollatorForVLMasking(self.tokenizer, "top_concrete", lexicon=self.lexicon).tagger()
        tagged = self.cache / "tagged"
        tagged.mkdir(parents=True, exist_ok=True)
        self.train = train.map(tagger, batched=True, desc="tagging train", cache_file_name=str(tagged / "train.arrow"))
        self.test = test.map(tagger, batched=True, desc="tagging test", cache_file_name=str(tagged / "test.arrow"))
        if args.test_size:
            self.test = self.test.shuffle(seed=0).select(range(min(args.test_size, len(self.test))))
        self.tag_keys = [k for k in self.train.column_names if k not in ("text", "answer", "image_id", "object_labels")]
        self.pretrain_rows = self.train
        if args.captions:  # questions rarely describe their image; captions (as in COCO, the paper's data) do
            captions = captions_for(train).map(
                tagger, batched=True, desc="tagging captions", cache_file_name=str(tagged / "captions.arrow")
            )
            self.pretrain_rows = datasets.concatenate_datasets([self.train, captions.cast(self.train.features)])
        self.setup_seconds = time.time() - t0
        self.rates = self.matched_rates()

    # masking rates -------------------------------------------------------------------------------------------------
    def masking_stats(self, strategy: str, rate: float, rows, passes: int = 3) -> dict:
        from hf_notlike.masking import TAG_STOP, DataCollatorForVLMasking

        collator = DataCollatorForVLMasking(self.tokenizer, strategy, mlm_probability=rate, seed=0,
                                            lexicon=self.lexicon, model_family="text")
        keys = ["input_ids", "attention_mask", "special_tokens_mask", *self.tag_keys]
        keys = list(dict.fromkeys(k for k in keys if k in rows.column_names))
        data = rows.select_columns(keys)
        unmasked = masked_total = stop_total = questions = 0
        for _ in range(passes):
            for start in range(0, len(data), 512):
                chunk = data[start : start + 512]
                batch_rows = [{k: chunk[k][i] for k in keys} for i in range(len(chunk["input_ids"]))]
                labels = collator(batch_rows)["labels"]
                masked = labels != -100
                tags = torch.zeros_like(labels)
                for i, row in enumerate(batch_rows):
                    tags[i, : len(row["vl_word_tags"])] = torch.tensor(row["vl_word_tags"])
                questions += len(batch_rows)
                unmasked += int((~masked.any(dim=1)).sum())
                masked_total += int(masked.sum())
                stop_total += int((masked & (tags & TAG_STOP != 0)).sum())
        return {
            "no_masked_token": unmasked / questions,
            "masked_stop_or_punct": stop_total / max(masked_total, 1),
            "masked_tokens_per_question": masked_total / questions,
        }

    def matched_rates(self) -> dict[str, float]:
        """Per strategy, the masking rate that masks as many tokens per training question as random at
        `--random-rate` (cached; a cache made for another random rate is recomputed)."""
        path = self.cache / "rates.json"
        if path.exists():
            cached = json.loads(path.read_text())
            if cached.get("random") == self.args.random_rate:
                return cached
        sample = self.train.shuffle(seed=1).select(range(min(4000, len(self.train))))
        target = self.masking_stats("random", self.args.random_rate, sample)["masked_tokens_per_question"]
        rates = {"random": self.args.random_rate}
        for strategy in STRATEGIES[1:]:
            low, high = 1e-4, 1.0
            for _ in range(12):
                mid = (low + high) / 2
                got = self.masking_stats(strategy, mid, sample, passes=1)["masked_tokens_per_question"]
                low, high = (mid, high) if got < target else (low, mid)
            rates[strategy] = round((low + high) / 2, 4)
        write_json(path, rates, indent=1)
        return rates

    # models ----------------------------------------------------------------------------------------------------------
    def config(self):
        a = self.args
        if a.model == "visualbert":
            from transformers import VisualBertConfig

            return VisualBertConfig(
                vocab_size=len(self.tokenizer), hidden_size=a.hidden, num_hidden_layers=a.layers,
                num_attention_heads=4, intermediate_size=2 * a.hidden, visual_embedding_dim=FEATURE_DIM + 4,
                num_labels=len(self.answers), pad_token_id=self.tokenizer.pad_token_id,
            )
        from transformers import LxmertConfig

        return LxmertConfig(
            vocab_size=len(self.tokenizer), hidden_size=a.hidden, num_attention_heads=4,
            intermediate_size=2 * a.hidden, l_layers=a.l_layers, x_layers=a.x_layers, r_layers=a.r_layers,
            visual_feat_dim=FEATURE_DIM, visual_pos_dim=4, num_qa_labels=len(self.answers),
            task_matched=False, task_obj_predict=False, task_qa=False, pad_token_id=self.tokenizer.pad_token_id,
        )

    def model_class(self, task: str):
        import transformers

        names = {
            ("lxmert", "pretrain"): "LxmertForPreTraining", ("lxmert", "qa"): "LxmertForQuestionAnswering",
            ("visualbert", "pretrain"): "VisualBertForPreTraining", ("visualbert", "qa"): "VisualBertForQuestionAnswering",
        }
        return getattr(transformers, names[(self.args.model, task)])

    def visual_inputs(self, feats, pos, images) -> dict:
        if self.args.model == "visualbert":
            return {"visual_embeds": torch.cat([feats[images], pos[images]], dim=-1)}
        return {"visual_feats": feats[images], "visual_pos": pos[images]}

    def training_args(self, output_dir, steps, batch_size, lr, seed):
        from transformers import TrainingArguments

        return TrainingArguments(
            output_dir=str(output_dir), max_steps=steps, per_device_train_batch_size=batch_size, learning_rate=lr,
            warmup_steps=max(steps // 10, 1), weight_decay=0.01, lr_scheduler_type="linear",
            remove_unused_columns=False, report_to=[], save_strategy="no", logging_steps=max(steps // 5, 1),
            use_cpu=True, disable_tqdm=True, seed=seed, data_seed=seed, dataloader_num_workers=0,
        )

    def pretrain(self, strategy: str, seed: int) -> tuple[Path, float]:
        from transformers import Trainer

        from hf_notlike.masking import DataCollatorForVLMasking

        folder = self.cache / "pretrained" / (self.args.pretrained_tag or self.args.tag) / f"{strategy}-seed{seed}"
        wanted = {key: value for key, value in settings(self.args).items() if key in PRETRAIN_KEYS}
        if (folder / "model.safetensors").exists():
            stored = json.loads((folder / "train.json").read_text())
            stored["settings"] = {"matching": 0.0, "captions": False, **stored.get("settings", wanted)}  # options added later: defaults
            if stored["settings"] != wanted:
                raise SystemExit(f"{folder} was pre-trained with {stored['settings']}, not {wanted}: pick another "
                                 "--pretrained-tag or delete the folder.")
            return folder, stored["loss"]
        torch.manual_seed(seed)
        config = self.config()
        config.task_matched = bool(self.args.matching)
        model = self.model_class("pretrain")(config)
        collator = DataCollatorForVLMasking(self.tokenizer, strategy, mlm_probability=self.rates[strategy],
                                            seed=seed, lexicon=self.lexicon, model_family=self.args.model)
        feats, pos = self.features["train"]
        if self.args.matching:
            collator = ImageTextMatching(collator, feats, pos, self.args.matching, seed)
        keys = ["input_ids", "attention_mask", "special_tokens_mask", *self.tag_keys]
        data = PairedQuestions(self.pretrain_rows, feats, pos, list(dict.fromkeys(keys)), self.args.model)
        a = self.args
        args = self.training_args(folder / "tmp", a.pretrain_steps, a.batch_size, a.pretrain_lr, seed)
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
        loss = trainer.train().training_loss
        model.save_pretrained(folder)
        write_json(folder / "train.json", {"loss": loss, "settings": wanted}, indent=None)
        shutil.rmtree(folder / "tmp", ignore_errors=True)
        return folder, loss

    @torch.no_grad()
    def probe(self, folder: Path, seed: int) -> dict:
        """Masked shape/colour-word accuracy on held-out questions, own image vs another image."""
        model = self.model_class("pretrain").from_pretrained(folder).eval()
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        kind = {i: ("shape" if t.lstrip("Ġ") in SHAPES else "colour") for i, t in enumerate(tokens)
                if t.lstrip("Ġ") in SHAPES + COLOURS}
        items = []  # (row, position, kind)
        test_ids, test_images = list(self.test["input_ids"]), list(self.test["image_id"])
        for row, ids in enumerate(test_ids):
            items += [(row, p, kind[t]) for p, t in enumerate(ids) if t in kind]
        rng = np.random.default_rng(1234)
        items = [items[i] for i in sorted(rng.choice(len(items), min(self.args.probe_size, len(items)), replace=False))]
        feats, pos = self.features["test"]
        n_images = len(feats)
        shift = torch.from_numpy(rng.integers(1, n_images, size=n_images))
        other = (torch.arange(n_images) + shift) % n_images  # never the question's own image
        right = {(v, k): 0 for v in ("own", "shuffled") for k in ("shape", "colour")}
        count = {"shape": 0, "colour": 0}
        for start in range(0, len(items), 256):
            chunk = items[start : start + 256]
            rows = [test_ids[r] for r, _, _ in chunk]
            length = max(map(len, rows))
            ids = torch.full((len(rows), length), self.tokenizer.pad_token_id)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(rows):
                ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
            positions = torch.tensor([p for _, p, _ in chunk])
            target = ids[torch.arange(len(rows)), positions].clone()
            ids[torch.arange(len(rows)), positions] = self.tokenizer.mask_token_id
            images = torch.tensor([test_images[r] for r, _, _ in chunk])
            for view, imgs in (("own", images), ("shuffled", other[images])):
                logits = model(input_ids=ids, attention_mask=mask, **self.visual_inputs(feats, pos, imgs))
                logits = logits.prediction_logits[:, : ids.shape[1]]
                hit = logits[torch.arange(len(rows)), positions].argmax(-1) == target
                for h, (_, _, k) in zip(hit.tolist(), chunk):
                    right[(view, k)] += int(h)
            for _, _, k in chunk:
                count[k] += 1
        out = {}
        for k in ("shape", "colour"):
            for view in ("own", "shuffled"):
                out[f"{k}_{view}"] = right[(view, k)] / max(count[k], 1)
        for view in ("own", "shuffled"):
            out[f"all_{view}"] = sum(right[(view, k)] for k in count) / max(sum(count.values()), 1)
        out["all_gap"] = out["all_own"] - out["all_shuffled"]
        out["items"] = dict(count)
        return out

    def finetune(self, folder: Path | None, seed: int, fraction: float) -> dict:
        from transformers import Trainer

        torch.manual_seed(seed)
        qa_class = self.model_class("qa")
        if folder is None:
            model = qa_class(self.config())
        else:
            labels_key = "num_labels" if self.args.model == "visualbert" else "num_qa_labels"
            model = qa_class.from_pretrained(folder, **{labels_key: len(self.answers)})
        train = self.train
        if fraction < 1:
            train = train.shuffle(seed=seed).select(range(int(fraction * len(train))))  # same subset per seed
        feats, pos = self.features["train"]
        data = PairedQuestions(train, feats, pos, ["input_ids", "answer"], self.args.model)
        a = self.args
        steps = a.finetune_steps_small if fraction < 1 else a.finetune_steps_full
        output = self.cache / "tmp-finetune"
        args = self.training_args(output, steps, a.batch_size, a.finetune_lr, seed)
        collate = qa_collate(self.tokenizer, self.args.model, len(self.answers))
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
        trainer.train()
        shutil.rmtree(output, ignore_errors=True)
        # test accuracy
        model.eval()
        tfeats, tpos = self.features["test"]
        test = PairedQuestions(self.test, tfeats, tpos, ["input_ids", "answer"], self.args.model)
        right = 0
        with torch.no_grad():
            for start in range(0, len(test), 512):
                batch = collate([test[i] for i in range(start, min(start + 512, len(test)))])
                labels = batch.pop("labels")
                labels = labels.argmax(-1) if labels.dim() == 2 else labels
                output = model(**batch)
                scores = output.logits if self.args.model == "visualbert" else output.question_answering_score
                right += int((scores.argmax(-1) == labels).sum())
        return {"accuracy": right / len(test), "train_questions": len(train), "steps": steps,
                "epochs": steps * a.batch_size / len(train)}

    def run(self, strategy: str, seed: int) -> dict:
        t0 = time.time()
        result = {"strategy": strategy, "seed": seed, "tag": self.args.tag, "threads": torch.get_num_threads(),
                  "load_average_start": os.getloadavg()[0]}
        folder = None
        if strategy != "none":
            folder, loss = self.pretrain(strategy, seed)
            result["masking_rate"] = self.rates[strategy]
            result["pretrain_loss"] = loss
            result["pretrain_seconds"] = time.time() - t0
            result["probe"] = self.probe(folder, seed)
            result["collator_stats"] = self.masking_stats(strategy, self.rates[strategy], self.test)
        for name, fraction in (("vqa_10", 0.1), ("vqa_100", 1.0)):
            t1 = time.time()
            result[name] = self.finetune(folder, seed, fraction)
            result[name]["seconds"] = time.time() - t1
        result["seconds"] = time.time() - t0
        result["load_average_end"] = os.getloadavg()[0]
        return result


def settings(args) -> dict:
    keys = ("model", "hidden", "layers", "l_layers", "x_layers", "r_layers", "pretrain_steps", "batch_size", "pretrain_lr",
            "finetune_steps_small", "finetune_steps_full", "finetune_lr", "random_rate", "probe_size", "test_size", "max_images",
            "pretrained_tag", "matching", "captions")
    return {key: getattr(args, key) for key in keys}


def mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    mean = 100 * statistics.mean(values)
    if len(values) == 1:  # one seed: no spread to show
        return f"{mean:.1f}"
    return f"{mean:.1f} ± {100 * statistics.stdev(values):.1f}"


def borrowed_none(results_dir: Path, results: list[dict]) -> tuple[str, list[dict]]:
    """For a configuration with no `none` runs of its own: the `none` runs of another configuration under the same
    results folder that fine-tunes the same way (no pre-training, so its pre-training settings do not matter)."""
    defaults = settings(parse_args([]))
    wanted = tuple({**defaults, **results[0]["settings"]}[k] for k in NONE_KEYS)
    for folder in sorted(p for p in results_dir.parent.iterdir() if p.is_dir() and p != results_dir):
        if folder.name in OTHER_FRONT_END:
            continue
        nones = [json.loads(p.read_text()) for p in sorted(folder.glob("none-seed*.json"))]
        nones = [r for r in nones if tuple({**defaults, **r["settings"]}[k] for k in NONE_KEYS) == wanted]
        if nones:
            return folder.name, nones
    return "", []


def report(results_dir: Path, plot: Path | None) -> str:
    results = [json.loads(p.read_text()) for p in sorted(results_dir.glob("*-seed*.json"))]
    if not results:
        return "no results yet"
    order = ["none", *STRATEGIES]
    by = {s: [r for r in results if r["strategy"] == s] for s in order}
    note = ""
    if not by["none"]:
        source, by["none"] = borrowed_none(results_dir, results)
        note = f"\n`none` (no pre-training, the same fine-tuning): the runs of `{source}`." if source else ""
    lines = [
        "| strategy | seeds | VQA acc., 10% data | VQA acc., 100% data | masked shape/colour word acc., own image "
        "| same, other image | image gap | questions with no masked token | masked tokens that are stop-words/punct. |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in order:
        rs = by[s]
        if not rs:
            continue
        probe = [r["probe"] for r in rs if "probe" in r]
        stats = [r["collator_stats"] for r in rs if "collator_stats" in r]
        lines.append(
            f"| {s} | {len(rs)} | {mean_std([r['vqa_10']['accuracy'] for r in rs])} "
            f"| {mean_std([r['vqa_100']['accuracy'] for r in rs])} "
            f"| {mean_std([p['all_own'] for p in probe])} | {mean_std([p['all_shuffled'] for p in probe])} "
            f"| {mean_std([p['all_gap'] for p in probe])} "
            f"| {mean_std([t['no_masked_token'] for t in stats])} | {mean_std([t['masked_stop_or_punct'] for t in stats])} |"
        )
    # paired differences (same seed) against random and against no pre-training
    for base_name in ("random", "none"):
        base = {r["seed"]: r for r in by[base_name]}
        for key, label in (("vqa_10", "VQA 10%"), ("vqa_100", "VQA 100%")):
            pairs = []
            for s in order:
                diffs = [r[key]["accuracy"] - base[r["seed"]][key]["accuracy"] for r in by[s] if r["seed"] in base]
                if s != base_name and diffs:
                    pairs.append(f"{s} {mean_std(diffs)} ({', '.join(f'{100 * d:+.1f}' for d in diffs)})")
            if pairs:
                lines.append(f"\nPaired difference to {base_name}, {label} (points, per seed): " + "; ".join(pairs) + ".")
    # compute per run
    lines += ["", "| strategy | pre-training steps | fine-tuning steps (10% / 100%) | threads "
              "| seconds: pre-training / fine-tuning 10% / fine-tuning 100% | load average (start, end) |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in order:
        rs = by[s]
        if not rs:
            continue
        steps = 0 if s == "none" else rs[0]["settings"]["pretrain_steps"]
        pre = [r.get("pretrain_seconds", 0.0) for r in rs]
        load = [(r["load_average_start"], r["load_average_end"]) for r in rs if "load_average_start" in r]
        load_text = f"{statistics.mean(a for a, _ in load):.1f}, {statistics.mean(b for _, b in load):.1f}" if load else "-"
        lines.append(
            f"| {s} | {steps} | {rs[0]['vqa_10']['steps']} / {rs[0]['vqa_100']['steps']} | {rs[0].get('threads', 1)} "
            f"| {statistics.mean(pre):.0f} / {statistics.mean(r['vqa_10']['seconds'] for r in rs):.0f} "
            f"/ {statistics.mean(r['vqa_100']['seconds'] for r in rs):.0f} | {load_text} |"
        )
    if plot is not None:
        draw(by, order, plot)
    return "\n".join(lines) + note


# the settings a run without pre-training depends on: configurations that share them share their `none` runs
NONE_KEYS = ("model", "hidden", "layers", "l_layers", "x_layers", "r_layers", "batch_size", "finetune_steps_small",
             "finetune_steps_full", "finetune_lr", "test_size", "max_images")


# configurations run with a visual front end that the script no longer builds (their settings do not record it)
OTHER_FRONT_END = {"config1-raw-features": "raw (unstandardised) region features"}


def configurations(results_root: Path) -> str:
    """One row per configuration (tag) under `results_root`: what differs from the defaults, and `none` vs each
    strategy at 10% and 100% data, per seed. A configuration with no `none` runs of its own is compared with the
    `none` runs of another configuration that fine-tunes the same way (named in the row)."""
    defaults = settings(parse_args([]))
    runs = {}
    for folder in sorted(p for p in results_root.iterdir() if p.is_dir()):
        results = [json.loads(p.read_text()) for p in sorted(folder.glob("*-seed*.json"))]
        if results:
            runs[folder.name] = results
    nones = {}  # fine-tuning settings -> (tag, {seed: result})
    for tag, results in runs.items():
        for r in results:
            if r["strategy"] == "none":
                key = tuple({**defaults, **r["settings"]}[k] for k in NONE_KEYS)  # older runs: keys added later
                nones.setdefault(key, (tag, {}))[1][r["seed"]] = r
    lines = ["| configuration | differs from the defaults | strategy | seeds | VQA 10%: strategy / none (paired diff.) "
             "| VQA 100%: strategy / none (paired diff.) | image gap | pre-training seconds (load) |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for tag, results in runs.items():
        for strategy in STRATEGIES:
            rs = [r for r in results if r["strategy"] == strategy]
            if not rs:
                continue
            first = {**defaults, **rs[0]["settings"]}
            differs = ", ".join(f"{k} {v}" for k, v in first.items() if k in defaults and v != defaults[k]
                                and k != "pretrained_tag") or "-"
            none_tag, none = nones.get(tuple(first.get(k) for k in NONE_KEYS), ("", {}))
            if tag in OTHER_FRONT_END:
                differs, none_tag, none = OTHER_FRONT_END[tag], "", {}
            cells = []
            for key in ("vqa_10", "vqa_100"):
                paired = [r for r in rs if r["seed"] in none]
                diffs = [r[key]["accuracy"] - none[r["seed"]][key]["accuracy"] for r in paired]
                own = mean_std([r[key]["accuracy"] for r in rs])
                base = mean_std([none[r["seed"]][key]["accuracy"] for r in paired])
                cells.append(f"{own} / {base} ({mean_std(diffs)})" if diffs else f"{own} / -")
            gap = mean_std([r["probe"]["all_gap"] for r in rs])
            seconds = statistics.mean(r["pretrain_seconds"] for r in rs)
            load = [r["load_average_start"] for r in rs if "load_average_start" in r]
            load_text = f" (load {statistics.mean(load):.0f})" if load else ""
            none_note = f"; none from `{none_tag}`" if none and none_tag != tag else ""
            reused = first.get("pretrained_tag")
            compute = f"reused from `{reused}`" if reused else f"{seconds:.0f}{load_text}"
            lines.append(f"| `{tag}`{none_note} | {differs} | {strategy} | {len(rs)} | {cells[0]} | {cells[1]} | {gap} "
                         f"| {compute} |")
    return "\n".join(lines)


def draw(by: dict, order: list[str], path: Path) -> None:
    from matplotlib.figure import Figure

    shown = [s for s in order if by[s]]
    panels = [("VQA accuracy, 10% data", lambda r: r["vqa_10"]["accuracy"]),
              ("VQA accuracy, 100% data", lambda r: r["vqa_100"]["accuracy"]),
              ("image gap (masked shape/colour word)", lambda r: r["probe"]["all_gap"] if "probe" in r else None)]
    fig = Figure(figsize=(13, 4))
    for ax_index, (title, get) in enumerate(panels):
        ax = fig.add_subplot(1, 3, ax_index + 1)
        for x, s in enumerate(shown):
            values = [100 * v for v in map(get, by[s]) if v is not None]
            if not values:
                continue
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            ax.bar(x, mean, yerr=std, capsize=4, color="lightgray" if s in ("none", "random") else "tab:blue")
            ax.scatter([x] * len(values), values, color="black", s=8, zorder=3)
        ax.set_xticks(range(len(shown)), shown, rotation=30, ha="right")
        ax.set_title(title)
        ax.set_ylabel("%")
        values = [100 * v for s in shown for v in map(get, by[s]) if v is not None]
        if values and ax_index < 2:
            ax.set_ylim(max(0, min(values) - 5), min(100, max(values) + 3))
    fig.suptitle("easy-VQA: small LXMERT pre-trained with each masking strategy (mean ± std over seeds; dots: seeds)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def update_docs(path: Path, name: str, text: str) -> bool:
    """Replace what stands between `<!-- NAME -->` and `<!-- /NAME -->` in the markdown file `path` with `text`
    (written atomically); False when the file has no such markers."""
    source = path.read_text()
    start, end = f"<!-- {name} -->\n", f"<!-- /{name} -->"
    if start not in source or end not in source:
        return False
    head, rest = source.split(start, 1)
    write_text(path, head + start + text.strip() + "\n" + rest[rest.index(end) :])
    return True


def claim(path: Path) -> bool:
    """Take the run whose result goes to `path` (a lock file with this process id), so that two processes can share
    the protocol (`one torch thread per run, two runs side by side`); a lock left by a dead process is taken over."""
    lock = path.with_suffix(".lock")
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(lock.read_text() or 0), 0)
                return False  # another live process runs it
            except (ProcessLookupError, ValueError):
                lock.unlink(missing_ok=True)
                continue
        with os.fdopen(descriptor, "w") as handle:
            handle.write(str(os.getpid()))
        return True
    return False


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=list(RUN_ORDER), choices=["none", *STRATEGIES])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pretrain-steps", type=int, default=500)
    parser.add_argument("--finetune-steps-small", type=int, default=150, help="steps on 10%% of the questions")
    parser.add_argument("--finetune-steps-full", type=int, default=400, help="steps on 100%% of the questions")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--finetune-lr", type=float, default=1e-3)
    parser.add_argument("--matching", type=float, default=0.0,
                        help="LXMERT's image-text matching task during pre-training: the share of questions paired "
                             "with another image (0: MLM only; LXMERT used 0.5)")
    parser.add_argument("--captions", action="store_true",
                        help="pre-train on the questions plus four captions per training image built from its shape "
                             "and colour (e.g. 'there is a red circle in the image')")
    parser.add_argument("--random-rate", type=float, default=0.15, help="random's per-token rate; others matched")
    parser.add_argument("--model", default="lxmert", choices=["lxmert", "visualbert"])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3, help="VisualBERT's layers")
    parser.add_argument("--l-layers", type=int, default=2)
    parser.add_argument("--x-layers", type=int, default=1)
    parser.add_argument("--r-layers", type=int, default=1)
    parser.add_argument("--probe-size", type=int, default=1500, help="held-out shape/colour words probed")
    parser.add_argument("--test-size", type=int, default=5000, help="test questions for VQA accuracy (0: all)")
    parser.add_argument("--tag", default="main", help="configuration name (results go to <results-dir>/<tag>/)")
    parser.add_argument("--pretrained-tag", default=None,
                        help="reuse the pre-trained models of this configuration (same pre-training settings; only "
                             "fine-tuning differs); default: --tag")
    parser.add_argument("--results-dir", default="outputs/results/vl_pretrain")
    parser.add_argument("--cache-dir", default="outputs/vl_pretrain_cache")
    parser.add_argument("--plot", default=None, help="where to draw the plot (default: <results-dir>/<tag>/plot.png)")
    parser.add_argument("--max-images", type=int, default=0, help="use only the first N images per split (tests)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--configurations", action="store_true",
                        help="with --report-only: also the table of every configuration under --results-dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--update-docs",
        default=None,
        help="markdown file whose `<!-- vl_pretrain table: TAG -->` (and, with --configurations, "
        "`<!-- vl_pretrain configurations -->`) blocks receive the tables",
    )
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not 0 <= args.matching < 1 or (args.matching and args.model != "lxmert"):
        raise SystemExit(f"--matching {args.matching}: give a share in [0, 1) (0.5 as in LXMERT), with --model lxmert.")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results_dir = Path(args.results_dir) / args.tag
    results_dir.mkdir(parents=True, exist_ok=True)
    plot = Path(args.plot) if args.plot else results_dir / "plot.png"
    if not args.report_only:
        experiment = None
        # the pre-training strategies seed by seed, then the no-pre-training baseline
        runs = [(strategy, seed) for seed in args.seeds for strategy in args.strategies if strategy != "none"]
        runs += [("none", seed) for seed in args.seeds if "none" in args.strategies]
        for strategy, seed in runs:
            path = results_dir / f"{strategy}-seed{seed}.json"
            if path.exists() or not claim(path):
                continue
            try:
                if experiment is None:
                    experiment = Experiment(args)
                    (results_dir / "settings.json").write_text(
                        json.dumps({**settings(args), "rates": experiment.rates}, indent=1)
                    )
                result = experiment.run(strategy, seed)
                result["settings"] = settings(args)
                write_json(path, result, indent=1)
                print(f"{strategy} seed {seed}: {json.dumps(result)}", flush=True)
            finally:
                path.with_suffix(".lock").unlink(missing_ok=True)
    table = report(results_dir, plot)
    if args.update_docs:
        update_docs(Path(args.update_docs), f"vl_pretrain table: {args.tag}", table)
    if args.configurations:
        tried = configurations(Path(args.results_dir))
        if args.update_docs:
            update_docs(Path(args.update_docs), "vl_pretrain configurations", tried)
        table += "\n\n" + tried
    print(table)
    return {"results_dir": str(results_dir), "table": table}


if __name__ == "__main__":
    main()
