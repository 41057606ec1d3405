"""The live run handle that training code holds, and its background writer.

``log()`` only appends to a deque and returns (about a microsecond); a daemon thread
drains the deque every ``GATEBOOK_FLUSH_INTERVAL`` seconds (0.2 s by default) and
writes one batch per flush in one transaction. Everything is flushed at ``finish()``,
at interpreter exit, on an uncaught exception, and on SIGTERM, so a SIGKILL loses at
most the last flush interval.

A run started by ``gatebook run`` is *attached*: the wrapper owns its status, the
child only adds data. A run created by ``gb.init()`` alone is *owned*: this process
sets its final status.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Mapping, Sequence

from gatebook.errors import GatebookError
from gatebook.records import RunStatus

_lock = threading.RLock()
_EAGER_FLUSH = 20_000  # queued items that wake the writer before its interval
_STOP_CHECK = 0.5  # seconds between looks for stop requests, once should_stop() is used
_SIGNAL_REASON = "SIGTERM"  # the stop reason of a bare signal, until the ledger says more
_REASON_WAIT = 0.5  # how long stop_reason waits for the ledger to say why a SIGTERM came
_current: "Run | None" = None


def _warn(message: str) -> None:
    """One line on stderr (the writer thread has no useful caller to point a warning at)."""
    from gatebook.settings import GATEBOOK_QUIET

    if not GATEBOOK_QUIET.get():
        print(message if message.startswith("gatebook:") else f"gatebook: {message}", file=sys.stderr, flush=True)


class Run:
    """A run being recorded. Obtain one from :func:`gatebook.init`.

    Every method is safe to call from the training thread: nothing here waits on the
    disk except :meth:`finish` (and :meth:`flush`).
    """

    def __init__(self, *, store: Any, run_id: str, name: str | None, owner: bool,
                 flush_interval: float, heartbeat: float, capture_provenance: bool = False,
                 cwd: str | None = None) -> None:
        self.id = run_id
        self.name = name
        self.owner = owner
        self._store = store
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._interval = flush_interval
        self._heartbeat = heartbeat
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending: Any = None  # a batch that failed to write, retried next time
        self._waiters: list[threading.Event] = []  # flush() calls waiting for the next write
        self._warned: set[str] = set()
        self._closed = False
        self._exc_status: tuple[RunStatus, str] | None = None
        self._provenance_cwd = cwd if capture_provenance else None
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._cooperative = False  # set by should_stop(): SIGTERM then only raises the flag
        self._sigterms = 0  # SIGTERMs received while cooperative
        self._thread = threading.Thread(target=self._loop, name=f"gatebook-writer-{run_id}", daemon=True)
        self._thread.start()

    # -- recording ------------------------------------------------------------------------
    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values. ``step`` defaults to ``data['step']`` or ``data['epoch']``.

        Values may be Python, NumPy or PyTorch scalars (0-d tensors too); NaN and inf
        are kept. A value that is not a number is skipped with one warning naming its key.
        """
        if self._closed:
            self._warn_once("closed", f"gatebook: run {self.id} is finished; log() ignored")
            return
        q = self._queue
        q.append(("m", step, data.copy() if type(data) is dict else dict(data), time.time()))
        if len(q) > _EAGER_FLUSH:  # a burst: start writing now rather than at the next tick
            self._wake.set()

    def summary(self, values: Mapping[str, Any]) -> None:
        """Record final values (any JSON-able or convertible value); later ones win."""
        self._put(("s", dict(values)))

    def artifact(self, path: str | os.PathLike[str], kind: str = "file") -> None:
        """Record a file or directory the run produced (path, size, sha256 of files)."""
        self._put(("a", os.path.abspath(os.fspath(path)), kind, time.time()))

    def note(self, text: str) -> None:
        """Attach a free-text note to the run."""
        self._put(("n", str(text), time.time()))

    def config(self, config: Any) -> None:
        """Record (more of) the resolved config as params (flattened to dotted keys); values of
        secret-looking keys (``hf_token``, ``wandb.api_key``) are stored as ``***``."""
        from gatebook.capture.params import params_from_object
        from gatebook.capture.redact import redact_params

        self._put(("p", redact_params(params_from_object(config))))

    def tag(self, *tags: str) -> None:
        self._put(("t", [str(t) for t in tags]))

    def should_stop(self) -> bool:
        """Whether the run should stop now: a gate with ``on_fail: stop`` failed, somebody
        ran ``gatebook stop``, or the process got SIGTERM. Cheap: call it every step.

        Calling it once makes the run *cooperative*: a SIGTERM then only raises this flag
        (instead of ending the process), so the loop can save a checkpoint and return;
        the supervisor's SIGKILL after its grace period (``gatebook run --grace``) stays
        the backstop. The ledger is checked for stop requests twice a second.
        """
        if not self._cooperative:
            self._cooperative = True
            self._wake.set()
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str | None:
        """Why :meth:`should_stop` became true (None while it is false). A SIGTERM sent by a
        gate or ``gatebook stop`` comes with a ``stop`` event in the ledger: its reason
        (``gate epoch2: val_acc 0.17 < 0.80 at epoch 2``) replaces the bare ``SIGTERM``."""
        if not self._stop.is_set():
            return None
        # the sender signals first and records its reason right after: give it half a second
        deadline = time.monotonic() + _REASON_WAIT
        while self._stop_reason == _SIGNAL_REASON and not self._closed:
            self._check_stop_requests()
            if self._stop_reason != _SIGNAL_REASON or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return self._stop_reason

    def _request_stop(self, reason: str, *, from_ledger: bool = False) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
        elif from_ledger and self._stop_reason == _SIGNAL_REASON:
            self._stop_reason = reason  # the signal's own reason, recorded by whoever sent it

    def _check_stop_requests(self) -> None:
        try:
            events = self._store.events(self.id, kinds=["stop"])
        except Exception:  # the ledger is busy: ask again next time
            return
        if events:
            self._request_stop(str((events[-1].data or {}).get("reason") or "stopped"), from_ledger=True)

    def _put(self, item: tuple[Any, ...]) -> None:
        if self._closed:
            self._warn_once("closed", f"gatebook: run {self.id} is finished; call ignored")
            return
        self._queue.append(item)

    # -- flushing -------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Block until everything logged so far is in the ledger; False on timeout."""
        if self._closed or not self._thread.is_alive():
            return self._pending is None and not self._queue
        done = threading.Event()
        self._queue.append(("f", done))
        self._wake.set()
        return done.wait(timeout)

    def finish(self, status: RunStatus | str | None = None, *, exit_code: int | None = None,
               reason: str | None = None) -> None:
        """Flush everything and close the run (idempotent).

        An owned run gets ``status`` (default ``finished``, or ``failed`` /
        ``interrupted`` after an uncaught exception); an attached run leaves its status
        to the wrapper.
        """
        global _current
        if self._closed:
            return
        self._closed = True
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=60)
        if self._pending is not None or self._queue:
            self._drain_and_write(final=True)
        if self.owner:
            if status is None and self._exc_status is not None:
                status, reason = self._exc_status[0], reason or self._exc_status[1]
            final = RunStatus(status) if status is not None else RunStatus.FINISHED
            try:
                self._store.set_status(self.id, final, exit_code=exit_code, reason=reason)
            except GatebookError as exc:
                print(f"gatebook: could not close run {self.id}: {exc}", file=sys.stderr)
        with _lock:
            if _current is self:
                _current = None

    def _loop(self) -> None:
        next_beat = 0.0
        next_stop_check = 0.0
        if self._provenance_cwd is not None:
            self._capture_provenance(self._provenance_cwd)
        while True:
            stopping = self._stopping.is_set()
            extra: list[tuple[str, float]] = []
            now = time.time()
            if self._cooperative and now >= next_stop_check and not stopping and not self._stop.is_set():
                next_stop_check = now + _STOP_CHECK
                self._check_stop_requests()
            if self.owner and now >= next_beat and not stopping:
                extra.append((self.id, now))
                next_beat = now + self._heartbeat
            self._drain_and_write(heartbeats=extra)
            if stopping:
                return
            self._wake.wait(self._interval)
            self._wake.clear()

    def _drain_and_write(self, *, heartbeats: Sequence[tuple[str, float]] = (), final: bool = False) -> None:
        from gatebook.store.base import WriteBatch

        q = self._queue
        items = []
        popleft = q.popleft
        try:
            while True:
                items.append(popleft())
        except IndexError:
            pass
        batch = self._pending or WriteBatch()
        self._pending = None
        self._fill(batch, items)
        batch.heartbeats.extend(heartbeats)
        if batch:
            try:
                self._store.write(batch)
            except Exception as exc:  # never let the writer die: keep the batch, retry
                self._pending = batch
                self._warn_once("store", f"gatebook: cannot write to the ledger yet ({exc}); will retry")
                if final:
                    print(f"gatebook: {len(batch.metrics)} points of run {self.id} could not be written: {exc}",
                          file=sys.stderr)
                return
        waiters, self._waiters = self._waiters, []
        for ev in waiters:
            ev.set()

    def _fill(self, batch: Any, items: list[tuple[Any, ...]]) -> None:
        from gatebook import serialize

        run_id = self.id
        rows = batch.metrics
        to_float = serialize.to_float
        for item in items:
            kind = item[0]
            if kind == "m":
                _, step, data, ts = item
                if step is None:
                    step = data.get("step", data.get("epoch"))
                    if step is not None:
                        step = self._as_step(step)
                for key, value in data.items():
                    if key == "step":
                        continue
                    tv = type(value)
                    if tv is float:
                        fv = value
                    elif tv is int:
                        fv = float(value)
                    else:
                        try:
                            fv = to_float(value)
                        except serialize.Unserializable as exc:
                            self._warn_once(f"m:{key}", f"gatebook: warning: metric {key!r} not logged: {exc}")
                            continue
                    rows.append((run_id, key if type(key) is str else str(key), step, fv if fv == fv else None, ts))
            elif kind == "s":
                batch.summary.append((run_id, self._jsonable(item[1], "summary")))
            elif kind == "p":
                batch.params.append((run_id, "api", item[1]))
            elif kind == "n":
                batch.notes.append((run_id, item[2], item[1]))
            elif kind == "t":
                batch.tags.append((run_id, item[1]))
            elif kind == "f":
                self._waiters.append(item[1])
            elif kind == "a":
                row = self._artifact_row(item[1], item[2], item[3])
                if row is not None:
                    batch.artifacts.append(row)

    def _as_step(self, step: Any) -> int | None:
        try:
            return int(step)
        except (TypeError, ValueError):
            self._warn_once("step", f"gatebook: step {step!r} is not an integer; stored without a step")
            return None

    def _jsonable(self, values: Mapping[str, Any], what: str) -> dict[str, Any]:
        from gatebook import serialize

        def on_error(path: str, value: Any) -> None:
            self._warn_once(f"{what}:{path}", f"gatebook: {what} value {path!r} ({type(value).__name__}) "
                                              "stored as its repr")

        data = serialize.to_jsonable(values, on_error=on_error)
        return data if isinstance(data, dict) else {"value": data}

    def _artifact_row(self, path: str, kind: str, ts: float) -> Any:
        from gatebook.store.base import ArtifactRow

        p = Path(path)
        if not p.exists():
            self._warn_once(f"a:{path}", f"gatebook: artifact {path} does not exist; recorded without size")
            return ArtifactRow(self.id, path, kind, None, None, ts)
        if p.is_dir():
            size = sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
            return ArtifactRow(self.id, path, kind, size, None, ts)
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return ArtifactRow(self.id, path, kind, p.stat().st_size, h.hexdigest(), ts)

    def _capture_provenance(self, cwd: str) -> None:
        try:
            from gatebook.capture.recorder import provenance_batch
            from gatebook.capture.redact import redact_argv

            secrets = redact_argv([sys.executable, *sys.argv]).secrets  # as the command is stored
            self._store.write(provenance_batch(self._store, self.id, cwd, secrets=secrets))
        except Exception as exc:  # provenance is best effort, never fatal
            self._warn_once("prov", f"gatebook: provenance not fully captured: {exc}")

    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        _warn(message)

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.finish()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish(RunStatus.INTERRUPTED, reason="KeyboardInterrupt")
        else:
            self.finish(RunStatus.FAILED, reason=_describe(exc))

    def __repr__(self) -> str:
        return f"<gatebook.Run {self.id} name={self.name!r}{' closed' if self._closed else ''}>"


