"""Stable handles: a face group that persists keeps its character across regroupings.

Each new group takes the character most of its faces belonged to (a character is given to one
group only, the one holding most of its faces, on a tie the one holding its primary image). Characters a person named or renamed are given
out first, so a merge never drops a person's HERO for a machine's PERSON_03. A group matching none becomes a new character with the
next number; numbers are never reused, because characters are never deleted.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from vidpipe.store.models import Asset, Character, utcnow
from vidpipe.store.numbering import next_free, numbered

HANDLE_PREFIX = "PERSON"


def default_handle(number: int) -> str:
    return numbered(HANDLE_PREFIX, number)


def person_chosen(character: Character) -> bool:
    return character.handle != default_handle(character.number) or bool(character.name)


def match_groups(groups: Sequence[Sequence[Asset]]) -> list[Character]:
    """The character of each group (``groups`` hold face assets with their current
    ``character_id``), new characters created for the groups that match none."""
    known = {c.id: c for c in Character.select()}
    candidates = []
    for index, members in enumerate(groups):
        for character_id, shared in Counter(
            m.character_id for m in members if m.character_id in known
        ).items():
            character = known[character_id]
            holds_primary = any(m.id == character.primary_asset for m in members)
            candidates.append(
                (
                    not person_chosen(character),
                    -shared,
                    not holds_primary,
                    character.number,
                    index,
                    character,
                )
            )
    candidates.sort(key=lambda c: c[:5])
    chosen: dict[int, Character] = {}
    taken: set[int] = set()
    for *_, index, character in candidates:
        if index not in chosen and character.id not in taken:
            chosen[index] = character
            taken.add(character.id)
    unmatched = sorted(
        (i for i in range(len(groups)) if i not in chosen),
        key=lambda i: min(m.id for m in groups[i]),
    )
    handles = {c.handle for c in known.values()}
    used = {c.number for c in known.values()}  # rows are never deleted: every number ever given
    for index in unmatched:
        number = next_free(used)
        while default_handle(number) in handles:  # a person renamed another one to it
            number += 1
        used.add(number)
        chosen[index] = Character.create(
            number=number, handle=default_handle(number), created_at=utcnow(), updated_at=utcnow()
        )
        handles.add(chosen[index].handle)
    return [chosen[i] for i in range(len(groups))]
