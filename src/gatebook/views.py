"""Plain records of what readers ask for: the show document, ls rows.

The CLI renders these as text or JSON; the dashboard will too. The show document's
schema is documented in docs/json.md and pinned by tests.
"""

from __future__ import annotations

from typing import Any

from gatebook.records import RunRecord
from gatebook.store.base import Store

PARAM_SOURCES = ("config", "argv", "api")
"""Later sources win when params are merged: the config file, then the command
line, then what the code reported through the API."""


def merged_params(by_source: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for source in PARAM_SOURCES:
        out.update(by_source.get(source, {}))
    for source, values in by_source.items():  # unknown sources last
        if source not in PARAM_SOURCES:
            out.update(values)
    return dict(sorted(out.items()))


def run_document(store: Store, run: RunRecord) -> dict[str, Any]:
    """Everything about a run, as the stable ``show --json`` document."""
    from gatebook.capture.provenance import seeds_from_params
    from gatebook.render.text import iso

    prov = run.provenance or {}
    git = prov.get("git") or {}
    by_source = store.params(run.id)
    params = merged_params(by_source)
    stats = store.metric_stats([run.id])[run.id]
    parent = None
    if run.parent_id:
        try:
            p = store.get_run(run.parent_id)
            parent = {"id": p.id, "name": p.name}
        except Exception:
            parent = {"id": run.parent_id, "name": None}
    env_vars = prov.get("env") or {}
    seeds = seeds_from_params(params, environ=env_vars)
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status.value,
        "exit_code": run.exit_code,
        "reason": run.reason,
        "command": list(run.command),
        "cwd": run.cwd,
        "host": run.host,
        "user": run.user,
        "pid": run.pid,
        "source": run.source,
        "created_at": iso(run.created_at),
        "ended_at": iso(run.ended_at),
        "duration": run.duration,
        "parent": parent,
        "group": run.group,
        "replicate": run.replicate,
        "tags": list(run.tags),
        "git": {
            "commit": git.get("commit"),
            "branch": git.get("branch"),
            "remote": git.get("remote"),
            "dirty": git.get("dirty"),
            "root": git.get("root"),
            "dirty_files": git.get("dirty_files") or [],
            "parent_commit": git.get("parent_commit"),
            "files_changed": git.get("files_changed") or [],
        },
        "params": params,
        "params_by_source": by_source,
        "metrics": {k: s.to_dict() for k, s in stats.items()},
        "summary": store.summary(run.id),
        "env": {
            "python": prov.get("python") or {},
            "packages": prov.get("packages") or {},
            "variables": env_vars,
        },
        "system": prov.get("system") or {},
        "gpus": prov.get("gpus") or [],
        "seeds": seeds,
        "notes": [{"text": n.text, "ts": iso(n.ts)} for n in store.notes(run.id)],
        "artifacts": [a.to_dict() for a in store.artifacts(run.id)],
        "events": [{"ts": iso(e.ts), "kind": e.kind, "step": e.step, "data": e.data} for e in store.events(run.id)],
        "intended_mismatches": _intended_mismatches(by_source, run.cwd),
    }


def _intended_mismatches(by_source: dict[str, dict[str, Any]], cwd: str | None) -> list[dict[str, Any]]:
    """Where the config the run reported disagrees with what it was asked for
    (gatebook.analysis.intended; docs/diff.md)."""
    from gatebook.analysis.intended import find_mismatches

    return [m.to_dict() for m in find_mismatches(by_source, cwd=cwd)]


def ls_row(run: RunRecord) -> dict[str, Any]:
    """One run in ``ls --json``."""
    from gatebook.render.text import iso

    return {
        "id": run.id, "name": run.name, "status": run.status.value, "exit_code": run.exit_code,
        "created_at": iso(run.created_at), "ended_at": iso(run.ended_at), "duration": run.duration,
        "parent_id": run.parent_id, "group": run.group, "tags": list(run.tags), "reason": run.reason,
        "command": list(run.command), "replicate": run.replicate,
    }


def add_note(store: Store, ref: str, text: str) -> tuple[RunRecord, dict[str, Any]]:
    """Attach ``text`` to the run ``ref`` names, now: the run and the ``note --json`` document
    ``{"id", "note", "ts"}`` (``gatebook note`` and the dashboard's note button)."""
    import time

    rec = store.resolve_run(ref)
    now = time.time()
    store.add_note(rec.id, text, now)
    return rec, {"id": rec.id, "note": text, "ts": now}