class _DisabledRun(Run):
    """GATEBOOK_MODE=disabled: every call is a no-op."""

    def __init__(self) -> None:  # noqa: D107 - no writer thread
        self.id = "disabled"
        self.name = None
        self.owner = False
        self._closed = False

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        pass

    def _put(self, item: tuple[Any, ...]) -> None:
        pass

    def config(self, config: Any) -> None:
        pass

    def flush(self, timeout: float | None = 30.0) -> bool:
        return True

    def should_stop(self) -> bool:
        return False

    def finish(self, status: RunStatus | str | None = None, *, exit_code: int | None = None,
               reason: str | None = None) -> None:
        self._closed = True


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- module-level API ---------------------------------------------------------------------

def init(name: str | None = None, *, config: Any = None, parent: str | None = None,
         tags: Sequence[str] = (), group: str | None = None, store: str | None = None,
         notes: str | None = None) -> Run:
    """Start recording a run, or attach to the one ``gatebook run`` created.

    Args:
        name: a human name; several runs may share one (``show NAME`` is the latest).
        config: the resolved config (dict, argparse Namespace, dataclass, Pydantic
            model, OmegaConf), recorded as params flattened to dotted keys.
        parent: the run this one derives from (id, id prefix or name).
        tags, group: for filtering in ``gatebook ls``.
        store: a store URL; default ``GATEBOOK_STORE`` or the project's ``.gatebook/``.
        notes: a first note.

    Raises:
        GatebookError: the ledger cannot be opened or ``parent`` does not exist.
    """
    global _current
    from gatebook.settings import GATEBOOK_RUN_ID, load_settings

    settings = load_settings(store=store)
    if settings.mode == "disabled":
        return _DisabledRun()
    with _lock:
        attach_id = GATEBOOK_RUN_ID.get()
        if _current is not None and not _current._closed:
            if attach_id and _current.id == attach_id:
                _apply_init_extras(_current, name, config, tags, notes)
                return _current
            _current.finish()
        from gatebook import project
        from gatebook.store import open_store

        proj = project.locate(settings.store_url or None, create=True)
        st = open_store(proj.store_url)
        if attach_id:
            run = Run(store=st, run_id=attach_id, name=name, owner=False,
                      flush_interval=settings.flush_interval, heartbeat=settings.heartbeat)
            if name:
                _set_name_if_missing(st, attach_id, name)
        else:
            from gatebook.capture.recorder import new_api_run

            record = new_api_run(st, name=name, parent=parent, tags=tags, group=group)
            run = Run(store=st, run_id=record.id, name=name, owner=True,
                      flush_interval=settings.flush_interval, heartbeat=settings.heartbeat,
                      capture_provenance=True, cwd=os.getcwd())
        _apply_init_extras(run, None, config, tags if attach_id else (), notes)
        _current = run
        _install_hooks()
        return run


