"""Reverse prompting on the team's own GPU: the real ``openai`` SDK against a fake
OpenAI-compatible server running in a process of its own (support.fake_openai)."""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import asdict

import pytest
from PIL import Image

from support.fake_gemini import FakeGemini
from support.fake_openai import (
    BAD_BODY,
    DEFAULT_MODEL,
    HANG,
    MALFORMED,
    RATE_LIMIT,
    UNAVAILABLE,
    FakeOpenAIProcess,
    Knobs,
)
from support.prompt_project import add_crop, add_images, noise_image, process
from vidpipe.ops.status import project_status
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.prompting import ledger
from vidpipe.prompting.openai_backend import OpenAIClient
from vidpipe.prompting.retry import TransientFailure
from vidpipe.review.export import write_export
from vidpipe.store.edits import edit_field, suggestions
from vidpipe.store.models import Asset, RunStatus, StageMark, StageProgress, StageStatus

KEY = "sk-local-SECRET-0123456789abcdef"


@pytest.fixture(scope="module")
def server_process():
    with FakeOpenAIProcess() as server:
        yield server


@pytest.fixture
def server(server_process):
    """The module's server, its knobs back to their defaults and its counters cleared."""
    server_process.configure(**asdict(Knobs()))
    server_process.reset()
    return server_process


def stage_row(run) -> StageProgress:
    return StageProgress.get(StageProgress.run == run.id, StageProgress.stage == "prompts")


def openai_settings(session, server, **changes):
    values = dict(
        prompt_backend="openai",
        openai_base_url=server.base_url,
        openai_model=DEFAULT_MODEL,
        prompt_timeout_s=2.0,
        prompt_max_retries=8,
        prompt_concurrency=5,
    )
    values.update(changes)
    return session.settings.replace(**values)


def rule(match: str, behaviour: str, times: int | None = None) -> dict:
    return {"match": match, "behaviour": behaviour, "times": times}


def test_every_asset_is_answered_through_the_sdk_and_usage_is_the_servers(
    session, server, tmp_path
):
    assets = add_images(session, 4, size=(1600, 1200))
    crop_source = tmp_path / "crop.png"
    noise_image(crop_source, seed=7)
    crop_a = add_crop(session, assets[0], "det:person:0", crop_source)
    crop_b = add_crop(session, assets[1], "det:person:0", crop_source)  # same pixels

    run = process(session, openai_settings(session, server, prompt_image_max_px=512))

    assert run.status == RunStatus.DONE, run.error
    seen = server.requests()
    assert len(seen) == 5  # 4 uploads + 1 for the two identical crops
    for asset in Asset.select():
        assert asset.prompt_origin == "openai"
        assert asset.reverse_prompt.startswith(asset.manifest_tag), asset.reverse_prompt
        assert asset.quality_score == 6.5
        mark = StageMark.get(StageMark.asset == asset.id).fingerprint
        assert mark.startswith(f"openai|{DEFAULT_MODEL}|")
    assert Asset.get_by_id(crop_a.id).manifest_tag != Asset.get_by_id(crop_b.id).manifest_tag
    # What went over the wire: one JPEG data URL at the configured size, the schema, no key.
    for request in seen:
        assert request["model"] == DEFAULT_MODEL
        [image] = request["images"]
        assert image["data_url"] and image["mime"] == "image/jpeg"
        assert max(image["size"]) <= 512
        response_format = request["response_format"]
        assert response_format["type"] == "json_schema"
        assert set(response_format["json_schema"]["schema"]["properties"]) == {
            "reverse_prompt",
            "visual_description",
            "quality_score",
        }
        assert request["authorization"] is None  # a local server: no key, no header
    assert max(max(image["size"]) for r in seen for image in r["images"]) == 512
    crop_prompt = next(r["prompt_text"] for r in seen if "This is a crop" in r["prompt_text"])
    assert "the detector found a person" in crop_prompt

    # Usage is what the server counted; a local model has no price: free.
    billed = server.stats()["billed"]
    usage = ledger.totals(run_id=run.id)
    assert usage["requests"] == billed["responses"] == 5
    assert usage["input_tokens"] == billed["prompt"]
    assert usage["output_tokens"] == billed["completion"]
    assert usage["cost_usd"] == 0.0
    assert project_status(session.project, session.settings)["usage"] == usage
    assert f"{billed['prompt'] + billed['completion']} tokens, $0.0000" in stage_row(run).message
    assert f"from {DEFAULT_MODEL} at {server.base_url}" in stage_row(run).message


