"""Fencing (vidpipe.store.fencing): once a run is not this process's any more, the database
itself refuses the writes of its work, on SQLite and on a real PostgreSQL server; and a lease's
expiry is judged by the database's clock, not the process's."""

from __future__ import annotations

import threading

import pytest

from vidpipe.errors import LeaseLost
from vidpipe.pipeline import runs
from vidpipe.store.clock import server_now
from vidpipe.store.database import open_database
from vidpipe.store.fencing import carrying_fence, fenced
from vidpipe.store.models import Asset, Manifest, Run, RunKind, db


@pytest.fixture(params=["sqlite", "postgresql"])
def bound(request, tmp_path):
    if request.param == "sqlite":
        database = open_database(f"sqlite:///{tmp_path / 'v.db'}")
    else:
        database = open_database(request.getfixturevalue("postgres_url"))
    yield database
    database.close()


def a_claimed_run() -> tuple[Run, Asset]:
    manifest = Manifest.create(name="m", folder="m")
    asset = Asset.create(manifest=manifest, name="a", file_path="m/a.jpg", content_hash="h")
    run = runs.create_run(RunKind.PROCESS, manifest_id=manifest.id)
    assert runs.claim(run.id)
    return run, asset


def from_another_process(update) -> None:
    """``update`` on a thread of its own: its own connection, no fence (a second daemon)."""
    thread = threading.Thread(target=lambda: (update(), db.close()))
    thread.start()
    thread.join()


def description(asset: Asset) -> str:
    return Asset.get_by_id(asset.id).description


def test_writes_of_a_run_taken_over_are_refused(bound):
    run, asset = a_claimed_run()
    with fenced(run.id, runs.this_owner()):
        Asset.update(description="mine").where(Asset.id == asset.id).execute()
        from_another_process(
            lambda: Run.update(lease_owner="box-b:7").where(Run.id == run.id).execute()
        )
        with pytest.raises(LeaseLost, match="no longer leased"):
            Asset.update(description="too late").where(Asset.id == asset.id).execute()
        with pytest.raises(LeaseLost), db.atomic():
            Asset.update(description="too late").where(Asset.id == asset.id).execute()
    assert description(asset) == "mine"
    # Outside the fence (the watcher, the heartbeat) writes go on as before.
    Asset.update(description="ingest").where(Asset.id == asset.id).execute()
    assert description(asset) == "ingest"


def test_an_expired_lease_fences_by_the_database_clock(bound):
    run, asset = a_claimed_run()
    from_another_process(
        lambda: Run.update(lease_expires_at=server_now(-1)).where(Run.id == run.id).execute()
    )
    assert not runs.holds(run.id)
    with fenced(run.id, runs.this_owner()), pytest.raises(LeaseLost):
        Asset.update(description="after expiry").where(Asset.id == asset.id).execute()
    assert description(asset) == ""
    # Renewed (nobody took it meanwhile): the writes go through again.
    assert runs.renew(run.id)
    with fenced(run.id, runs.this_owner()):
        Asset.update(description="renewed").where(Asset.id == asset.id).execute()
    assert description(asset) == "renewed"


def test_threads_doing_the_runs_work_carry_the_fence(bound):
    run, asset = a_claimed_run()
    Run.update(lease_owner="box-b:7").where(Run.id == run.id).execute()
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            Asset.update(description="from a thread").where(Asset.id == asset.id).execute()
            outcome.append(None)
        except LeaseLost as exc:
            outcome.append(exc)
        finally:
            db.close()

    with fenced(run.id, runs.this_owner()):
        thread = threading.Thread(target=carrying_fence(write))
        thread.start()
        thread.join()
    assert isinstance(outcome[0], LeaseLost)
    assert description(asset) == ""


def test_a_take_over_needs_the_lease_still_expired_when_it_writes(bound):
    """recover_abandoned reads an expired lease, the holder renews before the UPDATE: the run
    stays with its holder (the condition is in the take-over's own statement)."""
    run, _ = a_claimed_run()
    Run.update(lease_owner="box-b:7").where(Run.id == run.id).execute()  # renewed, 60 s left
    assert not runs._interrupt(run.id, "gone", "box-b:7", also=runs.lease_expired())
    assert Run.get_by_id(run.id).lease_owner == "box-b:7"
    Run.update(lease_expires_at=server_now(-1)).where(Run.id == run.id).execute()
    assert runs._interrupt(run.id, "gone", "box-b:7", also=runs.lease_expired())
