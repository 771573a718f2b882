"""Every artifact is written atomically: a crash at any write, fsync or rename leaves the previous complete artifact or
the new complete one (crash injection at every low-level call of each writer, a SIGKILLed saving process, two
concurrent writers), the calibrate command without --output-dir rewrites only config.json, and a folder whose files
do not match its manifest fails to load with an error naming the folder and the fix."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from early_exit_helpers import save_tiny_model

from hf_notlike import artifacts
from hf_notlike.artifacts import MANIFEST_FILE, ArtifactError
from hf_notlike.cartography import DATA_MAP_FILE, METADATA_FILE, DataMap

ROOT = Path(__file__).resolve().parents[1]
PRIMITIVES = ("_write_chunk", "_fsync", "_replace", "_exchange", "_link")


class Crash(Exception):
    """The injected failure: raised by the N-th low-level write / fsync / rename."""


def inject_crash(monkeypatch, at: int | None, leave_debris: bool = False) -> list[str]:
    """Wrap every low-level primitive of `hf_notlike.artifacts` so that call number `at` (0-based) raises `Crash`
    (never when `at` is None); returns the list of calls made. With `leave_debris` the clean-up of temporary files
    is disabled too, as after a real crash."""
    calls: list[str] = []
    for name in PRIMITIVES:
        original = getattr(artifacts, name)

        def wrapped(*args, _original=original, _name=name, **kwargs):
            if at is not None and len(calls) == at:
                calls.append(_name)
                raise Crash(f"injected crash at call {at} ({_name})")
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(artifacts, name, wrapped)
    if leave_debris:
        monkeypatch.setattr(artifacts, "_discard", lambda path: None)
    return calls


def count_calls(monkeypatch, write) -> int:
    with monkeypatch.context() as patch:
        calls = inject_crash(patch, None)
        write()
    assert calls, "the writer made no call through hf_notlike.artifacts"
    return len(calls)


def make_map(seed: int, n: int = 6, epochs: int = 3, **kwargs) -> DataMap:
    rng = np.random.default_rng(seed)
    gold = rng.random((n, epochs), dtype=np.float32)
    return DataMap(gold, gold > 0.5, ids=np.arange(n) + 100 * seed, **kwargs)


def same_map(a: DataMap, b: DataMap) -> bool:
    return a.gold_probs.shape == b.gold_probs.shape and bool(
        np.array_equal(a.gold_probs, b.gold_probs) and np.array_equal(a.ids, b.ids)
        and np.array_equal(a.correct, b.correct)
    )


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------------------------ data maps
@pytest.mark.parametrize("leave_debris", [False, True], ids=["clean-up", "debris"])
def test_data_map_save_crash_at_every_call_leaves_old_or_new(tmp_path, monkeypatch, leave_debris):
    old, new = make_map(1), make_map(2, n=9, epochs=4, model_name="m/new")
    folder = tmp_path / "map"
    old.save_pretrained(folder, plot=False)
    (folder / "notes.txt").write_text("mine")  # a file of the user's: kept by every save
    old_files = {name: (folder / name).read_bytes() for name in visible(folder)}
    total = count_calls(monkeypatch, lambda: new.save_pretrained(folder, plot=False))  # calls of this very save
    old.save_pretrained(folder, plot=False)
    assert total >= 6
    outcomes = set()
    for at in range(total + 1):
        with monkeypatch.context() as patch:
            inject_crash(patch, at, leave_debris=leave_debris)
            try:
                new.save_pretrained(folder, plot=False)
            except Crash:
                pass
        loaded = DataMap.from_pretrained(folder)
        assert artifacts.verify_manifest(folder, what="data map")
        if same_map(loaded, old):
            outcomes.add("old")
            assert {name: (folder / name).read_bytes() for name in visible(folder)} == old_files
        else:
            assert same_map(loaded, new), f"crash at call {at}: the folder holds neither map"
            assert loaded.model_name == "m/new" and "m/new" in (folder / "README.md").read_text()
            outcomes.add("new")
        assert (folder / "notes.txt").read_text() == "mine"
        old.save_pretrained(folder, plot=False)  # back to the old map for the next crash point
    assert outcomes == {"old", "new"}
    # nothing is left beside the folder once a save succeeds (debris of crashed writers is removed)
    old.save_pretrained(folder, plot=False)
    assert visible(tmp_path) == ["map"]


def test_first_save_crash_leaves_nothing_or_the_new_map(tmp_path, monkeypatch):
    new = make_map(3)
    total = count_calls(monkeypatch, lambda: new.save_pretrained(tmp_path / "probe", plot=False, card=False))
    for at in range(total):
        folder = tmp_path / f"map{at}"
        with monkeypatch.context() as patch:
            inject_crash(patch, at)
            with pytest.raises(Crash):
                new.save_pretrained(folder, plot=False, card=False)
        assert not folder.exists() or same_map(DataMap.from_pretrained(folder), new)


def test_data_map_with_units_commits_its_unit_table(tmp_path, monkeypatch):
    units = {"example": np.array([0, 0, 1]), "index": np.array([0, 1, 0]), "label": np.array([1, 2, 1]),
             "position": np.array([1, 2, 1]), "gold_prob": np.full((3, 2), 0.5, np.float32),
             "correct": np.ones((3, 2), bool)}
    with_units = DataMap(np.full((2, 2), 0.5, np.float32), np.ones((2, 2), bool), units=units, unit_kind="token")
    folder = with_units.save_pretrained(tmp_path / "map", plot=False, card=False)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())["files"]
    assert sorted(manifest) == sorted([DATA_MAP_FILE, METADATA_FILE, "data_map_tokens.parquet"])
    plain = make_map(4, n=2, epochs=2)
    total = count_calls(monkeypatch, lambda: plain.save_pretrained(folder, plot=False, card=False))
    with_units.save_pretrained(folder, plot=False, card=False)
    for at in range(total):
        with monkeypatch.context() as patch:
            inject_crash(patch, at)
            with pytest.raises(Crash):
                plain.save_pretrained(folder, plot=False, card=False)
        loaded = DataMap.from_pretrained(folder)
        if loaded.units is None:  # the crash came after the commit (the last fsync)
            assert same_map(loaded, plain) and at >= total - 2
        else:
            assert loaded.unit_kind == "token" and np.array_equal(loaded.units["index"], units["index"])
            assert np.array_equal(loaded.gold_probs, with_units.gold_probs)
        with_units.save_pretrained(folder, plot=False, card=False)
    plain.save_pretrained(folder, plot=False, card=False)
    loaded = DataMap.from_pretrained(folder)
    assert same_map(loaded, plain) and loaded.units is None
    assert "data_map_tokens.parquet" not in visible(folder)  # a file of the old map's manifest is not carried over


def test_manifest_mismatch_fails_with_the_folder_and_the_fix(tmp_path, capsys):
    import pyarrow.parquet as pq

    from hf_notlike.cli import main

    folder = make_map(5).save_pretrained(tmp_path / "map", plot=False)
    table = pq.read_table(folder / DATA_MAP_FILE)
    confidence = table.column("confidence").to_numpy().copy()
    confidence[0] = 0.123  # a hand edit: a valid Parquet file whose content is not what was saved
    pq.write_table(table.set_column(table.schema.get_field_index("confidence"), "confidence",
                                    __import__("pyarrow").array(confidence)), folder / DATA_MAP_FILE)
    with pytest.raises(ArtifactError) as error:
        DataMap.from_pretrained(folder)
    message = str(error.value)
    assert str(folder) in message and DATA_MAP_FILE in message and MANIFEST_FILE in message
    assert "DataMap.save_pretrained" in message and "delete manifest.json" in message
    assert isinstance(error.value, ValueError)
    # the command line reports it as one line
    assert main(["datamap", "show", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match manifest.json" in err
    # a file the manifest lists that is gone
    make_map(5).save_pretrained(folder, plot=False)
    (folder / MANIFEST_FILE).write_text(json.dumps({
        "format": "hf_notlike-manifest",
        "files": {**json.loads((folder / MANIFEST_FILE).read_text())["files"],
                  "data_map_tokens.parquet": {"size": 1, "sha256": "0" * 64}},
    }))
    with pytest.raises(ArtifactError, match="missing"):
        artifacts.verify_manifest(folder, what="data map")
    (folder / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="not a valid data map manifest"):
        DataMap.from_pretrained(folder)


def test_folder_without_manifest_still_loads(tmp_path, caplog):
    """Folders saved before manifests existed load as they are (logged at debug level)."""
    import logging

    data_map = make_map(6)
    folder = data_map.save_pretrained(tmp_path / "map", plot=False, card=False)
    (folder / MANIFEST_FILE).unlink()
    with caplog.at_level(logging.DEBUG, logger="hf_notlike.artifacts"):
        assert same_map(DataMap.from_pretrained(folder), data_map)
    assert "unchecked" in caplog.text


SAVER = textwrap.dedent("""
    import sys
    import numpy as np
    from hf_notlike.cartography import DataMap

    folder, seeds, rounds, ready = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    n = int(sys.argv[5])
    maps = []
    for seed in map(int, seeds.split(",")):  # saved in turn
        gold = np.random.default_rng(seed).random((n, 4), dtype=np.float32)
        maps.append(DataMap(gold, gold > 0.5, ids=np.arange(n) + seed * n))
    open(ready, "w").close()
    for i in range(rounds):
        maps[i % len(maps)].save_pretrained(folder, plot=False, card=False)
