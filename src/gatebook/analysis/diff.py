"""What differs between two runs: params, code, environment, metric keys and values.

:func:`diff_runs` reads both runs from the store (and, for the commits between them,
the git repository at the runs' git root when it is still there) and returns a
:class:`RunDiff`; ``RunDiff.to_dict()`` is the stable ``gatebook diff --json`` document
(docs/diff.md). Rendering is the CLI's job.

Sides are named ``a`` and ``b`` in the order given; "added" means in B and not in A,
"removed" in A and not in B, a delta is B - A, and "better" / "worse" say how B does
against A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from gatebook.records import RunRecord

if TYPE_CHECKING:
    from gatebook.project_config import ProjectConfig
    from gatebook.store.base import Store

__all__ = ["RunDiff", "diff_runs", "diff_params", "params_that_differ", "diff_packages", "compare_metric", "MAX_LOG"]

MAX_LOG = 20
"""At most this many commits are listed in the short log (the count is always exact)."""


@dataclass
class RunDiff:
    a: dict[str, Any]
    b: dict[str, Any]
    params: dict[str, Any]
    code: dict[str, Any]
    env: dict[str, Any]
    metric_keys: dict[str, list[str]]
    metrics: list[dict[str, Any]]
    patches: dict[str, str | None] | None = None  # filled on request (diff --patch)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "a": self.a, "b": self.b, "params": self.params, "code": self.code, "env": self.env,
            "metric_keys": self.metric_keys, "metrics": self.metrics, "summary": self.summary,
        }
        if self.patches is not None:
            doc["code"] = {**self.code, "patches": self.patches}
        return doc

    # -- what is worth showing --------------------------------------------------------------
    @property
    def params_differ(self) -> bool:
        return any(self.params[k] for k in ("added", "removed", "changed"))

    @property
    def code_differs(self) -> bool:
        c = self.code
        return bool(c["a_commit"] != c["b_commit"] or c["a_dirty_files"] or c["b_dirty_files"]
                    or c["a_patch"] or c["b_patch"])

    @property
    def env_differs(self) -> bool:
        e = self.env
        return bool(e["python"]["changed"] or any(e["packages"][k] for k in ("added", "removed", "changed")))

    @property
    def metric_keys_differ(self) -> bool:
        return bool(self.metric_keys["only_a"] or self.metric_keys["only_b"])


def _run_ref(run: RunRecord) -> dict[str, Any]:
    from gatebook.render.text import iso

    git = (run.provenance or {}).get("git") or {}
    return {**run.ref(), "created_at": iso(run.created_at), "commit": git.get("commit")}


# -- params -----------------------------------------------------------------------------------


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            return True
        return x == y
    return bool(x == y)


def diff_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """``{"added": {key: b}, "removed": {key: a}, "changed": {key: {"a", "b"}}}`` of merged params."""
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if not _same(a[k], b[k])},
    }


def params_that_differ(params: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Of several runs' merged params (``{run_id: {key: value}}``), the keys whose value is not the
    same in every run (missing in some counts as different), sorted, each ``{run_id: value}``."""
    keys = sorted({k for per in params.values() for k in per})
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [per.get(key, _MISSING) for per in params.values()]
        if any(v is _MISSING for v in values) or not all(_same(values[0], v) for v in values[1:]):
            out[key] = {rid: per.get(key) for rid, per in params.items()}
    return out


_MISSING = object()


# -- environment ------------------------------------------------------------------------------


def diff_packages(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, Any]:
    """Package versions: ``added`` (in B only), ``removed`` (in A only), ``changed`` ({"a", "b"})."""
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: {"a": a[k], "b": b[k]} for k in sorted(set(a) & set(b)) if a[k] != b[k]},
    }


def _env(pa: Mapping[str, Any], pb: Mapping[str, Any]) -> dict[str, Any]:
    va = ((pa.get("python") or {}).get("version"))
    vb = ((pb.get("python") or {}).get("version"))
    packages_a, packages_b = pa.get("packages") or {}, pb.get("packages") or {}
    if not packages_a or not packages_b:  # not captured on one side: nothing to compare
        packages = {"added": {}, "removed": {}, "changed": {}, "compared": False}
    else:
        packages = {**diff_packages(packages_a, packages_b), "compared": True}
    return {"python": {"a": va, "b": vb, "changed": bool(va and vb and va != vb)}, "packages": packages}


