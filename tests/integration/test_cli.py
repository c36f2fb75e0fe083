"""The `vidpipe` command line: init, add, scan, process exit codes, status --json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe.cli import main
from vidpipe.store.models import Run, RunStatus
from vidpipe.store.session import open_project


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    assert main(["init", str(root)]) == 0
    return root


def test_init_creates_state_and_template(tmp_path, capsys):
    root = tmp_path / "new"
    assert main(["init", str(root)]) == 0
    out = capsys.readouterr().out
    assert "initialised" in out and f"vidpipe process {root}" in out
    for name in ("vidpipe.db", "crops", "contact_sheets", "logs"):
        assert (root / ".vidpipe" / name).exists(), name
    assert (root / "vidpipe.toml").read_text().startswith("# vidpipe project settings")
    assert main(["init", str(root)]) == 0  # idempotent


def test_add_copies_into_a_manifest(project, bus_jpg, tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    assert main(["add", str(project), str(bus_jpg), "-m", "street"]) == 0
    assert (project / "street" / "bus.jpg").read_bytes() == bus_jpg.read_bytes()
    assert "new  street/bus.jpg" in capsys.readouterr().out
    assert main(["add", str(project), str(bus_jpg), "-m", "street"]) == 0  # same content again

    # A bad file is added too (as an error asset) and the exit code says so.
    assert main(["add", str(project), str(bad)]) == 1
    out = capsys.readouterr().out
    assert "error  bad.jpg — not an image" in out

    assert main(["add", str(project), str(tmp_path / "missing.jpg")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["add", str(project), str(bus_jpg), "-m", ".vidpipe"]) == 2
    assert "invalid manifest name" in capsys.readouterr().err


def test_process_then_status_json(project, bus_jpg, gracehopper_jpg, capsys):
    (project / "characters").mkdir()
    shutil.copy(gracehopper_jpg, project / "characters" / "grace.jpg")
    shutil.copy(bus_jpg, project / "characters" / "bus.jpg")
    (project / "characters" / "broken.jpg").write_bytes(b"")

    assert main(["process", str(project)]) == 0
    out = capsys.readouterr().out
    assert "manifest characters" in out
    assert "error  characters/broken.jpg: empty file" in out

    assert main(["status", str(project), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["project"] == "proj"
    [manifest] = status["manifests"]
    assert manifest["name"] == "characters"
    # The real default pipeline ran: crops (faces, detections) may have been added.
    assert manifest["uploaded"] == 3  # the broken file is an asset too, in error
    assert manifest["assets"] == 3 + manifest["extracted"]
    assert manifest["assets_by_state"]["error"] == 1
    assert manifest["assets_by_state"]["processed"] == 2 + manifest["extracted"]
    assert manifest["errors"] == [
        {"file": "characters/broken.jpg", "error": "empty file (0 bytes)"}
    ]
    assert manifest["contact_sheets"]
    run = manifest["latest_run"]
    assert run["status"] == "done"
    stages = {s["stage"]: s for s in run["stages"]}
    assert list(stages) == ["contact_sheet", "detection", "faces", "prompts", "tags", "characters"]
    assert stages["contact_sheet"]["status"] == "done"
    assert stages["tags"]["status"] == "done"
    assert all(s["status"] in ("done", "skipped") for s in stages.values())

    assert main(["status", str(project)]) == 0
    text = capsys.readouterr().out
    assert "manifest characters: " in text and "Contact sheet" in text


@pytest.fixture
def core_stages(monkeypatch):
    """Only the contact sheet and tag stages: these tests are about how the CLI reports a run's
    end, not about the vision stages (which have their own tests, and take seconds to load)."""
    from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
    from vidpipe.pipeline.stages.tags import TagStage

    monkeypatch.setattr(
        "vidpipe.pipeline.engine.default_stages", lambda settings: [ContactSheetStage(), TagStage()]
    )


def test_process_failure_exits_nonzero_with_a_clear_message(
    project, bus_jpg, capsys, monkeypatch, core_stages
):
    shutil.copy(bus_jpg, project / "bus.jpg")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("vidpipe.pipeline.stages.contact_sheet.write_pages", disk_full)
    assert main(["process", str(project)]) == 1
    err = capsys.readouterr().err
    assert "vidpipe: error: manifest proj: run failed" in err
    assert "contact_sheet" in err and "No space left on device" in err


def test_process_interrupted_exits_130_and_resumes(
    project, bus_jpg, capsys, monkeypatch, core_stages
):
    shutil.copy(bus_jpg, project / "bus.jpg")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr("vidpipe.pipeline.stages.contact_sheet.write_pages", interrupted)
        assert main(["process", str(project)]) == 130
    assert "run the command again to resume" in capsys.readouterr().err
    with open_project(project):
        assert Run.get().status == RunStatus.INTERRUPTED
    assert main(["process", str(project)]) == 0


def test_errors_without_traceback(tmp_path, project, capsys, core_stages):
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    plain = tmp_path / "plain"
    plain.mkdir()
    assert main(["process", str(plain)]) == 2
    assert f"run: vidpipe init {plain}" in capsys.readouterr().err
    (project / "vidpipe.toml").write_text("contact_sheet_columns = 0\n")
    assert main(["process", str(project)]) == 2
    assert "contact_sheet_columns" in capsys.readouterr().err


def test_console_script_runs_as_a_process(project):
    """The installed entry point, not just main(): what a person actually types."""
    script = Path(sys.executable).parent / "vidpipe"
    result = subprocess.run(
        [str(script), "status", str(project), "--json"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["manifests"] == []
