"""Project-wide face grouping into characters, at the seam: real SQLite, real grouping code,
embeddings chosen by hand. Constraints (a person's decisions, one photo's faces apart) and
handles that stay with their group."""

from __future__ import annotations

import math

import pytest

from vidpipe.pipeline.characters import list_characters
from vidpipe.pipeline.characters.regroup import regroup_project
from vidpipe.pipeline.characters.roles import face_role, yaw_degrees
from vidpipe.pipeline.face_review import merge_face_groups, split_face
from vidpipe.store.character_edits import edit_character
from vidpipe.store.models import Asset, AssetState, Character, Manifest, Source

THRESHOLD = 0.1


def _unit(degrees: float) -> list[float]:
    radians = math.radians(degrees)
    return [math.cos(radians), math.sin(radians)] + [0.0] * 6


class Project:
    """Uploaded photos and the faces found in them, written as the face stage writes them."""

    def __init__(self):
        self.manifests: dict[str, Manifest] = {}

    def photo(self, manifest: str, name: str, size=(1000, 1000)) -> Asset:
        if manifest not in self.manifests:
            self.manifests[manifest] = Manifest.create(name=manifest, folder=manifest)
        return Asset.create(
            manifest=self.manifests[manifest],
            name=name,
            file_path=f"{manifest}/{name}.jpg",
            content_hash=f"{manifest}/{name}",
            width=size[0],
            height=size[1],
            state=AssetState.PROCESSED,
        )

    def face(
        self, photo: Asset, angle: float, box=(100, 100, 200, 200), confidence=0.99, landmarks=None
    ) -> Asset:
        return Asset.create(
            manifest=photo.manifest_id,
            name=f"{photo.name} face {box[0]}",
            source=Source.EXTRACTED,
            source_asset=photo,
            extraction_key=f"face:face:{box}",
            is_face_crop=True,
            file_path=f".vidpipe/crops/{photo.name}-{box[0]}.jpg",
            content_hash=f"{photo.id}{box}",
            detection_class="face",
            detection_confidence=confidence,
            crop_bbox=list(box),
            face_embedding=_unit(angle),
            face_landmarks=landmarks,
            state=AssetState.PROCESSED,
        )

    def person(self, photo: Asset, box) -> Asset:
        return Asset.create(
            manifest=photo.manifest_id,
            name=f"{photo.name} person",
            source=Source.EXTRACTED,
            source_asset=photo,
            extraction_key=f"det:person:{box}",
            detection_class="person",
            file_path=f".vidpipe/crops/{photo.name}-person.jpg",
            content_hash=f"p{photo.id}",
            crop_bbox=list(box),
            state=AssetState.PROCESSED,
        )


def _character(asset: Asset) -> str | None:
    character_id = Asset.get_by_id(asset.id).character_id
    return Character.get_by_id(character_id).handle if character_id else None


@pytest.fixture
def project(session):
    return Project()


def test_the_same_face_in_two_manifests_is_one_character(project):
    cast = project.face(project.photo("cast", "anna"), 0.0)
    street = project.face(project.photo("street", "anna again"), 1.0, confidence=0.9)
    other = project.face(project.photo("street", "bert"), 90.0)

    summary = regroup_project(THRESHOLD)

    assert (summary.faces, summary.groups) == (3, 2)
    assert _character(cast) == _character(street) == "PERSON_01"
    assert _character(other) == "PERSON_02"
    # Duplicates stay within a manifest: each manifest has its own primary face.
    assert Asset.get_by_id(street.id).duplicate_of_id is None
    assert Asset.get_by_id(cast.id).face_group == Asset.get_by_id(street.id).face_group == cast.id
    [anna, bert] = list_characters()
    assert {(i.manifest, i.asset_id) for i in anna.images} == {
        ("cast", cast.id),
        ("street", street.id),
    }


def test_duplicates_within_a_manifest_point_at_its_best_face(project):
    best = project.face(project.photo("cast", "a"), 0.0, confidence=0.99)
    again = project.face(project.photo("cast", "b"), 1.0, confidence=0.9)
    regroup_project(THRESHOLD)
    assert Asset.get_by_id(again.id).duplicate_of_id == best.id
    assert Asset.get_by_id(again.id).description == f"(Duplicate of {best.name})"


def test_two_faces_of_one_photo_are_never_one_character_unless_a_person_says_so(project):
    photo = project.photo("cast", "twins")
    left = project.face(photo, 0.0, box=(0, 0, 100, 100))
    right = project.face(photo, 0.5, box=(500, 0, 600, 100))

    regroup_project(THRESHOLD)
    assert _character(left) != _character(right)

    merge_face_groups(left.id, right.id)
    assert _character(left) == _character(right)


def test_a_cannot_link_holds_a_group_of_several_photos_apart(project):
    """A third photo close to both faces of one photo joins one of them, not both."""
    photo = project.photo("cast", "pair")
    left = project.face(photo, 0.0, box=(0, 0, 100, 100))
    right = project.face(photo, 2.0, box=(500, 0, 600, 100))
    middle = project.face(project.photo("cast", "solo"), 1.0)
    regroup_project(THRESHOLD)
    assert _character(left) != _character(right)
    assert _character(middle) in (_character(left), _character(right))


