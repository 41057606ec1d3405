"""Store URLs as users already have them, through the CLI.

Every spelling of a PostgreSQL URL that SQLAlchemy or libpq users have opens the ledger
(all through psycopg 3); a scheme or driver gatebook cannot use, and any malformed URL,
is one line on stderr with exit 2, never an internal error (exit 3), and a password in
the URL is never shown.

`run` and one `ls` go through a real ``gatebook`` process; `ls`, `show` and `init` otherwise run
in this process (``invoke``: the CLI's ``main`` under Click's CliRunner).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import PY, env_with, gb, invoke, one_line_error

SECRET = "pw-s3cr3t-Zq9"

# (URL, a word the one-line error must hold); {tmp} is the test's tmp_path, {dir} a directory in it
REFUSED = [
    pytest.param(f"mysql://me:{SECRET}@db.invalid/ledger", "valid schemes", id="mysql"),
    pytest.param(f"mysql+pymysql://me:{SECRET}@db.invalid/ledger", "valid schemes", id="mysql+pymysql"),
    pytest.param("mongodb://db.invalid/ledger", "valid schemes", id="mongodb"),
    pytest.param("http://example.invalid/ledger", "valid schemes", id="http"),
    pytest.param("://", "cannot parse", id="no-scheme"),
    pytest.param("sqlite:", "sqlite:///", id="sqlite-colon"),
    pytest.param("sqlite:relative.db", "sqlite:///", id="sqlite-no-slashes"),
    pytest.param("sqlite://", "sqlite:///", id="sqlite-two-slashes"),
    pytest.param("sqlite:///", "names no ledger file", id="sqlite-no-path"),
    pytest.param("sqlite:////", "directory", id="sqlite-root-dir"),
    pytest.param("sqlite:///:memory:", "names no ledger file", id="sqlite-memory"),
    pytest.param("sqlite:///{dir}", "directory", id="sqlite-url-of-a-directory"),
    pytest.param("sqlite+aiosqlite:///{tmp}/x.db", "sqlite:///PATH", id="sqlite+aiosqlite"),
    pytest.param("   ", "empty", id="blank"),
    pytest.param("{tmp}/not-a-db.txt", "not a gatebook ledger", id="a-text-file"),
    pytest.param("{tmp}/not-a-db.txt/ledger.db", "ledger", id="path-under-a-file"),
    pytest.param(f"postgresql+asyncpg://me:{SECRET}@db.invalid/ledger", "postgresql://", id="pg+asyncpg"),
    pytest.param(f"postgresql+pg8000://me:{SECRET}@db.invalid/ledger", "postgresql://", id="pg+pg8000"),
    pytest.param(f"postgres+psycopg2cffi://me:{SECRET}@db.invalid/ledger", "postgresql://", id="pg+cffi"),
    pytest.param(f"postgresql:me:{SECRET}@db.invalid/ledger", "postgresql://", id="pg-no-slashes"),
    pytest.param(f"postgres://me:{SECRET}@db.invalid:notaport/ledger", "cannot parse", id="pg-bad-port"),
    pytest.param(f"postgresql://me:{SECRET}@127.0.0.1:99999/ledger", "port", id="pg-port-out-of-range"),
    pytest.param(f"postgresql://me:{SECRET}@127.0.0.1:1/ledger", "cannot", id="pg-refused"),
    pytest.param(f"postgresql+psycopg2://me:{SECRET}@127.0.0.1:1/ledger", "cannot", id="pg+psycopg2-refused"),
    pytest.param(f"POSTGRES://me:{SECRET}@127.0.0.1:1/ledger", "cannot", id="pg-upper-case"),
    pytest.param(f"postgresql://me:{SECRET}@127.0.0.1:1/ledger?bogus=1", "bogus", id="pg-bad-option"),
    pytest.param(f"postgresql://me:{SECRET}/with/slash@127.0.0.1:1/ledger", "cannot", id="pg-slash-in-pw"),
    pytest.param(f"postgresql://me:{SECRET}@x@127.0.0.1:1/ledger", "cannot", id="pg-at-in-pw"),
]


def _fill(url: str, tmp_path: Path) -> str:
    directory = tmp_path / "a-directory"
    directory.mkdir(exist_ok=True)
    (tmp_path / "not-a-db.txt").write_text("hello\n")
    return url.format(tmp=tmp_path, dir=directory)


def _no_secret(proc: object) -> None:
    out = getattr(proc, "stdout", "") + getattr(proc, "stderr", "")
    assert SECRET not in out, out
    for piece in ("s3cr3t", "Zq9"):  # nor a piece of it (taken for a host name, say)
        assert piece not in out, out


@pytest.mark.parametrize(("url", "word"), REFUSED)
def test_a_bad_store_url_is_one_line_exit_2(tmp_path: Path, url: str, word: str) -> None:
    url = _fill(url, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "ran"

    via_flag = invoke("ls", "--store", url, cwd=work)
    err = one_line_error(via_flag)
    assert word.lower() in err.lower(), err
    _no_secret(via_flag)

    via_env = gb("run", "--", PY, "-c", f"open({str(marker)!r}, 'w').close()", cwd=work,
                 env=env_with(GATEBOOK_STORE=url))
    err = one_line_error(via_env)
    assert word.lower() in err.lower(), err
    _no_secret(via_env)
    assert not marker.exists()  # nothing runs when its run cannot be recorded


@pytest.mark.parametrize("url", [f"mysql://me:{SECRET}@db.invalid/ledger", "sqlite:///{dir}",
                                 f"postgresql+asyncpg://me:{SECRET}@db.invalid/ledger",
                                 f"postgres://me:{SECRET}@db.invalid:notaport/ledger"])
def test_init_with_a_bad_store_url_is_one_line_exit_2(tmp_path: Path, url: str) -> None:
    proc = invoke("--store", _fill(url, tmp_path), "init", cwd=tmp_path)
    one_line_error(proc)
    _no_secret(proc)


def test_empty_store_url_means_unset(tmp_path: Path) -> None:
    """An empty --store / GATEBOOK_STORE is as if none were given: the project's ledger."""
    err = one_line_error(gb("ls", "--store", "", cwd=tmp_path))  # the real executable
    assert "no gatebook ledger here" in err
    proc = gb("run", "--name", "e", "--", PY, "-c", "pass", cwd=tmp_path, env=env_with(GATEBOOK_STORE=""))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".gatebook" / "ledger.db").is_file()


