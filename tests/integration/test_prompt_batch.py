"""Reverse prompting through the Gemini Batch API: the real google-genai SDK's client.batches
against the fake server's batch endpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support.prompt_project import API_KEY, add_images, process, settings_for
from support.waiting import wait_for
from vidpipe.store.edits import edit_field, suggestions
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.store.models import (
    Asset,
    GeminiBatch,
    Manifest,
    PromptCache,
    PromptUsage,
    Run,
    RunStatus,
    StageProgress,
)
from vidpipe.prompting import ledger
from vidpipe.prompting.usage import DEFAULT_PRICES
from vidpipe.pipeline.runs import cancel
from vidpipe.pipeline.stages.prompts import PromptStage
from support.fake_gemini import FakeGemini


def batch_settings(session, server, **changes):
    return settings_for(session, server, gemini_batch=True, gemini_batch_poll_s=0.02, **changes)


def test_batch_results_land_as_interactive_answers_do_at_half_price(session):
    assets = add_images(session, 4)
    with FakeGemini() as server:
        # Interactive first, so a person can edit an AI prompt; then a batch run of everything.
        process(session, settings_for(session, server))
        edited = assets[0]
        edit_field(edited.id, "reverse_prompt", "my own words")
        PromptCache.delete().execute()
        server.reset_counters()
        seen_items = []
        engine = ManifestingEngine(
            session.project,
            batch_settings(session, server),
            stages=[PromptStage()],
            progress_interval=0,
            listener=lambda row: seen_items.append(row.current_item),
        )
        run = engine.process_manifest(Manifest.get(), "all")
        assert run.status == RunStatus.DONE, run.error
        assert server.requests == 0  # no interactive request
        assert server.batches.submissions == 1
        billed = dict(server.billed)
    assert "waiting for Gemini batch (RUNNING)" in seen_items
    for asset in Asset.select():
        assert asset.prompt_origin == "gemini" and asset.visual_description
        if asset.id != edited.id:
            assert asset.reverse_prompt.startswith(asset.manifest_tag)
    # The person's edit stays; the batch's answer waits as a suggestion.
    assert Asset.get_by_id(edited.id).reverse_prompt == "my own words"
    assert [s.field for s in suggestions(edited.id)] == ["reverse_prompt"]
    assert PromptCache.select().count() == 4
    # Usage: what the server billed, at the Batch API's half price.
    usage = ledger.totals(run_id=run.id)
    assert usage["requests"] == billed["batch_responses"] == 4
    assert usage["input_tokens"] == billed["prompt"]
    assert usage["output_tokens"] == billed["candidates"]
    price = DEFAULT_PRICES["gemini-2.5-flash"]
    full = (billed["prompt"] * price.input + billed["candidates"] * price.output) / 1e6
    assert usage["cost_usd"] == pytest.approx(full / 2, abs=1e-6)
    assert all(row.batch for row in PromptUsage.select().where(PromptUsage.run == run.id))
    row = GeminiBatch.get()
    assert row.finished and row.state == "JOB_STATE_SUCCEEDED" and len(row.collected) == 4


def test_cancel_cancels_the_gemini_batch(session):
    add_images(session, 3)
    with FakeGemini(batch_hold=True) as server:
        engine = ManifestingEngine(
            session.project,
            batch_settings(session, server),
            stages=[PromptStage()],
            progress_interval=0,
        )
        outcome = {}
        worker = threading.Thread(
            target=lambda: outcome.setdefault("run", engine.process_manifest(Manifest.get()))
        )
        worker.start()
        wait_for(
            lambda: GeminiBatch.select().where(GeminiBatch.name.is_null(False)).exists(),
            what="the batch to be submitted",
        )
        run_id = GeminiBatch.get().run_id
        wait_for(
            lambda: (
                "waiting for Gemini batch"
                in (StageProgress.get(StageProgress.run == run_id).current_item or "")
            ),
            what="the waiting row",
        )
        assert cancel(run_id)
        worker.join(timeout=60)
        assert not worker.is_alive()
        assert outcome["run"].status == RunStatus.CANCELLED
        assert server.batches.cancels == 1
        assert list(server.batches.batches.values())[0].state == "BATCH_STATE_CANCELLED"
    row = GeminiBatch.get()
    assert row.finished and row.state == "JOB_STATE_CANCELLED"
    assert all(a.prompt_origin is None for a in Asset.select())


def test_batch_survives_kill_9_and_is_never_submitted_twice(tmp_path):
    """The real `vidpipe process --batch` killed with SIGKILL while Gemini works on the batch;
    the next `vidpipe process` resumes polling the same job and lands its answers."""
    from support.prompt_project import noise_image

    project = tmp_path / "project"
    vidpipe = Path(sys.executable).parent / "vidpipe"
    assert subprocess.run([str(vidpipe), "init", str(project)], capture_output=True).returncode == 0
    for index in range(3):
        noise_image(project / f"img_{index}.png", seed=index)
    with FakeGemini(batch_hold=True) as server:
        env = {
            **os.environ,
            "GEMINI_API_KEY": API_KEY,
            "VIDPIPE_GEMINI_BASE_URL": server.base_url,
            "VIDPIPE_GEMINI_BATCH_POLL_S": "0.05",
            "VIDPIPE_PROMPT_TIMEOUT_S": "10",
            "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        }
        first = subprocess.Popen(
            [str(vidpipe), "process", str(project), "--batch"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for(
                lambda: server.batches.looks >= 2 or first.poll() is not None,
                timeout=180,
                what="the first process to poll its batch",
            )
            assert first.poll() is None, first.stderr.read().decode()[-2000:]
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
            first.stderr.close()
        assert server.batches.submissions == 1
        server.release_batches()
        second = subprocess.run(
            [str(vidpipe), "process", str(project)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 0, second.stderr[-2000:]
        assert server.batches.submissions == 1  # resumed, not submitted again
        assert server.requests == 0  # and nothing asked interactively either

    from vidpipe.store.session import open_project

    with open_project(project) as session:
        assets = list(Asset.select())
        assert len(assets) == 3
        assert all(a.prompt_origin == "gemini" and a.reverse_prompt for a in assets)
        row = GeminiBatch.get()
        assert row.finished and len(row.collected) == 3
        runs = list(Run.select().order_by(Run.id))
        assert row.run_id == runs[0].id and runs[-1].status == RunStatus.DONE
        assert ledger.totals(run_id=runs[-1].id)["requests"] == 3
        session.close()


def test_a_batch_whose_name_was_never_stored_is_found_by_its_display_name(session):
    """Killed between Gemini accepting the job and the name being written: the row has only
    the display name; the next run finds the job by it instead of submitting again."""
    from vidpipe.prompting import batch_job
    from vidpipe.prompting.gemini import generation_config, sdk_client
    from vidpipe.prompting.runner import encode_jpeg
    from vidpipe.prompting.template import DEFAULT_TEMPLATE, PromptTemplate

    assets = add_images(session, 2)
    version = PromptTemplate.from_text(DEFAULT_TEMPLATE).version
    with FakeGemini() as server:
        settings = batch_settings(session, server)
        sdk = sdk_client(API_KEY, server.base_url, 10)
        requests = [
            batch_job.BatchRequest(
                f"key-{a.id}",
                [a.id],
                None,
                encode_jpeg(
                    session.project.absolute(a.file_path), 10**8, 768, within=session.project.root
                ),
                "Describe it.",
            )
            for a in assets
        ]
        row = batch_job.submit(
            sdk,
            settings.gemini_model,
            generation_config(settings.gemini_model),
            version,
            assets[0].manifest_id,
            None,
            requests,
        )
        GeminiBatch.update(name=None, state="SUBMITTING").where(GeminiBatch.id == row.id).execute()
        # A second row whose job never reached Gemini is closed, its assets asked again.
        GeminiBatch.create(
            manifest=assets[0].manifest_id,
            display_name="vidpipe-lost",
            model=settings.gemini_model,
            prompt_version=version,
            items=[{"key": "k", "assets": [assets[1].id], "tag": None}],
        )
        run = process(session, settings, mode="missing")
        assert run.status == RunStatus.DONE, run.error
        assert server.batches.submissions == 1
    found = GeminiBatch.get_by_id(row.id)
    assert found.name == "batches/fake1" and found.finished and len(found.collected) == 2
    lost = GeminiBatch.get(GeminiBatch.display_name == "vidpipe-lost")
    assert lost.finished and lost.state == "NEVER_SUBMITTED"
    assert all(a.prompt_origin == "gemini" for a in Asset.select())


def test_daemon_drops_larger_than_the_setting_go_by_batch(session):
    from vidpipe.pipeline.runs import create_run
    from vidpipe.pipeline.stages.base import StageContext
    from vidpipe.pipeline.stages.prompt_batches import wants_batch

    add_images(session, 1)
    manifest = Manifest.get()
    settings = session.settings.replace(gemini_batch_min_assets=10)

    def context(requested_by, only_assets=None, **changes):
        run = create_run("process", manifest_id=manifest.id, requested_by=requested_by)
        return StageContext(
            session.project, settings.replace(**changes), manifest, run, only_assets=only_assets
        )

    assert wants_batch(context("watcher"), 11)
    assert not wants_batch(context("watcher"), 10)
    assert not wants_batch(context("tui"), 50)  # a person pressed p: interactive
    assert not wants_batch(context("watcher", gemini_batch_min_assets=0), 500)
    assert wants_batch(context("cli", gemini_batch=True), 1)
    assert not wants_batch(context("cli", only_assets=[1], gemini_batch=True), 1)
