"""Prompting limits shared by every process of a team, through the Redis server of the queue.

One API key has one quota (one GPU server one capacity), however many daemons (on however many
machines) use it. With a
Redis ``queue_url``, a request takes a slot in a Redis sorted set of requests in flight (at
most ``prompt_concurrency`` members, each with an expiry so a killed process's slots come back)
and records its start in a second sorted set (at most ``prompt_requests_per_minute`` starts in
the last 60 s, plus the margin of vidpipe.prompting.limiter). Both checks are Lua scripts,
atomic on the server, timed by the server's clock so machines with different clocks agree. The
keys are named after a hash of the API key and the model (for an OpenAI-compatible server, its
address too), never the key itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from contextlib import asynccontextmanager
from typing import AsyncIterator

from vidpipe.config.settings import Settings
from vidpipe.config.queues import shared_queue
from vidpipe.prompting.backend import GEMINI
from vidpipe.prompting.backend_choice import identity
from vidpipe.prompting.limiter import COUNTED_WINDOW_S, RequestLimiter

#: Seconds between two looks at a full limit.
POLL_S = 0.05

_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
  return 1
end
return 0
"""

# Returns "0" when the start is recorded, else the seconds until the oldest start leaves the
# window (a string: Lua numbers become integers in a reply).
_RECORD_START = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 60)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


def limit_keys(api_key: str | None, model: str) -> tuple[str, str]:
    """The Redis keys of the in-flight set and the start times for one API key and model."""
    scope = hashlib.sha256(f"{api_key or ''}\0{model}".encode()).hexdigest()[:16]
    return f"vidpipe:gemini:{scope}:in_flight", f"vidpipe:gemini:{scope}:starts"


class SharedRequestLimiter(RequestLimiter):
    """:class:`RequestLimiter` whose limits hold across processes, through Redis."""

    def __init__(self, concurrency: int, per_minute: int, redis_url: str,
                 api_key: str | None, model: str, slot_lease_s: float):
        super().__init__(concurrency, per_minute)
        from vidpipe.extras import require

        require("scale", "a Redis queue_url", ("redis",))
        import redis

        self._redis = redis.Redis.from_url(redis_url)
        self._in_flight_key, self._starts_key = limit_keys(api_key, model)
        self._take_slot = self._redis.register_script(_TAKE_SLOT)
        self._record_start = self._redis.register_script(_RECORD_START)
        self._lease_s = slot_lease_s

    async def _call(self, function, *args, **kwargs):
        # A blocking round trip to Redis; off the event loop so other requests keep going.
        return await asyncio.to_thread(function, *args, **kwargs)

    async def _wait_for_window(self) -> None:
        if not self.per_minute:
            return
        token = uuid.uuid4().hex
        while True:
            wait = float(await self._call(self._record_start, keys=[self._starts_key],
                                          args=[token, self.per_minute, COUNTED_WINDOW_S]))
            if wait <= 0:
                return
            self.rate_waits += 1
            await self._sleep(min(wait, 5.0))  # look again: another process may have gone

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:  # this process's own share stays within the limit too
            token = uuid.uuid4().hex
            while not await self._call(self._take_slot, keys=[self._in_flight_key],
                                       args=[token, self.concurrency, self._lease_s]):
                await self._sleep(POLL_S)
            try:
                await self._wait_for_window()
                async with self._on_the_wire():
                    yield
            finally:
                await self._call(self._redis.zrem, self._in_flight_key, token)

    def close(self) -> None:
        self._redis.close()


def make_limiter(settings: Settings) -> RequestLimiter:
    """Shared through Redis when the queue is on Redis (several daemons), else this process's."""
    url = settings.queue_url or ""
    if shared_queue(url):
        # A slot outlives any request (its timeout) so a live request never loses it; a killed
        # process's slot is free again after that long.
        backend = identity(settings)
        key = settings.gemini_api_key if backend.origin == GEMINI else settings.openai_api_key
        return SharedRequestLimiter(settings.prompt_concurrency,
                                    settings.prompt_requests_per_minute, url,
                                    key, backend.scope,
                                    slot_lease_s=settings.prompt_timeout_s + 30)
    return RequestLimiter(settings.prompt_concurrency, settings.prompt_requests_per_minute)