def _apply_init_extras(run: Run, name: str | None, config: Any, tags: Sequence[str], notes: str | None) -> None:
    if config is not None:
        run.config(config)
    if tags:
        run.tag(*tags)
    if notes:
        run.note(notes)
    if name and not run.name:
        run.name = name


def _set_name_if_missing(store: Any, run_id: str, name: str) -> None:
    try:
        rec = store.get_run(run_id)
    except GatebookError:
        return  # the wrapper has not written the row yet; it keeps its own name
    if not rec.name:
        store.update_run(run_id, name=name)


def current() -> Run | None:
    """The active run of this process, if any."""
    return _current


def _active() -> Run:
    run = _current
    if run is None or run._closed:
        run = init()
    return run


def log(data: Mapping[str, Any], step: int | None = None) -> None:
    """Log metrics to the active run (starting one if needed). See :meth:`Run.log`."""
    run = _current
    if run is None or run._closed:
        run = _active()
    run.log(data, step)


def summary(values: Mapping[str, Any]) -> None:
    """Record final values on the active run. See :meth:`Run.summary`."""
    _active().summary(values)


def artifact(path: str | os.PathLike[str], kind: str = "file") -> None:
    """Record an artifact on the active run. See :meth:`Run.artifact`."""
    _active().artifact(path, kind)


