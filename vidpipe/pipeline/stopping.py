"""Why a running job should stop: a person cancelled it, or its process is shutting down.

The two end differently: a cancel ends the run CANCELLED (a person's decision, kept), a shutdown
ends it INTERRUPTED (queued again on the next start). One token carries both, so the code that
stops at the next item never has to guess which it was.
"""

from __future__ import annotations

import threading
from enum import StrEnum


class StopReason(StrEnum):
    CANCEL = "cancel"  # a person asked for the run to stop
    SHUTDOWN = "shutdown"  # the process is stopping; the run resumes later


class StopToken:
    """Set once; a person's cancel wins over a shutdown (the run ends CANCELLED, not resumed)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason: StopReason | None = None

    def cancel(self) -> None:
        with self._lock:
            self._reason = StopReason.CANCEL
        self._event.set()

    def shutdown(self) -> None:
        with self._lock:
            if self._reason is None:
                self._reason = StopReason.SHUTDOWN
        self._event.set()

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)