# -- code -------------------------------------------------------------------------------------


def _git_out(args: list[str], root: str) -> str | None:
    from gatebook.capture.provenance import _git

    out = _git(args, root)
    return None if out is None else out.decode("utf-8", "replace")


def _has_commit(root: str, sha: str) -> bool:
    return not sha.startswith("-") and _git_out(["cat-file", "-e", f"{sha}^{{commit}}"], root) is not None


def _commits(root: str, base: str, head: str) -> dict[str, Any]:
    """Commits reachable from ``head`` and not from ``base``: exact count, short log."""
    count = _git_out(["rev-list", "--count", f"{base}..{head}"], root)
    log = _git_out(["log", "--no-color", f"-n{MAX_LOG}", "--format=%h%x00%s", f"{base}..{head}"], root) or ""
    entries = []
    for line in log.splitlines():
        sha, _, subject = line.partition("\0")
        if sha:
            entries.append({"commit": sha, "subject": subject})
    return {"count": int(count.strip()) if count and count.strip().isdigit() else None, "log": entries}


def _repo_roots(*runs: RunRecord) -> list[str]:
    """The runs' git roots (B's first) that are still directories."""
    roots: list[str] = []
    for run in runs:
        root = ((run.provenance or {}).get("git") or {}).get("root")
        if root and str(root) not in roots and Path(root).is_dir():
            roots.append(str(root))
    return roots


def _code(store: Store, ra: RunRecord, rb: RunRecord) -> dict[str, Any]:
    from gatebook.capture.provenance import files_changed_between

    ga = (ra.provenance or {}).get("git") or {}
    gb = (rb.provenance or {}).get("git") or {}
    ca, cb = ga.get("commit"), gb.get("commit")
    patch_a = _patch_artifact(store, ra.id)
    patch_b = _patch_artifact(store, rb.id)
    code: dict[str, Any] = {
        "a_commit": ca, "b_commit": cb, "same_commit": bool(ca and ca == cb),
        "repo": None, "repo_available": False,
        "only_in_b": {"count": None, "log": []},  # commits B has and A has not (A..B)
        "only_in_a": {"count": None, "log": []},  # commits A has and B has not (B..A)
        "files_changed": None,  # between the two commits; None when unknown
        "a_dirty_files": list(ga.get("dirty_files") or []),
        "b_dirty_files": list(gb.get("dirty_files") or []),
        "a_patch": patch_a is not None, "b_patch": patch_b is not None,
        "same_patch": (patch_a == patch_b) if (patch_a is not None and patch_b is not None) else None,
    }
    if ca and cb:
        if ca == cb:
            code.update(only_in_b={"count": 0, "log": []}, only_in_a={"count": 0, "log": []}, files_changed=[])
        roots = _repo_roots(rb, ra)
        code["repo"] = roots[0] if roots else None
        for root in roots:
            if ca == cb or (_has_commit(root, ca) and _has_commit(root, cb)):
                code["repo"], code["repo_available"] = root, True
                if ca != cb:
                    code["only_in_b"] = _commits(root, ca, cb)
                    code["only_in_a"] = _commits(root, cb, ca)
                    code["files_changed"] = files_changed_between(root, ca, cb)
                break
    return code


def _patch_artifact(store: Store, run_id: str) -> str | None:
    """The sha256 of the run's latest patch artifact ("" when unknown), None without one."""
    found = None
    for art in store.artifacts(run_id):
        if art.kind == "patch":
            found = art.sha256 or ""
    return found


# -- metrics ----------------------------------------------------------------------------------


def compare_metric(key: str, a: float, b: float, direction: str | None) -> dict[str, Any]:
    """One shared metric: last values, delta (B - A), direction and how B does against A."""
    finite = not (math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b))
    delta = b - a if finite else (math.nan if (math.isnan(a) or math.isnan(b)) else b - a)
    if finite and a == b:
        change = "same"
    elif finite and direction in ("higher", "lower"):
        change = "better" if (delta > 0) == (direction == "higher") else "worse"
    else:
        change = None
    return {"key": key, "a": a, "b": b, "delta": delta, "direction": direction, "change": change}


