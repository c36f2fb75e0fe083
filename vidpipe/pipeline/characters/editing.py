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
        known = ", ".join(c.handle for c in Character.select(Character.handle)
                          .order_by(Character.number).limit(20))
        raise EditError(f"no character {quoted(handle)}" + (f" (there are: {known})" if known
                                                            else " (none yet)"))
    return character


def set_primary(character_id: int, asset_id: int) -> None:
    """A person picks the primary image: it must be one of the character's images."""
    asset = Asset.get_or_none(Asset.id == asset_id)
    if (asset is None or asset.character_id != character_id
            or asset.state in (AssetState.REMOVED, AssetState.ERROR)):
        handle = Character.get_by_id(character_id).handle
        raise EditError(f"asset {asset_id} is not one of {handle}'s images "
                        "(see `vidpipe characters PROJECT`)")
    edit_character(character_id, "primary_asset", asset_id)
