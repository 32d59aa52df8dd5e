"""``monespace policy``: validate, test and explain the Polar policies."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path

import click

from authz import db, policytest, schema
from authz.engine import PolicyEngine, get_engine
from authz.errors import InvalidInput
from authz.identifiers import normalize_bce, normalize_nrn
from authz.permissions import ALL_PERMISSIONS
from monespace import bootstrap
from policies import POLICY_DIR

policy_dir_option = click.option(
    "--policy-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=POLICY_DIR,
    show_default=True,
    help="Directory of the *.polar files (to try a changed policy before deploying it).",
)


@click.group()
def policy() -> None:
    """The authorization policies (policies/*.polar)."""


@policy.command()
@policy_dir_option
def check(policy_dir: Path) -> None:
    """Load the policy files: syntax, and permission names agreeing with the code."""
    engine = PolicyEngine(policy_dir)
    for path in engine.files:
        click.echo(f"  {path}")
    click.echo(
        f"policy OK: {len(engine.files)} file(s), {len(engine.declared_permissions())} "
        f"permissions, version {engine.version}"
    )


@policy.command(name="test")
@policy_dir_option
@click.option(
    "--table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=policytest.TRUTH_TABLE,
    show_default=True,
    help="The truth table to run.",
)
@click.option("-v", "--verbose", is_flag=True, help="List every case, not only failures.")
def test_(policy_dir: Path, table: Path, verbose: bool) -> None:
    """Run the truth table against the policy, on a throw-away database.

    Exit status 0 when every case holds, 1 otherwise.
    """
    engine = PolicyEngine(policy_dir)
    cases = policytest.load_table(table)
    with tempfile.TemporaryDirectory(prefix="monespace-policy-test-") as tmp:
        database = db.connect(f"sqlite:///{tmp}/truth-table.sqlite3")
        with db.connection():
            schema.upgrade()
            policytest.populate(cases)
            results = policytest.run(engine, cases)
        database.close()
    failures = [failure for _name, failure in results if failure]
    for name, failure in results:
        if failure:
            click.echo(f"FAIL  {failure}")
        elif verbose:
            click.echo(f"ok    {name}")
    click.echo(f"policy version {engine.version}: {len(results)} cases")
    click.echo(f"{len(results) - len(failures)} passed, {len(failures)} failed")
    if failures:
        raise SystemExit(1)


@policy.command()
@click.option("--person", "nrn", required=True, help="National register number of the person.")
@click.option("--action", required=True, help=f"A permission: {', '.join(ALL_PERMISSIONS)}.")
@click.option("--enterprise", "bce", required=True, help="BCE number of the enterprise.")
@click.option("--service-domain", default=None, help="The service domain asked about.")
@click.option("--on", "on", default=None, metavar="YYYY-MM-DD", help="Decide as of this date.")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(
    nrn: str, action: str, bce: str, service_domain: str | None, on: str | None, as_json: bool
) -> None:
    """The decision for one question, and the rules and facts behind it."""
    nrn, bce = normalize_nrn(nrn), normalize_bce(bce)
    if action not in ALL_PERMISSIONS:
        raise InvalidInput(
            f"unknown action {action!r}: the policy's permissions are {', '.join(ALL_PERMISSIONS)}"
        )
    try:
        day = date.fromisoformat(on) if on else None
    except ValueError:
        raise InvalidInput(f"invalid date {on!r}: expected YYYY-MM-DD") from None
    with bootstrap.command_database():
        result = get_engine().explain(nrn, action, bce, service_domain or None, on=day)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(result.render())
