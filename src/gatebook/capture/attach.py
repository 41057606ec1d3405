"""``gatebook attach``: adopt a process started without gatebook and supervise it as a run.

The loop is ``gatebook run``'s (:mod:`gatebook.capture.supervise`) with an adopted process
as its target (:class:`AdoptedTarget`): validate everything first (the pid, the gates, the
baseline, the ledger); read what can be read of the process (command line, cwd, start
time, environment, via psutil); create the run (``source="attach"``, owned by the process's
pid and start time, created at the process's start); then every flush interval poll the followed files (those last
written before the process started are an earlier run's: skipped), write their
points, the log's new lines (as ``stdout`` output) and a heartbeat, and judge the live
gates. A stop decision (a gate with ``on_fail: stop`` and ``--allow-stop``, or
``gatebook stop RUN`` from any shell, honoured without ``--allow-stop``) stops the
process: SIGTERM to its process group when it leads one, else to the pid alone; SIGKILL
after the grace period if the same process (pid and start time) still runs.

The end:

* the process ended: its exit code cannot be read (it is not our child), so the run is
  ``finished`` with the reason ``process ended (exit code unknown: not started by
  gatebook)``, unless a stop was decided (it is then already ``stopped``);
* Ctrl-C, SIGTERM or SIGHUP to gatebook itself detaches: the run is ``interrupted`` with
  the reason ``gatebook attach was interrupted; the process PID keeps running``, and the
  process is not signalled;
* gatebook itself killed (SIGKILL): the run stays ``running`` while the process runs and
  readers mark it ``lost`` once the process is gone (the run names the process's pid).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from gatebook.capture.supervise import SuperviseResult
from gatebook.errors import UsageError
from gatebook.records import RunStatus

ENDED_REASON = "process ended (exit code unknown: not started by gatebook)"
STALE_MARGIN = 1.0
"""A followed file last written more than this many seconds before the process started
is an earlier run's: its rows are skipped (a json history counts once rewritten)."""
_LOG_READ_LIMIT = 1 << 20
"""Bytes of the log stored as output per poll (a big log that exists already is caught up
over several polls)."""


@dataclass
class AttachOptions:
    pid: str | int
    watch: Sequence[str] = ()
    log: str | None = None
    gates: Sequence[str] = ()
    baseline: str | None = None
    allow_stop: bool = False
    stop_grace: float = 10.0
    name: str | None = None
    tags: Sequence[str] = ()
    group: str | None = None
    store: str | None = None
    echo: bool = True


@dataclass
class ProcessInfo:
    """What could be read of the process; ``unreadable`` names what could not."""

    pid: int
    create_time: float
    command: list[str]
    cwd: str | None
    exe: str | None
    environ: dict[str, str] | None
    leads_group: bool
    unreadable: list[str] = field(default_factory=list)


# -- the process -------------------------------------------------------------------------------


def parse_pid(raw: str | int) -> int:
    try:
        pid = int(str(raw).strip())
    except ValueError:
        raise UsageError(f"--pid {raw!r} is not a process id", hint="give a positive integer (see `ps`)") from None
    if pid <= 0:
        raise UsageError(f"--pid {raw} is not a process id", hint="give a positive integer (see `ps`)")
    return pid


def inspect_process(pid: int) -> tuple[Any, ProcessInfo]:
    """The psutil handle of ``pid`` and what can be read of it; UsageError when it cannot be adopted."""
    import psutil

    if pid == os.getpid():
        raise UsageError(f"pid {pid} is this gatebook process", hint="give the pid of the training process")
    if pid == os.getppid():
        raise UsageError(f"pid {pid} is the shell or process that started gatebook",
                         hint="give the pid of the training process (see `ps`)")
    try:
        proc = psutil.Process(pid)
        created = proc.create_time()
        status = proc.status()
    except psutil.NoSuchProcess:
        raise UsageError(f"no process with pid {pid}", hint="check the pid with `ps`") from None
    except psutil.AccessDenied:
        raise UsageError(f"process {pid} cannot be inspected (access denied)",
                         hint="run gatebook as the process's user") from None
    if status == psutil.STATUS_ZOMBIE:
        raise UsageError(f"process {pid} has already ended", hint="attach to a running process")
    unreadable: list[str] = []

    def read(what: str, fn: Any) -> Any:
        try:
            return fn()
        except psutil.AccessDenied:
            unreadable.append(what)
        except psutil.NoSuchProcess:
            raise UsageError(f"process {pid} ended while gatebook was reading it") from None
        return None

    command = read("command line", proc.cmdline) or []
    if not command:
        name = read("name", proc.name)
        command = [name] if name else []
    cwd = read("cwd", proc.cwd)
    exe = read("executable", proc.exe)
    environ = read("environment", proc.environ)
    try:
        leads_group = os.getpgid(pid) == pid
    except OSError:
        leads_group = False
    return proc, ProcessInfo(pid=pid, create_time=created, command=list(command), cwd=cwd or None,
                             exe=exe or None, environ=dict(environ) if environ else None,
                             leads_group=leads_group, unreadable=unreadable)


