"""7. Live gate stop latency: from a failing metric to the SIGTERM in the training process.

A child under ``gatebook run --gate g`` logs ``val`` every 50 ms; at step 3 the value
fails ``val >= 0.5 @ step 3`` (an ``on_fail: stop`` gate). The child's SIGTERM handler
notes the time. Two ways of reporting the metric, interleaved:

* api: ``gb.log`` then ``Run.flush()``, which returns once the point is in the ledger;
  latency = SIGTERM received - flush returned ("from the metric reaching the ledger");
  also SIGTERM - the ``gb.log`` call (what the user sees, incl. the writer's interval);
* stdout: a ``gatebook: {...}`` line; latency = SIGTERM - the print (the wrapper parses,
  writes, then judges).

The limit to compare with is the supervisor's poll interval (GATEBOOK_FLUSH_INTERVAL,
0.2 s): a poll reads the new points and judges them. The seeds' monitor scripts polled a
history file every 2 minutes (60 s on average). No peer (MLflow) stops runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import GATEBOOK_EXE, PYTHON, child_env, log, parse_args, percentile, median, write_result  # noqa: E402

CHILD = r"""
import json, os, signal, sys, time
mode, out = sys.argv[1], sys.argv[2]
marks = {}
if mode == "api":
    import gatebook as gb
    gb.init()
def on_term(signum, frame):
    marks["sigterm"] = time.time()
    with open(out, "w") as fh:
        json.dump(marks, fh)
    os._exit(0)
signal.signal(signal.SIGTERM, on_term)
for step in range(1, 400):
    value = 0.9 if step < 3 else 0.1
    if mode == "api":
        marks.setdefault("logged", time.time()) if step == 3 else None
        gb.log({"val": value}, step=step)
        if step == 3:
            gb.current().flush()
            marks["durable"] = time.time()
    else:
        if step == 3:
            marks["logged"] = marks["durable"] = time.time()
        print("gatebook: " + json.dumps({"step": step, "val": value}), flush=True)
    time.sleep(0.05)
"""

GATES = """\
gates:
  g:
    on_fail: stop
    checks: ["val >= 0.5 @ step 3"]
"""


def main() -> None:
    args = parse_args(__doc__ or "")
    work = args.workdir
    (work / "gatebook.yaml").write_text(GATES)
    (work / "child.py").write_text(CHILD)
    env = child_env(GATEBOOK_STORE=f"sqlite:///{work / 'ledger.db'}")
    repeats = 3 if args.quick else 10
    results: dict[str, list[dict[str, float]]] = {"api": [], "stdout": []}
    for i in range(repeats):
        for mode in ("api", "stdout"):
            out = work / f"marks-{mode}-{i}.json"
            proc = subprocess.run([GATEBOOK_EXE, "run", "--quiet", "--gate", "g", "--grace", "5", "--",
                                   PYTHON, "child.py", mode, str(out)], cwd=work, env=env,
                                  capture_output=True, text=True, timeout=120)
            if not out.exists():
                log(f"{mode} #{i}: no SIGTERM recorded (exit {proc.returncode}): {proc.stderr[-300:]}")
                continue
            results[mode].append(json.loads(out.read_text()))
    values: dict[str, float] = {"repeats": repeats, "poll_interval_s": 0.2}
    for mode, marks in results.items():
        from_ledger = [m["sigterm"] - m["durable"] for m in marks]
        from_log = [m["sigterm"] - m["logged"] for m in marks]
        values[f"{mode}_n"] = len(marks)
        if marks:
            values[f"{mode}_median_s"] = median(from_ledger)
            values[f"{mode}_p90_s"] = percentile(from_ledger, 90)
            values[f"{mode}_max_s"] = max(from_ledger)
            values[f"{mode}_from_log_median_s"] = median(from_log)
            values[f"{mode}_from_log_max_s"] = max(from_log)
        log(f"{mode}: {len(marks)} stops, ledger->SIGTERM median "
            f"{values.get(f'{mode}_median_s', float('nan')):.3f} s, max {values.get(f'{mode}_max_s', float('nan')):.3f} s")
    write_result(args.out, values)


if __name__ == "__main__":
    main()
