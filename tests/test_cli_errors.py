"""The command line's error boundary: what the user got wrong (an `HfNotlikeInputError`) is one line and exit code 2;
anything else (a bug inside a command) keeps its traceback and a non-2 exit status."""

import subprocess
import sys
import textwrap

import pytest

from hf_notlike.cartography import DataMap
from hf_notlike.cli import main
from hf_notlike.cli_utils import CommandError
from hf_notlike.errors import HfNotlikeFileNotFoundError, HfNotlikeInputError, HfNotlikeTypeError
from hf_notlike.hub import load_json_file


def test_error_classes_keep_the_builtin_contracts():
    assert issubclass(HfNotlikeInputError, ValueError)
    assert issubclass(HfNotlikeTypeError, HfNotlikeInputError) and issubclass(HfNotlikeTypeError, TypeError)
    assert issubclass(HfNotlikeFileNotFoundError, HfNotlikeInputError)
    assert issubclass(HfNotlikeFileNotFoundError, FileNotFoundError)
    assert issubclass(CommandError, HfNotlikeInputError)
    assert str(HfNotlikeFileNotFoundError("the file x does not exist")) == "the file x does not exist"


def test_library_input_checks_raise_the_input_error(map_dir):
    data_map = DataMap.from_pretrained(map_dir)
    with pytest.raises(HfNotlikeInputError, match="Unknown region"):
        data_map.select("nowhere", 0.5)
    with pytest.raises(HfNotlikeInputError, match="fraction"):
        data_map.select("ambiguous", 2.0)
    with pytest.raises(HfNotlikeInputError, match="no such data-map folder"):
        DataMap.from_pretrained(map_dir.parent / "missing")
    with pytest.raises(HfNotlikeFileNotFoundError, match="does not exist"):
        load_json_file(map_dir / "missing.json")
    (map_dir / "broken.json").write_text("{")
    with pytest.raises(HfNotlikeInputError, match="not valid JSON"):
        load_json_file(map_dir / "broken.json")


def test_bad_input_is_one_line_and_exit_2(map_dir, tmp_path, capsys):
    # found by the command's own checks
    assert main(["datamap", "show", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hf-notlike datamap show: error:") and "does not exist" in err[0]
    # found by the library, deep inside the command (the map has no labels)
    argv = ["datamap", "select", str(map_dir), "--region", "easy_to_learn", "--fraction", "0.5", "--class-balanced"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error:" in err[0] and "label" in err[0] and "Traceback" not in err[0]


@pytest.mark.parametrize("error", [HfNotlikeInputError, HfNotlikeTypeError, HfNotlikeFileNotFoundError])
def test_an_input_error_raised_anywhere_is_a_usage_error(error, map_dir, capsys, monkeypatch):
    def reject(self, *args, **kwargs):
        raise error("the rows have no   'text'\n column: pass text_column=")

    monkeypatch.setattr(DataMap, "to_pandas", reject)
    assert main(["datamap", "show", str(map_dir)]) == 2
    assert capsys.readouterr().err.strip() == ("hf-notlike datamap show: error: the rows have no 'text' column: pass "
                                               "text_column=")


@pytest.mark.parametrize("error", [ValueError, TypeError, OSError, KeyError])
def test_an_internal_bug_keeps_its_traceback(error, map_dir, capsys, monkeypatch):
    """A ValueError from a bug deep inside a command is not turned into a usage error."""

    def bug(self, *args, **kwargs):
        raise error("internal bug: shapes (3,) and (4,) do not broadcast")

    monkeypatch.setattr(DataMap, "to_pandas", bug)
    with pytest.raises(error, match="internal bug"):
        main(["datamap", "show", str(map_dir)])
    assert "error:" not in capsys.readouterr().err


@pytest.mark.slow  # a fresh Python process
def test_an_internal_bug_exits_1_with_a_traceback(map_dir):
    script = textwrap.dedent(f"""
        import sys
        from hf_notlike.cartography import DataMap
        from hf_notlike.cli import main

        def bug(self, *args, **kwargs):
            raise ValueError("internal bug: shapes (3,) and (4,) do not broadcast")

        DataMap.to_pandas = bug
        sys.exit(main(["datamap", "show", {str(map_dir)!r}]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "ValueError: internal bug" in result.stderr and "error: internal bug" not in result.stderr
