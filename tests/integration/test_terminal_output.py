"""Output stored as a terminal shows it: progress-bar redraws collapsed, output capped per run
(head, marker, tail), both durable when the wrapper is killed; `gatebook tail` (and -f) print it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import PY, env_with, gb, gb_json, wait_for, write_script

pytest.importorskip("tqdm")

STEPS = 20_000  # ~2 s of tqdm with mininterval=0 here; 1.6 MB of redraws on the live stream

BAR_SCRIPT = f"""
import json, sys
from tqdm import tqdm

print("starting", flush=True)
for i in tqdm(range({STEPS}), mininterval=0, ascii=True):      # on stderr
    if i % 5000 == 0:                                                     # printed between redraws
        print("gatebook:", json.dumps({{"step": i, "loss": 1.0 / (i + 1)}}), flush=True)
bar = tqdm(range(3000), mininterval=0, ascii=True, file=sys.stdout, desc="eval")
for i in bar:                                                             # a bar on stdout...
    if i % 1000 == 999:                                                   # ...and lines through it
        bar.write("gatebook: " + json.dumps({{"step": i, "val_acc": i / 3000}}))
print("done", flush=True)
"""


def chunks_of(run: str, ledger: str) -> list[dict[str, Any]]:
    proc = gb("tail", run, "--json", store=ledger)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def stored_bytes(run: str, ledger: str) -> int:
    return sum(len(c["text"].encode()) for c in chunks_of(run, ledger))


def ledger_path(ledger: str) -> Path:
    return Path(ledger[len("sqlite:///"):])


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def test_a_real_tqdm_loop_is_stored_as_its_final_line(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "train.py", BAR_SCRIPT)
    started = time.monotonic()
    proc = gb("run", "--name", "bar", "--", PY, str(script), cwd=tmp_path, store=ledger)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the live stream still shows every redraw (text=True read each \r as a newline)
    assert proc.stderr.count(f"/{STEPS} [") >= STEPS and len(proc.stderr) > 1_000_000
    assert time.monotonic() - started < 60

    stored = stored_bytes("bar", ledger)
    assert stored < 1000, chunks_of("bar", ledger)  # 1.6 MB of redraws -> a few lines
    assert ledger_path(ledger).stat().st_size < 400_000

    out = gb("tail", "bar", store=ledger)
    assert out.returncode == 0
    assert out.stderr.count(f"100%|##########| {STEPS}/{STEPS}") == 1
    assert "\r" not in out.stderr and "\r" not in out.stdout
    stdout = out.stdout.splitlines()
    assert stdout[0] == "starting" and stdout[-1] == "done"
    assert sum(line.startswith("gatebook: ") for line in stdout) == 4 + 3
    assert sum(line.startswith("eval: 100%|##########| 3000/3000") for line in stdout) == 1
    assert not any("eval:" in line and "100%" not in line for line in stdout)  # no stale state
    assert out.stderr.strip().count("\n") == 0  # stderr holds only the bar's final line

    doc = gb_json("show", "bar", store=ledger)
    assert doc["metrics"]["loss"]["count"] == 4 and doc["metrics"]["loss"]["last_step"] == 15000
    assert doc["metrics"]["val_acc"]["count"] == 3 and doc["metrics"]["val_acc"]["last_step"] == 2999


def test_tail_minus_f_shows_each_line_once(tmp_path: Path, ledger: str) -> None:
    """Following a run with a slow bar: the bar's stored states are held back, its final line printed once."""
    script = write_script(tmp_path, "slow.py", (
        "import time\nfrom tqdm import tqdm\nprint('before', flush=True)\n"
        "for i in tqdm(range(30), mininterval=0, ascii=True, ncols=60):\n    time.sleep(0.1)\n"
        "print('after', flush=True)\n"))
    env = env_with(ledger, GATEBOOK_FLUSH_INTERVAL="0.05")
    run = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "slow", "-q", "--", PY, str(script)],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: gb("tail", "slow", store=ledger).stdout.startswith("before"), 30, what="the run's start")
        follow = gb("tail", "-f", "slow", store=ledger, timeout=60)
        assert run.wait(timeout=30) == 0
    finally:
        if run.poll() is None:
            run.kill()
    assert follow.returncode == 0
    assert follow.stdout == "before\nafter\n"
    assert follow.stderr.count("100%|") == 1 and follow.stderr.count("%|") == 1, follow.stderr


