"""``monespace import-bce``: load BCE extracts (enterprises, legal representatives)."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path

import click

from authz.bce_import import ImportResult, detect_kind, import_file
from authz.errors import InvalidInput
from monespace.bootstrap import command_database

ACTOR = "operator:cli"
# Below this many rows an import is quick enough that a bar would only flicker.
PROGRESS_MIN_ROWS = 1000


@click.command("import-bce")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_bce(files: tuple[Path, ...]) -> None:
    """Import BCE extracts: enterprises and legal representatives (CSV, UTF-8).

    The kind of each FILE is read from its header row; enterprises files are imported before
    representatives files. Bad rows are listed on stderr and skipped; the good rows are kept.
    Exit status 0 when every row was imported, 1 when some were skipped.
    """
    kinds = {path: _kind(path) for path in files}
    ordered = sorted(files, key=lambda path: kinds[path] != "enterprises")
    skipped = 0
    with command_database():
        for path in ordered:
            result = _import(path)
            prefix = f"{path}: " if len(files) > 1 else ""
            for line, reason in result.errors:
                click.echo(f"{prefix}line {line}: {reason}", err=True)
            click.echo(_summary(path, result))
            skipped += result.bad
    if skipped:
        # Good rows are committed; the status tells scripts that some rows were not.
        sys.exit(1)


def _kind(path: Path) -> str:
    try:
        return detect_kind(path)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _import(path: Path) -> ImportResult:
    with ExitStack() as stack:
        bar = None
        shown = 0

        def progress(done: int, total: int) -> None:
            nonlocal bar, shown
            if bar is None:
                if total <= PROGRESS_MIN_ROWS:
                    return
                bar = stack.enter_context(
                    click.progressbar(length=total, label=path.name, file=sys.stderr)
                )
            bar.update(done - shown)
            shown = done

        try:
            return import_file(path, actor=ACTOR, progress=progress)
        except OSError as exc:
            raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None


def _summary(path: Path, result: ImportResult) -> str:
    return (
        f"{path.name}: {result.kind}: {result.rows} rows, {result.new} new, "
        f"{result.updated} updated, {result.unchanged} unchanged, {result.bad} skipped"
    )
