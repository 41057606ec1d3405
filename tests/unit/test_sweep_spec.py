"""Sweep files: the three forms load and expand; every problem is a one-line error naming
file, line and field; placeholders, literal braces, config copies; names stay unique."""

from __future__ import annotations

import json
import math
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gatebook.capture.params import parse_value
from gatebook.errors import ConfigError
from gatebook.sweep.space import format_value
from gatebook.sweep.spec import load_sweep, parse_sweep, validate_gates, write_trial_config

GRID = """\
name: lr-temp
command: python train.py --lr {lr} --temperature {temperature}
baseline: base            # a run name, id or alias
gates: [epoch2]
objective: val_acc        # ranked by its direction
parallel: 2
grid:
  lr: [0.001, 0.01, 10.0]
  temperature: [0.05, 0.07]
"""

LIST = """\
command: python train.py --context {context} --margin {margin} --lam {lam}
list:
  - {name: exp1-baseline, context: 5, margin: 0.07, lam: 0.8}
  - {name: exp2-anchor, context: 5, margin: 0.07, lam: 0.6}
"""

RANDOM = """\
command: python train.py --lr {lr} --dropout {dropout}
random:
  n: 8
  seed: 0
  space: {lr: {loguniform: [1.0e-4, 1.0e-1]}, dropout: {uniform: [0.0, 0.5]}}
"""


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_sweep(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the three forms ------------------------------------------------------------------------------


def test_grid_form(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, GRID))
    assert (spec.name, spec.baseline, spec.gates, spec.objective, spec.parallel, spec.mode) == \
        ("lr-temp", "base", ["epoch2"], "val_acc", 2, "grid")
    trials = spec.trials()
    assert [t.index for t in trials] == list(range(6))
    assert [t.params for t in trials] == [{"lr": lr, "temperature": t} for lr in (0.001, 0.01, 10.0)
                                          for t in (0.05, 0.07)]
    assert trials[0].argv == ["python", "train.py", "--lr", "0.001", "--temperature", "0.05"]
    assert trials[5].argv == ["python", "train.py", "--lr", "10.0", "--temperature", "0.07"]
    assert [t.name for t in trials] == ["lr-0.001_temperature-0.05", "lr-0.001_temperature-0.07",
                                        "lr-0.01_temperature-0.05", "lr-0.01_temperature-0.07",
                                        "lr-10_temperature-0.05", "lr-10_temperature-0.07"]
    assert all(t.config_overrides == {} and t.config_path is None for t in trials)


def test_list_form_default_name_is_the_stem(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, LIST, "ablation.yaml"))
    assert spec.name == "ablation" and spec.mode == "list" and spec.parallel == 1
    trials = spec.trials()
    assert [t.name for t in trials] == ["exp1-baseline", "exp2-anchor"]
    assert trials[1].params == {"context": 5, "margin": 0.07, "lam": 0.6}
    assert trials[1].argv[-6:] == ["--context", "5", "--margin", "0.07", "--lam", "0.6"]


def test_list_items_without_name_get_one_from_the_params_that_vary(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """\
        command: python t.py --a {a} --b {b}
        list:
          - {a: 1, b: x}
          - {a: 2, b: x}
          - {name: special, a: 3, b: y}
        """))
    assert [t.name for t in spec.trials()] == ["a-1_b-x", "a-2_b-x", "special"]


def test_random_form_is_deterministic_and_in_range(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, RANDOM))
    trials = spec.trials()
    assert len(trials) == 8
    assert [t.params for t in trials] == [t.params for t in load_sweep(write(tmp_path, RANDOM, "b.yaml")).trials()]
    for t in trials:
        assert 1e-4 <= t.params["lr"] <= 1e-1 and 0.0 <= t.params["dropout"] <= 0.5
        assert t.argv[3] == format_value(t.params["lr"]) and parse_value(t.argv[3]) == t.params["lr"]
    assert len({t.name for t in trials}) == 8
    other = load_sweep(write(tmp_path, RANDOM.replace("seed: 0", "seed: 1"), "c.yaml")).trials()
    assert [t.params for t in other] != [t.params for t in trials]


