"""Asking the daemon for work: the TUI's only door to the job queue.

Everything goes through ``daemon.client`` (a light module: it creates the Run row and puts the
run id on the queue), imported on first use so that opening the TUI costs nothing. All of these
block briefly on the database and run in worker threads.
"""

from __future__ import annotations

from pathlib import Path

from vidpipe.errors import VidpipeError


def _client():
    try:
        from daemon import client
    except ImportError as exc:  # an install without the daemon package
        raise VidpipeError(f"the job daemon is not installed ({exc})") from None
    return client


def queue_process(root: Path, manifest_id: int, mode: str = "missing") -> int:
    return _client().enqueue_process(root, manifest_id, mode=mode, requested_by="tui").id


def queue_reprocess(root: Path, asset_ids: list[int], overwrite: bool = False) -> list[int]:
    client = _client()
    return [
        client.enqueue_reprocess(root, asset_id, overwrite=overwrite, requested_by="tui").id
        for asset_id in asset_ids
    ]


def cancel(run_id: int) -> bool:
    return bool(_client().cancel_run(run_id))


def start_daemon(root: Path):
    """The daemon started: ``.pid`` and ``.ready`` (serving the project when the wait ended)."""
    return _client().start_detached(root)
