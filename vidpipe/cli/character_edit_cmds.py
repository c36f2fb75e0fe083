"""The editing actions of ``vidpipe characters``: rename, name, describe, primary, merge, split."""

from __future__ import annotations

from vidpipe.errors import EditError
from vidpipe.printable import printable, quoted
from vidpipe.store.project import Project

FIELD_OF_ACTION = {
    "rename": "handle",
    "name": "name",
    "describe": "description",
    "primary": "primary_asset",
}
USAGE = {
    "rename": "rename HANDLE NEW_HANDLE",
    "name": "name HANDLE NAME",
    "describe": "describe HANDLE TEXT ('-' reads stdin)",
    "primary": "primary HANDLE ASSET (id, manifest/TAG or file path)",
    "merge": "merge HANDLE OTHER_HANDLE",
    "split": "split HANDLE FACE_ASSET",
}


def edit_character(project: Project, action: str, handle: str | None, value: str | None) -> int:
    from vidpipe.cli.edit_cmds import read_stdin_value
    from vidpipe.pipeline.characters.editing import character_by_handle, set_primary
    from vidpipe.store.character_edits import edit_character as edit

    if handle is None or value is None:
        raise EditError(f"usage: vidpipe characters PROJECT {USAGE[action]}")
    character = character_by_handle(handle)
    if action == "describe" and value == "-":
        value = read_stdin_value()
    if action == "merge":
        from vidpipe.pipeline.characters.editing import merge_characters

        merged = merge_characters(character.handle, value)
        print(f"{character.handle} and {value.upper()} are one character now: {merged}")
        return 0
    if action == "split":
        from vidpipe.pipeline.characters.editing import split_image
        from vidpipe.review.asset_ref import resolve_asset

        asset = resolve_asset(project, value)
        now = split_image(character.handle, asset.id)
        print(f"{printable(asset.file_path)} left {character.handle}: it is {now} now")
        return 0
    if action == "primary":
        from vidpipe.review.asset_ref import resolve_asset

        asset = resolve_asset(project, value)
        set_primary(character.id, asset.id)
        print(f"{character.handle}: primary image is now {printable(asset.file_path)}")
        return 0
    field = FIELD_OF_ACTION[action]
    change = edit(character.id, field, value)
    if change is None:
        print(f"{character.handle}: {field} unchanged")
    else:
        print(
            f"{character.handle}: {field} {quoted(change.old_value)[:60]} -> "
            f"{quoted(change.new_value)[:200]}"
        )
    return 0
