"""A person's changes to a character that need more than one field: finding it by handle,
picking its primary image among its own."""

from __future__ import annotations

from vidpipe.errors import EditError
from vidpipe.printable import quoted
from vidpipe.store.character_edits import edit_character
from vidpipe.store.models import Asset, AssetState, Character


def character_by_handle(handle: str) -> Character:
    character = Character.get_or_none(Character.handle == str(handle).strip().upper())
    if character is None:
        known = ", ".join(
            c.handle
            for c in Character.select(Character.handle).order_by(Character.number).limit(20)
        )
        raise EditError(
            f"no character {quoted(handle)}"
            + (f" (there are: {known})" if known else " (none yet)")
        )
    return character


def set_primary(character_id: int, asset_id: int) -> None:
    """A person picks the primary image: it must be one of the character's images."""
    asset = Asset.get_or_none(Asset.id == asset_id)
    if (
        asset is None
        or asset.character_id != character_id
        or asset.state in (AssetState.REMOVED, AssetState.ERROR)
    ):
        handle = Character.get_by_id(character_id).handle
        raise EditError(
            f"asset {asset_id} is not one of {handle}'s images (see `vidpipe characters PROJECT`)"
        )
    edit_character(character_id, "primary_asset", asset_id)


def _a_face_of(character: Character) -> Asset:
    face = (
        Asset.select()
        .where(
            Asset.character == character.id,
            Asset.is_face_crop == True,  # noqa: E712
            Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
        )
        .order_by(Asset.id)
        .first()
    )
    if face is None:
        raise EditError(f"{character.handle} has no face in the pipeline to merge")
    return face


def merge_characters(handle: str, other: str) -> str:
    """A person says two characters are one person (their faces may even share a photo).
    Returns the handle the merged character has: a handle a person chose survives, else the
    one holding more faces."""
    from vidpipe.pipeline.face_review import merge_face_groups

    first, second = character_by_handle(handle), character_by_handle(other)
    if first.id == second.id:
        raise EditError(f"{first.handle} and {second.handle} are the same character")
    face = _a_face_of(first)
    merge_face_groups(face.id, _a_face_of(second).id)
    merged = Asset.get_by_id(face.id).character_id
    return Character.get_by_id(merged).handle


def split_image(handle: str, asset_id: int) -> str:
    """A person says this face is not the character's: it leaves the group (a split is kept
    across regroupings). Returns the handle the face has now."""
    from vidpipe.pipeline.face_review import split_face

    character = character_by_handle(handle)
    asset = Asset.get_or_none(Asset.id == asset_id)
    if asset is None or asset.character_id != character.id or not asset.is_face_crop:
        raise EditError(
            f"asset {asset_id} is not one of {character.handle}'s faces (only a "
            "face crop can be split off; its closeup and full-body images follow it)"
        )
    if character.primary_asset == asset.id:  # the rest of the group keeps the character
        others = [
            a.id
            for a in Asset.select(Asset.id)
            .where(
                Asset.character == character.id,
                Asset.is_face_crop == True,  # noqa: E712
                Asset.id != asset.id,
                Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
            )
            .order_by(Asset.id)
        ]
        Character.update(primary_asset=others[0] if others else None, primary_picked=False).where(
            Character.id == character.id
        ).execute()
    split_face(asset.id)
    return Character.get_by_id(Asset.get_by_id(asset.id).character_id).handle
