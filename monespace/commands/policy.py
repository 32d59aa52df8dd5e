"""``monespace policy``: validate, test, explain the Polar policies, and judge a change of them
(``diff``, ``coverage``)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import click
import peewee

from authz import db, policycoverage, policydiff, policytest, schema
from authz.engine import PolicyEngine, PolicyError, get_engine
from authz.errors import AuthzError, InvalidInput
from authz.identifiers import normalize_bce, normalize_nrn
from authz.permissions import ALL_PERMISSIONS
from authz.tables import today
from monespace import bootstrap
from monespace.config import ConfigError
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


# -- judging a change: diff and coverage ------------------------------------------------------

# Exit statuses of ``policy diff``: a deploy gate tells "changes" from "could not compare".
DIFF_SAME, DIFF_CHANGED, DIFF_ERROR = 0, 1, 2


class RevisionError(Exception):
    """A side of ``policy diff`` is neither a policy folder nor a git revision."""


def resolve_side(spec: str, into: Path) -> tuple[Path, str]:
    """The policy folder ``spec`` names, and how to call it: a folder holding ``*.polar``
    (or whose ``policies/`` does), else a git revision of the repository of the current
    directory, whose top-level ``policies/`` (its ``*.polar`` and ``*.toml``) is written
    into ``into``."""
    candidate = Path(spec)
    if candidate.is_dir():
        for folder in (candidate, candidate / "policies"):
            if any(folder.glob("*.polar")):
                return folder, spec if folder == candidate else f"{spec} ({folder})"
        raise RevisionError(f"{spec}: a folder without policy files (*.polar)")
    return _checkout(spec, into), f"{spec} (git revision)"


def _git(*args: str) -> str:
    try:
        # The arguments are a list (no shell); the revision is passed after --end-of-options.
        done = subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["git failed"])[0]
        raise RevisionError(first.removeprefix("fatal: "))
    return done.stdout


def _checkout(revision: str, into: Path) -> Path:
    if revision.startswith("-"):
        raise RevisionError(f"{revision!r} is neither a folder nor a git revision")
    try:
        commit = _git(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"
        )
    except RevisionError:
        raise RevisionError(
            f"{revision!r} is neither a folder nor a git revision of this repository"
        ) from None
    commit = commit.strip()
    names = _git("ls-tree", "--full-tree", "--name-only", commit, "--", "policies/").splitlines()
    wanted = [n for n in names if n.endswith((".polar", ".toml"))]
    if not any(n.endswith(".polar") for n in wanted):
        raise RevisionError(f"{revision}: no policies/*.polar at that revision")
    target = into / commit[:12]
    target.mkdir(parents=True)
    for name in wanted:
        (target / Path(name).name).write_text(_git("show", f"{commit}:{name}"), encoding="utf-8")
    return target


def _indented(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def _print_change(change: policydiff.Change) -> None:
    click.echo(f"CHANGED  {change.question}: {change.verdicts}")
    if change.old_explanation is not None:
        click.echo(f"    old:\n{_indented(change.old_explanation)}")
        click.echo(f"    new:\n{_indented(change.new_explanation or '')}")


def _progress_reporter() -> Callable[[policydiff.Progress], None]:
    def report(p: policydiff.Progress) -> None:
        elapsed = max(time.monotonic() - p.started, 1e-6)
        share = p.enterprises_done / p.enterprises if p.enterprises else 1.0
        left = elapsed / share - elapsed if share else 0
        click.echo(
            f"  {share:6.1%}  {p.enterprises_done:,}/{p.enterprises:,} enterprises, "
            f"{p.pairs:,} pairs, {p.questions:,} questions, {p.shapes:,} shapes, "
            f"{p.changes:,} changed, {elapsed:,.0f} s, about {left:,.0f} s left",
            err=True,
        )

    return report


@policy.command()
@click.argument("old")
@click.argument("new")
@click.option(
    "--table",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The truth table to run under both [default: NEW's truth_table.toml, else the "
    "installed one].",
)
@click.option("--no-database", is_flag=True, help="Compare on the truth table only.")
@click.option(
    "--exact",
    is_flag=True,
    help="Ask every pair as it is, not once per shape of facts (slower; see docs).",
)
@click.option(
    "--explain-limit",
    type=click.IntRange(min=0),
    default=200,
    show_default=True,
    help="Explain this many database changes (both explanations); list the others. 0: all.",
)
def diff(
    old: str, new: str, table: Path | None, no_database: bool, exact: bool, explain_limit: int
) -> None:
    """The decisions that change from policy OLD to policy NEW.

    OLD and NEW are folders (holding *.polar, or a policies/ that does) or git revisions of
    this repository's policies/ (HEAD~1 HEAD, main .). Runs the truth table under both, then
    every question the current database can ask. Exit status 0 when no decision changes, 1
    when some do, 2 when the comparison cannot be made.
    """
    try:
        changed = _diff(old, new, table, no_database, exact, explain_limit)
    except (RevisionError, AuthzError, ConfigError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(DIFF_ERROR) from None
    except peewee.DatabaseError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        click.echo(f"error: database: {first}", err=True)
        raise SystemExit(DIFF_ERROR) from None
    raise SystemExit(DIFF_CHANGED if changed else DIFF_SAME)


def _diff(
    old: str, new: str, table: Path | None, no_database: bool, exact: bool, explain_limit: int
) -> int:
    with tempfile.TemporaryDirectory(prefix="monespace-policy-diff-") as tmp:
        old_dir, old_name = resolve_side(old, Path(tmp) / "old")
        new_dir, new_name = resolve_side(new, Path(tmp) / "new")
        engines = []
        for name, folder in ((old_name, old_dir), (new_name, new_dir)):
            try:
                engines.append(PolicyEngine(folder))
            except AuthzError as exc:
                raise PolicyError(f"{name}: {exc}") from None
        before, after = engines
        click.echo(f"old: {old_name}  policy {before.version}")
        click.echo(f"new: {new_name}  policy {after.version}")
        if table is None:
            table = next(
                (t for t in (new_dir / "truth_table.toml", policytest.TRUTH_TABLE) if t.is_file()),
                policytest.TRUTH_TABLE,
            )
        cases = policytest.load_table(table)
        with tempfile.TemporaryDirectory(prefix="monespace-policy-diff-table-") as world:
            database = db.connect(f"sqlite:///{world}/truth-table.sqlite3")
            with db.connection():
                schema.upgrade()
                policytest.populate(cases)
                count, table_changes = policydiff.truth_table_changes(before, after, cases)
            database.close()
        click.echo(f"\ntruth table {table}: {count} cases, {len(table_changes)} changed")
        for change in table_changes:
            _print_change(change)
        changed = len(table_changes)
        if not no_database:
            changed += _diff_database(before, after, exact, explain_limit)
        verdict = "decisions change" if changed else "no decision changes"
        click.echo(f"\n{changed:,} changed: {verdict}")
        return changed


def _diff_database(before: PolicyEngine, after: PolicyEngine, exact: bool, limit: int) -> int:
    with bootstrap.command_database():
        day = today()
        found, changes = policydiff.database_changes(
            before, after, day, exact=exact, report=_progress_reporter(), every=2.0
        )
        domains = ", ".join(d or "(none)" for d in found.domains)
        how = "every pair asked" if found.exact else "each shape of facts asked once"
        click.echo(f"\ndatabase, on {day.isoformat()}: service domains {domains}; {how}")
        explained = 0
        for change in changes:
            if not limit or explained < limit:
                change = policydiff.explain(before, after, change, day)
                explained += 1
            _print_change(change)
        p = found.progress
        click.echo(
            f"database: {p.pairs:,} pairs on {p.enterprises:,} enterprises, {p.questions:,} "
            f"questions, {p.changes:,} changed"
            + (
                f" ({p.changes - explained:,} listed without explanation)"
                if p.changes > explained
                else ""
            )
        )
        return p.changes


@policy.command()
@policy_dir_option
@click.option(
    "--table",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=policytest.TRUTH_TABLE,
    show_default=True,
    help="The truth table to measure with.",
)
@click.option("--strict", is_flag=True, help="Exit 1 also for a rule reached but never held.")
def coverage(policy_dir: Path, table: Path, strict: bool) -> None:
    """Which rules of the policy the truth table exercises, and which it never reaches.

    Each rule is reported, per file, with its line: covered (held for some case), reached
    but never held, or never reached. Exit status 1 when a rule is never reached (with
    --strict, also when one never held), 0 otherwise, 2 when the policy does not load.
    """
    try:
        rules, results = policycoverage.measure(policy_dir, policytest.load_table(table))
    except (AuthzError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(DIFF_ERROR) from None  # 1 means "a rule is never reached"
    by_file: dict[str, list[policycoverage.Rule]] = {}
    for rule in rules:
        by_file.setdefault(rule.file, []).append(rule)
    for name, file_rules in by_file.items():
        covered = sum(1 for r in file_rules if r.held)
        click.echo(f"{policy_dir / name}: {covered}/{len(file_rules)} rules covered")
        for rule in file_rules:
            click.echo(
                f"  {rule.line:>5}  {rule.state:<20} {rule.reached:>5} reached "
                f"{rule.held:>5} held   {rule.text}"
            )
    unreached = [r for r in rules if not r.reached]
    unheld = [r for r in rules if r.reached and not r.held]
    failures = sum(1 for _name, failure in results if failure)
    click.echo(
        f"{len(rules) - len(unreached) - len(unheld)} covered, {len(unheld)} reached but never "
        f"held, {len(unreached)} never reached ({len(results)} cases, {failures} failed)"
    )
    if unreached or (strict and unheld):
        raise SystemExit(1)
