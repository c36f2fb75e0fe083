"""Manifest tags: CHAR_01, OBJ_01, ENV_01 ... numbered per type and per manifest, and stable.

A tag, once given, is the asset's until a person changes it (``vidpipe retag``, or a change of
the asset's type): shot prompts written with ``ENV_01`` keep pointing at the same place. A new
asset takes the next free number of its type; a removed or failed asset keeps its tag, and its
number is never handed to another (see vidpipe.store.numbering), so it comes back with the file.

Assets given tags together are numbered in the seed's order: the root (uploaded) asset's
``sort_order``, then its file path, then the uploaded image itself before its crops, then crops
by descending ``detection_confidence``, then by box position. Nothing in the key depends on row
ids or timing, so a manifest processed in one go is numbered the same whatever order the work
ran in (and ``vidpipe retag`` renumbers in this order).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from vidpipe.store.models import (
    TAG_PREFIX,
    Asset,
    AssetState,
    AssetType,
    Manifest,
    db,
    utcnow,
)
from vidpipe.store.numbering import (
    high_waters,
    lock_numbering,
    next_free,
    numbered,
    record_high_water,
    split_numbered,
    tag_scope,
)

GONE_STATES = (AssetState.REMOVED, AssetState.ERROR)


def tag_prefix(asset_type: str) -> str:
    """The tag prefix of a type: CHARACTER -> CHAR."""
    try:
        return TAG_PREFIX[AssetType(asset_type)]
    except ValueError:
        return TAG_PREFIX[AssetType.UNKNOWN]


def _sort_key(asset: Asset, by_id: dict[int, Asset]):
    root = by_id.get(asset.source_asset_id, asset) if asset.source_asset_id else asset
    is_crop = asset.source_asset_id is not None
    confidence = asset.detection_confidence if asset.detection_confidence is not None else 0.0
    return (
        root.sort_order,
        root.file_path,
        is_crop,
        -confidence,
        tuple(asset.crop_bbox or ()),
        asset.extraction_key or "",
        asset.file_path,
    )


def seed_order(assets: Iterable[Asset], by_id: dict[int, Asset]) -> list[Asset]:
    """``assets`` in the seed's tag order (``by_id`` finds each crop's source image)."""
    return sorted(assets, key=lambda a: _sort_key(a, by_id))


def manifest_assets(manifest: Manifest | int) -> list[Asset]:
    """Every row of the manifest, removed and failed ones too (they hold their numbers)."""
    return list(Asset.select().where(Asset.manifest == manifest).order_by(Asset.id))


def active_assets(rows: list[Asset]) -> list[Asset]:
    """The rows that are in use: not removed or failed, and (for a crop) its source image too."""
    live = {a.id for a in rows if a.state not in GONE_STATES}
    return [
        a for a in rows if a.id in live and (a.source_asset_id is None or a.source_asset_id in live)
    ]


def used_numbers(rows: Iterable[Asset]) -> dict[str, set[int]]:
    """{prefix: numbers held} over ``rows``."""
    used: dict[str, set[int]] = {}
    for asset in rows:
        parsed = split_numbered(asset.manifest_tag)
        if parsed:
            used.setdefault(parsed[0], set()).add(parsed[1])
    return used


def planned_tags(manifest: Manifest, within: Collection[int] | None = None) -> dict[int, str]:
    """The tags new assets would get now, without writing them: {asset_id: tag} for the active
    assets that have none (only those in ``within``, when given)."""
    rows = manifest_assets(manifest)
    by_id = {a.id: a for a in rows}
    used = used_numbers(rows)
    highs = high_waters(tag_scope(manifest.id))
    planned: dict[int, str] = {}
    for asset in seed_order(active_assets(rows), by_id):
        if asset.manifest_tag or (within is not None and asset.id not in within):
            continue
        prefix = tag_prefix(asset.asset_type)
        numbers = used.setdefault(prefix, set())
        number = next_free(numbers, highs.get(prefix, 0))
        numbers.add(number)
        planned[asset.id] = numbered(prefix, number)
    return planned


def assign_tags(manifest: Manifest, within: Collection[int] | None = None) -> dict[int, str]:
    """Give every active asset without a tag (in ``within``, when given) the next free number
    of its type; returns {asset_id: tag} for the tags given. A tag already given never
    changes here."""
    with db.atomic():
        lock_numbering()
        planned = planned_tags(manifest, within)
        given = {}
        for asset_id, tag in planned.items():
            written = (
                Asset.update(manifest_tag=tag, updated_at=utcnow())
                .where(Asset.id == asset_id, Asset.manifest_tag.is_null())
                .execute()
            )
            if written:
                given[asset_id] = tag
        highs: dict[str, int] = {}
        for tag in given.values():
            prefix, number = split_numbered(tag) or ("", 0)
            highs[prefix] = max(highs.get(prefix, 0), number)
        for prefix, number in highs.items():
            record_high_water(tag_scope(manifest.id), prefix, number)
    return given


def mismatched_tags(manifest: Manifest) -> list[Asset]:
    """Active assets whose numbered tag names another type than theirs now (the machine changed
    the type after the tag was given: the tag stays until a person retags)."""
    out = []
    for asset in active_assets(manifest_assets(manifest)):
        parsed = split_numbered(asset.manifest_tag)
        if (
            parsed
            and parsed[0] in TAG_PREFIX.values()
            and parsed[0] != tag_prefix(asset.asset_type)
        ):
            out.append(asset)
    return out
