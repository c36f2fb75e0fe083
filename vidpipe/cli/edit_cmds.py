"""vidpipe edit PROJECT ASSET FIELD VALUE | vidpipe edit PROJECT --from FILE.json

The scriptable form of the TUI's editor: the same fields, written as a person's edit with the
same history (undo in the TUI undoes it)."""

from __future__ import annotations

import sys
from pathlib import Path

from vidpipe.store.edits import PERSON_FIELDS
from vidpipe.errors import EditError
from vidpipe.printable import printable

PREVIEW = 60  # characters of a value shown in the report


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "edit",
        help="edit an asset's field as a person would in the TUI (with history and undo)",
        description="Set one field of one asset (VALUE '-' reads it from stdin), or apply every "
        "editable field that differs in an edited export (--from). Fields: "
        + ", ".join(PERSON_FIELDS)
        + " (type is asset_type); `reviewed yes|no` "
        "sets or clears the review mark (who and when are recorded).",
    )
    p.add_argument("project", type=Path)
    p.add_argument(
        "asset", nargs="?", help="asset id, tag (CHAR_01 or manifest/CHAR_01) or file path"
    )
    p.add_argument(
        "field", nargs="?", help="field to set: " + ", ".join(PERSON_FIELDS) + ", or reviewed"
    )
    p.add_argument("value", nargs="?", help="new value; '-' reads it from stdin")
    p.add_argument(
        "--from",
        dest="from_file",
        type=Path,
        metavar="FILE.json",
        help="an edited export (what `vidpipe export` writes) to apply",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --from: apply a field even where the project changed it after "
        "the export was taken (the project's value stays in the history)",
    )
    p.add_argument("--dry-run", action="store_true", help="with --from: report, write nothing")
    p.set_defaults(handler=cmd_edit)


def short(value) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = printable(value, one_line=True)
    return repr(text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…")


def read_stdin_value() -> str:
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"the value on stdin is not UTF-8 text (byte {exc.start})") from None
    # `echo text | vidpipe edit ...` and `$(...)` alike: one trailing newline is not the value's.
    return text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text


def cmd_edit(args) -> int:
    if args.from_file is not None:
        if args.asset is not None:
            raise EditError("give either ASSET FIELD VALUE or --from FILE.json, not both")
        return edit_from_export(args)
    if args.value is None:
        raise EditError(
            "usage: vidpipe edit PROJECT ASSET FIELD VALUE ('-' reads VALUE from "
            "stdin), or vidpipe edit PROJECT --from FILE.json"
        )
    if args.force or args.dry_run:
        raise EditError("--force and --dry-run go with --from")
    return edit_one(args)


REVIEW_VALUES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def mark_reviewed(args) -> int:
    from vidpipe.review.asset_ref import resolve_asset
    from vidpipe.store.edits import current_person, set_reviewed
    from vidpipe.store.session import open_project

    wanted = REVIEW_VALUES.get(str(args.value).strip().lower())
    if wanted is None:
        raise EditError(f"reviewed takes yes or no, not {printable(args.value, True)!r}")
    with open_project(args.project) as session:
        asset = resolve_asset(session.project, args.asset)
        changed = set_reviewed([asset.id], wanted)
        label = printable(f"{asset.manifest_tag or '—'} {asset.name} (id {asset.id})", True)
    if not changed:
        print(f"unchanged  {label}: already {'reviewed' if wanted else 'not reviewed'}")
    elif wanted:
        print(f"reviewed  {label}: marked reviewed by {printable(current_person(), True)}")
    else:
        print(f"not reviewed  {label}: review mark cleared")
    return 0


def edit_one(args) -> int:
    from vidpipe.review.asset_ref import resolve_asset
    from vidpipe.store.edits import edit_field, person_field
    from vidpipe.store.models import Asset
    from vidpipe.store.session import open_project

    if args.field.strip().lower() == "reviewed":
        return mark_reviewed(args)
    field = person_field(args.field)
    value = read_stdin_value() if args.value == "-" else args.value
    with open_project(args.project) as session:
        asset = resolve_asset(session.project, args.asset)
        edit = edit_field(asset.id, field, value)
        label = printable(f"{asset.manifest_tag or '—'} {asset.name} (id {asset.id})", True)
        retagged = Asset.get_by_id(asset.id).manifest_tag if edit and edit.change else None
    if edit is None:
        print(f"unchanged  {label}: {field} already has that value")
    else:
        print(
            f"changed  {label}: {field} {short(edit.old_value)} → {short(edit.new_value)} "
            f"(history #{edit.id}; ctrl+z on the asset in vidpipe-tui undoes it)"
        )
    if retagged:  # a type change takes the next number of the new type (README: Tags)
        print(
            f"changed  {label}: tag {asset.manifest_tag} → {retagged} (the same edit: one "
            "undo takes back both)"
        )
    return 0


def edit_from_export(args) -> int:
    from vidpipe.review.bulk_edit import apply_edited_export, load_export_file
    from vidpipe.store.session import open_project

    data = load_export_file(args.from_file)
    with open_project(args.project):
        report = apply_edited_export(data, force=args.force, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    for change in report.changed:
        print(f"{verb}  {change.asset}: {change.field} {short(change.old)} → {short(change.new)}")
    for kind, problems in (
        ("conflict", report.conflicts),
        ("invalid", report.invalid),
        ("unmatched", report.unmatched),
    ):
        for problem in problems:
            print(f"{kind}  {problem.where}: {problem.reason}")
    if report.ignored:
        keys = ", ".join(f"{key} ({count})" for key, count in sorted(report.ignored.items()))
        print(f"note: read-only keys differ and were not applied (vidpipe computes them): {keys}")
    print(
        f"{report.records} record(s): {len(report.changed)} field(s) {verb} on "
        f"{report.changed_assets} asset(s); {len(report.conflicts)} conflict(s), "
        f"{len(report.invalid)} invalid value(s), {len(report.unmatched)} unmatched record(s)"
    )
    return 0 if report.complete else 1
