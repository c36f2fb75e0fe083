"""The "(Duplicate of NAME)" marker in front of a duplicate face's description: the only part of
that text that is vidpipe's, written so that a person's edit made meanwhile is never lost.
Face review (a person's merge and split) and the project-wide regrouping both write it."""

from __future__ import annotations

import re

from vidpipe.store.models import Asset, utcnow

DUPLICATE_PREFIX = "(Duplicate of {name})"
_PREFIX_RE = re.compile(r"^\(Duplicate of [^\n]*?\)(?: |$)")


def strip_duplicate_prefix(description: str) -> str:
    return _PREFIX_RE.sub("", description or "", count=1)


def with_duplicate_prefix(description: str, primary_name: str | None) -> str:
    rest = strip_duplicate_prefix(description)
    if primary_name is None:
        return rest
    prefix = DUPLICATE_PREFIX.format(name=primary_name)
    return f"{prefix} {rest}" if rest else prefix


def write_duplicate_mark(face_id: int, primary_name: str | None) -> None:
    """Put "(Duplicate of NAME)" in front of the face's description (or take it away).

    The description is a person's text: only the marker in front of it is ours. Written with a
    compare-and-set so an edit made meanwhile is never overwritten."""
    for _ in range(3):
        current = Asset.select(Asset.description).where(Asset.id == face_id).scalar() or ""
        wanted = with_duplicate_prefix(current, primary_name)
        if wanted == current:
            return
        changed = (
            Asset.update(description=wanted, updated_at=utcnow())
            .where(Asset.id == face_id, Asset.description == current)
            .execute()
        )
        if changed:
            return
