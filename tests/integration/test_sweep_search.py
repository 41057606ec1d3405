"""`search:` (adaptive search with Optuna): TPE beats random search on a known function at equal
budget over several seeds (the driver in-process, the "run" the function itself); a real
`gatebook sweep run` of a search in parallel, then a rerun that replays the ledger's trials into a
fresh study and continues to n; a gate-stopped trial told as pruned; bad input."""

from __future__ import annotations

import math
import statistics
import sys
import textwrap
from pathlib import Path

import pytest

from gatebook.errors import MissingExtraError
from gatebook.sweep.search import Search, import_optuna
from gatebook.sweep.space import parse_dist
from tests.helpers import PY, gb, gb_json, one_line_error, write_script
from tests.integration.test_sweep import GATEBOOK_YAML

SPACE = {"lr": {"loguniform": [1.0e-4, 1.0e-1]}, "dropout": {"uniform": [0.0, 0.5]}}


def known(lr: float, dropout: float) -> float:
    """Best at lr = 1e-2, dropout = 0.1 (value 0)."""
    return -(math.log10(lr) + 2) ** 2 - 10 * (dropout - 0.1) ** 2


def best_of(sampler: str, seed: int, budget: int) -> float:
    search = Search({k: parse_dist(v) for k, v in SPACE.items()}, sampler=sampler, seed=seed, direction="higher")
    best = -math.inf
    for _ in range(budget):
        trial, params = search.ask()
        value = known(params["lr"], params["dropout"])
        search.tell(trial, value)
        best = max(best, value)
    return best


def test_tpe_beats_random_search_at_equal_budget_over_several_seeds() -> None:
    tpe = [best_of("tpe", seed, 30) for seed in range(7)]
    rnd = [best_of("random", seed, 30) for seed in range(7)]
    assert statistics.median(tpe) > statistics.median(rnd)
    assert sum(t > r for t, r in zip(tpe, rnd, strict=True)) >= 4


def test_replayed_points_count_and_points_outside_the_space_do_not() -> None:
    search = Search({k: parse_dist(v) for k, v in SPACE.items()}, sampler="tpe", seed=0, direction="lower")
    assert search.replay({"lr": 0.01, "dropout": 0.1}, 3.0)
    assert search.replay({"lr": 0.02, "dropout": 0.2}, None, "pruned")
    assert not search.replay({"lr": 5.0, "dropout": 0.1}, 1.0)  # outside the space
    assert not search.replay({"lr": 0.01}, 1.0)  # a param missing
    assert search.best() == ({"lr": 0.01, "dropout": 0.1}, 3.0)
    assert len(search.study.trials) == 2


def test_a_missing_optuna_is_one_line_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # what `import optuna` meets without the extra
    with pytest.raises(MissingExtraError) as exc:
        import_optuna()
    assert "pip install 'gatebook[optuna]'" in str(exc.value.hint)


# -- end to end ------------------------------------------------------------------------------------

SCORE = textwrap.dedent("""\
    import json, math, sys, time
    lr, dropout = float(sys.argv[1]), float(sys.argv[2])
    score = -(math.log10(lr) + 2) ** 2 - 10 * (dropout - 0.1) ** 2
    print("gatebook: " + json.dumps({"epoch": 1, "val_score": score}), flush=True)
    time.sleep(10 if score < -1.5 else 0)  # the gate `floor` stops it: the study is told "pruned"
    """)
GATED_YAML = GATEBOOK_YAML + '  floor:\n    on_fail: stop\n    checks:\n      - "val_score >= -1.5 @ epoch 1"\n'


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "gatebook.yaml").write_text(GATED_YAML)
    write_script(tmp_path, "score.py", SCORE)
    assert gb("init", cwd=tmp_path).returncode == 0
    return tmp_path


def search_sweep(proj: Path, n: int, extra: str = "objective: val_score") -> None:
    (proj / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: tune
        command: {PY} score.py {{lr}} {{dropout}}
        search:
          optuna: {{sampler: tpe, n: {n}, seed: 0}}
          space: {{lr: {{loguniform: [1.0e-4, 1.0e-1]}}, dropout: {{uniform: [0.0, 0.5]}}}}
        gates: [floor]
        parallel: 2
        """) + extra + "\n")


def test_a_search_sweep_runs_in_parallel_then_replays_and_continues(proj: Path) -> None:
    search_sweep(proj, 4)
    first = gb("sweep", "run", "sweep.yaml", "--json", cwd=proj)
    assert first.returncode == 0, first.stderr
    assert "4 trials, parallel 2" in first.stderr
    runs = gb_json("ls", "--group", "tune", "--limit", "0", cwd=proj)["runs"]
    assert len(runs) == 4 and sorted(r["status"] for r in runs) == ["finished"] * 3 + ["stopped"]  # seed 0
    assert all(r["name"].startswith("tune-t00") for r in runs)
    params = gb_json("show", runs[0]["id"], cwd=proj)["params"]
    assert 1e-4 <= params["lr"] <= 0.1 and 0.0 <= params["dropout"] <= 0.5  # recorded though positional

    # a rerun to n=6: the 4 trials replayed (not run again), 2 more asked
    search_sweep(proj, 6)
    again = gb("sweep", "run", "sweep.yaml", "--json", cwd=proj)
    assert again.returncode == 0, again.stderr
    assert "6 trials, 2 to run, 4 skipped" in again.stderr
    runs = gb_json("ls", "--group", "tune", "--limit", "0", cwd=proj)["runs"]
    assert len(runs) == 6 and len({r["name"] for r in runs}) == 6
    show = gb_json("sweep", "show", "sweep.yaml", cwd=proj)
    assert show["ranking"]["sort"] == "val_score" and len(show["ranking"]["runs"]) == 6
    assert "6 trials, 0 to run, 6 skipped" in gb("sweep", "run", "sweep.yaml", cwd=proj).stderr


@pytest.mark.parametrize("extra, message", [
    ("", "sweep.yaml:3: search: an adaptive search needs the sweep's objective"),
    ("objective: score", "sweep.yaml:3: search: objective 'score' has no direction in gatebook.yaml"),
    ("objective: val_score\nrepeat: 2", "sweep.yaml:9: repeat: the command has no {seed}"),
])
def test_bad_search_input_is_one_line(proj: Path, extra: str, message: str) -> None:
    search_sweep(proj, 3, extra)
    err = one_line_error(gb("sweep", "run", "sweep.yaml", cwd=proj), 2)
    assert message in err
