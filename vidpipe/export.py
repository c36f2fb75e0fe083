"""The manifest export: the JSON the video-generation step downstream consumes.

Holds no secret: only asset fields and paths relative to the project folder. ``id`` and
``revision`` serve the round trip back (``vidpipe edit PROJECT --from FILE``): the asset an
edited record belongs to, and the newest edit it already reflects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from peewee import fn

from vidpipe.models import Asset, AssetState, FieldEdit, Manifest
from vidpipe.project import Project


def _sort(asset: Asset):
    return (asset.manifest_tag is None, asset.manifest_tag or "", asset.file_path)


def revisions(asset_ids: list[int]) -> dict[int, int]:
    """Per asset, the id of its newest applied field edit (0: never edited)."""
    out: dict[int, int] = {}
    for start in range(0, len(asset_ids), 500):
        chunk = asset_ids[start:start + 500]
        out.update(FieldEdit.select(FieldEdit.asset, fn.MAX(FieldEdit.id))
                   .where(FieldEdit.asset.in_(chunk), FieldEdit.applied == True)  # noqa: E712
                   .group_by(FieldEdit.asset).tuples())
    return out


def asset_record(asset: Asset, by_id: dict[int, Asset], revision: int = 0) -> dict:
    parent = by_id.get(asset.source_asset_id) if asset.source_asset_id else None
    duplicate = by_id.get(asset.duplicate_of_id) if asset.duplicate_of_id else None
    return {
        "id": asset.id,
        "revision": revision,
        "tag": asset.manifest_tag,
        "name": asset.name,
        "type": asset.asset_type,
        "source": asset.source,
        "parent_tag": parent.manifest_tag if parent else None,
        "file": asset.file_path,
        "description": asset.description,
        "user_tags": asset.user_tags or [],
        "sort_order": asset.sort_order,
        "reverse_prompt": asset.reverse_prompt,
        "visual_description": asset.visual_description,
        "prompt_origin": asset.prompt_origin,
        "quality_score": asset.quality_score,
        "detection_class": asset.detection_class,
        "detection_confidence": asset.detection_confidence,
        "is_face_crop": asset.is_face_crop,
        "crop_bbox": asset.crop_bbox,
        "duplicate_of": duplicate.manifest_tag if duplicate else None,
        "state": asset.state,
        "error": asset.error,
    }


def build_export(project: Project, manifest_names: list[str] | None = None) -> dict:
    manifests = Manifest.select().order_by(Manifest.name)
    if manifest_names:
        manifests = manifests.where(Manifest.name.in_(manifest_names))
    out = []
    for manifest in manifests:
        assets = list(Asset.select().where(Asset.manifest == manifest,
                                           Asset.state != AssetState.REMOVED))
        by_id = {a.id: a for a in assets}
        # A duplicate's primary may live in another manifest: resolve it too.
        outside = {a.duplicate_of_id for a in assets} - set(by_id) - {None}
        if outside:
            by_id.update({a.id: a for a in Asset.select().where(Asset.id.in_(list(outside)))})
        revision = revisions([a.id for a in assets])
        out.append({
            "name": manifest.name,
            "folder": manifest.folder,
            "contact_sheets": list(manifest.contact_sheets or []),
            "assets": [asset_record(a, by_id, revision.get(a.id, 0))
                       for a in sorted(assets, key=_sort)],
        })
    return {"project": project.name, "manifests": out}


def write_export(project: Project, destination: Path | None = None,
                 manifest_names: list[str] | None = None) -> Path:
    destination = Path(destination) if destination else project.exports_dir / "manifest.json"
    destination.parent.mkdir(parents=True, exist_ok=True)
    data = build_export(project, manifest_names)
    tmp = destination.with_name(f".{destination.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, destination)
    return destination
