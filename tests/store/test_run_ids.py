"""`gatebook run` hands its command the run's id before the run exists: that id must be its own.

A server ledger is open before the command starts, so the wrapper creates the run first (a taken
id is replaced before the command sees it); on an SQLite ledger the wrapper claims the id among
this machine's processes, and every other creator of a run claims its id too. Each test forces
the collision: the wrapper's first draw is an id another run already holds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import pytest

import gatebook.ids as ids
from gatebook.capture.wrapper import WrapOptions, run_wrapped
from gatebook.records import RunStatus
from gatebook.store import open_store
from gatebook.testing.store_contract import make_run
from tests.helpers import write_script

CHILD = """\
import os
import gatebook as gb
print("my id", os.environ["GATEBOOK_RUN_ID"], flush=True)
gb.init()
gb.log({"loss": 0.5}, step=1)
gb.finish()
"""


def first_draw(value: str) -> Callable[[float | None], str]:
    """``new_run_id`` whose first answer is ``value`` (an id somebody else holds)."""
    real = ids.new_run_id
    calls: list[int] = []

    def fake(now: float | None = None) -> str:
        if not calls:
            calls.append(1)
            return value
        return real(now)

    return fake


def wrap(tmp_path: Path, url: str) -> object:
    script = write_script(tmp_path, "child.py", CHILD)
    return run_wrapped(WrapOptions(argv=[sys.executable, str(script)], store=url, cwd=str(tmp_path), echo=False))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_wrapper_never_hands_its_command_an_id_another_run_holds(
        tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db" if backend == "sqlite" else request.getfixturevalue("pg_url")
    with open_store(url) as store:
        other = make_run(name="other")
        held = store.create_run(other)  # another process's run, made the same millisecond
    monkeypatch.setattr(ids, "new_run_id", first_draw(held))
    result = wrap(tmp_path, url)
    assert result.run_id != held and result.status is RunStatus.FINISHED, result
    with open_store(url) as store:
        mine = store.get_run(result.run_id)
        assert store.metric_series(result.run_id)["loss"][0][1] == 0.5  # the command's API wrote to its own run
        assert f"my id {result.run_id}" in "".join(c[3] for c in store.output(result.run_id))
        untouched = store.get_run(held)
        assert untouched.name == "other" and store.metric_series(held) == {}
        assert mine.source == "wrapper"


def test_on_sqlite_a_run_made_elsewhere_never_takes_an_id_a_wrapper_claimed(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    claimed = ids.claim_run_id(ledger)  # a wrapper's, whose command already runs with it
    with open_store(f"sqlite:///{ledger}") as store:
        api = store.create_run(make_run(id=claimed, name="api"))  # gb.init() in another process
        assert api != claimed
        assert store.create_run(make_run(id=claimed, name="wrapped"), keep_id=True) == claimed
        assert store.get_run(claimed).name == "wrapped" and store.get_run(api).name == "api"
    assert os.path.exists(f"{ledger}.run-ids")
