"""The V&L pre-training experiment (`examples/vl_pretrain.py`) in a small version: the first 40 easy-VQA
images of each split, a few steps per stage. It asserts that the pipeline trains with every stage, computes every
metric, writes one JSON per run, resumes without recomputing, and reports a table and a plot."""

import json
import math

import pytest

pytest.importorskip("PIL")


@pytest.mark.slow
def test_small_vl_pretraining_protocol(tmp_path, load_example):
    vl = load_example("vl_pretrain")
    try:
        vl.easy_vqa_root()
    except SystemExit:
        pytest.skip("easy-vqa is not installed (pip install --no-deps -r requirements-data.txt)")
    argv = [
        "--strategies", "random", "objects", "none", "--seeds", "0", "--pretrain-steps", "4",
        "--finetune-steps-small", "2", "--finetune-steps-full", "3", "--batch-size", "8", "--hidden", "16",
        "--max-images", "40", "--test-size", "60", "--probe-size", "30", "--tag", "small",
        "--results-dir", str(tmp_path / "results"), "--cache-dir", str(tmp_path / "cache"),
    ]
    out = vl.main(argv)
    results = tmp_path / "results" / "small"
    files = sorted(path.name for path in results.glob("*-seed0.json"))
    assert files == ["none-seed0.json", "objects-seed0.json", "random-seed0.json"]
    objects = json.loads((results / "objects-seed0.json").read_text())
    assert math.isfinite(objects["pretrain_loss"]) and objects["pretrain_loss"] > 0
    probe = objects["probe"]
    assert sum(probe["items"].values()) == 30
    for key in ("shape_own", "shape_shuffled", "colour_own", "colour_shuffled", "all_own", "all_shuffled"):
        assert 0 <= probe[key] <= 1
    assert probe["all_gap"] == pytest.approx(probe["all_own"] - probe["all_shuffled"])
    stats = objects["collator_stats"]
    assert stats["no_masked_token"] == 0 and stats["masked_stop_or_punct"] == 0  # objects masks words, not stop-words
    random_stats = json.loads((results / "random-seed0.json").read_text())["collator_stats"]
    assert random_stats["masked_tokens_per_question"] > 0
    for name in ("vqa_10", "vqa_100"):
        assert objects[name]["steps"] in (2, 3) and 0 <= objects[name]["accuracy"] <= 1
    none = json.loads((results / "none-seed0.json").read_text())
    assert "probe" not in none and "vqa_10" in none
    # features and tagging cached as Arrow; the pre-trained models kept for resumption
    cache = tmp_path / "cache"
    assert (cache / "features" / "features-train.arrow").exists()
    assert (cache / "pretrained" / "small" / "objects-seed0" / "model.safetensors").exists()
    rates = json.loads((cache / "rates.json").read_text())
    assert set(rates) == {"random", "content_words", "objects", "top_concrete", "stop_words"}
    assert "| objects | 1 |" in out["table"] and (results / "plot.png").stat().st_size > 0
    # resumable: a second call finds every result and trains nothing
    before = {path: path.stat().st_mtime_ns for path in results.glob("*-seed0.json")}
    vl.main(argv)
    assert {path: path.stat().st_mtime_ns for path in results.glob("*-seed0.json")} == before
    # a configuration that differs only in fine-tuning reuses the pre-trained models of another one
    reuse = ["--strategies", "random", "--finetune-lr", "3e-4", "--tag", "reuse", "--pretrained-tag", "small"]
    out = vl.main(argv + reuse)
    reused = json.loads((tmp_path / "results" / "reuse" / "random-seed0.json").read_text())
    assert reused["pretrain_loss"] == json.loads((results / "random-seed0.json").read_text())["pretrain_loss"]
    assert reused["settings"]["pretrained_tag"] == "small" and reused["threads"] >= 1
    assert not (cache / "pretrained" / "reuse").exists()
    assert "Paired difference to none" not in out["table"] and "| random | 4 |" in out["table"]  # compute table
    # ... but not models pre-trained with other settings
    with pytest.raises(SystemExit, match="pre-trained with"):
        vl.main(argv + reuse + ["--pretrain-steps", "5", "--tag", "reuse-bad"])
    # LXMERT's image-text matching task alongside MLM, on questions and captions
    out = vl.main(argv + ["--strategies", "random", "--matching", "0.5", "--captions", "--tag", "matching"])
    assert "| none | 1 |" in out["table"] and "the runs of `small`" in out["table"]  # same fine-tuning: none reused
    matched = json.loads((tmp_path / "results" / "matching" / "random-seed0.json").read_text())
    assert matched["settings"]["matching"] == 0.5 and matched["settings"]["captions"] is True
    assert math.isfinite(matched["pretrain_loss"]) and (cache / "tagged" / "captions.arrow").exists()
    assert 0 <= matched["vqa_100"]["accuracy"] <= 1
    # every configuration in one table, each compared with the `none` runs that fine-tune the same way
    docs = tmp_path / "results.md"
    docs.write_text("# R\n<!-- vl_pretrain table: small -->\nold\n<!-- /vl_pretrain table: small -->\n"
                    "<!-- vl_pretrain configurations -->\n<!-- /vl_pretrain configurations -->\nend\n")
    table = vl.main(argv + ["--report-only", "--configurations", "--update-docs", str(docs)])["table"]
    written = docs.read_text()
    assert "old" not in written and "| objects | 1 |" in written and "| `matching`; none from `small`" in written
    assert written.startswith("# R\n") and written.endswith("<!-- /vl_pretrain configurations -->\nend\n")
    rows = {line.split(" |")[0]: line for line in table.splitlines() if line.startswith("| `")}
    assert "matching 0.5" in rows["| `matching`; none from `small`"] and "| random | 1 |" in rows["| `matching`; none from `small`"]
    assert "finetune_lr 0.0003" in rows["| `reuse`"]  # fine-tuned otherwise than `small`: no `none` to compare with