""")


def _expected(seed: int, n: int) -> DataMap:
    rng = np.random.default_rng(seed)
    gold = rng.random((n, 4), dtype=np.float32)
    return DataMap(gold, gold > 0.5, ids=np.arange(n) + seed * n)


def _saver(tmp_path: Path, folder: Path, seeds: str, rounds: int, n: int) -> tuple[subprocess.Popen, Path]:
    """A process that saves the maps of `seeds` (comma-separated) in turn, `rounds` saves in all, into `folder`."""
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    ready = tmp_path / f"ready-{seeds}-{time.monotonic_ns()}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(folder), seeds, str(rounds), str(ready), str(n)],
                               env=env)
    return process, ready


def _wait_ready(ready: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert process.poll() is None, "the saving process died before it started"
        assert time.monotonic() < deadline, "the saving process did not start"
        time.sleep(0.02)


@pytest.mark.slow  # subprocesses saving a large map
def test_sigkill_mid_save_leaves_old_or_new_map(tmp_path):
    n = 150_000  # a data map whose save takes a while (several MB of Parquet)
    folder = tmp_path / "map"
    old, new = _expected(1, n), _expected(2, n)
    old.save_pretrained(folder, plot=False, card=False)
    outcomes = []
    for delay in (0.1, 0.45, 0.9, 1.6):  # the process saves new, old, new, ...: every kill lands in some save
        process, ready = _saver(tmp_path, folder, "2,1", 1000, n)
        _wait_ready(ready, process)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        loaded = DataMap.from_pretrained(folder)
        assert same_map(loaded, old) or same_map(loaded, new), f"killed after {delay}s: neither map"
        outcomes.append("old" if same_map(loaded, old) else "new")
        debris = [p.name for p in tmp_path.iterdir() if p.name.startswith(".map.")]
        old.save_pretrained(folder, plot=False, card=False)  # also sweeps the killed writer's temporary files
        assert visible(tmp_path) == sorted(["map", "saver.py", *[p.name for p in tmp_path.glob("ready-*")]]), debris
    assert len(outcomes) == 4


@pytest.mark.slow  # two writer processes
def test_concurrent_writers_never_produce_a_mix(tmp_path):
    n = 5_000
    folder = tmp_path / "map"
    a, b = _expected(1, n), _expected(2, n)  # same shape: a mix of their files would load without the manifest
    a.save_pretrained(folder, plot=False, card=False)
    writers = [_saver(tmp_path, folder, seed, 12, n) for seed in ("1", "2")]
    for process, ready in writers:
        _wait_ready(ready, process)
    loads = refused = 0
    while any(process.poll() is None for process, _ in writers):
        try:
            loaded = DataMap.from_pretrained(folder)
        except ArtifactError:  # caught mid-swap several times in a row: refused, never mixed
            refused += 1
            continue
        loads += 1
        assert same_map(loaded, a) or same_map(loaded, b), "a load mixed the files of two saves"
    for process, _ in writers:
        assert process.wait() == 0
    loaded = DataMap.from_pretrained(folder)
    assert same_map(loaded, a) or same_map(loaded, b)
    assert artifacts.verify_manifest(folder, what="data map")
    assert loads > 0 and refused <= loads
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".map.")]


# ------------------------------------------------------------------------------------------------ single files
def _sweep_result(accuracy: float):
    from hf_notlike import TradeoffResult

    rows = [{"kind": "early_exit", "name": f"t={t}", "threshold": t, "accuracy": accuracy, "mean_layers": 2 * t,
             "ideal_speedup": 1 / t, "exit_fractions": [1 - t, t]} for t in (0.5, 1.0)]
    return TradeoffResult(rows=rows, batch_sizes=[], num_layers=2, num_examples=10, num_timing_examples=0, repeats=1)


def _writers(tmp_path):
    """Each single-file writer: (name, file, write old, write new)."""
    from hf_notlike.cartography.card import write_data_map_card
    from hf_notlike.cartography.interactive import write_data_map_html
    from hf_notlike.cli import main

    def select(fraction):
        return lambda path: main(["datamap", "select", str(tmp_path / "src"), "--region", "ambiguous", "--fraction",
                                  str(fraction), "-o", str(path)])

    make_map(7, n=12).save_pretrained(tmp_path / "src", plot=False, card=False)
    pages = [make_map(8), make_map(9, n=10)]
    return [
        ("sweep.json", lambda p: _sweep_result(0.5).to_json(str(p)), lambda p: _sweep_result(0.9).to_json(str(p))),
        ("sweep.png", lambda p: _sweep_result(0.5).plot(str(p)), lambda p: _sweep_result(0.9).plot(str(p))),
        ("data_map.png", lambda p: make_map(8).plot(p), lambda p: make_map(9, n=10).plot(p)),
        ("README.md", lambda p: write_data_map_card(make_map(8), p.parent, repo_id="a/b"),
         lambda p: write_data_map_card(make_map(9, n=10), p.parent, repo_id="a/b")),
        ("ids.json", select(0.25), select(0.5)),
        ("page.html", lambda p: write_data_map_html(pages[0], p), lambda p: write_data_map_html(pages[1], p)),
    ]


def test_single_file_writers_crash_at_every_call_leave_old_or_new(tmp_path, monkeypatch):
    pytest.importorskip("plotly")
    for name, write_old, write_new in _writers(tmp_path):
        reference = tmp_path / "reference" / name
        reference.parent.mkdir(exist_ok=True)
        write_new(reference)
        new_bytes = reference.read_bytes()
        work = tmp_path / name.replace(".", "_")
        work.mkdir()
        target = work / name
        write_old(target)
        old_bytes = target.read_bytes()
        assert old_bytes != new_bytes, name
        total = count_calls(monkeypatch, lambda write=write_new, path=reference: write(path))
        for at in range(total + 1):
            with monkeypatch.context() as patch:
                inject_crash(patch, at)
                try:
                    write_new(target)
                except Crash:
                    pass
            content = target.read_bytes()
            assert content in (old_bytes, new_bytes), f"{name}: crash at call {at} left a torn file"
            assert visible(work) == [name], f"{name}: temporary files left after call {at}"
            write_old(target)


def test_callback_state_file_is_written_atomically(tmp_path, monkeypatch):
    from cartography_helpers import tiny_dataset, train

    from hf_notlike.cartography import STATE_FILE

    callback, trainer = train(str(tmp_path / "run"), tiny_dataset(8), num_train_epochs=1, save_strategy="epoch")
    checkpoint = next((tmp_path / "run").glob("checkpoint-*"))
    state_file = checkpoint / STATE_FILE
    old_bytes = state_file.read_bytes()
    before = visible(checkpoint)
    trainer.state.global_step += 1  # a different state: the file's metadata changes
    probe = tmp_path / "probe"
    probe.mkdir()
    total = count_calls(monkeypatch, lambda: callback._save_state(str(probe), trainer.state))
    new_state = read_state(probe / STATE_FILE)
    old_state = read_state(state_file)
    assert new_state[0] != old_state[0]
    outcomes = set()
    for at in range(total + 1):
        with monkeypatch.context() as patch:
            inject_crash(patch, at)
            try:
                callback._save_state(str(checkpoint), trainer.state)
            except Crash:
                pass
        state = read_state(state_file)  # a complete file (a torn one does not parse), the old or the new state
        assert state in (old_state, new_state), f"crash at call {at}"
        outcomes.add("old" if state == old_state else "new")
        assert visible(checkpoint) == before
        state_file.write_bytes(old_bytes)
    assert outcomes == {"old", "new"}


def read_state(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    with safe_open(str(path), "np") as handle:
        return handle.metadata(), {key: handle.get_tensor(key).tolist() for key in handle.keys()}


# ------------------------------------------------------------------------------------------------ models
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, bert_tokenizer):
    folder = save_tiny_model(tmp_path_factory.mktemp("atomic") / "model", bert_tokenizer)
    (folder.parent / "data.csv").write_text(
        "text,label\n" + "".join(f"review {i} {'good' if i % 2 else 'bad'},{['rotten', 'fresh'][i % 2]}\n"
                                 for i in range(16)))
    return folder


def test_calibrate_without_output_dir_rewrites_only_config_json(model_dir, tmp_path, capsys):
    import shutil

    from hf_notlike.cli import main

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "temperatures": [7.0, 7.0]}, indent=2))
    weights = folder / "model.safetensors"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    weights_stat = weights.stat()
    time.sleep(0.05)
    assert main(["early-exit", "calibrate", str(folder), "--data", str(model_dir.parent / "data.csv")]) == 0
    capsys.readouterr()
    after = weights.stat()
    assert weights.read_bytes() == before["model.safetensors"]
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        weights_stat.st_ino, weights_stat.st_mtime_ns, weights_stat.st_size)
    old_config, new_config = json.loads(before["config.json"]), json.loads((folder / "config.json").read_text())
    temperatures = json.loads((folder / "calibration.json").read_text())["temperatures"]
    assert new_config["temperatures"] == pytest.approx(temperatures)
    assert new_config["temperatures"] != old_config.get("temperatures")
    assert {k: v for k, v in new_config.items() if k != "temperatures"} == {
        k: v for k, v in old_config.items() if k != "temperatures"}
    changed = sorted(name for name in visible(folder) if before.get(name) != (folder / name).read_bytes())
    assert set(changed) <= {"config.json", "README.md", "calibration.json"} and "config.json" in changed
    from transformers import AutoModelForSequenceClassification

    reloaded = AutoModelForSequenceClassification.from_pretrained(folder)
    assert reloaded.config.temperatures == pytest.approx(temperatures)


def test_update_model_config_crash_at_every_call_keeps_the_weights(model_dir, tmp_path, monkeypatch):
    import shutil

    from transformers import AutoModelForSequenceClassification

    from hf_notlike.cli_utils import update_model_config

    folder = tmp_path / "model"
    shutil.copytree(model_dir, folder)
    weights = (folder / "model.safetensors").read_bytes()
    old_config = (folder / "config.json").read_bytes()
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.config.temperatures = [1.5] * len(model.config.exit_layers)
    (tmp_path / "probe").mkdir()
    total = count_calls(monkeypatch, lambda: update_model_config(tmp_path / "probe", model))
    for at in range(total + 1):
        with monkeypatch.context() as patch:
            inject_crash(patch, at)
            try:
                update_model_config(folder, model)
            except Crash:
                pass
        assert (folder / "model.safetensors").read_bytes() == weights
        config = json.loads((folder / "config.json").read_text())  # complete JSON, old or new
        assert (folder / "config.json").read_bytes() == old_config or config["temperatures"] == [1.5, 1.5]
        (folder / "config.json").write_bytes(old_config)


def test_saved_model_folder_crash_at_every_call_leaves_old_or_new(model_dir, tmp_path, monkeypatch, bert_tokenizer):
    from transformers import AutoModelForSequenceClassification

    from hf_notlike.cli_utils import save_model_folder

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    folder = tmp_path / "out"
    model.config.temperatures = [1.0, 1.0]
    save_model_folder(folder, model, bert_tokenizer, {"calibration.json": {"temperatures": [1.0, 1.0]}})
    old_files = {name: (folder / name).read_bytes() for name in visible(folder)}
    new_model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    new_model.config.temperatures = [2.0, 3.0]
    name, weight = next(iter(new_model.named_parameters()))
    with torch.no_grad():
        weight.add_(1.0)

    def save(target):
        save_model_folder(target, new_model, bert_tokenizer, {"calibration.json": {"temperatures": [2.0, 3.0]}})

    total = count_calls(monkeypatch, lambda: save(folder))
    save_model_folder(folder, model, bert_tokenizer, {"calibration.json": {"temperatures": [1.0, 1.0]}})
    outcomes = set()
    for at in range(total + 1):
        with monkeypatch.context() as patch:
            inject_crash(patch, at)
            try:
                save(folder)
            except Crash:
                pass
        files = {name: (folder / name).read_bytes() for name in visible(folder)}
        if files == old_files:
            outcomes.add("old")
        else:
            reloaded = AutoModelForSequenceClassification.from_pretrained(folder)
            assert reloaded.config.temperatures == [2.0, 3.0], f"crash at call {at}: a mixed folder"
            assert torch.equal(reloaded.get_parameter(name), weight)
            assert json.loads(files["calibration.json"])["temperatures"] == [2.0, 3.0]
            outcomes.add("new")
        save_model_folder(folder, model, bert_tokenizer, {"calibration.json": {"temperatures": [1.0, 1.0]}})
    assert outcomes == {"old", "new"}


def test_atomic_write_refuses_a_folder_and_keeps_the_file_on_error(tmp_path):
    target = tmp_path / "a.txt"
    artifacts.write_text(target, "old")
    with pytest.raises(RuntimeError), artifacts.atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("writer failed")
    assert target.read_text() == "old" and visible(tmp_path) == ["a.txt"]
    with pytest.raises(IsADirectoryError):
        artifacts.write_text(tmp_path, "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError), artifacts.staged_folder(tmp_path / "file"):
        pass
