"""A small Hugging Face Hub-compatible HTTP server for offline tests (test infrastructure, not product code).

It implements the endpoints that the real `huggingface_hub` client (2.x) calls for the round trips the tests run,
following the client's source (`hf_api.py`, `_commit_api.py`, `lfs.py`, `file_download.py`, `hf_file_system.py`):

| client call | endpoint |
|---|---|
| `create_repo`, `delete_repo`, `whoami` | `POST /api/repos/create`, `DELETE /api/repos/delete`, `GET /api/whoami-v2` |
| `create_commit` (README check) | `POST /api/validate-yaml` |
| `preupload_lfs_files` | `POST /api/{type}s/{id}/preupload/{rev}`: "lfs" for `.gitattributes` patterns, big or binary files |
| LFS upload (basic transfer) | `POST /{prefix}{id}.git/info/lfs/objects/batch`, `PUT` upload href, `POST` verify href |
| `create_commit` | `POST /api/{type}s/{id}/commit/{rev}` (NDJSON: header, file, lfsFile, deletedFile, deletedFolder) |
| `repo_info`, `model_info`, `dataset_info` | `GET /api/{type}s/{id}[/revision/{rev}]` |
| `list_repo_tree`, `get_paths_info` | `GET /api/{type}s/{id}/tree/{rev}[/{path}]`, `POST /api/{type}s/{id}/paths-info/{rev}` |
| `list_repo_refs`, `list_repo_commits` | `GET /api/{type}s/{id}/refs`, `GET /api/{type}s/{id}/commits/{rev}` |
| `hf_hub_download`, `HfFileSystem` reads | `HEAD`/`GET /{prefix}{id}/resolve/{rev}/{path}` with `X-Repo-Commit`, `ETag`, `X-Linked-Etag`, `X-Linked-Size` and `Range` support |

Errors carry the `X-Error-Code` header (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`) that the client maps to
its exception classes. Writes need `Authorization: Bearer <token>` with the server's token. Xet storage is not
implemented: clients must run with `HF_HUB_DISABLE_XET=1` so that LFS files take the LFS batch path.

Point a client at it with `HF_ENDPOINT=<server.url>` (set before `huggingface_hub` is imported) and
`HF_TOKEN=<server.token>`; see [`LocalHub.client_env`].

Why it exists, and what it does and does not prove:

- It is kept because it is still the cheapest honest way to test the write path offline: nothing can reach the real
  Hub here, `olah` (the only local Hub server on PyPI) serves read-only mirrors, and mocking `HfApi` would test our
  calls against our own idea of the client. With this server the *real* `huggingface_hub` client runs unmodified:
  its repo creation, pre-upload, LFS batch upload and commit for `upload_folder` (early-exit `push_to_hub`,
  `save_pretrained(push_to_hub=True)`, `DataMap.push_to_hub`), its downloads and cache for `from_pretrained`,
  `snapshot_download` and `datasets.load_dataset(repo_id)`, `trust_remote_code` loading of the pushed remote code in
  a process where hf_notlike cannot be imported, errors for missing / malformed files in a repo, and the 401 answer to
  a wrong token (tests/test_hub_roundtrip.py, tests/test_hub_errors.py).
- Only the real-Hub tests (tests/test_hub_real.py, `pytest -m hub` with a write `HF_TOKEN`) cover what this mirror
  cannot: real authentication and permissions, Xet storage (clients here run with `HF_HUB_DISABLE_XET=1`), the Hub's
  own server-side validation of card metadata and `model-index` beyond the YAML check done here, redirects / CDN
  downloads, rate limits, and the way the Hub renders the cards.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

__all__ = ["LocalHub"]

USER = "hf-notlike-tester"
DEFAULT_TOKEN = "hf_local_test_token"
# The patterns of the Hub's default .gitattributes that matter here (the Hub's own list is longer)
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.onnx", "*.msgpack", "*.parquet",
                    "*.arrow", "*.npy", "*.npz", "*.pkl", "*.pickle", "*.zip", "*.gz", "*.tar", "*.zst")
)
REGULAR_MAX_SIZE = 10 * 1024 * 1024  # bigger files must go through LFS, as on the Hub
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
REPO = r"(?P<repo>[^/]+/[^/]+)"
ROUTES = [
    ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
    ("DELETE", re.compile(r"^/api/repos/delete$"), "delete_repo"),
    ("GET", re.compile(r"^/api/whoami-v2$"), "whoami"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("GET", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}(?:/revision/(?P<rev>[^/]+))?$"), "repo_info"),
    ("POST", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("GET", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), "tree"),
    ("POST", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/paths-info/(?P<rev>[^/]+)$"), "paths_info"),
    ("GET", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/refs$"), "refs"),
    ("GET", re.compile(rf"^/api/(?P<type>model|dataset|space)s/{REPO}/commits/(?P<rev>[^/]+)$"), "commits"),
    ("POST", re.compile(rf"^/(?:(?P<prefix>datasets|spaces)/)?{REPO}\.git/info/lfs/objects/batch$"), "lfs_batch"),
    ("PUT", re.compile(r"^/_lfs/upload/(?P<oid>[0-9a-f]{64})$"), "lfs_upload"),
    ("POST", re.compile(r"^/_lfs/verify$"), "lfs_verify"),
    ("GET", re.compile(rf"^/(?:(?P<prefix>datasets|spaces)/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ("HEAD", re.compile(rf"^/(?:(?P<prefix>datasets|spaces)/)?{REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
]


def git_blob_oid(content: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's oid / ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class StoredFile:
    content: bytes
    lfs_sha256: str | None = None  # set for files committed through LFS

    @property
    def oid(self) -> str:
        if self.lfs_sha256 is not None:
            return git_blob_oid(lfs_pointer(self.lfs_sha256, len(self.content)))
        return git_blob_oid(self.content)

    def entry(self, path: str) -> dict:
        entry = {"type": "file", "oid": self.oid, "size": len(self.content), "path": path}
        if self.lfs_sha256 is not None:
            pointer_size = len(lfs_pointer(self.lfs_sha256, len(self.content)))
            entry["lfs"] = {"oid": self.lfs_sha256, "size": len(self.content), "pointerSize": pointer_size}
        return entry


@dataclass
class Commit:
    oid: str
    title: str
    message: str
    date: str
    files: dict[str, StoredFile]
    parents: list[str] = field(default_factory=list)


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: list[Commit] = field(default_factory=list)  # oldest first; "main" is the last

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def resolve(self, revision: str) -> Commit | None:
        if revision in ("main", "refs/heads/main"):
            return self.head
        for commit in self.commits:
            if commit.oid == revision:
                return commit
        return None


class HubError(Exception):
    def __init__(
        self, status: int, message: str, code: str | None = None, commit: str | None = None, body: dict | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit
        self.extra = body or {}


class LocalHub:
    """An in-memory Hub on `127.0.0.1` (a free port), served by a daemon thread.

    Args:
        token (`str`, *optional*, defaults to `"hf_local_test_token"`): the only token accepted for writes.

    Example:

    ```python
    >>> with LocalHub() as hub:  # doctest: +SKIP
    ...     env = hub.client_env()  # HF_ENDPOINT, HF_TOKEN, HF_HUB_DISABLE_XET for a subprocess
    ```
    """

    def __init__(self, token: str = DEFAULT_TOKEN):
        self.token = token
        self.user = USER
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) of every request served
        self.unhandled: list[tuple[str, str]] = []  # requests no route matched (an endpoint the client needs)
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._commit_counter = 0

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def start(self) -> LocalHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def client_env(self) -> dict[str, str]:
        """The environment variables that point a `huggingface_hub` client (in a fresh process) at this server."""
        return {
            "HF_ENDPOINT": self.url,
            "HF_TOKEN": self.token,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "0",
            "HF_HUB_ETAG_TIMEOUT": "30",
            "HF_HUB_OFFLINE": "0",
            "TRANSFORMERS_OFFLINE": "0",
            "HF_DATASETS_OFFLINE": "0",
        }

    # -- state helpers (also used by tests to inspect or corrupt a repo) -----------------------------------------------
    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        try:
            return self.repos[(repo_type, repo_id)]
        except KeyError:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound") from None

    def files(self, repo_id: str, repo_type: str = "model") -> dict[str, bytes]:
        """The files at the head of `main`, as `{path: bytes}`."""
        with self.lock:
            return {path: f.content for path, f in self.repo(repo_id, repo_type).head.files.items()}

    def add_repo(self, repo_id: str, repo_type: str, files: dict[str, bytes]) -> str:
        """Creates a repo holding `files` directly (without the client), e.g. a deliberately broken one."""
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise ValueError(f"{repo_type} repo {repo_id} exists")
            repo = Repo(repo_type, repo_id, False, now_iso())
            self.repos[(repo_type, repo_id)] = repo
            self._new_commit(repo, {".gitattributes": StoredFile(DEFAULT_GITATTRIBUTES.encode())}, "initial commit", "")
        return self.write_commit(repo_id, repo_type, add=files, message="add files")

    def write_commit(
        self, repo_id: str, repo_type: str, add: dict[str, bytes] | None = None, delete: list[str] | None = None,
        message: str = "test commit",
    ) -> str:
        """Commits files directly (without the client), e.g. to break a repo on purpose in a test."""
        with self.lock:
            repo = self.repo(repo_id, repo_type)
            files = dict(repo.head.files)
            for path in delete or []:
                files.pop(path, None)
            for path, content in (add or {}).items():
                lfs = hashlib.sha256(content).hexdigest() if self._tracked_by_lfs(files, path) else None
                files[path] = StoredFile(content, lfs)
            return self._new_commit(repo, files, message, "").oid

    def _new_commit(self, repo: Repo, files: dict[str, StoredFile], title: str, message: str) -> Commit:
        self._commit_counter += 1
        parent = repo.commits[-1].oid if repo.commits else ""
        digest = hashlib.sha1(
            f"{repo.repo_type}/{repo.repo_id}\n{parent}\n{title}\n{self._commit_counter}\n{time.time_ns()}".encode()
            + b"".join(p.encode() + f.oid.encode() for p, f in sorted(files.items()))
        ).hexdigest()
        commit = Commit(digest, title, message, now_iso(), files, [parent] if parent else [])
        repo.commits.append(commit)
        return commit

    @staticmethod
    def _tracked_by_lfs(files: dict[str, StoredFile], path: str) -> bool:
        attributes = files.get(".gitattributes")
        text = attributes.content.decode("utf-8", "replace") if attributes is not None else ""
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and "filter=lfs" in parts[1:]:
                pattern = parts[0]
                name = path if "/" in pattern else path.rsplit("/", 1)[-1]
                if fnmatch.fnmatch(name, pattern):
                    return True
        return False

    # -- endpoints -------------------------------------------------------------------------------------------------
    def create_repo(self, request: _Handler, **_) -> tuple[int, dict]:
        self._check_write(request)
        body = request.json_body()
        name, organization = body.get("name"), body.get("organization") or self.user
        repo_type = body.get("type") or "model"
        if not name or repo_type not in PREFIXES:
            raise HubError(400, f"Invalid repo name or type: {name!r}, {repo_type!r}")
        repo_id = f"{organization}/{name}"
        url = f"{self.url}/{PREFIXES[repo_type]}{repo_id}"
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, f"You already created this {repo_type} repo", body={"url": url})
            repo = Repo(repo_type, repo_id, body.get("visibility") == "private" or bool(body.get("private")),
                        now_iso())
            self.repos[(repo_type, repo_id)] = repo
            self._new_commit(repo, {".gitattributes": StoredFile(DEFAULT_GITATTRIBUTES.encode())}, "initial commit", "")
        return 200, {"url": url, "name": repo_id, "id": repo_id}

    def delete_repo(self, request: _Handler, **_) -> tuple[int, dict]:
        self._check_write(request)
        body = request.json_body()
        repo_id = f"{body.get('organization') or self.user}/{body.get('name')}"
        with self.lock:
            self.repo(repo_id, body.get("type") or "model")
            del self.repos[(body.get("type") or "model", repo_id)]
        return 200, {}

    def whoami(self, request: _Handler, **_) -> tuple[int, dict]:
        self._check_write(request)
        return 200, {"type": "user", "id": "0" * 24, "name": self.user, "fullname": "Local test user",
                     "orgs": [], "auth": {"type": "access_token", "accessToken": {"displayName": "local",
                                                                                 "role": "write"}}}

    def validate_yaml(self, request: _Handler, **_) -> tuple[int, dict]:
        content = request.json_body().get("content", "")
        match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.S)
        if match is None:
            return 200, {"errors": [], "warnings": [{"message": "Empty or missing yaml metadata in repo card"}]}
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError as error:
            return 400, {"errors": [{"message": f"Invalid YAML: {error}"}], "warnings": []}
        if metadata is not None and not isinstance(metadata, dict):
            return 400, {"errors": [{"message": "YAML metadata must be a mapping"}], "warnings": []}
        return 200, {"errors": [], "warnings": []}

    def repo_info(self, request: _Handler, type: str, repo: str, rev: str | None = None, **_) -> tuple[int, dict]:
        with self.lock:
            stored = self.repo(repo, type)
            commit = self._resolve(stored, rev or "main")
            siblings = []
            for path, f in sorted(commit.files.items()):
                sibling = {"rfilename": path, "size": len(f.content), "blobId": f.oid}
                if f.lfs_sha256:  # repo info names the LFS hash `sha256` (tree entries call it `oid`)
                    lfs = f.entry(path)["lfs"]
                    sibling["lfs"] = {"sha256": lfs["oid"], "size": lfs["size"], "pointerSize": lfs["pointerSize"]}
                siblings.append(sibling)
            card_data = _card_metadata(commit.files.get("README.md"))
        info = {
            "_id": stored.repo_id, "id": stored.repo_id, "author": stored.repo_id.split("/")[0], "sha": commit.oid,
            "lastModified": commit.date, "createdAt": stored.created_at, "private": stored.private,
            "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": list(card_data.get("tags") or []),
            "siblings": siblings, "cardData": card_data or None, "usedStorage": sum(s["size"] for s in siblings),
        }
        if type == "model":
            info["modelId"] = stored.repo_id
            info["library_name"] = card_data.get("library_name")
            info["pipeline_tag"] = card_data.get("pipeline_tag")
        return 200, info

    def preupload(self, request: _Handler, type: str, repo: str, rev: str, **_) -> tuple[int, dict]:
        self._check_write(request)
        body = request.json_body()
        with self.lock:
            commit = self._resolve(self.repo(repo, type), rev)
            files = []
            for item in body.get("files", []):
                path, size = item["path"], int(item["size"])
                sample = base64.b64decode(item.get("sample", ""))
                lfs = self._tracked_by_lfs(commit.files, path) or size > REGULAR_MAX_SIZE or b"\0" in sample
                existing = commit.files.get(path)
                oid = None
                if existing is not None:
                    oid = existing.lfs_sha256 if existing.lfs_sha256 else git_blob_oid(existing.content)
                files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                              "oid": oid})
        return 200, {"files": files, "commitOid": commit.oid}

    def lfs_batch(self, request: _Handler, repo: str, prefix: str | None = None, **_) -> tuple[int, dict]:
        self._check_write(request)
        repo_type = {"datasets": "dataset", "spaces": "space", None: "model"}[prefix]
        body = request.json_body()
        with self.lock:
            self.repo(repo, repo_type)
            objects = []
            for obj in body.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                entry = {"oid": oid, "size": size, "authenticated": True}
                if oid not in self.lfs_objects:
                    entry["actions"] = {
                        "upload": {"href": f"{self.url}/_lfs/upload/{oid}", "header": {}},
                        "verify": {"href": f"{self.url}/_lfs/verify", "header": {}},
                    }
                objects.append(entry)
        return 200, {"transfer": "basic", "objects": objects}

    def lfs_upload(self, request: _Handler, oid: str, **_) -> tuple[int, dict]:
        content = request.body()
        if hashlib.sha256(content).hexdigest() != oid:
            raise HubError(400, f"LFS object content does not match its oid {oid}")
        with self.lock:
            self.lfs_objects[oid] = content
        return 200, {}

    def lfs_verify(self, request: _Handler, **_) -> tuple[int, dict]:
        body = request.json_body()
        with self.lock:
            content = self.lfs_objects.get(body.get("oid"))
        if content is None or len(content) != int(body.get("size", -1)):
            raise HubError(404, f"LFS object {body.get('oid')} not found or of the wrong size")
        return 200, {}

    def commit(self, request: _Handler, type: str, repo: str, rev: str, **_) -> tuple[int, dict]:
        self._check_write(request)
        if request.query.get("create_pr"):
            raise HubError(400, "Pull requests are not supported by the local test Hub")
        lines = [json.loads(line) for line in request.body().decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        with self.lock:
            stored = self.repo(repo, type)
            if rev not in ("main", "refs/heads/main"):
                raise HubError(404, f"Invalid rev id: {rev} (the local Hub only has 'main')", "RevisionNotFound")
            parent = header.get("parentCommit")
            if parent is not None and parent != stored.head.oid:
                raise HubError(412, f"Parent commit {parent} is not the head of main")
            files = dict(stored.head.files)
            for line in lines[1:]:
                key, value = line["key"], line["value"]
                path = value["path"]
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, f"Unsupported encoding for {path}: {value.get('encoding')}")
                    files[path] = StoredFile(base64.b64decode(value["content"]))
                elif key == "lfsFile":
                    content = self.lfs_objects.get(value["oid"])
                    if content is None:
                        raise HubError(400, f"LFS object {value['oid']} for {path} was never uploaded")
                    files[path] = StoredFile(content, value["oid"])
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"Cannot delete {path}: no such file", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [name for name in files if name.startswith(prefix)]:
                        del files[name]
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            commit = self._new_commit(stored, files, header.get("summary", ""), header.get("description", ""))
        url = f"{self.url}/{PREFIXES[type]}{repo}/commit/{commit.oid}"
        return 200, {"success": True, "commitOid": commit.oid, "commitUrl": url, "pullRequestUrl": None}

    def tree(self, request: _Handler, type: str, repo: str, rev: str, path: str | None = None, **_):
        recursive = request.query.get("recursive", ["false"])[0].lower() == "true"
        with self.lock:
            commit = self._resolve(self.repo(repo, type), rev)
            path = (path or "").strip("/")
            prefix = f"{path}/" if path else ""
            if path and path not in _folders(commit.files):
                raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound", commit.oid)
            entries = []
            for folder in sorted(_folders(commit.files)):
                if folder.startswith(prefix) and folder != path and (recursive or "/" not in folder[len(prefix):]):
                    entries.append({"type": "directory", "oid": _folder_oid(commit.files, folder), "size": 0,
                                    "path": folder})
            for name, f in sorted(commit.files.items()):
                if name.startswith(prefix) and (recursive or "/" not in name[len(prefix):]):
                    entries.append(f.entry(name))
        return 200, entries

    def paths_info(self, request: _Handler, type: str, repo: str, rev: str, **_) -> tuple[int, list]:
        form = parse_qs(request.body().decode())
        with self.lock:
            commit = self._resolve(self.repo(repo, type), rev)
            entries = []
            for path in form.get("paths", []):
                path = path.strip("/")
                if path in commit.files:
                    entries.append(commit.files[path].entry(path))
                elif path in _folders(commit.files):
                    entries.append({"type": "directory", "oid": _folder_oid(commit.files, path), "size": 0,
                                    "path": path})
        return 200, entries

    def refs(self, request: _Handler, type: str, repo: str, **_) -> tuple[int, dict]:
        with self.lock:
            head = self.repo(repo, type).head.oid
        return 200, {"branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": head}],
                     "converts": [], "tags": []}

    def commits(self, request: _Handler, type: str, repo: str, rev: str, **_) -> tuple[int, list]:
        with self.lock:
            stored = self.repo(repo, type)
            head = self._resolve(stored, rev)
            history = stored.commits[: stored.commits.index(head) + 1][::-1]
        return 200, [{"id": c.oid, "title": c.title, "message": c.message, "date": c.date,
                      "authors": [{"user": self.user}]} for c in history]

    def resolve(self, request: _Handler, repo: str, rev: str, path: str, prefix: str | None = None, **_):
        repo_type = {"datasets": "dataset", "spaces": "space", None: "model"}[prefix]
        with self.lock:
            commit = self._resolve(self.repo(repo, repo_type), rev)
            stored = commit.files.get(path)
            if stored is None:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit.oid)
        content = stored.content
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{stored.oid}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if stored.lfs_sha256:
            headers.update({"X-Linked-Etag": f'"{stored.lfs_sha256}"', "X-Linked-Size": str(len(content))})
        status = 200
        range_header = request.headers.get("Range")
        if range_header and request.command == "GET":
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if match is None:
                raise HubError(416, f"Unsupported Range header {range_header!r}")
            start_s, end_s = match.groups()
            if start_s == "":  # suffix range: the last N bytes
                start, end = max(len(content) - int(end_s), 0), len(content) - 1
            else:
                start, end = int(start_s), min(int(end_s) if end_s else len(content) - 1, len(content) - 1)
            if start >= len(content) and len(content) > 0:
                return 416, b"", {"Content-Range": f"bytes */{len(content)}", **headers}
            headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
            content, status = content[start : end + 1], 206
        return status, content, headers

    # -- helpers -----------------------------------------------------------------------------------------------------
    def _resolve(self, repo: Repo, revision: str) -> Commit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _check_write(self, request: _Handler) -> None:
        authorization = request.headers.get("Authorization", "")
        if authorization != f"Bearer {self.token}":
            raise HubError(401, "Invalid credentials in Authorization header")


def _folders(files: dict[str, StoredFile]) -> set[str]:
    folders = set()
    for name in files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders


def _folder_oid(files: dict[str, StoredFile], folder: str) -> str:
    prefix = folder + "/"
    return hashlib.sha1("".join(n + f.oid for n, f in sorted(files.items()) if n.startswith(prefix)).encode()).hexdigest()


def _card_metadata(readme: StoredFile | None) -> dict:
    if readme is None:
        return {}
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme.content.decode("utf-8", "replace"), flags=re.S)
    if match is None:
        return {}
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: LocalHub

    def log_message(self, format, *args):  # quiet: requests are recorded in hub.requests
        pass

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    def body(self) -> bytes:
        if hasattr(self, "_body"):
            return self._body
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self._body = b"".join(chunks)
        else:
            self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def json_body(self) -> dict:
        try:
            return json.loads(self.body() or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"Malformed JSON body: {error}") from None

    def _dispatch(self) -> None:
        self.__dict__.pop("_body", None)  # one handler serves every request of a keep-alive connection
        raw_path = urlsplit(self.path).path
        for method, pattern, name in ROUTES:
            if method != self.command:
                continue
            match = pattern.match(raw_path)
            if match is None:
                continue
            params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
            try:
                result = getattr(self.hub, name)(self, **params)
            except HubError as error:
                self._send_error(error)
                return
            except Exception as error:  # a server bug: report it to the client as a 500
                self._send_error(HubError(500, f"{type(error).__name__}: {error}"))
                return
            if len(result) == 3:
                self._send(result[0], result[1], result[2])
            else:
                self._send(result[0], json.dumps(result[1]).encode(), {"Content-Type": "application/json"})
            return
        self.body()  # drain, so the connection stays usable
        with self.hub.lock:
            self.hub.unhandled.append((self.command, self.path))
        self._send_error(HubError(404, f"No such endpoint in the local test Hub: {self.command} {raw_path}"))

    def _send_error(self, error: HubError) -> None:
        if self.command in ("POST", "PUT"):
            self.body()  # drain, so the connection stays usable
        headers = {"Content-Type": "application/json", "X-Error-Message": error.message.replace("\n", " ")}
        if error.code:
            headers["X-Error-Code"] = error.code
        if error.commit:
            headers["X-Repo-Commit"] = error.commit
        payload = {"error": error.message, **error.extra}
        self._send(error.status, json.dumps(payload).encode(), headers)

    def _send(self, status: int, content: bytes, headers: dict[str, str]) -> None:
        with self.hub.lock:
            self.hub.requests.append((self.command, self.path, status))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch

