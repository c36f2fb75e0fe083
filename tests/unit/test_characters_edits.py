"""A person's edits to characters through `vidpipe characters`, with history; the model's
description never overwrites a person's."""

from __future__ import annotations

from vidpipe.cli import main
from vidpipe.store import character_edits
from vidpipe.store.models import Asset, Author, Character, Manifest


def _character(session, number=1, handle="PERSON_01"):
    manifest = Manifest.get_or_create(name="cast", folder="cast")[0]
    character = Character.create(number=number, handle=handle)
    face = Asset.create(
        manifest=manifest,
        name=f"f{number}.jpg",
        file_path=f"cast/f{number}.jpg",
        content_hash=str(number),
        character=character,
        character_role="front",
        state="processed",
        manifest_tag=f"CHAR_0{number}",
    )
    return character, face


def test_rename_name_describe_and_primary_from_the_command_line(session, capsys):
    root = str(session.project.root)
    character, face = _character(session)

    assert main(["characters", root, "rename", "person_01", "hero"]) == 0
    assert main(["characters", root, "name", "HERO", "Grace Hopper"]) == 0
    assert main(["characters", root, "describe", "HERO", "Short curly hair, naval uniform."]) == 0
    assert main(["characters", root, "primary", "HERO", str(face.id)]) == 0

    stored = Character.get_by_id(character.id)
    assert (stored.handle, stored.name, stored.description, stored.description_origin) == (
        "HERO",
        "Grace Hopper",
        "Short curly hair, naval uniform.",
        "user",
    )
    assert (stored.primary_asset, stored.primary_picked) == (face.id, True)
    assert [(e.field, e.author) for e in character_edits.history(character.id)] == [
        ("handle", "user"),
        ("name", "user"),
        ("description", "user"),
        ("primary_asset", "user"),
    ]


def test_bad_handles_are_refused_with_the_rule(session, capsys):
    root = str(session.project.root)
    _character(session, 1, "PERSON_01")
    _character(session, 2, "PERSON_02")
    for bad in ("9LIVES", "two words", "PERSON_02", "é"):
        assert main(["characters", root, "rename", "PERSON_01", bad]) == 2
    error = capsys.readouterr().err
    assert "start with a letter" in error and "taken by another character" in error
    assert Character.get(Character.number == 1).handle == "PERSON_01"


def test_primary_must_be_one_of_the_characters_images(session, capsys):
    root = str(session.project.root)
    _character(session, 1, "PERSON_01")
    _, other = _character(session, 2, "PERSON_02")
    assert main(["characters", root, "primary", "PERSON_01", str(other.id)]) == 2
    assert "not one of PERSON_01's images" in capsys.readouterr().err


def test_model_description_after_a_person_edit_is_a_suggestion_and_undo_restores(session):
    character, _ = _character(session)
    assert character_edits.apply_ai_description(character.id, "AI one", "gemini", "k1")
    character_edits.edit_character(character.id, "description", "mine")

    assert not character_edits.apply_ai_description(character.id, "AI two", "gemini", "k2")
    stored = Character.get_by_id(character.id)
    assert (stored.description, stored.description_origin, stored.description_key) == (
        "mine",
        "user",
        "k2",
    )
    assert [s.new_value for s in character_edits.suggestions(character.id)] == ["AI two"]

    undone = character_edits.undo(character.id, "description")
    assert undone.author == Author.USER
    assert Character.get_by_id(character.id).description == "AI one"


def test_merge_and_split_characters_from_the_command_line(session, capsys):
    """Across manifests, where the TUI's grid (one manifest at a time) cannot mark both faces."""
    import math

    from vidpipe.pipeline.characters.regroup import regroup_project
    from vidpipe.store.models import FaceDecision

    def unit(degrees):
        return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))] + [0.0] * 6

    faces = {}
    for folder, name, angle in (
        ("cast", "anna", 0.0),
        ("street", "anna_older", 40.0),
        ("street", "bert", 120.0),
    ):
        manifest = Manifest.get_or_create(name=folder, folder=folder)[0]
        photo = Asset.create(
            manifest=manifest,
            name=name,
            file_path=f"{folder}/{name}.jpg",
            content_hash=name,
            state="processed",
        )
        faces[name] = Asset.create(
            manifest=manifest,
            name=f"{name} face",
            source="extracted",
            source_asset=photo,
            extraction_key="face:0",
            is_face_crop=True,
            file_path=f".vidpipe/crops/{name}.jpg",
            content_hash=f"{name}/face",
            crop_bbox=[0, 0, 10, 10],
            face_embedding=unit(angle),
            detection_confidence=0.9,
            state="processed",
        )
    regroup_project(0.1)
    root = str(session.project.root)

    def handle(name):
        return Character.get_by_id(Asset.get_by_id(faces[name].id).character_id).handle

    assert (handle("anna"), handle("anna_older"), handle("bert")) == (
        "PERSON_01",
        "PERSON_02",
        "PERSON_03",
    )
    assert main(["characters", root, "rename", "PERSON_02", "ANNA"]) == 0
    assert main(["characters", root, "merge", "PERSON_01", "ANNA"]) == 0
    assert "one character now: ANNA" in capsys.readouterr().out  # a person's handle survives
    assert handle("anna") == handle("anna_older") == "ANNA"

    assert main(["characters", root, "split", "ANNA", str(faces["anna"].id)]) == 0
    assert handle("anna") != "ANNA" and handle("anna_older") == "ANNA"
    assert FaceDecision.select().where(FaceDecision.same == False).count() == 1  # noqa: E712

    assert main(["characters", root, "split", "ANNA", str(faces["bert"].id)]) == 2
    assert "not one of ANNA's faces" in capsys.readouterr().err
