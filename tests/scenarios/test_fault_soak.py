"""The soak's fault draws (make soak N=...): N faults of the team set-up drawn at random from
support.faults.FAULTS (PostgreSQL restarted or away for 30 s, Redis wiped, a daemon frozen
past its lease, a daemon whose clock is 5 h ahead), each at a random point of a random drop,
each checked as the fixed slice checks it. Each prints its seed; --soak-seed=S replays."""

from __future__ import annotations

import pytest
from support.fault_draws import FaultDraw
from support.faults import (
    FAULTS,
    check_healed,
    own_servers,
    responding,
    run_in_stage,
    team_project,
    wait_for,
)
from support.team import drop_images

pytestmark = pytest.mark.soak


@pytest.fixture(scope="module")
def servers():
    with own_servers() as both:
        yield both


def test_soak_fault(soak_fault: FaultDraw, servers, tmp_path, monkeypatch):
    print(f"\nfault draw {soak_fault.name} (replay: make soak N=1 SEED={soak_fault.seed})")
    with team_project(servers, tmp_path, monkeypatch, latency_s=1.0) as team:
        for _ in range(2):
            team.start_daemon()
        wait_for(lambda: responding(team.daemons), what="both heartbeats")
        for index in range(soak_fault.manifests):
            drop_images(
                team.root,
                tmp_path / "staging",
                f"m{index}",
                soak_fault.images,
                soak_fault.seed + index,
            )
        victim = wait_for(
            lambda: run_in_stage(soak_fault.stage),
            what=f"a run half way through {soak_fault.stage}",
        )
        assert victim is not None
        in_flight = FAULTS[soak_fault.fault](team, victim)
        check_healed(team, uploaded=soak_fault.manifests * soak_fault.images, in_flight=in_flight)
