"""The pieces of reverse prompting on their own: retry policy, limiter, template, cache, offline."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from PIL import Image

from vidpipe.errors import ConfigError
from vidpipe.store.models import Asset, Manifest
from vidpipe.prompting import cache
from vidpipe.prompting.limiter import COUNTED_WINDOW_S, RequestLimiter
from vidpipe.prompting.offline import OFFLINE_LABEL, colour_name, dominant_colours, offline_prompt
from vidpipe.prompting.retry import (
    AnswerFailure,
    PermanentFailure,
    RetryPolicy,
    TransientFailure,
    parse_retry_after,
    retry_delay_from_details,
    with_retries,
)
from vidpipe.prompting.schema import ReversePrompt, ValidationError
from vidpipe.prompting.template import DEFAULT_TEMPLATE, PromptTemplate, asset_values, load_template


# -- retry ----------------------------------------------------------------------------------------
def test_backoff_grows_is_capped_and_honours_retry_after():
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=4.0)
    rng = random.Random(1)
    for number in range(1, 10):
        delay = policy.delay(number, rng=rng)
        assert 0 <= delay <= min(4.0, 0.5 * 2 ** (number - 1))
    for _ in range(50):
        assert 7.0 <= policy.delay(1, retry_after=7.0, rng=rng) <= 7.5


def test_retry_after_header_and_google_retry_info():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    details = {
        "error": {
            "code": 429,
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        }
    }
    assert retry_delay_from_details(details) == 37.0
    assert retry_delay_from_details({"error": {}}) is None


def _attempts(*outcomes):
    """An attempt function that raises/returns ``outcomes`` in turn; records its calls."""
    calls = []

    async def attempt():
        outcome = outcomes[len(calls)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return attempt, calls


async def _no_sleep(seconds):
    _no_sleep.waits.append(seconds)


def test_transient_failures_are_retried_within_the_budget():
    _no_sleep.waits = []
    attempt, calls = _attempts(
        TransientFailure("429", retry_after=2.0), TransientFailure("500"), "ok"
    )
    result = asyncio.run(with_retries(attempt, RetryPolicy(max_retries=3), sleep=_no_sleep))
    assert result == "ok" and len(calls) == 3
    assert _no_sleep.waits[0] >= 2.0  # Retry-After honoured

    attempt, calls = _attempts(*[TransientFailure("503")] * 4)
    with pytest.raises(TransientFailure, match="gave up after 3 retries"):
        asyncio.run(with_retries(attempt, RetryPolicy(max_retries=3), sleep=_no_sleep))
    assert len(calls) == 4


def test_bad_answers_are_retried_once_and_permanent_failures_never():
    _no_sleep.waits = []
    attempt, calls = _attempts(AnswerFailure("blocked"), AnswerFailure("blocked"), "never")
    with pytest.raises(AnswerFailure, match=r"blocked \(2 tries\)"):
        asyncio.run(with_retries(attempt, RetryPolicy(), sleep=_no_sleep))
    assert len(calls) == 2

    attempt, calls = _attempts(AnswerFailure("empty"), "ok")
    assert asyncio.run(with_retries(attempt, RetryPolicy(), sleep=_no_sleep)) == "ok"

    attempt, calls = _attempts(PermanentFailure("404 model not found"), "never")
    with pytest.raises(PermanentFailure):
        asyncio.run(with_retries(attempt, RetryPolicy(), sleep=_no_sleep))
    assert len(calls) == 1


# -- limiter --------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_per_minute_limit_holds_in_every_window():
    clock = FakeClock()
    limiter = RequestLimiter(concurrency=2, per_minute=3, clock=clock, sleep=clock.sleep)
    starts = []

    async def one():
        async with limiter.slot():
            starts.append(clock.now)

    async def main():
        await asyncio.gather(*(one() for _ in range(7)))

    asyncio.run(main())
    assert len(starts) == 7
    # Never more than 3 starts in any 60 s window, nor in the longer window counted here, so
    # that requests arriving at the service a moment after their start stay within it too.
    assert COUNTED_WINDOW_S > 60
    for start in starts:
        assert sum(1 for s in starts if start <= s < start + COUNTED_WINDOW_S) <= 3
    assert limiter.rate_waits >= 2 and limiter.peak_in_flight <= 2


def test_concurrency_slots_are_never_exceeded():
    limiter = RequestLimiter(concurrency=3, per_minute=0)

    async def main():
        gate = asyncio.Event()

        async def one():
            async with limiter.slot():
                await gate.wait()

        tasks = [asyncio.create_task(one()) for _ in range(10)]
        while limiter.in_flight < 3:
            await asyncio.sleep(0)
        for _ in range(20):  # let every other task try to get in
            await asyncio.sleep(0)
        in_flight = limiter.in_flight
        gate.set()
        await asyncio.gather(*tasks)
        return in_flight

    assert asyncio.run(main()) == 3
    assert limiter.peak_in_flight == 3 and limiter.started == 10


# -- schema, template -----------------------------------------------------------------------------
def test_schema_rejects_blank_fields_and_out_of_range_scores():
    ok = ReversePrompt.model_validate_json(
        '{"reverse_prompt": " a cat ", "visual_description": "A cat.", "quality_score": 8}'
    )
    assert ok.reverse_prompt == "a cat"
    for bad in (
        '{"reverse_prompt": "", "visual_description": "x", "quality_score": 5}',
        '{"reverse_prompt": "x", "visual_description": "x", "quality_score": 11}',
        '{"reverse_prompt": "x"}',
        '{"reverse_prompt": "x", "visual_descr',
    ):
        with pytest.raises(ValidationError):
            ReversePrompt.model_validate_json(bad)


def test_template_version_follows_the_text_and_custom_files(tmp_path):
    default = load_template(tmp_path, None)
    assert default == PromptTemplate.from_text(DEFAULT_TEMPLATE)
    assert len(default.version) == 12
    (tmp_path / "t.txt").write_text("Look at $name ($tag).\n$context", encoding="utf-8")
    custom = load_template(tmp_path, "t.txt")
    assert custom.version != default.version
    assert custom.render({"name": "hero", "tag": "CHAR_01", "context": "-"}).startswith(
        "Look at hero (CHAR_01)."
    )
    assert PromptTemplate.from_text("cost: $5 $name").render({"name": "x"}) == "cost: $5 x"
    with pytest.raises(ConfigError, match="cannot read"):
        load_template(tmp_path, "missing.txt")


def test_template_values_describe_a_crop_and_its_parent(session):
    manifest = Manifest.create(name="m", folder="")
    parent = Asset.create(
        manifest=manifest,
        name="street",
        file_path="street.jpg",
        content_hash="a",
        manifest_tag="ENV_01",
        asset_type="ENVIRONMENT",
    )
    crop = Asset.create(
        manifest=manifest,
        name="street person",
        file_path="c.jpg",
        content_hash="b",
        source="extracted",
        source_asset=parent,
        asset_type="CHARACTER",
        manifest_tag="CHAR_02",
        detection_class="person",
        detection_confidence=0.87,
    )
    values = asset_values(crop, parent)
    assert values["tag"] == "CHAR_02" and values["type"] == "CHARACTER"
    assert "Tag: CHAR_02" in values["context"]
    assert "crop from ENV_01 (street)" in values["context"]
    assert "a person (confidence 0.87)" in values["context"]
    assert "whole uploaded" in asset_values(parent, None)["context"]


# -- cache ----------------------------------------------------------------------------------------
def test_cache_round_trip_and_retag(session):
    key = cache.cache_key("hash", "gemini-x", "v1")
    assert key != cache.cache_key("hash", "gemini-y", "v1")
    assert key != cache.cache_key("hash", "gemini-x", "v2")
    assert cache.get(key) is None
    answer = ReversePrompt(
        reverse_prompt="CHAR_01, a man; CHAR_011 untouched",
        visual_description="CHAR_01 stands.",
        quality_score=6,
    )
    cache.put(key, answer, "CHAR_01", "gemini-x", "v1")
    cached = cache.get(key)
    assert cached.answer == answer and cached.subject_tag == "CHAR_01"
    moved = cache.retag(cached.answer, cached.subject_tag, "CHAR_04")
    assert moved.reverse_prompt == "CHAR_04, a man; CHAR_011 untouched"
    assert moved.visual_description == "CHAR_04 stands."


# -- offline --------------------------------------------------------------------------------------
def test_offline_prompt_names_colours_subject_and_size(session):
    assert colour_name((205, 25, 35)) == "red"
    half = Image.new("RGB", (200, 100), (20, 40, 200))
    half.paste((240, 215, 50), (100, 0, 200, 100))
    assert set(dominant_colours(half)) == {"blue", "yellow"}

    manifest = Manifest.create(name="m", folder="")
    parent = Asset.create(
        manifest=manifest,
        name="bus.jpg",
        file_path="bus.jpg",
        content_hash="p",
        width=800,
        height=600,
    )
    face = Asset.create(
        manifest=manifest,
        name="bus face",
        file_path="f.jpg",
        content_hash="f",
        source="extracted",
        source_asset=parent,
        is_face_crop=True,
        manifest_tag="CHAR_03",
        width=120,
        height=150,
        crop_bbox=[40, 50, 160, 200],
        asset_type="CHARACTER",
    )
    prompt, description = offline_prompt(face, parent, Image.new("RGB", (120, 150), (200, 30, 30)))
    assert prompt.startswith(OFFLINE_LABEL + "CHAR_03, close-up portrait of a face")
    assert "red" in prompt and "vertical" in prompt
    assert description.startswith(OFFLINE_LABEL + "Face crop CHAR_03 taken from bus.jpg (left")
    assert "120×150 px (low resolution)" in description and "GEMINI_API_KEY" in description
