"""Checks behind `vidpipe doctor`. Each check is a small function returning a Check (or None:
nothing to say). The database/queue servers' checks (server_checks.py) and the vision models'
(ops/vision_checks.py) live next to what they check; CHECKS lists them all, in order."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from vidpipe.config.settings import Settings, load_settings
from vidpipe.ops.diagnostics import Check, CheckFn
from vidpipe.errors import ConfigError
from vidpipe.ops.prompt_checks import PROMPT_CHECKS
from vidpipe.ops.server_checks import SERVER_CHECKS
from vidpipe.ops.vision_checks import VISION_CHECKS


def check_packages(settings: Settings, project: Path | None) -> Check:
    wanted = [
        "PIL",
        "peewee",
        "huey",
        "watchdog",
        "textual",
        "textual_image",
        "ultralytics",
        "deepface",
        "tensorflow",
        "torch",
        "google.genai",
    ]
    missing = [name for name in wanted if importlib.util.find_spec(name.split(".")[0]) is None]
    if missing:
        return Check(
            "packages",
            "fail",
            "missing: " + ", ".join(missing),
            "reinstall vidpipe: make install (or pip install -e .)",
        )
    return Check("packages", "ok", "all pipeline packages importable")


def check_font(settings: Settings, project: Path | None) -> Check:
    from PIL import ImageFont

    from vidpipe.pipeline.contact_sheet import _FONT_CANDIDATES

    for candidate in _FONT_CANDIDATES[False]:
        try:
            ImageFont.truetype(candidate, 12)
            return Check("font", "ok", f"contact sheets use {candidate}")
        except OSError:
            continue
    return Check(
        "font",
        "warn",
        "DejaVu Sans not found; contact sheets use Pillow's built-in font",
        "apt-get install fonts-dejavu-core",
    )


def check_inotify(settings: Settings, project: Path | None) -> Check:
    path = Path("/proc/sys/fs/inotify/max_user_watches")
    if not path.exists():
        return Check("file watching", "ok", "no inotify on this system; the watcher polls")
    limit = int(path.read_text().strip())
    level = "ok" if limit >= 65536 else "warn"
    return Check(
        "file watching",
        level,
        f"inotify max_user_watches = {limit}",
        None
        if level == "ok"
        else "sudo sysctl fs.inotify.max_user_watches=524288 (the watcher falls back to polling)",
    )


def check_gpu(settings: Settings, project: Path | None) -> Check:
    try:
        import torch
    except Exception as exc:  # a broken CUDA install must not break doctor
        return Check("gpu", "warn", f"torch does not import: {exc}")
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        return Check("gpu", "ok", f"CUDA available: {torch.cuda.device_count()} × {name}")
    return Check("gpu", "warn", "no CUDA GPU visible: detection and faces run on the CPU (slower)")


def check_database(settings: Settings, project: Path | None) -> Check | None:
    """The project's database and queue files: readable, intact, a schema this vidpipe knows."""
    if project is None:
        return None
    from urllib.parse import urlparse

    from vidpipe.store.database import SCHEMA_VERSION, inspect_sqlite
    from vidpipe.errors import ProjectError
    from vidpipe.store.project import find_project

    try:
        found = find_project(project)
    except ProjectError as exc:
        return Check("database", "fail", str(exc))
    url = found.database_url(settings)
    if urlparse(url).scheme != "sqlite":
        return Check("database", "ok", f"{urlparse(url).scheme} database (not inspected here)")
    path = Path(url[len("sqlite:///") :])
    if not path.exists() and not path.is_symlink():
        return Check("database", "ok", f"{path} does not exist yet (created on first use)")
    health = inspect_sqlite(path)
    if health.foreign:
        return Check(
            "database",
            "fail",
            f"{path}: {health.problem}",
            f"vidpipe refuses it until they are gone: vidpipe doctor {project} "
            "--drop-foreign (or restore the database from a backup)",
        )
    if health.problem:
        return Check(
            "database",
            "fail",
            f"{path}: {health.problem}",
            f"restore {path.name} from a backup, or move it aside to start afresh",
        )
    version = health.schema_version
    if version is not None and version > SCHEMA_VERSION:
        return Check(
            "database",
            "fail",
            f"{path}: schema version {version}, newer than this vidpipe ({SCHEMA_VERSION})",
            "upgrade vidpipe",
        )
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if not writable:
        return Check(
            "database",
            "fail",
            f"{path}: intact, but read-only for this user",
            f"make {path} and its folder writable",
        )
    upgrade = "" if version == SCHEMA_VERSION else f", upgraded to {SCHEMA_VERSION} on next use"
    queue = found.queue_path
    queue_note = ""
    if queue.exists() or queue.is_symlink():
        queue_health = inspect_sqlite(queue, schema_table=None)
        if queue_health.problem:
            return Check(
                "database",
                "warn",
                f"{path}: intact; queue {queue.name}: {queue_health.problem}",
                "the daemon moves a damaged queue file aside and rebuilds the queue "
                "from the database when it starts",
            )
        queue_note = f"; queue {queue.name} intact"
    return Check("database", "ok", f"{path}: intact, schema version {version}{upgrade}{queue_note}")


CHECKS: list[CheckFn] = [
    check_packages,
    check_font,
    *PROMPT_CHECKS,
    check_inotify,
    check_gpu,
    check_database,
    *SERVER_CHECKS,
    *VISION_CHECKS,
]


def run_checks(project: Path | None) -> list[Check]:
    results = []
    try:
        settings = load_settings(project)
    except ConfigError as exc:
        # Say what is wrong with the project's settings, then check the machine with the
        # person's own settings (environment and config file) all the same.
        results.append(Check("settings", "fail", str(exc)))
        settings = load_settings(None)
    for fn in CHECKS:
        try:
            result = fn(settings, project)
            if result is not None:
                results.append(result)
        except Exception as exc:
            results.append(
                Check(
                    fn.__name__.removeprefix("check_"),
                    "fail",
                    f"check crashed: {type(exc).__name__}: {exc}",
                )
            )
    return results
