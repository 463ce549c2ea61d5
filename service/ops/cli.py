"""`refinery backup` and `refinery restore`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from pipelines.embeddings import EmbeddingsUnavailable
from pipelines.vectorstore import VectorStoreUnavailable
from service.core.cli import console, errors, fail, open_runtime
from service.core.settings import get_settings


def backup(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="The archive to write (default: refinery-backup-TIME.tar.gz).")
    ] = None,
) -> None:
    """Write the database and the uploaded files to one archive (tar.gz) with a manifest."""
    from service.ops.backup import BackupError
    from service.ops.backup import backup as make_backup

    out = output or Path(f"refinery-backup-{datetime.now():%Y%m%d-%H%M%S}.tar.gz")
    try:
        manifest = make_backup(get_settings(), out)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    rows = sum(manifest.tables.values())
    files = sum(manifest.files.values())
    revision = f", schema {manifest.alembic_revision}" if manifest.alembic_revision else ""
    console.print(f"Backed up {rows} rows in {len(manifest.tables)} tables and {files} files to {out}{revision}")


def restore(
    archive: Annotated[Path, typer.Argument(help="An archive `refinery backup` wrote.")],
    force: Annotated[bool, typer.Option("--force", help="Replace the rows of a database that has some.")] = False,
) -> None:
    """Restore a backup into the configured database and data directory, then rebuild the duplicate index."""
    from service import duplicates
    from service.ops.backup import BackupError
    from service.ops.backup import restore as restore_backup

    try:
        manifest = restore_backup(get_settings(), archive, force=force)
    except BackupError as exc:
        raise fail(str(exc)) from exc
    rows = sum(manifest.tables.values())
    console.print(
        f"Restored {rows} rows and {sum(manifest.files.values())} files from a backup of "
        f"{manifest.created_at:%Y-%m-%d %H:%M} UTC (Refinery {manifest.refinery_version}, {manifest.database})"
    )
    runtime = open_runtime()
    if not runtime.settings.duplicate_check:
        return
    try:
        count = duplicates.reindex(runtime)
    except (EmbeddingsUnavailable, VectorStoreUnavailable) as exc:
        errors.print(f"[yellow]The duplicate index was not rebuilt ({exc}); run `refinery reindex` when it can be.[/]")
        return
    console.print(f"Rebuilt the duplicate index: {count} documents")
