"""vidpipe doctor: what works and what is missing on this machine."""

from __future__ import annotations

from pathlib import Path

from vidpipe.ops.doctor import run_checks


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check models, API key, GPU, fonts, file watching")
    p.add_argument("project", type=Path, nargs="?", help="also check this project's settings")
    p.add_argument(
        "--drop-foreign",
        action="store_true",
        help="remove the triggers, views, tables and indexes vidpipe did not create "
        "from the project's database (each is listed)",
    )
    p.set_defaults(handler=cmd_doctor)


def drop_foreign(project: Path) -> int:
    from vidpipe.errors import ProjectError
    from vidpipe.printable import printable
    from vidpipe.store.foreign_objects import drop_foreign_objects
    from vidpipe.store.project import find_project

    try:
        dropped = drop_foreign_objects(find_project(project).database_path)
    except ProjectError as exc:
        print(f"cannot drop: {exc}")
        return 1
    for kind, name in dropped:
        print(f"dropped {kind} {printable(name)}")
    if not dropped:
        print("nothing to drop: the database holds only vidpipe's own tables and indexes")
    return 0


def cmd_doctor(args) -> int:
    if args.drop_foreign:
        if args.project is None:
            print("--drop-foreign needs the project: vidpipe doctor PROJECT --drop-foreign")
            return 2
        if drop_foreign(args.project):
            return 1
    problems = 0
    for check in run_checks(args.project):
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[check.level]
        print(f"[{mark}] {check.name}: {check.detail}")
        if check.remedy:
            print(f"       → {check.remedy}")
        problems += check.level == "fail"
    return 1 if problems else 0
