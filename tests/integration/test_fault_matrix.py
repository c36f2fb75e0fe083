"""Faults of the team set-up, on real servers and real daemon processes: a PostgreSQL restart
mid-stage, Redis killed and started again empty, a daemon whose clock is 5 hours off.

After each: every image processed once (no asset twice, each AI answer written once), Gemini
asked at most once per image plus what was in flight, no run left unfinished, every daemon
alive and heartbeating, and no loop of identical errors in the daemons' log. The servers are
this module's own (the tests restart them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import pytest
from support import waiting
from support.fake_gemini import FakeGemini
from support.team import drop_images
from support.team import start_team_daemon as start_daemon

from vidpipe.cli import main
from vidpipe.ops import daemon_registry
from vidpipe.store.database import open_database
from vidpipe.store.models import (
    Asset,
    AssetState,
    FieldEdit,
    Run,
    RunStatus,
    Source,
    StageProgress,
    StageStatus,
)

TIMEOUT = 240
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
wait_for = partial(waiting.wait_for, timeout=TIMEOUT, interval=0.1)
#: A process whose wall clock (time.time, datetime.now) is 5 h ahead. Its monotonic clock is
#: left alone: libfaketime's faked monotonic clock makes every timed wait (Event.wait(0.3))
#: hang for ever, which is not a fault a machine has.
SKEWED = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": "+5h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@pytest.fixture(scope="module")
def servers():
    from support.servers import PostgresServer, RedisServer, ServerUnavailable

    started = []
    try:
        for server_class in (PostgresServer, RedisServer):
            server = server_class()
            started.append(server)
            server.start()
    except ServerUnavailable as exc:
        for server in started:
            server.stop()
        pytest.skip(f"a server is unavailable: {exc}")
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def team(servers, tmp_path, monkeypatch):
    """A project on this module's PostgreSQL and Redis; the fake Gemini answers after a delay.
    Yields (root, gemini, env, servers)."""
    postgres, redis_server = servers
    redis_server.flush()
    url = postgres.create_database()
    with FakeGemini(latency_s=0.4) as gemini:
        env = {"VIDPIPE_DATABASE_URL": url, "VIDPIPE_QUEUE_URL": redis_server.url(),
               "GEMINI_API_KEY": "test-key", "VIDPIPE_GEMINI_BASE_URL": gemini.base_url,
               "VIDPIPE_PROMPT_CONCURRENCY": "2", "VIDPIPE_PROMPT_OVERLAP": "false"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        root = tmp_path / "proj"
        assert main(["init", str(root)]) == 0
        database = open_database(url)
        yield root, gemini, env
        database.close()


def prompting_run() -> Run | None:
    row = (StageProgress.select().join(Run)
           .where(Run.status == RunStatus.RUNNING, StageProgress.stage == "prompts",
                  StageProgress.status == StageStatus.RUNNING, StageProgress.done >= 1)
           .first())
    return row and Run.get_by_id(row.run_id)


def all_processed(uploaded: int) -> bool:
    assets = list(Asset.select().where(Asset.source == Source.UPLOADED))
    active = Run.select().where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING])).count()
    return (len(assets) == uploaded and active == 0
            and all(a.state == AssetState.PROCESSED for a in assets))


def responding(daemons) -> bool:
    beating = {e.pid for e in daemon_registry.daemons() if e.responding}
    return all(d.poll() is None and d.pid in beating for d in daemons)


def check_outcome(root: Path, gemini: FakeGemini, daemons, uploaded: int,
                  in_flight: int) -> None:
    wait_for(lambda: all_processed(uploaded), what=f"all {uploaded} images processed")
    assets = list(Asset.select())
    paths = Counter(a.file_path for a in assets)
    assert [p for p, n in paths.items() if n > 1] == [], "no asset twice"
    for asset in assets:
        if asset.source == Source.UPLOADED:
            assert asset.prompt_origin == "gemini" and asset.reverse_prompt
    writes = Counter(e.asset_id for e in FieldEdit.select().where(
        FieldEdit.field == "reverse_prompt", FieldEdit.author == "ai"))
    assert writes and max(writes.values()) == 1, "each answer written once"
    unfinished = [r.id for r in Run.select().where(
        Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED]))]
    assert unfinished == []
    assert {r.status for r in Run.select()} <= {RunStatus.DONE, RunStatus.CANCELLED}
    prompted = sum(1 for a in assets if a.prompt_origin == "gemini")
    assert gemini.stats()["requests"] <= prompted + in_flight
    wait_for(lambda: responding(daemons), what="every daemon alive and heartbeating")
    assert_no_error_loop(root)


def assert_no_error_loop(root: Path) -> None:
    """Each distinct warning or error at most twice per daemon (a state change, not a loop)."""
    log = (root / ".vidpipe" / "logs" / "daemon.log").read_text(errors="replace")
    lines = [re.sub(r"^\S+ \S+ ", "", line) for line in log.splitlines()
             if " WARNING " in line or " ERROR " in line]
    repeated = {line: n for line, n in Counter(lines).items() if n > 2}
    assert repeated == {}, repeated


def test_postgres_restart_mid_stage(servers, team, tmp_path):
    """Before: both daemons logged `connection already closed` every 3 s for ever and
    processed nothing more. Now they reconnect and finish every manifest."""
    postgres, _ = servers
    root, gemini, env = team
    daemons = [start_daemon(root, env), start_daemon(root, env)]
    try:
        wait_for(lambda: responding(daemons), what="both heartbeats")
        for seed, folder in enumerate(["alpha", "beta", "gamma"]):
            drop_images(root, tmp_path / "staging", folder, 4, seed)
        wait_for(prompting_run, what="a run half way through its prompts")
        postgres.restart()
        # In flight at the restart, answered, and its write cut: asked again (2 slots).
        check_outcome(root, gemini, daemons, uploaded=12, in_flight=2)
    finally:
        waiting.stop_processes(daemons)


def test_redis_killed_and_started_again_empty(servers, team, tmp_path):
    """The queue is rebuilt from the database; the Gemini limiter's slots come back."""
    _, redis_server = servers
    root, gemini, env = team
    daemons = [start_daemon(root, env), start_daemon(root, env)]
    try:
        wait_for(lambda: responding(daemons), what="both heartbeats")
        for seed, folder in enumerate(["alpha", "beta"]):
            drop_images(root, tmp_path / "staging", folder, 4, seed)
        wait_for(prompting_run, what="a run half way through its prompts")
        redis_server.restart()
        check_outcome(root, gemini, daemons, uploaded=8, in_flight=2)
        assert gemini.stats()["peak_concurrency"] <= 2, "the shared limit held"
    finally:
        waiting.stop_processes(daemons)


