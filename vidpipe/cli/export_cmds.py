"""vidpipe export: the manifest JSON (default) or reference sets for the video tools."""

from __future__ import annotations

from pathlib import Path

from peewee import SqliteDatabase

from vidpipe.errors import ProjectError
from vidpipe.review.export import write_export
from vidpipe.review.reference_sets import FORMATS, export_reference_sets
from vidpipe.store.session import open_project


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write the manifest JSON, or reference sets for Veo, Runway, kohya"
    )
    p.add_argument("project", type=Path)
    p.add_argument(
        "--format",
        default="manifest",
        choices=["manifest", *FORMATS],
        help="manifest: the JSON of every asset (default); veo, runway: one JSON "
        "per character, object and environment; kohya: a LoRA training set "
        "per character",
    )
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help="manifest: file to write (default PROJECT/.vidpipe/exports/"
        "manifest.json); other formats: the folder to write (required)",
    )
    p.add_argument(
        "--manifest",
        action="append",
        help="only this manifest (repeatable; --format manifest only)",
    )
    p.set_defaults(handler=cmd_export)


def cmd_export(args) -> int:
    if args.format == "manifest":
        return _export_manifest(args)
    if args.output is None:
        raise ProjectError(f"--format {args.format} writes a folder: give it with -o DIR")
    if args.manifest:
        raise ProjectError(
            f"--manifest applies to --format manifest only: {args.format} "
            "exports characters, which span the project's manifests"
        )
    with open_project(args.project) as session:
        folder, report = export_reference_sets(
            session.project, args.format, args.output, session.settings.max_image_pixels
        )
    print(
        f"wrote {report.subjects} {args.format} reference set(s), {len(report.written)} "
        f"file(s), to {folder.shown}"
    )
    for note in report.notes:
        print(f"  note: {note}")
    for problem in report.problems:
        print(f"  problem: {problem}")
    return 1 if report.problems else 0


def _export_manifest(args) -> int:
    with open_project(args.project) as session:
        sqlite = isinstance(session.database, SqliteDatabase)
        path = write_export(
            session.project,
            args.output,
            args.manifest,
            database_path=Path(session.database.database) if sqlite else None,
        )
    print(f"wrote {path}")
    return 0