def note(text: str) -> None:
    """Add a note to the active run."""
    _active().note(text)


def should_stop() -> bool:
    """Whether the current run should stop (see :meth:`Run.should_stop`); False without a run."""
    run = _current
    return run.should_stop() if run is not None else False


def finish(status: RunStatus | str | None = None) -> None:
    """Flush and close the active run."""
    run = _current
    if run is not None:
        run.finish(status)


# -- process hooks ------------------------------------------------------------------------
_hooks_installed = False


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        run = _current
        if run is not None and not run._closed:
            status = RunStatus.INTERRUPTED if issubclass(exc_type, KeyboardInterrupt) else RunStatus.FAILED
            run._exc_status = (status, _describe(exc))
            if not run.owner:
                from gatebook.store.base import EventRow

                try:
                    run._store.add_event(EventRow(run.id, time.time(), "exception", None,
                                                  {"error": _describe(exc)}))
                except Exception:
                    pass
        previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        try:
            prev = signal.getsignal(signal.SIGTERM)
        except (ValueError, OSError):  # pragma: no cover
            return
        if prev in (signal.SIG_DFL, None) or callable(prev):
            signal.signal(signal.SIGTERM, _make_sigterm_handler(prev))


def _make_sigterm_handler(prev: Any) -> Any:
    def handler(signum: int, frame: Any) -> None:
        run = _current
        if run is not None and not run._closed and run._cooperative and not run._sigterms:
            # The first SIGTERM only raises the flag (which the ledger poll may have raised
            # already): the training loop polls should_stop() and ends cleanly. A second one
            # ends the process as usual.
            run._sigterms += 1
            run._request_stop(_SIGNAL_REASON)
            return
        if run is not None and not run._closed:
            if callable(prev):
                run.flush(timeout=5)
            else:
                run.finish(RunStatus.INTERRUPTED, reason="SIGTERM")
        if callable(prev):
            prev(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _at_exit() -> None:
    run = _current
    if run is not None and not run._closed:
        try:
            run.finish()
        except Exception as exc:  # pragma: no cover - never crash at exit
            print(f"gatebook: could not finish run {run.id}: {exc}", file=sys.stderr)
