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

Redis restarted or wiped: a call that finds the server away waits for it with backoff (the
request waits, it does not fail). The in-flight slots are gone with the data, so none stays
stuck. The starts of the last minute would be gone too, and a full minute's quota could be
spent again at once: so each process remembers its own starts (with the server's times) and,
on its first call to a server that does not know them (a per-process marker key is missing),
records them again before counting. Starts of a process that asks nothing more after the wipe
are not told again; they are at most what it asked in its last minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator

from vidpipe.config.settings import Settings
from vidpipe.config.queues import shared_queue
from vidpipe.prompting.backend import GEMINI
from vidpipe.prompting.backend_choice import identity
from vidpipe.prompting.limiter import COUNTED_WINDOW_S, RequestLimiter

log = logging.getLogger(__name__)

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

# KEYS: the starts, this process's "the server knows my starts" marker. ARGV: token, limit,
# window, whether this process remembers starts, then (score, token) pairs of those starts.
# Returns {"reseed", 0} when the marker is missing and the starts were not sent, {"0", now}
# when the start is recorded (now: its score), else {seconds until the oldest start leaves the
# window, 0} (strings: Lua numbers become integers in a reply).
_RECORD_START = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 0 then
  if ARGV[4] == '1' and #ARGV < 5 then
    return {'reseed', '0'}
  end
  for i = 5, #ARGV, 2 do
    redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1])
  end
end
redis.call('SET', KEYS[2], '1', 'EX', math.ceil(window) + 60)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 60)
  return {'0', tostring(now)}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {tostring(tonumber(oldest[2]) + window - now), '0'}
"""

#: How long a request waits for an unreachable Redis server before it fails.
REDIS_PATIENCE_S = 120.0


def limit_keys(api_key: str | None, model: str) -> tuple[str, str]:
    """The Redis keys of the in-flight set and the start times for one API key and model."""
    scope = hashlib.sha256(f"{api_key or ''}\0{model}".encode()).hexdigest()[:16]
    return f"vidpipe:gemini:{scope}:in_flight", f"vidpipe:gemini:{scope}:starts"


class SharedRequestLimiter(RequestLimiter):
    """:class:`RequestLimiter` whose limits hold across processes, through Redis."""

    def __init__(
        self,
        concurrency: int,
        per_minute: int,
        redis_url: str,
        api_key: str | None,
        model: str,
        slot_lease_s: float,
    ):
        super().__init__(concurrency, per_minute)
        from vidpipe.extras import require

        require("scale", "a Redis queue_url", ("redis",))
        import redis

        self._redis = redis.Redis.from_url(redis_url)
        self._in_flight_key, self._starts_key = limit_keys(api_key, model)
        self._take_slot = self._redis.register_script(_TAKE_SLOT)
        self._record_start = self._redis.register_script(_RECORD_START)
        self._lease_s = slot_lease_s
        self._known_key = f"{self._starts_key}:known:{uuid.uuid4().hex}"
        self._my_starts: deque[tuple[float, str]] = deque()  # (server time, token)

    async def _call(self, function, *args, **kwargs):
        """A blocking round trip to Redis, off the event loop so other requests keep going;
        while the server is away (restarting), tried again with backoff."""
        import redis

        delay, since = 0.1, None
        while True:
            try:
                result = await asyncio.to_thread(function, *args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                now = time.monotonic()
                if since is None:
                    since = now
                    log.warning("Redis unreachable (%s); Gemini requests wait for it", exc)
                if now - since > REDIS_PATIENCE_S:
                    raise
                await self._sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if since is not None:
                log.info("Redis answers again after %.0f s", time.monotonic() - since)
            return result

    async def _wait_for_window(self) -> None:
        if not self.per_minute:
            return
        token = uuid.uuid4().hex
        reseed = False
        while True:
            args = [token, self.per_minute, COUNTED_WINDOW_S, "1" if self._my_starts else "0"]
            if reseed:
                args += [value for start in self._my_starts for value in start]
            answer, now = (
                float(v) if v != b"reseed" else v
                for v in await self._call(
                    self._record_start, keys=[self._starts_key, self._known_key], args=args
                )
            )
            if answer == b"reseed":  # the server lost this process's starts: tell them again
                reseed = True
                continue
            reseed = False
            if answer <= 0:
                self._remember(now, token)
                return
            self.rate_waits += 1
            await self._sleep(min(answer, 5.0))  # look again: another process may have gone

    def _remember(self, now: float, token: str) -> None:
        self._my_starts.append((now, token))
        while self._my_starts and self._my_starts[0][0] <= now - COUNTED_WINDOW_S:
            self._my_starts.popleft()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:  # this process's own share stays within the limit too
            token = uuid.uuid4().hex
            while not await self._call(
                self._take_slot,
                keys=[self._in_flight_key],
                args=[token, self.concurrency, self._lease_s],
            ):
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
        return SharedRequestLimiter(
            settings.prompt_concurrency,
            settings.prompt_requests_per_minute,
            url,
            key,
            backend.scope,
            slot_lease_s=settings.prompt_timeout_s + 30,
        )
    return RequestLimiter(settings.prompt_concurrency, settings.prompt_requests_per_minute)
