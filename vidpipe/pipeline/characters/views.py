"""Reading characters: what the CLI, the TUI and the exports show of each one.

Plain frozen dataclasses, read inside an open project session, so a front end or an export
never touches the models directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vidpipe.store.models import Asset, AssetState, Character, Manifest


class Role(StrEnum):
    """How an image shows its character, in the order a reference set wants them."""

    FRONT = "front"
    THREE_QUARTER = "three_quarter"
    PROFILE = "profile"
    CLOSEUP = "closeup"
    FULL_BODY = "full_body"


ROLE_ORDER = {role.value: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class CharacterImage:
    asset_id: int
    manifest: str
    tag: str | None
    file: str  # relative to PROJECT
    role: str


@dataclass(frozen=True)
class CharacterView:
    handle: str
    name: str
    description: str
    primary: CharacterImage | None
    images: list[CharacterImage]


def image_order(role: str | None, sharpness: float | None, asset_id: int) -> tuple:
    """Role preference, then the sharpest first, then the oldest asset."""
    return (ROLE_ORDER.get(role or "", len(ROLE_ORDER)), -(sharpness or 0.0), asset_id)


def live_images(character_ids: list[int] | None = None) -> dict[int, list[Asset]]:
    """{character id: its images still in the pipeline}, in image order (primary not lifted)."""
    query = (
        Asset.select(Asset, Manifest.name.alias("manifest_name"))
        .join(Manifest)
        .where(
            Asset.character.is_null(False),
            Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
        )
    )
    if character_ids is not None:
        query = query.where(Asset.character.in_(character_ids or [0]))
    images: dict[int, list[Asset]] = {}
    for asset in list(query.objects()):
        if asset.character_id is not None:
            images.setdefault(asset.character_id, []).append(asset)
    for members in images.values():
        members.sort(key=lambda a: image_order(a.character_role, a.sharpness, a.id))
    return images


def _image(asset: Asset) -> CharacterImage:
    manifest = asset.manifest_name  # the joined column
    return CharacterImage(
        asset_id=asset.id,
        manifest=manifest,
        tag=asset.manifest_tag,
        file=asset.file_path,
        role=asset.character_role or Role.FRONT.value,
    )


def character_view(character: Character, members: list[Asset]) -> CharacterView:
    images = [_image(a) for a in members]
    primary = next((i for i in images if i.asset_id == character.primary_asset), None)
    if primary is not None:
        images.remove(primary)
        images.insert(0, primary)
    return CharacterView(
        handle=character.handle,
        name=character.name,
        description=character.description,
        primary=primary,
        images=images,
    )


def list_characters() -> list[CharacterView]:
    """Every character that has an image in the pipeline, by number (PERSON_01 first)."""
    images = live_images()
    characters = list(
        Character.select().where(Character.id.in_(list(images) or [0])).order_by(Character.number)
    )
    return [character_view(c, images[c.id]) for c in characters]


def get_character(handle: str) -> CharacterView | None:
    character = Character.get_or_none(Character.handle == handle)
    if character is None:
        return None
    return character_view(character, live_images([character.id]).get(character.id, []))


def as_json(view: CharacterView) -> dict:
    """What ``vidpipe characters --json`` prints for one character."""

    def image(i: CharacterImage) -> dict:
        return {"manifest": i.manifest, "tag": i.tag, "file": i.file, "role": i.role}

    return {
        "handle": view.handle,
        "name": view.name,
        "description": view.description,
        "primary": image(view.primary) if view.primary else None,
        "images": [image(i) for i in view.images],
    }
