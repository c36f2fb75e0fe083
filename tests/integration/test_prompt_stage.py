"""Reverse prompting end to end: the real google-genai SDK against the local fake Gemini server."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from vidpipe.store.edits import edit_field, suggestions
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.review.export import write_export
from vidpipe.store.models import (
    Asset,
    ItemError,
    RunStatus,
    StageMark,
    StageProgress,
    StageStatus,
)
from vidpipe.prompting.template import DEFAULT_TEMPLATE, PromptTemplate
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.pipeline.stopping import StopToken
from support.prompt_project import API_KEY, add_crop, add_images, noise_image, process, settings_for
from support.fake_gemini import (
    BAD_BODY,
    BLOCKED,
    EMPTY,
    HANG,
    MALFORMED,
    PROMPT_BLOCKED,
    RATE_LIMIT,
    SERVER_ERROR,
    FakeGemini,
    Rule,
)


@pytest.fixture
def gemini():
    with FakeGemini(hang_s=10) as server:
        yield server


def stage_row(run) -> StageProgress:
    return StageProgress.get(StageProgress.run == run.id, StageProgress.stage == "prompts")


def test_every_asset_gets_a_gemini_prompt_through_the_sdk(session, gemini, tmp_path):
    assets = add_images(session, 5, size=(1600, 1200))
    # Two crops with identical pixels: one request serves both, each keeps its own tag.
    crop_source = tmp_path / "crop.png"
    noise_image(crop_source, seed=7)
    crop_a = add_crop(session, assets[0], "det:person:0", crop_source)
    crop_b = add_crop(session, assets[1], "det:person:0", crop_source)
    settings = settings_for(session, gemini, prompt_image_max_px=512)

    run = process(session, settings)

    assert run.status == RunStatus.DONE
    assert gemini.requests == 6  # 5 uploads + 1 for the two identical crops
    version = PromptTemplate.from_text(DEFAULT_TEMPLATE).version
    for asset in Asset.select():
        assert asset.prompt_origin == "gemini" and asset.prompt_version == version
        assert asset.reverse_prompt and asset.visual_description
        assert asset.quality_score == 7.5
        assert StageMark.get(StageMark.asset == asset.id).fingerprint.startswith("gemini|")
    crop_a, crop_b = Asset.get_by_id(crop_a.id), Asset.get_by_id(crop_b.id)
    assert crop_a.manifest_tag != crop_b.manifest_tag
    assert crop_a.reverse_prompt.startswith(crop_a.manifest_tag)
    assert crop_b.reverse_prompt.startswith(crop_b.manifest_tag)
    # What went over the wire: a downscaled JPEG, JSON mode with a schema, context in the text.
    for seen in gemini.seen:
        assert seen.model == settings.gemini_model and seen.had_api_key
        assert seen.image_mime == "image/jpeg"
        assert max(Image.open(io.BytesIO(seen.image_bytes)).size) <= 512
        assert seen.generation_config["responseMimeType"] == "application/json"
        assert set(seen.generation_config["responseSchema"]["properties"]) == {
            "reverse_prompt",
            "visual_description",
            "quality_score",
        }
    crop_prompt = next(s.prompt_text for s in gemini.seen if "This is a crop" in s.prompt_text)
    assert "the detector found a person" in crop_prompt
    assert "Tag: CHAR_" in crop_prompt
    assert stage_row(run).status == StageStatus.DONE


def test_concurrency_never_exceeds_the_setting(session):
    add_images(session, 12)
    with FakeGemini(latency_s=0.05) as server:
        run = process(session, settings_for(session, server, prompt_concurrency=3))
    assert run.status == RunStatus.DONE
    assert server.requests == 12
    assert 1 <= server.peak_concurrency <= 3


def test_rate_limits_and_server_errors_are_retried_until_every_asset_is_done(session):
    add_images(session, 15)
    with FakeGemini(
        rate_limit_fraction=0.2, retry_after_s=0, server_error_fraction=0.05, seed=3
    ) as server:
        run = process(session, settings_for(session, server))
    assert run.status == RunStatus.DONE
    assert server.outcomes[RATE_LIMIT] > 0
    assert server.outcomes["ok"] == 15
    assert server.requests == 15 + server.outcomes[RATE_LIMIT] + server.outcomes[SERVER_ERROR]
    assert Asset.select().where(Asset.prompt_origin == "gemini").count() == 15
    row = stage_row(run)
    assert row.errors == 0 and row.done == 15
    assert "retr" in row.message


def test_a_hanging_request_times_out_and_is_retried(session, gemini):
    assets = add_images(session, 3)
    gemini.rules = [Rule(assets[1].name, HANG, times=1)]
    run = process(session, settings_for(session, gemini, prompt_timeout_s=0.5))
    assert run.status == RunStatus.DONE
    assert gemini.outcomes[HANG] == 1
    assert Asset.get_by_id(assets[1].id).prompt_origin == "gemini"


@pytest.mark.parametrize(
    "behaviour, words",
    [
        (MALFORMED, "not valid JSON"),
        (BAD_BODY, "not valid JSON"),
        (BLOCKED, "safety"),
        (PROMPT_BLOCKED, "safety"),
        (EMPTY, "empty answer"),
    ],
)
def test_bad_answers_become_clear_per_asset_errors(session, gemini, behaviour, words):
    assets = add_images(session, 4)
    bad = assets[2]
    gemini.rules = [Rule(bad.name, behaviour)]
    run = process(session, settings_for(session, gemini))

    assert run.status == RunStatus.DONE  # one asset's failure does not fail the run
    asked_for_bad = [s for s in gemini.seen if bad.name in s.prompt_text]
    assert len(asked_for_bad) == 2  # retried once, then given up
    bad = Asset.get_by_id(bad.id)
    assert words in bad.stage_errors["prompts"]
    assert bad.reverse_prompt == "" and bad.prompt_origin is None
    assert not StageMark.select().where(StageMark.asset == bad.id).exists()
    errors = list(ItemError.select().where(ItemError.run == run.id))
    assert [e.asset_id for e in errors] == [bad.id]
    assert bad.name in errors[0].message and words in errors[0].message
    others = Asset.select().where(Asset.id != bad.id)
    assert all(a.prompt_origin == "gemini" for a in others)
    row = stage_row(run)
    assert row.status == StageStatus.DONE and row.errors == 1 and "1 failed" in row.message

    # The next "missing" run asks again for the failed asset only, and clears its error.
    gemini.rules = []
    gemini.reset_counters()
    process(session, settings_for(session, gemini), mode="missing")
    assert gemini.requests == 1
    assert "prompts" not in Asset.get_by_id(bad.id).stage_errors


def test_a_second_run_makes_no_request(session, gemini):
    add_images(session, 6)
    settings = settings_for(session, gemini)
    process(session, settings)
    assert gemini.requests == 6
    before = {a.id: a.reverse_prompt for a in Asset.select()}

    gemini.reset_counters()
    process(session, settings, mode="all")  # forced: answers come from the cache
    process(session, settings, mode="missing")  # nothing missing
    assert gemini.requests == 0
    assert {a.id: a.reverse_prompt for a in Asset.select()} == before

    # A new template is a new prompt version: asked again.
    template = session.project.root / "my_template.txt"
    template.write_text("Describe $name for the production.\n$context\n", encoding="utf-8")
    process(session, settings.replace(prompt_template="my_template.txt"), mode="missing")
    assert gemini.requests == 6
    assert all(s.prompt_text.startswith("Describe img_") for s in gemini.seen)


def test_a_persons_edit_survives_reruns_and_the_ai_text_becomes_a_suggestion(session, gemini):
    assets = add_images(session, 2)
    settings = settings_for(session, gemini)
    process(session, settings)
    target = assets[0].id
    edit_field(target, "reverse_prompt", "my own prompt, hand written")

    process(session, settings, mode="all")
    engine = ManifestingEngine(session.project, settings, stages=[PromptStage()])
    engine.reprocess_asset(target)  # reprocess asks Gemini again (cache bypassed)

    asset = Asset.get_by_id(target)
    assert asset.reverse_prompt == "my own prompt, hand written"
    pending = [s for s in suggestions(target) if s.field == "reverse_prompt"]
    assert pending and pending[0].new_value.startswith(asset.manifest_tag)
    assert all(s.author == "ai" and not s.applied for s in pending)
    assert gemini.requests == 2 + 1
    # visual_description was never edited by a person: it follows the AI.
    assert asset.visual_description.startswith("A reference image")

    # Reprocess with overwrite: the AI text replaces the edit (which stays in the history).
    engine.reprocess_asset(target, overwrite=True)
    assert Asset.get_by_id(target).reverse_prompt != "my own prompt, hand written"


def test_the_api_key_is_in_no_row_log_line_or_export(session, gemini, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    assets = add_images(session, 4)
    gemini.rules = [
        Rule(assets[0].name, MALFORMED),
        Rule(assets[1].name, RATE_LIMIT, times=2),
        Rule(assets[2].name, SERVER_ERROR, times=1),
    ]
    settings = settings_for(session, gemini)
    process(session, settings)
    export = write_export(session.project, tmp_path / "export.json")

    assert all(s.had_api_key for s in gemini.seen)  # the key was really used
    session.database.execute_sql("PRAGMA wal_checkpoint(FULL)")
    for path in session.project.state_dir.glob("vidpipe.db*"):
        assert API_KEY.encode() not in path.read_bytes(), path
    assert API_KEY not in caplog.text
    assert caplog.records, "the run logged something to check"
    assert API_KEY not in export.read_text()


def test_a_refused_key_fails_the_stage_with_a_clear_message(session):
    add_images(session, 8)
    with FakeGemini(expected_api_key="the-right-key", latency_s=0.02) as server:
        run = process(session, settings_for(session, server, prompt_concurrency=1))
    row = stage_row(run)
    assert row.status == StageStatus.FAILED
    assert "refused the API key" in row.message and API_KEY not in row.message
    assert server.requests < 8  # stopped at the first refusal instead of trying every asset
    assert run.status == RunStatus.FAILED


def test_without_a_key_prompts_are_offline_then_replaced_by_gemini(session, gemini, tmp_path):
    assets = add_images(session, 3)
    crop_source = tmp_path / "face.png"
    noise_image(crop_source, seed=99)
    face = add_crop(session, assets[0], "face:0", crop_source, detection_class=None, face=True)

    run = process(session, settings_for(session, None), mode="missing")
    row = stage_row(run)
    assert row.status == StageStatus.DONE and "offline" in row.message
    for asset in Asset.select():
        assert asset.prompt_origin == "offline"
        assert asset.reverse_prompt.startswith("[offline] ")
        assert asset.visual_description.startswith("[offline] ")
        assert "px" in asset.visual_description
    face = Asset.get_by_id(face.id)
    assert "face" in face.reverse_prompt and face.manifest_tag in face.reverse_prompt
    assert f"taken from {assets[0].name}" in face.visual_description

    # A key appears: the "missing" rerun replaces every offline prompt with Gemini's.
    process(session, settings_for(session, gemini), mode="missing")
    assert gemini.requests == 4
    assert {a.prompt_origin for a in Asset.select()} == {"gemini"}

    # The key goes away again: Gemini's prompts are kept, not degraded to offline ones.
    run = process(session, settings_for(session, None), mode="all")
    assert {a.prompt_origin for a in Asset.select()} == {"gemini"}
    assert "kept their model prompts" in stage_row(run).message


def test_cancelling_keeps_the_prompts_that_arrived(session):
    assets = add_images(session, 8)
    cancel = StopToken()
    answered = []

    def answer_then_cancel(seen):
        answered.append(seen)
        if len(answered) == 3:
            cancel.cancel()
        return server.default_answer(seen)

    with FakeGemini(latency_s=0.05) as server:
        server.answer = answer_then_cancel
        settings = settings_for(session, server, prompt_concurrency=1)
        run = process(session, settings, stop=cancel)
        assert run.status == RunStatus.CANCELLED
        done = [a for a in Asset.select() if a.prompt_origin == "gemini"]
        assert 1 <= len(done) < len(assets)
        marked = {m.asset_id for m in StageMark.select()}
        assert marked == {a.id for a in done}

        server.answer = None
        server.reset_counters()
        run = process(session, settings, mode="missing")
        assert run.status == RunStatus.DONE
        assert server.requests == len(assets) - len(done)
        assert Asset.select().where(Asset.prompt_origin == "gemini").count() == len(assets)


async def test_the_stage_also_runs_when_the_caller_has_an_event_loop(session, gemini):
    """An engine driven from async code (a TUI worker, an async test) still gets its prompts."""
    add_images(session, 3)
    run = process(session, settings_for(session, gemini))
    assert run.status == RunStatus.DONE
    assert Asset.select().where(Asset.prompt_origin == "gemini").count() == 3
