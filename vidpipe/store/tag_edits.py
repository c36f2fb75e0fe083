"""A person's edits that touch tags: a tag set by hand, and a change of type (its new tag).

Tags are stable (see vidpipe.pipeline.tags); these are the ways a person changes one, besides
``vidpipe retag``. Both keep the rule that no number is handed out twice in a manifest.
"""

from __future__ import annotations

from vidpipe.errors import EditError
from vidpipe.printable import printable
from vidpipe.store.models import TAG_PREFIX, Asset, AssetType
from vidpipe.store.numbering import (
    hand_out,
    lock_numbering,
    numbered,
    record_high_water,
    split_numbered,
    tag_scope,
)


def check_tag_free(asset: Asset, tag: str | None) -> None:
    """A tag names one asset of its manifest: refuse one held by another (a removed asset's
    too: it comes back with its file). Either way no number is handed out twice."""
    if not tag:
        return
    holder = (
        Asset.select()
        .where(Asset.manifest == asset.manifest_id, Asset.manifest_tag == tag, Asset.id != asset.id)
        .first()
    )
    if holder is not None:
        raise EditError(
            f"tag {printable(tag, one_line=True)} is held by "
            f"{printable(holder.name, one_line=True)} (id {holder.id}); a number "
            "is never given twice (`vidpipe retag` renumbers a manifest)"
        )
    lock_numbering()
    for name in (asset.manifest_tag, tag):
        parsed = split_numbered(name)
        if parsed:
            record_high_water(tag_scope(asset.manifest_id), *parsed)


def retyped_tag(asset: Asset, asset_type: str) -> str | None:
    """The tag an asset takes when a person changes its type to ``asset_type``: the next free
    number of the new type, if its tag is a numbered one of another type (a tag a person
    chose, such as HERO, is kept; an asset without a tag gets one from the pipeline)."""
    parsed = split_numbered(asset.manifest_tag)
    prefix = TAG_PREFIX[AssetType(asset_type)]
    if parsed is None or parsed[0] not in TAG_PREFIX.values() or parsed[0] == prefix:
        return None
    lock_numbering()
    used = {
        number
        for tag in Asset.select(Asset.manifest_tag)
        .where(Asset.manifest == asset.manifest_id, Asset.manifest_tag.startswith(f"{prefix}_"))
        .scalars()
        if (number := _number_of(tag, prefix)) is not None
    }
    record_high_water(tag_scope(asset.manifest_id), *parsed)
    return numbered(prefix, hand_out(tag_scope(asset.manifest_id), prefix, used)[0])


def _number_of(tag: str, prefix: str) -> int | None:
    parsed = split_numbered(tag)
    return parsed[1] if parsed and parsed[0] == prefix else None