def test_a_killed_wrapper_keeps_the_bar_drawn_so_far_once(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "slow.py", (
        "import time\nfrom tqdm import tqdm\nprint('head line', flush=True)\n"
        "for i in tqdm(range(1000), mininterval=0, ascii=True, ncols=60):\n    time.sleep(0.02)\n"))
    run = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "killed", "-q", "--", PY, str(script)],
                           cwd=tmp_path, env=env_with(ledger), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        def drawn() -> bool:
            bars = [c for c in chunks_of("killed", ledger) if c["stream"] == "stderr"] if ledger_path(
                ledger).exists() else []
            return bool(bars) and "/1000" in bars[0]["text"] and not bars[0]["text"].startswith("  0%")

        wait_for(drawn, 30, what="the bar's state in the ledger")
        time.sleep(0.5)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
    out = gb("tail", "killed", store=ledger)
    assert out.stdout == "head line\n"
    assert out.stderr.count("/1000") == 1 and "\r" not in out.stderr  # one state, no redraws
    chunks = chunks_of("killed", ledger)
    assert len(chunks) == 2 and stored_bytes("killed", ledger) < 200


CAP_SCRIPT = """
import sys
for i in range(50_000):                          # 5 MB of lines
    if i % 10_000 == 0:
        print('gatebook: {"step": %d, "seen": %d}' % (i, i))
    print("line %06d %s" % (i, "x" * 88))
print("the very end")
"""


