"""9. Sweep scheduling overhead per trial (the local runner and the Ray backend).

In a git repository (so every trial records a commit, like a real project), grids whose command
does almost nothing (``python -c "import sys" I``), run these ways, interleaved, median of REPEATS:

* bare: the same 12 commands one after the other (``subprocess.run``) -- the limit;
* ``gatebook sweep run`` of a 1-trial grid: the fixed cost of a sweep (the command's start-up,
  planning, the ranked table at the end) plus one trial;
* ``gatebook sweep run`` of the 12-trial grid with ``parallel: 1`` and with ``parallel: 2``;
* with Ray installed, the 1-trial and 12-trial grids (``parallel: 1``) with ``--backend ray`` on a
  local cluster started here (``ray start --head``, its start-up reported apart).

Overhead per trial = (12-trial sweep - 1-trial sweep) / 11 - (bare / 12): what each further trial
costs beyond its own command (the wrapper, the ledger, provenance, the scheduling). The whole
sweep's overhead per trial, fixed cost included, = (12-trial sweep - bare) / 12. MLflow has no
sweep runner, so there is no peer figure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    GATEBOOK_EXE, PYTHON, VENV_BIN, child_env, log, parse_args, perf, round_robin, sqlite_url, write_result,
)

N_TRIALS = 12
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}


def sweep_file(work: Path, name: str, parallel: int, n: int) -> Path:
    path = work / f"{name}.yaml"
    values = ", ".join(str(i) for i in range(n))
    path.write_text(f"name: {name}\ncommand: {PYTHON} -c \"import sys\" {{i}}\nparallel: {parallel}\n"
                    f"grid:\n  i: [{values}]\n")
    return path


def git_project(work: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@gatebook.invalid"],
                ["git", "config", "user.name", "bench"], ["git", "add", "gatebook.yaml"],
                ["git", "commit", "-q", "-m", "bench"]):
        subprocess.run(cmd, cwd=work, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_ray(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, str, float]:
    """A one-node Ray cluster on 127.0.0.1: (head process, address, temp dir, start-up seconds)."""
    tmp = tempfile.mkdtemp(prefix="gbbray")
    port = free_port()
    address = f"127.0.0.1:{port}"
    t0 = perf()
    head = subprocess.Popen([str(VENV_BIN / "ray"), "start", "--head", "--block", "--port", str(port),
                             "--num-cpus", "2", "--num-gpus", "0", "--node-ip-address", "127.0.0.1",
                             "--temp-dir", tmp, "--include-dashboard=false"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    probe = f"import ray; ray.init(address={address!r}, log_to_driver=False); ray.shutdown()"
    deadline = time.time() + 120
    while True:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited {head.returncode}")
        try:
            if subprocess.run([PYTHON, "-c", probe], env=env, capture_output=True, timeout=40).returncode == 0:
                break
        except subprocess.TimeoutExpired:
            pass
        if time.time() > deadline:
            raise RuntimeError("the Ray cluster did not come up in 120 s")
        time.sleep(0.5)
    return head, address, tmp, perf() - t0


def stop_ray(head: subprocess.Popen[bytes], tmp: str) -> None:
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=30)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    repeats = 2 if args.quick else 4
    work = args.workdir
    (work / "gatebook.yaml").write_text("metrics: {}\n")
    git_project(work)
    env = child_env(GATEBOOK_STORE=sqlite_url(work / "ledger.db"), GATEBOOK_RUN_ID=None, **RAY_ENV)
    counter = {"n": 0}

    def bare() -> float:
        t0 = perf()
        for i in range(N_TRIALS):
            subprocess.run([PYTHON, "-c", "import sys", str(i)], cwd=work, env=env, check=True)
        return perf() - t0

    def sweep(parallel: int, n: int, *extra: str) -> float:
        counter["n"] += 1
        path = sweep_file(work, f"s{counter['n']}-p{parallel}-n{n}", parallel, n)
        t0 = perf()
        subprocess.run([GATEBOOK_EXE, "sweep", "run", str(path), "--json", *extra], cwd=work, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return perf() - t0

    subprocess.run([GATEBOOK_EXE, "init"], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    times = round_robin({"bare": bare, "sweep_one": lambda: sweep(1, 1), "sweep_p1": lambda: sweep(1, N_TRIALS),
                         "sweep_p2": lambda: sweep(2, N_TRIALS)}, repeats, warmup=1)
    notes: list[str] = []
    ray_startup = None
    try:
        import ray  # noqa: F401
    except ImportError:
        notes.append("Ray is not installed: no Ray figures.")
    else:
        head, address, tmp, ray_startup = start_ray(env)
        try:
            ray = ("--backend", "ray", "--address", address)
            times.update(round_robin({"ray_one": lambda: sweep(1, 1, *ray),
                                      "ray_p1": lambda: sweep(1, N_TRIALS, *ray)}, repeats, warmup=1))
        finally:
            stop_ray(head, tmp)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    per_bare = med["bare"] / N_TRIALS
    values: dict[str, float | int | None] = {"trials": N_TRIALS, **{f"{k}_s": v for k, v in med.items()}}
    values["fixed_s"] = med["sweep_one"] - per_bare
    for key in ("sweep_p1", "sweep_p2", "ray_p1"):
        if key not in med:
            continue
        one = med["ray_one"] if key.startswith("ray") else med["sweep_one"]
        values[f"{key}_per_trial_overhead_s"] = (med[key] - one) / (N_TRIALS - 1) - per_bare
        values[f"{key}_whole_overhead_per_trial_s"] = (med[key] - med["bare"]) / N_TRIALS
    if "ray_one" in med:
        values["ray_fixed_s"] = med["ray_one"] - per_bare
        values["ray_cluster_start_s"] = ray_startup
    for k, v in values.items():
        log(f"{k}: {v}")
    write_result(args.out, values, {"seconds": times}, notes)


if __name__ == "__main__":
    main()