def test_the_key_goes_only_in_the_authorization_header(session, server, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    assets = add_images(session, 4)
    server.configure(
        expected_api_key=KEY,
        rules=[
            rule(assets[0].name, MALFORMED, 1),
            rule(assets[1].name, RATE_LIMIT, 2),
            rule(assets[2].name, UNAVAILABLE, 1),
        ],
    )

    run = process(session, openai_settings(session, server, openai_api_key=KEY))
    export = write_export(session.project, tmp_path / "export.json")

    assert run.status == RunStatus.DONE, run.error
    assert {r["authorization"] for r in server.requests()} == {f"Bearer {KEY}"}
    session.database.execute_sql("PRAGMA wal_checkpoint(FULL)")
    for path in session.project.state_dir.glob("vidpipe.db*"):
        assert KEY.encode() not in path.read_bytes(), path
    assert caplog.records and KEY not in caplog.text
    assert KEY not in export.read_text()


def test_a_refused_key_stops_the_stage_with_a_clear_message(session, server):
    add_images(session, 6)
    server.configure(expected_api_key="the-right-key")
    run = process(
        session, openai_settings(session, server, openai_api_key=KEY, prompt_concurrency=1)
    )
    row = stage_row(run)
    assert row.status == StageStatus.FAILED and run.status == RunStatus.FAILED
    assert "Check OPENAI_API_KEY" in row.message and KEY not in row.message
    assert len(server.requests()) < 6  # stopped at the first refusal


def test_a_server_refusing_json_schema_is_asked_in_json_mode_from_then_on(session, server):
    add_images(session, 5)
    server.configure(refuse_json_schema=True)
    run = process(session, openai_settings(session, server, prompt_concurrency=1))
    assert run.status == RunStatus.DONE, run.error
    formats = [(r["response_format"] or {}).get("type") for r in server.requests()]
    # Refused once, remembered for the run: every other request asks in JSON mode.
    assert formats == ["json_schema"] + ["json_object"] * 5
    assert all("fits this JSON schema" in r["prompt_text"] for r in server.requests()[1:])
    assert {a.prompt_origin for a in Asset.select()} == {"openai"}
    assert "refused json_schema: asked with json_object" in stage_row(run).message

    # For the run only: the next run asks with json_schema first again (a server upgraded in
    # between is used as it is now).
    server.reset()
    server.configure(refuse_json_schema=False)
    (session.project.root / "template.txt").write_text("Describe $name.\n$context\n")
    run = process(
        session,
        openai_settings(session, server, prompt_concurrency=1, prompt_template="template.txt"),
    )
    assert [(r["response_format"] or {}).get("type") for r in server.requests()] == [
        "json_schema"
    ] * 5
    assert "refused" not in stage_row(run).message


def test_a_server_refusing_every_json_mode_gets_plain_instructions(session, server):
    add_images(session, 3)
    server.configure(refuse_json_schema=True, refuse_json_object=True)
    run = process(session, openai_settings(session, server, prompt_concurrency=1))
    assert run.status == RunStatus.DONE, run.error
    formats = [(r["response_format"] or {}).get("type") for r in server.requests()]
    assert formats == ["json_schema", "json_object", None, None, None]
    # The plain answers come wrapped in words and a code fence; the JSON inside is used.
    for asset in Asset.select():
        assert asset.reverse_prompt.startswith(asset.manifest_tag)
    assert "asked with plain" in stage_row(run).message


def test_transient_faults_and_bad_answers_are_retried_until_every_asset_is_answered(
    session, server
):
    assets = add_images(session, 6)
    server.configure(
        rules=[
            rule(assets[0].name, RATE_LIMIT, 2),
            rule(assets[1].name, UNAVAILABLE, 1),
            rule(assets[2].name, MALFORMED, 1),
            rule(assets[3].name, BAD_BODY, 1),
            rule(assets[4].name, HANG, 1),
        ],
        hang_s=10,
    )
    run = process(session, openai_settings(session, server, prompt_timeout_s=1.0))
    assert run.status == RunStatus.DONE, run.error
    assert {a.prompt_origin for a in Asset.select()} == {"openai"}
    outcomes = server.stats()["outcomes"]
    assert outcomes == {"ok": 6, RATE_LIMIT: 2, UNAVAILABLE: 1, MALFORMED: 1, BAD_BODY: 1, HANG: 1}
    assert "6 retries" in stage_row(run).message


def test_retry_after_of_a_429_is_what_the_client_waits_for(server):
    server.configure(fractions={RATE_LIMIT: 1.0}, retry_after_s=7)
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, format="JPEG")

    async def ask():
        async with OpenAIClient(server.base_url, DEFAULT_MODEL, timeout_s=5) as client:
            await client.describe(buffer.getvalue(), "describe this")

    with pytest.raises(TransientFailure) as failure:
        asyncio.run(ask())
    assert failure.value.retry_after == 7.0 and "429" in str(failure.value)


