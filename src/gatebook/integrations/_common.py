"""What the framework hooks share: importing a framework or naming its extra, finding the run, the stop check.

Every hook attaches to the run of this process: the one a surrounding ``gatebook run`` created
(``GATEBOOK_RUN_ID``), the one ``gb.init()`` already started, or a new one. :class:`StopCheck`
turns ``Run.should_stop()`` into a yes/no a callback asks at each step or epoch boundary, and says
once, on stderr, why training ends.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import TYPE_CHECKING, Any, Sequence

from gatebook.errors import GatebookError, MissingExtraError
from gatebook.records import RunStatus

if TYPE_CHECKING:  # pragma: no cover
    from gatebook.run_handle import Run


def require(modules: Sequence[str], extra: str, purpose: str) -> ModuleType:
    """The first of ``modules`` that imports.

    Raises:
        MissingExtraError: none is installed (the message names ``pip install 'gatebook[EXTRA]'``).
        GatebookError: one is installed but fails to import (its own error, in one line).
    """
    for name in modules:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            continue
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise GatebookError(f"{purpose}: '{name}' is installed but cannot be imported: {exc}",
                                hint=_import_hint(name)) from None
    raise MissingExtraError(modules[0].split(".")[0], extra, purpose)


def _import_hint(name: str) -> str | None:
    if name.startswith("keras"):
        return "Keras 3 picks its backend from KERAS_BACKEND: set KERAS_BACKEND=torch (or install the backend it names)"
    return None


def attach(name: str | None = None, *, config: Any = None, tags: Sequence[str] = (), group: str | None = None,
           parent: str | None = None) -> Run:
    """The run this process records into: the active one (given ``config`` and ``tags`` are
    added to it), else ``gb.init(...)``, which attaches to a surrounding ``gatebook run``."""
    from gatebook import api

    run = api.current()
    if run is None or run._closed:
        return api.init(name=name, config=config, tags=tags, group=group, parent=parent)
    if config is not None:
        run.config(config)
    if tags:
        run.tag(*tags)
    return run


class RunHolder:
    """What every hook holds: the run it records into, attached on first use (:func:`attach`),
    and again should it have been closed. A hook class takes it as its first base and calls
    :meth:`_hold` from its ``__init__``."""

    _name: str | None
    _init: dict[str, Any]
    _run: Run | None

    def _hold(self, name: str | None, *, config: Any, tags: Sequence[str], group: str | None,
              parent: str | None) -> None:
        self._name = name
        self._init = {"config": config, "tags": tags, "group": group, "parent": parent}
        self._run = None

    @property
    def run(self) -> Run:
        """The gatebook run (created or attached on first use)."""
        run = self._run
        if run is None or run._closed:
            run = self._run = attach(self._name, **self._init)
        return run


def is_open(run: Run | None) -> bool:
    return run is not None and not run._closed


def status_of_exception(exc: BaseException | None) -> tuple[RunStatus, str | None]:
    """The status a run ends with when training ended by ``exc`` (None: it ended normally)."""
    from gatebook.run_handle import describe

    if exc is None:
        return RunStatus.FINISHED, None
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.INTERRUPTED, "KeyboardInterrupt"
    if isinstance(exc, SystemExit) and type(exc).__name__ == "SIGTERMException":  # Lightning's
        return RunStatus.INTERRUPTED, "SIGTERM"
    return RunStatus.FAILED, describe(exc)


def end(run: Run | None, exc: BaseException | None = None) -> None:
    """Training is over: a run this process owns is finished (``stopped`` with its reason when a
    stop was asked for; ``failed`` / ``interrupted`` when ``exc`` ended it); an attached run is
    flushed and left to the ``gatebook run`` that owns it."""
    if run is None or run._closed:
        return
    if not run.owner:
        run.flush(timeout=30)
        return
    if run._stop.is_set():
        run.finish(RunStatus.STOPPED, reason=run.stop_reason)
        return
    status, reason = status_of_exception(exc)
    run.finish(status, reason=reason)


class StopCheck:
    """``Run.should_stop()`` for a framework callback.

    :meth:`bind` makes the run cooperative at once (a SIGTERM from a gate then only raises the
    flag instead of ending the process), so bind before training starts. :meth:`__call__` is
    cheap (a flag read); the first True prints one line naming the reason and where training ends.
    """

    def __init__(self, framework: str) -> None:
        self.framework = framework
        self.run: Run | None = None
        self.stopped_at: str | None = None

    def bind(self, run: Run) -> Run:
        self.run = run
        run.should_stop()
        return run

    def __call__(self, where: str) -> bool:
        run = self.run
        if run is None or not run.should_stop():
            return False
        if self.stopped_at is None:
            self.stopped_at = where
            from gatebook.run_handle import _warn

            _warn(f"gatebook: {run.stop_reason or 'stop requested'}: ending {self.framework} training after {where}")
        return True

