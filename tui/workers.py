"""Running blocking core calls from worker threads."""

from __future__ import annotations

import functools
import logging

from vidpipe.store.models import db

log = logging.getLogger("vidpipe.tui")


def db_thread(function):
    """Give the call its own database connection, closed when it returns (one per thread)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not db.is_closed():  # this thread already has one (e.g. a test calling directly)
            return function(*args, **kwargs)
        with db.connection_context():
            return function(*args, **kwargs)

    return wrapper


def describe_error(error: BaseException) -> str:
    from vidpipe.errors import VidpipeError

    if isinstance(error, VidpipeError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class ReportsWorkerErrors:
    """Mixin for the nodes that start workers: a failed worker becomes a notification (worker
    state messages do not bubble, so each such node handles its own)."""

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if not type(error).__module__.startswith("vidpipe"):
            log.error("worker %s failed", event.worker.name, exc_info=error)
        self.notify(describe_error(error), title="Error", severity="error", timeout=10)