def _alive(proc: Any) -> bool:
    """The same process (pid and start time) still runs (a zombie has ended)."""
    import psutil

    try:
        return bool(proc.is_running()) and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # pragma: no cover - is_running and status read /proc/PID/stat
        return True


class AdoptedTarget:
    """The adopted process, as :func:`~gatebook.capture.supervise.supervise`'s target: stopped
    by SIGTERM to its group (or the pid alone), SIGKILL after ``grace`` seconds if the same
    process still runs; a signal to gatebook detaches from it (:meth:`signal`)."""

    exit_known = False

    def __init__(self, proc: Any, info: ProcessInfo, grace: float, allow_stop: bool,
                 say: Callable[[str], None]) -> None:
        self.proc = proc
        self.info = info
        self.pid = info.pid
        self.grace = grace
        self.allow_stop = allow_stop
        self.say = say
        self.kill_at: float | None = None
        self.errors: list[str] = []
        self.detached: int | None = None

    @property
    def what(self) -> str:
        return f"process group {self.info.pid}" if self.info.leads_group else f"pid {self.info.pid}"

    def signal(self, signum: int) -> None:
        """Ctrl-C / SIGTERM / SIGHUP to gatebook: detach (the process is not signalled)."""
        if self.detached is None:
            self.detached = signum

    def exited(self) -> bool:
        return not _alive(self.proc)

    def done(self) -> bool:
        return self.detached is not None or self.exited()

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def interrupt(self, signum: int) -> bool:
        return False  # not ours to interrupt as a Ctrl-C would: stopped instead

    def stop(self) -> None:
        if self._send(signal.SIGTERM):
            self.kill_at = time.monotonic() + self.grace

    def tick(self) -> None:
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            self.kill_at = None
            if _alive(self.proc):
                self.say(f"{self.what} still runs {self.grace:g} s after SIGTERM: SIGKILL")
                self._send(signal.SIGKILL)

    def finish(self, why: str | None) -> tuple[int, RunStatus, str | None]:
        if self.detached is not None:
            return 0, RunStatus.INTERRUPTED, f"gatebook attach was interrupted; the process {self.pid} keeps running"
        return 0, RunStatus.FINISHED, ENDED_REASON

    def abandon(self) -> None:
        pass  # not ours: it runs on as it did before gatebook came

    def _send(self, sig: int) -> bool:
        if not _alive(self.proc):  # ended, or its pid now belongs to another process
            return False
        try:
            if self.info.leads_group:
                os.killpg(self.info.pid, sig)
            else:
                os.kill(self.info.pid, sig)
        except ProcessLookupError:
            return False
        except OSError as exc:
            message = f"cannot send {signal.Signals(sig).name} to {self.what}: {exc.strerror or exc}"
            self.errors.append(message)
            self.say(message)
            return False
        return True


class _LogText:
    """New complete lines of the log file, stored as the run's ``stdout`` output.

    Like :class:`~gatebook.ingest.follow.FileFollower` with ``since``: a log last written
    before ``since`` (the process's start) holds an earlier run's lines, which are skipped.
    """

    def __init__(self, path: Path, since: float | None = None) -> None:
        self.path = path
        self.offset = 0
        self.ino: int | None = None
        try:
            st = os.stat(path)
        except OSError:
            return
        if since is not None and st.st_mtime < since:
            self.ino, self.offset = st.st_ino, st.st_size

    def read(self, final: bool = False) -> str:
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                if st.st_ino != self.ino or st.st_size < self.offset:  # replaced or truncated: start over
                    self.ino, self.offset = st.st_ino, 0
                if st.st_size == self.offset:
                    return ""
                fh.seek(self.offset)
                data = fh.read(_LOG_READ_LIMIT)
        except OSError:  # missing (not written yet) or unreadable: the follower reports it
            return ""
        if not final and len(data) < _LOG_READ_LIMIT:
            cut = data.rfind(b"\n") + 1
            data = data[:cut]  # complete lines only; a partial last line is read when done
        self.offset += len(data)
        return data.decode("utf-8", "replace")

    def pump(self, collector: Any, final: bool) -> None:
        """New lines to the run's ``stdout`` output; a big log is caught up over several polls
        (all of it when ``final``)."""
        text = self.read(final)
        while text:
            collector.on_output("stdout", text)
            if not final:
                break
            text = self.read(final)


# -- attach ------------------------------------------------------------------------------------


def _resolve(path: str, base: str | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base or os.getcwd()) / p
    return p


