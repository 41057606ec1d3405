"""Read MLflow runs (params, tags, every metric's full history) from a tracking URI, whole, before any write.

Three readers give the same :class:`MlflowRun` records:

- ``sqlite:///PATH``: MLflow's SQLite backend read directly, read-only (``mode=ro``), with one query
  per table (every metric point of every selected run in one pass); MLflow's own client would make
  one ``get_metric_history`` call per run and key.
- ``file:///PATH`` (or a bare directory): MLflow's file store (``mlruns/``) read directly: its
  ``meta.yaml`` files and the ``metrics/KEY`` lines (``timestamp value step``). MLflow 3 refuses to
  open this store unless ``MLFLOW_ALLOW_FILE_STORE=true``; its layout is unchanged, so it is read
  without MLflow.
- anything else (``http(s)://`` servers, ``postgresql://`` / ``mysql://`` backends, or
  ``via="client"``): MLflow's own ``MlflowClient`` (``search_experiments``, ``search_runs``,
  ``get_metric_history``); needs the ``mlflow`` extra.

Values come back as MLflow logged them: NaN points (``is_nan``) as NaN, and the +-1.797e308 an
SQL backend stores for +-inf as +-inf. A source that does not exist or does not answer is a
:class:`gatebook.errors.UsageError` (nothing is created: MLflow's client would create an empty store).
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import unquote, urlparse

from gatebook.errors import MissingExtraError, UsageError

_SQL_INF = 1.7976931348623157e308  # what MLflow's SQL store writes for +-inf
_FILE_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_TABLES = {"experiments": {"experiment_id", "name", "lifecycle_stage"},
           "runs": {"run_uuid", "name", "status", "start_time", "end_time", "lifecycle_stage", "artifact_uri",
                    "experiment_id", "user_id"},
           "metrics": {"key", "value", "timestamp", "run_uuid", "step", "is_nan"},
           "params": {"key", "value", "run_uuid"}, "tags": {"key", "value", "run_uuid"}}
Point = tuple["int | None", float, float]
"""(step, value, ts seconds): one point of an MLflow metric's history, in MLflow's order."""


@dataclass
class MlflowRun:
    """One MLflow run as read from its tracking store (times in seconds since the epoch)."""

    run_id: str
    experiment_id: str
    experiment: str
    name: str | None
    status: str  # RUNNING, SCHEDULED, FINISHED, FAILED, KILLED
    start: float | None
    end: float | None
    artifact_uri: str | None = None
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, list[Point]] = field(default_factory=dict)


def read_runs(uri: str, experiments: Sequence[str] = (), *, via: str = "auto") -> list[MlflowRun]:
    """Every active run of the selected experiments (all active ones when none is named).

    Args:
        uri: an MLflow tracking URI (``sqlite:///...``, ``file:///...``, a directory, ``http://...``).
        experiments: experiment names to import; an unknown one is a UsageError listing the known ones.
        via: ``"auto"`` (direct for SQLite and file stores, the client otherwise) or ``"client"``.

    Raises:
        UsageError: the store does not exist, is not an MLflow store, or does not answer.
        MissingExtraError: the client is needed and ``mlflow`` is not installed.
    """
    kind, where = classify(uri)
    if via == "client" or kind == "client":
        return _read_client(uri, experiments, file_store=kind == "file")
    if kind == "sqlite":
        return _read_sqlite(where, experiments)
    return _read_file_store(where, experiments)


def classify(uri: str) -> tuple[str, Path]:
    """``("sqlite" | "file" | "client", local path)``; UsageError for a local store that does not exist."""
    if uri.startswith("sqlite:"):
        path = Path(unquote(uri.split(":///", 1)[1])) if ":///" in uri else None
        if path is None or not path.is_file():
            raise UsageError(f"no MLflow database at {uri}",
                             hint="give the tracking URI MLflow wrote to, e.g. sqlite:///path/to/mlflow.db")
        return "sqlite", path
    parsed = urlparse(uri)
    if parsed.scheme == "file" or (not parsed.scheme and uri) or (len(parsed.scheme) == 1 and os.name == "nt"):
        path = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)
        if not path.is_dir():
            raise UsageError(f"no MLflow file store at {uri}",
                             hint="give the mlruns directory MLflow wrote to, e.g. file:///path/to/mlruns")
        return "file", path
    return "client", Path()


def metric_value(value: float, is_nan: Any = False) -> float:
    """A metric value as it was logged: NaN for ``is_nan``, +-inf for MLflow's SQL stand-in."""
    if is_nan or value != value:
        return math.nan
    if value == _SQL_INF or value == -_SQL_INF:
        return math.copysign(math.inf, value)
    return float(value)


def pick_experiments(known: dict[str, str], wanted: Sequence[str], uri: str) -> dict[str, str]:
    """``{experiment_id: name}`` of the wanted names (every known one when none is wanted)."""
    if not wanted:
        return dict(known)
    by_name = {name: eid for eid, name in known.items()}
    missing = [w for w in wanted if w not in by_name]
    if missing:
        names = ", ".join(sorted(by_name)) or "none"
        raise UsageError(f"no MLflow experiment named {', '.join(map(repr, missing))} at {uri}",
                         hint=f"its experiments: {names}")
    return {by_name[w]: w for w in dict.fromkeys(wanted)}


# -- MLflow's SQLite backend -----------------------------------------------------------------------

@contextlib.contextmanager
def _sqlite(path: Path, uri: str) -> Iterator[sqlite3.Connection]:
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise UsageError(f"cannot open the MLflow database {uri}: {exc}", hint="check the path") from None
    try:
        tables = {name: {c[1] for c in con.execute(f"PRAGMA table_info({name})")} for name in _TABLES}
        missing = [t for t, cols in _TABLES.items() if not cols <= tables[t]]
        if missing:
            raise UsageError(f"{uri} is not an MLflow tracking database (no usable {', '.join(missing)} table)",
                             hint="give the database `mlflow server --backend-store-uri` or "
                                  "mlflow.set_tracking_uri() names")
        yield con
    except sqlite3.Error as exc:
        raise UsageError(f"cannot read the MLflow database {uri}: {exc}",
                         hint="check that it is an MLflow SQLite database and not damaged") from None
    finally:
        con.close()


def _read_sqlite(path: Path, experiments: Sequence[str]) -> list[MlflowRun]:
    uri = f"sqlite:///{path}"
    with _sqlite(path, uri) as con:
        known = {str(eid): name for eid, name in con.execute(
            "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active'")}
        chosen = pick_experiments(known, experiments, uri)
        marks = ",".join("?" * len(chosen))
        runs: dict[str, MlflowRun] = {}
        for rid, name, status, start, end, art, eid, user in con.execute(
                "SELECT run_uuid, name, status, start_time, end_time, artifact_uri, experiment_id, user_id "
                f"FROM runs WHERE lifecycle_stage = 'active' AND experiment_id IN ({marks}) "
                "ORDER BY start_time, run_uuid", list(chosen)):
            runs[rid] = MlflowRun(rid, str(eid), chosen[str(eid)], name or None, status or "RUNNING",
                                  _seconds(start), _seconds(end), art, user)
        if not runs:
            return []
        con.execute("CREATE TEMP TABLE gb_ids (id TEXT PRIMARY KEY)")
        con.executemany("INSERT INTO gb_ids VALUES (?)", [(r,) for r in runs])
        for table, attr in (("params", "params"), ("tags", "tags")):
            for key, value, rid in con.execute(
                    f"SELECT key, value, run_uuid FROM {table} WHERE run_uuid IN (SELECT id FROM gb_ids)"):
                getattr(runs[rid], attr)[key] = value if value is not None else ""
        raw: dict[tuple[str, str], list[tuple[int, int, int, float]]] = {}
        for rid, key, ts, step, is_nan, value in con.execute(  # unordered: sorting here is cheaper
                "SELECT run_uuid, key, timestamp, step, is_nan, value FROM metrics "
                "WHERE run_uuid IN (SELECT id FROM gb_ids)"):
            pts = raw.get((rid, key))
            if pts is None:
                pts = raw[(rid, key)] = []
            pts.append((ts, step, is_nan, value))
        for (rid, key), pts in sorted(raw.items()):
            pts.sort()  # MLflow's history order: timestamp, step, value (NaN last)
            runs[rid].metrics[key] = [
                (step, value if not is_nan and -_SQL_INF < value < _SQL_INF else metric_value(value, is_nan),
                 ts / 1000.0) for ts, step, is_nan, value in pts]
        return list(runs.values())


def _seconds(ms: Any) -> float | None:
    return None if ms is None else float(ms) / 1000.0


# -- MLflow's file store (mlruns/) -----------------------------------------------------------------

def _read_file_store(root: Path, experiments: Sequence[str]) -> list[MlflowRun]:
    uri = root.as_uri()
    known: dict[str, str] = {}
    for exp in sorted(root.iterdir()):
        meta = _yaml(exp / "meta.yaml") if exp.is_dir() and not exp.name.startswith(".") else None
        if meta and meta.get("lifecycle_stage", "active") == "active" and meta.get("name") is not None:
            known[str(meta.get("experiment_id", exp.name))] = str(meta["name"])
    if not known and not (root / ".trash").is_dir():
        raise UsageError(f"{uri} is not an MLflow file store (no experiment meta.yaml in it)",
                         hint="give the mlruns directory MLflow wrote to")
    runs: list[MlflowRun] = []
    for eid, ename in pick_experiments(known, experiments, uri).items():
        for run_dir in sorted((root / eid).iterdir()):
            meta = _yaml(run_dir / "meta.yaml") if run_dir.is_dir() else None
            if not meta or meta.get("lifecycle_stage", "active") != "active":
                continue
            run = MlflowRun(str(meta.get("run_id") or run_dir.name), eid, ename, meta.get("run_name") or None,
                            _FILE_STATUS.get(int(meta.get("status") or 1), "RUNNING"),
                            _seconds(meta.get("start_time")), _seconds(meta.get("end_time")),
                            meta.get("artifact_uri"), meta.get("user_id"))
            run.params = _texts(run_dir / "params")
            run.tags = _texts(run_dir / "tags")
            for key, path in _files(run_dir / "metrics"):
                run.metrics[key] = _metric_file(path)
            runs.append(run)
    runs.sort(key=lambda r: (r.start or 0.0, r.run_id))
    return runs


def _yaml(path: Path) -> dict[str, Any] | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"cannot read the MLflow file {path}: {str(exc).splitlines()[0]}",
                         hint="check that the file store is not damaged") from None
    return data if isinstance(data, dict) else None


