"""Several real daemons on one project: PostgreSQL database, Redis queue (real servers, see
conftest), the fake Gemini server at the service edge. Synchronisation by polling the database
with a deadline."""

from __future__ import annotations

import os
import signal
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from support import waiting
from support.fake_gemini import FakeGemini
from support.team import drop_images, start_team_daemon

from vidpipe.cli import main
from vidpipe.ops import daemon_registry
from vidpipe.store.database import open_database
from vidpipe.store.models import (
    Asset,
    AssetState,
    FieldEdit,
    Manifest,
    Run,
    RunStatus,
    Source,
    StageProgress,
    StageStatus,
)

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 240
pytestmark = pytest.mark.slow


wait_for = partial(waiting.wait_for, timeout=TIMEOUT, interval=0.1)


@pytest.fixture
def shared_project(tmp_path, postgres_url, redis_url, monkeypatch):
    """A project whose database is on PostgreSQL and whose queue is on Redis, both from the
    person's environment; the fake Gemini answers after a delay."""
    with FakeGemini(latency_s=0.4) as gemini:
        env = {
            "VIDPIPE_DATABASE_URL": postgres_url,
            "VIDPIPE_QUEUE_URL": redis_url,
            "GEMINI_API_KEY": "test-key",
            "VIDPIPE_GEMINI_BASE_URL": gemini.base_url,
            "VIDPIPE_PROMPT_CONCURRENCY": "2",
            # The kill below has to land inside the prompt stage. With the overlap on, a
            # quick machine answers every prompt while the faces run and the stage then
            # only writes cached answers, too fast to be caught half way (CI saw that).
            "VIDPIPE_PROMPT_OVERLAP": "false",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        root = tmp_path / "proj"
        assert main(["init", str(root)]) == 0
        database = open_database(postgres_url)
        yield root, gemini, env
        database.close()


start_daemon = start_team_daemon


def responding_pids() -> set[int]:
    return {e.pid for e in daemon_registry.daemons() if e.responding}


def test_two_daemons_one_killed_mid_run(shared_project, tmp_path, capsys):
    root, gemini, env = shared_project
    daemons = [start_daemon(root, env), start_daemon(root, env)]
    try:
        wait_for(lambda: responding_pids() == {d.pid for d in daemons}, what="both heartbeats")
        capsys.readouterr()
        assert main(["daemon", "status", str(root)]) == 0
        listed = capsys.readouterr().out
        assert "2 daemon(s) running" in listed
        for daemon in daemons:
            assert f":{daemon.pid}: since" in listed
        assert main(["daemon", "stop", str(root)]) == 1, "stop refuses a shared queue"
        assert "Stop each on its machine" in capsys.readouterr().err

        for seed, folder in enumerate(["alpha", "beta", "gamma"]):
            drop_images(root, tmp_path / "staging", folder, 4, seed)

        def prompting_run():
            row = (
                StageProgress.select()
                .join(Run)
                .where(
                    Run.status == RunStatus.RUNNING,
                    StageProgress.stage == "prompts",
                    StageProgress.status == StageStatus.RUNNING,
                    StageProgress.done >= 1,
                )
                .first()
            )
            return row and Run.get_by_id(row.run_id)

        victim_run = wait_for(prompting_run, what="a run half way through its prompts")
        victim = next(d for d in daemons if d.pid == victim_run.worker_pid)
        survivor = next(d for d in daemons if d is not victim)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)

        def all_processed():
            uploaded = list(Asset.select().where(Asset.source == Source.UPLOADED))
            active = (
                Run.select().where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING])).count()
            )
            return (
                len(uploaded) == 12
                and active == 0
                and all(a.state == AssetState.PROCESSED for a in uploaded)
            )

        wait_for(all_processed, what="every drop processed after the kill")
        assert survivor.poll() is None, "the survivor is still serving"

        taken_over = Run.get_by_id(victim_run.id)
        assert taken_over.status == RunStatus.DONE
        assert taken_over.worker_pid == survivor.pid, "the survivor finished the killed run"

        assets = list(Asset.select())
        paths = Counter(a.file_path for a in assets)
        assert [p for p, n in paths.items() if n > 1] == [], "no asset twice"
        assert {m.name for m in Manifest.select()} >= {"alpha", "beta", "gamma"}
        for asset in assets:
            if asset.source == Source.UPLOADED:
                assert asset.prompt_origin == "gemini" and asset.reverse_prompt
        # Each answer was written once: one AI history row per asset for the prompt field.
        writes = Counter(
            e.asset_id
            for e in FieldEdit.select().where(
                FieldEdit.field == "reverse_prompt", FieldEdit.author == "ai"
            )
        )
        assert writes and max(writes.values()) == 1
        for manifest in Manifest.select().where(Manifest.name.in_(["alpha", "beta", "gamma"])):
            tags = [a.manifest_tag for a in manifest.assets if a.state != AssetState.REMOVED]
            assert len(tags) == len(set(tags)) == 4
        # Requests in flight at the kill may be asked again; nothing else is.
        prompted = sum(1 for a in assets if a.prompt_origin == "gemini")
        assert gemini.stats()["requests"] <= prompted + 2

        capsys.readouterr()
        assert main(["daemon", "status", str(root)]) == 0
        listed = capsys.readouterr().out
        assert f":{victim.pid}: " in listed and "NOT RESPONDING" in listed
        assert "1 daemon(s) running" in listed
    finally:
        waiting.stop_processes(daemons)


def test_a_detached_daemon_on_a_shared_queue_is_ready_once_it_heartbeats(shared_project):
    """No project lock with a shared queue: `vidpipe-daemon --detach` and the TUI's D wait for
    the daemon's own heartbeat row instead (before, they waited out their whole deadline)."""
    from daemon.client import start_detached

    root, _, _ = shared_project
    started = start_detached(root, wait_s=TIMEOUT)
    try:
        assert started.ready, "the wait ended before the daemon was seen serving"
        assert started.pid in responding_pids()
    finally:
        os.kill(started.pid, signal.SIGTERM)
        wait_for(lambda: started.pid not in responding_pids(), what="the daemon to stop")
