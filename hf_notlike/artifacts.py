# Copyright 2026 The hf_notlike developers. Licensed under the Apache License, Version 2.0.
"""Atomic writes: the one place where hf_notlike puts files on disk.

Every artifact the library and its commands write (data maps, saved models, sweeps, plots, cards, HTML pages,
callback state files) goes through this module, so a crash at any byte leaves either the previous complete artifact
or the new complete one, never a mix and never nothing:

- one file: [`atomic_write`] (an open file) or [`atomic_path`] (a temporary path for a library that writes to a path,
  e.g. `pyarrow.parquet.write_table` or `Figure.savefig`) write `.NAME.<random>.tmp<suffix>` in the same folder,
  fsync it, then `os.replace` it onto `NAME` and fsync the folder;
- a folder of files that belong together: [`staged_folder`] yields a sibling staging folder; on success it writes the
  manifest (last; see [`write_manifest`]), fsyncs every file, then swaps the staging folder with the target in one
  atomic exchange (`renameat2(RENAME_EXCHANGE)` on Linux). Files already in the target that the new artifact does not
  write (a hand-written card, other outputs) are carried over (hard links); the files named by the old manifest are
  not. Concurrent writers each swap in a complete folder: the last one wins;
- on load, [`read_files`] reads the files a manifest names, checks their sizes and sha256 and raises
  [`ArtifactError`] naming the folder and the fix when they do not match. Folders written before manifests existed
  load as they are. For large files, [`open_files`] memory-maps them instead and checks each part against the
  per-chunk hashes the manifest can hold ([`write_manifest`]`(chunk_size=...)`) when that part is first used.

This module imports no method subpackage.

>>> from hf_notlike.artifacts import atomic_write, staged_folder
>>> with atomic_write("outputs/ids.txt") as handle:  # doctest: +SKIP
...     handle.write("1\\n2\\n")
>>> with staged_folder("outputs/map", manifest=["table.parquet", "meta.json"]) as staging:  # doctest: +SKIP
...     write_table(table, staging / "table.parquet")
...     write_text(staging / "meta.json", "{}")
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import HfNotlikeFileNotFoundError, HfNotlikeInputError

__all__ = [
    "MANIFEST_FILE",
    "ArtifactError",
    "CheckedFile",
    "atomic_path",
    "atomic_write",
    "open_files",
    "read_files",
    "staged_folder",
    "verify_manifest",
    "write_bytes",
    "write_json",
    "write_manifest",
    "write_text",
]

logger = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = "hf_notlike-manifest"
_CHUNK = 1 << 20
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?P<kind>tmp|staging|old)(\.[^.]*)?")
_IN_FLIGHT: set[str] = set()  # names of this process's temporary files and folders still being written


class ArtifactError(HfNotlikeInputError):
    """A saved folder whose files do not match its manifest (hand-edited, partly copied, or mixed from two saves)."""


# ---------------------------------------------------------------------------------------------------- primitives
# Every byte and every rename goes through these few functions (the crash-injection tests wrap them).
def _write_chunk(handle: IO, data: bytes | str) -> None:
    handle.write(data)


def _fsync(fd: int) -> None:
    os.fsync(fd)


def _replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    os.replace(source, target)


def _exchange(source: str | os.PathLike, target: str | os.PathLike) -> bool:
    """Swap two existing paths in one step; False where the platform or filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP):
        return False
    raise OSError(code, f"cannot swap {source} with {target}: {os.strerror(code)}")


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _discard(path: str | os.PathLike) -> None:
    """Remove a temporary file or folder, ignoring what is already gone."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _fsync_dir(folder: str | os.PathLike) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. platforms that cannot open folders
        return
    try:
        _fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_path(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _temp_name(target: Path, kind: str = "tmp") -> Path:
    """`.NAME.<pid>-<random>.<kind><suffix>` beside `target` (the suffix kept, so writers that pick a format by
    extension still do)."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.{kind}{target.suffix}")