def attach(opts: AttachOptions) -> SuperviseResult:
    """Adopt process ``opts.pid`` as a recorded run; return when it ends (or we detach)."""
    from gatebook import project
    from gatebook.capture.params import params_from_argv
    from gatebook.capture.process import on_signals, restore_signals
    from gatebook.capture.recorder import make_record
    from gatebook.capture.redact import redact_argv
    from gatebook.capture.supervise import Plan, sayer, supervise
    from gatebook.ingest.collector import Collector
    from gatebook.ingest.follow import FileFollower
    from gatebook.ingest.watch import is_glob, watch_follower
    from gatebook.project_config import load_project_config
    from gatebook.settings import load_settings, output_limit
    from gatebook.store import open_store

    pid = parse_pid(opts.pid)
    proc, info = inspect_process(pid)
    settings = load_settings(store=opts.store)
    proj = project.locate(settings.store_url or None, create=True)
    pconf = load_project_config(proj.root)
    if opts.allow_stop:
        try:
            os.kill(pid, 0)
        except PermissionError:
            raise UsageError(f"--allow-stop: gatebook may not signal process {pid} (another user's)",
                             hint="run gatebook as the process's user, or attach without --allow-stop") from None
        except ProcessLookupError:
            raise UsageError(f"no process with pid {pid}", hint="check the pid with `ps`") from None
    ingest = pconf.ingest
    # a glob is kept relative (it is resolved from the process's cwd, and a rerun runs there)
    watch = [Path(p) if is_glob(p) else _resolve(p, info.cwd) for p in opts.watch]
    log = _resolve(opts.log, info.cwd) if opts.log else None
    # files last written before the process started are an earlier run's: skipped (as `gatebook run`);
    # a second of margin for the start time's precision (it is derived from the boot time)
    since = info.create_time - STALE_MARGIN
    followers: list[Any] = [watch_follower(p, info.cwd or os.getcwd(), expand_user=True, prefix=ingest.prefix,
                                           kv=ingest.kv, regexes=ingest.regex, since=since) for p in opts.watch]
    if log is not None:
        followers.append(FileFollower(log, fmt="log", prefix=ingest.prefix, kv=ingest.kv, regexes=ingest.regex,
                                      since=since))

    store = open_store(proj.store_url)
    try:
        gating = None
        if opts.baseline and not opts.gates:
            raise UsageError("--baseline is for the gates given with --gate, and there are none",
                             hint="add --gate NAME, or drop --baseline")
        if opts.gates:
            from gatebook.gates.setup import prepare_gates

            gating = prepare_gates(store, pconf, opts.gates, opts.baseline)
        safe = redact_argv(info.command)  # secrets on its command line are stored and shown as ***
        record = make_record(name=opts.name, parent_id=None, tags=opts.tags, group=opts.group,
                             command=safe.argv, cwd=info.cwd, source="attach", pid=pid,  # type: ignore[arg-type]
                             created_at=info.create_time)
        if record.pid_start is None:  # the process ended between the checks
            raise UsageError(f"process {pid} has already ended", hint="attach to a running process")
    except BaseException:
        store.close()
        raise
    warnings: list[str] = []
    if info.unreadable:
        warnings.append(f"process {pid}: cannot read its {', '.join(info.unreadable)} (access denied)")
    if info.cwd is None:
        warnings.append("the process's cwd is unreadable: provenance (git) taken from gatebook's cwd")
    command = " ".join(safe.argv) or "?"

    def greeting(label: str) -> list[str]:
        lines = [f"attached to pid {pid} ({command if len(command) <= 80 else command[:77] + '...'}) as run {label}"]
        return lines + ([f"warning: {warnings[0]}"] if info.unreadable else [])

    say = sayer(opts.echo)
    target = AdoptedTarget(proc, info, opts.stop_grace, opts.allow_stop, say)
    supervised = {"gates": [g.name for g in gating.gates] if gating else [], "watch": [str(p) for p in watch],
                  "log": str(log) if log else None, "baseline": gating.baseline_id if gating else None,
                  "config_file": None, "attached_pid": pid}
    plan = Plan(store_url=proj.store_url, run_id=record.id, store=store, record=record, settings=settings,
                started=info.create_time, name=opts.name, gating=gating, followers=followers,
                collector=Collector(record.id, {}, redact=safe.redact_text(),
                                    output_limit=output_limit(pconf.output.limit)),
                outputs=[_LogText(log, since=since)] if log is not None else [],
                supervised=supervised, params=[("argv", params_from_argv(safe.argv))], argv=list(safe.argv),
                cwd=info.cwd, prov_cwd=info.cwd or os.getcwd(), prov_environ=info.environ,
                prov_command=[info.exe, *info.command[1:]] if info.exe and info.command else info.command,
                secrets=safe.secrets, echo=opts.echo, grace=opts.stop_grace, warnings=warnings, greeting=greeting,
                notify=list(pconf.notify))
    previous = on_signals(target.signal)
    try:
        return supervise(plan, target)  # closes the store
    finally:
        restore_signals(previous)
