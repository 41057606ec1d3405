"""Artifacts as a library (gatebook.artifacts) on a real SQLite ledger: hashing with lineage in the
writer's hasher, listing, the --path choice rules, verify (ok, changed, vanished, unchecked), the text."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

import pytest

from gatebook import artifacts as lib
from gatebook.errors import NotFoundError, UsageError
from gatebook.records import RunRecord
from gatebook.render.artifacts import format_listing, format_verification, lineage_lines, size_text
from gatebook.store import open_store
from gatebook.store.base import ArtifactRow, Store, WriteBatch
from gatebook.testing.store_contract.common import T0, make_run


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"sqlite:///{tmp_path}/ledger.db") as st:
        yield st


def _run(store: Store, **fields: object) -> RunRecord:
    rec = make_run(**fields)
    run_id = store.create_run(rec)
    return store.get_run(run_id)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _log(store: Store, run: RunRecord, path: Path | str, kind: str, ts: float = T0, **extra: object) -> None:
    """An artifact row as the writer makes it (file hashed now) unless ``extra`` says otherwise."""
    p = Path(path)
    data = p.read_bytes() if p.is_file() else None
    row = ArtifactRow(run.id, str(path), kind, len(data) if data is not None else None,
                      _sha(data) if data is not None else None, ts)
    for key, value in extra.items():
        setattr(row, key, value)
    store.write(WriteBatch(artifacts=[row]))


class _Warnings:
    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def __call__(self, key: str, message: str) -> None:
        self.lines.setdefault(key, message)


# -- writing: the hasher the run's writer thread uses -------------------------------------------------

def test_hasher_records_size_hash_and_lineage(store: Store, tmp_path: Path) -> None:
    producer = _run(store, name="train")
    a, b = tmp_path / "epoch_1.ckpt", tmp_path / "epoch_2.ckpt"
    a.write_bytes(b"weights one")
    b.write_bytes(b"weights two")
    _log(store, producer, a, "checkpoint")
    blender = _run(store, name="blend")
    warn = _Warnings()
    hasher = lib.ArtifactHasher(blender.id, store, warn)
    blend = tmp_path / "blend.ckpt"
    blend.write_bytes(b"half and half")
    row = hasher.row(str(blend), "checkpoint", T0, [str(a), str(b), str(tmp_path / "gone.ckpt")])
    assert (row.size, row.sha256) == (13, _sha(b"half and half"))
    assert row.derived_from == (
        {"path": str(a), "sha256": _sha(b"weights one"), "run_id": producer.id},
        {"path": str(b), "sha256": _sha(b"weights two"), "run_id": None},  # no run logged it
        {"path": str(tmp_path / "gone.ckpt"), "sha256": None, "run_id": None},
    )
    assert list(warn.lines) == [f"d:{tmp_path / 'gone.ckpt'}"]
    assert "gone.ckpt does not exist" in warn.lines[f"d:{tmp_path / 'gone.ckpt'}"]


def test_hasher_names_its_own_run_for_a_file_it_logged_and_has_not_written(store: Store, tmp_path: Path) -> None:
    run = _run(store)
    hasher = lib.ArtifactHasher(run.id, store, _Warnings())
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"abc")
    first = hasher.row(str(ckpt), "checkpoint", T0)  # in the same batch: not in the ledger yet
    second = hasher.row(str(tmp_path / "swa.ckpt"), "checkpoint", T0 + 1, [str(ckpt)])
    assert first.sha256 == _sha(b"abc") and first.derived_from == ()
    assert second.size is None and second.sha256 is None  # the artifact itself is missing: kept, no size
    assert second.derived_from == ({"path": str(ckpt), "sha256": _sha(b"abc"), "run_id": run.id},)


def test_hasher_directories_and_unchanged_stamps(store: Store, tmp_path: Path) -> None:
    run = _run(store)
    warn = _Warnings()
    hasher = lib.ArtifactHasher(run.id, store, warn)
    d = tmp_path / "shards"
    (d / "x").mkdir(parents=True)
    (d / "one").write_bytes(b"12345")
    (d / "x" / "two").write_bytes(b"678")
    row = hasher.row(str(d), "dir", T0, [str(d)])
    assert (row.size, row.sha256) == (8, None)
    assert row.derived_from == ({"path": str(d), "sha256": None, "run_id": None},)
    assert "is a directory" in warn.lines[f"d:{d}"]
    f = tmp_path / "f.bin"
    f.write_bytes(b"v1")
    assert hasher.hash(str(f)) == (2, _sha(b"v1"))
    f.write_bytes(b"v22")  # another stamp: read again
    assert hasher.hash(str(f)) == (3, _sha(b"v22"))
    assert hasher.hash(str(tmp_path / "nope")) is None


# -- reading: listing, --path, verify ---------------------------------------------------------------

def test_listing_keeps_the_logged_order_and_filters_by_kind(store: Store, tmp_path: Path) -> None:
    run = _run(store, name="r")
    for i, kind in enumerate(["checkpoint", "config", "checkpoint"]):
        f = tmp_path / f"f{i}"
        f.write_bytes(b"x" * i)
        _log(store, run, f, kind, ts=T0 + i)
    listing = lib.list_artifacts(store, run)
    assert [a.path for a in listing.artifacts] == [str(tmp_path / f"f{i}") for i in range(3)]
    assert listing.kinds == ["checkpoint", "config"]
    doc = listing.to_dict()
    assert doc["run"] == {"id": run.id, "name": "r", "status": "running"} and doc["kind"] is None
    assert doc["artifacts"][1] == {"path": str(tmp_path / "f1"), "kind": "config", "size": 1, "sha256": _sha(b"x"),
                                   "ts": "2023-11-14T22:13:21Z", "stored": False, "derived_from": []}
    only = lib.list_artifacts(store, run, "checkpoint")
    assert [a.path for a in only.artifacts] == [str(tmp_path / "f0"), str(tmp_path / "f2")]


def test_path_choice_rules(store: Store, tmp_path: Path) -> None:
    run = _run(store, name="r")
    with pytest.raises(NotFoundError, match="has no artifact; it logged none"):
        lib.choose_path(lib.list_artifacts(store, run))
    older, newer, cfg = tmp_path / "older.ckpt", tmp_path / "newer.ckpt", tmp_path / "c.yaml"
    for p in (older, newer, cfg):
        p.write_text(p.name)
    _log(store, run, newer, "checkpoint", ts=T0 + 5)
    assert lib.choose_path(lib.list_artifacts(store, run)).path == str(newer)  # the only one
    _log(store, run, older, "checkpoint", ts=T0 + 1)  # logged later, but older
    _log(store, run, cfg, "config", ts=T0 + 9)
    assert lib.choose_path(lib.list_artifacts(store, run, "checkpoint")).path == str(newer)
    with pytest.raises(UsageError, match="has 3 artifacts.*--kind.*checkpoint, config"):
        lib.choose_path(lib.list_artifacts(store, run))
    with pytest.raises(NotFoundError, match="no artifact of kind 'model'; its kinds: checkpoint, config"):
        lib.choose_path(lib.list_artifacts(store, run, "model"))
    _log(store, run, cfg, "checkpoint", ts=T0 + 5)  # same time: the one logged last wins
    assert lib.choose_path(lib.list_artifacts(store, run, "checkpoint")).path == str(cfg)


def test_path_refuses_the_patch_kept_in_the_ledger(store: Store) -> None:
    run = _run(store)
    store.write(WriteBatch(artifacts=[ArtifactRow(run.id, "git.patch", "patch", 4, _sha(b"diff"), T0, b"diff")]))
    with pytest.raises(UsageError, match="kept in the ledger.*--patch"):
        lib.choose_path(lib.list_artifacts(store, run, "patch"))


def test_verify_ok_changed_vanished_and_unchecked(store: Store, tmp_path: Path) -> None:
    run = _run(store, name="v", cwd=str(tmp_path))
    same, edited, gone = tmp_path / "same.bin", tmp_path / "edited.bin", tmp_path / "gone.bin"
    for p in (same, edited, gone):
        p.write_bytes(p.name.encode())
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "small.py").write_text("lr = 1\n")
    d = tmp_path / "shards"
    d.mkdir()
    (d / "a").write_bytes(b"1234")
    for p in (same, edited, gone):
        _log(store, run, p, "checkpoint")
    store.write(WriteBatch(artifacts=[  # a config file as typed (relative: read from the run's cwd), a
        ArtifactRow(run.id, "conf/small.py", "config", 7, _sha(b"lr = 1\n"), T0),  # directory, a path missing
        ArtifactRow(run.id, str(d), "dir", 4, None, T0),  # when logged
        ArtifactRow(run.id, str(tmp_path / "never"), "file", None, None, T0)]))
    result = lib.verify(store, lib.list_artifacts(store, run))
    assert result.ok and [c.status for c in result.checks] == ["ok"] * 5 + ["unchecked"]
    edited.write_bytes(b"retrained")
    gone.unlink()
    (d / "b").write_bytes(b"5")
    result = lib.verify(store, lib.list_artifacts(store, run))
    assert not result.ok
    by_path = {c.artifact.path: c for c in result.checks}
    assert by_path[str(edited)].status == "changed" and by_path[str(edited)].sha256 == _sha(b"retrained")
    assert by_path[str(edited)].detail == f"sha256 {_sha(b'edited.bin')[:12]} -> {_sha(b'retrained')[:12]}"
    assert by_path[str(gone)].status == "vanished"
    assert by_path[str(d)].status == "changed" and by_path[str(d)].detail == "size 4 -> 5"
    assert by_path[str(same)].status == "ok" and by_path["conf/small.py"].status == "ok"
    assert [c.artifact.path for c in result.failed] == [str(edited), str(gone), str(d)]
    doc = result.to_dict()
    assert doc["ok"] is False and doc["counts"] == {"ok": 2, "changed": 2, "vanished": 1, "unchecked": 1}
    assert doc["checks"][1]["logged_sha256"] == _sha(b"edited.bin") and doc["checks"][1]["status"] == "changed"
    only = lib.verify(store, lib.list_artifacts(store, run, "config"))
    assert only.ok and [c.artifact.path for c in only.checks] == ["conf/small.py"]


def test_verify_checks_the_stored_patch_against_its_content(store: Store) -> None:
    run = _run(store)
    store.write(WriteBatch(artifacts=[
        ArtifactRow(run.id, "git.patch", "patch", 3, _sha(b"old"), T0, b"old"),
        ArtifactRow(run.id, "git.patch", "patch", 3, _sha(b"new"), T0 + 1, b"new"),
    ]))
    result = lib.verify(store, lib.list_artifacts(store, run))
    assert [c.status for c in result.checks] == ["unchecked", "ok"] and result.ok
    assert result.checks[1].sha256 == _sha(b"new") and all(c.artifact.stored for c in result.checks)


def test_text_rendering(store: Store, tmp_path: Path) -> None:
    assert [size_text(n) for n in (None, 0, 1023, 1536, 5 * 2**20, 3 * 2**30)] == \
        ["?", "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 GiB"]
    assert lineage_lines([{"path": "/a", "sha256": "f" * 64, "run_id": "6agys"},
                          {"path": "/b", "sha256": "e" * 64, "run_id": None},
                          {"path": "/c", "sha256": None, "run_id": None}]) == [
        "from /a (run 6agys)", "from /b (sha256 eeeeeeeeeeee, no run logged it)", "from /c (not there when logged)"]
    run = _run(store, name="r")
    ckpt = tmp_path / "a.ckpt"
    ckpt.write_bytes(b"abc")
    _log(store, run, ckpt, "checkpoint", ts=T0)
    _log(store, run, tmp_path / "blend.ckpt", "blend", ts=T0,
         derived_from=({"path": str(ckpt), "sha256": _sha(b"abc"), "run_id": run.id},))
    text = format_listing(lib.list_artifacts(store, run), now=T0 + 120)
    lines = text.splitlines()
    assert lines[0].split() == ["kind", "path", "size", "sha256", "logged"]
    assert lines[1].split() == ["checkpoint", str(ckpt), "3", "B", _sha(b"abc")[:12], "2m", "ago"]
    assert lines[2].split()[:3] == ["blend", str(tmp_path / "blend.ckpt"), "?"]
    assert lines[3] == f"            from {ckpt} (run {run.id})"
    ckpt.unlink()
    text = format_verification(lib.verify(store, lib.list_artifacts(store, run)))
    assert text.splitlines() == [f"VANISHED   {ckpt}  no longer exists",
                                 f"unchecked  {tmp_path / 'blend.ckpt'}  nothing was there to hash when it was logged",
                                 f"1 of 2 artifacts of r ({run.id}) changed or vanished since they were logged "
                                 "(0 changed, 1 vanished)"]
