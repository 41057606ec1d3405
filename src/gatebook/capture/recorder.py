"""Create run records and their provenance: shared by the API and the wrapper."""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import sys
import time
from typing import Collection, Sequence

from gatebook.errors import GatebookError
from gatebook.ids import new_run_id
from gatebook.records import PATCH_ARTIFACT, RunRecord, RunStatus
from gatebook.store.base import ArtifactRow, Store, WriteBatch


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None if it is gone
    (a zombie, ended but not yet reaped by its parent, counts as gone)."""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(proc.create_time())
    except Exception:
        return None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def make_record(*, run_id: str | None = None, name: str | None, parent_id: str | None,
                tags: Sequence[str], group: str | None, command: Sequence[str], cwd: str,
                source: str, pid: int | None = None, created_at: float | None = None,
                replicate: str | None = None) -> RunRecord:
    """A fresh ``running`` record owned by process ``pid`` (default: this one)."""
    now = time.time() if created_at is None else created_at
    pid = os.getpid() if pid is None else pid
    return RunRecord(
        id=run_id or new_run_id(now), name=name, status=RunStatus.RUNNING, created_at=now,
        parent_id=parent_id, group=group, tags=tuple(dict.fromkeys(tags)), command=tuple(command),
        cwd=cwd, host=socket.gethostname(), user=_user(), pid=pid, pid_start=process_start_time(pid),
        heartbeat_at=now, source=source, replicate=replicate,
    )


def resolve_parent(store: Store, parent: str | None) -> str | None:
    """The id of the parent run reference (NotFoundError when there is none)."""
    if not parent:
        return None
    return store.resolve_run(parent).id


def new_api_run(store: Store, *, name: str | None, parent: str | None, tags: Sequence[str],
                group: str | None) -> RunRecord:
    """Create the run a standalone ``gb.init()`` records into."""
    from gatebook.capture.redact import redact_argv

    record = make_record(name=name, parent_id=resolve_parent(store, parent), tags=tags, group=group,
                         command=redact_argv([sys.executable, *sys.argv]).argv, cwd=os.getcwd(), source="api")
    run_id = store.create_run(record)  # another id when this one was taken meanwhile
    return record if run_id == record.id else dataclasses.replace(record, id=run_id)


def provenance_batch(store: Store, run_id: str, cwd: str, *,
                     environ: dict[str, str] | None = None,
                     command: Sequence[str] | None = None, secrets: Collection[str] = ()) -> WriteBatch:
    """Collect provenance of ``cwd`` and store it on the run; returns the patch artifact
    (and nothing else) as a batch for the caller to write.

    Provenance: git commit, branch, remote, dirty flag and dirty files; files changed
    since the parent run's commit; Python and packages (those of ``command``'s
    interpreter when it is Python); GPUs; system; redacted env (``secrets``, the command
    line's secret values, masked in it too: :mod:`gatebook.capture.redact`).
    (Seeds are derived from params and env when the run is shown.)
    """
    from gatebook.capture import provenance as prov

    env = dict(os.environ if environ is None else environ)
    python_command = bool(command) and prov.is_python_command(command or ())
    # the interpreter that matters is a Python command's, not the one gatebook runs on
    info, patch = prov.collect(cwd, environ=env, include_packages=not python_command, secrets=secrets)
    if python_command:
        assert command is not None
        other = prov.interpreter_info(command[0], env=env, cwd=str(cwd))
        if other is not None:
            info["python"], info["packages"] = other
        else:  # not a Python that answers after all: fall back to gatebook's own
            info["packages"] = prov._own_packages()
    git = info.get("git") or {}
    parent_commit = None
    try:
        rec = store.get_run(run_id)
        if rec.parent_id:
            parent_commit = (store.get_run(rec.parent_id).provenance.get("git") or {}).get("commit")
    except GatebookError:
        rec = None
    changed = prov.files_changed_between(cwd, parent_commit, git.get("commit")) if parent_commit else []
    git["parent_commit"] = parent_commit
    git["files_changed"] = sorted(set(changed) | set(git.get("dirty_files") or []))
    info["git"] = git
    store.update_run(run_id, provenance=info)
    batch = WriteBatch()
    if patch:
        import hashlib

        data = patch.encode("utf-8", "replace")
        batch.artifacts.append(ArtifactRow(run_id, PATCH_ARTIFACT[1], PATCH_ARTIFACT[0], len(data),
                                           hashlib.sha256(data).hexdigest(), time.time(), data))
    return batch
