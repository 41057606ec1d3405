"""The package-list cache: a real interpreter behind a logging shim, a real cache directory."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from gatebook.capture import pkgcache


@pytest.fixture(autouse=True)
def empty_memory() -> object:
    """Each test starts and ends with nothing remembered in this process."""
    pkgcache._memory.clear()
    yield
    pkgcache._memory.clear()


@pytest.fixture()
def shim(tmp_path: Path) -> tuple[Path, Path]:
    """A `python` that logs each start to a file, then runs this interpreter."""
    log = tmp_path / "starts.log"
    path = tmp_path / "bin" / "python3"
    path.parent.mkdir()
    path.write_text(f"#!/bin/sh\necho start >> {log}\nexec {sys.executable} \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path, log


def starts(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def env_for(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEBOOK_")}
    env["GATEBOOK_CACHE_DIR"] = str(cache)
    return env


def test_an_interpreter_is_probed_once_per_environment(tmp_path: Path, shim: tuple[Path, Path]) -> None:
    exe, log = shim
    env = env_for(tmp_path / "cache")
    first = pkgcache.interpreter_packages(str(exe), env=env)
    assert first is not None and "gatebook" in first[1] and first[0]["version"]
    assert starts(log) == 1
    assert pkgcache.interpreter_packages(str(exe), env=env) == first  # memory
    pkgcache._memory.clear()
    assert pkgcache.interpreter_packages(str(exe), env=env) == first  # disk
    assert starts(log) == 1
    assert list((tmp_path / "cache").glob("packages-*.json"))


def test_a_changed_site_packages_is_read_again(tmp_path: Path, shim: tuple[Path, Path]) -> None:
    exe, log = shim
    extra = tmp_path / "site"
    extra.mkdir()
    env = env_for(tmp_path / "cache") | {"PYTHONPATH": str(extra)}
    before = pkgcache.interpreter_packages(str(exe), env=env)
    assert before is not None and "made-up-dist" not in before[1]
    # "install" a distribution into a directory on its path: the directory changes
    info = extra / "made_up_dist-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: made-up-dist\nVersion: 1.2.3\n")
    os.utime(extra, ns=(extra.stat().st_atime_ns, extra.stat().st_mtime_ns + 10**9))
    after = pkgcache.interpreter_packages(str(exe), env=env)
    assert after is not None and after[1]["made-up-dist"] == "1.2.3"
    assert starts(log) == 2


def test_not_a_python_and_an_unwritable_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    env = env_for(blocked / "cache")
    assert pkgcache.interpreter_packages("/bin/true", env=env) is None
    got = pkgcache.interpreter_packages(sys.executable, env=env)  # cannot save: still answers
    assert got is not None and "gatebook" in got[1]


def test_own_packages_are_cached_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEBOOK_CACHE_DIR", str(tmp_path / "cache"))
    reads: list[int] = []

    def read() -> dict[str, str]:
        reads.append(1)
        return {"numpy": "2.0"}

    assert pkgcache.own_packages(read) == {"numpy": "2.0"}
    pkgcache._memory.clear()
    assert pkgcache.own_packages(read) == {"numpy": "2.0"}
    assert len(reads) == 1


def test_an_entry_whose_stamps_do_not_cover_its_prefix_is_not_used(tmp_path: Path,
                                                                    shim: tuple[Path, Path]) -> None:
    exe, log = shim
    env = env_for(tmp_path / "cache")
    assert pkgcache.interpreter_packages(str(exe), env=env) is not None
    assert starts(log) == 1
    pkgcache._memory.clear()
    # forge the saved entry as one written for another environment (the old bug's shape)
    [saved] = (tmp_path / "cache").glob("packages-*.json")
    entry = json.loads(saved.read_text())
    other = tmp_path / "elsewhere"
    other.mkdir()
    entry["packages"] = {"not-mine": "1.0"}
    entry["stamps"] = {str(other): os.stat(other).st_mtime_ns}
    saved.write_text(json.dumps(entry))
    got = pkgcache.interpreter_packages(str(exe), env=env)
    assert got is not None and "not-mine" not in got[1] and "gatebook" in got[1]
    assert starts(log) == 2  # probed afresh


def test_a_venv_entry_must_name_that_venv_as_its_prefix(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    site = venv / "lib"
    site.mkdir()
    assert pkgcache.venv_root(str(venv / "bin" / "python")) == str(venv)
    assert pkgcache.venv_root(str(tmp_path / "python")) is None
    entry = pkgcache._with_stamps({"python": {}, "packages": {}}, [str(site)], str(venv))
    assert pkgcache._fresh(entry, str(venv))
    assert not pkgcache._fresh(entry, str(tmp_path))  # made for another venv
    system = pkgcache._with_stamps({"python": {}, "packages": {}}, [str(site)], "/usr")
    assert not pkgcache._fresh(system, str(venv))
