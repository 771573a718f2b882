"""Errors that name the real problem: a mistyped local folder is "no such folder" with the close names (never a Hub
problem), integer labels and ids of any dtype work, and calibrating a stock classifier names every early-exit class
and `early_exit_from_classifier`."""

import os

import datasets
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_notlike import calibrate_temperatures, early_exit_from_classifier
from hf_notlike.cartography import DataMap
from hf_notlike.cli import main
from hf_notlike.early_exit import EARLY_EXIT_MODELS
from hf_notlike.paths import LocalFolderNotFoundError, check_local_or_hub, looks_like_local_path

# ------------------------------------------------------------------------------------- local folder or Hub id


@pytest.mark.parametrize(
    ("name", "is_path"),
    [("./typo", True), ("~/models/x", True), ("/no/such/dir", True), ("a/b/c", True), ("a\\b", True),
     ("me/my-map", False), ("bert-base-uncased", False), ("has space", True), ("../up", True)],
)
def test_looks_like_local_path(name, is_path):
    assert looks_like_local_path(name) is is_path


def test_parent_folder_that_exists_makes_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_map").mkdir()
    assert looks_like_local_path("my_map/typo") and not looks_like_local_path("other/typo")


def test_early_exit_from_classifier_on_a_missing_folder(tmp_path, no_network, stock_classifier):
    with pytest.raises(LocalFolderNotFoundError, match="'/no/such/dir' does not exist: no such classifier folder") as info:
        early_exit_from_classifier("/no/such/dir")
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    stock_classifier("bert", tmp_path / "classifier")
    with pytest.raises(LocalFolderNotFoundError, match="Did you mean '.*classifier'"):
        early_exit_from_classifier(str(tmp_path / "classifer"))
    with pytest.raises(LocalFolderNotFoundError, match="no such model folder"):
        EARLY_EXIT_MODELS["bert"].from_pretrained(str(tmp_path / "classifer"))


def test_data_map_from_a_missing_folder(tmp_path, monkeypatch, no_network, map_dir):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LocalFolderNotFoundError, match="'./typo' does not exist: no such data-map folder"):
        DataMap.from_pretrained("./typo")
    with pytest.raises(ValueError, match="Did you mean './map'"):
        DataMap.from_pretrained("./mapp")
    with pytest.raises(ValueError, match="'map/dat_map' does not exist: no such data-map folder \\('map' has no entry"):
        DataMap.from_pretrained("map/dat_map")  # parent exists: a path, not a Hub id
    assert DataMap.from_pretrained("./map").num_examples == 4


def test_datamap_cli_names_the_missing_folder(tmp_path, monkeypatch, capsys, no_network, map_dir):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "map" / "run1").mkdir()
    assert main(["datamap", "plot", "map/run2"]) == 2
    err = capsys.readouterr().err
    assert "'map/run2' does not exist: no such folder" in err and "Did you mean 'map/run1'" in err and "Hub" not in err.split(".")[0]
    assert main(["datamap", "plot", "mapp/run1"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'map/run1'" in err, err


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(alphabet="ab./~_-", min_size=1, max_size=8))
def test_check_local_or_hub_property(name, tmp_path_factory, no_network):
    folder = tmp_path_factory.mktemp("cwd")
    (folder / "ab").mkdir()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        exists = os.path.exists(os.path.expanduser(name))
        try:
            result = check_local_or_hub(name)
        except LocalFolderNotFoundError as error:
            assert not exists and looks_like_local_path(name) and "no such folder" in str(error)
        else:
            if exists:
                assert result is not None and result.exists()
            else:  # a Hub id: owner/name form, no parent folder here
                assert result is None and not looks_like_local_path(name) and name.count("/") <= 1
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------------------------- integer dtypes


@given(dtype=st.sampled_from([torch.int64, torch.int32, torch.int16, torch.uint8]),
       ids_dtype=st.sampled_from([torch.int64, torch.int32, torch.int16]))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_integer_labels_and_ids_of_any_dtype(dtype, ids_dtype, early_exit_model, padded_batch):
    model = early_exit_model("bert")
    ids, mask = padded_batch(model)
    labels = torch.arange(ids.shape[0]) % 3
    with torch.no_grad():
        reference = model(ids, attention_mask=mask, labels=labels)
        out = model(ids.to(ids_dtype), attention_mask=mask, labels=labels.to(dtype),
                    token_type_ids=torch.zeros_like(ids, dtype=ids_dtype))
    torch.testing.assert_close(out.loss, reference.loss)
    torch.testing.assert_close(out.exit_logits, reference.exit_logits)


def test_float_labels_are_still_rejected_for_classification(early_exit_model, padded_batch):
    model = early_exit_model("bert")
    ids, mask = padded_batch(model)
    with pytest.raises(TypeError, match="integer class indices"):
        model(ids, attention_mask=mask, labels=torch.zeros(ids.shape[0]))


# ------------------------------------------------------------------------------- calibrating a stock model


def test_calibrating_a_stock_classifier_names_every_class_and_the_fix(tmp_path, stock_classifier):
    stock = stock_classifier("bert", tmp_path / "stock")
    data = datasets.Dataset.from_dict({"input_ids": [[2, 5, 3]] * 4, "label": [0, 1, 2, 0]})
    with pytest.raises(TypeError) as info:
        calibrate_temperatures(stock, data)
    message = str(info.value)
    assert all(cls.__name__ in message for cls in EARLY_EXIT_MODELS.values())
    assert "early_exit_from_classifier" in message and "`bert` classifier" in message
    with pytest.raises(TypeError, match="early_exit_from_classifier"):
        calibrate_temperatures(torch.nn.Linear(2, 2), data)
    assert np.isfinite(len(message))