def test_loguniform_spreads_over_decades(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """\
        command: python t.py --lr {lr}
        random: {n: 300, seed: 3, space: {lr: {loguniform: [1e-4, 1e-1]}}}
        """))  # 1e-4 without a dot is a number too (YAML 1.2)
    decades = [math.floor(math.log10(t.params["lr"])) for t in spec.trials()]
    counts = [decades.count(d) for d in (-4, -3, -2)]
    assert all(60 <= c <= 140 for c in counts), counts


def test_random_int_choice_and_fixed(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """\
        command: python t.py --layers {layers} --act {act} --epochs {epochs}
        random: {n: 6, space: {layers: {int: [2, 4]}, act: {choice: [relu, gelu]}, epochs: 10}}
        """))
    trials = spec.trials()
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6  # all 6 points, no repeat
    assert all(t.params["epochs"] == 10 and "epochs" not in t.name for t in trials)
    assert {t.params["layers"] for t in trials} == {2, 3, 4}


def test_fingerprint_is_stable_and_tells_trials_apart(tmp_path: Path) -> None:
    a = load_sweep(write(tmp_path, GRID))
    b = load_sweep(write(tmp_path, GRID.replace("parallel: 2", "parallel: 4"), "other.yaml"))
    prints = [a.fingerprint(t) for t in a.trials()]
    assert prints == [b.fingerprint(t) for t in b.trials()]
    assert len(set(prints)) == 6 and all(re.fullmatch(r"[0-9a-f]{16}", p) for p in prints)
    c = load_sweep(write(tmp_path, GRID.replace("train.py", "train2.py"), "c.yaml"))
    assert c.fingerprint(c.trials()[0]) != prints[0]


def test_optional_fields(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, GRID + 'gpus: "0,1"\ntags: [lr]\nprune: {median: {metric: val_loss}}\n'
                                             'resources: {cpus: 2, gpus: 0.5}\n'))
    assert spec.gpus == [0, 1] and spec.tags == ["lr"]
    assert (spec.resources.cpus, spec.resources.gpus) == (2, 0.5)
    default = load_sweep(write(tmp_path, GRID, "d.yaml")).resources
    assert (default.cpus, default.gpus) == (1, 0)
    assert spec.prune is not None and (spec.prune.median.metric, spec.prune.median.warmup,
                                       spec.prune.median.min_trials) == ("val_loss", 1, 3)


# -- command templates ----------------------------------------------------------------------------


def test_placeholder_in_quoted_argument_and_literal_braces(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """\
        command: >-
          python t.py --name "run {lr} x" --json '{{"lr": {lr}}}' --tag {name}
        grid: {lr: [0.0001, 1.0e-5, 3]}
        """))
    argv = spec.trials()[0].argv
    assert argv == ["python", "t.py", "--name", "run 0.0001 x", "--json", '{"lr": 0.0001}', "--tag", "lr-0.0001"]
    assert spec.trials()[1].argv[3] == "run 1e-5 x" and spec.trials()[2].argv[3] == "run 3 x"


def test_command_as_a_list(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, """\
        command: [python, t.py, "--msg=a b {x}"]
        grid: {x: [true, null, [1, 2]]}
        """))
    assert [t.argv[2] for t in spec.trials()] == ["--msg=a b true", "--msg=a b null", "--msg=a b [1, 2]"]


@pytest.mark.parametrize("value, text", [(0.001, "0.001"), (1e-4, "0.0001"), (1e-5, "1e-5"), (10.0, "10.0"),
                                         (3, "3"), (1e20, "1e20"), (-2.5e-7, "-2.5e-7"), (False, "false")])
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers())
def test_format_value_round_trips(value: float) -> None:
    assert parse_value(format_value(value)) == value
    assert type(parse_value(format_value(value))) is type(value)


