"""Every answer from the model's endpoint is bounded: a body that never ends is cut off (peak
memory of a client process checked against a normal answer's), JSON nested 200 000 deep, a
prompt of a megabyte, token counts of 10^30 or below zero and a Retry-After of 31 years are
each that asset's clear error or a sane figure, never a traceback or a stalled run. The real
google-genai SDK against the fake Gemini server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from support.fake_gemini import ENDLESS, RATE_LIMIT, FakeGemini, Rule
from vidpipe.pipeline.engine import ManifestingEngine
from vidpipe.pipeline.ingest import reconcile
from vidpipe.pipeline.stages.prompts import PromptStage
from vidpipe.prompting.retry import MAX_RETRY_AFTER_S, RetryPolicy
from vidpipe.store.models import Asset, Manifest, PromptUsage

REPO = Path(__file__).resolve().parents[2]
API_KEY = "AIzaSy-test-SECRET-key-answers-01234567"

CLIENT = r"""
import asyncio, resource, sys
from vidpipe.prompting.gemini import GeminiClient

async def main():
    async with GeminiClient(sys.argv[1], "gemini-2.5-flash", sys.argv[2], timeout_s=60) as client:
        results = await asyncio.gather(*(client.describe(b"\xff\xd8 not really", "hi")
                                         for _ in range(5)), return_exceptions=True)
    for result in results:
        print(type(result).__name__, str(result)[:120] if isinstance(result, Exception) else "")
    print("maxrss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)

asyncio.run(main())
"""


def client_run(server: FakeGemini) -> tuple[list[str], int]:
    """Five requests at once from a process of their own: their outcomes, its peak RSS."""
    out = subprocess.run(
        [sys.executable, "-c", CLIENT, API_KEY, server.base_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = out.stdout.splitlines()
    return lines[:-1], int(lines[-1].split()[1])


def test_a_body_that_never_ends_is_cut_off_and_memory_stays_flat():
    with FakeGemini() as normal:
        outcomes, baseline_kb = client_run(normal)
    assert all(line.startswith("Reply") for line in outcomes), outcomes
    with FakeGemini(rules=[Rule("", ENDLESS)]) as endless:
        outcomes, endless_kb = client_run(endless)
    assert len(outcomes) == 5
    assert all(
        line.startswith("AnswerFailure") and "larger than 4 MB" in line for line in outcomes
    ), outcomes
    # Five bodies cut at 4 MB each, against a process that read five small answers: a little
    # more, never the gigabytes an unbounded read takes.
    assert endless_kb / baseline_kb < 1.5, (endless_kb, baseline_kb)


def _gemini_body(text: str, usage: dict | None = None) -> dict:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage or {"promptTokenCount": 300, "candidatesTokenCount": 60},
        "modelVersion": "gemini-2.5-flash",
    }


def _answer(prompt: str, description: str = "A plain reference image.") -> str:
    return json.dumps(
        {"reverse_prompt": prompt, "visual_description": description, "quality_score": 7}
    )


def hostile(seen) -> tuple[int, dict | bytes, dict]:
    """Answers chosen by the asset name in the prompt."""
    if "deep_" in seen.prompt_text:
        depth = 200_000
        return 200, b'{"candidates": ' + b"[" * depth + b"]" * depth + b"}", {}
    if "huge_" in seen.prompt_text:
        return 200, _gemini_body(_answer("word " * 200_000)), {}
    if "tokens_" in seen.prompt_text:
        return (
            200,
            _gemini_body(
                _answer("a tidy prompt"),
                {
                    "promptTokenCount": 10**30,
                    "candidatesTokenCount": -5,
                    "thoughtsTokenCount": 10**30,
                    "totalTokenCount": 10**30,
                },
            ),
            {},
        )
    return 200, _gemini_body(_answer("an ordinary prompt")), {}


@pytest.fixture
def project(session):
    for index, name in enumerate(["deep_", "huge_", "tokens_", "fine_"]):
        Image.new("RGB", (64, 48), (40 * index, 90, 160)).save(session.project.root / f"{name}.png")
    reconcile(session.project, session.settings)
    return session


def run_prompts(session, server: FakeGemini, **changes) -> None:
    settings = session.settings.replace(
        gemini_api_key=API_KEY,
        gemini_base_url=server.base_url,
        prompt_timeout_s=20.0,
        prompt_max_retries=2,
        **changes,
    )
    ManifestingEngine(session.project, settings, stages=[PromptStage()]).process_manifest(
        Manifest.get()
    )


def test_hostile_answers_are_each_one_assets_error(project):
    with FakeGemini(raw_answer=hostile) as server:
        run_prompts(project, server)

    assets = {a.name: a for a in Asset.select()}
    assert assets["fine_"].reverse_prompt == "an ordinary prompt"
    assert "nests too deep" in " ".join(assets["deep_"].stage_errors.values())
    huge = " ".join(assets["huge_"].stage_errors.values())
    assert "reverse_prompt" in huge and "over the 4,000 vidpipe keeps" in huge
    assert not assets["deep_"].reverse_prompt and not assets["huge_"].reverse_prompt
    assert assets["tokens_"].reverse_prompt == "a tidy prompt"
    usage = PromptUsage.get(PromptUsage.asset == assets["tokens_"].id)
    assert (usage.input_tokens, usage.output_tokens, usage.thinking_tokens) == (0, 0, 0)
    assert all(row.cost_usd is None or row.cost_usd >= 0 for row in PromptUsage.select())


def test_a_retry_after_of_years_falls_back_to_the_normal_backoff(project):
    assert RetryPolicy().delay(1, retry_after=999_999_999.0) <= RetryPolicy().max_delay_s
    assert RetryPolicy().delay(1, retry_after=MAX_RETRY_AFTER_S) >= MAX_RETRY_AFTER_S
    with FakeGemini(
        rules=[Rule("fine_", RATE_LIMIT, times=1)], retry_after_s=999_999_999
    ) as server:
        run_prompts(project, server)  # returns: the run did not wait 31 years
    assert Asset.get(Asset.name == "fine_").reverse_prompt
    assert server.outcomes[RATE_LIMIT] == 1


def test_a_50_mb_prompt_planted_in_the_database_is_shown_cut(project):
    """A database from someone else can hold what no answer may: the grid reads at most
    SHOWN_CHARS of it, and the views say the rest is not shown."""
    from rich.console import Console

    from tui.rows import SHOWN_CHARS, load_rows
    from tui.widgets.asset_table import PROMPT_EXCERPT, _excerpt
    from tui.widgets.preview import details

    Asset.update(reverse_prompt="word " * 10_000_000).where(Asset.name == "fine_").execute()
    [row] = [r for r in load_rows(None) if r.name == "fine_"]
    assert len(row.reverse_prompt) == SHOWN_CHARS + 1
    assert len(_excerpt(row)) <= PROMPT_EXCERPT
    with open(os.devnull, "w") as sink:
        console = Console(width=80, record=True, file=sink)
        console.print(details(row))
    shown = console.export_text()
    assert "the rest is not shown" in shown and len(shown) < 3 * SHOWN_CHARS