def _files(folder: Path) -> list[tuple[str, Path]]:
    """``(key, file)`` under ``folder``; keys with ``/`` are nested folders, as MLflow writes them."""
    if not folder.is_dir():
        return []
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())


def _texts(folder: Path) -> dict[str, str]:
    return {key: path.read_text(encoding="utf-8") for key, path in _files(folder)}


def _metric_file(path: Path) -> list[Point]:
    """The lines ``timestamp value [step]`` of one metric, in MLflow's history order."""
    rows: list[tuple[int, int, float, float]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            ts, value, step = int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 0
        except (ValueError, IndexError):
            raise UsageError(f"cannot read the MLflow metric file {path}, line {n}: {line[:80]!r}",
                             hint="check that the file store is not damaged") from None
        rows.append((ts, step, value, metric_value(value)))
    rows.sort(key=lambda r: (r[0], r[1], r[2] if r[2] == r[2] else math.inf))
    return [(step, v, ts / 1000.0) for ts, step, _raw, v in rows]


# -- MLflow's own client (servers, other SQL backends, and the benchmark's peer) ---------------------

_CLIENT_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "GIT_PYTHON_REFRESH": "quiet",
               "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


@contextlib.contextmanager
def _client_env(file_store: bool) -> Iterator[None]:
    """MLflow's settings for one read, where the user set none: no telemetry, few HTTP retries (a
    server that does not answer fails in seconds, not minutes), the file store allowed."""
    wanted = {**_CLIENT_ENV, **({"MLFLOW_ALLOW_FILE_STORE": "true"} if file_store else {})}
    added = [k for k in wanted if k not in os.environ]
    os.environ.update({k: wanted[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _read_client(uri: str, experiments: Sequence[str], *, file_store: bool) -> list[MlflowRun]:
    from gatebook.capture.redact import strip_credentials
    from gatebook.errors import GatebookError

    shown = strip_credentials(uri)
    with _client_env(file_store):
        needs_mlflow("gatebook import mlflow --tracking-uri " + shown.split(":", 1)[0] + "://...")
        if uri.startswith(("http://", "https://")):
            _probe(uri, shown)
        try:
            return _client_runs(uri, experiments, shown)
        except GatebookError:
            raise
        except Exception as exc:  # MLflow's, requests', SQLAlchemy's: translated here, never shown raw
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise UsageError(f"cannot read MLflow runs from {shown}: {first}",
                             hint="check --tracking-uri and that the tracking server or database is up") from None


def _probe(uri: str, shown: str) -> None:
    """A tracking server that does not answer at all is a UsageError within seconds."""
    import urllib.error
    import urllib.request

    from gatebook.capture.redact import strip_credentials

    try:
        with urllib.request.urlopen(strip_credentials(uri).rstrip("/") + "/health", timeout=5):
            pass
    except urllib.error.HTTPError:
        return  # it answers (auth, an older server without /health): the client says the rest
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"the MLflow tracking server at {shown} does not answer: {reason}",
                         hint="check --tracking-uri and that `mlflow server` is running") from None


def _client_runs(uri: str, experiments: Sequence[str], shown: str) -> list[MlflowRun]:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    known: dict[str, str] = {}
    token = None
    while True:
        page = client.search_experiments(view_type=ViewType.ACTIVE_ONLY, page_token=token)
        known.update({str(e.experiment_id): e.name for e in page})
        token = page.token
        if not token:
            break
    chosen = pick_experiments(known, experiments, shown)
    runs: list[MlflowRun] = []
    token = None
    while chosen:
        found = client.search_runs(list(chosen), run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                   order_by=["attributes.start_time ASC"], page_token=token)
        for r in found:
            info, data = r.info, r.data
            run = MlflowRun(info.run_id, str(info.experiment_id), chosen[str(info.experiment_id)],
                            info.run_name or None, info.status, _seconds(info.start_time),
                            _seconds(info.end_time), info.artifact_uri, info.user_id,
                            dict(data.params), dict(data.tags))
            for key in sorted(data.metrics):
                history = sorted(client.get_metric_history(info.run_id, key),
                                 key=lambda m: (m.timestamp, m.step, m.value if m.value == m.value else math.inf))
                run.metrics[key] = [(m.step, metric_value(m.value), m.timestamp / 1000.0) for m in history]
            runs.append(run)
        token = found.token
        if not token:
            break
    runs.sort(key=lambda r: (r.start or 0.0, r.run_id))
    return runs


def needs_mlflow(purpose: str) -> Any:
    """The ``mlflow`` module, or MissingExtraError naming the extra."""
    try:
        import mlflow
    except ImportError:
        raise MissingExtraError("mlflow", "mlflow", purpose) from None
    return mlflow
