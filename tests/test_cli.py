"""Every `hf-notlike` failure a user can cause is one line naming the problem, exit code 2, found before the work
starts, and the commands read local files without any network request."""

import json
import subprocess
import sys

import numpy as np
import pytest
from early_exit_helpers import save_tiny_model

from hf_notlike.cartography import DataMap
from hf_notlike.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, bert_tokenizer):
    """A tiny saved early-exit model with the MiniLM tokenizer and labels rotten / fresh."""
    return save_tiny_model(tmp_path_factory.mktemp("cli") / "model", bert_tokenizer)


@pytest.fixture(scope="module")
def data_csv(model_dir):
    path = model_dir.parent / "data.csv"
    path.write_text("text,label\n" + "".join(f"review {i},{['rotten', 'fresh'][i % 2]}\n" for i in range(8)))
    return path


def run(argv, capsys):
    """`main(argv)`: returns (exit code, stderr); the error must be one line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    return code, err


def assert_one_line_error(argv, capsys, *needles):
    code, err = run(argv, capsys)
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert "error:" in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_early_exit_failures(model_dir, data_csv, tmp_path, capsys, no_network):
    model, data = str(model_dir), str(data_csv)
    for command in ("calibrate", "sweep"):
        base = ["early-exit", command]
        assert_one_line_error(base + [tmp_path / "missing", "--data", data], capsys, "does not exist", "missing")
        assert_one_line_error(base + [data, "--data", data], capsys, "is a file")
        assert_one_line_error(base + [tmp_path, "--data", data], capsys, "no config.json")
        assert_one_line_error(base + [model, "--data", tmp_path / "none.csv"], capsys, "none.csv does not exist")
        assert_one_line_error(base + [model, "--data", tmp_path / "data.xlsx"], capsys, ".csv")
        (tmp_path / "empty.csv").write_text("")
        assert_one_line_error(base + [model, "--data", tmp_path / "empty.csv"], capsys, "empty.csv is empty")
        (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
        assert_one_line_error(base + [model, "--data", tmp_path / "binary.csv"], capsys, "binary")
        (tmp_path / "bad.json").write_text('[{"text": "a", "label": 0},')
        assert_one_line_error(base + [model, "--data", tmp_path / "bad.json"], capsys, "not valid JSON")
        (tmp_path / "scalar.json").write_text("3")
        assert_one_line_error(base + [model, "--data", tmp_path / "scalar.json"], capsys, "list of row objects")
        (tmp_path / "a_file").write_text("x")
        assert_one_line_error(base + [model, "--data", data, "--output-dir", tmp_path / "a_file"], capsys, "is a file")
        assert_one_line_error(base + [model, "--data", data, "--batch-size", "0"], capsys, "--batch-size")
        assert_one_line_error(base + [model, "--data", data, "--label-column", "y"], capsys, "no column 'y'")
        assert_one_line_error(base + [model, "--data", data, "--nonsense"], capsys, "--nonsense")
    sweep = ["early-exit", "sweep", model, "--data", data]
    assert_one_line_error(sweep + ["--plot", tmp_path / "no" / "such" / "dir.png"], capsys, "does not exist")
    assert_one_line_error(sweep + ["--plot", tmp_path / "plot.txt"], capsys, ".png")
    assert_one_line_error(sweep + ["--thresholds", "0"], capsys, "(0, 1]")
    assert_one_line_error(sweep + ["--timed", "1.5"], capsys, "--timed")
    # nothing was written by any of the failed runs
    assert sorted(p.name for p in model_dir.iterdir() if p.suffix in (".json", ".png")) == [
        "config.json", "tokenizer.json", "tokenizer_config.json"
    ]


def test_early_exit_folder_without_tokenizer(model_dir, data_csv, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((model_dir / name).read_bytes())
    assert_one_line_error(["early-exit", "calibrate", bare, "--data", data_csv], capsys,
                          "no tokenizer files", "tokenizer.save_pretrained")
    assert_one_line_error(["early-exit", "calibrate", bare, "--data", data_csv, "--tokenizer", tmp_path / "nope"],
                          capsys, "--tokenizer")


@pytest.mark.slow  # five end-to-end calibrations
def test_early_exit_commands_read_local_files_offline(model_dir, data_csv, tmp_path, capsys, no_network):
    """Every supported format is read without a network request (the socket is closed), labels by name or index."""
    rows = [{"text": f"review {i}", "label": i % 2} for i in range(6)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (tmp_path / "d.tsv").write_text("text\tlabel\n" + "".join(f"{r['text']}\t{r['label']}\n" for r in rows))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    for i, data in enumerate([data_csv] + [tmp_path / f"d.{s}" for s in ("jsonl", "json", "tsv", "parquet")]):
        out = tmp_path / f"out{i}"
        code, err = run(["early-exit", "calibrate", model_dir, "--data", data, "--output-dir", out], capsys)
        assert code == 0, err
        assert json.loads((out / "calibration.json").read_text())["temperatures"]


def test_datamap_failures(map_dir, tmp_path, capsys, no_network):
    for command in (["show"], ["plot"], ["select", "--region", "ambiguous", "--fraction", "0.5"]):
        assert_one_line_error(["datamap", command[0], tmp_path / "missing", *command[1:]], capsys, "does not exist")
        assert_one_line_error(["datamap", command[0], tmp_path, *command[1:]], capsys, "data_map.parquet")
    (tmp_path / "f.txt").write_text("x")
    assert_one_line_error(["datamap", "show", tmp_path / "f.txt"], capsys, "is a file")
    assert_one_line_error(["datamap", "show", "./not/here"], capsys, "does not exist")
    assert_one_line_error(["datamap", "plot", map_dir, "--epochs", "4"], capsys, "--epochs 4", "3 epochs")
    assert_one_line_error(["datamap", "plot", map_dir, "--epochs", "0"], capsys, "--epochs")
    assert_one_line_error(["datamap", "plot", map_dir, "-o", tmp_path / "map.jpg"], capsys, ".png or .pdf")
    assert_one_line_error(["datamap", "plot", map_dir, "-o", tmp_path / "no" / "map.png"], capsys, "does not exist")
    assert_one_line_error(["datamap", "plot", map_dir, "-o", tmp_path], capsys, ".png or .pdf")
    assert_one_line_error(["datamap", "plot", map_dir, "--kind", "pie"], capsys, "invalid choice")
    select = ["datamap", "select", map_dir, "--region", "ambiguous"]
    assert_one_line_error(select + ["--fraction", "0"], capsys, "--fraction", "(0, 1]")
    assert_one_line_error(select + ["--fraction", "1.5"], capsys, "--fraction")
    assert_one_line_error(select + ["--fraction", "half"], capsys, "invalid float")
    assert_one_line_error(["datamap", "select", map_dir, "--fraction", "0.5"], capsys, "--region")
    assert_one_line_error(select + ["--fraction", "0.5", "--epochs", "5"], capsys, "--epochs 5")
    assert_one_line_error(select + ["--fraction", "0.5", "-o", tmp_path / "no" / "ids.json"], capsys, "does not exist")
    assert list((tmp_path).glob("*.png")) == []


def test_mask_and_demo_failures(minilm_path, tmp_path, capsys):
    mask = ["mask", "a dog", "--tokenizer"]
    assert_one_line_error(mask + [tmp_path / "missing"], capsys, "--tokenizer", "not a folder")
    assert_one_line_error(mask + [minilm_path, "--mlm-probability", "2"], capsys, "(0, 1]")
    assert_one_line_error(mask + [minilm_path, "--samples", "0"], capsys, "--samples")
    assert_one_line_error(mask + [minilm_path, "--concreteness", tmp_path / "norms.csv"], capsys, "does not exist")
    assert_one_line_error(mask + [minilm_path, "--strategy", "verbs"], capsys, "invalid choice")
    assert_one_line_error(["mask", "--tokenizer", minilm_path], capsys, "CAPTIONS")
    for flag in ("--train-size", "--eval-size", "--epochs", "--max-length"):
        assert_one_line_error(["demo", flag, "0", "--output-dir", tmp_path / "demo"], capsys, flag)
    (tmp_path / "a_file").write_text("x")
    assert_one_line_error(["demo", "--output-dir", tmp_path / "a_file"], capsys, "is a file")
    assert_one_line_error(["demo", "--precision", "fp16", "--output-dir", tmp_path / "demo"], capsys, "invalid choice")
    assert not (tmp_path / "demo").exists()
    assert_one_line_error(["no-such-command"], capsys, "invalid choice")


@pytest.mark.slow  # a fresh Python process
def test_console_script_exit_code(tmp_path):
    """The installed entry point: one line on stderr and exit status 2 in a real process."""
    result = subprocess.run(
        [sys.executable, "-m", "hf_notlike.cli", "datamap", "show", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"hf-notlike datamap show: error: MAP_DIR {str(tmp_path / 'missing')!r} does not exist: no such folder "
        f"({str(tmp_path)!r} has no entry of that name). Check the path; a Hub repo id is written `owner/name`, "
        "without a leading `.`, `/` or `~`. (MAP_DIR is a folder written by `DataMap.save_pretrained`, or a Hub "
        "dataset repo id.)"
    ]


def test_a_command_is_a_dataclass_and_a_function(capsys):
    """How a part adds a sub-command (hf_notlike.cli_utils): the parser comes from the dataclass alone."""
    from dataclasses import dataclass, field

    from hf_notlike.cli_utils import Command, CommandGroup, UsageError, build_parser, check_positive, parse_command

    @dataclass
    class GreetArguments:
        names: list[str] = field(metadata={"positional": True, "help": "who to greet"})
        times: int = field(default=1, metadata={"help": "how often"})
        shout: bool = field(default=False, metadata={"help": "in capitals"})

        def __post_init__(self):
            check_positive(self.times, "--times")

    def greet(args: GreetArguments) -> int:
        text = " ".join(f"hello {name}" for name in args.names * args.times)
        print(text.upper() if args.shout else text)
        return 0

    parser = build_parser("prog", "test", [CommandGroup("say", help="say things"),
                                            Command("say greet", GreetArguments, greet, help="greet")], "0")
    command, options, leaf = parse_command(parser, ["say", "greet", "ann", "bob", "--times", "2", "--shout"])
    assert options == GreetArguments(names=["ann", "bob"], times=2, shout=True) and leaf.prog == "prog say greet"
    assert command.run(options) == 0
    assert capsys.readouterr().out == "HELLO ANN HELLO BOB HELLO ANN HELLO BOB\n"
    help_text = leaf.format_help()
    assert "how often (default: 1)" in help_text and "--shout" in help_text and "NAMES" in help_text
    with pytest.raises(UsageError, match="--times must be a positive number"):
        parse_command(parser, ["say", "greet", "ann", "--times", "0"])
    with pytest.raises(ValueError, match="Register the command group"):
        build_parser("prog", "test", [Command("say greet", GreetArguments, greet, help="greet")], "0")


def test_datamap_select_class_balanced(tmp_path, capsys):
    """`--class-balanced` keeps the class proportions (easiest 3 of 6: two of class 0, one of class 1); a map saved
    without labels gives a one-line error."""
    gold = np.array([[0.9, 0.9], [0.8, 0.9], [0.7, 0.6], [0.2, 0.3], [0.95, 0.9], [0.99, 0.99]])
    labels = np.array([0, 0, 0, 0, 1, 1])
    folder = DataMap(gold, gold > 0.5, labels=labels).save_pretrained(tmp_path / "map", card=False, plot=False)
    argv = ["datamap", "select", str(folder), "--region", "easy_to_learn", "--fraction", "0.5"]
    assert main(argv) == 0
    assert sorted(int(i) for i in capsys.readouterr().out.split()) == [0, 4, 5]  # the 3 most confident
    assert main(argv + ["--class-balanced"]) == 0
    assert sorted(int(i) for i in capsys.readouterr().out.split()) == [0, 1, 5]
    plain = DataMap(gold, gold > 0.5).save_pretrained(tmp_path / "plain", card=False, plot=False)
    assert_one_line_error(["datamap", "select", plain, "--region", "easy_to_learn", "--fraction", "0.5",
                           "--class-balanced"], capsys, "label")


def test_early_exit_thresholds_command_saves_per_exit_thresholds(model_dir, data_csv, tmp_path, capsys, no_network):
    model, data = str(model_dir), str(data_csv)
    base = ["early-exit", "thresholds", model, "--data", data]
    assert_one_line_error(base + ["--max-accuracy-drop", "1.5"], capsys, "--max-accuracy-drop")
    assert_one_line_error(base + ["--margin", "-0.1"], capsys, "--margin")
    assert_one_line_error(base + ["--confidence", "1"], capsys, "--confidence")
    assert_one_line_error(base + ["--reference-accuracy", "1.01", "--max-accuracy-drop", "0"], capsys,
                          "--reference-accuracy")
    # an unreachable target shows only after the all-exits pass (progress bars above it), still one error line
    code, err = run(base + ["--reference-accuracy", "1.0", "--max-accuracy-drop", "0", "--output-dir",
                            tmp_path / "never"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "error:" in err.splitlines()[-1] and "even the full model reaches only" in err.splitlines()[-1]
    assert not (tmp_path / "never").exists()
    out = tmp_path / "out"
    code, err = run(base + ["--max-accuracy-drop", "0.5", "--margin", "0.1", "--output-dir", out], capsys)
    assert code == 0, err
    saved = json.loads((out / "config.json").read_text())
    choice = json.loads((out / "thresholds.json").read_text())
    assert saved["exit_thresholds"] == choice["thresholds"] and len(choice["thresholds"]) == 2
    assert choice["target_accuracy"] == pytest.approx(choice["reference_accuracy"] - 0.4)
    assert choice["mean_layers"] <= choice["global_mean_layers"]
    assert (out / "tokenizer.json").is_file()
    code, err = run(base + ["--global-threshold", "--confidence", "0.9", "--output-dir", tmp_path / "global"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "global" / "config.json").read_text())
    assert saved["exit_thresholds"] is None
    choice = json.loads((tmp_path / "global" / "thresholds.json").read_text())
    assert saved["exit_threshold"] == choice["global_threshold"]
    assert choice["info"]["confidence"] == 0.9 and choice["info"]["bootstrap_lower_bound"] >= choice["target_accuracy"]
    # a reference below the full model's accuracy is raised to it, unless --reference-alone
    for flags, name in (([], "low"), (["--reference-alone"], "alone")):
        code, err = run(base + ["--reference-accuracy", "0", "--max-accuracy-drop", "0.1", "--output-dir",
                                tmp_path / name] + flags, capsys)
        assert code == 0, err
    low, alone = (json.loads((tmp_path / name / "thresholds.json").read_text()) for name in ("low", "alone"))
    assert low["reference_accuracy"] == low["info"]["full_accuracy"] > 0
    assert low["target_accuracy"] == pytest.approx(low["info"]["full_accuracy"] - 0.1)
    assert alone["reference_accuracy"] == 0 and alone["target_accuracy"] == pytest.approx(-0.1)
