"""The module-level API (``gb.init``, ``gb.log``, ``gb.finish``...) and the process hooks.

The functions act on this process's active :class:`~gatebook.run_handle.Run` (the handle
and its background writer live in :mod:`gatebook.run_handle`). Everything is flushed at
``finish()``, at interpreter exit, on an uncaught exception, and on SIGTERM, so a SIGKILL
loses at most the last flush interval.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from gatebook.errors import GatebookError
from gatebook.records import RunStatus
from gatebook.run_handle import SIGNAL_REASON, Run, _DisabledRun, describe

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.store.base import Store

_lock = threading.RLock()
_current: "Run | None" = None


def _forget(run: Run) -> None:
    """``run`` is finished: it is no longer the active run."""
    global _current
    with _lock:
        if _current is run:
            _current = None


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
        (A run started here takes ``GATEBOOK_NAME``, ``GATEBOOK_GROUP`` and ``GATEBOOK_PARENT``
        when ``name``, ``group`` and ``parent`` are not given, and adds ``GATEBOOK_TAGS``:
        naming runs from a scheduler's environment; docs/api.md.)
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
                      flush_interval=settings.flush_interval, heartbeat=settings.heartbeat, on_finish=_forget)
            if name:
                _set_name_if_missing(st, attach_id, name)
        else:
            from gatebook.capture.recorder import new_api_run
            from gatebook.settings import run_identity

            name, tags, group, parent = run_identity(name, tags, group, parent)
            record = new_api_run(st, name=name, parent=parent, tags=tags, group=group)
            run = Run(store=st, run_id=record.id, name=name, owner=True,
                      flush_interval=settings.flush_interval, heartbeat=settings.heartbeat,
                      capture_provenance=True, cwd=os.getcwd(), on_finish=_forget)
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


def _set_name_if_missing(store: Store, run_id: str, name: str) -> None:
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


def artifact(path: str | os.PathLike[str], kind: str = "file", *,
             derived_from: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] = ()) -> None:
    """Record an artifact on the active run, and the files it was made from (``derived_from``).
    See :meth:`Run.artifact`."""
    _active().artifact(path, kind, derived_from=derived_from)


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
            run._exc_status = (status, describe(exc))
            if not run.owner:
                from gatebook.store.base import EventRow

                try:
                    run._store.add_event(EventRow(run.id, time.time(), "exception", None,
                                                  {"error": describe(exc)}))
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
            run._request_stop(SIGNAL_REASON)
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
