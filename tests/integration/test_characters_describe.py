"""The canonical description of each character: one request with up to three images through
the real google-genai SDK against the fake Gemini server, asked again only when the images
change, never over a person's text; offline, a marked summary of the images' prompts."""

from __future__ import annotations

import math

from support.fake_gemini import FakeGemini
from support.prompt_project import add_crop, add_images, noise_image, settings_for
from vidpipe.pipeline.characters import list_characters
from vidpipe.pipeline.characters.regroup import regroup_project
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.stages.characters import CharacterStage
from vidpipe.store import character_edits
from vidpipe.store.models import (
    Asset,
    Character,
    Manifest,
    PromptUsage,
    RunStatus,
    Source,
    StageProgress,
)


def _unit(degrees: float) -> list[float]:
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))] + [0.0] * 6


def _faces(session, tmp_path, angles: list[float], start: int = 0) -> list[Asset]:
    """One upload per angle, each with a face crop of its own pixels; then regrouped."""
    uploads = [a for a in add_images(session, start + len(angles)) if a.source == Source.UPLOADED][
        start:
    ]
    faces = []
    for index, (upload, angle) in enumerate(zip(uploads, angles), start=start):
        source = tmp_path / f"face{index}.png"
        noise_image(source, seed=70 + index, size=(48, 60))
        face = add_crop(session, upload, "face:0", source, detection_class="face", face=True)
        Asset.update(face_embedding=_unit(angle), state="processed").where(
            Asset.id == face.id
        ).execute()
        faces.append(face)
    regroup_project(0.1)
    return faces


def _run(session, settings):
    engine = ManifestingEngine(
        session.project, settings, stages=[CharacterStage()], progress_interval=0
    )
    run = engine.process_manifest(Manifest.get(), "missing")
    row = StageProgress.get(StageProgress.run == run.id)
    assert run.status == RunStatus.DONE, (run.error, row.message)
    return row


def _character(handle: str) -> Character:
    return Character.get(Character.handle == handle)


def test_one_request_per_character_asked_again_only_when_its_images_change(session, tmp_path):
    _faces(session, tmp_path, [0.0, 1.0, 90.0])
    with FakeGemini() as server:
        settings = settings_for(session, server)
        row = _run(session, settings)
        assert "2 character(s)" in row.message and "2 description(s) written" in row.message
        assert server.requests == 2
        assert sorted(seen.image_count for seen in server.seen) == [1, 2]
        anna = _character("PERSON_01")
        assert anna.description.startswith("PERSON_01: the same person in all 2 images")
        assert anna.description_origin == "gemini"
        assert PromptUsage.select().count() == 2  # billed requests are in the ledger

        _run(session, settings)
        assert server.requests == 2  # nothing changed: nothing asked

        # A rename costs no request: the description follows it (and its undo).
        bert = _character("PERSON_02")
        character_edits.edit_character(bert.id, "handle", "BERT")
        assert _character("BERT").description.startswith("BERT: the same person in all 1 ")
        _run(session, settings)
        assert server.requests == 2
        character_edits.undo(bert.id)
        assert _character("PERSON_02").description.startswith("PERSON_02: the same")

        # A third image of PERSON_01: only PERSON_01 is asked again, with 3 images.
        _faces(session, tmp_path, [0.5], start=3)
        _run(session, settings)
        assert server.requests == 3 and server.seen[-1].image_count == 3
        assert "in all 3 images" in _character("PERSON_01").description

        # A person's description stays; the model's new one waits beside it as a suggestion.
        character_edits.edit_character(anna.id, "description", "HERO: my words")
        _faces(session, tmp_path, [0.7], start=4)
        _run(session, settings)
        assert server.requests == 4 and server.seen[-1].image_count == 3  # at most three
        anna = _character("PERSON_01")
        assert (anna.description, anna.description_origin) == ("HERO: my words", "user")
        [suggestion] = character_edits.suggestions(anna.id)
        assert suggestion.new_value.startswith("PERSON_01: the same person in all 3 images")

    views = {v.handle: v for v in list_characters()}
    assert views["PERSON_01"].description == "HERO: my words"
    assert len(views["PERSON_01"].images) == 4 and views["PERSON_01"].primary is not None


def test_offline_the_description_is_a_marked_summary_of_the_images_prompts(session, tmp_path):
    faces = _faces(session, tmp_path, [0.0, 1.0])
    Asset.update(visual_description="A woman with short grey hair.").where(
        Asset.id == faces[0].id
    ).execute()
    row = _run(session, settings_for(session, None))
    assert "offline" in row.message
    character = _character("PERSON_01")
    assert character.description.startswith("[offline] PERSON_01, summarised from 2 reference")
    assert "A woman with short grey hair." in character.description
    assert character.description_origin == "offline"

    # A key later: the model's description replaces the summary (it was not a person's).
    with FakeGemini() as server:
        _run(session, settings_for(session, server))
        assert server.requests == 1
    assert _character("PERSON_01").description_origin == "gemini"


def test_with_an_openai_compatible_backend_characters_never_go_to_gemini(session, tmp_path):
    """prompt_backend = "openai" keeps every image on the team's own server, character
    descriptions too, even with a Gemini key in the environment."""
    from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess

    _faces(session, tmp_path, [0.0, 1.0, 90.0])
    with FakeGemini() as gemini, FakeOpenAIProcess() as server:
        settings = settings_for(session, gemini).replace(
            prompt_backend="openai", openai_base_url=server.base_url, openai_model=DEFAULT_MODEL
        )
        row = _run(session, settings)
        assert "2 description(s) written" in row.message
        assert gemini.requests == 0
        seen = server.requests()
        assert sorted(len(r["images"]) for r in seen) == [1, 2]
        assert all(
            r["response_format"]["json_schema"]["name"] == "CharacterDescription" for r in seen
        )
        anna = _character("PERSON_01")
        assert anna.description_origin == "openai"
        assert anna.description.startswith("the subject: description of 2 image(s)")
        assert {u.model for u in PromptUsage.select()} == {f"openai:{DEFAULT_MODEL}"}
