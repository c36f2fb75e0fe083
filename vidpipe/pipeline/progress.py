"""Progress rows: how a worker tells every other process what it is doing.

Writes are throttled (at most one every ``interval`` seconds per stage, plus the final one) and
each is its own short transaction, so a stage never holds the write lock during heavy work.
"""

from __future__ import annotations

import time
from typing import Callable

from vidpipe.store.models import ItemError, StageProgress, StageStatus, utcnow

Listener = Callable[[StageProgress], None]


class ProgressReporter:
    def __init__(
        self, row: StageProgress, interval: float = 0.25, listener: Listener | None = None
    ):
        self.row = row
        self.interval = interval
        self.listener = listener
        self._last_write = 0.0

    # -- what stages call ------------------------------------------------------------------------
    def start(self, total: int, message: str | None = None) -> None:
        self.row.status = StageStatus.RUNNING
        self.row.total = total
        self.row.done = 0
        self.row.errors = 0
        self.row.started_at = self.row.started_at or utcnow()
        if message is not None:
            self.row.message = message
        self._write(force=True)

    def add_total(self, extra: int) -> None:
        self.row.total += extra
        self._write()

    def item(self, name: str | None) -> None:
        """Say which item is being worked on now."""
        self.row.current_item = (name or "")[:250] or None
        self._write()

    def advance(self, count: int = 1, item: str | None = None) -> None:
        self.row.done += count
        if item is not None:
            self.row.current_item = item[:250]
        self._write()

    def error(self, asset, message: str) -> None:
        """Record a per-asset failure; the stage goes on with the others."""
        self.row.errors += 1
        ItemError.create(
            run=self.row.run_id,
            stage=self.row.stage,
            asset=asset.id if asset is not None else None,
            message=message,
        )
        self._write(force=True)

    def message(self, text: str) -> None:
        self.row.message = text
        self._write(force=True)

    # -- what the engine calls -------------------------------------------------------------------
    def finish(self, status: StageStatus, message: str | None = None) -> None:
        self.row.status = status
        if message is not None:
            self.row.message = message
        self.row.current_item = None
        self.row.finished_at = utcnow()
        self._write(force=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_write < self.interval:
            return
        self._last_write = now
        self.row.updated_at = utcnow()
        self.row.save()
        if self.listener is not None:
            self.listener(self.row)
