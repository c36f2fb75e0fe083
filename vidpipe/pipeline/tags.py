"""Manifest tags: CHAR_01, OBJ_01, ENV_01 ... sequential per type.

Order within a type: the root (uploaded) asset's ``sort_order``, then its file path, then the
uploaded image itself before its crops, then crops by descending ``detection_confidence``, then by
box position. Nothing in the key depends on row ids or timing, so the numbering is the same
whatever order the work ran in. A tag a person set by hand is kept, and its number is skipped
for the others.
"""

from __future__ import annotations

from vidpipe.store.edits import user_edited_fields
from vidpipe.store.models import TAG_PREFIX, Asset, AssetState, AssetType, FieldEdit, Manifest, db, utcnow


def _sort_key(asset: Asset, by_id: dict[int, Asset]):
    root = by_id.get(asset.source_asset_id, asset) if asset.source_asset_id else asset
    is_crop = asset.source_asset_id is not None
    confidence = asset.detection_confidence if asset.detection_confidence is not None else 0.0
    return (root.sort_order, root.file_path, is_crop, -confidence,
            tuple(asset.crop_bbox or ()), asset.extraction_key or "", asset.file_path)


def _user_tagged(manifest: Manifest) -> set[int]:
    rows = (FieldEdit.select(FieldEdit.asset).distinct()
            .join(Asset).where(Asset.manifest == manifest, FieldEdit.field == "manifest_tag"))
    return {row.asset_id for row in rows if "manifest_tag" in user_edited_fields(row.asset_id)}


def planned_tags(manifest: Manifest) -> tuple[dict[int, str | None], dict[int, Asset]]:
    """The tag every asset should have now, without writing it: ({asset_id: tag or None for
    assets losing theirs}, {asset_id: active asset})."""
    assets = list(Asset.select().where(Asset.manifest == manifest,
                                       Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR])))
    # A crop whose source image is gone or unusable goes with it (else it would be numbered by
    # its own crop file name, out of its parent's place).
    active = {a.id for a in assets}
    assets = [a for a in assets if a.source_asset_id is None or a.source_asset_id in active]
    by_id = {a.id: a for a in assets}
    locked = _user_tagged(manifest)
    taken = {a.manifest_tag for a in assets if a.id in locked and a.manifest_tag}
    wanted: dict[int, str | None] = {}
    counters: dict[str, int] = {}
    for asset in sorted(assets, key=lambda a: (_sort_key(a, by_id))):
        if asset.id in locked:
            continue
        prefix = TAG_PREFIX.get(AssetType(asset.asset_type), "REF")
        number = counters.get(prefix, 0)
        while True:
            number += 1
            tag = f"{prefix}_{number:02d}"
            if tag not in taken:
                break
        counters[prefix] = number
        wanted[asset.id] = tag
    # Removed / failed assets (and their crops) lose their tag so numbering has no holes.
    for asset in Asset.select().where(Asset.manifest == manifest,
                                      Asset.id.not_in(list(by_id) or [0]),
                                      Asset.manifest_tag.is_null(False)):
        if "manifest_tag" not in user_edited_fields(asset.id):
            wanted[asset.id] = None
    return wanted, by_id


def assign_tags(manifest: Manifest) -> dict[int, str]:
    """Recompute every tag of the manifest; returns {asset_id: tag} for assets whose tag changed."""
    wanted, by_id = planned_tags(manifest)
    changed = {}
    with db.atomic():
        for asset_id, tag in wanted.items():
            current = by_id[asset_id].manifest_tag if asset_id in by_id else "?"
            if current != tag:
                Asset.update(manifest_tag=tag, updated_at=utcnow()).where(
                    Asset.id == asset_id).execute()
                changed[asset_id] = tag
    return changed
