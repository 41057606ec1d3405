"""A run records the packages and interpreter of its own command, whatever ran before it.

A virtualenv's ``bin/python`` is a symlink to its base interpreter: the two resolve to the same
file but have different packages. These tests record a command run by a fresh venv and by the
base ("system") Python that venv was made from, in both orders, through the real CLI sharing one
package cache, and install a package into the venv with pip between two runs.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import PY, clean_env, gb, invoke_json, write_script

SCRIPT = 'print("gatebook: {\\"epoch\\": 1, \\"loss\\": 0.5}", flush=True)\n'


def base_python() -> str:
    """The interpreter this test session's venv was made from (or this one when not a venv)."""
    return os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    write_script(proj, "train.py", SCRIPT)
    subprocess.run([base_python(), "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True,
                   timeout=120)
    return proj


def venv_python(project: Path) -> str:
    return str(project.parent / "venv" / "bin" / "python")


def env(project: Path) -> dict[str, str]:
    # one cache for both interpreters, as on a user's machine
    return clean_env(GATEBOOK_STORE=f"sqlite:///{project}/ledger.db",
                     GATEBOOK_CACHE_DIR=str(project.parent / "cache"))


def record(project: Path, python: str, name: str) -> dict:
    proc = gb("run", "--name", name, "--", python, "train.py", cwd=project, env=env(project))
    assert proc.returncode == 0, proc.stderr
    doc = invoke_json("show", name, cwd=project, env=env(project))  # a read: in this process
    return doc["env"]


def make_wheel(directory: Path, name: str = "gbprobe_pkg", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (what a build backend would write), for pip to install."""
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": b"X = 1\n",
             f"{info}/METADATA":
                 f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n".encode(),
             f"{info}/WHEEL":
                 b"Wheel-Version: 1.0\nGenerator: gatebook-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel


@pytest.mark.parametrize("order", ["venv-first", "system-first"])
def test_a_venv_and_its_base_python_each_get_their_own_packages(project: Path, order: str) -> None:
    venv_py, system_py = venv_python(project), base_python()
    assert os.path.realpath(venv_py) == os.path.realpath(system_py)  # the trap: one file, two environments
    runs = [("in-venv", venv_py), ("in-system", system_py)]
    if order == "system-first":
        runs.reverse()
    got = {name: record(project, python, name) for name, python in runs}
    venv_prov, system_prov = got["in-venv"], got["in-system"]
    assert venv_prov["python"]["executable"] == venv_py
    assert system_prov["python"]["executable"] != venv_py
    assert os.path.realpath(system_prov["python"]["executable"]) == os.path.realpath(system_py)
    # a venv made --without-pip has nothing installed; its base Python has at least pip
    assert "pip" not in venv_prov["packages"], venv_prov["packages"]
    assert system_prov["packages"] and system_prov["packages"] != venv_prov["packages"]


def test_a_package_installed_into_the_venv_between_two_runs_shows_in_the_second(project: Path) -> None:
    venv_py = venv_python(project)
    first = record(project, venv_py, "before")
    assert "gbprobe-pkg" not in first["packages"]
    wheel = make_wheel(project.parent)
    subprocess.run([PY, "-m", "pip", "--python", venv_py, "install", "-q", "--no-index", "--no-deps",
                    str(wheel)], check=True, capture_output=True, timeout=120, env=clean_env())
    second = record(project, venv_py, "after")
    assert second["packages"].get("gbprobe-pkg") == "1.0"
    assert second["python"]["executable"] == venv_py
