"""Regrouping every face of the project into characters, in one short locked transaction.

Each manifest's job ends its face stage here, and several jobs (on several daemons) may get
here at once. The whole step reads and writes inside one transaction holding a project-wide
lock (SQLite's write lock; a PostgreSQL advisory lock), and it computes everything from the
database alone, so whichever job comes last leaves the groups right for all faces found by then,
and running it twice changes nothing.

Within a character, each manifest's highest-confidence face is that manifest's primary face and
its other faces are duplicates of it (a manifest is prompted and exported on its own, so a
duplicate's primary is always beside it). ``face_group`` is the id of the character's
highest-confidence face in the whole project.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from vidpipe.pipeline.characters.handles import match_groups
from vidpipe.pipeline.characters.roles import face_box, face_role, holds_face, is_closeup
from vidpipe.pipeline.characters.views import Role, image_order
from vidpipe.pipeline.duplicate_marks import write_duplicate_mark
from vidpipe.store.database import serialize_writers
from vidpipe.store.models import (
    Asset,
    AssetState,
    Character,
    FaceDecision,
    KeyValue,
    Source,
    db,
    utcnow,
)

#: PostgreSQL advisory lock key of the project-wide regrouping ("vicf").
REGROUP_LOCK_KEY = 0x76696366
THRESHOLD_KEY = "faces:threshold"
GONE = (AssetState.REMOVED, AssetState.ERROR)


@dataclass(frozen=True)
class GroupingSummary:
    faces: int
    groups: int
    duplicates: int
    threshold: float


def regroup_project(threshold: float | None = None, model_name: str = "Dlib") -> GroupingSummary:
    """Recompute every face group of the project and its characters; write what changed.

    ``threshold`` None reuses the one the face stage last used (so a merge in the TUI groups
    exactly as the pipeline did), else the tuned default for ``model_name``."""
    from vidpipe.vision.grouping import default_threshold, group_faces

    with db.atomic():
        serialize_writers(REGROUP_LOCK_KEY)
        threshold = _threshold(threshold) or default_threshold(model_name)
        faces = live_faces()
        must, cannot, apart = _constraints(faces)
        labels = group_faces([f.face_embedding for f in faces], threshold, must, cannot, apart)
        members: dict[int, list[Asset]] = defaultdict(list)
        for face, label in zip(faces, labels):
            members[label].append(face)
        groups = [members[label] for label in sorted(members)]
        characters = match_groups(groups)
        duplicates = 0
        for group, character in zip(groups, characters):
            duplicates += _write_group(group, character)
        _clear_gone_faces()
        _assign_derived_images(faces)
        refresh_primaries()
    return GroupingSummary(len(faces), len(groups), duplicates, threshold)


def live_faces() -> list[Asset]:
    return list(
        Asset.select()
        .where(
            Asset.is_face_crop == True,  # noqa: E712
            Asset.state.not_in(GONE),
            Asset.face_embedding.is_null(False),
        )
        .order_by(Asset.id)
    )


def _threshold(wanted: float | None) -> float | None:
    if wanted is None:
        row = KeyValue.get_or_none(KeyValue.key == THRESHOLD_KEY)
        return float(row.value) if row and row.value is not None else None
    (
        KeyValue.insert(key=THRESHOLD_KEY, value=wanted, updated_at=utcnow())
        .on_conflict(
            conflict_target=[KeyValue.key],
            update={KeyValue.value: wanted, KeyValue.updated_at: utcnow()},
        )
        .execute()
    )
    return wanted


def _constraints(faces: list[Asset]):
    """A person's decisions (must, cannot), and the machine's own: faces of one photo apart."""
    index = {face.id: i for i, face in enumerate(faces)}
    must: list[tuple[int, int]] = []
    cannot: list[tuple[int, int]] = []
    if faces:
        ids = list(index)
        for decision in list(
            FaceDecision.select().where(
                FaceDecision.asset_a.in_(ids), FaceDecision.asset_b.in_(ids)
            )
        ):
            pair = (index[decision.asset_a_id], index[decision.asset_b_id])
            (must if decision.same else cannot).append(pair)
    by_photo: dict[int, list[int]] = defaultdict(list)
    for face in faces:
        if face.source_asset_id is not None:
            by_photo[face.source_asset_id].append(index[face.id])
    apart = [
        (a, b) for found in by_photo.values() for i, a in enumerate(found) for b in found[i + 1 :]
    ]
    return must, cannot, apart


def _area(face: Asset) -> int:
    box = face.crop_bbox or (0, 0, 0, 0)
    return (box[2] - box[0]) * (box[3] - box[1])


def _best(faces: list[Asset]) -> Asset:
    return max(faces, key=lambda f: (f.detection_confidence or 0.0, _area(f), -f.id))


def _write_group(group: list[Asset], character: Character) -> int:
    group_id = _best(group).id
    by_manifest: dict[int, list[Asset]] = defaultdict(list)
    for face in group:
        by_manifest[face.manifest_id].append(face)
    duplicates = 0
    for faces in by_manifest.values():
        primary = _best(faces)
        for face in faces:
            is_primary = face.id == primary.id
            duplicates += 0 if is_primary else 1
            role = face_role(face.face_landmarks).value
            wanted = {
                Asset.face_group: (face.face_group, group_id),
                Asset.duplicate_of: (face.duplicate_of_id, None if is_primary else primary.id),
                Asset.character: (face.character_id, character.id),
                Asset.character_role: (face.character_role, role),
            }
            updates: dict = {field: new for field, (old, new) in wanted.items() if old != new}
            if updates:
                updates[Asset.updated_at] = utcnow()
                Asset.update(updates).where(Asset.id == face.id).execute()
            write_duplicate_mark(face.id, None if is_primary else primary.name)
    return duplicates


def _clear_gone_faces() -> None:
    """Faces that left the pipeline hold no group and point at no one; they keep their
    character, so that it is theirs again if they come back."""
    (
        Asset.update({Asset.face_group: None, Asset.duplicate_of: None})
        .where(
            Asset.is_face_crop == True,  # noqa: E712
            Asset.state.in_(GONE),
            Asset.face_group.is_null(False),
        )
        .execute()
    )


def _assign_derived_images(faces: list[Asset]) -> None:
    """Uploaded images that are mostly one face (closeup) and person crops holding a face
    (full_body) show that face's character."""
    fresh = {
        f.id: f
        for f in Asset.select(Asset.id, Asset.character).where(
            Asset.id.in_([f.id for f in faces] or [0])
        )
    }
    by_photo: dict[int, list[tuple[tuple, int | None]]] = defaultdict(list)
    for face in faces:
        box = face_box(face.face_landmarks, face.crop_bbox)
        if box is not None and face.source_asset_id is not None:
            by_photo[face.source_asset_id].append((box, fresh[face.id].character_id))
    wanted: dict[int, tuple[int | None, str | None]] = {}
    photos = list(
        Asset.select().where(Asset.id.in_(list(by_photo) or [0]), Asset.state.not_in(GONE))
    )
    for photo in photos:
        box, character_id = max(by_photo[photo.id], key=lambda found: _box_area(found[0]))
        if photo.source == Source.UPLOADED and is_closeup(box, photo.width, photo.height):
            wanted[photo.id] = (character_id, Role.CLOSEUP.value)
    people = list(
        Asset.select().where(
            Asset.source_asset.in_(list(by_photo) or [0]),
            Asset.detection_class == "person",
            Asset.is_face_crop == False,  # noqa: E712
            Asset.state.not_in(GONE),
        )
    )
    for person in people:
        if person.source_asset_id is None:
            continue
        held = [
            (holds_face(person.crop_bbox or (0, 0, 0, 0), box), _box_area(box), character_id)
            for box, character_id in by_photo[person.source_asset_id]
        ]
        fraction, _, character_id = max(held)
        if fraction > 0:
            wanted[person.id] = (character_id, Role.FULL_BODY.value)
    current = list(
        Asset.select(Asset.id, Asset.character, Asset.character_role).where(
            Asset.is_face_crop == False,  # noqa: E712
            (Asset.character.is_null(False)) | Asset.id.in_(list(wanted) or [0]),
        )
    )
    for asset in current:
        character_id, role = wanted.get(asset.id, (None, None))
        if (asset.character_id, asset.character_role) != (character_id, role):
            Asset.update(character=character_id, character_role=role, updated_at=utcnow()).where(
                Asset.id == asset.id
            ).execute()