def _metrics(store: Store, ra: RunRecord, rb: RunRecord,
             direction_of: Callable[[str], str | None],
             primary: list[str]) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    stats = store.metric_stats([ra.id, rb.id])
    sa, sb = stats.get(ra.id, {}), stats.get(rb.id, {})
    keys = {"only_a": sorted(set(sa) - set(sb)), "only_b": sorted(set(sb) - set(sa))}
    shared = set(sa) & set(sb)
    order = [k for k in primary if k in shared] + sorted(shared - set(primary))
    rows = [compare_metric(k, sa[k].last, sb[k].last, direction_of(k)) for k in order]
    for row in rows:
        row["primary"] = row["key"] in primary
    return keys, rows


# -- the whole diff ---------------------------------------------------------------------------


def diff_runs(store: Store, a: RunRecord, b: RunRecord, pconf: ProjectConfig | None = None, *,
              with_patches: bool = False) -> RunDiff:
    """Everything that differs between runs ``a`` and ``b`` (``pconf``: the project config,
    for metric directions and primary metrics; None when there is no project)."""
    from gatebook.views import merged_params

    params = diff_params(merged_params(store.params(a.id)), merged_params(store.params(b.id)))
    metrics_conf = getattr(pconf, "metrics", None)
    direction_of = metrics_conf.direction if metrics_conf is not None else (lambda key: None)
    primary = list(getattr(metrics_conf, "primary", None) or [])
    keys, rows = _metrics(store, a, b, direction_of, primary)
    diff = RunDiff(a=_run_ref(a), b=_run_ref(b), params=params, code=_code(store, a, b),
                   env=_env(a.provenance or {}, b.provenance or {}), metric_keys=keys, metrics=rows)
    if with_patches:
        diff.patches = {side: _patch_text(store, run.id) for side, run in (("a", a), ("b", b))}
    diff.summary = summary_line(diff)
    return diff


def _patch_text(store: Store, run_id: str) -> str | None:
    content = store.artifact_content(run_id, "patch")
    return None if content is None else content.decode("utf-8", "replace")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(diff: RunDiff) -> str:
    """One line: what differs, in the order of the sections."""
    parts: list[str] = []
    p = diff.params
    counts = [(len(p["changed"]), "changed"), (len(p["added"]), "added"), (len(p["removed"]), "removed")]
    if any(n for n, _ in counts):
        parts.append("params " + ", ".join(f"{n} {w}" for n, w in counts if n))
    c = diff.code
    if c["a_commit"] != c["b_commit"]:
        ahead, behind = c["only_in_b"]["count"], c["only_in_a"]["count"]
        if ahead is None:
            parts.append("different commits")
        else:
            text = _plural(ahead, "commit") + " in B"
            if behind:
                text += f", {behind} in A only"
            if c["files_changed"] is not None:
                text += f" ({_plural(len(c['files_changed']), 'file')})"
            parts.append(text)
    dirty = [side.upper() for side in ("a", "b") if c[f"{side}_dirty_files"] or c[f"{side}_patch"]]
    if dirty:
        parts.append("dirty: " + " and ".join(dirty))
    e = diff.env
    if e["python"]["changed"]:
        parts.append(f"python {e['python']['a']} -> {e['python']['b']}")
    npk = sum(len(e["packages"][k]) for k in ("added", "removed", "changed"))
    if npk:
        parts.append(_plural(npk, "package") + " differ" + ("s" if npk == 1 else ""))
    k = diff.metric_keys
    if k["only_a"] or k["only_b"]:
        parts.append(f"metric keys: {len(k['only_a'])} only in A, {len(k['only_b'])} only in B")
    if diff.metrics:
        better = sum(1 for m in diff.metrics if m["change"] == "better")
        worse = sum(1 for m in diff.metrics if m["change"] == "worse")
        differ = sum(1 for m in diff.metrics if m["change"] != "same")
        text = _plural(len(diff.metrics), "shared metric")
        if not differ:
            text += ", all equal"
        elif better or worse:
            text += f" ({differ} differ: {better} better, {worse} worse in B)"
        else:
            text += f" ({differ} differ)"
        parts.append(text)
    if not parts:
        return "no differences in params, code, environment or metrics"
    return "; ".join(parts)