def test_a_person_split_holds_across_regroupings(project):
    a = project.face(project.photo("cast", "a"), 0.0)
    b = project.face(project.photo("street", "b"), 1.0)
    regroup_project(THRESHOLD)
    split_face(b.id)
    regroup_project(THRESHOLD)
    assert _character(a) != _character(b)


def test_handles_stay_with_their_group_and_numbers_are_never_reused(project):
    anna = project.face(project.photo("cast", "anna"), 0.0)
    bert = project.face(project.photo("cast", "bert"), 90.0)
    regroup_project(THRESHOLD)
    assert (_character(anna), _character(bert)) == ("PERSON_01", "PERSON_02")
    edit_character(Asset.get_by_id(bert.id).character_id, "handle", "HERO")

    # A new photo sorting first, of a new person and of anna: no handle moves.
    carl = project.face(project.photo("a-first", "carl"), 180.0)
    anna2 = project.face(project.photo("a-first", "anna 2"), 0.5)
    regroup_project(THRESHOLD)
    assert [_character(f) for f in (anna, anna2, bert, carl)] == [
        "PERSON_01",
        "PERSON_01",
        "HERO",
        "PERSON_03",
    ]

    # bert's photo goes: HERO has no images; a new person does not take its number.
    Asset.update(state=AssetState.REMOVED).where(Asset.id == bert.id).execute()
    dora = project.face(project.photo("cast", "dora"), 270.0)
    regroup_project(THRESHOLD)
    assert _character(dora) == "PERSON_04"
    assert [v.handle for v in list_characters()] == ["PERSON_01", "PERSON_03", "PERSON_04"]

    # bert comes back: HERO again.
    Asset.update(state=AssetState.PROCESSED).where(Asset.id == bert.id).execute()
    regroup_project(THRESHOLD)
    assert _character(bert) == "HERO"


def test_a_split_keeps_the_handle_with_the_larger_part_and_a_merge_keeps_a_persons_handle(project):
    faces = [project.face(project.photo("cast", f"a{i}"), i * 0.5) for i in range(3)]
    regroup_project(THRESHOLD)
    split_face(faces[2].id)
    assert [_character(f) for f in faces] == ["PERSON_01", "PERSON_01", "PERSON_02"]

    edit_character(Asset.get_by_id(faces[2].id).character_id, "handle", "HERO")
    merge_face_groups(faces[2].id, faces[0].id)
    assert {_character(f) for f in faces} == {"HERO"}


def test_closeups_and_full_body_crops_take_their_faces_character(project):
    headshot = project.photo("cast", "headshot", size=(300, 300))
    face = project.face(headshot, 0.0, box=(20, 20, 280, 280))
    group = project.photo("street", "group", size=(2000, 1000))
    small = project.face(group, 1.0, box=(1000, 100, 1100, 200))
    body = project.person(group, (950, 50, 1200, 900))
    stranger = project.person(group, (0, 0, 400, 900))

    regroup_project(THRESHOLD)

    roles = {a.id: (a.character_role, _character(a)) for a in Asset.select()}
    assert roles[headshot.id] == ("closeup", "PERSON_01")
    assert roles[group.id] == (None, None)  # the face is a small part of it
    assert roles[body.id] == ("full_body", "PERSON_01")
    assert roles[stranger.id] == (None, None)
    assert roles[face.id][0] == roles[small.id][0] == "front"


def test_the_primary_is_the_sharpest_front_unless_a_person_picked_one(project):
    frontal = {
        "box": [0, 0, 100, 100],
        "left_eye": [70, 40],
        "right_eye": [30, 40],
        "nose": [50, 60],
    }
    turned = {
        "box": [0, 0, 100, 100],
        "left_eye": [70, 40],
        "right_eye": [40, 40],
        "nose": [90, 60],
    }
    blurry = project.face(project.photo("cast", "a"), 0.0, landmarks=frontal)
    sharp = project.face(project.photo("cast", "b"), 0.5, landmarks=frontal)
    side = project.face(project.photo("cast", "c"), 1.0, landmarks=turned)
    for asset, value in ((blurry, 5.0), (sharp, 50.0), (side, 500.0)):
        Asset.update(sharpness=value).where(Asset.id == asset.id).execute()

    regroup_project(THRESHOLD)
    [view] = list_characters()
    assert view.primary.asset_id == sharp.id
    assert [i.role for i in view.images] == ["front", "front", "profile"]

    from vidpipe.pipeline.characters.editing import set_primary

    set_primary(Asset.get_by_id(side.id).character_id, side.id)
    regroup_project(THRESHOLD)
    assert list_characters()[0].primary.asset_id == side.id


def test_roles_from_landmarks():
    eyes = {"left_eye": [60, 40], "right_eye": [40, 40]}
    assert face_role({**eyes, "nose": [50, 55]}).value == "front"
    assert face_role({**eyes, "nose": [57, 55]}).value == "three_quarter"
    assert face_role({**eyes, "nose": [75, 55]}).value == "profile"
    assert face_role(None).value == "front"  # found before landmarks were kept
    # A tilted head looking at the camera is still front.
    assert yaw_degrees({"left_eye": [60, 50], "right_eye": [40, 40], "nose": [43.3, 58.4]}) < 10
