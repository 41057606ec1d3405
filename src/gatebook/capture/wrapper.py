"""``gatebook run`` (and a sweep's trials): start a command and supervise it as a run.

Order of work, chosen so the wrapper never delays the command: parse and validate
everything that can fail (config file, metric regexes, the parent run); start the
child; then :func:`gatebook.capture.supervise.supervise` opens the ledger while it runs,
creates the run, records params and provenance, and flushes output and metric points every
flush interval; at the end it records the exit code and status. (A server ledger is
open before the child starts anyway: there the run is created first, so its id is
surely its own; an SQLite ledger's id is claimed among this machine's processes.)
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from gatebook.errors import UsageError
from gatebook.ingest.collector import Collector
from gatebook.records import RunStatus

if TYPE_CHECKING:
    from gatebook.capture.process import Child
    from gatebook.capture.supervise import SuperviseResult as WrapResult


def __getattr__(name: str) -> Any:
    """``WrapResult``: how a wrapped run ended, the one result type of
    :mod:`gatebook.capture.supervise` (imported once the command runs, not before)."""
    if name == "WrapResult":
        from gatebook.capture.supervise import SuperviseResult

        return SuperviseResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    replicate: str | None = None
    """The replicate set the run joins (``gatebook run --repeat``; gatebook.capture.repeat)."""
    control: "WrapControl | None" = None
    """Lets another thread interrupt the run (a sweep's Ctrl-C); signals are only forwarded
    from the main thread."""


class WrapControl:
    """A handle on a run being wrapped in another thread: :meth:`interrupt` does what a
    Ctrl-C at the terminal does (SIGINT to the command's group; a second one SIGKILLs it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._target: ChildTarget | None = None
        self._pending: list[int] = []
        self.run_id: str | None = None

    def _attach(self, target: "ChildTarget", run_id: str) -> None:
        with self._lock:
            self._target, self.run_id = target, run_id
            pending, self._pending = self._pending, []
        for signum in pending:
            target.signal(signum)

    def interrupt(self, signum: int = signal.SIGINT) -> None:
        with self._lock:
            if self._target is None:  # not started yet: delivered as soon as it is
                self._pending.append(signum)
                return
            target = self._target
        target.signal(signum)


class ChildTarget:
    """The command ``gatebook run`` started, as :func:`~gatebook.capture.supervise.supervise`'s
    target. Signals to the wrapper (:meth:`signal`) are held until the command is started."""

    exit_known = True
    allow_stop = True
    what = "its process group"
    detached: int | None = None  # a started command is never left running

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.child: Child | None = None
        self.pid = 0
        self.interrupted: list[int] = []
        self.errors: list[str] = []
        self._early: list[int] = []

    def started(self, child: Child) -> None:
        self.child, self.pid = child, child.pid
        while self._early:
            self.signal(self._early.pop(0))

    def signal(self, signum: int) -> None:
        """Ctrl-C / SIGTERM / SIGHUP of the wrapper: to the child's group; a second Ctrl-C kills it.
        A command that already ended (and left nothing holding its output open) is left alone: its
        run ends as the command did. (Called from a signal handler: no locks.)"""
        child = self.child
        if child is None:
            self._early.append(signum)
            return
        if child.poll() is not None and child.readers_done():
            return
        if self.interrupted and signum == signal.SIGINT:
            child.send(signal.SIGKILL)
            return
        self.interrupted.append(signum)
        child.send(signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM)

    def _child(self) -> Child:
        assert self.child is not None, "the command is not started"
        return self.child

    def exited(self) -> bool:
        return self._child().poll() is not None

    def done(self) -> bool:
        child = self._child()
        return child.poll() is not None and child.readers_done()

    def pause(self, seconds: float) -> None:
        self._child().pause(seconds)

    def stop(self) -> None:
        self._child().stop(self.grace)

    def interrupt(self, signum: int) -> bool:
        self.signal(signum)
        return True

    def tick(self) -> None:
        pass

    def finish(self, why: str | None) -> tuple[int, RunStatus, str | None]:
        result = self._child().wait()
        if self.interrupted:
            name = signal.Signals(self.interrupted[0]).name
            return result.returncode, RunStatus.INTERRUPTED, why or (
                f"{'Ctrl-C' if name == 'SIGINT' else name} forwarded to the command")
        if result.returncode == 0:
            return 0, RunStatus.FINISHED, None
        if result.signal is not None:
            return result.returncode, RunStatus.FAILED, f"killed by {signal.Signals(result.signal).name}"
        return result.returncode, RunStatus.FAILED, f"exit code {result.returncode}"

    def abandon(self) -> None:
        # never leave the command running on its own, even when this wrapper is a thread of a
        # longer-lived process (a sweep)
        if self.child is not None and self.child.poll() is None:
            self.child.stop(self.grace)


def run_wrapped(opts: WrapOptions) -> WrapResult:
    """Run ``opts.argv`` as a recorded run and return how it ended."""
    from gatebook import project
    from gatebook.capture.params import load_config_file, params_from_argv, params_from_object
    from gatebook.capture.process import Child, on_signals, restore_signals
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
        from gatebook.store.urls import check_sqlite_writable

        check_sqlite_writable(Path(proj.store_url[len("sqlite:///"):]))

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
    from gatebook.ingest.watch import watch_follower

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
    collector = Collector(run_id, parsers, redact=safe.redact_text(), output_limit=output_limit(pconf.output.limit))
    env = project.env_for_child(proj.store_url, run_id)
    env.update(opts.env)
    target = ChildTarget(opts.stop_grace)
    previous = on_signals(target.signal)  # first: a signal that comes while the command starts is held
    try:
        child = Child.start(opts.argv, env=env, cwd=cwd, on_output=collector.on_output, echo=opts.echo,
                            stop_grace=opts.stop_grace)
    except OSError as exc:
        restore_signals(previous)
        if precreated and store is not None:
            store.set_status(run_id, RunStatus.FAILED, reason=f"cannot start {exe}: {exc.strerror or exc}",
                             ended_at=time.time())
        raise UsageError(f"cannot start {exe}: {exc.strerror or exc}", hint="check the command") from None
    except BaseException:
        restore_signals(previous)
        raise
    target.started(child)
    from gatebook.capture.supervise import Plan, supervise  # the loop: imported while the command runs

    if opts.control is not None:
        opts.control._attach(target, run_id)
    supervised = {"gates": [g.name for g in gating.gates] if gating else [], "watch": list(opts.watch),
                  "baseline": gating.baseline_id if gating else None, "config_file": opts.config_file}
    plan = Plan(store_url=proj.store_url, run_id=run_id, collector=collector, settings=settings, started=started,
                store=store, name=opts.name, gating=gating, followers=followers, supervised=supervised,
                # the command already has this id (GATEBOOK_RUN_ID): it cannot move to another one
                record=None if precreated else _new_record(opts, run_id, parent_id, cwd, started, safe.argv),
                keep_id=True, params=[("config", config_params), ("argv", argv_params)], argv=list(safe.argv),
                cwd=cwd, prov_cwd=cwd, prov_environ=env, prov_command=list(opts.argv), secrets=safe.secrets,
                echo=opts.echo, grace=opts.stop_grace, notify=list(pconf.notify))
    try:
        return supervise(plan, target)
    finally:
        restore_signals(previous)


def _new_record(opts: WrapOptions, run_id: str, parent_id: str | None, cwd: str, started: float,
                command: Sequence[str]) -> Any:
    from gatebook.capture.recorder import make_record

    return make_record(run_id=run_id, name=opts.name, parent_id=parent_id, tags=opts.tags, group=opts.group,
                       command=list(command), cwd=cwd, source="wrapper", created_at=started,
                       replicate=opts.replicate)
