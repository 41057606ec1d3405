"""The live run handle (:class:`Run`) that training code holds, and its background writer.

``log()`` only appends to a deque and returns (about a microsecond); a daemon thread
drains the deque every ``GATEBOOK_FLUSH_INTERVAL`` seconds (0.2 s by default) and
writes one batch per flush in one transaction. :mod:`gatebook.api` holds the module-level
functions (``init``, ``log``...) and the process hooks that flush at exit and on signals.

A run started by ``gatebook run`` is *attached*: the wrapper owns its status, the
child only adds data. A run created by ``gb.init()`` alone is *owned*: this process
sets its final status.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from gatebook.errors import GatebookError
from gatebook.records import RunStatus

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.artifacts import ArtifactHasher
    from gatebook.store.base import Store, WriteBatch

_EAGER_FLUSH = 20_000  # queued items that wake the writer before its interval
_STOP_CHECK = 0.5  # seconds between looks for stop requests, once should_stop() is used
SIGNAL_REASON = "SIGTERM"  # the stop reason of a bare signal, until the ledger says more
_REASON_WAIT = 0.5  # how long stop_reason waits for the ledger to say why a SIGTERM came


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

    def __init__(self, *, store: Store, run_id: str, name: str | None, owner: bool,
                 flush_interval: float, heartbeat: float, capture_provenance: bool = False,
                 cwd: str | None = None, on_finish: Callable[[Run], None] | None = None) -> None:
        self.id = run_id
        self.name = name
        self.owner = owner
        self._store = store
        self._on_finish = on_finish  # the module-level API forgets its active run
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._interval = flush_interval
        self._heartbeat = heartbeat
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._pending: WriteBatch | None = None  # a batch that failed to write, retried next time
        self._waiters: list[threading.Event] = []  # flush() calls waiting for the next write
        self._warned: set[str] = set()
        self._closed = False
        self._exc_status: tuple[RunStatus, str] | None = None
        self._provenance_cwd = cwd if capture_provenance else None
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._cooperative = False  # set by should_stop(): SIGTERM then only raises the flag
        self._sigterms = 0  # SIGTERMs received while cooperative
        self._hasher: ArtifactHasher | None = None  # hashes artifacts and their sources in the writer thread
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

    def artifact(self, path: str | os.PathLike[str], kind: str = "file", *,
                 derived_from: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] = ()) -> None:
        """Record a file or directory the run produced (path, size, sha256 of files).

        ``derived_from``: the files it was made from (a blend of two checkpoints, a finetune's
        starting checkpoint). Each is recorded with its sha256 now and the run that logged a
        file with that hash (lineage: ``gatebook artifacts``, ``gatebook show``). Hashing
        happens in the background writer, as for the artifact itself; a missing file is
        recorded without a hash, with one warning.
        """
        self._put(("a", os.path.abspath(os.fspath(path)), kind, time.time(), self._sources(derived_from)))

    def _sources(self, derived_from: Any) -> tuple[str, ...]:
        """Absolute paths of ``derived_from`` (one path or several); a non-path is left out, warned."""
        single = derived_from is None or isinstance(derived_from, (str, bytes, os.PathLike))
        try:
            items = [] if derived_from is None else [derived_from] if single else list(derived_from)
        except TypeError:
            items = [derived_from]
        out = []
        for item in items:
            try:
                out.append(os.path.abspath(os.fsdecode(os.fspath(item))))
            except TypeError:
                self._warn_once(f"d:{item!r}", f"gatebook: derived_from item {item!r} is not a path; left out")
        return tuple(out)

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
        while self._stop_reason == SIGNAL_REASON and not self._closed:
            self._check_stop_requests()
            if self._stop_reason != SIGNAL_REASON or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        return self._stop_reason

    def _request_stop(self, reason: str, *, from_ledger: bool = False) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()
        elif from_ledger and self._stop_reason == SIGNAL_REASON:
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
                if self._store.set_status(self.id, final, exit_code=exit_code, reason=reason) and \
                        final in (RunStatus.STOPPED, RunStatus.FAILED):
                    self._alert(final, reason)
            except GatebookError as exc:
                print(f"gatebook: could not close run {self.id}: {exc}", file=sys.stderr)
        if self._on_finish is not None:
            self._on_finish(self)

    def _alert(self, status: RunStatus, reason: str | None) -> None:
        """``stopped`` / ``failed`` to the project's alert targets (gatebook.notify), at most a few
        seconds: the training is over; its failures are warned about, never raised."""
        from gatebook.notify import event_document, project_targets, send_now

        targets = project_targets()  # the project of the working directory, as gb.init() found it
        if not targets:
            return
        label = self.name or self.id
        text = f"gatebook: {label} {status.value}" + (f": {reason}" if reason else "")
        doc = event_document(status.value, {"id": self.id, "name": self.name, "status": status.value}, text,
                             {"reason": reason})
        for line in send_now(targets, self._store, [doc], timeout=5.0):
            _warn(f"alert not delivered: {line}")

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

    def _fill(self, batch: WriteBatch, items: list[tuple[Any, ...]]) -> None:
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
                if self._hasher is None:
                    from gatebook.artifacts import ArtifactHasher

                    self._hasher = ArtifactHasher(run_id, self._store, self._warn_once)
                batch.artifacts.append(self._hasher.row(*item[1:]))

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
            self.finish(RunStatus.FAILED, reason=describe(exc))

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

    def artifact(self, path: str | os.PathLike[str], kind: str = "file", *, derived_from: Any = ()) -> None:
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


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
