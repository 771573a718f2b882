"""Move a checkpoint folder through transfers with a size cap: pack it into numbered pieces of at most N bytes and
unpack them back into the same folder, byte for byte (checked with SHA-256).

`model.safetensors` is stored losslessly in less space than gzip would give: its bytes are split into four planes
(byte 0, 1, 2, 3 of every 4-byte word; for float32 weights the last plane holds the sign and most of the exponent,
which compresses to about 40%), and each plane is zlib-compressed. The 438 MB all-mpnet-base-v2 weights pack into
371 MB. The other files of the folder go into `meta.tgz` with the checksum.

    python utils/pack_checkpoint.py pack SRC_DIR PIECES_DIR --piece-bytes 47700000 [--first-piece-bytes 38000000]
    python utils/pack_checkpoint.py unpack PIECES_DIR OUT_DIR

Pieces are `c1`, `c2`, ... in `PIECES_DIR` (`--first-piece-bytes` leaves room beside the first one); `unpack`
needs all of them and `meta.tgz`, and refuses a missing or damaged piece before writing the weights.
"""

import argparse
import hashlib
import io
import json
import tarfile
import zlib
from pathlib import Path

import numpy as np

WEIGHTS = "model.safetensors"
META = "meta.tgz"
INDEX = "_pack.json"


def pack(src: Path, dst: Path, piece_bytes: int, first_piece_bytes: int | None = None) -> int:
    """Writes `meta.tgz` and the pieces of `src/model.safetensors` into `dst`; returns the number of pieces."""
    raw = (src / WEIGHTS).read_bytes()
    words = np.frombuffer(raw + b"\0" * (-len(raw) % 4), np.uint8).reshape(-1, 4)
    planes = [zlib.compress(words[:, i].tobytes(), 6) for i in range(4)]
    index = {"size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "planes": [len(p) for p in planes]}
    stream = b"".join(planes)
    bounds = [0, first_piece_bytes or piece_bytes]
    while bounds[-1] < len(stream):
        bounds.append(bounds[-1] + piece_bytes)
    bounds[-1] = len(stream)
    index["pieces"] = len(bounds) - 1
    dst.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dst / META, "w:gz") as tar:
        for path in sorted(src.rglob("*")):
            if path.is_file() and path.name != WEIGHTS:
                tar.add(path, arcname=str(path.relative_to(src)))
        data = json.dumps(index).encode()
        info = tarfile.TarInfo(INDEX)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    for i in range(index["pieces"]):
        (dst / f"c{i + 1}").write_bytes(stream[bounds[i]:bounds[i + 1]])
    return index["pieces"]


def unpack(src: Path, out: Path) -> None:
    """Rebuilds the folder packed into `src` as `out`; raises before writing the weights if anything is missing."""
    with tarfile.open(src / META) as tar:
        index = json.loads(tar.extractfile(INDEX).read())
        missing = [f"c{i}" for i in range(1, index["pieces"] + 1) if not (src / f"c{i}").is_file()]
        if missing:
            raise FileNotFoundError(f"{src} lacks pieces {missing} of {index['pieces']}: copy them there first.")
        stream = b"".join((src / f"c{i}").read_bytes() for i in range(1, index["pieces"] + 1))
        if len(stream) != sum(index["planes"]):
            raise ValueError(f"The pieces in {src} hold {len(stream)} bytes, {sum(index['planes'])} expected: a "
                             "piece is truncated or from another pack.")
        planes, start = [], 0
        for length in index["planes"]:
            planes.append(np.frombuffer(zlib.decompress(stream[start:start + length]), np.uint8))
            start += length
        raw = np.stack(planes, axis=1).reshape(-1).tobytes()[:index["size"]]
        if hashlib.sha256(raw).hexdigest() != index["sha256"]:
            raise ValueError(f"The weights rebuilt from {src} do not match their checksum: pack them again.")
        out.mkdir(parents=True, exist_ok=True)
        tar.extractall(out, members=[m for m in tar.getmembers() if m.name != INDEX], filter="data")
    (out / WEIGHTS).write_bytes(raw)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack")
    packing.add_argument("src", type=Path)
    packing.add_argument("dst", type=Path)
    packing.add_argument("--piece-bytes", type=int, required=True)
    packing.add_argument("--first-piece-bytes", type=int, default=None)
    unpacking = commands.add_parser("unpack")
    unpacking.add_argument("src", type=Path)
    unpacking.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        print(f"{pack(args.src, args.dst, args.piece_bytes, args.first_piece_bytes)} pieces in {args.dst}")
    else:
        unpack(args.src, args.out)
        print(f"unpacked into {args.out}")


if __name__ == "__main__":
    main()
