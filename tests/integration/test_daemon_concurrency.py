"""While the daemon processes, another process edits prompts every few milliseconds: no
"database is locked" reaches either side and no edit is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from support.daemons import REPO, idle, start_daemon, stop_daemon, wait_for, write_images

from vidpipe.store.edits import user_edited_fields
from vidpipe.pipeline.ingest import reconcile
from vidpipe.store.models import Asset, FieldEdit, Run, RunStatus
from vidpipe.store.session import open_project

EDITOR = textwrap.dedent("""
    import json, sys, time
    from vidpipe.store.edits import edit_field
    from vidpipe.store.models import Asset
    from vidpipe.store.session import open_project

    root, ids, rounds = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
    session = open_project(root)
    last, errors, count = {}, [], 0
    for n in range(rounds):
        for asset_id in ids:
            value = f"person edit {n} of asset {asset_id}"
            try:
                edit_field(asset_id, "reverse_prompt", value)
                last[asset_id] = value
                count += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.003)
    print(json.dumps({"last": last, "errors": errors, "count": count}))
""")


def test_edits_during_processing_are_never_lost_or_locked(tmp_path):
    session = open_project(tmp_path / "project", create=True)
    root = session.project.root
    try:
        write_images(root, 12, seed=5, size=(320, 240))
        reconcile(session.project, session.settings)  # ids known before the daemon starts
        ids = [a.id for a in Asset.select().order_by(Asset.id)][:6]
        daemon = start_daemon(root)
        try:
            wait_for(
                lambda: Run.select().where(Run.status == RunStatus.RUNNING).exists(),
                what="processing to start",
            )
            editor = subprocess.run(
                [sys.executable, "-c", EDITOR, str(root), json.dumps(ids), "60"],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert editor.returncode == 0, editor.stderr
            result = json.loads(editor.stdout)
            wait_for(lambda: idle(12), timeout=600, what="processing to finish")
        finally:
            out = stop_daemon(daemon)
        assert result["errors"] == []
        assert "database is locked" not in out and "Traceback" not in out, out
        assert not Run.select().where(Run.status != RunStatus.DONE).exists()
        for asset_id, value in result["last"].items():
            asset = Asset.get_by_id(int(asset_id))
            assert asset.reverse_prompt == value  # the daemon's AI text did not overwrite it
            assert "reverse_prompt" in user_edited_fields(asset.id)
        user_rows = FieldEdit.select().where(FieldEdit.author == "user").count()
        assert user_rows == result["count"]  # every edit recorded
    finally:
        session.close()
