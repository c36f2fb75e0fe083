"""vidpipe characters PROJECT [--json] | PROJECT ACTION HANDLE VALUE

The project's characters (one person across every manifest), and a person's edits to them:
``rename`` the handle, ``name``, ``describe`` (the canonical description) and ``primary`` (the
image a reference set starts with). Edits are recorded with history, like the TUI's."""

from __future__ import annotations

import json
from pathlib import Path

from vidpipe.printable import printable

ACTIONS = ("list", "rename", "name", "describe", "primary", "merge", "split")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "characters",
        help="list the project's characters, or rename/name/describe/merge/split",
        description="Without ACTION: list every character with its images and their roles. "
        "rename HANDLE NEW_HANDLE; name HANDLE NAME; describe HANDLE TEXT ('-' "
        "reads stdin); primary HANDLE ASSET (id, manifest/TAG or file path); merge "
        "HANDLE OTHER (one person); split HANDLE FACE (that face is someone else).",
    )
    p.add_argument("project", type=Path)
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS)
    p.add_argument("handle", nargs="?", help="the character: PERSON_01, or its new handle")
    p.add_argument(
        "value", nargs="?", help="the new handle, name, description, image, or the other character"
    )
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(handler=cmd_characters)


def cmd_characters(args) -> int:
    from vidpipe.store.session import open_project

    with open_project(args.project) as session:
        if args.action == "list":
            return list_characters(args.json)
        from vidpipe.cli.character_edit_cmds import edit_character

        return edit_character(session.project, args.action, args.handle, args.value)


def list_characters(as_json: bool) -> int:
    from vidpipe.pipeline.characters import as_json as view_json, list_characters as views

    characters = views()
    if as_json:
        print(json.dumps([view_json(v) for v in characters], indent=2, ensure_ascii=False))
        return 0
    if not characters:
        print("no characters yet (they come from the faces found by `vidpipe process`)")
        return 0
    for view in characters:
        name = f" — {printable(view.name, one_line=True)}" if view.name else ""
        print(f"{view.handle}{name}: {len(view.images)} image(s)")
        if view.description:
            print(f"  {printable(view.description, one_line=True)[:200]}")
        for image in view.images:
            mark = "*" if view.primary and image.asset_id == view.primary.asset_id else " "
            where = f"{printable(image.manifest, one_line=True)}/{image.tag or '-'}"
            print(f" {mark} {image.role:<13} {where:<24} {printable(image.file, one_line=True)}")
    return 0