def test_image_text_matching_swaps_images_and_drops_their_mlm_labels(load_example):
    import torch

    vl = load_example("vl_pretrain")
    feats, pos = torch.arange(5.0)[:, None, None].expand(5, 2, 3) + 10, torch.zeros(5, 2, 4)

    def collator(rows):
        n = len(rows)
        return {"input_ids": torch.ones(n, 4, dtype=torch.long), "labels": torch.full((n, 4), 7),
                "visual_feats": torch.zeros(n, 2, 3), "visual_pos": torch.ones(n, 2, 4)}

    batch = vl.ImageTextMatching(collator, feats, pos, probability=0.5, seed=0)([{}] * 400)
    swapped = batch["matched_label"] == 0
    assert 120 < int(swapped.sum()) < 280  # about half
    assert (batch["labels"][swapped] == -100).all() and (batch["labels"][~swapped] == 7).all()
    assert (batch["visual_feats"][swapped] >= 10).all() and (batch["visual_feats"][~swapped] == 0).all()
    assert (batch["visual_pos"][swapped] == 0).all() and (batch["visual_pos"][~swapped] == 1).all()


def test_captions_describe_each_image_with_its_shape_and_colour(load_example):
    import datasets

    vl = load_example("vl_pretrain")
    rows = datasets.Dataset.from_dict({
        "text": ["what color is the shape?", "is there a circle?", "what shape is in the image?"],
        "answer": [0, 1, 2], "image_id": [3, 3, 5], "object_labels": [["circle", "red"], ["circle", "red"], ["triangle"]],
    })
    captions = vl.captions_for(rows)
    assert len(captions) == len(vl.CAPTION_TEMPLATES)  # image 5 has no known colour: no caption
    assert set(captions["image_id"]) == {3} and "there is a red circle in the image" in captions["text"]
    assert all("red" in text and "circle" in text for text in captions["text"])
