"""The shared Gemini limiter when Redis restarts empty (real redis-server): a request waits for
the server instead of failing, no slot stays taken, and the per-minute quota still holds."""

from __future__ import annotations

import asyncio
import threading

import pytest

from vidpipe.prompting.shared_limiter import SharedRequestLimiter, limit_keys


class Waited(Exception):
    """Raised by the recording sleep: the limiter asked to wait for the window."""


@pytest.fixture
def own_redis():
    from support.servers import RedisServer, ServerUnavailable

    server = RedisServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        pytest.skip(f"Redis unavailable: {exc}")
    yield server
    server.stop()


def limiter(server, per_minute: int = 3) -> SharedRequestLimiter:
    return SharedRequestLimiter(
        concurrency=2,
        per_minute=per_minute,
        redis_url=server.url(),
        api_key="k",
        model="m",
        slot_lease_s=60,
    )


async def use_slots(shared: SharedRequestLimiter, count: int) -> None:
    for _ in range(count):
        async with shared.slot():
            pass


def test_the_quota_holds_across_a_restart_that_empties_redis(own_redis):
    shared = limiter(own_redis, per_minute=3)
    asyncio.run(use_slots(shared, 3))
    own_redis.restart()  # empty: the three starts of the last minute are gone from Redis

    async def record(seconds: float) -> None:
        raise Waited

    shared._sleep = record
    with pytest.raises(Waited):  # without the starts told again, it would start at once
        asyncio.run(use_slots(shared, 1))
    assert shared.rate_waits == 1 and shared.started == 3
    in_flight, _ = limit_keys("k", "m")
    import redis

    assert redis.Redis.from_url(own_redis.url()).zcard(in_flight) == 0, "no slot left taken"
    shared.close()


def test_a_request_waits_for_redis_to_come_back(own_redis):
    shared = limiter(own_redis, per_minute=100)
    asyncio.run(use_slots(shared, 1))
    own_redis.kill()
    threading.Timer(1.0, own_redis.start_again).start()
    asyncio.run(use_slots(shared, 2))  # would raise ConnectionError without the wait
    assert shared.started == 3
    shared.close()
