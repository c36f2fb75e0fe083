"""Settings that cannot be used stop every entry point (CLI, daemon, TUI) with one clear message
and exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidpipe.cli import main
from vidpipe.config.settings import CONFIG_FILENAME

SCRIPTS = Path(sys.executable).parent


def _not_utf8(project: Path) -> dict:
    (project / CONFIG_FILENAME).write_bytes(b'gemini_model = "caf\xe9"\n')
    return {}


def _not_toml(project: Path) -> dict:
    (project / CONFIG_FILENAME).write_text("contact_sheet_columns = = 4\n")
    return {}


def _a_folder(project: Path) -> dict:
    (project / CONFIG_FILENAME).unlink()
    (project / CONFIG_FILENAME).mkdir()
    return {}


def _unsupported_database(project: Path) -> dict:
    return {"VIDPIPE_DATABASE_URL": "mysql://db.example/vidpipe"}


def _nan(project: Path) -> dict:
    (project / CONFIG_FILENAME).write_text("detection_confidence = nan\n")
    return {}


def _untrusted(project: Path) -> dict:
    (project / CONFIG_FILENAME).write_text('gemini_base_url = "http://elsewhere.invalid"\n')
    return {}


CASES = {
    "not utf-8": (_not_utf8, "is not UTF-8 text"),
    "not toml": (_not_toml, "is not valid TOML"),
    "a folder": (_a_folder, "is a folder; it must be a settings file"),
    "unsupported database_url": (
        _unsupported_database,
        "setting 'database_url' from VIDPIPE_DATABASE_URL: "
        "'mysql://db.example/vidpipe' unsupported scheme mysql:",
    ),
    "nan": (_nan, "setting 'detection_confidence'"),
    "untrusted": (_untrusted, "vidpipe trust "),
}

ENTRY_POINTS = {
    "cli": ["vidpipe", "status"],
    "daemon": ["vidpipe-daemon"],
    "daemon --detach": ["vidpipe-daemon", "--detach"],
    "tui": ["vidpipe-tui"],
}


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_unusable_settings_stop_each_entry_point_with_one_message(tmp_path, entry):
    for case, (spoil, phrase) in CASES.items():
        project = tmp_path / case.replace(" ", "-")
        assert main(["init", str(project)]) == 0
        env = {**os.environ, **spoil(project)}
        script, *options = ENTRY_POINTS[entry]
        result = subprocess.run(
            [str(SCRIPTS / script), *options, str(project)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 2, f"{case}: {output}"
        assert phrase in output, f"{case}: {output}"
        assert "Traceback" not in output, f"{case}: {output}"


def test_doctor_reports_unusable_project_settings_and_checks_the_rest(tmp_path, monkeypatch):
    from vidpipe.ops.doctor import run_checks

    project = tmp_path / "p"
    assert main(["init", str(project)]) == 0
    _untrusted(project)
    seen = []
    monkeypatch.setattr("vidpipe.ops.doctor.CHECKS", [lambda settings, root: seen.append(settings)])
    results = run_checks(project)
    assert results[0].name == "settings" and results[0].level == "fail"
    assert "vidpipe trust" in results[0].detail
    assert seen and seen[0].gemini_base_url is None  # the other checks ran, on the person's own
