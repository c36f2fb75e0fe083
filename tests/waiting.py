"""Waiting on a condition with a deadline, the one way tests synchronise with real processes
(daemons, servers, watchers): poll, return the first truthy value, fail loudly at the deadline.
No test asserts on how long it took; the deadline only stops a hung test."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], what: str = "condition", timeout: float = 60.0,
             interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
