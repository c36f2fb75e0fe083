"""Duplicate faces take their primary's answer instead of a request of their own (the default),
or ask for themselves (prompt_duplicate_faces = "request")."""

from __future__ import annotations

from support.prompt_project import noise_image, add_crop, add_images, process, settings_for
from vidpipe.store.models import Asset, RunStatus, StageMark
from support.fake_gemini import FakeGemini


def faces_of_one_person(session, tmp_path):
    """Three uploads, each with a face crop of its own pixels; faces 2 and 3 duplicate face 1."""
    uploads = add_images(session, 3)
    faces = []
    for index, upload in enumerate(uploads):
        source = tmp_path / f"face{index}.png"
        noise_image(source, seed=50 + index, size=(48, 60))
        faces.append(add_crop(session, upload, "face:0", source, detection_class="face", face=True))
    for face in faces[1:]:
        Asset.update(duplicate_of=faces[0].id, face_group=1).where(Asset.id == face.id).execute()
    Asset.update(face_group=1).where(Asset.id == faces[0].id).execute()
    return uploads, faces


def test_duplicates_reuse_the_primary_answer_with_their_own_tag(session, tmp_path):
    uploads, faces = faces_of_one_person(session, tmp_path)
    with FakeGemini() as server:
        run = process(session, settings_for(session, server), mode="missing")
        assert run.status == RunStatus.DONE
        assert server.requests == 3 + 1  # the uploads and the primary face only
        primary = Asset.get_by_id(faces[0].id)
        for face in faces[1:]:
            face = Asset.get_by_id(face.id)
            assert face.prompt_origin == "gemini"
            assert face.visual_description.startswith(f"(Duplicate of {primary.name}) ")
            assert face.reverse_prompt.startswith(face.manifest_tag)
            assert face.manifest_tag != primary.manifest_tag
            assert face.quality_score == primary.quality_score
        # Nothing is due on a rerun; a regrouping makes exactly the moved duplicate due again.
        server.reset_counters()
        assert process(session, settings_for(session, server), mode="missing").status == "done"
        assert server.requests == 0
        Asset.update(duplicate_of=faces[1].id).where(Asset.id == faces[2].id).execute()
        Asset.update(duplicate_of=None).where(Asset.id == faces[1].id).execute()
        process(session, settings_for(session, server), mode="missing")
        # Face 2 is a primary now (its own request); face 3 copies face 2's answer.
        assert server.requests == 1
        face3 = Asset.get_by_id(faces[2].id)
        assert face3.visual_description.startswith(f"(Duplicate of {faces[1].name}) ")
        assert StageMark.get(StageMark.asset == face3.id).fingerprint.endswith(
            faces[1].content_hash[:16]
        )


def test_request_setting_asks_about_every_face(session, tmp_path):
    _, faces = faces_of_one_person(session, tmp_path)
    with FakeGemini() as server:
        run = process(session, settings_for(session, server, prompt_duplicate_faces="request"))
        assert run.status == RunStatus.DONE
        assert server.requests == 3 + 3
    for face in faces:
        assert not Asset.get_by_id(face.id).visual_description.startswith("(Duplicate")


def test_duplicates_reuse_the_primary_answer_from_an_openai_compatible_server(session, tmp_path):
    from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess

    uploads, faces = faces_of_one_person(session, tmp_path)
    with FakeOpenAIProcess() as server:
        settings = session.settings.replace(
            prompt_backend="openai",
            openai_base_url=server.base_url,
            openai_model=DEFAULT_MODEL,
            prompt_timeout_s=5.0,
        )
        run = process(session, settings, mode="missing")
        assert run.status == RunStatus.DONE, run.error
        assert len(server.requests()) == 3 + 1  # the uploads and the primary face only
    primary = Asset.get_by_id(faces[0].id)
    for face in faces[1:]:
        face = Asset.get_by_id(face.id)
        assert face.prompt_origin == "openai"
        assert face.visual_description.startswith(f"(Duplicate of {primary.name}) ")
        assert face.reverse_prompt.startswith(face.manifest_tag)
