"""The TUI with the real daemon: D starts one detached for the project, r queues a reprocess,
the daemon runs it, and the dashboard shows the job finish. Synchronised by polling."""

from __future__ import annotations

import os
import signal
import time

from support.tui_support import make_project, text_of, wait_for

from support.tui_support import SIZE, asset_named, loaded, make_app


async def test_start_daemon_with_one_key_then_reprocess_runs(tmp_path):
    from vidpipe.ops.daemon_state import daemon_status
    from vidpipe.store.models import Run

    root = make_project(tmp_path / "project", images=2)
    app = make_app(root)
    pid = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await loaded(pilot, 2)
            bar = screen.query_one("#daemon")
            await wait_for(pilot, lambda: "no daemon runs" in text_of(bar), what="no daemon")
            await pilot.press("D")
            status = await wait_for(
                pilot,
                lambda: daemon_status(root).running and daemon_status(root),
                timeout=60,
                what="daemon start",
            )
            pid = status.pid
            await wait_for(
                pilot,
                lambda: f"daemon pid {pid}" in text_of(bar),
                timeout=30,
                what="heartbeat on screen",
            )

            # The daemon first processes what it found; then our reprocess jumps the queue.
            await pilot.press("r")
            run = await wait_for(
                pilot, lambda: Run.get_or_none(Run.kind == "reprocess"), what="reprocess queued"
            )
            assert run.asset_id == asset_named("hero_00").id
            done = await wait_for(
                pilot,
                lambda: (
                    Run.get_by_id(run.id).status in ("done", "failed") and Run.get_by_id(run.id)
                ),
                timeout=180,
                what="the daemon running the reprocess",
            )
            assert done.status == "done", done.error
            assert done.worker_pid == pid
            panel = screen.query_one("#job-panel")
            await wait_for(
                pilot,
                lambda: (
                    screen.snapshot.focus is not None
                    and not screen.snapshot.running
                    and not screen.snapshot.queued
                ),
                timeout=120,
                what="queue drained",
            )
            assert "done" in text_of(panel)
    finally:
        pid = pid or daemon_status(root).pid
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while daemon_status(root).running and time.monotonic() < deadline:
                time.sleep(0.1)  # waiting for the process to exit, not synchronising a test
