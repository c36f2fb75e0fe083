"""A project folder from someone else cannot send the person's API key elsewhere, read files
outside itself, load code, or move its storage, unless the person trusts it (`vidpipe trust`).

The attacks run through the real console scripts against real local endpoints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vidpipe.cli import main
from vidpipe.config.settings import CONFIG_FILENAME, load_settings
from vidpipe.errors import ConfigError
from vidpipe.config.trust import trust_store_path

SECRET = "sk-test-key-never-leaves-9f3e"
SCRIPTS = Path(sys.executable).parent


class RequestCatcher:
    """An HTTP endpoint that only records who called it and with which headers."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict]] = []
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self):
                catcher.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(500)
                self.end_headers()

            do_GET = do_POST = do_PUT = _record

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path, monkeypatch):
    """This test's own user config folder (trust records); subprocesses inherit it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in list(os.environ):
        if name.startswith("VIDPIPE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def project(tmp_path, make_image):
    root = tmp_path / "from-someone"
    assert main(["init", str(root)]) == 0
    make_image("hero.png", size=(96, 64), folder=root)
    return root


def run_script(script: str, *args: str, key: str | None = SECRET) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if key:
        env["GEMINI_API_KEY"] = key
    return subprocess.run(
        [str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output, output
    for phrase in phrases:
        assert phrase in output, output


def set_toml(project: Path, text: str) -> None:
    (project / CONFIG_FILENAME).write_text(text, encoding="utf-8")


# -- the API key ----------------------------------------------------------------------------------
def test_untrusted_gemini_base_url_never_receives_the_key(project):
    with RequestCatcher() as attacker:
        set_toml(project, f'gemini_base_url = "{attacker.url}"\n')
        result = run_script("vidpipe", "process", str(project))
        assert_refused(
            result, "gemini_base_url", "sends your Gemini API key", f"vidpipe trust {project}"
        )
        assert SECRET not in result.stdout + result.stderr
        assert attacker.requests == []  # no request at all, so no key either


def test_trust_lets_the_project_endpoint_work_and_an_edit_needs_trust_again(
    project, monkeypatch, tmp_path
):
    from support.fake_gemini import FakeGemini

    with FakeGemini(expected_api_key=SECRET) as endpoint:
        set_toml(project, f'gemini_base_url = "{endpoint.base_url}"\n')
        assert_refused(run_script("vidpipe", "process", str(project)), "vidpipe trust")
        assert endpoint.requests == 0

        before = sorted(p.relative_to(project) for p in project.rglob("*"))
        trusted = run_script("vidpipe", "trust", str(project), key=None)
        assert trusted.returncode == 0, trusted.stderr
        assert "gemini_base_url" in trusted.stdout
        # The record lives with the person, not in the folder it vouches for.
        assert trust_store_path().is_file()
        assert not trust_store_path().resolve().is_relative_to(project.resolve())
        assert sorted(p.relative_to(project) for p in project.rglob("*")) == before

        # The real CLI, trimmed to the stages this needs (the vision stages have their own tests).
        from vidpipe.pipeline.stages.contact_sheet import ContactSheetStage
        from vidpipe.pipeline.stages.prompts import PromptStage
        from vidpipe.pipeline.stages.tags import TagStage

        monkeypatch.setattr(
            "vidpipe.pipeline.engine.default_stages",
            lambda settings: [ContactSheetStage(), PromptStage(), TagStage()],
        )
        monkeypatch.setenv("GEMINI_API_KEY", SECRET)
        assert main(["process", str(project)]) == 0
        assert endpoint.requests >= 1 and all(seen.had_api_key for seen in endpoint.seen)

        asked = endpoint.requests
        with (project / CONFIG_FILENAME).open("a") as toml:
            toml.write("prompt_concurrency = 2\n")
        assert_refused(
            run_script("vidpipe", "process", str(project)),
            "changed since you trusted this project",
            f"vidpipe trust {project}",
        )
        assert endpoint.requests == asked

        copy = tmp_path / "copied"
        shutil.copytree(project, copy)
        assert run_script("vidpipe", "trust", str(project), key=None).returncode == 0
        load_settings(project)  # trusted again as edited
        with pytest.raises(ConfigError, match=f"vidpipe trust {copy}"):
            load_settings(copy)  # the trust is for that folder, not for its copies

        assert run_script("vidpipe", "trust", "--revoke", str(project), key=None).returncode == 0
        with pytest.raises(ConfigError, match="gemini_base_url"):
            load_settings(project)


def test_the_person_sets_endpoints_without_trust(project, tmp_path, monkeypatch):
    from vidpipe.config.settings_files import user_config_path

    set_toml(project, 'gemini_base_url = "http://attacker.invalid"\n')
    mine = "http://127.0.0.1:9"
    # The person's own variable wins, so the project's value is never used: nothing to refuse.
    assert load_settings(project, env={"VIDPIPE_GEMINI_BASE_URL": mine}).gemini_base_url == mine
    set_toml(project, "")
    user_config_path().parent.mkdir(parents=True)
    user_config_path().write_text(f'gemini_base_url = "{mine}"\nmodels_dir = "{tmp_path}"\n')
    settings = load_settings(project, env={})
    assert settings.gemini_base_url == mine and settings.models_dir == tmp_path


# -- files outside the project, code, storage -----------------------------------------------------
def test_prompt_template_outside_the_project_is_refused(project, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    (project / "templates").mkdir()
    (project / "templates" / "mine.txt").write_text("Describe $name.\n")
    (project / "templates" / "innocent.txt").symlink_to(secret)

    for spec in (str(secret), "../id_rsa", "templates/innocent.txt", "~/.ssh/id_rsa"):
        set_toml(project, f'prompt_template = "{spec}"\n')
        with pytest.raises(ConfigError, match="prompt_template.*reads a file outside the project"):
            load_settings(project, env={})
    assert_refused(
        run_script("vidpipe", "process", str(project)),
        "prompt_template",
        f"vidpipe trust {project}",
    )

    set_toml(project, 'prompt_template = "templates/mine.txt"\n')  # inside: the team's own
    assert load_settings(project, env={}).prompt_template == "templates/mine.txt"
    # ... but not a huge one (sent with every image, it would multiply the bill) nor a FIFO.
    from vidpipe.prompting.template import load_template

    (project / "templates" / "huge.txt").write_text("Describe $name. " * 10_000)
    with pytest.raises(ConfigError, match="huge.txt is larger than 64000 bytes"):
        load_template(project, "templates/huge.txt")
    os.mkfifo(project / "templates" / "pipe.txt")
    with pytest.raises(ConfigError, match=r"pipe.txt is a FIFO \(named pipe\), not a regular file"):
        load_template(project, "templates/pipe.txt")

    set_toml(project, f'prompt_template = "{secret}"\n')
    assert main(["trust", str(project)]) == 0  # the person decides it is fine
    assert load_settings(project, env={}).prompt_template == str(secret)


@pytest.mark.parametrize(
    "setting, value, reason",
    [
        ("yolo_weights", "weights/yolov8n.pt", "loads that file as a PyTorch checkpoint"),
        ("yolo_weights", "/tmp/yolov8n.pt", "loads that file as a PyTorch checkpoint"),
        ("yolo_weights", "../yolov8n.pt", "loads that file as a PyTorch checkpoint"),
        ("models_dir", "weights", "loads model weights from that folder"),
        ("detector", "support.pixel_detector:PixelDetector", "imports that Python module"),
        ("database_url", "postgresql://attacker.invalid/loot", "keeps the project's data"),
        ("database_url", "sqlite:////tmp/elsewhere.db", "keeps the project's data"),
        ("queue_url", "redis://attacker.invalid:6379/0", "takes jobs from"),
    ],
)
def test_paths_code_and_storage_need_trust(project, setting, value, reason):
    (project / "weights").mkdir()
    (project / "weights" / "yolov8n.pt").write_bytes(b"planted")
    set_toml(project, f'{setting} = "{value}"\n')
    with pytest.raises(ConfigError, match=reason) as refused:
        load_settings(project, env={})
    assert f"vidpipe trust {project}" in str(refused.value)
    main(["trust", str(project)])
    assert str(getattr(load_settings(project, env={}), setting)).endswith(value.lstrip("./"))


def test_a_planted_checkpoint_in_the_project_is_never_looked_up(project, monkeypatch, tmp_path):
    from vidpipe.vision.weights import find_yolo_weights

    (project / "yolov8n.pt").write_bytes(b"planted")
    monkeypatch.chdir(project)  # people run vidpipe from inside the project folder
    settings = load_settings(project, env={"VIDPIPE_MODELS_DIR": str(tmp_path / "models")})
    assert settings.yolo_weights == "yolov8n.pt"
    weights = find_yolo_weights(settings)
    assert weights.path is None and "not in the models folder" in weights.missing_reason()


@pytest.mark.slow
def test_checkpoints_load_with_weights_only(project, tmp_path, monkeypatch):
    """Even from the person's own models folder, a checkpoint that would run code is refused,
    while a real ultralytics checkpoint still loads; a planted .yaml beside the command is
    ignored for the packaged architecture."""
    import torch
    from PIL import Image

    from vidpipe.config.settings import Settings
    from vidpipe.errors import ModelUnavailable
    from vidpipe.vision.detector import UltralyticsDetector
    from vidpipe.vision.weights import find_yolo_weights, prepare_ultralytics_env

    models = tmp_path / "models"
    models.mkdir()
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": Payload()}, models / "evil.pt")
    torch.load(models / "evil.pt", weights_only=False)  # the file really is hostile
    assert marker.exists()
    marker.unlink()

    # A hostile model definition where ultralytics would look for yolov8.yaml first: the folder
    # the command runs in.
    (project / "yolov8.yaml").write_text(
        f"nc: 80\nactivation: __import__('os').system('touch {marker}')\nbackbone: []\nhead: []\n"
    )
    monkeypatch.chdir(project)
    settings = Settings(models_dir=models, yolo_weights="yolov8n.yaml", device="cpu")
    prepare_ultralytics_env(settings)
    architecture = UltralyticsDetector(find_yolo_weights(settings), "cpu")
    assert architecture.detect([Image.new("RGB", (64, 48))]) == [[]]
    assert not marker.exists()
    architecture._model.save(str(models / "real.pt"))  # a genuine ultralytics checkpoint

    real = UltralyticsDetector(find_yolo_weights(settings.replace(yolo_weights="real.pt")), "cpu")
    assert real.detect([Image.new("RGB", (64, 48))]) == [[]]

    evil = UltralyticsDetector(find_yolo_weights(settings.replace(yolo_weights="evil.pt")), "cpu")
    with pytest.raises(ModelUnavailable, match="cannot load YOLO weights .*evil.pt"):
        evil.load()
    assert not marker.exists()


def test_the_daemon_started_in_a_project_folder_imports_nothing_from_it(project, tmp_path):
    """The background daemon runs with the project as its working folder; Python modules planted
    there (a daemon/ package, a huey.py) must not shadow the real ones."""
    import signal
    import time

    from daemon.client import start_detached
    from vidpipe.ops.daemon_state import daemon_status

    marker = tmp_path / "code-ran"
    plant = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    (project / "daemon").mkdir()
    (project / "daemon" / "__init__.py").write_text(plant)
    (project / "daemon" / "main.py").write_text(plant)
    (project / "huey.py").write_text(plant)

    pid = start_detached(project).pid
    try:
        assert daemon_status(project).running and daemon_status(project).pid == pid
        assert not marker.exists()
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while daemon_status(project).running and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not daemon_status(project).running


def test_untrusted_openai_base_url_gets_nothing_until_trusted(project, monkeypatch):
    """The OpenAI-compatible server receives the images (and OPENAI_API_KEY): a project's own
    vidpipe.toml names one only once trusted."""
    from vidpipe.pipeline.stages.prompts import PromptStage
    from support.fake_openai import DEFAULT_MODEL, FakeOpenAIProcess

    with FakeOpenAIProcess() as endpoint:
        set_toml(
            project,
            f'prompt_backend = "openai"\nopenai_base_url = "{endpoint.base_url}"\n'
            f'openai_model = "{DEFAULT_MODEL}"\n',
        )
        env_key = dict(os.environ, OPENAI_API_KEY=SECRET)
        result = subprocess.run(
            [str(SCRIPTS / "vidpipe"), "process", str(project)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env_key,
            stdin=subprocess.DEVNULL,
        )
        assert_refused(
            result,
            "openai_base_url",
            "sends your images (and OPENAI_API_KEY",
            f"vidpipe trust {project}",
        )
        assert SECRET not in result.stdout + result.stderr
        assert endpoint.requests() == [] and endpoint.stats()["model_lists"] == 0

        assert main(["trust", str(project)]) == 0
        monkeypatch.setattr(
            "vidpipe.pipeline.engine.default_stages", lambda settings: [PromptStage()]
        )
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        assert main(["process", str(project)]) == 0
        seen = endpoint.requests()
        assert seen and {r["authorization"] for r in seen} == {f"Bearer {SECRET}"}
