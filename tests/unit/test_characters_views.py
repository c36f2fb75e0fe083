"""Reading characters (the interface the CLI, the TUI and the exports use), on a real SQLite
project: images ordered primary first, then by role, then by sharpness; only images in the
pipeline count."""

from __future__ import annotations

import json

from vidpipe.cli import main
from vidpipe.pipeline.characters import CharacterImage, list_characters
from vidpipe.store.models import Asset, AssetState, Character, Manifest


def _image(manifest, name, role, sharpness=None, character=None, tag=None, state="processed"):
    return Asset.create(
        manifest=manifest,
        name=name,
        file_path=f"{manifest.folder}/{name}",
        content_hash=name,
        character=character,
        character_role=role,
        sharpness=sharpness,
        manifest_tag=tag,
        state=state,
        is_face_crop=True,
    )


def _two_manifests():
    cast = Manifest.create(name="cast", folder="cast")
    street = Manifest.create(name="street", folder="street")
    return cast, street


def test_images_come_primary_first_then_by_role_then_sharpness(session):
    cast, street = _two_manifests()
    hero = Character.create(number=1, handle="PERSON_01", name="Ada", description="tall")
    body = _image(street, "body.jpg", "full_body", 900.0, hero, "OBJ_01")
    soft = _image(cast, "soft.jpg", "front", 10.0, hero, "CHAR_01")
    sharp = _image(street, "sharp.jpg", "front", 50.0, hero, "CHAR_02")
    side = _image(cast, "side.jpg", "profile", 99.0, hero, "CHAR_02")
    Character.update(primary_asset=side.id).where(Character.id == hero.id).execute()
    _image(cast, "gone.jpg", "front", 500.0, hero, state=AssetState.REMOVED)

    [view] = list_characters()

    assert (view.handle, view.name, view.description) == ("PERSON_01", "Ada", "tall")
    assert view.primary == CharacterImage(side.id, "cast", "CHAR_02", "cast/side.jpg", "profile")
    assert [i.asset_id for i in view.images] == [side.id, sharp.id, soft.id, body.id]


def test_a_character_without_images_in_the_pipeline_is_not_listed(session):
    cast, _ = _two_manifests()
    gone = Character.create(number=1, handle="PERSON_01")
    _image(cast, "gone.jpg", "front", character=gone, state=AssetState.REMOVED)
    kept = Character.create(number=2, handle="PERSON_02")
    _image(cast, "kept.jpg", "front", character=kept)

    assert [v.handle for v in list_characters()] == ["PERSON_02"]


def test_a_primary_no_longer_among_the_images_is_no_primary(session):
    cast, _ = _two_manifests()
    person = Character.create(number=1, handle="PERSON_01")
    face = _image(cast, "face.jpg", "front", character=person)
    Character.update(primary_asset=face.id + 100).where(Character.id == person.id).execute()

    [view] = list_characters()
    assert view.primary is None
    assert [i.asset_id for i in view.images] == [face.id]


def test_cli_json_prints_exactly_the_view_fields(session, capsys):
    cast, street = _two_manifests()
    person = Character.create(number=1, handle="HERO", name="Grace", description="short hair")
    face = _image(cast, "face.jpg", "front", 20.0, person, "CHAR_01")
    _image(street, "body.jpg", "full_body", 5.0, person, None)
    Character.update(primary_asset=face.id).where(Character.id == person.id).execute()

    assert main(["characters", str(session.project.root), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)

    assert printed == [
        {
            "handle": "HERO",
            "name": "Grace",
            "description": "short hair",
            "primary": {
                "manifest": "cast",
                "tag": "CHAR_01",
                "file": "cast/face.jpg",
                "role": "front",
            },
            "images": [
                {"manifest": "cast", "tag": "CHAR_01", "file": "cast/face.jpg", "role": "front"},
                {"manifest": "street", "tag": None, "file": "street/body.jpg", "role": "full_body"},
            ],
        }
    ]
