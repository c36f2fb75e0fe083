"""The TUI through a PostgreSQL outage (a real server of this module's own, stopped and started
again): the daemon line says "database unreachable, retrying", then the TUI recovers by itself
and hears changes again on a new LISTEN connection."""

from __future__ import annotations

import pytest
from support.tui_support import SIZE, loaded, make_app, make_project, text_of, wait_for


@pytest.fixture(scope="module")
def own_server():
    from support.servers import PostgresServer, ServerUnavailable

    server = PostgresServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


async def test_the_tui_says_the_database_is_unreachable_and_recovers(
    own_server, tmp_path, monkeypatch
):
    from tui.widgets.job_panel import DaemonBar
    from vidpipe.store.models import Asset, utcnow

    monkeypatch.setenv("VIDPIPE_DATABASE_URL", own_server.create_database())
    project = make_project(tmp_path / "project", images=3)
    app = make_app(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot, 3)
        bar = screen.query_one(DaemonBar)
        own_server.shut_down()
        try:
            await wait_for(
                pilot,
                lambda: "database unreachable, retrying" in text_of(bar),
                timeout=60,
                what="the daemon line saying the database is away",
            )
        finally:
            own_server.start_again()
        await wait_for(
            pilot,
            lambda: "database unreachable" not in text_of(bar),
            timeout=60,
            what="the TUI noticing the database is back",
        )
        notes = [n.title for n in app._notifications]
        assert "Database unreachable, retrying" in notes and "Database back" in notes
        # Changes made elsewhere reach it again (a new LISTEN connection).
        Asset.update(name="renamed elsewhere", updated_at=utcnow()).where(
            Asset.name == "hero_00"
        ).execute()
        await wait_for(
            pilot,
            lambda: any(r.name == "renamed elsewhere" for r in screen.rows.values()),
            timeout=60,
            what="an edit made after the outage",
        )
