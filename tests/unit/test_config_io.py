"""One YAML loader and one config editor (issue 10): ``1e-4`` is a float in gatebook.yaml,
sweep.yaml and --config files alike; ``items.0`` edits the list item in a config copy, from a
playbook fix and from a sweep; out-of-range indexes and keys through scalars are one-line errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from gatebook.capture.params import load_config_file
from gatebook.config_io import dump_yaml, parse_yaml, set_dotted, write_config_copy, yaml_line
from gatebook.errors import ConfigError
from gatebook.gates.playbook import apply_fix
from gatebook.gates.spec import Fix, select_gates
from gatebook.project_config import load_project_config
from gatebook.sweep.spec import load_sweep, write_trial_config

# -- one loader: numbers read the same everywhere ------------------------------------------------


@pytest.mark.parametrize("text, value", [("1e-4", 1e-4), ("1E+5", 1e5), (".5e3", 500.0), ("-2e3", -2000.0),
                                         ("1.0e-4", 1e-4), ("1_000e-3", 1.0), ("'1e-4'", "1e-4"), ("1e4x", "1e4x"),
                                         ("12", 12), ("0.5", 0.5)])
def test_parse_yaml_reads_yaml_1_2_floats(text: str, value: object) -> None:
    data, _ = parse_yaml(f"x: {text}\n", "f.yaml")
    assert data == {"x": value} and type(data["x"]) is type(value)


def test_playbook_fix_in_gatebook_yaml_reads_1e_4_as_a_float(tmp_path: Path) -> None:
    (tmp_path / "gatebook.yaml").write_text(textwrap.dedent("""\
        gates:
          smoke:
            checks: ["val_loss <= 0.5"]
            playbook:
              fixes:
                - {name: lower lr, set: {lr: 1e-4, optim.eps: 1E-8}}
        """))
    conf = load_project_config(tmp_path)
    (gate,) = select_gates(conf.gates, [], conf.source)
    fix = gate.playbook.fixes[0]
    assert fix.set == {"lr": 1e-4, "optim.eps": 1e-8}
    assert type(fix.set["lr"]) is float


def test_sweep_yaml_reads_1e_4_as_a_float(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("command: python t.py --lr {lr}\ngrid: {lr: [1e-4, 1e-3]}\n")
    assert [t.params["lr"] for t in load_sweep(path).trials()] == [1e-4, 1e-3]


@pytest.mark.parametrize("name", ["config.yaml", "config.yml", "config.cfg"])
def test_config_file_reads_1e_4_as_a_float(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("optim:\n  lr: 1e-4\n  name: '1e-4'\n")
    data = load_config_file(path)
    assert data == {"optim": {"lr": 1e-4, "name": "1e-4"}} and type(data["optim"]["lr"]) is float


def test_syntax_errors_keep_file_line_column(tmp_path: Path) -> None:
    (tmp_path / "gatebook.yaml").write_text("ingest:\n  kv: [1\n")
    with pytest.raises(ConfigError, match=r"gatebook\.yaml:3:1: expected ',' or ']'"):
        load_project_config(tmp_path)
    with pytest.raises(ConfigError, match=r"c\.yaml:2:4: unacceptable character #x0000"):
        parse_yaml("a: 1\nb: \x00\n", "c.yaml")


def test_yaml_line_finds_keys_and_list_items() -> None:
    _, node = parse_yaml("a:\n  b: 1\nitems:\n  - x\n  - y\n", "f.yaml")
    assert yaml_line(node, ("a", "b")) == 2 and yaml_line(node, ("items", 1)) == 5
    assert yaml_line(node, ("items", 7)) == 3  # no such item: the nearest line found


def test_dumped_strings_that_look_like_numbers_stay_strings() -> None:
    text = dump_yaml({"name": "1e-4", "lr": 1e-4, "city": "Zürich"})
    assert parse_yaml(text, "copy.yaml")[0] == {"name": "1e-4", "lr": 1e-4, "city": "Zürich"}
    assert yaml.safe_load(text)["name"] == "1e-4" and "Zürich" in text


# -- one editor: dotted keys index lists ---------------------------------------------------------

BASE = "model:\n  depth: 4\nitems:\n  - a\n  - b\nlayers: [{width: 8}]\nlr: 0.1\nflat.key: 1\nempty:\n"


def test_playbook_fix_items_0_edits_the_list_item(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text(BASE)
    fix = Fix(name="first item", set={"items.0": "z", "layers.0.width": 16, "model.heads": 2, "lr": 1e-4})
    applied = apply_fix(["python", "train.py", "--config", "cfg.yaml"], fix, cwd=tmp_path,
                        out_dir=tmp_path / ".gatebook" / "fixes", tag="run-first")
    assert applied.config_copy is not None
    data = load_config_file(applied.config_copy)
    assert data["items"] == ["z", "b"]  # was {"0": "z"}: the list replaced by a section
    assert data["layers"] == [{"width": 16}] and data["model"] == {"depth": 4, "heads": 2}
    assert data["lr"] == 1e-4 and type(data["lr"]) is float
    assert load_config_file(tmp_path / "cfg.yaml")["items"] == ["a", "b"]  # the original is untouched


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_sweep_override_items_0_edits_the_list_item(tmp_path: Path, suffix: str) -> None:
    base = load_config_file(_write(tmp_path / "b.yaml", BASE))
    _write(tmp_path / f"base{suffix}", json.dumps(base) if suffix == ".json" else BASE)
    sweep = _write(tmp_path / "sweep.yaml", f"command: python t.py -c {{config}}\nconfig: base{suffix}\n"
                                            "grid: {items.0: [x, y]}\n")
    spec = load_sweep(sweep)
    trials = spec.trials(config_dir=tmp_path / "out")
    assert [t.config_overrides for t in trials] == [{"items.0": "x"}, {"items.0": "y"}]
    written = spec.write_config(trials[1])
    assert written is not None and load_config_file(written)["items"] == ["y", "b"]


def test_editor_keeps_literal_dotted_keys_and_creates_sections() -> None:
    data = yaml.safe_load(BASE)
    for key, value in {"flat.key": 2, "new.sub.k": 3, "empty.x": 4, "items.1": "c"}.items():
        set_dotted(data, key, value)
    assert data["flat.key"] == 2 and data["new"] == {"sub": {"k": 3}} and data["empty"] == {"x": 4}
    assert data["items"] == ["a", "c"] and "flat" not in data


@pytest.mark.parametrize("key, words", [
    ("items.2", "'items' is a list of 2 items, so there is no item 2"),
    ("items.first", "'items' is a list, and 'first' is not an index"),
    ("layers.0.width.1", "'layers.0.width' holds 8, not a section or a list"),
    ("lr.0", "'lr' holds 0.1, not a section or a list"),
    ("model.depth.x", "'model.depth' holds 4"),
])
def test_bad_index_or_key_through_a_scalar_is_a_one_line_error(tmp_path: Path, key: str, words: str) -> None:
    data = yaml.safe_load(BASE)
    with pytest.raises(ConfigError) as info:
        set_dotted(data, key, 1)
    assert "\n" not in str(info.value) and repr(key) in info.value.message and words in info.value.message
    assert data == yaml.safe_load(BASE)  # nothing was changed
    base = _write(tmp_path / "cfg.yaml", BASE)
    for write in (write_config_copy, write_trial_config):
        with pytest.raises(ConfigError, match="cannot set"):
            write(base, {key: 1}, tmp_path / "copy.yaml")
    with pytest.raises(ConfigError, match="cannot set"):
        apply_fix(["python", "t.py", "--config=cfg.yaml"], Fix(name="f", set={key: 1}), cwd=tmp_path,
                  out_dir=tmp_path / "fx", tag="t")


def test_playbook_and_sweep_copies_are_written_the_same_way(tmp_path: Path) -> None:
    base = _write(tmp_path / "cfg.yaml", "name: café\nlr: 0.1\n")
    applied = apply_fix(["python", "t.py", "--config", "cfg.yaml"], Fix(name="f", set={"lr": 0.01}), cwd=tmp_path,
                        out_dir=tmp_path / "fx", tag="t")
    assert applied.config_copy is not None
    swept = write_trial_config(base, {"lr": 0.01}, tmp_path / "sw" / "t.yaml")
    assert applied.config_copy.read_text(encoding="utf-8") == swept.read_text(encoding="utf-8") == \
        "name: café\nlr: 0.01\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
