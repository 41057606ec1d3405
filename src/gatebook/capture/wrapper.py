"""``gatebook run``: record a command as a run while it runs.

Order of work, chosen so the wrapper never delays the command: parse and validate
everything that can fail (config file, metric regexes, the parent run); start the
child; then, while it runs, open the ledger, create the run, record params and
provenance, and flush output and metric points every flush interval. At the end,
record the exit code and status and return the child's exit code. (A server ledger is
open before the child starts anyway: there the run is created first, so its id is
surely its own; an SQLite ledger's id is claimed among this machine's processes.)
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from gatebook.errors import UsageError
from gatebook.records import RunStatus

if TYPE_CHECKING:
    from gatebook.capture.redact import RedactedArgv


@dataclass
class WrapOptions:
    argv: Sequence[str]
    name: str | None = None
    parent: str | None = None
    config_file: str | None = None
    tags: Sequence[str] = ()
    group: str | None = None
    store: str | None = None
    prefix: str = "gatebook:"
    kv: bool = False
    regexes: Sequence[str] = ()
    echo: bool = True
    stop_grace: float = 10.0
    gates: Sequence[str] = ()
    watch: Sequence[str] = ()
    baseline: str | None = None
    cwd: str | None = None
    """Where the command runs and the project is looked up (default: the current directory)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the command's environment (a sweep trial's CUDA_VISIBLE_DEVICES)."""
    control: "WrapControl | None" = None
    """Lets another thread interrupt the run (a sweep's Ctrl-C); signals are only forwarded
    from the main thread."""


class WrapControl:
    """A handle on a run being wrapped in another thread: :meth:`interrupt` does what a
    Ctrl-C at the terminal does (SIGINT to the command's group; a second one SIGKILLs it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: Any = None
        self._interrupted: list[int] | None = None
        self._pending: list[int] = []
        self.run_id: str | None = None

    def _attach(self, child: Any, interrupted: list[int], run_id: str) -> None:
        with self._lock:
            self._child, self._interrupted, self.run_id = child, interrupted, run_id
            pending, self._pending = self._pending, []
        for signum in pending:
            self.interrupt(signum)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        with self._lock:
            if self._child is None:  # not started yet: delivered as soon as it is
                self._pending.append(signum)
                return
            child, interrupted = self._child, self._interrupted
        assert interrupted is not None
        _interrupt(child, interrupted, signum)


def _interrupt(child: Any, interrupted: list[int], signum: int) -> None:
    """Ctrl-C / SIGTERM / SIGHUP of the wrapper: to the child's group; a second Ctrl-C kills it.
    A command that already ended (and left nothing holding its output open) is left alone: its
    run ends as the command did."""
    if child.poll() is not None and child.readers_done():
        return
    if interrupted and signum == signal.SIGINT:
        child.send(signal.SIGKILL)
        return
    interrupted.append(signum)
    child.send(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)


@dataclass
class WrapResult:
    run_id: str
    status: RunStatus
    exit_code: int
    duration: float
    points: int
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    verdict: Any = None  # gatebook.gates.evaluate.Verdict when gates were given
    advice: Any = None  # gatebook.gates.playbook.Advice after a stop by a gate
    stopped_by: str | None = None  # "gate NAME" or who ran `gatebook stop`
    name: str | None = None
    failed_stop_gates: list[str] = field(default_factory=list)  # on_fail: stop gates whose final verdict is FAIL

    def to_dict(self) -> dict[str, Any]:
        """The ``gatebook run --json`` document (docs/json.md), without its ``preflight``."""
        return {"id": self.run_id, "status": self.status.value, "exit_code": self.exit_code,
                "duration": self.duration, "reason": self.reason, "points_from_output": self.points,
                "warnings": self.warnings,
                "verdict": self.verdict.to_dict() if self.verdict is not None else None,
                "advice": self.advice.to_dict() if self.advice is not None else None,
                "stopped_by": self.stopped_by}

    @property
    def failed_verdict(self) -> bool:
        """A clean exit that an ``on_fail: stop`` gate still failed (the wrapper exits 1 then)."""
        return self.exit_code == 0 and ((self.stopped_by or "").startswith("gate ") or bool(self.failed_stop_gates))


class _Collector:
    """Thread-safe buffer between the output readers and the flushing loop.

    The metric parsers read the raw text; what is stored goes through
    :class:`~gatebook.capture.stored.StoredOutput`: progress-bar redraws collapsed to the line's
    final state, ``redact`` applied to it (never to what the parsers or the live echo see), at
    most ``output_limit`` bytes kept (its head and its tail; ``None``: GATEBOOK_OUTPUT_LIMIT or
    the default, 0: all)."""

    def __init__(self, run_id: str, parsers: dict[str, Any], redact: Callable[[str], str] | None = None,
                 *, output_limit: int | None = None) -> None:
        from gatebook.capture.stored import StoredOutput
        from gatebook.settings import output_limit as default_limit

        self.run_id = run_id
        self.parsers = parsers
        self.lock = threading.Lock()
        self.output = StoredOutput(limit=default_limit() if output_limit is None else output_limit, redact=redact)
        self.points: list[tuple[str, str, int | None, float, float]] = []
        self.total_points = 0

    def on_output(self, stream: str, text: str) -> None:
        ts = time.time()
        pts = self.parsers[stream].feed(text)
        self.output.feed(stream, text, ts)
        if pts:
            with self.lock:
                rid = self.run_id
                self.points.extend((rid, k, s, v, ts) for k, s, v in pts)
                self.total_points += len(pts)

    def add_points(self, pts: list[tuple[str, int | None, float]]) -> None:
        """Points from a watched file."""
        if not pts:
            return
        ts = time.time()
        with self.lock:
            self.points.extend((self.run_id, k, s, v, ts) for k, s, v in pts)
            self.total_points += len(pts)

    def close(self) -> None:
        """The output ended: last lines without a newline are parsed, and the lines still being
        drawn are stored as they stand."""
        ts = time.time()
        with self.lock:
            for parser in self.parsers.values():
                pts = parser.close()
                self.points.extend((self.run_id, k, s, v, ts) for k, s, v in pts)
                self.total_points += len(pts)
        self.output.close()

    def take(self) -> tuple[list[Any], list[Any], list[int]]:
        """Output chunks to write, metric points, output seqs to delete."""
        chunks, deletes = self.output.take()
        with self.lock:
            points, self.points = self.points, []
        return chunks, points, deletes

    def flush(self, store: Any, *, beat: bool) -> None:
        """Write what was collected (and a heartbeat) in one batch."""
        from gatebook.store.base import WriteBatch

        chunks, points, deletes = self.take()
        batch = WriteBatch(metrics=points)
        if deletes:
            batch.output_deletes.append((self.run_id, deletes))
        if chunks:
            batch.output.append((self.run_id, chunks))
        if beat:
            batch.heartbeats.append((self.run_id, time.time()))
        store.write(batch)


def judge_live(live: Any, act: Any, warnings: dict[str, str]) -> None:
    """One poll of the live gates; a stop decision goes to ``act``. A ledger hiccup only
    skips this poll (noted once in ``warnings``)."""
    try:
        decision = live.poll()
    except Exception as exc:
        warnings.setdefault("live", f"live gates skipped a poll: {exc}")
        return
    if decision is not None:
        act(decision)


def run_wrapped(opts: WrapOptions) -> WrapResult:
    """Run ``opts.argv`` as a recorded run and return how it ended."""
    from gatebook import project
    from gatebook.capture.params import load_config_file, params_from_argv, params_from_object
    from gatebook.capture.process import Child
    from gatebook.capture.redact import redact_argv
    from gatebook.ids import claim_run_id, new_run_id
    from gatebook.ingest.stdout import LineParser
    from gatebook.project_config import load_project_config
    from gatebook.settings import load_settings, output_limit

    if not opts.argv:
        raise UsageError("no command to run", hint="usage: gatebook run [OPTIONS] -- COMMAND [ARGS]...")
    cwd = opts.cwd or os.getcwd()
    exe = opts.argv[0]
    if shutil.which(exe) is None and not (os.sep in exe and os.access(os.path.join(cwd, exe), os.X_OK)):
        raise UsageError(f"command not found: {exe}", hint="check the spelling or give its path")
    settings = load_settings(store=opts.store)
    proj = project.locate(settings.store_url or None, create=True, start=Path(cwd))
    pconf = load_project_config(proj.root)
    config_file = os.path.join(cwd, opts.config_file) if opts.config_file else None
    config_params = params_from_object(load_config_file(config_file)) if config_file else {}
    safe = redact_argv(opts.argv)  # secrets on the command line: stored as ***, the command gets them
    argv_params = params_from_argv(safe.argv)
    regexes = list(opts.regexes) + list(pconf.ingest.regex)
    parsers = {s: LineParser(prefix=opts.prefix or pconf.ingest.prefix, kv=opts.kv or pconf.ingest.kv,
                             regexes=regexes) for s in ("stdout", "stderr")}

    # Validate the ledger before starting anything. An SQLite ledger is checked without
    # opening it (SQLAlchemy's import would delay the command); a server or a parent run
    # to resolve needs the real connection first.
    store = None
    parent_id = None
    if opts.parent or not proj.store_url.startswith("sqlite:///"):
        from gatebook.capture.recorder import resolve_parent
        from gatebook.store import open_store

        store = open_store(proj.store_url)
        parent_id = resolve_parent(store, opts.parent)
    else:
        project.check_sqlite_writable(Path(proj.store_url[len("sqlite:///"):]))

    gating = None
    if opts.baseline and not opts.gates:
        raise UsageError("--baseline is for the gates given with --gate, and there are none",
                         hint="add --gate NAME, or drop --baseline")
    if opts.gates:
        from gatebook.gates.setup import prepare_gates

        if store is None:
            from gatebook.store import open_store

            store = open_store(proj.store_url)
        gating = prepare_gates(store, pconf, opts.gates, opts.baseline)
    from gatebook.capture.watch import watch_follower

    # The command gets its run's id before it starts (GATEBOOK_RUN_ID), so the id must be its own:
    # on a server ledger (open already) the run is created first, under an id nobody holds; an
    # SQLite ledger is not opened yet (SQLAlchemy's import would delay the command), and the id is
    # claimed among this machine's processes instead
    sqlite_path = proj.store_url[len("sqlite:///"):] if proj.store_url.startswith("sqlite:///") else None
    run_id = claim_run_id(sqlite_path) if sqlite_path else new_run_id()
    started = time.time()
    followers = [watch_follower(path, cwd, prefix=opts.prefix or pconf.ingest.prefix,
                                kv=opts.kv or pconf.ingest.kv, regexes=regexes, since=started)
                 for path in opts.watch]
    precreated = False
    if store is not None and sqlite_path is None:  # everything that can be refused was checked
        run_id = store.create_run(_new_record(opts, run_id, parent_id, cwd, started, safe.argv))
        precreated = True
    collector = _Collector(run_id, parsers, redact=safe.redact_text(),
                           output_limit=output_limit(pconf.output.limit))
    env = project.env_for_child(proj.store_url, run_id)
    env.update(opts.env)
    interrupted: list[int] = []
    # handlers first: a signal that comes while the command starts is held, then forwarded
    target: list[Any] = []
    early: list[int] = []
    previous = _forward_signals(target, early, interrupted)
    try:
        child = Child.start(opts.argv, env=env, cwd=cwd, on_output=collector.on_output, echo=opts.echo,
                            stop_grace=opts.stop_grace)
    except OSError as exc:
        _restore(previous)
        if precreated and store is not None:
            store.set_status(run_id, RunStatus.FAILED, reason=f"cannot start {exe}: {exc.strerror or exc}",
                             ended_at=time.time())
        raise UsageError(f"cannot start {exe}: {exc.strerror or exc}", hint="check the command") from None
    except BaseException:
        _restore(previous)
        raise
    target.append(child)
    while early:
        _interrupt(child, interrupted, early.pop(0))
    if opts.control is not None:
        opts.control._attach(child, interrupted, run_id)
    try:
        return _record(opts, child, collector, store, proj.store_url, run_id, parent_id, started,
                       config_params, argv_params, settings, interrupted, gating, followers, cwd, env,
                       precreated, safe)
    except BaseException:
        # recording failed (the ledger went away...): never leave the command running on its own,
        # even when this wrapper is a thread of a longer-lived process (a sweep)
        if child.poll() is None:
            child.stop(opts.stop_grace)
        raise
    finally:
        _restore(previous)


def _new_record(opts: WrapOptions, run_id: str, parent_id: str | None, cwd: str, started: float,
                command: Sequence[str]) -> Any:
    from gatebook.capture.recorder import make_record

    return make_record(run_id=run_id, name=opts.name, parent_id=parent_id, tags=opts.tags, group=opts.group,
                       command=list(command), cwd=cwd, source="wrapper", created_at=started)


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _forward_signals(target: list[Any], early: list[int], interrupted: list[int]) -> dict[int, Any]:
    """Ctrl-C / SIGTERM / SIGHUP go to the child's group (``target[0]`` once it is started; until
    then they wait in ``early``); a second Ctrl-C kills it. Main thread only (no locks here: a
    handler runs between any two bytecodes of the main thread)."""
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, _frame: Any) -> None:
        if not target:
            early.append(signum)
            return
        _interrupt(target[0], interrupted, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _record(opts: WrapOptions, child: Any, collector: _Collector, store: Any, store_url: str, run_id: str,
            parent_id: str | None, started: float, config_params: dict[str, Any],
            argv_params: dict[str, Any], settings: Any, interrupted: list[int], gating: Any,
            followers: list[Any], cwd: str, env: dict[str, str], precreated: bool,
            safe: RedactedArgv) -> WrapResult:
    from gatebook.capture.argv import config_file_artifacts
    from gatebook.capture.recorder import provenance_batch
    from gatebook.store import open_store
    from gatebook.store.base import WriteBatch

    if store is None:
        store = open_store(store_url)
    if not precreated:
        # the command already has this id (GATEBOOK_RUN_ID): it cannot move to another one; the id
        # was claimed among this machine's processes (ids.claim_run_id)
        store.create_run(_new_record(opts, run_id, parent_id, cwd, started, safe.argv), keep_id=True)
    supervised = {"gates": [g.name for g in gating.gates] if gating else [], "watch": list(opts.watch),
                  "baseline": gating.baseline_id if gating else None, "config_file": opts.config_file}
    store.update_run(run_id, provenance={"gatebook": supervised})
    first = WriteBatch()
    if config_params:
        first.params.append((run_id, "config", config_params))
    if argv_params:
        first.params.append((run_id, "argv", argv_params))
    first.artifacts.extend(config_file_artifacts(run_id, safe.argv, cwd))  # `python train.py config/small.py`
    store.write(first)

    prov_result: list[Any] = []

    def capture() -> None:
        try:
            prov_result.append(provenance_batch(store, run_id, cwd, environ=env, command=opts.argv,
                                                secrets=safe.secrets))
        except Exception as exc:  # best effort; never fatal
            prov_result.append(exc)

    prov_thread = threading.Thread(target=capture, name="gatebook-provenance", daemon=True)
    prov_thread.start()

    from gatebook.gates.live import LiveGates

    say = _sayer(opts.echo)
    stopped: list[Any] = []
    interrupt_reason: list[str] = []

    def act(decision: Any) -> None:
        if stopped or interrupt_reason:
            return
        if decision.interrupt:  # a sweep on a cluster interrupting its trials: as a Ctrl-C here
            interrupt_reason.append(decision.reason)
            _interrupt(child, interrupted, signal.SIGINT)
            say(f"interrupting {opts.name or run_id}: {decision.reason} (by {decision.by})")
            return
        stopped.append(decision)
        child.stop(opts.stop_grace)
        say(f"stopping {opts.name or run_id}: {decision.reason} (SIGTERM to its process group, "
            f"SIGKILL after {opts.stop_grace:g} s)")

    live = LiveGates(store, run_id, gating.gates if gating else [], direction_of=direction_of(gating),
                     baselines=gating.baselines if gating else {}, say=say, run_label=opts.name or run_id,
                     on_stop=act)

    warn_once: dict[str, str] = {}
    next_beat = 0.0
    while child.poll() is None or not child.readers_done():
        now = time.time()
        beat = now >= next_beat
        if beat:
            next_beat = now + settings.heartbeat
        for follower in followers:
            collector.add_points(follower.poll())
        collector.flush(store, beat=beat)
        live.allow_stop = child.poll() is None  # a command that already ended is not "stopped"
        judge_live(live, act, warn_once)
        child.pause(settings.flush_interval)
    result = child.wait()
    collector.close()
    for follower in followers:
        collector.add_points(follower.close())
    collector.flush(store, beat=False)
    prov_thread.join(timeout=30)
    warnings: list[str] = []
    for item in prov_result:
        if isinstance(item, Exception):
            warnings.append(f"provenance not fully captured: {item}")
        else:
            store.write(item)
    for parser in collector.parsers.values():
        warnings.extend(f"metric line skipped: {e}" for e in parser.errors)
    for follower in followers:
        warnings.extend(f"watched file: {e}" for e in follower.errors)
    warnings.extend(warn_once.values())

    status, reason = _status_of(result, interrupted, interrupt_reason[0] if interrupt_reason else None)
    ended = time.time()
    if not store.set_status(run_id, status, exit_code=result.returncode, reason=reason, ended_at=ended):
        store.update_run(run_id, exit_code=result.returncode, ended_at=ended)  # stopped: keep its reason
    verdict = live.final()
    advice = _advice(store, run_id, gating, verdict, stopped[0].gate if stopped else None, live.series)
    from gatebook.analysis.intended import run_warnings

    warnings[:0] = run_warnings(store, run_id, cwd)  # the code ignored an argument: say it first
    final = store.get_run(run_id)
    store.close()
    return WrapResult(run_id=run_id, status=final.status, exit_code=result.returncode,
                      duration=ended - started, points=collector.total_points, reason=final.reason,
                      warnings=warnings, verdict=verdict, advice=advice,
                      stopped_by=stopped[0].by if stopped else None, name=final.name,
                      failed_stop_gates=_failed_stop_gates(gating, verdict))


def _advice(store: Any, run_id: str, gating: Any, verdict: Any, stop_gate: str | None, series: Any) -> Any:
    """The playbook's advice for the gate that stopped the run, else the first failed gate
    that has a playbook (a warn gate's advice is printed too)."""
    if gating is None:
        return None
    from gatebook.gates.setup import advice_for

    failed = {r.name for r in verdict.gates if r.tier.value == "FAIL"} if verdict is not None else set()
    for gate in gating.gates:
        if gate.name == stop_gate or (stop_gate is None and gate.name in failed and
                                      (gate.playbook.fixes or gate.playbook.signatures)):
            return advice_for(store, run_id, gate, series, gating)
    return None


def _failed_stop_gates(gating: Any, verdict: Any) -> list[str]:
    if gating is None or verdict is None:
        return []
    stop = {g.name for g in gating.gates if g.on_fail == "stop"}
    return [r.name for r in verdict.gates if r.name in stop and r.tier.value == "FAIL"]


def direction_of(gating: Any) -> Any:
    """The gates' metric directions (none without gates)."""
    return gating.direction_of if gating is not None else (lambda key: None)


def _sayer(echo: bool) -> Any:
    def say(line: str) -> None:
        if echo:
            print(f"gatebook: {line}", file=sys.stderr, flush=True)

    return say


def _status_of(result: Any, interrupted: list[int], why: str | None = None) -> tuple[RunStatus, str | None]:
    if interrupted and why:
        return RunStatus.INTERRUPTED, why
    if interrupted:
        name = signal.Signals(interrupted[0]).name
        return RunStatus.INTERRUPTED, f"{'Ctrl-C' if name == 'SIGINT' else name} forwarded to the command"
    if result.returncode == 0:
        return RunStatus.FINISHED, None
    if result.signal is not None:
        return RunStatus.FAILED, f"killed by {signal.Signals(result.signal).name}"
    return RunStatus.FAILED, f"exit code {result.returncode}"


def print_end(result: WrapResult, *, stream: Any = None) -> None:
    stream = stream or sys.stderr
    from gatebook.render.text import duration

    line = (f"gatebook: run {result.run_id} {result.status.value} in {duration(result.duration)} "
            f"(exit {result.exit_code}, {result.points} metric points from output and watched files)")
    if result.reason and result.status is not RunStatus.FINISHED:
        line += f": {result.reason}"
    print(line, file=stream)
    if result.verdict is not None:
        gates = ", ".join(f"{g.name} {g.tier.value}" for g in result.verdict.gates)
        print(f"gatebook: gates: {gates}", file=stream)
    if result.advice is not None:
        from gatebook.gates.report import advice_lines

        for line in advice_lines(result.advice, result.name or result.run_id):
            print(f"gatebook: {line}", file=stream)
    if result.failed_stop_gates and not result.stopped_by:
        print(f"gatebook: the command ended before gate {', '.join(result.failed_stop_gates)} could stop it; "
              f"its final verdict is FAIL", file=stream)
    for w in result.warnings[:5]:
        print(f"gatebook: warning: {w}", file=stream)
    print(f"gatebook: see `gatebook show {result.run_id}`", file=stream)
