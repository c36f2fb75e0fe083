"""Faults of the team set-up, a fixed slice (the soak draws from all of them at random,
tests/scenarios/test_fault_soak.py, Redis wiped and a daemon frozen past its lease included):
a PostgreSQL restart mid-stage, a daemon whose clock is 5 hours ahead. Real servers of this
module's own, daemons as real processes (each loads the face models: about a minute and a half
a test on a busy two-core box, so the slice stays small).

After each (support.faults.check_healed): every image processed once, each AI answer written
once, Gemini asked at most once per image plus what was in flight, no run left unfinished,
every daemon alive and heartbeating, no loop of identical errors in the daemons' log."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from support.faults import (
    FAKETIME_LIB,
    SKEWED,
    check_healed,
    own_servers,
    postgres_restart,
    responding,
    run_in_stage,
    team_project,
    wait_for,
)
from support.team import drop_images

from vidpipe.store.models import Run, RunStatus


@pytest.fixture(scope="module")
def servers():
    with own_servers() as both:
        yield both


@pytest.fixture
def team(servers, tmp_path, monkeypatch):
    with team_project(servers, tmp_path, monkeypatch) as team:
        yield team


def test_postgres_restart_mid_stage(team, tmp_path):
    """Before: both daemons logged `connection already closed` every 3 s for ever and
    processed nothing more. Now they reconnect and finish every manifest."""
    for _ in range(2):
        team.start_daemon()
    wait_for(lambda: responding(team.daemons), what="both heartbeats")
    for seed, folder in enumerate(["alpha", "beta", "gamma"]):
        drop_images(team.root, tmp_path / "staging", folder, 4, seed)
    victim = wait_for(run_in_stage, what="a run half way through its prompts")
    in_flight = postgres_restart(team, victim)
    check_healed(team, uploaded=12, in_flight=in_flight)


@pytest.mark.skipif(
    not FAKETIME_LIB.exists(), reason="libfaketime missing (Debian: apt-get install libfaketime)"
)
def test_a_daemon_whose_clock_is_5_hours_ahead_takes_no_live_run_over(team, tmp_path):
    """Before: leases were stamped and judged by each host's clock; a daemon 5 h ahead saw
    every other daemon's lease as expired and took its running run over at once (and saw
    the others as not responding). Now the database server's clock decides."""
    team.gemini.latency_s = 1.0
    normal = team.start_daemon()
    wait_for(lambda: responding([normal]), what="the first daemon's heartbeat")
    drop_images(team.root, tmp_path / "staging", "alpha", 4, 0)
    run = wait_for(
        lambda: Run.get_or_none(Run.status == RunStatus.RUNNING),
        what="the first daemon running the drop",
    )
    skewed = team.start_daemon(SKEWED)
    wait_for(lambda: responding([normal, skewed]), what="both heartbeats")
    # The skewed box's own view of the team: the normal daemon is alive.
    cli = "import sys; from vidpipe.cli import main; sys.exit(main(sys.argv[1:]))"
    status = subprocess.run(
        [sys.executable, "-c", cli, "daemon", "status", str(team.root)],
        env={**os.environ, **team.env, **SKEWED},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "NOT RESPONDING" not in status.stdout, status.stdout
    assert "2 daemon(s) running" in status.stdout, status.stdout
    check_healed(team, uploaded=4, in_flight=0)
    finished = Run.get_by_id(run.id)
    assert (finished.worker_pid, finished.attempts) == (normal.pid, 1), (
        "the run stayed with the daemon that held it"
    )


def test_faketime_really_skews_a_process_clock():
    """The premise of the test above: a process under libfaketime sees another time."""
    if not FAKETIME_LIB.exists():
        pytest.skip("libfaketime missing")
    out = subprocess.run(
        [sys.executable, "-c", "import time; print(time.time())"],
        env={**os.environ, **SKEWED},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert float(out) - time.time() > 4.9 * 3600
