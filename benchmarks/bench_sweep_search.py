"""17. Adaptive search: the sweep scheduler's overhead per trial with the Optuna sampler against the grid.

In a git repository, the same near-empty command (``python score.py X``: prints one metric, so
each search trial is asked and told), as sweeps run with ``gatebook sweep run``, interleaved,
median of REPEATS:

* a grid of 1 and of 12 values of ``x`` (``parallel: 1``);
* ``search:`` with ``sampler: tpe``, ``n: 1`` and ``n: 12`` over ``x: {uniform: [0, 1]}``
  (``parallel: 1``; TPE samples its first 10 points at random, then models the rest).

Per-trial cost = (12-trial sweep - 1-trial sweep) / 11 for each; the search's overhead per trial is
its per-trial cost minus the grid's (target: within 20 ms). The search's fixed cost (importing
Optuna, the study) is the difference of the 1-trial sweeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import GATEBOOK_EXE, PYTHON, child_env, log, parse_args, perf, round_robin, sqlite_url, write_result  # noqa: E402

N_TRIALS = 12
SCORE = "import json, sys\nprint('gatebook: ' + json.dumps({'val_s': float(sys.argv[1])}), flush=True)\n"


def sweep_file(work: Path, name: str, kind: str, n: int) -> Path:
    path = work / f"{name}.yaml"
    head = f"name: {name}\ncommand: {PYTHON} score.py {{x}}\nparallel: 1\nobjective: val_s\n"
    if kind == "grid":
        body = "grid:\n  x: [" + ", ".join(str(i / 100) for i in range(n)) + "]\n"
    else:
        body = f"search:\n  optuna: {{sampler: tpe, n: {n}, seed: 0}}\n  space: {{x: {{uniform: [0.0, 1.0]}}}}\n"
    path.write_text(head + body)
    return path


def git_project(work: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@gatebook.invalid"],
                ["git", "config", "user.name", "bench"], ["git", "add", "gatebook.yaml", "score.py"],
                ["git", "commit", "-q", "-m", "bench"]):
        subprocess.run(cmd, cwd=work, env=env, check=True)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 2 if args.quick else 5
    work = args.workdir
    (work / "gatebook.yaml").write_text("metrics: {higher_is_better: [val_s]}\n")
    (work / "score.py").write_text(SCORE)
    git_project(work)
    env = child_env(GATEBOOK_STORE=sqlite_url(work / "ledger.db"), GATEBOOK_RUN_ID=None)
    counter = {"n": 0}

    def sweep(kind: str, n: int) -> float:
        counter["n"] += 1
        path = sweep_file(work, f"s{counter['n']}-{kind}-n{n}", kind, n)
        t0 = perf()
        subprocess.run([GATEBOOK_EXE, "sweep", "run", str(path), "--json"], cwd=work, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return perf() - t0

    subprocess.run([GATEBOOK_EXE, "init"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    times = round_robin({"grid_one": lambda: sweep("grid", 1), "grid": lambda: sweep("grid", N_TRIALS),
                         "search_one": lambda: sweep("search", 1), "search": lambda: sweep("search", N_TRIALS)},
                        repeats, warmup=1)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    values: dict[str, float | int | None] = {"trials": N_TRIALS, **{f"{k}_s": v for k, v in med.items()}}
    values["grid_per_trial_s"] = (med["grid"] - med["grid_one"]) / (N_TRIALS - 1)
    values["search_per_trial_s"] = (med["search"] - med["search_one"]) / (N_TRIALS - 1)
    values["search_overhead_per_trial_s"] = values["search_per_trial_s"] - values["grid_per_trial_s"]
    values["search_fixed_extra_s"] = med["search_one"] - med["grid_one"]
    for k, v in values.items():
        log(f"{k}: {v}")
    write_result(args.out, values, {"seconds": times}, [])


if __name__ == "__main__":
    main()
