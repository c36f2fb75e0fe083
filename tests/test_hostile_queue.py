"""A queue file that came with someone else's project runs nothing: the real daemon started on a
queue.db holding planted pickles (which would create a marker file when unpickled) and other
garbage logs and drops them, and still processes the legitimate job queued behind them."""

from __future__ import annotations

import json
import pickle
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from huey.registry import Message
from PIL import Image

from daemon.queue_format import PlainDataSerializer, UndecodableEntry
from test_daemon_process import REPO, start_daemon, stop_daemon, wait_for
from vidpipe.models import Asset, Run, RunStatus
from vidpipe.session import open_project


class _Payload:
    """Unpickling this creates ``marker``: what an attacker's queue entry would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _garbage(marker: Path) -> list[bytes]:
    serializer = PlainDataSerializer()
    well_formed_unknown = serializer.serialize(Message("x1", "os.system", None, 0, 0, 0,
                                                       ("touch /tmp/x",), {}))
    return [
        pickle.dumps(_Payload(marker)),
        # Huey's own (pickle) format of a vidpipe task, with the payload as its argument.
        pickle.dumps(Message("x2", "vidpipe.ingest_path", None, 0, 0, 0, (_Payload(marker),),
                             {})),
        b"\x00\xffnot anything",
        b"",
        b'{"format": "vidpipe-queue/1", "data": {"$eval": "1"}}',
        json.dumps({"format": "vidpipe-queue/1", "data": {"$message": {
            "id": "x3", "name": "vidpipe.process_manifest", "args": [1],
            "retries": 10**9}}}).encode(),
        well_formed_unknown,
        b"[" * 50_000,
    ]


def test_serializer_round_trips_plain_data_and_refuses_pickles(tmp_path):
    serializer = PlainDataSerializer()
    message = Message("id", "vidpipe.process_manifest", None, 2, 10, 5, (7,), {})
    assert serializer.deserialize(serializer.serialize(message)) == message
    for data in _garbage(tmp_path / "marker"):
        if b"os.system" in data:
            continue  # well-formed: refused later, by task name (see the daemon test)
        with pytest.raises(UndecodableEntry):
            serializer.deserialize(data)
    with pytest.raises(TypeError):
        serializer.serialize(Message("id", "t", args=(object(),)))
    assert not (tmp_path / "marker").exists()


def test_daemon_on_a_poisoned_queue_runs_nothing_and_keeps_working(tmp_path):
    marker = tmp_path / "pwned"
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_Payload(control)))  # the payload is live: unpickling it runs it
    assert control.exists()

    session = open_project(tmp_path / "project", create=True)
    root = session.project.root
    image = root / "legit.jpg"
    Image.new("RGB", (96, 64), (20, 120, 200)).save(image)
    from daemon.client import enqueue_ingest
    from daemon.queue import forget_queues, get_queues

    enqueue_ingest(root, image)  # the legitimate job, queued behind the garbage below
    queues = get_queues(session.project)
    revoke_keys = [huey._task_key(task, "rt") for huey, task in (
        (queues.io, queues.tasks.ingest_path), (queues.pipeline, queues.tasks.process_manifest))]
    forget_queues()
    with sqlite3.connect(session.project.queue_path) as queue_db:
        for queue in ("vidpipe.io", "vidpipe.pipeline"):
            for data in _garbage(marker):
                queue_db.execute("insert into task (queue, data, priority) values (?, ?, 100)",
                                 (queue, data))
                queue_db.execute("insert into schedule (queue, data, timestamp) values (?, ?, 0)",
                                 (queue, data))
            # A planted revocation of every vidpipe task would silence the queue (or, read
            # with pickle, run the payload).
            for key in revoke_keys:
                queue_db.execute("insert into kv (queue, key, value) values (?, ?, ?)",
                                 (queue, key, pickle.dumps(_Payload(marker))))
        queue_db.execute("insert into task (queue, data, priority) values (?, ?, 100)",
                         ("vidpipe.io", "text, not bytes"))

    daemon = start_daemon(root, "--no-watch")
    try:
        asset = wait_for(lambda: Asset.get_or_none(Asset.file_path == "legit.jpg"),
                         what="the queued ingest job")
        # Ingest queued processing; the pipeline consumer read past its own garbage to claim it.
        wait_for(lambda: Run.select().where(Run.manifest == asset.manifest_id,
                                            Run.status != RunStatus.QUEUED).exists(),
                 what="the processing run claimed")
        assert daemon.poll() is None
    finally:
        out = stop_daemon(daemon)
        session.close()
    assert not marker.exists()
    log = (root / ".vidpipe" / "logs" / "daemon.log").read_text()
    assert log.count("dropped a queue entry that is not a vidpipe job") >= 2 * 8
    assert "not JSON (a pickle?)" in log and "os.system not found" in log
    assert "Traceback" not in log, log
    assert daemon.returncode == 0, out
    with sqlite3.connect(root / ".vidpipe" / "queue.db") as queue_db:
        assert queue_db.execute("select count(*) from task where priority = 100").fetchone() == (0,)


def test_queue_entries_are_json_on_disk(tmp_path):
    session = open_project(tmp_path / "project", create=True)
    try:
        from daemon.client import enqueue_ingest
        from daemon.queue import forget_queues

        enqueue_ingest(session.project.root, session.project.root / "a.jpg")
        forget_queues()
        with sqlite3.connect(session.project.queue_path) as queue_db:
            (data,), = queue_db.execute("select data from task").fetchall()
        entry = json.loads(bytes(data))
        assert entry["format"] == "vidpipe-queue/1"
        # Relative to the project root: a daemon on another machine may mount it elsewhere.
        assert entry["data"]["$message"]["args"] == {"$tuple": ["a.jpg"]}
    finally:
        session.close()
