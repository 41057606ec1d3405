"""Tests of gatebook.capture.params: config files, argv, config objects, layering."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.capture.argv import config_file_artifacts, layout, python_config_files
from gatebook.capture.params import (
    argv_options,
    load_config_file,
    merge_params,
    params_from_argv,
    params_from_object,
    parse_value,
)
from gatebook.errors import ConfigError
from gatebook.serialize import flatten

NESTED = {"optim": {"lr": 0.001, "betas": [0.9, 0.99]}, "model": {"depth": 4, "act": "gelu"},
          "seed": 7}
FLAT = {"optim.lr": 0.001, "optim.betas": [0.9, 0.99], "model.depth": 4, "model.act": "gelu",
        "seed": 7}

CONFIG_TEXTS = {
    "config.yaml": "optim:\n  lr: 0.001\n  betas: [0.9, 0.99]\nmodel:\n  depth: 4\n  act: gelu\n"
                   "seed: 7\n",
    "config.yml": "optim: {lr: 0.001, betas: [0.9, 0.99]}\nmodel: {depth: 4, act: gelu}\nseed: 7\n",
    "config.json": '{"optim": {"lr": 0.001, "betas": [0.9, 0.99]},\n'
                   ' "model": {"depth": 4, "act": "gelu"}, "seed": 7}\n',
    "config.toml": "seed = 7\n[optim]\nlr = 0.001\nbetas = [0.9, 0.99]\n"
                   "[model]\ndepth = 4\nact = \"gelu\"\n",
    "config.cfg": "optim:\n  lr: 0.001\n  betas: [0.9, 0.99]\nmodel: {depth: 4, act: gelu}\n"
                  "seed: 7\n",
}


# -- load_config_file -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIG_TEXTS))
def test_each_format_loads_and_flattens(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(CONFIG_TEXTS[name])
    data = load_config_file(path)
    assert data == NESTED
    assert params_from_object(data) == FLAT


def test_accepts_str_paths_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert load_config_file(str(path)) == {"a": 1}


def test_empty_yaml_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert load_config_file(path) == {}


@pytest.mark.parametrize(("name", "text", "line"), [
    ("bad.yaml", "a: 1\nb: 2\nc: d: e\n", 3),
    ("bad.yml", "a:\n  - 1\n - 2\n", 3),
    ("bad.json", '{\n  "a": 1,\n  "b": \n}\n', 4),
    ("bad.json", '{"a": 1,}', 1),
    ("bad.toml", "a = 1\nb = 2\nc == 3\n", 3),
    ("bad.toml", "[table]\nx = [1, 2\n", 2),  # at end of document: the last line
])
def test_malformed_files_name_file_and_line(tmp_path: Path, name: str, text: str,
                                            line: int) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert name in message
    assert re.search(rf"{re.escape(name)}:{line}(:\d+)?: \S", message), message


def test_yaml_error_message_has_line_column_and_parser_text(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\nb: 2\nc: d: e\n")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.message == f"{path}:3:5: mapping values are not allowed here"
    assert info.value.hint


def test_control_character_in_yaml_gives_its_position(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("a: 1\nb: \x00\n")
    with pytest.raises(ConfigError, match=r"config\.yaml:2:4: unacceptable character #x0000"):
        load_config_file(path)


def test_unknown_extension_errors_say_it_was_read_as_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.conf"
    path.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="read as YAML"):
        load_config_file(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert info.value.message == f"config file {path} not found"
    assert info.value.hint


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config_file(tmp_path)


@pytest.mark.parametrize(("name", "text"), [
    ("list.yaml", "- 1\n- 2\n"),
    ("scalar.yaml", "just text\n"),
    ("list.json", "[1, 2]"),
    ("null.json", "null"),
])
def test_top_level_must_be_a_mapping(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config_file(path)


# -- params_from_argv -------------------------------------------------------------------------


def test_params_from_argv_full_example() -> None:
    argv = ["python", "train.py", "--lr", "1e-3", "--epochs=5", "--checkpoint-path", "v2.pth",
            "--fp16", "--name", "run1", "--offset", "-1", "--", "--ignored", "1"]
    assert params_from_argv(argv) == {
        "lr": 0.001, "epochs": 5, "checkpoint_path": "v2.pth", "fp16": True, "name": "run1",
        "offset": -1,
    }


@pytest.mark.parametrize(("argv", "expected"), [
    (["prog"], {}),
    ([], {}),
    (["prog", "--flag"], {"flag": True}),
    (["prog", "--a", "--b", "2"], {"a": True, "b": 2}),
    (["prog", "--no-cache"], {"no_cache": True}),
    (["prog", "--x", "1", "--x", "2"], {"x": 2}),
    (["prog", "-v", "-n", "3", "pos", "--k", "v"], {"k": "v"}),
    (["prog", "--a", "-v"], {"a": True}),
    (["prog", "--t", "TRUE", "--f", "false", "--n", "None", "--m", "null"],
     {"t": True, "f": False, "n": None, "m": None}),
    (["prog", "--f", "-1.5e-3", "--g", ".5", "--h", "3."], {"f": -0.0015, "g": 0.5, "h": 3.0}),
    (["prog", "--v", "1_000", "--w", "nan", "--u", "0x10"],
     {"v": "1_000", "w": "nan", "u": "0x10"}),
    (["prog", "--eq=a=b", "--empty="], {"eq": "a=b", "empty": ""}),
    (["prog", "--optim.lr", "0.1"], {"optim.lr": 0.1}),
    (["prog", "--input", "-"], {"input": "-"}),
    (["prog", "--", "--a", "1"], {}),
    (["prog", "--=x", "---", "--"], {}),
])
def test_params_from_argv_cases(argv: list[str], expected: dict[str, object]) -> None:
    assert params_from_argv(argv) == expected


@pytest.mark.parametrize(("text", "value"), [
    ("3", 3), ("-3", -3), ("+3", 3), ("1e-3", 0.001), ("2.5", 2.5), ("True", True),
    ("FALSE", False), ("NULL", None), ("none", None), ("hello", "hello"), ("", ""),
])
def test_parse_value(text: str, value: object) -> None:
    result = parse_value(text)
    assert result == value and type(result) is type(value)


@given(st.lists(st.text()))
def test_params_from_argv_never_raises(argv: list[str]) -> None:
    result = params_from_argv(argv)
    assert isinstance(result, dict)
    assert all(isinstance(key, str) and key and not key.startswith("-") for key in result)


# -- Hydra-style overrides, interpreters, positional config files ------------------------------


HYDRA_ARGV = ["python", "train.py", "optimizer=adam", "optimizer.lr=0.01", "+trainer.max_epochs=5", "++seed=42",
              "~model.dropout", "hydra.run.dir=outputs/x", "model.layers=[1,2,3]", "name='0.1'",
              "+db@backup=mysql", "data/train=imagenet"]


def test_hydra_argv_becomes_params() -> None:
    assert params_from_argv(HYDRA_ARGV) == {
        "optimizer": "adam", "optimizer.lr": 0.01, "trainer.max_epochs": 5, "seed": 42,
        "model.dropout": None,  # ~key: Hydra's delete
        "hydra.run.dir": "outputs/x", "model.layers": "[1,2,3]",  # lists stay strings
        "name": "0.1",  # a quoted value is a string
        "db@backup": "mysql", "data/train": "imagenet",
    }


def test_hydra_overrides_and_options_mix() -> None:
    argv = ["python", "-u", "train.py", "--lr=3e-4", "trainer.devices=2", "--name", "a=b", "~x=1", "plain.txt",
            "--", "after=1"]
    assert params_from_argv(argv) == {"lr": 0.0003, "trainer.devices": 2, "name": "a=b", "x": None}
    # the placeholder values of preflight: text as typed, deletions left out
    assert argv_options(argv) == [("lr", "3e-4"), ("trainer.devices", "2"), ("name", "a=b")]


@pytest.mark.parametrize(("argv", "expected"), [
    (["python", "-X", "frozen_modules=off", "train.py", "a=1"], {"a": 1}),
    (["python", "-Xdev", "-W", "ignore", "-u", "train.py", "--b", "2"], {"b": 2}),
    (["python", "-uB", "-m", "pkg.train", "lr=0.1", "--epochs", "3"], {"lr": 0.1, "epochs": 3}),
    (["python3.11", "-mpkg", "k=v"], {"k": "v"}),
    (["python", "-c", "import sys; x=1", "arg=2"], {"arg": 2}),
    (["python", "--check-hash-based-pycs", "always", "t.py", "k=1"], {"k": 1}),
    (["bash", "-c", "x=1 python train.py --lr 2"], {}),
    (["torchrun", "--nproc_per_node", "2", "train.py", "lr=0.5"], {"nproc_per_node": 2, "lr": 0.5}),
    (["./train.sh", "+a.b=true", "~c"], {"a.b": True, "c": None}),
    (["prog", "=1", "+=2", "~", "1a=2", "a..b=1", "~a="], {"a": None}),
])
def test_interpreter_options_are_not_params(argv: list[str], expected: dict[str, object]) -> None:
    assert params_from_argv(argv) == expected


@pytest.mark.parametrize(("argv", "script", "args"), [
    (["python", "train.py", "x"], 1, 2),
    (["python", "-u", "-X", "dev", "train.py"], 4, 5),
    (["python", "-m", "pkg", "a"], 2, 3),
    (["python", "-um", "pkg"], 2, 3),
    (["python"], None, 1),
    (["bash", "-ec", "echo hi", "zero"], 2, 3),
    (["bash", "run.sh", "a=1"], 1, 2),
    (["torchrun", "train.py"], None, 1),
])
def test_layout(argv: list[str], script: int | None, args: int) -> None:
    lay = layout(argv)
    assert (lay.script, lay.args) == (script, args)


def test_python_config_files_are_positional_py_files_after_the_script(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    for name in ("train.py", "config/small.py", "other.py"):
        (tmp_path / name).write_text("lr = 3e-4\n")
    argv = ["python", "train.py", "config/small.py", "--lr=3e-4", "missing.py", "--cfg", "other.py", "data.txt"]
    assert [(i, p.relative_to(tmp_path).as_posix()) for i, p in python_config_files(argv, tmp_path)] == [
        (2, "config/small.py")]  # the script, a missing file and an option's value are not config files
    assert [i for i, _ in python_config_files(["torchrun", "train.py", "other.py"], tmp_path)] == [2]
    assert [i for i, _ in python_config_files([str(tmp_path / "train.py"), "other.py"], tmp_path)] == [1]
    assert python_config_files(["python", "-m", "pkg", "config/small.py"], tmp_path)[0][0] == 3
    rows = config_file_artifacts("r1", argv, tmp_path)
    assert [(r.path, r.kind, r.size) for r in rows] == [("config/small.py", "config", 10)]
    assert rows[0].sha256 == hashlib.sha256(b"lr = 3e-4\n").hexdigest()


# -- params_from_object / merge_params --------------------------------------------------------


@dataclasses.dataclass
class Optim:
    lr: float = 0.001
    betas: tuple[float, float] = (0.9, 0.99)


@dataclasses.dataclass
class TrainConfig:
    optim: Optim = dataclasses.field(default_factory=Optim)
    out: Path = Path("runs/x")
    seed: int = 7


def test_params_from_dict_and_none() -> None:
    assert params_from_object(NESTED) == FLAT
    assert params_from_object(None) == {}
    assert params_from_object({"empty": {}}) == {"empty": {}}


def test_params_from_namespace() -> None:
    ns = argparse.Namespace(lr=0.1, out=Path("o"), tags={"b", "a"})
    assert params_from_object(ns) == {"lr": 0.1, "out": "o", "tags": ["a", "b"]}


def test_params_from_dataclass() -> None:
    assert params_from_object(TrainConfig()) == {
        "optim.lr": 0.001, "optim.betas": [0.9, 0.99], "out": "runs/x", "seed": 7,
    }


def test_params_from_pydantic() -> None:
    from pydantic import BaseModel

    class Model(BaseModel):
        depth: int = 4
        act: str = "gelu"

    class Config(BaseModel):
        model: Model = Model()
        seed: int = 7

    assert params_from_object(Config()) == {"model.depth": 4, "model.act": "gelu", "seed": 7}


def test_params_from_omegaconf() -> None:
    from omegaconf import OmegaConf

    conf = OmegaConf.create({"optim": {"lr": 0.001, "betas": [0.9, 0.99]},
                             "model": {"depth": 4, "act": "gelu"}, "seed": 7,
                             "alias": "${model.act}"})
    assert params_from_object(conf) == {**FLAT, "alias": "gelu"}


def test_merge_params_later_layers_win() -> None:
    file_layer = {"optim": {"lr": 0.1, "wd": 0.0}, "epochs": 3}
    argv_layer = params_from_argv(["train.py", "--optim.lr", "0.01", "--epochs=5"])
    assert merge_params(file_layer, argv_layer) == {"optim.lr": 0.01, "optim.wd": 0.0,
                                                     "epochs": 5}
    assert merge_params() == {}


def test_merge_params_resolves_subtree_conflicts() -> None:
    assert merge_params({"optim": {"lr": 1, "wd": 0}}, {"optim": "adam"}) == {"optim": "adam"}
    assert merge_params({"optim": "adam"}, {"optim": {"lr": 1}}) == {"optim.lr": 1}
    assert merge_params({"a.b": 1}, argparse.Namespace(c=2)) == {"a.b": 1, "c": 2}


# -- flatten round trip -----------------------------------------------------------------------

_keys = st.text(alphabet=st.characters(blacklist_characters=".", blacklist_categories=("Cs",)),
                min_size=1, max_size=8)
_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=10) | st.lists(
    st.integers(), max_size=3)
_trees = st.recursive(_leaves, lambda children: st.dictionaries(_keys, children, max_size=4),
                      max_leaves=20)


def unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``flatten`` for keys without dots."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, last = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


@given(st.dictionaries(_keys, _trees, max_size=5))
def test_flatten_round_trips_leaf_values(data: dict[str, Any]) -> None:
    flat = flatten(data)
    assert unflatten(flat) == data
    assert all(not isinstance(v, dict) or v == {} for v in flat.values())
    assert params_from_object(data) == flat
