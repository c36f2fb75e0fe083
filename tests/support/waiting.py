"""Waiting on a condition with a deadline, the one way tests synchronise with real processes
(daemons, servers, watchers): poll, return the first truthy value, fail loudly at the deadline.
No test asserts on how long it took; the deadline only stops a hung test."""

from __future__ import annotations

import subprocess
import time
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    what: str = "condition",
    timeout: float = 60.0,
    interval: float = 0.05,
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stop_processes(processes: Iterable[subprocess.Popen], timeout: float = 60.0) -> None:
    """SIGTERM every process still running, then wait for each; kill one that outlasts
    ``timeout`` (a test's clean-up must never hang on a stuck daemon)."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
