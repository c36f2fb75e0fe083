"""The fake Gemini server speaks what the real google-genai SDK sends and parses.

Each behaviour is checked through the SDK itself, so a change in the SDK's wire format shows up
here rather than as a puzzling stage failure.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from vidpipe.prompting.gemini import GeminiClient
from vidpipe.prompting.retry import AnswerFailure, AuthFailure, TransientFailure
from support.fake_gemini import (
    BAD_BODY,
    BLOCKED,
    EMPTY,
    HANG,
    MALFORMED,
    OK,
    PROMPT_BLOCKED,
    RATE_LIMIT,
    SERVER_ERROR,
    FakeGemini,
    Rule,
    most_within,
)

JPEG = bytes.fromhex("ffd8ffe000104a464946") + b"not really a jpeg"


def describe(
    server: FakeGemini, prompt="Tag: CHAR_07\nDescribe it.", timeout_s=5.0, api_key="k-123"
):
    async def main():
        async with GeminiClient(api_key, "gemini-test", server.base_url, timeout_s) as client:
            return (await client.describe(JPEG, prompt)).answer

    return asyncio.run(main())


def test_ok_answer_is_parsed_by_the_sdk_and_validated():
    with FakeGemini() as server:
        answer = describe(server)
        assert answer.reverse_prompt.startswith("CHAR_07")
        assert answer.quality_score == 7.5
        assert server.requests == 1 and server.outcomes[OK] == 1
        seen = server.seen[0]
        assert seen.model == "gemini-test" and seen.had_api_key
        assert seen.image_bytes == JPEG and seen.image_mime == "image/jpeg"
        assert "Describe it." in seen.prompt_text


def test_rate_limit_carries_retry_after_to_the_client():
    with FakeGemini(rules=[Rule("", RATE_LIMIT)], retry_after_s=3) as server:
        with pytest.raises(TransientFailure) as caught:
            describe(server)
    assert caught.value.retry_after == 3.0
    assert "429" in str(caught.value)


@pytest.mark.parametrize(
    "behaviour, failure, words",
    [
        (SERVER_ERROR, TransientFailure, "500"),
        (BAD_BODY, AnswerFailure, "not valid JSON"),
        (MALFORMED, AnswerFailure, "not valid JSON"),
        (BLOCKED, AnswerFailure, "SAFETY"),
        (PROMPT_BLOCKED, AnswerFailure, "blocked the request"),
        (EMPTY, AnswerFailure, "empty"),
    ],
)
def test_each_misbehaviour_is_classified(behaviour, failure, words):
    with FakeGemini(rules=[Rule("", behaviour)]) as server:
        with pytest.raises(failure, match=words):
            describe(server)
        assert server.outcomes[behaviour] == 1


def test_a_hanging_request_ends_in_a_timeout_and_stop_releases_it():
    with FakeGemini(rules=[Rule("", HANG)], hang_s=30) as server:
        with pytest.raises(TransientFailure, match="no answer"):
            describe(server, timeout_s=0.3)
        assert server.in_flight == 1  # still hanging on the server side
    deadline = time.monotonic() + 5  # stop() releases it: poll until the handler has returned
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 0


def test_rules_apply_a_limited_number_of_times_then_fractions_and_ok():
    with FakeGemini(rules=[Rule("flaky", SERVER_ERROR, times=1)]) as server:
        with pytest.raises(TransientFailure):
            describe(server, prompt="flaky asset")
        assert describe(server, prompt="flaky asset").reverse_prompt
        assert server.outcomes == {SERVER_ERROR: 1, OK: 1}


def test_a_wrong_key_is_refused_without_echoing_it():
    with FakeGemini(expected_api_key="right") as server:
        with pytest.raises(AuthFailure) as caught:
            describe(server, api_key="wrong-key-value")
    assert "refused the API key" in str(caught.value)
    assert "wrong-key-value" not in str(caught.value)


def test_counts_peak_concurrency():
    with FakeGemini(latency_s=0.2) as server:

        async def main():
            async with GeminiClient("k", "m", server.base_url, 5.0) as client:
                await asyncio.gather(*(client.describe(JPEG, f"p{i}") for i in range(4)))

        asyncio.run(main())
        assert server.requests == 4
        assert 2 <= server.peak_concurrency <= 4
        assert server.stats()["peak_per_minute"] == 4


def test_most_requests_within_any_window():
    assert most_within([], 60) == 0
    assert most_within([0.0, 1.0, 59.9, 60.0, 61.0, 200.0], 60) == 3  # e.g. 0, 1 and 59.9
    assert most_within([0.0, 30.0, 59.99, 89.0, 119.0], 60) == 3
    assert most_within([0.0, 60.0, 120.0], 60) == 1  # the window is half-open: [t, t + 60)


def test_runs_in_its_own_process_and_reports_stats():
    import json
    import subprocess
    import sys
    from urllib.request import urlopen

    process = subprocess.Popen(
        [sys.executable, "-m", "support.fake_gemini"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = process.stdout.readline().strip()

        async def main():
            async with GeminiClient("k", "m", base_url, 5.0) as client:
                return await client.describe(JPEG, "Tag: OBJ_02")

        assert asyncio.run(main()).answer.reverse_prompt.startswith("OBJ_02")
        with urlopen(f"{base_url}/_fake/stats", timeout=5) as response:
            stats = json.load(response)
        assert stats["requests"] == 1 and stats["outcomes"] == {OK: 1}
    finally:
        process.stdin.close()
        assert process.wait(timeout=10) == 0