def test_an_answer_malformed_twice_is_a_clear_error_on_that_asset(session, server):
    assets = add_images(session, 3)
    server.configure(rules=[rule(assets[1].name, MALFORMED)])
    run = process(session, openai_settings(session, server))
    assert run.status == RunStatus.DONE  # the others are answered
    broken = Asset.get_by_id(assets[1].id)
    assert not broken.reverse_prompt and broken.prompt_origin is None
    assert "not valid JSON for the schema" in (broken.stage_errors or {}).get("prompts", "")
    assert "(2 tries)" in broken.stage_errors["prompts"]


def test_switching_backends_asks_again_and_switching_back_reuses(session, server):
    add_images(session, 3)
    with FakeGemini() as gemini:
        gemini_settings = session.settings.replace(
            gemini_api_key="gemini-key", gemini_base_url=gemini.base_url
        )
        process(session, gemini_settings)
        assert gemini.requests == 3
        assert {a.prompt_origin for a in Asset.select()} == {"gemini"}

        process(session, openai_settings(session, server))
        assert len(server.requests()) == 3
        assert {a.prompt_origin for a in Asset.select()} == {"openai"}

        gemini.reset_counters()
        server.reset()
        run = process(session, gemini_settings)  # back to Gemini: its answers are cached
        assert gemini.requests == 0 and server.requests() == []
        assert {a.prompt_origin for a in Asset.select()} == {"gemini"}
        assert "3 from cache" in stage_row(run).message

        process(session, openai_settings(session, server))  # and the server's too
        assert server.requests() == []
        assert {a.prompt_origin for a in Asset.select()} == {"openai"}


