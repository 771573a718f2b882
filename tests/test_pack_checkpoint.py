import importlib.util
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

SPEC = importlib.util.spec_from_file_location("pack_checkpoint", Path(__file__).parents[1] / "utils" / "pack_checkpoint.py")
pack_checkpoint = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(pack_checkpoint)


def test_pack_unpack_round_trip_is_byte_exact(tmp_path):
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    save_file({"w": torch.randn(1000, 33), "ids": torch.arange(7)}, str(src / "model.safetensors"))
    (src / "config.json").write_text('{"a": 1}')
    (src / "sub" / "vocab.txt").write_text("x\ny\n")
    pieces = pack_checkpoint.pack(src, tmp_path / "pieces", piece_bytes=40_000, first_piece_bytes=10_000)
    sizes = [(tmp_path / "pieces" / f"c{i}").stat().st_size for i in range(1, pieces + 1)]
    assert pieces > 2 and sizes[0] == 10_000 and max(sizes[1:]) <= 40_000
    # float32 weights pack smaller than they are
    assert sum(sizes) < (src / "model.safetensors").stat().st_size
    pack_checkpoint.unpack(tmp_path / "pieces", tmp_path / "out")
    for name in ("model.safetensors", "config.json", "sub/vocab.txt"):
        assert (tmp_path / "out" / name).read_bytes() == (src / name).read_bytes()
    assert not (tmp_path / "out" / pack_checkpoint.INDEX).exists()


def test_unpack_refuses_missing_or_damaged_pieces(tmp_path):
    src = tmp_path / "model"
    src.mkdir()
    save_file({"w": torch.randn(500, 20)}, str(src / "model.safetensors"))
    pieces = tmp_path / "pieces"
    count = pack_checkpoint.pack(src, pieces, piece_bytes=15_000)
    last = pieces / f"c{count}"
    data = last.read_bytes()
    last.unlink()
    with pytest.raises(FileNotFoundError, match=f"lacks pieces \\['c{count}'\\]"):
        pack_checkpoint.unpack(pieces, tmp_path / "out")
    last.write_bytes(data[:-1])
    with pytest.raises(ValueError, match="truncated"):
        pack_checkpoint.unpack(pieces, tmp_path / "out")
    assert not (tmp_path / "out" / "model.safetensors").exists()
