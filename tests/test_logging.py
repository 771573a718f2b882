"""One `hf_notlike` logger hierarchy (hf_notlike.logging): its setters govern every library module's messages, and
the main library calls write nothing to stdout (results are returned, rendered on request)."""

import ast
from pathlib import Path

import pytest

import hf_notlike
from hf_notlike import calibrate_temperatures, collect_exit_logits, speed_accuracy_curve
from hf_notlike.cartography import callback
from hf_notlike.early_exit import modeling, tradeoff

PACKAGE_DIR = Path(hf_notlike.__file__).parent
# modules that are command-line front ends or the demo: they may print
PRINTING_ALLOWED = {"cli.py", "demo.py", "commands.py", "add_exits.py"}


@pytest.fixture
def restore_verbosity():
    level = hf_notlike.logging.get_verbosity()
    yield
    hf_notlike.logging.set_verbosity(level)


def test_every_module_logger_is_in_the_hierarchy():
    for module in (modeling, tradeoff, callback):
        assert module.logger.name.startswith("hf_notlike."), module.logger.name
    assert hf_notlike.logging.get_logger("my_script").name == "hf_notlike.my_script"
    assert hf_notlike.logging.get_logger().name == "hf_notlike"


def test_setters_silence_and_raise_library_output(capsys, restore_verbosity):
    log = hf_notlike.logging
    assert log.get_verbosity() == log.WARNING  # the default
    modeling.logger.warning("a warning from the modeling module")
    modeling.logger.info("an info message")
    err = capsys.readouterr().err
    assert "a warning from the modeling module" in err and "an info message" not in err
    log.set_verbosity_error()
    assert log.get_verbosity() == log.ERROR
    modeling.logger.warning("silenced")
    callback.logger.warning("silenced too")
    assert capsys.readouterr().err == ""
    log.set_verbosity_info()
    tradeoff.logger.info("now shown")
    assert "now shown" in capsys.readouterr().err
    log.set_verbosity("debug")
    assert log.get_verbosity() == log.DEBUG
    log.set_verbosity_debug()
    log.set_verbosity_warning()
    assert log.get_verbosity() == log.WARNING
    with pytest.raises(ValueError, match="loud"):
        log.set_verbosity("loud")
    with pytest.raises(TypeError):
        log.set_verbosity(2.5)


def test_propagation_and_default_handler(caplog, capsys, restore_verbosity):
    log = hf_notlike.logging
    log.enable_propagation()
    log.disable_default_handler()
    try:
        modeling.logger.warning("routed to the root logger")
    finally:
        log.enable_default_handler()
        log.disable_propagation()
    assert "routed to the root logger" in caplog.text
    assert capsys.readouterr().err == ""


def test_no_print_in_library_code():
    found = []
    for path in PACKAGE_DIR.rglob("*.py"):
        if path.name in PRINTING_ALLOWED:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}")
    assert not found, f"print() in library code: {found}"


def test_main_functions_write_nothing_to_stdout(capsys, early_exit_model, token_dataset):
    model = early_exit_model(exit_layers=[1, 2, 4])
    data = token_dataset(24)
    exit_logits, labels = collect_exit_logits(model, data, show_progress=False)
    assert exit_logits.shape[0] == len(data)
    calibration = calibrate_temperatures(model, data, show_progress=False)
    result = speed_accuracy_curve(model, data, [0.5, 1.0], batch_sizes=(1,), num_timing_examples=4, repeats=1,
                                  stock_model=False, show_progress=False)
    assert capsys.readouterr().out == ""
    # rendered on request, once
    assert str(result).count("| model") == 1 and result.to_markdown() in str(result)
    assert str(calibration)


def test_print_table_is_deprecated_and_prints_nothing(capsys, early_exit_model, token_dataset):
    model = early_exit_model(exit_layers=[1, 4])
    with pytest.warns(FutureWarning, match="print_table"):
        speed_accuracy_curve(model, token_dataset(8), [1.0], batch_sizes=(), stock_model=False, print_table=True,
                             show_progress=False)
    assert capsys.readouterr().out == ""
