"""`gatebook init` and `gatebook migrate`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from gatebook.cli.common import emit_json, json_option, store_option, store_url_flag

if TYPE_CHECKING:
    from gatebook.store.sql import SQLStore


@click.command("init")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@store_option
@json_option
def init_cmd(path: Path | None, as_json: bool) -> int:
    """Create the ledger: PATH/.gatebook/ (default: the current directory).

    Commands run anywhere below PATH find it by walking up, like git. With --store or
    GATEBOOK_STORE the ledger lives there instead (e.g. a shared PostgreSQL).
    """
    from gatebook import project
    from gatebook.store import open_store

    root = (path or Path.cwd()).resolve()
    flag = store_url_flag()
    if flag:
        url = project.normalize_store_url(flag)
        project.init_project(root)
    else:
        project.init_project(root)
        url = project.sqlite_url(root / project.LEDGER_DIR / project.LEDGER_FILE)
    store = cast("SQLStore", open_store(url))  # open_store returns a SQLStore (the one backend)
    version = store.schema_version()
    where = store.dialect.describe(url)
    store.close()
    if as_json:
        emit_json({"root": str(root), "store": where, "schema_version": version})
    else:
        click.echo(f"gatebook: ledger ready at {where} (schema v{version})")
    return 0


@click.command("migrate")
@store_option
@json_option
def migrate_cmd(as_json: bool) -> int:
    """Upgrade the ledger's schema to this version of gatebook (a no-op when current).

    SQLite ledgers are upgraded automatically (a copy of the old file is kept as
    ledger.db.vN.bak); a shared PostgreSQL ledger waits for this command.
    """
    from gatebook import project
    from gatebook.store.sql import SQLStore

    proj = project.locate(store_url_flag(), create=False)
    store = SQLStore(proj.store_url, migrate=True)
    version = store.schema_version()
    store.close()
    if as_json:
        emit_json({"store": store.dialect.describe(proj.store_url), "schema_version": version})
    else:
        click.echo(f"gatebook: ledger at schema v{version}")
    return 0
