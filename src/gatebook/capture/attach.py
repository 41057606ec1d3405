"""``gatebook attach``: adopt a process started without gatebook and record it as a run.

The loop is ``gatebook run``'s (:mod:`gatebook.capture.wrapper`) without a child of our
own: validate everything first (the pid, the gates, the baseline, the ledger); read what
can be read of the process (command line, cwd, start time, environment, via psutil);
create the run (``source="attach"``, owned by the process's pid and start time, created
at the process's start); then every flush interval poll the followed files (those last
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

import io
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import UsageError
from gatebook.records import RunStatus

if TYPE_CHECKING:
    from gatebook.capture.redact import RedactedArgv

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


@dataclass
class AttachResult:
    """How an attached run ended (``result.exit_code`` is 0: the process's is unknown)."""

    result: Any  # gatebook.capture.wrapper.WrapResult
    pid: int
    command_exit: int  # what `gatebook attach` exits with
    detached: bool = False


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


class _Stopper:
    """SIGTERM to the process's group (or the pid alone), SIGKILL after ``grace`` seconds."""

    def __init__(self, proc: Any, info: ProcessInfo, grace: float, say: Any) -> None:
        self.proc = proc
        self.info = info
        self.grace = grace
        self.say = say
        self.kill_at: float | None = None
        self.errors: list[str] = []

    @property
    def target(self) -> str:
        return f"process group {self.info.pid}" if self.info.leads_group else f"pid {self.info.pid}"

    def start(self) -> None:
        if self._send(signal.SIGTERM):
            self.kill_at = time.monotonic() + self.grace

    def tick(self) -> None:
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            self.kill_at = None
            if _alive(self.proc):
                self.say(f"{self.target} still runs {self.grace:g} s after SIGTERM: SIGKILL")
                self._send(signal.SIGKILL)

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
            message = f"cannot send {signal.Signals(sig).name} to {self.target}: {exc.strerror or exc}"
            self.errors.append(message)
            self.say(message)
            return False
        return True


class _LogText:
    """New complete lines of the log file, stored as the run's ``stdout`` output.

    Like :class:`~gatebook.capture.follow.FileFollower` with ``since``: a log last written
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


class _NoParse:
    """The collector's parser for log text: the log's points come from its follower."""

    errors: list[str] = []

    def feed(self, text: str) -> list[Any]:
        return []

    def close(self) -> list[Any]:
        return []


# -- attach ------------------------------------------------------------------------------------


def _resolve(path: str, base: str | None) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = Path(base or os.getcwd()) / p
    return p


def attach(opts: AttachOptions) -> AttachResult:
    """Adopt process ``opts.pid`` as a recorded run; return when it ends (or we detach)."""
    from gatebook import project
    from gatebook.capture.follow import FileFollower
    from gatebook.capture.params import params_from_argv
    from gatebook.capture.recorder import make_record
    from gatebook.capture.redact import redact_argv
    from gatebook.capture.watch import is_glob, watch_follower
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
        interrupted: list[int] = []
        previous = _detach_on_signals(interrupted)
        try:
            return _follow(opts, proc, info, store, record, settings, gating, followers, log, watch,
                           interrupted, safe, params=params_from_argv(safe.argv),
                           output_limit=output_limit(pconf.output.limit))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        store.close()


def _detach_on_signals(interrupted: list[int]) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def handler(signum: int, _frame: Any) -> None:
        interrupted.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _follow(opts: AttachOptions, proc: Any, info: ProcessInfo, store: Any, record: Any, settings: Any,
            gating: Any, followers: list[Any], log: Path | None, watch: list[Path], interrupted: list[int],
            safe: RedactedArgv, *, params: dict[str, Any], output_limit: int | None = None) -> AttachResult:
    from gatebook.capture.argv import config_file_artifacts
    from gatebook.capture.recorder import provenance_batch
    from gatebook.capture.wrapper import WrapResult, _Collector, _sayer, direction_of, judge_live
    from gatebook.gates.live import LiveGates
    from gatebook.store.base import WriteBatch

    pid = info.pid
    say = _sayer(opts.echo)
    run_id = store.create_run(record)  # another id when this one was taken meanwhile
    supervised = {"gates": [g.name for g in gating.gates] if gating else [], "watch": [str(p) for p in watch],
                  "log": str(log) if log else None, "baseline": gating.baseline_id if gating else None,
                  "config_file": None, "attached_pid": pid}
    store.update_run(run_id, provenance={"gatebook": supervised})
    first = WriteBatch(params=[(run_id, "argv", params)] if params else [],
                       artifacts=config_file_artifacts(run_id, safe.argv, info.cwd) if info.cwd else [])
    if first:
        store.write(first)
    label = opts.name or run_id
    command = " ".join(safe.argv) or "?"
    say(f"attached to pid {pid} ({command if len(command) <= 80 else command[:77] + '...'}) as run {label}")
    warnings: list[str] = []
    if info.unreadable:
        warnings.append(f"process {pid}: cannot read its {', '.join(info.unreadable)} (access denied)")
        say(f"warning: {warnings[-1]}")

    prov_result: list[Any] = []
    prov_cwd = info.cwd or os.getcwd()
    if info.cwd is None:
        warnings.append("the process's cwd is unreadable: provenance (git) taken from gatebook's cwd")
    prov_command = ([info.exe, *info.command[1:]] if info.exe and info.command else info.command)

    def capture() -> None:
        try:
            prov_result.append(provenance_batch(store, run_id, prov_cwd, environ=info.environ,
                                                command=prov_command, secrets=safe.secrets))
        except Exception as exc:  # best effort; never fatal
            prov_result.append(exc)

    prov_thread = threading.Thread(target=capture, name="gatebook-provenance", daemon=True)
    prov_thread.start()

    collector = _Collector(run_id, {"stdout": _NoParse()}, redact=safe.redact_text(), output_limit=output_limit)
    log_text = _LogText(log, since=info.create_time - STALE_MARGIN) if log is not None else None

    def gather(final: bool) -> None:
        for follower in followers:
            collector.add_points(follower.close() if final else follower.poll())
        if log_text is not None:
            text = log_text.read(final)
            while text:
                collector.on_output("stdout", text)
                text = log_text.read(final)
                if not final:
                    break  # catch up on a big log over several polls

    stopper = _Stopper(proc, info, opts.stop_grace, say)
    stopped: list[Any] = []
    warn_once: dict[str, str] = {}

    def act(decision: Any) -> None:
        # a gate decides only with --allow-stop (LiveGates); `gatebook stop` is honoured always
        if stopped:
            return
        stopped.append(decision)
        stopper.start()
        say(f"stopping {label}: {decision.reason} (SIGTERM to {stopper.target}, "
            f"SIGKILL after {opts.stop_grace:g} s)")

    live = LiveGates(store, run_id, gating.gates if gating else [], direction_of=direction_of(gating),
                     baselines=gating.baselines if gating else {}, allow_stop=opts.allow_stop, say=say,
                     run_label=label, on_stop=act)

    next_beat = 0.0
    while not interrupted:
        ended = not _alive(proc)
        now = time.time()
        beat = now >= next_beat
        if beat:
            next_beat = now + settings.heartbeat
        gather(final=False)
        collector.flush(store, beat=beat and not ended)
        if ended:
            break
        judge_live(live, act, warn_once)
        stopper.tick()
        time.sleep(settings.flush_interval)
    gather(final=not interrupted)  # detached: a partial last line is still being written
    collector.close()
    collector.flush(store, beat=False)
    prov_thread.join(timeout=30)
    for item in prov_result:
        if isinstance(item, Exception):
            warnings.append(f"provenance not fully captured: {item}")
        else:
            store.write(item)
    for follower in followers:
        warnings.extend(f"watched file: {e}" for e in follower.errors)
    warnings.extend(stopper.errors)
    warnings.extend(warn_once.values())

    ended_at = time.time()
    if interrupted:
        status = RunStatus.INTERRUPTED
        reason = f"gatebook attach was interrupted; the process {pid} keeps running"
    else:
        status, reason = RunStatus.FINISHED, ENDED_REASON
    # a reader may have marked the run lost in the moment between the process's end and now
    if not store.set_status(run_id, status, reason=reason, ended_at=ended_at,
                            only_if=(RunStatus.RUNNING, RunStatus.LOST)):
        store.update_run(run_id, ended_at=ended_at)  # stopped: keep its reason
    verdict = live.final()
    advice = None
    if stopped and stopped[0].gate and gating is not None:
        from gatebook.gates.setup import advice_for

        advice = advice_for(store, run_id, next(g for g in gating.gates if g.name == stopped[0].gate),
                            live.series, gating)
    final = store.get_run(run_id)
    result = WrapResult(run_id=run_id, status=final.status, exit_code=0, duration=ended_at - info.create_time,
                        points=collector.total_points, reason=final.reason, warnings=warnings, verdict=verdict,
                        advice=advice, stopped_by=stopped[0].by if stopped else None)
    if interrupted:
        code = 128 + interrupted[0]
    elif stopped and stopped[0].gate:
        code = 1
    else:
        code = 0
    return AttachResult(result=result, pid=pid, command_exit=code, detached=bool(interrupted))


def print_attach_end(res: AttachResult, *, stream: Any = None) -> None:
    """``gatebook run``'s end lines, the first saying the exit code is unknown."""
    from gatebook.capture.wrapper import print_end
    from gatebook.render.text import duration

    stream = stream or sys.stderr
    result = res.result
    how = (f"detached from pid {res.pid}, which keeps running" if res.detached
           else f"pid {res.pid} ended, exit code unknown")
    line = (f"gatebook: run {result.run_id} {result.status.value} after {duration(result.duration)} "
            f"({how}; {result.points} metric points from the log and watched files)")
    if result.reason and result.status is RunStatus.STOPPED:
        line += f": {result.reason}"
    buf = io.StringIO()
    print_end(result, stream=buf)
    print(line, file=stream)
    stream.write("".join(buf.getvalue().splitlines(keepends=True)[1:]))
    stream.flush()
