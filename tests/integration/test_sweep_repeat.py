"""`repeat:` / `seeds:` in a sweep file through the real CLI: each trial once per seed, the runs
of one trial a replicate set (shared name, the ledger's `replicate` key, the seed a param), a rerun runs
only the missing (trial, seed) pairs, `sweep show` ranks a set by its mean; bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.helpers import PY, gb, gb_json, one_line_error, write_script
from tests.integration.test_sweep import GATEBOOK_YAML

# cfg a: one lucky seed (0.9) but a low mean; cfg b: steady 0.5 -> b ranks first by mean
SCORE = textwrap.dedent("""\
    import json, sys
    cfg, seed = sys.argv[1], int(sys.argv[2])
    values = {"a": [0.9, 0.1, 0.1, 0.1], "b": [0.5, 0.5, 0.5, 0.5]}[cfg]
    print("gatebook: " + json.dumps({"val_score": values[seed]}), flush=True)
    """)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "gatebook.yaml").write_text(GATEBOOK_YAML)
    write_script(tmp_path, "score.py", SCORE)
    assert gb("init", cwd=tmp_path).returncode == 0
    return tmp_path


def sweep(proj: Path, repeat: str = "repeat: 3", command: str = "score.py {cfg} {seed}", space: str = "[a, b]") -> None:
    (proj / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: rep
        command: {PY} {command}
        grid:
          cfg: {space}
        objective: val_score
        parallel: 3
        {repeat}
        """))


def runs_of(proj: Path) -> list[dict]:
    return gb_json("ls", "--group", "rep", "--limit", "0", cwd=proj)["runs"]


def test_each_trial_runs_once_per_seed_as_a_set_ranked_by_its_mean(proj: Path) -> None:
    sweep(proj)
    doc = gb_json("sweep", "run", "sweep.yaml", cwd=proj)
    names = sorted(t["name"] for t in doc["trials"])
    assert names == ["cfg-a-s0", "cfg-a-s1", "cfg-a-s2", "cfg-b-s0", "cfg-b-s1", "cfg-b-s2"]
    assert {t["status"] for t in doc["trials"]} == {"finished"}
    assert sorted(t["seed"] for t in doc["trials"]) == [0, 0, 1, 1, 2, 2]
    assert {t["set"] for t in doc["trials"]} == {"cfg-a", "cfg-b"}

    runs = runs_of(proj)
    assert sorted(r["name"] for r in runs) == [f"rep-{n}" for n in names]
    keys: dict[str, set[str]] = {}
    for r in runs:
        key = r["replicate"]  # the ledger's replicate key (ls --json)
        assert key and not any(t.startswith("replicate:") for t in r["tags"])
        keys.setdefault(key, set()).add(r["name"].rsplit("-s", 1)[0])
    assert sorted(keys.values(), key=sorted) == [{"rep-cfg-a"}, {"rep-cfg-b"}]  # one key per set
    shown = gb_json("show", runs[0]["id"], cwd=proj)
    assert shown["params"]["seed"] in (0, 1, 2) and shown["params"]["cfg"] in ("a", "b")

    # sweep show: one row per set, ranked by the mean (b 0.5 before a's 0.367, though a-s0 scored 0.9)
    show = gb_json("sweep", "show", "sweep.yaml", cwd=proj)
    rows = show["ranking"]["runs"]
    assert [r["name"] for r in rows] == ["rep-cfg-b", "rep-cfg-a"]
    assert rows[0]["metrics"]["val_score"]["value"] == pytest.approx(0.5)
    assert rows[1]["metrics"]["val_score"]["value"] == pytest.approx(1.1 / 3)
    assert [r["metrics"]["n"]["value"] for r in rows] == [3, 3]
    sets = {s["name"]: s for s in show["replicates"]}
    assert sets["rep-cfg-a"]["n"] == 3 and sets["rep-cfg-a"]["mean"] == pytest.approx(1.1 / 3)
    assert sets["rep-cfg-a"]["half_width"] > 0.5 and sets["rep-cfg-b"]["half_width"] == 0.0
    table = gb("sweep", "show", "sweep.yaml", cwd=proj).stdout
    assert table.index("rep-cfg-b") < table.index("rep-cfg-a") and "-s0" not in table

    # a fourth seed: only the two missing (trial, seed) pairs run; then nothing
    sweep(proj, repeat="seeds: [0, 1, 2, 3]")
    again = gb("sweep", "run", "sweep.yaml", "--json", cwd=proj)
    assert again.returncode == 0, again.stderr
    assert "8 trials, 2 to run, 6 skipped" in again.stderr
    assert len(runs_of(proj)) == 8
    third = gb("sweep", "run", "sweep.yaml", cwd=proj)
    assert "8 trials, 0 to run, 8 skipped" in third.stderr
    assert len(runs_of(proj)) == 8


@pytest.mark.parametrize("case, message", [
    ("no-seed", "sweep.yaml:7: repeat: the command has no {seed}"),
    ("zero", "sweep.yaml:7: repeat: Input should be greater than or equal to 1"),
    ("both", "sweep.yaml:8: seeds: give repeat (seeds 0..N-1) or seeds (a list), not both"),
    ("twice", "sweep.yaml:7: seeds: give a non-empty list of distinct integer seeds"),
    ("in-space", "sweep.yaml:4: grid.seed: param name 'seed' is reserved"),
])
def test_bad_repeats_are_one_line_naming_the_file_and_line(proj: Path, case: str, message: str) -> None:
    if case == "no-seed":
        sweep(proj, command="score.py {cfg} 0")
    elif case == "zero":
        sweep(proj, repeat="repeat: 0")
    elif case == "both":
        sweep(proj, repeat="repeat: 2\n" + " " * 8 + "seeds: [1, 2]")
    elif case == "twice":
        sweep(proj, repeat="seeds: [1, 1]")
    else:
        (proj / "sweep.yaml").write_text(f"name: rep\ncommand: {PY} score.py {{cfg}} {{seed}}\ngrid:\n"
                                         "  seed: [0, 1]\n  cfg: [a]\nrepeat: 2\n")
    err = one_line_error(gb("sweep", "run", "sweep.yaml", cwd=proj), 2)
    assert message in err
    assert gb_json("ls", "--limit", "0", cwd=proj)["runs"] == []
