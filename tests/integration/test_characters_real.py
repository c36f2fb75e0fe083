"""Characters for real: `vidpipe process` with deepface (mtcnn + Dlib) over two manifests of
real photos, then `vidpipe characters --json`.

cast/ holds zidane.jpg (two different men), gracehopper.jpg (frontal) and a tight crop of Grace
Hopper's face; street/ holds re-cropped, resized, re-encoded copies of zidane.jpg and
gracehopper.jpg, and bus.jpg. No YOLO weights and no API key here: detection is skipped, prompts
and descriptions are offline.
"""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from vidpipe.cli import main
from vidpipe.pipeline.characters import list_characters
from vidpipe.store.models import Asset, Source
from vidpipe.store.session import open_project

pytestmark = pytest.mark.slow

GRACE_FACE_CROP = (146, 70, 386, 380)  # gracehopper.jpg's face with a little margin


@pytest.fixture(scope="module")
def processed(tmp_path_factory, zidane_jpg, bus_jpg, gracehopper_jpg):
    root = tmp_path_factory.mktemp("characters") / "project"
    cast, street = root / "cast", root / "street"
    cast.mkdir(parents=True)
    street.mkdir()
    with Image.open(zidane_jpg) as zidane, Image.open(gracehopper_jpg) as grace:
        zidane, grace = zidane.convert("RGB"), grace.convert("RGB")
        zidane.save(cast / "zidane.jpg", quality=95)
        grace.save(cast / "gracehopper.jpg", quality=95)
        grace.crop(GRACE_FACE_CROP).save(cast / "grace_closeup.jpg", quality=90)
        copy = zidane.crop((100, 36, 1216, 698))
        copy.resize((copy.width * 7 // 10, copy.height * 7 // 10)).save(
            street / "zidane_v.jpg", quality=55
        )
        buffer = io.BytesIO()
        grace.resize((grace.width * 13 // 10, grace.height * 13 // 10)).save(
            buffer, "WEBP", quality=70
        )
        Image.open(buffer).save(street / "grace_v.png")
    (street / "bus.jpg").write_bytes(bus_jpg.read_bytes())
    assert main(["init", str(root)]) == 0
    assert main(["process", str(root)]) == 0
    return root


def _faces_of(name: str) -> list[Asset]:
    source = Asset.get(Asset.name == name, Asset.source == Source.UPLOADED)
    return sorted(
        Asset.select().where(Asset.source_asset == source.id, Asset.is_face_crop == True),  # noqa: E712
        key=lambda a: a.crop_bbox[0],
    )


def _character_of(asset: Asset, views) -> str:
    return next(v.handle for v in views if asset.id in {i.asset_id for i in v.images})


def test_the_same_face_in_two_manifests_is_one_character_and_one_photo_holds_two(processed):
    with open_project(processed):
        views = list_characters()
        left, right = _faces_of("zidane")  # two different men, left to right
        left_v, right_v = _faces_of("zidane_v")
        (grace,) = _faces_of("gracehopper")
        (grace_v,) = _faces_of("grace_v")
        assert _character_of(left, views) == _character_of(left_v, views)
        assert _character_of(right, views) == _character_of(right_v, views)
        assert _character_of(grace, views) == _character_of(grace_v, views)
        assert _character_of(left, views) != _character_of(right, views)
        assert len({_character_of(f, views) for f in (left, right, grace)}) == 3
        bus_faces = _faces_of("bus")
        assert bus_faces and not {_character_of(f, views) for f in bus_faces} & {
            _character_of(f, views) for f in (left, right, grace)
        }
        # Each of them has images in both manifests.
        for face in (left, right, grace):
            [view] = [v for v in views if v.handle == _character_of(face, views)]
            assert {i.manifest for i in view.images} >= {"cast", "street"}


def test_roles_on_real_photos(processed):
    with open_project(processed):
        views = list_characters()
        (grace,) = _faces_of("gracehopper")
        left, right = _faces_of("zidane")
        roles = {i.asset_id: i.role for v in views for i in v.images}
        assert roles[grace.id] == "front"  # gracehopper.jpg is frontal
        assert roles[right.id] == "front"  # Zidane faces the camera
        assert roles[left.id] in ("three_quarter", "profile")  # the other man looks aside
        closeup = Asset.get(Asset.name == "grace_closeup", Asset.source == Source.UPLOADED)
        assert roles[closeup.id] == "closeup"
        assert (
            Asset.get(Asset.name == "gracehopper", Asset.source == Source.UPLOADED).character_id
            is None
        )  # her face is a small part of that photo
        [view] = [v for v in views if v.handle == _character_of(grace, views)]
        assert view.primary is not None and view.primary.role == "front"
        assert all(
            a.sharpness is not None for a in Asset.select().where(Asset.character.is_null(False))
        )


def test_characters_json_lists_every_character(processed, capsys):
    assert main(["characters", str(processed), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["handle"] for c in listed] == [f"PERSON_{n:02d}" for n in range(1, len(listed) + 1)]
    for character in listed:
        assert set(character) == {"handle", "name", "description", "primary", "images"}
        assert character["description"].startswith(f"[offline] {character['handle']}, ")
        assert character["primary"] == character["images"][0]
        for image in character["images"]:
            assert set(image) == {"manifest", "tag", "file", "role"}
            assert (processed / image["file"]).is_file()
            assert image["tag"]
