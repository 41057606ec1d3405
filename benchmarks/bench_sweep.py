"""9. Sweep scheduling overhead per trial (the local runner).

A 12-trial grid whose command does almost nothing (``python -c "import sys"`` with the
trial's value as an argument), run three ways, interleaved, median of REPEATS:

* bare: the same 12 commands one after the other in a shell-like loop (``subprocess.run``);
* ``gatebook sweep run sweep.yaml`` with ``parallel: 1`` (a fresh sweep name each time, so
  nothing is skipped);
* the same with ``parallel: 2``.

Overhead per trial = (sweep wall - bare wall) / 12: what recording each trial as a run
costs (its wrapper's start-up, the ledger, provenance) plus the scheduling itself.
"""

from __future__ import annotations

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, PYTHON, child_env, log, parse_args, perf, round_robin, sqlite_url, write_result,
)

N_TRIALS = 12


def sweep_file(work, name: str, parallel: int):
    path = work / f"{name}.yaml"
    values = ", ".join(str(i) for i in range(N_TRIALS))
    path.write_text(f"name: {name}\ncommand: {PYTHON} -c \"import sys\" {{i}}\nparallel: {parallel}\n"
                    f"grid:\n  i: [{values}]\n")
    return path


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 2 if args.quick else 4
    work = args.workdir
    (work / "gatebook.yaml").write_text("metrics: {}\n")
    env = child_env(GATEBOOK_STORE=sqlite_url(work / "ledger.db"), GATEBOOK_RUN_ID=None)
    counter = {"n": 0}

    def bare() -> float:
        t0 = perf()
        for i in range(N_TRIALS):
            subprocess.run([PYTHON, "-c", "import sys", str(i)], cwd=work, env=env, check=True)
        return perf() - t0

    def sweep(parallel: int) -> float:
        counter["n"] += 1
        path = sweep_file(work, f"s{counter['n']}-p{parallel}", parallel)
        t0 = perf()
        subprocess.run([GATEBOOK_EXE, "sweep", "run", str(path), "--json"], cwd=work, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return perf() - t0

    subprocess.run([GATEBOOK_EXE, "init"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    times = round_robin({"bare": bare, "sweep_p1": lambda: sweep(1), "sweep_p2": lambda: sweep(2)}, repeats,
                        warmup=1)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    values = {"trials": N_TRIALS, **{f"{k}_s": v for k, v in med.items()},
              "overhead_p1_per_trial_s": (med["sweep_p1"] - med["bare"]) / N_TRIALS,
              "overhead_p2_per_trial_s": (med["sweep_p2"] - med["bare"]) / N_TRIALS}
    for k, v in values.items():
        log(f"{k}: {v}")
    write_result(args.out, values, {"seconds": times})


if __name__ == "__main__":
    main()
