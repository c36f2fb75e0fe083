"""Reverse prompting of uploaded images starts while the face stage still runs; the prompts
written name each asset's final tag, and a run killed in the middle resumes exactly."""

from __future__ import annotations

import random
import time

import pytest
from PIL import Image

from support.prompt_project import API_KEY
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, Manifest, PromptCache, RunStatus, Source
from vidpipe.prompting import ledger
from vidpipe.pipeline.stages.faces import FaceStage
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.pipeline.stages.tags import TagStage
from support.fake_gemini import FakeGemini
from vidpipe.vision.faces import Face


class SimulatedKill(BaseException):
    """What the process sees when it is killed: not an Exception, so nothing swallows it."""


class GatedFaces:
    """A face finder at the Protocol seam: one face per image, each a different person. Its
    first call waits until ``wait_for_answers`` answers are in the prompt cache, so the test
    knows those requests were made and answered while the face stage was still working."""

    device = "fake"
    identity = "gated-faces"

    def __init__(self, wait_for_answers: int, kill_after: int | None = None):
        self.wait_for_answers = wait_for_answers
        self.kill_after = kill_after
        self.calls = 0

    def find(self, image):
        self.calls += 1
        if self.calls == 1:
            deadline = time.monotonic() + 60
            while PromptCache.select().count() < self.wait_for_answers:
                assert time.monotonic() < deadline, "no prompt request during the face stage"
                time.sleep(0.01)
        if self.kill_after is not None and self.calls > self.kill_after:
            raise SimulatedKill()
        w, h = image.size
        angle = self.calls * 1.3  # far apart: every face its own person
        return [Face(w * 0.3, h * 0.3, w * 0.6, h * 0.7, 0.99, [_cos(angle), _sin(angle)])]


def _cos(x):
    import math

    return math.cos(x)


def _sin(x):
    import math

    return math.sin(x)


def characters(session, count=3):
    """Uploaded character images (char_ prefix): their faces are numbered CHAR_ among them."""
    for index in range(count):
        rng = random.Random(index)
        image = Image.new("RGB", (120, 90), (rng.randrange(256), 40, 90))
        image.putpixel((rng.randrange(120), rng.randrange(90)), (255, 255, 255))
        image.save(session.project.root / f"char_{index}.png")
    reconcile(session.project, session.settings)


def engine_for(session, server, finder):
    settings = session.settings.replace(
        gemini_api_key=API_KEY,
        gemini_base_url=server.base_url,
        prompt_timeout_s=5.0,
        face_distance_threshold=0.01,
    )
    return ManifestingEngine(
        session.project,
        settings,
        stages=[FaceStage(finder), PromptStage(), TagStage()],
        progress_interval=0,
    )


def test_uploaded_images_are_prompted_while_faces_run_and_keep_their_final_tags(session):
    characters(session)
    with FakeGemini() as server:
        finder = GatedFaces(wait_for_answers=3)
        run = engine_for(session, server, finder).process_manifest(Manifest.get())
        assert run.status == RunStatus.DONE, run.error
        assert server.requests == 3 + 3  # each upload and each face asked once
        asked = {s.image_sha256: s.prompt_text for s in server.seen}
    uploads = list(Asset.select().where(Asset.source == Source.UPLOADED).order_by(Asset.file_path))
    # Faces are numbered between the uploads: char_1 was CHAR_02 when it was asked, is CHAR_03.
    assert [a.manifest_tag for a in uploads] == ["CHAR_01", "CHAR_03", "CHAR_05"]
    assert any("Tag: CHAR_02" in text and "char_1" in text for text in asked.values())
    for asset in Asset.select():
        assert asset.prompt_origin == "gemini"
        assert asset.reverse_prompt.startswith(f"{asset.manifest_tag},"), asset.reverse_prompt
    assert ledger.totals(run_id=run.id)["requests"] == 6


