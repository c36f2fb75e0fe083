"""Editing asset fields with history: undo/redo, and AI output that never overwrites a person.

Every write here touches only the named field (``UPDATE asset SET field=...``), never the whole
row, so a person's edit and the daemon's stage output on other fields cannot clobber each other.
"""

from __future__ import annotations

import getpass
import os
import re
import uuid
from typing import Any

from vidpipe.errors import EditError
from vidpipe.store.models import Asset, AssetType, Author, FieldEdit, db, utcnow
from vidpipe.store.tag_edits import check_tag_free, retyped_tag
from vidpipe.printable import has_control_characters, printable, quoted

#: The fields a person edits in the TUI's editor and with ``vidpipe edit``, in the editor's order.
PERSON_FIELDS = (
    "name",
    "asset_type",
    "user_tags",
    "sort_order",
    "reverse_prompt",
    "visual_description",
    "description",
)

#: Other spellings people use for a field (``type`` is the export's key for ``asset_type``).
FIELD_ALIASES = {"type": "asset_type"}

#: Fields a person may edit; ``manifest_tag`` is pinned this way by code, not in the editor.
EDITABLE_FIELDS = frozenset(PERSON_FIELDS) | {"manifest_tag"}

#: Fields reprocessing rewrites (the seed's seven).
REPROCESS_FIELDS = (
    "reverse_prompt",
    "visual_description",
    "quality_score",
    "detection_class",
    "detection_confidence",
    "is_face_crop",
    "crop_bbox",
)


def current_person() -> str:
    """Who is at the keyboard: ``VIDPIPE_USER`` where a team shares one account and names
    itself, else the login name (``LOGNAME``/``USER``, else the process's account)."""
    named = os.environ.get("VIDPIPE_USER", "").strip()
    if named:
        return named
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid (a bare container)
        return f"uid{os.getuid()}"


def person_field(name: str) -> str:
    """The field a person means by ``name`` (``type`` -> ``asset_type``), or EditError."""
    field = FIELD_ALIASES.get(name.strip().lower(), name.strip().lower())
    if field not in PERSON_FIELDS:
        raise EditError(
            f"{quoted(name)} is not a field a person edits; "
            f"editable: {', '.join(PERSON_FIELDS)} (type is asset_type)"
        )
    return field


#: What the database's integers hold (SQLite and PostgreSQL BIGINT: 64 bits, signed).
MAX_STORED_INTEGER = 2**63 - 1
#: A person's text: far longer than any prompt or description, short enough for every view.
MAX_EDIT_CHARS = {"name": 500}
MAX_EDIT_CHARS_DEFAULT = 20_000


