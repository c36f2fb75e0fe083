"""The `/` filter language of the asset grid.

    type:char          asset type starts with "char" (CHARACTER)
    state:error        input unusable or a stage failed on it; also pending, processed, untracked
    edited:no          no field written by a person; edited:yes, edited:prompt (a field name)
    source:extracted   or uploaded
    reviewed:no        or yes
    class:person       detection class starts with "person"
    group:3            face group 3; dup:yes for duplicates of a primary face
    suggest:yes        an AI suggestion waits for review
    -type:env          a leading "-" negates a term
    "red car"          free text (quoted for spaces): name, tag, file, prompt, description

Terms are ANDed. Matching is case-insensitive.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Callable

from vidpipe.errors import VidpipeError
from tui.rows import STATE_UNTRACKED, AssetRow

FIELD_ALIASES = {
    "prompt": "reverse_prompt",
    "visual": "visual_description",
    "desc": "description",
    "tags": "user_tags",
    "type": "asset_type",
    "order": "sort_order",
    "tag": "manifest_tag",
}
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0", "none"}


class QueryError(VidpipeError):
    """A filter the grid cannot understand; the message says what was wrong."""


Predicate = Callable[[AssetRow], bool]


def _flag(value: str, key: str) -> bool:
    if value in YES:
        return True
    if value in NO:
        return False
    raise QueryError(f"{key}: expects yes or no, not {value!r}")


def _state(value: str) -> Predicate:
    if value in ("error", "errors", "failed"):
        return lambda row: row.has_error
    if value in ("untracked", "new", "ingest", "not-ingested"):
        return lambda row: row.state == STATE_UNTRACKED
    return lambda row: row.state.startswith(value)


def _edited(value: str) -> Predicate:
    if value in YES or value in NO:
        wanted = _flag(value, "edited")
        return lambda row: bool(row.edited) == wanted
    name = FIELD_ALIASES.get(value, value)
    return lambda row: name in row.edited


def _text(value: str) -> Predicate:
    return lambda row: any(
        value in text.lower()
        for text in (
            row.name,
            row.tag,
            row.file_path,
            row.reverse_prompt,
            row.visual_description,
            row.description,
            row.detection_class,
        )
    )


def _term(key: str, value: str) -> Predicate:
    if key == "type":
        return lambda row: row.asset_type.lower().startswith(value)
    if key == "state":
        return _state(value)
    if key == "edited":
        return _edited(value)
    if key == "source":
        return lambda row: row.source.startswith(value)
    if key == "reviewed":
        wanted = _flag(value, key)
        return lambda row: row.reviewed == wanted
    if key == "class":
        return lambda row: row.detection_class.lower().startswith(value)
    if key == "group":
        if value in NO:
            return lambda row: row.face_group is None
        try:
            group = int(value)
        except ValueError:
            raise QueryError(f"group: expects a number, not {value!r}") from None
        return lambda row: row.face_group == group
    if key == "dup":
        wanted = _flag(value, key)
        return lambda row: bool(row.duplicate_of) == wanted
    if key == "suggest":
        wanted = _flag(value, key)
        return lambda row: row.has_suggestion == wanted
    known = "type, state, edited, source, reviewed, class, group, dup, suggest"
    raise QueryError(f"unknown filter {key!r}: use one of {known}, or free text")


@dataclass(frozen=True)
class Query:
    text: str
    predicates: tuple[Predicate, ...]

    def __call__(self, row: AssetRow) -> bool:
        return all(predicate(row) for predicate in self.predicates)

    @property
    def empty(self) -> bool:
        return not self.predicates


def parse(text: str) -> Query:
    """Compile a filter; raises QueryError with a readable message."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"cannot read the filter: {exc}") from None
    predicates: list[Predicate] = []
    for token in tokens:
        negate = token.startswith("-") and len(token) > 1
        token = token[1:] if negate else token
        key, sep, value = token.partition(":")
        if sep and key and value:
            predicate = _term(key.lower(), value.lower())
        else:
            predicate = _text(token.lower())
        if negate:
            predicates.append(lambda row, p=predicate: not p(row))
        else:
            predicates.append(predicate)
    return Query(text, tuple(predicates))