@pytest.mark.parametrize("overlap", [True, False])
def test_killed_during_faces_resumes_exactly(session, overlap):
    characters(session)
    with FakeGemini() as server:
        settings_change = {"prompt_overlap": overlap}
        finder = GatedFaces(wait_for_answers=3 if overlap else 0, kill_after=1)
        engine = engine_for(session, server, finder)
        engine.settings = engine.settings.replace(**settings_change)
        with pytest.raises(SimulatedKill):
            engine.process_manifest(Manifest.get())
        asked_before = server.requests
        assert asked_before == (3 if overlap else 0)
        finder.kill_after = None
        run = engine.process_manifest(Manifest.get(), "missing")
        assert run.status == RunStatus.DONE, run.error
        # Answers paid for before the kill are not asked again.
        assert server.requests == 3 + 3
    state = {
        (a.name, a.manifest_tag, a.reverse_prompt.split(",")[0], a.prompt_origin)
        for a in Asset.select()
    }
    assert len(state) == 6
    assert all(tag == named and origin == "gemini" for _, tag, named, origin in state)


def test_early_prompts_count_against_the_limits_shared_by_every_daemon(session, redis_url):
    """With a Redis queue one API key's limits hold for all daemons together: the requests sent
    while the faces run go through the shared limiter too, not a limiter of their own."""
    import redis

    from vidpipe.prompting.shared_limiter import limit_keys

    characters(session)
    with FakeGemini() as server:
        engine = engine_for(session, server, GatedFaces(wait_for_answers=3))
        engine.settings = engine.settings.replace(queue_url=redis_url)
        run = engine.process_manifest(Manifest.get())
        assert run.status == RunStatus.DONE, run.error
        assert server.requests == 3 + 3
    _, starts = limit_keys(API_KEY, engine.settings.gemini_model)
    assert redis.Redis.from_url(redis_url).zcard(starts) == 3 + 3, "every start in the window"


def test_an_openai_compatible_server_is_asked_while_faces_run_too(session):
    from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess

    characters(session)
    with FakeOpenAIProcess() as server:
        settings = session.settings.replace(
            prompt_backend="openai",
            openai_base_url=server.base_url,
            openai_model=DEFAULT_MODEL,
            prompt_timeout_s=5.0,
            face_distance_threshold=0.01,
        )
        engine = ManifestingEngine(
            session.project,
            settings,
            stages=[FaceStage(GatedFaces(wait_for_answers=3)), PromptStage(), TagStage()],
            progress_interval=0,
        )
        run = engine.process_manifest(Manifest.get())
        assert run.status == RunStatus.DONE, run.error
        assert len(server.requests()) == 3 + 3  # each upload and each face asked once
    for asset in Asset.select():
        assert asset.prompt_origin == "openai"
        assert asset.reverse_prompt.startswith(f"{asset.manifest_tag},"), asset.reverse_prompt
    assert ledger.totals(run_id=run.id)["requests"] == 6


def test_an_openai_compatible_servers_limits_are_shared_through_redis_too(session, redis_url):
    """Several daemons on one GPU server share its limits: the early prompts and the prompt
    stage's requests all count in the server's shared window (keys of the server and model)."""
    import redis

    from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess
    from vidpipe.prompting.backend_choice import identity
    from vidpipe.prompting.shared_limiter import limit_keys

    characters(session)
    with FakeOpenAIProcess() as server:
        settings = session.settings.replace(
            prompt_backend="openai",
            openai_base_url=server.base_url,
            openai_model=DEFAULT_MODEL,
            prompt_timeout_s=5.0,
            face_distance_threshold=0.01,
            queue_url=redis_url,
        )
        engine = ManifestingEngine(
            session.project,
            settings,
            stages=[FaceStage(GatedFaces(wait_for_answers=3)), PromptStage(), TagStage()],
            progress_interval=0,
        )
        run = engine.process_manifest(Manifest.get())
        assert run.status == RunStatus.DONE, run.error
        assert len(server.requests()) == 3 + 3
    _, starts = limit_keys(None, identity(settings).scope)
    assert redis.Redis.from_url(redis_url).zcard(starts) == 3 + 3, "every start in the window"
