"""Packaging as users expect: one version, PEP 639 licence metadata, plain extras, a changelog."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import gatebook

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict:
    from gatebook.tomlcompat import toml_loads

    return toml_loads()((ROOT / "pyproject.toml").read_text())


def test_one_version_source_and_pep_639_licence() -> None:
    meta = metadata.metadata("gatebook")
    assert meta["Version"] == gatebook.__version__  # dynamic = ["version"] reads gatebook.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]  # PEP 639
    classifiers = set(meta.get_all("Classifier") or [])
    assert {"Operating System :: POSIX", "Programming Language :: Python :: 3.10"} <= classifiers
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    project = _pyproject()["project"]
    assert project["dynamic"] == ["version"] and "version" not in project


def test_extras_are_plain_and_python_310_gets_tomli() -> None:
    requires = metadata.requires("gatebook") or []
    ray = [r for r in requires if r.startswith("ray") and 'extra == "ray"' in r]
    assert ray and all(r.startswith("ray>=") for r in ray), ray  # not ray[default]: no dashboard stack
    tomli = [r for r in requires if r.startswith("tomli") and "extra" not in r]
    assert tomli and 'python_version < "3.11"' in tomli[0]


def test_the_changelog_keeps_a_changelog_and_names_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text and f"## [{gatebook.__version__}]" in text