def in_stored_range(value: int) -> bool:
    return -MAX_STORED_INTEGER <= value <= MAX_STORED_INTEGER


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise EditError(f"sort_order must be an integer, not {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not in_stored_range(value):
            raise EditError(f"sort_order {quoted(value)} is out of range (at most 19 digits)")
        return value
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d{1,18}", text):
        return int(text)
    raise EditError(f"sort_order must be an integer, not {quoted(value)}")


def _text(field: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise EditError(f"{field} must be text, not {type(value).__name__}")
    text = str(value)
    limit = MAX_EDIT_CHARS.get(field, MAX_EDIT_CHARS_DEFAULT)
    if len(text) > limit:
        raise EditError(
            f"{field} is {len(text):,} characters long, over the {limit:,} vidpipe keeps"
        )
    if has_control_characters(text, allow_newlines=field != "name"):
        raise EditError(
            f"{field} contains control characters (e.g. terminal escape sequences): "
            f"{quoted(text[:80])}"
        )
    return text


def _validate(field: str, value: Any) -> Any:
    if field not in EDITABLE_FIELDS:
        raise EditError(f"{field!r} is not an editable field")
    if field == "asset_type":
        try:
            return AssetType(str(value).strip().upper()).value
        except ValueError:
            raise EditError(
                f"unknown asset type {quoted(value)}: one of "
                + ", ".join(t.value for t in AssetType)
            ) from None
    if field == "sort_order":
        return _integer(value)
    if field == "user_tags":
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            raise EditError("user_tags must be a list of tags or comma-separated text")
        return [_text("user_tags", v).strip() for v in value if str(v).strip()]
    if field == "manifest_tag":
        return (str(value).strip() or None) if value is not None else None
    if field == "name":
        name = _text(field, value).strip()
        if not name:
            raise EditError("name cannot be empty")
        return name
    return _text(field, value)


def validated(field: str, value: Any) -> Any:
    """``value`` as ``field`` stores it (``"3"`` -> 3, ``"a, b"`` -> ["a", "b"]), or EditError."""
    return _validate(field, value)


def _locked_asset(asset_id: int) -> Asset | None:
    """The asset, read inside the caller's transaction so that no other writer can change it
    before the transaction ends: SQLite's transactions already hold the write lock (IMMEDIATE);
    PostgreSQL reads committed data only, so two people editing at once would both start from
    the same old value without a row lock."""
    query = Asset.select().where(Asset.id == asset_id)
    if db.obj is not None and db.obj.for_update:
        query = query.for_update()
    return query.first()


def _write(asset_id: int, field: str, value: Any) -> None:
    updates = {getattr(Asset, field): value, Asset.updated_at: utcnow()}
    if field == "asset_type":
        updates[Asset.type_source] = "user"
    Asset.update(updates).where(Asset.id == asset_id).execute()


def new_change_id(kind: str = "edit") -> str:
    """An id shared by the edits of one action (see FieldEdit.change): ``kind-<random>``."""
    return f"{kind}-{uuid.uuid4().hex[:16]}"


def write_change(
    kind: str, edits: list[tuple[int, str, Any, Any, Author]], person: str | None = None
) -> str:
    """Write ``(asset_id, field, old, new, author)`` edits as one change (undone and redone
    whole) made by ``person`` (default: the current one), and return its id. The caller
    computed the values (a retag's swaps would trip the one-holder check of a single tag
    edit) and holds the transaction that decided them."""
    change = new_change_id(kind)
    person = person or current_person()
    with db.atomic():
        for asset_id, field, old, value, author in edits:
            writer = _write_ai if author == Author.AI else _write
            writer(asset_id, field, value)
            _drop_redo(asset_id, field)
            FieldEdit.create(
                asset=asset_id,
                field=field,
                old_value=old,
                new_value=value,
                author=author,
                person=person,
                change=change,
            )
    return change


#: What starts a prompt written without a model (vidpipe.prompting.offline); a person who edits
#: such a text makes it theirs, so the label goes.
OFFLINE_LABEL = "[offline] "
LABELLED_FIELDS = ("reverse_prompt", "visual_description")


def edit_field(
    asset_id: int,
    field: str,
    value: Any,
    author: Author = Author.USER,
    person: str | None = None,
    change: str | None = None,
    typed: bool = True,
) -> FieldEdit | None:
    """Set ``field`` of an asset, recording who did it (``person``: the login name, by default
    the current one for a person's edit). Returns the history row (None: no change).
    ``typed``: a person wrote the value (an offline prompt's label is dropped from it), rather
    than took a machine's text as it is.

    A person's change of type gives the asset the next free tag number of its new type (the
    prefix names the type), recorded with the type edit as one change: one undo takes both."""
    value = _validate(field, value)
    if author == Author.USER and person is None:
        person = current_person()
    if (
        author == Author.USER
        and typed
        and field in LABELLED_FIELDS
        and value.startswith(OFFLINE_LABEL)
    ):
        value = value[len(OFFLINE_LABEL) :]
    with db.atomic():
        asset = _locked_asset(asset_id)
        if asset is None:
            raise EditError(f"no asset with id {asset_id}")
        old = getattr(asset, field)
        if old == value:
            return None
        if field == "manifest_tag":
            check_tag_free(asset, value)
        new_tag = (
            retyped_tag(asset, value) if field == "asset_type" and author == Author.USER else None
        )
        if new_tag:
            change = change or new_change_id("type")
        edit = _record(asset_id, field, old, value, author, person, change)
        if new_tag:
            _record(asset_id, "manifest_tag", asset.manifest_tag, new_tag, author, person, change)
        return edit


def _record(
    asset_id: int,
    field: str,
    old: Any,
    value: Any,
    author: Author,
    person: str | None,
    change: str | None,
) -> FieldEdit:
    _write(asset_id, field, value)
    _drop_redo(asset_id, field)
    return FieldEdit.create(
        asset=asset_id,
        field=field,
        old_value=old,
        new_value=value,
        author=author,
        person=person,
        change=change,
    )


def _drop_redo(asset_id: int, field: str) -> None:
    """A new edit invalidates the redo branch of the field (and the whole of any change an
    undone edit there belonged to: a change is redone whole or not at all)."""
    rows = list(
        FieldEdit.select(FieldEdit.id, FieldEdit.change).where(
            FieldEdit.asset == asset_id,
            FieldEdit.field == field,
            FieldEdit.undone == True,  # noqa: E712
        )
    )
    changes = {row.change for row in rows if row.change}
    doomed = FieldEdit.id.in_([row.id for row in rows] or [0])
    if changes:
        doomed |= FieldEdit.change.in_(list(changes)) & (FieldEdit.undone == True)  # noqa: E712
    if rows:
        FieldEdit.delete().where(doomed).execute()


def latest_edit(asset_id: int, field: str) -> FieldEdit | None:
    """The edit that gave ``field`` its current value (None: never edited)."""
    return (
        FieldEdit.select()
        .where(
            FieldEdit.asset == asset_id,
            FieldEdit.field == field,
            FieldEdit.applied == True,  # noqa: E712
            FieldEdit.undone == False,  # noqa: E712
        )
        .order_by(FieldEdit.id.desc())
        .first()
    )


def who(edit: FieldEdit) -> str:
    """ "bob", or "the AI", for messages."""
    return "the AI" if edit.author == Author.AI else (edit.person or "a person")


def set_reviewed(asset_ids: list[int], reviewed: bool, person: str | None = None) -> int:
    """Mark assets reviewed by ``person`` (default: the current one) now, or clear the mark.
    Returns how many assets changed."""
    now = utcnow()
    if reviewed:
        updates = {
            Asset.reviewed: True,
            Asset.reviewed_by: person or current_person(),
            Asset.reviewed_at: now,
            Asset.updated_at: now,
        }
    else:
        updates = {
            Asset.reviewed: False,
            Asset.reviewed_by: None,
            Asset.reviewed_at: None,
            Asset.updated_at: now,
        }
    return (
        Asset.update(updates).where(Asset.id.in_(asset_ids), Asset.reviewed != reviewed).execute()
    )


def last_writer(asset_id: int, field: str) -> Author | None:
    return latest_author(FieldEdit, FieldEdit.asset == asset_id, field)


def latest_author(history: Any, owner_is: Any, field: str) -> Author | None:
    """Who wrote the current value of ``field``: the newest applied, not undone row of a
    history table (FieldEdit for assets, CharacterEdit for characters) whose owner matches."""
    row = (
        history.select(history.author)
        .where(
            owner_is,
            history.field == field,
            history.applied == True,  # noqa: E712
            history.undone == False,  # noqa: E712
        )
        .order_by(history.id.desc())
        .first()
    )
    return Author(row.author) if row else None


def user_edited_fields(asset_id: int) -> set[str]:
    """Fields whose current value was written by a person."""
    latest: dict[str, str] = {}
    for row in (
        FieldEdit.select(FieldEdit.field, FieldEdit.author)
        .where(
            FieldEdit.asset == asset_id,
            FieldEdit.applied == True,  # noqa: E712
            FieldEdit.undone == False,  # noqa: E712
        )
        .order_by(FieldEdit.id)
    ):
        latest[row.field] = row.author
    return {field for field, author in latest.items() if author == Author.USER}


def apply_ai_value(asset_id: int, field: str, value: Any, overwrite: bool = False) -> bool:
    """Write machine output to an editable field unless a person wrote it last.

    Returns True if the field now holds ``value``. If a person edited the field, the value is
    kept as a suggestion (an unapplied history row) the person can adopt, unless ``overwrite``;
    then the person's text stays in the history and can be restored with undo.
    """
    with db.atomic():
        asset = _locked_asset(asset_id)
        if asset is None:
            raise Asset.DoesNotExist(f"no asset with id {asset_id}")
        if not overwrite and last_writer(asset_id, field) == Author.USER:
            current = getattr(asset, field)
            pending = [s.new_value for s in suggestions(asset_id) if s.field == field]
            # A rerun ("all" mode) proposing the same value again must not pile up copies.
            if current != value and value not in pending:
                FieldEdit.create(
                    asset=asset_id,
                    field=field,
                    old_value=current,
                    new_value=value,
                    author=Author.AI,
                    applied=False,
                )
            return False
        old = getattr(asset, field)
        if old == value:
            return True
        _write_ai(asset_id, field, value)
        FieldEdit.create(
            asset=asset_id, field=field, old_value=old, new_value=value, author=Author.AI
        )
        return True


def _write_ai(asset_id: int, field: str, value: Any) -> None:
    updates = {getattr(Asset, field): value, Asset.updated_at: utcnow()}
    if field == "asset_type":
        updates[Asset.type_source] = "detection"
    Asset.update(updates).where(Asset.id == asset_id).execute()


def suggestions(asset_id: int) -> list[FieldEdit]:
    """AI values that arrived after a person's edit and were not applied, newest first."""
    return list(
        FieldEdit.select()
        .where(FieldEdit.asset == asset_id, FieldEdit.applied == False)  # noqa: E712
        .order_by(FieldEdit.id.desc())
    )


def adopt_suggestion(edit_id: int) -> FieldEdit | None:
    """A person takes an AI suggestion: it becomes the field's value, as the person's choice."""
    with db.atomic():
        suggestion = FieldEdit.get_by_id(edit_id)
        FieldEdit.delete().where(FieldEdit.id == edit_id).execute()
        return edit_field(
            suggestion.asset_id, suggestion.field, suggestion.new_value, Author.USER, typed=False
        )


def undo(asset_id: int, field: str | None = None) -> FieldEdit | None:
    """Revert the newest applied edit of the asset (or of one field). Returns it, or None."""
    return _step(asset_id, field, undoing=True)


def redo(asset_id: int, field: str | None = None) -> FieldEdit | None:
    """Re-apply the oldest undone edit that was undone last (per asset or field)."""
    return _step(asset_id, field, undoing=False)


def _step(asset_id: int, field: str | None, undoing: bool) -> FieldEdit | None:
    """One step back (the newest applied edit gets its old value) or forward (the oldest undone
    edit gets its new value again), written as the edit's author wrote it. An edit that is
    part of a change takes the whole change with it."""
    with db.atomic():
        _locked_asset(asset_id)
        query = FieldEdit.select().where(
            FieldEdit.asset == asset_id, FieldEdit.undone == (not undoing)
        )
        if undoing:
            query = query.where(FieldEdit.applied == True)  # noqa: E712
        if field:
            query = query.where(FieldEdit.field == field)
        edit = query.order_by(FieldEdit.id.desc() if undoing else FieldEdit.id.asc()).first()
        if edit is None:
            return None
        if edit.change:
            step_change(edit.change, undoing)
            return edit
        _apply_step(edit, undoing)
        return edit


def _apply_step(edit: FieldEdit, undoing: bool) -> None:
    writer = _write_ai if edit.author == Author.AI else _write
    writer(edit.asset_id, edit.field, edit.old_value if undoing else edit.new_value)
    FieldEdit.update(undone=undoing).where(FieldEdit.id == edit.id).execute()


def change_edits(change: str, undone: bool) -> list[FieldEdit]:
    """The applied edits of a change that are (not) undone now, oldest first."""
    return list(
        FieldEdit.select()
        .where(
            FieldEdit.change == change,
            FieldEdit.applied == True,  # noqa: E712
            FieldEdit.undone == undone,
        )
        .order_by(FieldEdit.id)
    )


def step_change(change: str, undoing: bool) -> list[FieldEdit]:
    """Undo (or redo) every edit of a change at once, or none: if a field was changed again
    since, EditError names it (undo that later edit first)."""
    with db.atomic():
        edits = change_edits(change, undone=not undoing)
        expected = "new_value" if undoing else "old_value"
        for edit in edits:
            asset = _locked_asset(edit.asset_id)
            if asset is None:
                continue
            if getattr(asset, edit.field) != getattr(edit, expected):
                raise EditError(
                    f"{edit.field} of {printable(asset.name, one_line=True)} (id {asset.id}) "
                    f"was changed after this change; {'undo' if undoing else 'redo'} that "
                    "first, or edit it by hand"
                )
        for edit in reversed(edits) if undoing else edits:
            _apply_step(edit, undoing)
        return edits


def history(asset_id: int, field: str | None = None) -> list[FieldEdit]:
    query = FieldEdit.select().where(FieldEdit.asset == asset_id)
    if field:
        query = query.where(FieldEdit.field == field)
    return list(query.order_by(FieldEdit.id))
