"""Shared fixtures: real SQLite project folders in tmp_path, real images (shipped and generated)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image

TESTS = Path(__file__).resolve().parent
# The processes the tests start (daemons, CLIs, TUI sessions) import test support the way this
# process does (pytest's pythonpath setting): a daemon loads support.pixel_detector by name.
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(TESTS.parent), str(TESTS), os.environ.get("PYTHONPATH")])
)
# deepface writes to $DEEPFACE_HOME/.deepface; keep tests from touching the real home.
os.environ.setdefault(
    "DEEPFACE_HOME", str(Path(__file__).parent.parent / ".venv" / "deepface-home")
)
os.environ.pop("GEMINI_API_KEY", None)
os.environ.pop("GOOGLE_API_KEY", None)
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ADMIN_KEY"):  # the openai SDK reads them
    os.environ.pop(_name, None)
# A write on a connection holding a read snapshot open fails loudly, here and in every process
# the tests start (vidpipe.store.sqlite_safety).
os.environ["VIDPIPE_SNAPSHOT_GUARD"] = "1"
# The person's config folder (their config.toml, their trusted projects): a fresh, empty one for
# the session, so that neither the developer's settings nor a test's trust leak across.
_CONFIG_HOME = tempfile.mkdtemp(prefix="vidpipe-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, ignore_errors=True)


def _package_file(package: str, *parts: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec and spec.origin, f"{package} is not installed"
    return Path(spec.origin).parent.joinpath(*parts)


@pytest.fixture(scope="session")
def bus_jpg() -> Path:
    return _package_file("ultralytics", "assets", "bus.jpg")


@pytest.fixture(scope="session")
def zidane_jpg() -> Path:
    return _package_file("ultralytics", "assets", "zidane.jpg")


@pytest.fixture(scope="session")
def gracehopper_jpg() -> Path:
    return _package_file("textual_image", "gracehopper.jpg")


@pytest.fixture
def session(tmp_path):
    """An initialised project with its database bound; closed afterwards."""
    from vidpipe.store.session import open_project

    project_session = open_project(tmp_path / "project", create=True)
    yield project_session
    project_session.close()


@pytest.fixture
def make_image(tmp_path):
    """Write a generated image: make_image("a.jpg", size=(640, 480), color=(200, 30, 30))."""

    def make(
        name: str,
        size=(640, 480),
        color=(200, 30, 30),
        mode="RGB",
        folder: Path | None = None,
        **save_args,
    ) -> Path:
        folder = folder or tmp_path / "images"
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode, size, color).save(path, **save_args)
        return path

    return make


# -- the scenario soak (tests/scenarios/) ------------------------------------------------


def pytest_addoption(parser):
    parser.addoption(
        "--soak",
        type=int,
        default=0,
        help="run N randomized whole-product scenarios (make soak N=...)",
    )
    parser.addoption(
        "--soak-seed",
        type=int,
        default=None,
        help="first seed of the soak (default: from the clock); replays a scenario",
    )


# -- real PostgreSQL and Redis servers (scale-out) -----------------------------------------------
def _skip_or_fail(why: str):
    """Skip a test whose server cannot be had, saying why; under CI (VIDPIPE_REQUIRE_SERVERS=1,
    set by .ci/run) fail it instead, so that a missing server never passes as green."""
    if os.environ.get("VIDPIPE_REQUIRE_SERVERS") == "1":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def _server(server_class):
    from support.servers import ServerUnavailable

    server = server_class()
    try:
        server.start()
    except ServerUnavailable as exc:
        server.stop()
        return None, str(exc)
    return server, None


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the whole session (skips, saying why, if none can be
    had: no binaries, initdb failed; fails instead under VIDPIPE_REQUIRE_SERVERS=1)."""
    from support.servers import PostgresServer

    server, why = _server(PostgresServer)
    if server is None:
        _skip_or_fail(f"PostgreSQL unavailable: {why}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def redis_server():
    """A throwaway redis-server for the whole session (skips, saying why, if none can be had;
    fails instead under VIDPIPE_REQUIRE_SERVERS=1)."""
    from support.servers import RedisServer

    server, why = _server(RedisServer)
    if server is None:
        _skip_or_fail(f"Redis unavailable: {why}")
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis server, emptied for this test."""
    redis_server.flush()
    return redis_server.url()