def test_a_plain_directory_path_means_the_ledger_file_in_it(tmp_path: Path) -> None:
    directory = tmp_path / "ledgers"
    directory.mkdir()
    err = one_line_error(invoke("ls", "--store", str(directory), cwd=tmp_path))
    assert f"no ledger at {directory / 'ledger.db'}" in err
    proc = gb("run", "--name", "d", "--", PY, "-c", "pass", cwd=tmp_path, env=env_with(GATEBOOK_STORE=str(directory)))
    assert proc.returncode == 0, proc.stderr
    assert (directory / "ledger.db").is_file()
    (directory / "ledger.db.d").mkdir()  # a directory where the ledger file should be
    err = one_line_error(invoke("ls", "--store", str(directory / "ledger.db.d"), cwd=tmp_path))
    assert "directory" in err


@pytest.mark.parametrize("spelling", ["sqlite:///{rel}", "sqlite:///{abs}", "sqlite+pysqlite:///{abs}", "{abs}"])
def test_sqlite_spellings_open_the_same_ledger(tmp_path: Path, spelling: str) -> None:
    ledger = tmp_path / "sub" / "ledger.db"
    first = gb("run", "--name", "one", "--", PY, "-c", "pass", cwd=tmp_path, store=str(ledger))
    assert first.returncode == 0, first.stderr
    url = spelling.format(rel="sub/ledger.db", abs=ledger)
    proc = invoke("ls", "--json", "--store", url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [r["name"] for r in json.loads(proc.stdout)["runs"]] == ["one"]


@pytest.mark.postgres
def test_every_postgres_spelling_opens_the_real_ledger(tmp_path: Path, pg_url: str) -> None:
    assert pg_url.startswith("postgresql://")
    rest = pg_url[len("postgresql://"):]
    user, _at, hostpart = rest.partition("@")
    spellings = {
        "postgresql+psycopg2": f"postgresql+psycopg2://{rest}",
        "postgresql+psycopg": f"postgresql+psycopg://{rest}",
        "postgresql": f"postgresql://{rest}",
        "postgres": f"postgres://{rest}",
        # the test server trusts every client: the password is ignored, and never shown
        "with-password": f"postgres://{user}:{SECRET}@{hostpart}",
    }
    init = invoke("init", "--store", spellings["postgres"], "--json", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert json.loads(init.stdout)["store"].startswith("postgresql://")
    for i, (name, url) in enumerate(spellings.items()):
        proc = gb("run", "--name", name, "--", PY, "-c", "print('gatebook: {\"x\": %d}')" % i, cwd=tmp_path,
                  env=env_with(GATEBOOK_STORE=url))
        assert proc.returncode == 0, (name, proc.stderr)
        _no_secret(proc)
    for url in spellings.values():
        listed = invoke("ls", "--json", "--store", url, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        _no_secret(listed)
        assert sorted(r["name"] for r in json.loads(listed.stdout)["runs"]) == sorted(spellings)
    shown = invoke("show", "with-password", "--json", "--store", spellings["with-password"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    _no_secret(shown)
    assert json.loads(shown.stdout)["metrics"]["x"]["last"] == 4