# -- config copies --------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_config_override_form(tmp_path: Path, suffix: str) -> None:
    base = {"optim": {"lr": 0.1, "momentum": 0.9}, "layers": [64, 64], "epochs": 3}
    text = json.dumps(base) if suffix == ".json" else yaml.safe_dump(base)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / f"base{suffix}").write_text(text, encoding="utf-8")
    spec = load_sweep(write(tmp_path, f"""\
        command: python train.py --config {{config}} --seed {{seed}}
        config: configs/base{suffix}
        grid:
          optim.lr: [0.01, 0.001]
          layers.1: [32]
          seed: [1, 2]
        """))
    trials = spec.trials(config_dir=tmp_path / "out")
    assert len(trials) == 4
    t = trials[0]
    assert t.config_overrides == {"optim.lr": 0.01, "layers.1": 32}
    assert t.config_path == tmp_path / "out" / f"{t.name}{suffix}"
    assert t.argv == ["python", "train.py", "--config", str(t.config_path), "--seed", "1"]
    written = spec.write_config(t)
    assert written == t.config_path
    loaded = json.loads(written.read_text()) if suffix == ".json" else yaml.safe_load(written.read_text())
    assert loaded == {"optim": {"lr": 0.01, "momentum": 0.9}, "layers": [64, 32], "epochs": 3}
    # default folder: beside the sweep file
    assert spec.trials()[0].config_path == tmp_path / ".gatebook" / "sweeps" / "sweep" / "configs" / f"{t.name}{suffix}"


def test_write_trial_config_creates_sections(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("a: 1\nflat.key: 2\n", encoding="utf-8")
    dest = write_trial_config(base, {"b.c.d": 5, "flat.key": 3, "a": "x"}, tmp_path / "d" / "copy.json")
    assert json.loads(dest.read_text()) == {"a": "x", "flat.key": 3, "b": {"c": {"d": 5}}}
    assert yaml.safe_load(base.read_text()) == {"a": 1, "flat.key": 2}  # the base is untouched


# -- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, line, field, words", [
    ("command: python t.py --lr {lr} --x {x}\ngrid:\n  lr: [1]\n", 1, "command", "unknown placeholder {x}"),
    ("command: python t.py --lr {lr}\ngrid:\n  lr: [1]\n  wd: [2]\n", 4, "grid.wd", "'wd' is not used"),
    ("command: python t.py --lr {lr}\ngrid:\n  lr: []\n", 3, "grid.lr", "empty"),
    ("command: python t.py --lr {lr}\ngrid:\n  lr: [0.1, 0.1]\n", 3, "grid.lr", "appears twice"),
    ("command: python t.py --lr {lr}\ngrid: {}\n", 2, "grid", "empty"),
    ("command: python t.py --lr {lr}\nlist: []\n", 2, "list", "empty"),
    ("command: python t.py --lr {lr}\nrandom:\n  n: 0\n  space: {lr: {uniform: [0, 1]}}\n", 3, "random.n",
     "at least 1"),
    ("command: python t.py --lr {lr}\n", 1, "(top level)", "exactly one of grid, list, random, search (got none)"),
    ("command: python t.py --lr {lr}\ngrid: {lr: [1]}\nrandom: {n: 1, space: {lr: 1}}\n", 3, "random",
     "got grid, random"),
    ("command: python t.py --lr {lr}\nrandom:\n  n: 2\n  space:\n    lr: {uniform: [1, 1]}\n", 5,
     "random.space.lr", "lo must be below hi"),
    ("command: python t.py --lr {lr}\nrandom:\n  n: 2\n  space:\n    lr: {loguniform: [0, 1]}\n", 5,
     "random.space.lr", "lo must be > 0"),
    ("command: python t.py --lr {lr}\nrandom:\n  n: 2\n  space:\n    lr: {unifrom: [0, 1]}\n", 5,
     "random.space.lr", "unknown distribution"),
    ("command: python t.py --lr {lr}\nrandom:\n  n: 5\n  space:\n    lr: {choice: [1, 2]}\n", 3,
     "random.n", "only 2 distinct points"),
    ("command: python t.py --a {a}\nlist:\n  - {name: x, a: 1}\n  - {name: x, a: 2}\n", 4, "list.1.name",
     "two variants are named 'x'"),
    ("command: python t.py --a {a}\nlist:\n  - {a: 1}\n  - {a: 1}\n", 4, "list.1", "same params"),
    ("command: python t.py --a {a} --b {b}\nlist:\n  - {a: 1, b: 2}\n  - {a: 1}\n", 4, "list.1", "no value for {b}"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nparalel: 2\n", 3, "'paralel'", "unknown field"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nparallel: 0\n", 3, "parallel", "greater than or equal to 1"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nprune: {median: {metrc: x}}\n", 3, "prune.median.metrc",
     "unknown field"),
    ("command: python t.py --a {a\ngrid: {a: [1]}\n", 1, "command", "bad placeholder"),
    ("command: python t.py --a {a} }\ngrid: {a: [1]}\n", 1, "command", "unmatched '}'"),
    ("command: python t.py --a '{a}\ngrid: {a: [1]}\n", 1, "command", "cannot split"),
    ("command: python t.py --c {config}\ngrid: {a: [1]}\n", 1, "command", "{config} needs a config file"),
    ("command: python t.py --a {a}\ngrid: {a: [1], config: [2]}\n", 2, "grid.config", "reserved"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\ngpus: \"0,x\"\n", 3, "gpus", "GPU indexes"),
    ("command: python t.py --a {a}\nconfig: missing.yaml\ngrid: {a: [1]}\n", 2, "config", "not found"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nresources: {cpu: 2}\n", 3, "resources.cpu", "unknown field"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nresources: {gpus: -1}\n", 3, "resources.gpus",
     "greater than or equal to 0"),
    ("command: python t.py --a {a}\ngrid: {a: [1]}\nresources: {cpus: 0}\n", 3, "resources.cpus", "greater than 0"),
])
def test_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int, field: str, words: str) -> None:
    message = error(tmp_path, text)
    assert f"sweep.yaml:{line}: " in message, message
    assert field in message and words in message, message


