"""Numbered names that never move: ``CHAR_01``, ``OBJ_03`` (and any other series of names).

A number, once handed out in a series, is never handed to anything else. The next free number is
one past the highest ever seen: the numbers still held (by any row, a removed one too) and the
series' high-water mark (:class:`NumberCounter`), which remembers numbers whose holder was
renamed by a person or moved away. Only a deliberate renumbering (``vidpipe retag``) lowers it.

A series is a ``scope`` (``"manifest:3"`` for that manifest's tags, anything else for other
series) and a ``prefix`` (``"CHAR"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vidpipe.store.models import NumberCounter

#: ``PREFIX_NN``: a numbered name (a name a person chose, such as ``HERO``, is not one).
NUMBERED = re.compile(r"^([A-Z][A-Z0-9]*)_(\d+)$")

#: PostgreSQL advisory lock key ("vidn") held while numbers are handed out: two daemons
#: numbering at once would otherwise both see the same highest number.
NUMBERING_LOCK_KEY = 0x7669646E


def numbered(prefix: str, number: int) -> str:
    """``CHAR_01``: two digits at least, more when the number needs them."""
    return f"{prefix}_{number:02d}"


def split_numbered(name: str | None) -> tuple[str, int] | None:
    """``("CHAR", 1)`` for ``CHAR_01``; None for a name that is not numbered."""
    match = NUMBERED.match(name or "")
    return (match.group(1), int(match.group(2))) if match else None


def next_free(used: Iterable[int], high_water: int = 0) -> int:
    """The number to hand out next: one past every number used and the high-water mark (never
    a hole: a hole is a number someone held once)."""
    return max([high_water, *used], default=0) + 1


def tag_scope(manifest_id: int) -> str:
    """The series scope of a manifest's tags (tags are numbered per manifest)."""
    return f"manifest:{manifest_id}"


def lock_numbering() -> None:
    """Inside a transaction: hand out numbers one process at a time (SQLite transactions are
    serialised already; PostgreSQL needs the advisory lock)."""
    # Imported here: the TUI imports this module (through the edits) before its first paint,
    # and the database module brings the schema migrations along.
    from vidpipe.store.database import serialize_writers

    serialize_writers(NUMBERING_LOCK_KEY)


def high_waters(scope: str) -> dict[str, int]:
    """{prefix: highest number ever handed out} of a scope."""
    rows = NumberCounter.select().where(NumberCounter.scope == scope)
    return {row.prefix: row.high for row in rows}


def record_high_water(scope: str, prefix: str, number: int, lower: bool = False) -> None:
    """Remember that ``number`` was handed out (the mark only rises, unless ``lower``: a
    deliberate renumbering). Call inside the transaction that hands the number out."""
    row = NumberCounter.get_or_none(NumberCounter.scope == scope, NumberCounter.prefix == prefix)
    if row is None:
        NumberCounter.create(scope=scope, prefix=prefix, high=number)
    elif number > row.high or (lower and number != row.high):
        NumberCounter.update(high=number).where(NumberCounter.id == row.id).execute()


def hand_out(scope: str, prefix: str, used: set[int], count: int = 1) -> list[int]:
    """``count`` new numbers of a series, in order, given the numbers in ``used`` (updated in
    place); the high-water mark follows. Call inside a transaction after lock_numbering()."""
    high = high_waters(scope).get(prefix, 0)
    numbers = []
    for _ in range(count):
        number = next_free(used, high)
        used.add(number)
        numbers.append(number)
    if numbers:
        record_high_water(scope, prefix, numbers[-1])
    return numbers