@pytest.mark.parametrize("how", ["env", "project file"])
def test_output_over_the_limit_keeps_its_head_and_tail(tmp_path: Path, store_url: str, how: str) -> None:
    script = write_script(tmp_path, "chatty.py", CAP_SCRIPT)
    if how == "env":
        env = env_with(store_url, GATEBOOK_OUTPUT_LIMIT="64KiB")
    else:
        (tmp_path / "gatebook.yaml").write_text("output:\n  limit: 64KiB\n")
        env = env_with(store_url)
    proc = subprocess.run([PY, "-m", "gatebook", "run", "--name", "chatty", "-q", "--", PY, str(script)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    chunks = chunks_of("chatty", store_url)
    size = sum(len(c["text"].encode()) for c in chunks)
    assert 60_000 < size <= 64 * 1024
    markers = [c for c in chunks if c["stream"] == "gatebook"]
    assert len(markers) == 1
    assert "bytes of output cut here; limit 64 KiB" in markers[0]["text"]
    cut = int(markers[0]["text"].split(" bytes")[0].split()[-1].replace(",", ""))
    assert cut + size - len(markers[0]["text"]) == sum(
        len(line) for line in subprocess.run([PY, str(script)], capture_output=True, text=True).stdout.splitlines(
            keepends=True))
    out = gb("tail", "chatty", store=store_url)
    lines = out.stdout.splitlines()
    assert lines[0] == 'gatebook: {"step": 0, "seen": 0}' and lines[1].startswith("line 000000 ")
    assert lines[-1] == "the very end" and lines[-2].startswith("line 049999 ")
    assert "bytes of output cut here" in out.stderr  # gatebook's own note, on stderr
    # the metric lines in the cut middle were still parsed
    doc = gb_json("show", "chatty", store=store_url)
    assert doc["metrics"]["seen"]["count"] == 5 and doc["metrics"]["seen"]["last"] == 40000
    if store_url.startswith("sqlite:///"):
        assert ledger_path(store_url).stat().st_size < 1_000_000  # not 5 MB


def test_a_killed_wrapper_over_the_limit_keeps_head_marker_and_recent_tail(tmp_path: Path, ledger: str) -> None:
    script = write_script(tmp_path, "endless.py", (
        "import time\ni = 0\nwhile True:\n"
        "    print('line %07d %s' % (i, 'y' * 60), flush=(i % 50 == 0))\n"
        "    i += 1\n    if i % 500 == 0:\n        time.sleep(0.01)\n"))
    env = env_with(ledger, GATEBOOK_OUTPUT_LIMIT="16KiB")
    run = subprocess.Popen([PY, "-m", "gatebook", "run", "--name", "endless", "-q", "--", PY, str(script)],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def cut_a_lot() -> bool:
            if not ledger_path(ledger).exists():
                return False
            marker = [c for c in chunks_of("endless", ledger) if c["stream"] == "gatebook"]
            return bool(marker) and int(marker[0]["text"].split(" bytes")[0].split()[-1].replace(",", "")) > 500_000

        wait_for(cut_a_lot, 60, what="a large cut")
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
    time.sleep(0.5)  # the watchdog stops the command
    chunks = chunks_of("endless", ledger)
    size = sum(len(c["text"].encode()) for c in chunks)
    assert size <= 16 * 1024  # bounded at every flush (each batch deletes what falls out of the tail)
    text = "".join(c["text"] for c in chunks if c["stream"] == "stdout")
    lines = text.splitlines()
    assert lines[0].startswith("line 0000000 ")
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == sorted(numbers) and numbers[-1] > 5000  # the tail: what was written last
    head = [n for n in numbers if n < 1000]
    assert head == list(range(len(head)))
    assert [c["stream"] for c in chunks].count("gatebook") == 1


def test_tail_renders_raw_redraws_of_an_older_ledger(tmp_path: Path, ledger: str) -> None:
    """Ledgers written before collapsing hold raw redraws: tail prints what a terminal showed."""
    from gatebook.capture.recorder import make_record
    from gatebook.store import open_store
    from gatebook.store.base import WriteBatch

    store = open_store(ledger)
    rec = make_record(name="old", parent_id=None, tags=(), group=None, command=["x"], cwd=str(tmp_path),
                      source="wrapper")
    run_id = store.create_run(rec) or rec.id
    raw = "".join(f"\r{i:>3}%|{'#' * (i // 10):<10}|" for i in range(101)) + "\n"
    pieces = [raw[i:i + 37] for i in range(0, len(raw), 37)]
    chunks = [(0, 1.0, "stdout", "epoch 1\n")] + [(i + 1, 1.0, "stderr", p) for i, p in enumerate(pieces)]
    chunks.append((len(chunks), 2.0, "stdout", "epoch 2\nno newline"))
    store.write(WriteBatch(output=[(run_id, chunks)]))
    from gatebook.records import RunStatus

    store.set_status(run_id, RunStatus.FINISHED, exit_code=0, ended_at=3.0)
    store.close()
    out = gb("tail", "old", store=ledger)
    assert out.stdout == "epoch 1\nepoch 2\nno newline"
    assert out.stderr == "100%|##########|\n"
    follow = gb("tail", "-f", "old", store=ledger)
    assert (follow.stdout, follow.stderr) == (out.stdout, out.stderr)
    raw_json = [json.loads(line)["text"] for line in gb("tail", "old", "--json", store=ledger).stdout.splitlines()]
    assert "".join(raw_json[1:-1]) == raw  # --json gives the chunks as stored


def test_tail_follow_holds_a_line_still_being_drawn(tmp_path: Path, ledger: str) -> None:
    """A provisional chunk (rewritten in place, then moved, then replaced by its final line) is
    printed once by tail -f, in its final state."""
    from gatebook.capture.recorder import make_record
    from gatebook.records import RunStatus
    from gatebook.store import open_store
    from gatebook.store.base import WriteBatch

    store = open_store(ledger)
    rec = make_record(name="live", parent_id=None, tags=(), group=None, command=["x"], cwd=str(tmp_path),
                      source="wrapper")  # owned by this (living) test process: running
    run_id = store.create_run(rec) or rec.id

    def write(chunks: list[Any], deletes: list[int] = ()) -> None:  # type: ignore[assignment]
        store.write(WriteBatch(output=[(run_id, chunks)], output_deletes=[(run_id, list(deletes))]))

    write([(0, 1.0, "stdout", "start\n"), (1, 1.0, "stderr", " 10%|#")])
    follow = subprocess.Popen([PY, "-m", "gatebook", "tail", "-f", "live"], cwd=tmp_path, env=env_with(ledger),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        write([(1, 2.0, "stderr", " 20%|##")])  # rewritten in place
        time.sleep(0.5)
        write([(2, 2.5, "stdout", "between\n"), (3, 2.5, "stderr", " 30%|###")], deletes=[1])  # moved
        time.sleep(0.5)
        write([(4, 3.0, "stderr", "100%|##########|\n")], deletes=[3])  # finished
        write([(5, 3.0, "stderr", "  0%|")])  # a second bar, still drawn when the run ends
        time.sleep(0.5)
        write([(5, 3.5, "stderr", " 50%|#####")])
        store.set_status(run_id, RunStatus.FINISHED, exit_code=0, ended_at=4.0)
        stdout, stderr = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
        store.close()
    assert follow.returncode == 0
    assert stdout == "start\nbetween\n"
    assert stderr == "100%|##########|\n 50%|#####"
