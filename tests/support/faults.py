"""Faults of the team set-up (PostgreSQL + Redis + daemons as real processes) and the check
that follows each, shared by the fixed slice in tests/integration/test_fault_matrix.py and
the random draws of the soak (tests/scenarios/test_fault_soak.py).

A fault is a function ``fault(team, victim_run)`` run once a run is half way through a stage;
it returns how many Gemini requests it may have lost in flight (asked again afterwards)."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from support import waiting
from support.fake_gemini import FakeGemini
from support.servers import PostgresServer, RedisServer
from support.team import start_team_daemon

from vidpipe.ops import daemon_registry
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

TIMEOUT = 300
wait_for = partial(waiting.wait_for, timeout=TIMEOUT, interval=0.1)
FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
#: A process whose wall clock (time.time, datetime.now) is 5 h ahead. Its monotonic clock is
#: left alone: libfaketime's faked monotonic clock makes every timed wait (Event.wait(0.3))
#: hang for ever, which is not a fault a machine has.
SKEWED = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": "+5h", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


@dataclass
class Team:
    root: Path
    gemini: FakeGemini
    env: dict
    postgres: PostgresServer
    redis: RedisServer
    daemons: list[subprocess.Popen] = field(default_factory=list)

    def start_daemon(self, extra_env: dict | None = None) -> subprocess.Popen:
        # Each daemon as on a box of its own: its own temp folder, so its own one-job-per-box
        # lock (a frozen daemon holding this machine's lock would stall the others).
        box = self.root.parent / f"box-{len(self.daemons)}"
        box.mkdir(exist_ok=True)
        daemon = start_team_daemon(self.root, {**self.env, "TMPDIR": str(box), **(extra_env or {})})
        self.daemons.append(daemon)
        return daemon

    def stop(self) -> None:
        waiting.stop_processes(self.daemons)


def run_in_stage(stage: str = "prompts") -> Run | None:
    """A running run half way through ``stage`` (at least one item done)."""
    row = (
        StageProgress.select()
        .join(Run)
        .where(
            Run.status == RunStatus.RUNNING,
            StageProgress.stage == stage,
            StageProgress.status == StageStatus.RUNNING,
            StageProgress.done >= 1,
        )
        .first()
    )
    return row and Run.get_by_id(row.run_id)


def responding(daemons) -> bool:
    beating = {e.pid for e in daemon_registry.daemons() if e.responding}
    return all(d.poll() is None and d.pid in beating for d in daemons)


# -- the faults ---------------------------------------------------------------------------------
def postgres_restart(team: Team, victim: Run) -> int:
    """``pg_ctl restart -m fast``: every connection dropped, the server back at once."""
    team.postgres.restart()
    return 2  # the requests in flight whose answers could not be written


def postgres_down(team: Team, victim: Run, seconds: float = 30.0) -> int:
    """The database unreachable for ``seconds`` (shorter than a lease), then back."""
    team.postgres.shut_down()
    # The outage's length is the fault itself, not a wait for something to happen.
    restart = threading.Timer(seconds, team.postgres.start_again)
    restart.start()
    restart.join()
    return 2


def redis_wiped(team: Team, victim: Run) -> int:
    """Redis killed and started again empty (no persistence)."""
    team.redis.restart()
    return 2


def frozen_past_lease(team: Team, victim: Run) -> int:
    """The daemon running ``victim`` frozen (SIGSTOP) until another took its run over, then
    woken (SIGCONT): it must write nothing more for that run."""
    frozen = next(d for d in team.daemons if d.pid == victim.worker_pid)
    frozen.send_signal(signal.SIGSTOP)
    try:
        wait_for(
            lambda: Run.get_by_id(victim.id).worker_pid != frozen.pid,
            what="another daemon taking the frozen daemon's run over",
        )
    finally:
        frozen.send_signal(signal.SIGCONT)
    return 2


def skewed_clock(team: Team, victim: Run) -> int:
    """A third daemon joins whose clock is 5 hours ahead: it must take no live run over."""
    if not FAKETIME_LIB.exists():
        raise RuntimeError("libfaketime missing (Debian: apt-get install libfaketime)")
    team.start_daemon(SKEWED)
    return 0


FAULTS: dict[str, Callable[[Team, Run], int]] = {
    "postgres_restart": postgres_restart,
    "postgres_down_30s": postgres_down,
    "redis_wiped": redis_wiped,
    "frozen_past_lease": frozen_past_lease,
    "skewed_clock": skewed_clock,
}


# -- after a fault --------------------------------------------------------------------------------
def check_healed(team: Team, uploaded: int, in_flight: int) -> None:
    """Every image processed once, answers written once, requests bounded, no run left
    unfinished, every daemon alive and heartbeating, no loop of identical errors."""
    wait_for(lambda: all_processed(uploaded), what=f"all {uploaded} images processed")
    assets = list(Asset.select())
    paths = Counter(a.file_path for a in assets)
    assert [p for p, n in paths.items() if n > 1] == [], "no asset twice"
    for asset in assets:
        if asset.source == Source.UPLOADED:
            assert asset.prompt_origin == "gemini" and asset.reverse_prompt
    writes = Counter(
        e.asset_id
        for e in FieldEdit.select().where(
            FieldEdit.field == "reverse_prompt", FieldEdit.author == "ai"
        )
    )
    assert writes and max(writes.values()) == 1, "each answer written once"
    unfinished = [
        r.id
        for r in Run.select().where(
            Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED])
        )
    ]
    assert unfinished == []
    assert {r.status for r in Run.select()} <= {RunStatus.DONE, RunStatus.CANCELLED}
    prompted = sum(1 for a in assets if a.prompt_origin == "gemini")
    assert team.gemini.stats()["requests"] <= prompted + in_flight
    wait_for(lambda: responding(team.daemons), what="every daemon alive and heartbeating")
    assert_no_error_loop(team.root)


def all_processed(uploaded: int) -> bool:
    assets = list(Asset.select().where(Asset.source == Source.UPLOADED))
    active = Run.select().where(Run.status.in_([RunStatus.QUEUED, RunStatus.RUNNING])).count()
    return (
        len(assets) == uploaded
        and active == 0
        and all(a.state == AssetState.PROCESSED for a in assets)
    )


def daemon_log_problems(root: Path) -> list[str]:
    """The daemons' warnings and errors, without their time stamps."""
    log = (root / ".vidpipe" / "logs" / "daemon.log").read_text(errors="replace")
    return [
        re.sub(r"^\S+ \S+ ", "", line)
        for line in log.splitlines()
        if " WARNING " in line or " ERROR " in line
    ]