# ---------------------------------------------------------------------------------------------------- one file
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; on success it is fsynced and renamed onto `path` in one step.

    Args:
        path (`str` or `os.PathLike`): The file to write; its folder is created if needed.

    Example:

    ```python
    >>> with atomic_path("outputs/plot.png") as tmp:  # doctest: +SKIP
    ...     fig.savefig(tmp)
    ```
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file path.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_debris(target)
    tmp = _temp_name(target)
    _IN_FLIGHT.add(tmp.name)
    try:
        yield tmp
        if not tmp.is_file():
            raise HfNotlikeFileNotFoundError(f"nothing was written to the temporary file for {target}.")
        _fsync_path(tmp)
        _replace(tmp, target)
    except BaseException:
        _discard(tmp)
        raise
    finally:
        _IN_FLIGHT.discard(tmp.name)
    _fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8", newline: str | None = None
) -> Iterator[IO]:
    """Open `path` for writing through a temporary file that replaces it only once complete.

    Args:
        path (`str` or `os.PathLike`): The file to write.
        mode (`str`, *optional*, defaults to `"w"`): `"w"` (text) or `"wb"` (bytes).
        encoding (`str`, *optional*, defaults to `"utf-8"`): Text encoding (ignored in binary mode).
        newline (`str`, *optional*): As for `open`.

    Example:

    ```python
    >>> with atomic_write("outputs/ids.json") as handle:  # doctest: +SKIP
    ...     json.dump(ids, handle)
    ```
    """
    if mode not in ("w", "wb", "wt"):
        raise HfNotlikeInputError(f"`mode` must be 'w' or 'wb'; got {mode!r}.")
    binary = "b" in mode
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline) as handle:
            yield handle
            handle.flush()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically ([`atomic_write`]); returns the path."""
    with atomic_write(path, "wb") as handle:
        view = memoryview(data)
        for start in range(0, len(view), _CHUNK):
            _write_chunk(handle, view[start:start + _CHUNK])
        if not len(view):
            _write_chunk(handle, b"")
    return Path(path)


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically ([`atomic_write`]); returns the path."""
    return write_bytes(path, text.encode(encoding))


def write_json(path: str | os.PathLike, value: Any, *, indent: int | None = 2, **kwargs: Any) -> Path:
    """Write `value` as JSON (plus a final newline) to `path` atomically; returns the path."""
    return write_text(path, json.dumps(value, indent=indent, **kwargs) + "\n")


# ---------------------------------------------------------------------------------------------------- folders
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _hash_file(path: Path, chunk_size: int | None) -> dict[str, Any]:
    """Size and sha256 of the file at `path`, plus the sha256 of each `chunk_size`-byte chunk when `chunk_size` is
    given and the file is larger than one chunk; one read of the file, the two digests computed on two threads
    (`hashlib` releases the GIL on large buffers)."""
    size = path.stat().st_size
    if not chunk_size or size <= chunk_size:
        return {"size": size, "sha256": _sha256(path)}
    from concurrent.futures import ThreadPoolExecutor

    whole = hashlib.sha256()
    with open(path, "rb") as handle, ThreadPoolExecutor(1) as pool:
        chunks = []
        for block in iter(lambda: handle.read(chunk_size), b""):  # at most one block in memory
            future = pool.submit(lambda data: hashlib.sha256(data).hexdigest(), block)
            whole.update(block)
            chunks.append(future.result())
    return {"size": size, "sha256": whole.hexdigest(), "chunks": {"size": chunk_size, "sha256": chunks}}


