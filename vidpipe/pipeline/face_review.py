"""A person's merge / split decisions on face groups.

Pure database logic (the TUI calls ``merge_face_groups`` and ``split_face``); numpy is imported
only when groups are recomputed, project-wide, by vidpipe.pipeline.characters.regroup. A group
is identified by its best face's asset id, stored in ``Asset.face_group`` of every member;
within a manifest the others point at that manifest's primary face with ``duplicate_of`` and
their description starts with ``(Duplicate of {primary name})``.

Decisions are FaceDecision rows between two faces (same person or not). They outlive reruns:
grouping treats them as constraints, the newest decision about a pair replaces older ones.
"""

from __future__ import annotations

from vidpipe.pipeline.characters.regroup import GroupingSummary, regroup_project
from vidpipe.store.models import Asset, AssetState, FaceDecision, db, utcnow


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _record(a: int, b: int, same: bool) -> None:
    low, high = _pair(a, b)
    (
        FaceDecision.insert(asset_a=low, asset_b=high, same=same, created_at=utcnow())
        .on_conflict(
            conflict_target=[FaceDecision.asset_a, FaceDecision.asset_b],
            update={FaceDecision.same: same, FaceDecision.created_at: utcnow()},
        )
        .execute()
    )


def group_members(asset_id: int) -> list[int]:
    asset = Asset.get_by_id(asset_id)
    if asset.face_group is None:
        return [asset.id]
    return [
        row.id
        for row in Asset.select(Asset.id).where(
            Asset.face_group == asset.face_group, Asset.state != AssetState.REMOVED
        )
    ]


def merge_face_groups(asset_a: int, asset_b: int) -> GroupingSummary:
    """A person says: these two faces (and their groups) are the same person."""
    a_members, b_members = group_members(asset_a), group_members(asset_b)
    with db.atomic():
        for x in a_members:
            for y in b_members:
                if x != y:
                    low, high = _pair(x, y)
                    FaceDecision.delete().where(
                        FaceDecision.asset_a == low,
                        FaceDecision.asset_b == high,
                        FaceDecision.same == False,  # noqa: E712
                    ).execute()
        if asset_a != asset_b:
            _record(asset_a, asset_b, True)
    return regroup_project()


def split_face(asset_id: int) -> GroupingSummary:
    """A person says: this face is not the person of the group it is in."""
    others = [m for m in group_members(asset_id) if m != asset_id]
    with db.atomic():
        for other in others:
            _record(asset_id, other, False)
    return regroup_project()