def test_unknown_field_lists_the_allowed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_sweep(write(tmp_path, "command: python t.py --a {a}\ngrd: {a: [1]}\n"))
    assert "grid" in (info.value.hint or "") and "list" in (info.value.hint or "")


def test_config_needs_the_config_placeholder_and_a_used_key(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("optim: {lr: 0.1}\n", encoding="utf-8")
    message = error(tmp_path, "command: python t.py\nconfig: base.yaml\ngrid: {optim.lr: [1]}\n")
    assert "sweep.yaml:2: config: the command must contain {config}" in message
    message = error(tmp_path, "command: python t.py -c {config}\nconfig: base.yaml\ngrid: {optim.lrr: [1]}\n")
    assert "sweep.yaml:3: grid.optim.lrr: param 'optim.lrr' is not used" in message
    assert "base.yaml has no key" in message


def test_yaml_syntax_error(tmp_path: Path) -> None:
    assert "sweep.yaml:3:1: expected ',' or ']'" in error(tmp_path, "command: x\ngrid: [a\n")


def test_validate_gates(tmp_path: Path) -> None:
    spec = load_sweep(write(tmp_path, GRID))
    validate_gates(spec, ["epoch2", "final"])
    with pytest.raises(ConfigError, match=r"unknown gate 'epoch2' in .*sweep.yaml:4; declared: final"):
        validate_gates(spec, ["final"])


# -- properties -----------------------------------------------------------------------------------

_VALUES = st.one_of(st.integers(-5, 5), st.sampled_from([0.1, 0.01, 1e-4, 1e-5, 2.5]),
                    st.sampled_from(["a", "A", "a b", "a/b", "x-1"]))


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True),
                       st.lists(_VALUES, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)),
                       min_size=1, max_size=4))
def test_grid_size_is_the_product_and_names_are_unique(grid: dict[str, list[object]]) -> None:
    grid = {k: v for k, v in grid.items() if k not in ("config", "name")} or {"p": [1]}
    command = "python t.py " + " ".join(f"--{k} {{{k}}}" for k in grid)
    spec = parse_sweep({"command": command, "grid": grid}, "sweep.yaml")
    trials = spec.trials()
    assert len(trials) == math.prod(len(v) for v in grid.values())
    names = [t.name.lower() for t in trials]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", t.name) and len(t.name) <= 80 for t in trials)
    assert len({spec.fingerprint(t) for t in trials}) == len(trials)