def write_manifest(folder: str | os.PathLike, files: Iterable[str], *, chunk_size: int | None = None) -> Path:
    """Write `folder/manifest.json` (atomically) naming `files` (paths relative to `folder`) with their sizes and
    sha256: the record of which files belong together, checked on load by [`verify_manifest`] / [`read_files`] /
    [`open_files`].

    Args:
        folder (`str` or `os.PathLike`): The folder holding `files`.
        files (`Iterable[str]`): The files that belong together.
        chunk_size (`int`, *optional*): Also record the sha256 of every `chunk_size`-byte chunk of the files larger
            than one chunk, so that [`open_files`] can check the part of a large file that is used without hashing
            all of it. The whole-file sha256 is always recorded.
    """
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise HfNotlikeInputError(f"`chunk_size` must be a positive number of bytes or None; got {chunk_size!r}.")
    root = Path(folder)
    entries = {name: _hash_file(root / name, chunk_size) for name in files}
    return write_json(root / MANIFEST_FILE, {"format": MANIFEST_FORMAT, "files": entries})


def _read_manifest(folder: Path, what: str, fix: str) -> dict[str, dict[str, Any]] | None:
    path = folder / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(raw)
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict):
            raise ValueError
        for entry in files.values():
            int(entry["size"]), str(entry["sha256"])
            if "chunks" in entry:
                step, digests = int(entry["chunks"]["size"]), entry["chunks"]["sha256"]
                if step < 1 or not isinstance(digests, list) or len(digests) != -(-int(entry["size"]) // step):
                    raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArtifactError(
            f"{folder}: {MANIFEST_FILE} is not a valid {what} manifest. {fix}"
        ) from None
    return files


def _mismatch(folder: Path, name: str, entry: dict[str, Any], data: bytes | None, what: str, fix: str) -> str:
    if data is None:
        return f"{folder}: {name} is missing but {MANIFEST_FILE} lists it as part of this {what}. {fix}"
    if len(data) != entry["size"]:
        found = f"{len(data)} bytes, {MANIFEST_FILE} says {entry['size']}"
    else:
        found = "its sha256 differs from the one in " + MANIFEST_FILE
    return (f"{folder}: {name} does not match {MANIFEST_FILE} ({found}): the {what} was modified, partly copied or "
            f"mixed with another save after it was written. {fix}")


def read_files(
    folder: str | os.PathLike, names: Iterable[str], *, what: str = "artifact", fix: str = "", attempts: int = 3
) -> dict[str, bytes]:
    """Read `names` from `folder` as one consistent snapshot, checked against the folder's manifest.

    Each file is read once into memory and its size and sha256 compared with [`MANIFEST_FILE`]; when a concurrent
    save swapped the folder mid-read the read is retried. Folders without a manifest (saved by older versions) are
    read as they are (logged at debug level).

    Args:
        folder (`str` or `os.PathLike`): The saved folder.
        names (`Iterable[str]`): Files to read (relative to `folder`).
        what (`str`, *optional*, defaults to `"artifact"`): What the folder holds, for messages ("data map").
        fix (`str`, *optional*): What to do about a mismatch, appended to the error.
        attempts (`int`, *optional*, defaults to 3): Reads before a mismatch is reported.

    Returns:
        `dict[str, bytes]`: the content of each file.

    Raises:
        `ArtifactError` naming the folder, the file and `fix` when a file does not match the manifest.
        `FileNotFoundError` when a file is missing and there is no manifest.
    """
    root = Path(folder)
    names = list(names)
    error = ""
    for _ in range(max(1, attempts)):
        manifest = _read_manifest(root, what, fix)
        contents: dict[str, bytes] = {}
        error = ""
        for name in names:
            try:
                contents[name] = (root / name).read_bytes()
            except FileNotFoundError:
                if manifest is None:
                    raise
                contents[name] = None  # type: ignore[assignment]
        if manifest is None:
            logger.debug("%s has no %s (saved by an older version): loading its files unchecked.", root, MANIFEST_FILE)
            return contents
        for name in names:
            entry = manifest.get(name)
            data = contents[name]
            if entry is None:
                error = (f"{root}: {MANIFEST_FILE} does not list {name}: the {what} was mixed with files of another "
                         f"save. {fix}")
            elif data is None or len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                error = _mismatch(root, name, entry, data, what, fix)
            if error:
                break
        if not error:
            return contents
    raise ArtifactError(error.strip())


def verify_manifest(folder: str | os.PathLike, *, what: str = "artifact", fix: str = "") -> bool:
    """Check every file named by `folder`'s manifest (size and sha256).

    Returns:
        `bool`: True when the folder has a manifest and it matches, False when it has none.

    Raises:
        `ArtifactError` naming the folder, the file and `fix` on a mismatch.
    """
    root = Path(folder)
    manifest = _read_manifest(root, what, fix)
    if manifest is None:
        return False
    for name, entry in manifest.items():
        path = root / name
        if not path.is_file():
            raise ArtifactError(_mismatch(root, name, entry, None, what, fix).strip())
        if path.stat().st_size != entry["size"] or _sha256(path) != entry["sha256"]:
            data = path.read_bytes()
            raise ArtifactError(_mismatch(root, name, entry, data, what, fix).strip())
    return True


class CheckedFile:
    """One file of a saved folder, memory-mapped read-only, whose bytes are checked against the folder's manifest
    before they are used (see [`open_files`]).

    `buffer` is the whole file (a zero-copy `memoryview`); call [`check`] with the byte range about to be used. With
    per-chunk hashes in the manifest only the chunks overlapping that range are hashed (each once); without them the
    first check hashes the whole file, streaming over the mapping. A file the manifest does not cover (a folder
    saved before manifests existed) is not checked.

    The open file keeps the bytes it was opened with: a save that replaces the folder afterwards does not change
    them (the old file lives on until it is closed). Editing the file in place while it is open is not detected (and
    truncating it makes reads of the lost part fail); the library never does either.
    """

    def __init__(self, folder: Path, name: str, entry: dict[str, Any] | None, what: str, fix: str):
        import mmap
        import threading

        self.folder, self.name, self.path = folder, name, folder / name
        self._entry, self._what, self._fix = entry, what, fix
        with open(self.path, "rb") as handle:
            self.size = os.fstat(handle.fileno()).st_size
            if entry is not None and self.size != entry["size"]:
                raise ArtifactError(
                    f"{folder}: {name} does not match {MANIFEST_FILE} ({self.size} bytes, {MANIFEST_FILE} says "
                    f"{entry['size']}): the {what} was modified, partly copied or mixed with another save after it "
                    f"was written. {fix}".strip()
                )
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if self.size else None
        self.buffer = memoryview(self._map) if self._map is not None else memoryview(b"")
        chunks = (entry or {}).get("chunks")
        self._step = int(chunks["size"]) if chunks else max(self.size, 1)
        self._digests = list(chunks["sha256"]) if chunks else ([entry["sha256"]] if entry else [])
        self._checked = [entry is None] * max(len(self._digests), 1)
        self._lock = threading.Lock()

    @property
    def covered(self) -> bool:
        """Whether the folder's manifest covers this file (False for a folder saved before manifests existed)."""
        return self._entry is not None

    @property
    def checked(self) -> bool:
        """Whether every byte of the file has been checked (always True for a file no manifest covers)."""
        return all(self._checked)

    def check(self, start: int = 0, stop: int | None = None) -> None:
        """Check the bytes `[start, stop)` (the whole file by default) against the manifest, hashing only the chunks
        not checked before.

        Raises:
            `ArtifactError` naming the folder, the file and the fix when they differ.
        """
        if self._entry is None:
            return
        stop = self.size if stop is None else min(stop, self.size)
        first, last = max(start, 0) // self._step, max(stop - 1, 0) // self._step
        with self._lock:
            for index in range(first, min(last, len(self._checked) - 1) + 1):
                if self._checked[index]:
                    continue
                chunk = self.buffer[index * self._step:(index + 1) * self._step]
                if hashlib.sha256(chunk).hexdigest() != self._digests[index]:
                    raise ArtifactError(self._error())
                self._checked[index] = True

    def _error(self) -> str:
        part = "its sha256 differs from the one in " + MANIFEST_FILE
        if len(self._digests) > 1:
            part = "a chunk's sha256 differs from the one in " + MANIFEST_FILE
        return (f"{self.folder}: {self.name} does not match {MANIFEST_FILE} ({part}): the {self._what} was modified, "
                f"partly copied or mixed with another save after it was written. {self._fix}").strip()


def open_files(
    folder: str | os.PathLike,
    names: Iterable[str],
    *,
    what: str = "artifact",
    fix: str = "",
    check_below: int = 0,
    attempts: int = 3,
) -> dict[str, CheckedFile]:
    """Open `names` from `folder` memory-mapped, as one consistent snapshot of the folder, for reading what is used
    and checking only that (the alternative to [`read_files`] for large files).

    At open every file's size is compared with the manifest, and files of at most `check_below` bytes are checked
    completely; the bytes of larger files are checked as they are used ([`CheckedFile.check`]). When a concurrent
    save swaps the folder while the files are opened (the manifest changed meanwhile), they are opened again.

    Args:
        folder (`str` or `os.PathLike`): The saved folder.
        names (`Iterable[str]`): Files to open (relative to `folder`).
        what (`str`, *optional*, defaults to `"artifact"`): What the folder holds, for messages ("data map").
        fix (`str`, *optional*): What to do about a mismatch, appended to the error.
        check_below (`int`, *optional*, defaults to 0): Files up to this size are checked completely at open.
        attempts (`int`, *optional*, defaults to 3): Opens before a mismatch is reported.

    Returns:
        `dict[str, CheckedFile]`: each file.

    Raises:
        `ArtifactError` naming the folder, the file and `fix` when a file is missing, unlisted, of the wrong size or
        (for the files checked at open) of the wrong content. `FileNotFoundError` when a file is missing and there
        is no manifest.
    """
    root = Path(folder)
    names = list(names)
    error: ArtifactError | None = None
    for _ in range(max(1, attempts)):
        before = (root / MANIFEST_FILE).read_bytes() if (root / MANIFEST_FILE).is_file() else None
        manifest = _read_manifest(root, what, fix)
        opened: dict[str, CheckedFile] = {}
        error = None
        try:
            for name in names:
                entry = None
                if manifest is not None:
                    entry = manifest.get(name)
                    if entry is None:
                        raise ArtifactError(f"{root}: {MANIFEST_FILE} does not list {name}: the {what} was mixed "
                                            f"with files of another save. {fix}".strip())
                try:
                    opened[name] = CheckedFile(root, name, entry, what, fix)
                except FileNotFoundError:
                    if manifest is None:
                        raise
                    raise ArtifactError(_mismatch(root, name, entry, None, what, fix).strip()) from None
                if opened[name].size <= check_below:
                    opened[name].check()
        except ArtifactError as caught:
            error = caught
        after = (root / MANIFEST_FILE).read_bytes() if (root / MANIFEST_FILE).is_file() else None
        if before != after:  # a save swapped the folder meanwhile: open the new one
            continue
        if error is None:
            if manifest is None:
                logger.debug("%s has no %s (saved by an older version): loading its files unchecked.", root,
                             MANIFEST_FILE)
            return opened
    raise error or ArtifactError(f"{root}: {MANIFEST_FILE} kept changing while the {what} was opened (concurrent "
                                 "saves); try again.")


def _carry_over(old: Path, staging: Path) -> None:
    """Hard-link (or copy) into `staging` what `old` holds that the new artifact does not write, except the files of
    the old manifest (they belonged to the old artifact)."""
    try:
        owned = set(json.loads((old / MANIFEST_FILE).read_text()).get("files", {}))
    except (OSError, ValueError, AttributeError):
        owned = set()
    owned.add(MANIFEST_FILE)
    for entry in os.scandir(old):
        if entry.name in owned or (staging / entry.name).exists() or _TEMP_NAME.fullmatch(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(entry.path, staging / entry.name, symlinks=True, copy_function=_link)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), staging / entry.name)
        else:
            _link(entry.path, str(staging / entry.name))