def _box_area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def refresh_primaries(character_ids: list[int] | None = None) -> None:
    """Each character's primary image: a person's pick while it is still one of its images,
    else the sharpest front face (failing that, the best image in role order)."""
    query = Character.select()
    if character_ids is not None:
        query = query.where(Character.id.in_(character_ids or [0]))
    characters = list(query)
    images: dict[int, list[Asset]] = defaultdict(list)
    for asset in list(
        Asset.select(
            Asset.id, Asset.character, Asset.character_role, Asset.sharpness, Asset.is_face_crop
        ).where(Asset.character.in_([c.id for c in characters] or [0]), Asset.state.not_in(GONE))
    ):
        if asset.character_id is not None:
            images[asset.character_id].append(asset)
    for character in characters:
        own = images.get(character.id, [])
        ids = {a.id for a in own}
        if character.primary_picked and character.primary_asset in ids:
            continue
        faces = [a for a in own if a.is_face_crop] or own
        best = min(
            faces, key=lambda a: image_order(a.character_role, a.sharpness, a.id), default=None
        )
        wanted = best.id if best else None
        if (character.primary_asset, character.primary_picked) != (wanted, False):
            Character.update(primary_asset=wanted, primary_picked=False, updated_at=utcnow()).where(
                Character.id == character.id
            ).execute()
