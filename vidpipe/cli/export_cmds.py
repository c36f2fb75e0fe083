"""vidpipe export."""

from __future__ import annotations

from pathlib import Path

from peewee import SqliteDatabase

from vidpipe.review.export import write_export
from vidpipe.store.session import open_project


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write the manifest JSON for video generation")
    p.add_argument("project", type=Path)
    p.add_argument("-o", "--output", type=Path,
                   help="file to write (default PROJECT/.vidpipe/exports/manifest.json)")
    p.add_argument("--manifest", action="append", help="only this manifest (repeatable)")
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    with open_project(args.project) as session:
        sqlite = isinstance(session.database, SqliteDatabase)
        path = write_export(session.project, args.output, args.manifest,
                            database_path=Path(session.database.database) if sqlite else None)
    print(f"wrote {path}")
    return 0
