"""Intended vs reported: which reported values disagree with what the command asked for."""

from __future__ import annotations

import pytest

from gatebook.analysis.intended import compared_keys, find_mismatches, same_value, warning_lines


def test_the_seed_case_ignored_checkpoint_path() -> None:
    by_source = {
        "argv": {"checkpoint_path": "models/outputs/v2.pth", "batch_size": 32},
        "api": {"checkpoint_path": "models/outputs/full80.pth", "batch_size": 32, "device": "cpu"},
    }
    found = find_mismatches(by_source)
    assert [m.to_dict() for m in found] == [{"key": "checkpoint_path", "intended": "models/outputs/v2.pth",
                                            "reported": "models/outputs/full80.pth", "source": "argv"}]
    assert warning_lines(found) == [
        "the command asked for checkpoint_path=models/outputs/v2.pth, the run reported models/outputs/full80.pth"]
    assert compared_keys(by_source) == ["batch_size", "checkpoint_path"]


def test_nothing_reported_or_nothing_shared_is_no_mismatch() -> None:
    assert find_mismatches({"argv": {"lr": 0.1}}) == []
    assert find_mismatches({"argv": {"lr": 0.1}, "api": {"epochs": 3}}) == []
    assert find_mismatches({}) == []


def test_dash_and_underscore_keys_match() -> None:
    found = find_mismatches({"config": {"checkpoint-path": "a/v2.pth"}, "api": {"checkpoint_path": "a/v1.pth"}})
    assert len(found) == 1 and found[0].key == "checkpoint-path" and found[0].reported_key == "checkpoint_path"
    assert found[0].source == "config"
    assert found[0].message().startswith("the config file asked for checkpoint-path=a/v2.pth")


def test_command_line_overrides_config_file() -> None:
    # the command line changed lr on purpose; the code honours the command line
    by_source = {"config": {"lr": 0.1, "epochs": 10}, "argv": {"lr": 0.2}, "api": {"lr": 0.2, "epochs": 5}}
    found = find_mismatches(by_source)
    assert [(m.key, m.intended, m.reported, m.source) for m in found] == [("epochs", 10, 5, "config")]


@pytest.mark.parametrize("intended, reported", [
    (0.001, 0.001),
    (0.001, "0.001"),                     # argparse without type=: a string
    ("1e-3", 0.001),
    (0.1, 0.10000000149011612),           # a float32 round trip
    (3, 3.0),
    (True, True),
    (True, 1),
    (False, "false"),
    (None, "None"),
    ("Adam", "adam"),                     # case of a plain word
    (" sgd ", "sgd"),
    ("./models/v2.pth", "models/v2.pth"),
    ("models//outputs/./v2.pth", "models/outputs/v2.pth"),
    ("models/outputs/", "models/outputs"),
    ("v2.pth", "models/outputs/v2.pth"),   # a basename joined to a directory by the code
    ("models/outputs/v2.pth", "v2.pth"),   # the code reported only the basename
    ("outputs/v2.pth", "/data/models/outputs/v2.pth"),
    ("models/v2.pth", "/proj/models/v2.pth"),  # resolved against the run's cwd
    ("../ckpt/v2.pth", "/ckpt/v2.pth"),
    ("~/ckpt/v2.pth", "~/ckpt/v2.pth"),
    ([1, 2, 3], [1, 2, 3]),
    (1, [1, 2, 3]),                        # --layers 1 2 3 is recorded from argv as layers=1
    (True, "auto"),                        # a bare --flag the code filled in: not comparable
])
def test_equal_values(intended: object, reported: object) -> None:
    assert same_value(intended, reported, cwd="/proj")


@pytest.mark.parametrize("intended, reported", [
    ("models/outputs/v2.pth", "models/outputs/full80.pth"),
    ("v2.pth", "full80.pth"),
    ("v2.pth", "models/outputs/full80.pth"),
    ("runs/a/best.pth", "runs/b/best.pth"),
    ("models/v2.pth", "/elsewhere/models/v1.pth"),
    ("/abs/a/v2.pth", "/abs/b/v2.pth"),
    (0.001, 0.002),
    (0.1, 0.1001),
    (10, 5),
    (True, False),
    (False, 1),
    ("adam", "sgd"),
    (None, 0),
    ("x", None),
    ([1, 2, 3], [1, 2]),
    ([1, 2], [1, 3]),
    (2, [1, 2, 3]),
    (float("nan"), 1.0),
])
def test_different_values(intended: object, reported: object) -> None:
    assert not same_value(intended, reported, cwd="/proj")


def test_nan_equals_nan() -> None:
    assert same_value(float("nan"), "nan")


def test_relative_vs_absolute_uses_the_run_cwd() -> None:
    by_source = {"argv": {"data": "data/train"}, "api": {"data": "/proj/data/train"}}
    assert find_mismatches(by_source, cwd="/proj") == []
    by_source = {"argv": {"data": "data/train"}, "api": {"data": "/proj/data/val"}}
    assert [m.key for m in find_mismatches(by_source, cwd="/proj")] == ["data"]


def test_windows_paths() -> None:
    assert same_value("models\\v2.pth", "models\\v2.pth")
    assert not same_value("models\\v2.pth", "models\\full80.pth")


def test_mismatches_are_sorted_and_non_string_values_are_json_in_messages() -> None:
    by_source = {"argv": {"z": 1, "a": [1, 2], "m": True},
                 "api": {"z": 2, "a": [3, 4], "m": False}}
    found = find_mismatches(by_source)
    assert [m.key for m in found] == ["a", "m", "z"]
    assert warning_lines(found) == ["the command asked for a=[1, 2], the run reported [3, 4]",
                                    "the command asked for m=true, the run reported false",
                                    "the command asked for z=1, the run reported 2"]


def test_hydra_overrides_against_the_resolved_config() -> None:
    from gatebook.capture.params import params_from_argv, params_from_object

    argv = params_from_argv(["python", "train.py", "optimizer=adam", "optimizer.lr=0.01", "+trainer.max_epochs=5",
                             "~model.dropout", "hydra.run.dir=outputs/x"])
    resolved = params_from_object({"optimizer": {"_target_": "torch.optim.Adam", "lr": 0.01},
                                   "trainer": {"max_epochs": 5}, "model": {"depth": 4}})
    assert find_mismatches({"argv": argv, "api": resolved}) == []  # a group choice and a deletion honoured
    still = find_mismatches({"argv": argv, "api": {**resolved, "model.dropout": 0.1, "trainer.max_epochs": 3}})
    assert [(m.key, m.intended, m.reported) for m in still] == [("model.dropout", None, 0.1),
                                                                 ("trainer.max_epochs", 5, 3)]


def test_redacted_secrets_are_never_compared() -> None:
    found = find_mismatches({"argv": {"hf_token": "***", "lr": 0.1}, "api": {"hf_token": "hf_real", "lr": 0.1}})
    assert found == []
    assert find_mismatches({"argv": {"password": "pw"}, "api": {"password": "***"}}) == []
