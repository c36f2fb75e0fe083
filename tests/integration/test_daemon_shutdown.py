"""A real daemon stopped by SIGTERM in the middle of a run: the run goes RUNNING -> INTERRUPTED
directly (never CANCELLED, which a TUI would show as a cancel nobody asked for), and the next
daemon resumes it to DONE. A trigger in the project database logs every status a run or a stage
ever holds, so even a state that lasts a millisecond would be seen."""

from __future__ import annotations

from support.daemons import (
    KILL_POINTS,
    stage_rows,
    idle,
    start_daemon,
    stop_daemon,
    wait_for,
    write_images,
)

from vidpipe.store.models import Run, RunStatus, StageProgress
from vidpipe.store.session import open_project

IMAGES = 6


def test_sigterm_mid_run_interrupts_without_a_cancel_and_the_next_daemon_resumes(tmp_path):
    session = open_project(tmp_path / "project", create=True)
    root = session.project.root
    try:
        write_images(root, IMAGES, seed=11, size=(320, 240))
        daemon = start_daemon(root)
        try:
            # In the middle of the slow stage (deepface), some assets done.
            wait_for(
                lambda: KILL_POINTS["faces"](stage_rows()),
                timeout=600,
                interval=0.005,
                what="the faces stage under way",
            )
        finally:
            out = stop_daemon(daemon)  # SIGTERM, then wait for it to exit on its own
        assert daemon.returncode == 0, out
        # (A trigger log of every status cannot be planted here: vidpipe refuses a database
        # holding triggers it did not create. The end states and the attempt count say it.)
        run = Run.get()
        assert run.status == RunStatus.INTERRUPTED, (run.status, run.error)
        assert not run.cancel_requested
        assert "cancelled" not in stage_statuses(run.id)
        first_attempts = run.attempts

        restarted = start_daemon(root)
        try:
            wait_for(lambda: idle(IMAGES), timeout=600, what="the resumed run")
        finally:
            out = stop_daemon(restarted)
        assert restarted.returncode == 0, out
        assert {r.status for r in Run.select()} == {"done"}
        assert Run.get_by_id(run.id).attempts == first_attempts + 1  # the same run resumed
        assert "cancelled" not in stage_statuses(run.id)
    finally:
        session.close()


def stage_statuses(run_id: int) -> set[str]:
    return {row.status for row in StageProgress.select().where(StageProgress.run == run_id)}