def assert_no_error_loop(root: Path) -> None:
    """Each distinct warning or error at most twice per daemon (a state change, not a loop)."""
    lines = daemon_log_problems(root)
    repeated = {line: n for line, n in Counter(lines).items() if n > 2}
    assert repeated == {}, repeated
    print("\n".join(["daemon warnings:", *lines]) if lines else "daemon warnings: none")


# -- set-up ---------------------------------------------------------------------------------------
@contextmanager
def own_servers() -> Iterator[tuple[object, object]]:
    """A PostgreSQL and a Redis server of the caller's own (faults restart them); skips, saying
    why, when one cannot be had."""
    import pytest

    from support.servers import PostgresServer, RedisServer, ServerUnavailable

    started: list = []
    try:
        for server_class in (PostgresServer, RedisServer):
            server = server_class()
            started.append(server)
            server.start()
    except ServerUnavailable as exc:
        for server in started:
            server.stop()
        pytest.skip(f"a server is unavailable: {exc}")
    try:
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


@contextmanager
def team_project(servers, tmp_path: Path, monkeypatch, latency_s: float = 0.4) -> Iterator[Team]:
    """A project on ``servers`` (PostgreSQL, Redis), set as the person's environment; the fake
    Gemini answers after ``latency_s``. No daemon yet: ``team.start_daemon()``."""
    from vidpipe.cli import main
    from vidpipe.store.database import open_database

    postgres, redis_server = servers
    redis_server.flush()
    url = postgres.create_database()
    with FakeGemini(latency_s=latency_s) as gemini:
        env = {
            "VIDPIPE_DATABASE_URL": url,
            "VIDPIPE_QUEUE_URL": redis_server.url(),
            "GEMINI_API_KEY": "test-key",
            "VIDPIPE_GEMINI_BASE_URL": gemini.base_url,
            "VIDPIPE_PROMPT_CONCURRENCY": "2",
            "VIDPIPE_PROMPT_OVERLAP": "false",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        root = tmp_path / "proj"
        assert main(["init", str(root)]) == 0
        database = open_database(url)
        team = Team(root, gemini, env, postgres, redis_server)
        try:
            yield team
        finally:
            team.stop()
            database.close()