@pytest.mark.skipif(not FAKETIME_LIB.exists(),
                    reason="libfaketime missing (Debian: apt-get install libfaketime)")
def test_a_daemon_whose_clock_is_5_hours_ahead_takes_no_live_run_over(team, tmp_path):
    """Before: leases were stamped and judged by each host's clock; a daemon 5 h ahead saw
    every other daemon's lease as expired and took its running run over at once (and saw
    the others as not responding). Now the database server's clock decides."""
    root, gemini, env = team
    gemini.latency_s = 1.0
    normal = start_daemon(root, env)
    skewed = None
    try:
        wait_for(lambda: responding([normal]), what="the first daemon's heartbeat")
        drop_images(root, tmp_path / "staging", "alpha", 4, 0)
        run = wait_for(lambda: Run.get_or_none(Run.status == RunStatus.RUNNING),
                       what="the first daemon running the drop")
        skewed_env = {**env, **SKEWED}
        skewed = start_daemon(root, skewed_env)
        wait_for(lambda: responding([normal, skewed]), what="both heartbeats")
        # The skewed box's own view of the team: the normal daemon is alive.
        cli = "import sys; from vidpipe.cli import main; sys.exit(main(sys.argv[1:]))"
        status = subprocess.run([sys.executable, "-c", cli, "daemon", "status", str(root)],
                                env={**os.environ, **skewed_env}, capture_output=True,
                                text=True, timeout=120, check=True)
        assert "NOT RESPONDING" not in status.stdout, status.stdout
        assert "2 daemon(s) running" in status.stdout, status.stdout
        check_outcome(root, gemini, [normal, skewed], uploaded=4, in_flight=0)
        finished = Run.get_by_id(run.id)
        assert (finished.worker_pid, finished.attempts) == (normal.pid, 1), \
            "the run stayed with the daemon that held it"
    finally:
        waiting.stop_processes([d for d in (normal, skewed) if d is not None])


def test_faketime_really_skews_the_daemon_clock():
    """The premise of the test above: a process under libfaketime sees another time."""
    if not FAKETIME_LIB.exists():
        pytest.skip("libfaketime missing")
    out = subprocess.run([sys.executable, "-c", "import time; print(time.time())"],
                         env={**os.environ, **SKEWED},
                         capture_output=True, text=True, check=True).stdout
    assert float(out) - time.time() > 4.9 * 3600
