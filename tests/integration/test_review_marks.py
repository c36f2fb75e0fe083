"""Review marks are data (issue 22): who reviewed what and when, set and cleared with
`vidpipe edit`, in the export, in `vidpipe status` ("x of y reviewed") and its --json. The real
command in its own process, on a real project database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from support.tui_support import make_project

REPO = Path(__file__).resolve().parents[2]


def vidpipe(*args: str, user: str = "alice") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "VIDPIPE_USER": user}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from vidpipe.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_review_marks_travel_with_the_export_and_the_status(tmp_path):
    root = make_project(tmp_path / "project", images=3)
    done = vidpipe("edit", str(root), "characters/hero_00.png", "reviewed", "yes")
    assert done.returncode == 0, done.stderr
    assert "marked reviewed by alice" in done.stdout
    again = vidpipe("edit", str(root), "characters/hero_00.png", "reviewed", "yes", user="bob")
    assert "unchanged" in again.stdout  # still alice's mark
    vidpipe("edit", str(root), "characters/hero_01.png", "reviewed", "yes", user="bob")
    bad = vidpipe("edit", str(root), "characters/hero_02.png", "reviewed", "maybe")
    assert bad.returncode != 0 and "reviewed takes yes or no" in bad.stderr

    status = vidpipe("status", str(root))
    assert "2 of 3 reviewed" in status.stdout, status.stdout
    as_json = json.loads(vidpipe("status", str(root), "--json").stdout)
    manifest = as_json["manifests"][0]
    assert manifest["reviewed"] == 2 and manifest["assets"] == 3
    assert [(r["file"], r["by"]) for r in manifest["reviewed_assets"]] == [
        ("characters/hero_00.png", "alice"),
        ("characters/hero_01.png", "bob"),
    ]
    assert all(r["at"] for r in manifest["reviewed_assets"])

    exported = vidpipe("export", str(root), "-o", str(tmp_path / "out.json"))
    assert exported.returncode == 0, exported.stderr
    data = json.loads((tmp_path / "out.json").read_text())
    records = {a["file"]: a for a in data["manifests"][0]["assets"]}
    assert data["manifests"][0]["reviewed"] == 2
    assert records["characters/hero_00.png"]["reviewed_by"] == "alice"
    assert records["characters/hero_00.png"]["reviewed_at"]
    assert records["characters/hero_02.png"]["reviewed"] is False
    assert records["characters/hero_02.png"]["reviewed_by"] is None

    cleared = vidpipe("edit", str(root), "characters/hero_00.png", "reviewed", "no")
    assert "review mark cleared" in cleared.stdout
    assert "1 of 3 reviewed" in vidpipe("status", str(root)).stdout
