"""The connection layer after a real PostgreSQL restart (vidpipe.store.reconnect): statements
reconnect by themselves, a transaction cut by the restart is rolled back whole and says so, a
server that stays down gives one clear error, and an outage is logged once, not per retry."""

from __future__ import annotations

import logging
import threading

import pytest

from vidpipe.errors import DatabaseUnreachable
from vidpipe.store.database import open_database
from vidpipe.store.models import KeyValue, db
from vidpipe.store.reconnect import OutageLog, wait_for_database


@pytest.fixture(scope="module")
def own_server():
    """A server of this module's own: the tests restart it."""
    from support.servers import PostgresServer, ServerUnavailable

    server = PostgresServer()
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


@pytest.fixture
def database(own_server):
    database = open_database(own_server.create_database())
    database.patience_s = 1.0
    yield database
    if not database.is_closed():
        database.close()


def value(key: str):
    return KeyValue.get(KeyValue.key == key).value


def test_a_statement_after_a_restart_reconnects_by_itself(own_server, database):
    KeyValue.create(key="a", value=1)
    own_server.restart()
    assert value("a") == 1
    KeyValue.update(value=2).where(KeyValue.key == "a").execute()
    assert value("a") == 2


def test_a_transaction_cut_by_a_restart_is_rolled_back_whole(own_server, database):
    KeyValue.create(key="a", value=1)
    KeyValue.create(key="b", value=1)
    with pytest.raises(DatabaseUnreachable, match="cannot be reached"), db.atomic():
        KeyValue.update(value=2).where(KeyValue.key == "a").execute()
        own_server.restart()
        KeyValue.update(value=2).where(KeyValue.key == "b").execute()
    # Neither half was kept; the connection is back for the retry of the whole unit.
    assert (value("a"), value("b")) == (1, 1)
    with db.atomic():
        KeyValue.update(value=2).where(KeyValue.key.in_(["a", "b"])).execute()
    assert (value("a"), value("b")) == (2, 2)


def test_a_server_that_stays_down_gives_one_clear_error_then_comes_back(own_server, database):
    KeyValue.create(key="a", value=1)
    own_server.shut_down()
    try:
        with pytest.raises(DatabaseUnreachable) as raised:
            value("a")
        assert f":{own_server.port}/" in str(raised.value)
        assert "Connection refused" in str(raised.value)
        threading.Timer(0.5, own_server.start_again).start()
        assert wait_for_database(db.obj, lambda: False)
    finally:
        if own_server.process.poll() is not None:
            own_server.start_again()
    assert value("a") == 1


def test_an_outage_is_logged_when_it_begins_and_when_it_ends(caplog):
    outage = OutageLog(logging.getLogger("t"), "heartbeat")
    with caplog.at_level(logging.INFO, logger="t"):
        for _ in range(50):
            outage.failed(DatabaseUnreachable("the database server x cannot be reached"))
        outage.failed(RuntimeError("something else"))
        outage.failed(RuntimeError("something else"))
        outage.succeeded()
        outage.succeeded()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines
    assert lines[0].startswith("heartbeat failed (DatabaseUnreachable")
    assert "RuntimeError: something else" in lines[1]
    assert lines[2].startswith("heartbeat works again after")
