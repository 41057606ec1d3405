"""`gatebook import`: bring existing history into the ledger (one subcommand per source, each in its own module)."""

from __future__ import annotations

import importlib
import importlib.util

import click

SOURCES: dict[str, tuple[str, str]] = {
    "tensorboard": ("gatebook.cli.import_tensorboard:tensorboard_cmd",
                    "Import every scalar of TensorBoard event files (--watch: follow them live)."),
    "mlflow": ("gatebook.cli.import_mlflow:mlflow_cmd",
               "Import MLflow runs: params, tags, every metric's history, status (idempotent)."),
    "history": ("gatebook.cli.import_history:history_cmd",
                "Import a history file a training already wrote (JSON, JSON lines, CSV) as a run."),
}


class _Sources(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (spec, _) in SOURCES.items()
                if importlib.util.find_spec(spec.partition(":")[0]) is not None]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = SOURCES.get(cmd_name)
        if spec is None:
            return None
        module, _, attr = spec[0].partition(":")
        if importlib.util.find_spec(module) is None:  # a source not built into this version
            return None
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


@click.group("import", cls=_Sources)
def import_group() -> None:
    """Bring history made before gatebook into the ledger (docs/import.md).

    Every source is idempotent (importing again adds only what is new), writes each run in one
    transaction, and takes --json (the imported runs as a document).
    """
