"""Gemini usage: what the fake server billed (by Google's documented rules) is what vidpipe
records per asset, per run and for the project, and what `status` shows."""

from __future__ import annotations

import json

import pytest

from support.prompt_project import add_images, process, settings_for
from vidpipe.cli import main
from vidpipe.store.models import Asset, PromptCache, PromptUsage, RunStatus
from vidpipe.prompting import ledger
from vidpipe.prompting.tokens import image_tokens
from vidpipe.prompting.usage import DEFAULT_PRICES, Price, Usage, cost_usd, price_for
from support.fake_gemini import BLOCKED, RATE_LIMIT, FakeGemini, Rule


def test_documented_image_token_rule():
    assert image_tokens(384, 384) == 258  # both sides <= 384: one flat charge
    assert image_tokens(200, 100) == 258
    assert image_tokens(768, 500) == 258  # one 768 x 768 tile
    assert image_tokens(1024, 768) == 2 * 258
    assert image_tokens(1024, 1024) == 4 * 258
    assert image_tokens(1024, 1024, "MEDIA_RESOLUTION_LOW") == 64


def test_price_table_prefix_match_override_and_batch_discount():
    assert price_for("models/gemini-2.5-flash-preview-05-20") == DEFAULT_PRICES["gemini-2.5-flash"]
    assert price_for("gemini-2.5-flash-lite") == DEFAULT_PRICES["gemini-2.5-flash-lite"]
    assert price_for("someone-elses-model") is None
    own = price_for("gemini-2.5-flash", {"gemini-2.5-flash": {"input": 1, "output": 2}})
    assert own == Price(input=1, output=2, cached=1)
    usage = Usage(
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        thinking_tokens=1_000_000,
        cached_tokens=500_000,
    )
    # 0.5M fresh input + 0.5M cached + 2M output (thinking billed as output)
    assert cost_usd(usage, Price(1.0, 10.0, 0.1)) == pytest.approx(0.5 + 0.05 + 20.0)
    assert cost_usd(usage, Price(1.0, 10.0, 0.1), batch=True) == pytest.approx(10.275)


def test_recorded_usage_equals_what_the_server_billed(session, capsys):
    add_images(session, 4, size=(1000, 700))  # two 768-px tiles each at 1024 px
    # One asset's first answer is blocked (billed, retried), another meets a 429 (not billed).
    rules = [Rule("img_001", BLOCKED, times=1), Rule("img_002", RATE_LIMIT, times=1)]
    with FakeGemini(rules=rules) as server:
        run = process(
            session,
            settings_for(session, server, prompt_image_max_px=1024, gemini_thinking_budget=-1),
        )
        billed = dict(server.billed)
    assert run.status == RunStatus.DONE
    assert billed["responses"] == 5  # 4 answers + 1 blocked; the 429 was not billed
    assert billed["thoughts"] == 5 * 800  # the blocked answer was thought about too
    run_usage = ledger.totals(run_id=run.id)
    assert run_usage["requests"] == billed["responses"]
    assert run_usage["input_tokens"] == billed["prompt"]
    assert run_usage["output_tokens"] == billed["candidates"]
    assert run_usage["thinking_tokens"] == billed["thoughts"]
    price = DEFAULT_PRICES["gemini-2.5-flash"]
    expected = (
        billed["prompt"] * price.input + (billed["candidates"] + billed["thoughts"]) * price.output
    ) / 1e6
    assert run_usage["cost_usd"] == pytest.approx(expected, abs=1e-6)
    # Per asset: the blocked-then-answered asset paid for two responses.
    retried = Asset.get(Asset.name == "img_001")
    assert ledger.totals(asset_id=retried.id)["requests"] == 2
    assert sum(ledger.totals(asset_id=a.id)["requests"] for a in Asset.select()) == 5
    assert PromptUsage.select().where(PromptUsage.run == run.id).count() == 5
    # Every image was billed 2 tiles by the documented rule (1000x700 stays under 1024 px).
    images = [s.usage["promptTokensDetails"] for s in server.seen if s.usage]
    assert all({"modality": "IMAGE", "tokenCount": 516} in details for details in images)

    capsys.readouterr()
    assert main(["status", str(session.project.root), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["manifests"][0]["latest_run"]["usage"] == run_usage
    assert status["usage"] == run_usage  # the only run so far is the project's total
    assert main(["status", str(session.project.root)]) == 0
    text = capsys.readouterr().out
    assert f"${run_usage['cost_usd']:.4f}" in text and "5 request(s)" in text


def test_thinking_is_off_by_default_and_a_setting_turns_it_on(session):
    add_images(session, 2)
    with FakeGemini() as server:
        process(session, settings_for(session, server))
        assert [s.thinking_budget() for s in server.seen] == [0, 0]
        assert server.billed["thoughts"] == 0
        server.reset_counters()
        PromptCache.delete().execute()  # else the second run answers from the cache
        process(session, settings_for(session, server, gemini_thinking_budget=-1))
        assert [s.thinking_budget() for s in server.seen] == [None, None]  # model decides
        assert server.billed["thoughts"] == 2 * 800
    assert ledger.totals()["thinking_tokens"] == 2 * 800


def test_dashboard_shows_tokens_and_cost_of_the_job_and_the_project(session):
    from rich.console import Console

    from tui.snapshot import load_snapshot
    from tui.widgets.job_panel import render_usage

    add_images(session, 2)
    with FakeGemini() as server:
        run = process(session, settings_for(session, server))
    snapshot = load_snapshot(run.manifest_id, {})
    assert snapshot.focus.usage == ledger.totals(run_id=run.id)
    console = Console(width=200, record=True)
    console.print(render_usage(snapshot))
    text = console.export_text()
    assert "job: 2 request(s)" in text and "project: 2 request(s)" in text
    assert f"${snapshot.project_usage['cost_usd']:.4f}" in text


def test_price_overrides_from_the_project_file_and_bad_tables_refused(tmp_path):
    from vidpipe.config.settings import load_settings
    from vidpipe.errors import ConfigError

    (tmp_path / "vidpipe.toml").write_text(
        'gemini_prices = { "my-model" = { input = 1.0, output = 4.0 } }\n'
        'gemini_media_resolution = "low"\n'
    )
    settings = load_settings(tmp_path, env={})
    assert price_for("my-model", settings.gemini_prices) == Price(1.0, 4.0, 1.0)
    assert settings.gemini_media_resolution == "low"
    env = {"VIDPIPE_GEMINI_PRICES": '{"my-model": {"input": 2}}'}
    with pytest.raises(ConfigError, match="needs input and output"):
        load_settings(tmp_path, env=env)
    with pytest.raises(ConfigError, match="gemini_media_resolution"):
        load_settings(tmp_path, env={"VIDPIPE_GEMINI_MEDIA_RESOLUTION": "ultra"})
