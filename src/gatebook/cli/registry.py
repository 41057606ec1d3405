"""`gatebook promote` and `gatebook aliases` (list, log, rollback): options in, library calls, output out.

The work is in :mod:`gatebook.registry`; the text in :mod:`gatebook.render.registry`.
"""

from __future__ import annotations

import click

from gatebook.cli.common import console, emit_json, json_option, open_ledger, project_config, store_option


@click.command("promote")
@click.argument("run")
@click.option("--to", "alias", required=True, metavar="ALIAS", help="The alias to move (champion or @champion).")
@click.option("--gate", "gates", multiple=True, metavar="NAME",
              help="A gate from gatebook.yaml (repeatable; default: the alias's own gates).")
@click.option("--allow-marginal", is_flag=True, help="A MARGINAL verdict moves the alias too.")
@click.option("--force", is_flag=True, help="Move it whatever the verdict (needs --reason; recorded as forced).")
@click.option("--reason", metavar="TEXT", help="Why (required with --force; recorded in the trail).")
@store_option
@json_option
def promote_cmd(run: str, alias: str, gates: tuple[str, ...], allow_marginal: bool, force: bool,
                reason: str | None, as_json: bool) -> int:
    """Move ALIAS to RUN only when RUN passes the gates against the alias's current holder.

    RUN must be finished. PASS moves the alias (exit 0); MARGINAL only with --allow-marginal;
    FAIL, ERROR and PENDING never (exit 1, recorded in the trail as refused, with the failing
    checks and the playbook's next fix). An empty alias takes its first run on its absolute
    checks (those that compare with a baseline say "no holder yet"). See docs/aliases.md.
    """
    from gatebook.registry.promote import promote
    from gatebook.render.registry import print_promotion

    pconf = project_config()
    with open_ledger() as store:
        promo = promote(store, pconf, run, alias, gates=gates, allow_marginal=allow_marginal, force=force,
                        reason=reason)
    if as_json:
        emit_json(promo.to_dict())
    else:
        print_promotion(console(), promo)
    return promo.exit_code


@click.group("aliases", invoke_without_command=True)
@store_option
@json_option
@click.pass_context
def aliases_cmd(ctx: click.Context, as_json: bool) -> int | None:
    """List the aliases: alias, run (id, name), since, by (user@host), the verdict that moved it.

    `gatebook aliases log [ALIAS]` prints the audit trail; `gatebook aliases rollback ALIAS
    --reason TEXT` moves an alias back to its previous holder.
    """
    if ctx.invoked_subcommand is not None:
        return None
    from gatebook.registry.trail import list_aliases
    from gatebook.render.registry import print_aliases

    with open_ledger() as store:
        listing = list_aliases(store)
    if as_json:
        emit_json(listing.to_dict())
    else:
        print_aliases(console(), listing)
    return 0


@aliases_cmd.command("log")
@click.argument("alias", required=False)
@store_option
@json_option
def log_cmd(alias: str | None, as_json: bool) -> int:
    """Every move and refused attempt (of ALIAS, or of every alias), oldest first: time, by, from,
    to, each gate's verdict, each check's observed value and threshold, forced and its reason."""
    from gatebook.registry.trail import alias_log
    from gatebook.render.registry import print_trail

    with open_ledger() as store:
        trail = alias_log(store, alias)
    if as_json:
        emit_json(trail.to_dict())
    else:
        print_trail(console(), trail)
    return 0


@aliases_cmd.command("rollback")
@click.argument("alias")
@click.option("--reason", metavar="TEXT", help="Why (required; recorded in the trail).")
@store_option
@json_option
def rollback_cmd(alias: str, reason: str | None, as_json: bool) -> int:
    """Move ALIAS back to the run that held it before its current holder (recorded as rollback).
    A second rollback undoes the first."""
    from gatebook.registry.promote import rollback
    from gatebook.render.registry import print_promotion

    with open_ledger() as store:
        promo = rollback(store, alias, reason=reason)
    if as_json:
        emit_json(promo.to_dict())
    else:
        print_promotion(console(), promo)
    return 0
