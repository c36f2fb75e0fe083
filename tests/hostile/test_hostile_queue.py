"""A queue file that came with someone else's project runs nothing: the real daemon started on a
queue.db holding planted pickles (which would create a marker file when unpickled) and other
garbage logs and drops them, and still processes the legitimate job queued behind them."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
from huey.registry import Message
from PIL import Image

from daemon.queue_format import PlainDataSerializer, UndecodableEntry
from support.daemons import start_daemon, stop_daemon, wait_for
from vidpipe.store.models import Run, RunStatus
from vidpipe.store.session import open_project


class _Payload:
    """Unpickling this creates ``marker``: what an attacker's queue entry would do."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def _garbage(marker: Path) -> list[bytes]:
    serializer = PlainDataSerializer()
    well_formed_unknown = serializer.serialize(
        Message("x1", "os.system", None, 0, 0, 0, ("touch /tmp/x",), {})
    )
    return [
        pickle.dumps(_Payload(marker)),
        # Huey's own (pickle) format of a vidpipe task, with the payload as its argument.
        pickle.dumps(
            Message("x2", "vidpipe.process_manifest", None, 0, 0, 0, (_Payload(marker),), {})
        ),
        b"\x00\xffnot anything",
        b"",
        b'{"format": "vidpipe-queue/1", "data": {"$eval": "1"}}',
        json.dumps(
            {
                "format": "vidpipe-queue/1",
                "data": {
                    "$message": {
                        "id": "x3",
                        "name": "vidpipe.process_manifest",
                        "args": [1],
                        "retries": 10**9,
                    }
                },
            }
        ).encode(),
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
    from daemon.client import enqueue_process
    from daemon.tasks import forget_task_sets, task_set
    from vidpipe.pipeline.ingest import reconcile
    from vidpipe.store.models import Manifest

    reconcile(session.project, session.settings)
    run = enqueue_process(root, Manifest.get().id)  # the legitimate job, behind the garbage below
    tasks = task_set(session.project)
    revoke_keys = [
        tasks.huey._task_key(task, "rt") for task in (tasks.process_manifest, tasks.reprocess_asset)
    ]
    forget_task_sets()
    with sqlite3.connect(session.project.queue_path) as queue_db:
        for data in _garbage(marker):
            queue_db.execute(
                "insert into task (queue, data, priority) values (?, ?, 100)",
                ("vidpipe.pipeline", data),
            )
            queue_db.execute(
                "insert into schedule (queue, data, timestamp) values (?, ?, 0)",
                ("vidpipe.pipeline", data),
            )
        # A planted revocation of every vidpipe task would silence the queue (or, read with
        # pickle, run the payload).
        for key in revoke_keys:
            queue_db.execute(
                "insert into kv (queue, key, value) values (?, ?, ?)",
                ("vidpipe.pipeline", key, pickle.dumps(_Payload(marker))),
            )
        queue_db.execute(
            "insert into task (queue, data, priority) values (?, ?, 100)",
            ("vidpipe.pipeline", "text, not bytes"),
        )

    daemon = start_daemon(root, "--no-watch")
    try:
        # The consumer read past the garbage queued before the job to claim it.
        wait_for(
            lambda: Run.get_by_id(run.id).status != RunStatus.QUEUED,
            what="the processing run claimed",
        )
        assert daemon.poll() is None
    finally:
        out = stop_daemon(daemon)
        session.close()
    assert not marker.exists()
    log = (root / ".vidpipe" / "logs" / "daemon.log").read_text()
    assert log.count("dropped a queue entry that is not a vidpipe job") >= 8
    assert "not JSON (a pickle?)" in log and "os.system not found" in log
    assert "Traceback" not in log, log
    assert daemon.returncode == 0, out
    with sqlite3.connect(root / ".vidpipe" / "queue.db") as queue_db:
        assert queue_db.execute("select count(*) from task where priority = 100").fetchone() == (0,)


def test_queue_entries_are_json_on_disk(tmp_path):
    session = open_project(tmp_path / "project", create=True)
    try:
        from daemon.client import enqueue_process
        from daemon.tasks import forget_task_sets
        from vidpipe.store.models import Manifest

        run = enqueue_process(session.project.root, Manifest.create(name="m", folder="m").id)
        forget_task_sets()
        with sqlite3.connect(session.project.queue_path) as queue_db:
            ((data,),) = queue_db.execute("select data from task").fetchall()
        entry = json.loads(bytes(data))
        assert entry["format"] == "vidpipe-queue/1"
        assert entry["data"]["$message"]["name"] == "daemon.tasks.vidpipe.process_manifest"
        assert entry["data"]["$message"]["args"] == {"$tuple": [run.id]}
    finally:
        session.close()
