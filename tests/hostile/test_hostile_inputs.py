"""Messages, not tracebacks: ``vidpipe edit --from`` on deep JSON, out-of-range integers, a FIFO
and text a megabyte long; ``vidpipe edit`` of an id with 23 digits; queue entries with an id of
10^30 or extra arguments, read by a real daemon; and an export of stored paths that lead out
and of answers carrying bidi overrides and line separators. Real CLI and daemon processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from huey.registry import Message
from PIL import Image

from support.daemons import start_daemon, stop_daemon, wait_for
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, Manifest, Run, RunStatus
from vidpipe.store.session import open_project

REPO = Path(__file__).resolve().parents[2]
CLI = "import sys; from vidpipe.cli import main; sys.exit(main())"


def vidpipe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
        check=False,
    )


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "project"
    with open_project(root, create=True) as session:
        Image.new("RGB", (40, 30), (200, 30, 30)).save(root / "hero.png")
        reconcile(session.project, session.settings)
    return root


def refused(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    text = result.stdout + result.stderr
    for fragment in fragments:
        assert fragment in text, text


def test_edit_from_refuses_deep_huge_and_blocking_input(project, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    refused(vidpipe("edit", str(project), "--from", str(deep)), "nests deeper")

    fifo = tmp_path / "edits.json"
    os.mkfifo(fifo)  # nobody ever writes to it: reading it would block for ever
    refused(vidpipe("edit", str(project), "--from", str(fifo)), "FIFO")


def test_edit_from_says_which_values_are_out_of_range(project, tmp_path):
    with open_project(project) as session:
        hero = Asset.get()
        assert session is not None
    records = [
        {"id": 2**64, "name": "x"},
        {
            "id": hero.id,
            "revision": 2**70,
            "sort_order": 10**30,
            "name": "n" * 10_000,
            "reverse_prompt": "a person's own words",
        },
    ]
    edits = tmp_path / "edits.json"
    edits.write_text(json.dumps(records))

    result = vidpipe("edit", str(project), "--from", str(edits))

    assert "Traceback" not in result.stderr, result.stderr
    text = result.stdout + result.stderr
    assert "out of range" in text and "over the 500 vidpipe keeps" in text
    with open_project(project) as session:
        hero = Asset.get_by_id(hero.id)
        assert session is not None
    assert hero.reverse_prompt == "a person's own words"  # the good field of the record landed
    assert hero.name == "hero" and hero.sort_order == 0
    refused(vidpipe("edit", str(project), "9" * 23, "name", "x"), "no asset")


def test_queue_entries_with_huge_ids_or_extra_arguments_are_dropped_with_a_message(project):
    from daemon.queue_format import PlainDataSerializer

    with open_project(project) as session:
        from daemon.client import enqueue_process
        from daemon.tasks import PROCESS_MANIFEST, forget_task_sets

        name = f"daemon.tasks.{PROCESS_MANIFEST}"
        serializer = PlainDataSerializer()
        planted = [
            serializer.serialize(Message(f"x{i}", name, None, 0, 0, 0, args, {}))
            for i, args in enumerate([(10**30,), (1, 2, 3), ("../../x",)])
        ]
        run = enqueue_process(project, Manifest.get().id)  # the real job, behind them
        forget_task_sets()
        with sqlite3.connect(session.project.queue_path) as queue_db:
            for data in planted:
                queue_db.execute(
                    "insert into task (queue, data, priority) values (?, ?, 100)",
                    ("vidpipe.pipeline", data),
                )
    daemon = start_daemon(project, "--no-watch")
    try:
        with open_project(project):
            wait_for(
                lambda: Run.get_by_id(run.id).status != RunStatus.QUEUED,
                what="the real job claimed",
            )
        assert daemon.poll() is None
    finally:
        stop_daemon(daemon)
    log = (project / ".vidpipe" / "logs" / "daemon.log").read_text()
    assert log.count("dropped a queue entry that is not a vidpipe job") >= 3
    assert "arguments other than a few ids or paths" in log
    assert "3 arguments where the task takes one run id" in log
    assert "Traceback" not in log, log


def test_the_export_leaves_out_paths_leading_out_and_escapes_bidi_text(project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "linked").symlink_to(outside)
    with open_project(project):
        hero = Asset.get()
        Asset.update(reverse_prompt="a hero\u202egnp.exe\u2028second line").where(
            Asset.id == hero.id
        ).execute()
        for index, path in enumerate(["../../etc/passwd", "linked/secret.png"]):
            Asset.create(
                manifest=hero.manifest,
                name=f"planted{index}",
                file_path=path,
                content_hash=f"planted{index}",
            )
    out = tmp_path / "export.json"

    result = vidpipe("export", str(project), "-o", str(out))

    assert result.returncode == 0, result.stderr
    raw = out.read_bytes()
    for char in ("\u202e", "\u2028"):
        assert char.encode() not in raw
    records = {r["name"]: r for r in json.loads(raw)["manifests"][0]["assets"]}
    assert records["hero"]["reverse_prompt"] == "a hero\u202egnp.exe\u2028second line"
    for name in ("planted0", "planted1"):
        assert records[name]["file"] is None
        assert "leads outside the project" in records[name]["file_problem"]
    assert records["hero"]["file"] == "hero.png"