def test_a_server_down_at_the_start_gives_marked_offline_prompts_redone_once_it_answers(
    session, server
):
    from support.servers import free_port

    add_images(session, 3)
    down = openai_settings(session, server, openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    run = process(session, down)
    row = stage_row(run)
    assert row.status == StageStatus.DONE
    assert "offline prompts for 3 asset(s)" in row.message and "does not answer" in row.message
    for asset in Asset.select():
        assert asset.prompt_origin == "offline"
        assert asset.reverse_prompt.startswith("[offline] ")

    process(session, openai_settings(session, server), mode="missing")
    assert len(server.requests()) == 3
    assert {a.prompt_origin for a in Asset.select()} == {"openai"}

    run = process(session, down, mode="all")  # down again: the model's prompts are kept
    assert {a.prompt_origin for a in Asset.select()} == {"openai"}
    assert "kept their model prompts" in stage_row(run).message


def test_the_batch_api_is_gemini_only(session, server):
    add_images(session, 2)
    run = process(session, openai_settings(session, server, gemini_batch=True))
    assert run.status == RunStatus.DONE, run.error
    assert len(server.requests()) == 2
    assert "the Batch API is Gemini-only" in stage_row(run).message


def test_a_missing_model_name_says_what_the_server_serves(session, server):
    add_images(session, 1)
    server.configure(models=["llava:13b", "gemma3:27b"])
    run = process(session, openai_settings(session, server, openai_model=None))
    row = stage_row(run)
    assert row.status == StageStatus.FAILED
    assert "openai_model is not set" in row.message and "llava:13b, gemma3:27b" in row.message


def test_a_persons_edit_is_kept_and_the_ai_text_becomes_a_suggestion(session, server):
    assets = add_images(session, 2)
    settings = openai_settings(session, server)
    process(session, settings)
    target = assets[0].id
    edit_field(target, "reverse_prompt", "my own prompt, hand written")

    engine = ManifestingEngine(session.project, settings, stages=[PromptStage()])
    engine.reprocess_asset(target)  # asks the server again (no cache)

    asset = Asset.get_by_id(target)
    assert asset.reverse_prompt == "my own prompt, hand written"
    pending = [s for s in suggestions(target) if s.field == "reverse_prompt"]
    assert pending and pending[0].new_value.startswith(asset.manifest_tag)
    assert len(server.requests()) == 2 + 1


def test_doctor_checks_the_server_the_model_and_one_answer(session, server):
    from vidpipe.ops.prompt_checks import PROMPT_CHECKS

    def checks(settings):
        return {c.name: c for c in (fn(settings, None) for fn in PROMPT_CHECKS) if c is not None}

    found = checks(openai_settings(session, server))
    assert [found[name].level for name in ("vision server", "vision model", "vision answer")] == [
        "ok",
        "ok",
        "ok",
    ], found
    [request] = server.requests()  # the tiny image request
    assert request["images"][0]["size"] == [64, 64]

    found = checks(openai_settings(session, server, openai_model="not-served"))
    assert found["vision model"].level == "fail"
    assert DEFAULT_MODEL in found["vision model"].detail
    assert "vision answer" not in found

    server.configure(refuse_json_schema=True)
    found = checks(openai_settings(session, server))
    assert found["vision answer"].level == "ok"
    assert "refused json_schema: json_object" in found["vision answer"].detail

    from support.servers import free_port

    found = checks(
        openai_settings(session, server, openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    )
    assert (
        found["vision server"].level == "fail"
        and "does not answer" in found["vision server"].detail
    )
    assert set(found) == {"vision server"}


def test_the_key_is_read_from_openai_api_key_only(tmp_path):
    from vidpipe.config.settings import CONFIG_FILENAME, load_settings
    from vidpipe.errors import ConfigError

    env = {
        "OPENAI_API_KEY": KEY,
        "VIDPIPE_PROMPT_BACKEND": "openai",
        "VIDPIPE_OPENAI_BASE_URL": "http://127.0.0.1:8000/v1",
        "VIDPIPE_OPENAI_MODEL": "m",
    }
    settings = load_settings(None, env=env)
    assert settings.openai_api_key == KEY and settings.prompt_backend == "openai"
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())
    assert load_settings(None, env={"VIDPIPE_OPENAI_API_KEY": KEY}).openai_api_key is None
    (tmp_path / CONFIG_FILENAME).write_text(f'openai_api_key = "{KEY}"\n')
    with pytest.raises(ConfigError, match="read from OPENAI_API_KEY only") as refused:
        load_settings(tmp_path, env={})
    assert KEY not in str(refused.value)
    # No default address: images go only where the person points.
    with pytest.raises(ConfigError, match="needs openai_base_url"):
        load_settings(None, env={"VIDPIPE_PROMPT_BACKEND": "openai"})


def test_vidpipe_process_with_batch_asks_the_server_and_status_shows_its_usage(
    tmp_path, server, monkeypatch, capsys
):
    """The real CLI entry point: `vidpipe process --batch` with the OpenAI-compatible backend
    (the Batch API is Gemini's alone: it says so and asks the server), then `vidpipe status`."""
    from vidpipe.cli import main
    from vidpipe.pipeline.stages.tags import TagStage

    root = tmp_path / "cli-project"
    assert main(["init", str(root)]) == 0
    for index in range(3):
        noise_image(root / f"shot_{index}.png", seed=300 + index)
    monkeypatch.setattr(
        "vidpipe.pipeline.engine.default_stages", lambda settings: [PromptStage(), TagStage()]
    )
    monkeypatch.setenv("VIDPIPE_PROMPT_BACKEND", "openai")
    monkeypatch.setenv("VIDPIPE_OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("VIDPIPE_OPENAI_MODEL", DEFAULT_MODEL)
    capsys.readouterr()

    assert main(["process", str(root), "--batch"]) == 0
    out = capsys.readouterr().out
    assert "the Batch API is Gemini-only" in out and server.base_url in out
    assert len(server.requests()) == 3

    assert main(["status", str(root)]) == 0
    status = capsys.readouterr().out
    billed = server.stats()["billed"]
    assert "vision model, whole project: 3 request(s)" in status
    assert f"{billed['completion']} out" in status and "$0.0000" in status


def test_the_shared_limits_are_per_server_and_model(session):
    """Daemons sharing one Redis share one server's limits; another server or model has its own
    (and none is named after a key)."""
    from vidpipe.prompting.backend_choice import identity
    from vidpipe.prompting.shared_limiter import limit_keys

    def keys(**changes):
        values = dict(
            prompt_backend="openai", openai_model="m", openai_base_url="http://gpu-1:8000/v1"
        )
        settings = session.settings.replace(**{**values, **changes})
        return limit_keys(settings.openai_api_key, identity(settings).scope)

    assert keys() == keys()
    assert keys() != keys(openai_base_url="http://gpu-2:8000/v1")
    assert keys() != keys(openai_model="other")
    assert keys() != limit_keys(None, identity(session.settings).scope)  # Gemini's
    assert all(KEY not in key for key in keys(openai_api_key=KEY))
