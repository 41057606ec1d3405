from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import enum
import json
import math
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatebook.serialize import Unserializable, flatten, format_number, json_safe_numbers, to_float, to_jsonable


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Opt:
    lr: float
    path: Path


def test_to_jsonable_handles_what_crashed_json_dump_in_the_seeds() -> None:
    data = {
        Path("ckpt"): np.int64(3),                       # a PosixPath key and an int64 value
        "arr": np.arange(3, dtype=np.float32),
        "when": dt.datetime(2026, 1, 2, 3, 4, 5),
        "day": dt.date(2026, 1, 2),
        "dur": dt.timedelta(seconds=90),
        "color": Color.RED,
        "set": {3, 1, 2},
        "dc": Opt(lr=0.1, path=PurePosixPath("/x")),
        "ns": argparse.Namespace(a=1, b=[Path("p")]),
        1: "int key",
        "nan": float("nan"),
        "bytes": b"ab",
    }
    out = to_jsonable(data)
    json.dumps(out)  # never raises
    assert out["ckpt"] == 3 and out["arr"] == [0.0, 1.0, 2.0]
    assert out["when"] == "2026-01-02T03:04:05" and out["dur"] == 90.0
    assert out["color"] == "red" and out["set"] == [1, 2, 3]
    assert out["dc"] == {"lr": 0.1, "path": "/x"} and out["ns"] == {"a": 1, "b": ["p"]}
    assert out["1"] == "int key" and math.isnan(out["nan"]) and out["bytes"] == "ab"


def test_pydantic_and_omegaconf_configs() -> None:
    from omegaconf import OmegaConf
    from pydantic import BaseModel

    class Model(BaseModel):
        lr: float = 0.1
        layers: list[int] = [1, 2]

    assert to_jsonable(Model()) == {"lr": 0.1, "layers": [1, 2]}
    conf = OmegaConf.create({"optim": {"lr": 0.01}, "ref": "${optim.lr}"})
    assert to_jsonable(conf) == {"optim": {"lr": 0.01}, "ref": 0.01}


def test_unknown_objects_become_repr_and_are_reported() -> None:
    class Weird:
        def __repr__(self) -> str:
            return "<weird>"

    seen: list[str] = []
    assert to_jsonable({"a": {"b": Weird()}}, on_error=lambda p, v: seen.append(p)) == {"a": {"b": "<weird>"}}
    assert seen == ["a.b"]

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert to_jsonable(Broken()) == "<unrepresentable Broken>"


def test_to_float_accepts_scalars_and_rejects_the_rest() -> None:
    assert to_float(1) == 1.0 and to_float(True) == 1.0 and to_float(np.float32(0.5)) == 0.5
    assert to_float(np.array(2.5)) == 2.5 and to_float(np.int64(4)) == 4.0
    assert math.isnan(to_float(float("nan"))) and to_float(float("-inf")) == float("-inf")
    assert to_float("0.25") == 0.25
    for bad in ("high", [1, 2], np.zeros(3), {"a": 1}, None):
        with pytest.raises(Unserializable):
            to_float(bad)


def test_torch_scalars_and_zero_d_tensors() -> None:
    import torch

    assert to_float(torch.tensor(0.5)) == 0.5
    assert to_float(torch.tensor([3])) == 3.0
    assert math.isnan(to_float(torch.tensor(float("nan"))))
    with pytest.raises(Unserializable):
        to_float(torch.zeros(2, 2))
    assert to_jsonable({"t": torch.tensor(1.5), "v": torch.arange(2)}) == {"t": 1.5, "v": [0, 1]}


def test_flatten_and_number_formatting() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "d": [1], "e": {}}) == {"a.b.c": 1, "d": [1], "e": {}}
    assert format_number(float("nan")) == "NaN" and format_number(float("inf")) == "inf"
    assert json_safe_numbers({"x": [float("nan"), float("-inf"), 1.0]}) == {"x": ["NaN", "-Infinity", 1.0]}


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())


@given(st.recursive(json_leaf, lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=20))
def test_json_data_round_trips_unchanged(value: object) -> None:
    assert to_jsonable(value) == value
