"""Face groups in the database: computing them, and a person's merge / split decisions.

Pure database logic (the TUI calls ``merge_face_groups`` and ``split_face``); numpy is imported
only when groups are recomputed. A group is identified by its primary face's asset id, stored in
``Asset.face_group`` of every member; the others point at the primary with ``duplicate_of`` and
their description starts with ``(Duplicate of {primary name})``.

Decisions are FaceDecision rows between two faces (same person or not). They outlive reruns:
grouping treats them as constraints, the newest decision about a pair replaces older ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidpipe.store.models import Asset, AssetState, FaceDecision, KeyValue, db, utcnow

DUPLICATE_PREFIX = "(Duplicate of {name})"
_PREFIX_RE = re.compile(r"^\(Duplicate of [^\n]*?\)(?: |$)")
_THRESHOLD_KEY = "faces:threshold:{manifest}"


@dataclass(frozen=True)
class GroupingSummary:
    faces: int
    groups: int
    duplicates: int
    threshold: float


def strip_duplicate_prefix(description: str) -> str:
    return _PREFIX_RE.sub("", description or "", count=1)


def with_duplicate_prefix(description: str, primary_name: str | None) -> str:
    rest = strip_duplicate_prefix(description)
    if primary_name is None:
        return rest
    prefix = DUPLICATE_PREFIX.format(name=primary_name)
    return f"{prefix} {rest}" if rest else prefix


def live_faces(manifest_id: int) -> list[Asset]:
    return list(Asset.select().where(
        Asset.manifest == manifest_id, Asset.is_face_crop == True,  # noqa: E712
        Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
        Asset.face_embedding.is_null(False)).order_by(Asset.id))


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _record(a: int, b: int, same: bool) -> None:
    low, high = _pair(a, b)
    (FaceDecision.insert(asset_a=low, asset_b=high, same=same, created_at=utcnow())
     .on_conflict(conflict_target=[FaceDecision.asset_a, FaceDecision.asset_b],
                  update={FaceDecision.same: same, FaceDecision.created_at: utcnow()})
     .execute())


def group_members(asset_id: int) -> list[int]:
    asset = Asset.get_by_id(asset_id)
    if asset.face_group is None:
        return [asset.id]
    return [row.id for row in Asset.select(Asset.id).where(
        Asset.manifest == asset.manifest_id, Asset.face_group == asset.face_group,
        Asset.state != AssetState.REMOVED)]


def merge_face_groups(asset_a: int, asset_b: int) -> GroupingSummary:
    """A person says: these two faces (and their groups) are the same person."""
    a_members, b_members = group_members(asset_a), group_members(asset_b)
    with db.atomic():
        for x in a_members:
            for y in b_members:
                if x != y:
                    low, high = _pair(x, y)
                    FaceDecision.delete().where(FaceDecision.asset_a == low,
                                                FaceDecision.asset_b == high,
                                                FaceDecision.same == False).execute()  # noqa: E712
        if asset_a != asset_b:
            _record(asset_a, asset_b, True)
    return assign_face_groups(Asset.get_by_id(asset_a).manifest_id)


def split_face(asset_id: int) -> GroupingSummary:
    """A person says: this face is not the person of the group it is in."""
    others = [m for m in group_members(asset_id) if m != asset_id]
    with db.atomic():
        for other in others:
            _record(asset_id, other, False)
    return assign_face_groups(Asset.get_by_id(asset_id).manifest_id)


def _stored_threshold(manifest_id: int) -> float | None:
    row = KeyValue.get_or_none(KeyValue.key == _THRESHOLD_KEY.format(manifest=manifest_id))
    return float(row.value) if row and row.value is not None else None


def assign_face_groups(manifest_id: int, threshold: float | None = None,
                       model_name: str = "Dlib") -> GroupingSummary:
    """Recompute the face groups of a manifest and write what changed.

    ``threshold`` None reuses the one the face stage last used for this manifest (so a merge in
    the TUI groups exactly as the pipeline did), else the tuned default for ``model_name``.
    """
    from vidpipe.vision.grouping import default_threshold, group_faces

    if threshold is None:
        stored = _stored_threshold(manifest_id)
        threshold = stored if stored is not None else default_threshold(model_name)
    else:
        key = _THRESHOLD_KEY.format(manifest=manifest_id)
        (KeyValue.insert(key=key, value=threshold, updated_at=utcnow())
         .on_conflict(conflict_target=[KeyValue.key],
                      update={KeyValue.value: threshold, KeyValue.updated_at: utcnow()})
         .execute())
    faces = live_faces(manifest_id)
    index = {face.id: i for i, face in enumerate(faces)}
    must, cannot = [], []
    if faces:
        ids = list(index)
        for decision in FaceDecision.select().where(FaceDecision.asset_a.in_(ids),
                                                    FaceDecision.asset_b.in_(ids)):
            pair = (index[decision.asset_a_id], index[decision.asset_b_id])
            (must if decision.same else cannot).append(pair)
    labels = group_faces([f.face_embedding for f in faces], threshold, must, cannot)

    groups: dict[int, list[Asset]] = {}
    for face, label in zip(faces, labels):
        groups.setdefault(label, []).append(face)
    duplicates = 0
    for members in groups.values():
        primary = max(members, key=lambda f: (f.detection_confidence or 0.0, _area(f), -f.id))
        for face in members:
            is_primary = face.id == primary.id
            duplicates += 0 if is_primary else 1
            _write_group(face, primary.id, None if is_primary else primary.id,
                         None if is_primary else primary.name)
    # Faces that left the pipeline hold no group and point at no one.
    stale = Asset.update({Asset.face_group: None, Asset.duplicate_of: None}).where(
        Asset.manifest == manifest_id, Asset.is_face_crop == True,  # noqa: E712
        Asset.state.in_([AssetState.REMOVED, AssetState.ERROR]),
        Asset.face_group.is_null(False))
    stale.execute()
    return GroupingSummary(len(faces), len(groups), duplicates, threshold)


def _area(face: Asset) -> int:
    box = face.crop_bbox or (0, 0, 0, 0)
    return (box[2] - box[0]) * (box[3] - box[1])


def _write_group(face: Asset, group: int, duplicate_of: int | None, primary_name: str | None) -> None:
    updates = {}
    if face.face_group != group:
        updates[Asset.face_group] = group
    if face.duplicate_of_id != duplicate_of:
        updates[Asset.duplicate_of] = duplicate_of
    if updates:
        updates[Asset.updated_at] = utcnow()
        Asset.update(updates).where(Asset.id == face.id).execute()
    # The description is a person's text: only the marker in front of it is ours. Written with a
    # compare-and-set so an edit made meanwhile is never overwritten.
    for _ in range(3):
        current = Asset.select(Asset.description).where(Asset.id == face.id).scalar() or ""
        wanted = with_duplicate_prefix(current, primary_name)
        if wanted == current:
            return
        changed = Asset.update(description=wanted, updated_at=utcnow()).where(
            Asset.id == face.id, Asset.description == current).execute()
        if changed:
            return