def _sync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                _fsync_path(path)
        _fsync_dir(root)


def _commit(staging: Path, target: Path) -> None:
    """Put the complete folder `staging` at `target` in one step (see the module docstring)."""
    for _ in range(10):
        if not target.exists():
            try:
                _replace(staging, target)  # atomic; fails if another writer created a non-empty target meanwhile
                _fsync_dir(target.parent)
                return
            except OSError as error:
                if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
        if not target.is_dir():
            raise NotADirectoryError(f"{target} is a file; give a folder.")
        _carry_over(target, staging)
        _fsync_dir(staging)
        if _exchange(staging, target):  # staging now holds the previous folder (removed with its container)
            _fsync_dir(target.parent)
            return
        # no atomic exchange here: move the old folder aside, then the new one in (a crash between the two renames
        # leaves the previous folder complete at `.NAME.<id>.old`)
        aside = _temp_name(target, "old")
        try:
            _replace(target, aside)
        except FileNotFoundError:
            continue
        try:
            _replace(staging, target)
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            _discard(aside)
            continue
        _fsync_dir(target.parent)
        _discard(aside)
        return
    raise OSError(f"could not commit {target}: other writers kept replacing it.")


@contextlib.contextmanager
def staged_folder(
    folder: str | os.PathLike, *, manifest: Iterable[str] | None = None, chunk_size: int | None = None
) -> Iterator[Path]:
    """Write a multi-file artifact as one: yield an empty staging folder (named like `folder`, inside a hidden sibling
    folder); on success write the
    manifest of `manifest` (when given, last), fsync everything and swap the staging folder in atomically.

    Files already in `folder` that the new artifact does not write are kept (carried over), except those named by
    its previous manifest. On an error nothing in `folder` changes.

    Args:
        folder (`str` or `os.PathLike`): The folder to (re)write; its parent is created if needed.
        manifest (`Iterable[str]`, *optional*): The files (relative paths) that belong together and must be checked
            on load; None writes no manifest (e.g. a model folder that other tools rewrite).
        chunk_size (`int`, *optional*): Also record per-chunk hashes of the large files (see [`write_manifest`]).

    Example:

    ```python
    >>> with staged_folder("outputs/model") as staging:  # doctest: +SKIP
    ...     model.save_pretrained(staging)
    ...     tokenizer.save_pretrained(staging)
    ```
    """
    target = Path(os.path.realpath(folder))  # through symbolic links: the folder they point to is rewritten
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(f"{folder} is a file; give a folder.")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_debris(target)
    # the staging folder has the target's own name (inside a private sibling folder), so whatever is named after the
    # folder while writing (a card's title or repo id) comes out as it will be found
    container = _temp_name(target, "staging")
    _IN_FLIGHT.add(container.name)
    container.mkdir()
    staging = container / target.name
    try:
        staging.mkdir()
        yield staging
        if manifest is not None:
            write_manifest(staging, manifest, chunk_size=chunk_size)
        _sync_tree(staging)
        _commit(staging, target)
    finally:
        _discard(container)
        _IN_FLIGHT.discard(container.name)


def _remove_debris(target: Path) -> None:
    """Remove temporary files and folders beside `target` left by writers that crashed (their process is gone, or
    it is this process and they are no longer being written)."""
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        match = _TEMP_NAME.fullmatch(entry.name)
        if match is None or match["name"] != target.name or entry.name in _IN_FLIGHT:
            continue
        pid = int(match["pid"])
        if pid != os.getpid() and _alive(pid):
            continue
        if match["kind"] == "old" and not target.exists():
            continue  # the previous folder of an interrupted move: keep it for the user
        _discard(entry.path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
