"""Editing a character's fields with history, as :mod:`vidpipe.store.edits` does for assets.

A person's handle, name, description and primary image are theirs: the machine never writes
over them. A description the model made after a person's edit is kept as an unapplied
suggestion in the history, the way an asset's fields keep theirs.
"""

from __future__ import annotations

import re
from typing import Any

from vidpipe.errors import EditError
from vidpipe.printable import has_control_characters, quoted
from vidpipe.store.edits import latest_author
from vidpipe.store.models import Asset, Author, Character, CharacterEdit, db, utcnow

CHARACTER_FIELDS = ("handle", "name", "description", "primary_asset")
HANDLE_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
HANDLE_MAX = 40


def valid_handle(value: Any) -> str:
    """A handle as stored (upper case), or EditError: letters, digits and underscores, starting
    with a letter, as shot prompts and the video tools' reference tags want them."""
    text = str(value or "").strip()
    if not HANDLE_PATTERN.fullmatch(text) or len(text) > HANDLE_MAX:
        raise EditError(
            f"handle {quoted(text)} must be letters, digits and underscores, start "
            f"with a letter, and be at most {HANDLE_MAX} long (like HERO or PERSON_01)"
        )
    return text.upper()


def renamed(text: str, old: str | None, new: str | None) -> str:
    """``text`` with the handle ``old`` (as a whole word) written ``new``."""
    if not text or not old or not new or old == new:
        return text
    return re.sub(rf"(?<![A-Za-z0-9_]){re.escape(old)}(?![A-Za-z0-9_])", new, text)


def _validate(character_id: int, field: str, value: Any) -> Any:
    if field == "handle":
        handle = valid_handle(value)
        clash = Character.get_or_none((Character.handle == handle) & (Character.id != character_id))
        if clash is not None:
            raise EditError(f"handle {handle} is taken by another character")
        return handle
    if field in ("name", "description"):
        text = "" if value is None else str(value)
        if has_control_characters(text, allow_newlines=field == "description"):
            raise EditError(f"{field} contains control characters: {quoted(text[:80])}")
        return text.strip() if field == "name" else text
    if field == "primary_asset":
        return None if value is None else int(value)
    raise EditError(
        f"{quoted(field)} is not a character field; editable: " + ", ".join(CHARACTER_FIELDS)
    )


def _locked(character_id: int) -> Character:
    query = Character.select().where(Character.id == character_id)
    if db.obj is not None and db.obj.for_update:
        query = query.for_update()
    character = query.first()
    if character is None:
        raise EditError(f"no character with id {character_id}")
    return character


def _write(character_id: int, field: str, value: Any, author: Author) -> None:
    updates = {getattr(Character, field): value, Character.updated_at: utcnow()}
    if field == "handle":
        # The description names the character: it follows the rename (and its undo), so a
        # rename costs no new model request; waiting suggestions follow too.
        character = Character.get_by_id(character_id)
        updates[Character.description] = renamed(character.description, character.handle, value)
        for suggestion in suggestions(character_id):
            CharacterEdit.update(
                new_value=renamed(suggestion.new_value, character.handle, value)
            ).where(CharacterEdit.id == suggestion.id).execute()
    if field == "description" and author == Author.USER:
        updates[Character.description_origin] = "user"
    elif field == "description":
        updates[Character.description_key] = None  # the machine describes it again
    if field == "primary_asset":
        updates[Character.primary_picked] = author == Author.USER and value is not None
    Character.update(updates).where(Character.id == character_id).execute()
    if field == "handle":  # the grids show the handle on each image: theirs changed
        Asset.update(updated_at=utcnow()).where(Asset.character == character_id).execute()


def edit_character(
    character_id: int, field: str, value: Any, author: Author = Author.USER
) -> CharacterEdit | None:
    """Set one field as ``author``; returns the history row (None: no change)."""
    with db.atomic():
        value = _validate(character_id, field, value)
        character = _locked(character_id)
        old = getattr(character, field)
        if old == value and not (field == "primary_asset" and not character.primary_picked):
            return None
        _write(character_id, field, value, author)
        CharacterEdit.delete().where(
            CharacterEdit.character == character_id,
            CharacterEdit.field == field,
            CharacterEdit.undone == True,  # noqa: E712
        ).execute()
        return CharacterEdit.create(
            character=character_id, field=field, old_value=old, new_value=value, author=author
        )


def last_writer(character_id: int, field: str) -> Author | None:
    return latest_author(CharacterEdit, CharacterEdit.character == character_id, field)


def apply_ai_description(character_id: int, text: str, origin: str, key: str) -> bool:
    """The model's description, unless a person wrote the current one: then it becomes a
    suggestion. ``key`` (the image set it was made from) is recorded either way, so the same
    images are not asked about again. True if the description now holds ``text``."""
    with db.atomic():
        character = _locked(character_id)
        Character.update(description_key=key).where(Character.id == character_id).execute()
        if last_writer(character_id, "description") == Author.USER:
            pending = [s.new_value for s in suggestions(character_id)]
            if text != character.description and text not in pending:
                CharacterEdit.create(
                    character=character_id,
                    field="description",
                    old_value=character.description,
                    new_value=text,
                    author=Author.AI,
                    applied=False,
                )
            return False
        if character.description != text:
            CharacterEdit.create(
                character=character_id,
                field="description",
                old_value=character.description,
                new_value=text,
                author=Author.AI,
            )
        Character.update(description=text, description_origin=origin, updated_at=utcnow()).where(
            Character.id == character_id
        ).execute()
        return True


def suggestions(character_id: int) -> list[CharacterEdit]:
    """Model descriptions that arrived after a person's edit, newest first."""
    return list(
        CharacterEdit.select()
        .where(CharacterEdit.character == character_id, CharacterEdit.applied == False)  # noqa: E712
        .order_by(CharacterEdit.id.desc())
    )


def undo(character_id: int, field: str | None = None) -> CharacterEdit | None:
    """Revert the newest applied edit (of one field, or any). Returns it, or None."""
    with db.atomic():
        _locked(character_id)
        query = CharacterEdit.select().where(
            CharacterEdit.character == character_id,
            CharacterEdit.applied == True,  # noqa: E712
            CharacterEdit.undone == False,  # noqa: E712
        )
        if field:
            query = query.where(CharacterEdit.field == field)
        edit = query.order_by(CharacterEdit.id.desc()).first()
        if edit is None:
            return None
        if edit.field == "handle":
            _validate(character_id, "handle", edit.old_value)  # the old handle may be taken now
        CharacterEdit.update(undone=True).where(CharacterEdit.id == edit.id).execute()
        # The restored value is its earlier writer's: a person's, or the machine's to redo.
        _write(
            character_id,
            edit.field,
            edit.old_value,
            last_writer(character_id, edit.field) or Author.AI,
        )
        return edit


def history(character_id: int, field: str | None = None) -> list[CharacterEdit]:
    query = CharacterEdit.select().where(CharacterEdit.character == character_id)
    if field:
        query = query.where(CharacterEdit.field == field)
    return list(query.order_by(CharacterEdit.id))
