"""Alerts: what happened to a run (a gate failing, a stop, a failure, a lost process, a promotion) sent to
the people who asked, without ever holding up the training or the supervisor.

Targets come from ``notify:`` in gatebook.yaml (:class:`gatebook.project_config.NotifyTarget`):
a webhook (POST of ``{"text": one line, ...the event's document}``, which Slack's incoming
webhooks and most chat tools accept) or a command (the event's document on its stdin, no
shell), each with the events it wants. :class:`Notifier` puts every event on a queue; one
daemon thread delivers it to each target with a timeout, retrying a few times with a growing
pause. A delivery that still fails is recorded on the run as an event ``notify_failed``
(``{"target", "event", "error"}``), never raised; a target is named by :func:`target_label`
(a webhook by its scheme and host only: the rest of its URL is a secret), so no webhook token
ever reaches the ledger or the output. :meth:`Notifier.close` waits a bounded time for the
queue to drain (the end of ``gatebook run``, of a promotion, of a process).

Event document: ``{"event", "text", "run": {"id", "name", "status"}, "ts", "data"}``; events:
:data:`EVENTS`.
"""

from __future__ import annotations

import json
import queue
import shlex
import subprocess
import threading
import time
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from gatebook.project_config import NotifyTarget
    from gatebook.records import RunRecord
    from gatebook.store.base import Store

EVENTS = ("gate_fail", "gate_marginal", "stopped", "failed", "lost", "promoted", "promotion_refused")
"""What a target can ask for in ``on:``."""
RETRIES = 3
"""Tries per delivery (pauses of 0.5 s, then 1 s, between them)."""
DRAIN = 10.0
"""Seconds :meth:`Notifier.close` waits at most for the queue to empty."""


def target_label(target: NotifyTarget) -> str:
    """How a target is named in events and warnings: a webhook by scheme and host only."""
    if target.webhook and target.webhook.startswith("$"):
        return f"webhook {target.webhook}"
    if target.webhook:
        from urllib.parse import urlsplit

        parts = urlsplit(target.webhook)
        return f"webhook {parts.scheme}://{parts.hostname or '?'}/..."
    return f"command {shlex.split(target.command or '')[0] if target.command else '?'}"


def event_document(event: str, run: RunRecord | Mapping[str, Any], text: str,
                   data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document a target receives (its ``text`` is also the webhook's ``text``)."""
    from gatebook.render.text import iso

    ref = run.ref() if hasattr(run, "ref") else dict(run)
    return {"event": event, "text": text, "run": ref, "ts": iso(time.time()), "data": dict(data or {})}


class Notifier:
    """Delivers events to the project's targets from a background thread (see the module)."""

    def __init__(self, targets: Sequence[NotifyTarget], store: Store | None = None, *,
                 cwd: str | None = None) -> None:
        self.targets = list(targets)
        self.store = store
        self.cwd = cwd
        self.failures: list[str] = []  # "target: error" lines, for the caller to say (never secrets)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.targets)

    def send(self, doc: dict[str, Any]) -> None:
        """Queue ``doc`` for every target that wants its event; returns at once."""
        if not any(doc["event"] in t.on for t in self.targets):
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="gatebook-notify", daemon=True)
                self._thread.start()
        self._queue.put(doc)

    def close(self, timeout: float = DRAIN) -> bool:
        """Wait up to ``timeout`` seconds for what is queued to be delivered; whether it was."""
        with self._lock:
            thread = self._thread
            self._thread = None
        if thread is None:
            return True
        self._queue.put(None)
        thread.join(timeout)
        return not thread.is_alive()

    def _loop(self) -> None:
        while True:
            doc = self._queue.get()
            if doc is None:
                return
            for target in self.targets:
                if doc["event"] in target.on:
                    self._deliver(target, doc)

    def _deliver(self, target: NotifyTarget, doc: dict[str, Any]) -> None:
        error = ""
        for attempt in range(RETRIES):
            if attempt:
                time.sleep(0.5 * attempt)
            error = _webhook(target, doc) if target.webhook else _command(target, doc, self.cwd)
            if not error:
                return
        label = target_label(target)
        self.failures.append(f"{label}: {error}")
        if self.store is not None and doc["run"].get("id"):
            from gatebook.store.base import EventRow, WriteBatch

            try:
                self.store.write(WriteBatch(events=[EventRow(doc["run"]["id"], time.time(), "notify_failed", None, {
                    "target": label, "event": doc["event"], "error": error})]))
            except Exception:  # the ledger is gone too: the failure stays in self.failures
                pass


def _webhook(target: NotifyTarget, doc: dict[str, Any]) -> str:
    """POST the document; "" when the server took it (2xx), else what went wrong (no URL in it)."""
    if (target.webhook or "").startswith("$"):
        return "its URL names an environment variable that is not set"
    import urllib.error
    import urllib.request

    from gatebook.serialize import json_safe_numbers

    body = json.dumps(json_safe_numbers(doc)).encode()
    request = urllib.request.Request(target.webhook or "", data=body, method="POST",
                                     headers={"content-type": "application/json", "user-agent": "gatebook"})
    try:
        with urllib.request.urlopen(request, timeout=target.timeout) as resp:  # noqa: S310 - the user's own URL
            return "" if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return "timed out" if "timed out" in str(reason) else f"cannot reach it ({type(reason).__name__})"


def _command(target: NotifyTarget, doc: dict[str, Any], cwd: str | None) -> str:
    """Run the command with the document on stdin; "" when it exits 0."""
    from gatebook.serialize import json_safe_numbers

    try:
        proc = subprocess.run(shlex.split(target.command or ""), input=json.dumps(json_safe_numbers(doc)),
                              capture_output=True, text=True, timeout=target.timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return f"timed out after {target.timeout:g} s"
    except OSError as exc:
        return f"cannot run it: {exc.strerror or exc}"
    return "" if proc.returncode == 0 else f"exit {proc.returncode}"


def send_now(targets: Sequence[NotifyTarget], store: Store | None, docs: Sequence[dict[str, Any]], *,
             timeout: float = DRAIN) -> list[str]:
    """Deliver ``docs`` to ``targets`` and wait (at most ``timeout`` seconds): for a command that
    ends right after (a promotion, a reader marking runs lost, a training's last line). The
    failures, as :attr:`Notifier.failures` says them."""
    notifier = Notifier(targets, store)
    if not notifier or not docs:
        return []
    for doc in docs:
        notifier.send(doc)
    notifier.close(timeout)
    return notifier.failures


def project_targets(root: Any = None) -> list[NotifyTarget]:
    """The ``notify:`` targets of the project found from ``root`` (default: the working
    directory); none when there is no project file or it cannot be read (alerts never break
    the command that would send them)."""
    from gatebook import project
    from gatebook.errors import GatebookError
    from gatebook.project_config import load_project_config

    try:
        return list(load_project_config(root if root is not None else project.find_root()).notify)
    except GatebookError:
        return []
