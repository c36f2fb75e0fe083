"""vidpipe init / add / scan."""

from __future__ import annotations

from pathlib import Path

from vidpipe.errors import ProjectError
from vidpipe.pipeline.ingest import IngestStatus, add_files, reconcile
from vidpipe.store.project import enclosing_project, init_project
from vidpipe.store.session import open_project


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "init", help="create a project folder (PROJECT/.vidpipe, vidpipe.toml)"
    )
    p.add_argument("project", type=Path)
    p.set_defaults(handler=cmd_init)

    p = subparsers.add_parser("add", help="copy image files into a project and ingest them")
    p.add_argument("project", type=Path)
    p.add_argument("files", type=Path, nargs="+")
    p.add_argument(
        "-m", "--manifest", help="subfolder (manifest) to copy into; default: PROJECT itself"
    )
    p.set_defaults(handler=cmd_add)

    p = subparsers.add_parser(
        "scan", help="ingest new/changed files, follow renames, mark deletions"
    )
    p.add_argument("project", type=Path)
    p.set_defaults(handler=cmd_scan)


def cmd_init(args) -> int:
    enclosing = enclosing_project(args.project)
    if enclosing is not None and enclosing.root != Path(args.project).expanduser().resolve():
        # A project inside a project: the outer one would take it for a manifest folder.
        raise ProjectError(
            f"{args.project} is inside the project {enclosing.root}; use that "
            "project (every vidpipe command finds it from inside)"
        )
    project = init_project(args.project)
    with open_project(project.root):
        pass
    print(f"initialised {project.root}")
    print(f"  settings: {project.config_path}")
    print(f"  state:    {project.state_dir}")
    print(f"Put images in it (subfolders become manifests), then: vidpipe process {args.project}")
    return 0


def cmd_add(args) -> int:
    with open_project(args.project) as session:
        results = add_files(session.project, session.settings, args.files, args.manifest)
    failed = 0
    for result in results:
        asset = result.asset
        note = f" — {asset.error}" if result.status == IngestStatus.ERROR else ""
        failed += result.status == IngestStatus.ERROR
        print(f"{result.status.value:>9}  {asset.file_path}{note}")
    return 1 if failed else 0


def print_scan(summary) -> None:
    for status in IngestStatus:
        count = summary.count(status)
        if count:
            print(f"{status.value:>9}: {count}")
    for result in summary.results:
        if result.status == IngestStatus.ERROR:
            print(f"    error  {result.asset.file_path}: {result.asset.error}")
    if summary.removed:
        print(f"  removed: {len(summary.removed)}")
    for path, reason in summary.skipped:
        print(f"  skipped  {path}: {reason}")


def cmd_scan(args) -> int:
    with open_project(args.project) as session:
        print_scan(reconcile(session.project, session.settings))
    return 0
