"""Pacing requests: at most N in flight, at most M started in any 60-second window.

A request holds its slot only while it is on the wire: a retry waiting out its backoff gives the
slot back, so one rate-limited asset does not idle a fifth of the capacity.

A start is counted when the slot is granted; the request reaches the service a moment later
(connection, SDK, other requests on the same event loop: ~0.1 s for a burst on a quiet machine,
more under load), and the first of a burst later than those sent once the window has room. The
service counts arrivals: windows of exactly 60 s here let it see more than M within its 60 s
(bench/scaleout.py measured 48 of 30). So the window counted here is longer by COUNTING_MARGIN_S.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

WINDOW_S = 60.0
#: Seconds added to the window, for the delay between a start and its arrival at the service.
COUNTING_MARGIN_S = 2.0
#: The window this side counts starts in.
COUNTED_WINDOW_S = WINDOW_S + COUNTING_MARGIN_S


class RequestLimiter:
    def __init__(
        self,
        concurrency: int,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.per_minute = max(0, per_minute)  # 0: no per-minute limit
        self._clock = clock
        self._sleep = sleep
        self._slots = asyncio.Semaphore(concurrency)
        self._starts: deque[float] = deque()
        self._window_lock = asyncio.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.started = 0
        self.rate_waits = 0

    async def _wait_for_window(self) -> None:
        """Block until starting one more request keeps the last 60 s at or under the limit."""
        if not self.per_minute:
            return
        async with self._window_lock:
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= COUNTED_WINDOW_S:
                    self._starts.popleft()
                if len(self._starts) < self.per_minute:
                    self._starts.append(now)
                    return
                self.rate_waits += 1
                await self._sleep(COUNTED_WINDOW_S - (now - self._starts[0]))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            await self._wait_for_window()
            async with self._on_the_wire():
                yield

    def close(self) -> None:
        """Nothing held here; a shared limiter lets go of its server connection."""

    @asynccontextmanager
    async def _on_the_wire(self) -> AsyncIterator[None]:
        """Counts one request while it is sent (the figures the benchmarks and tests read)."""
        self.in_flight += 1
        self.started += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
