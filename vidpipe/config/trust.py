"""Which settings a project folder may not set on its own, and the person's list of trusted projects.

A project folder travels between people, so its vidpipe.toml is someone else's text. Most
settings only tune the work; the ones in TRUST_REQUIRED decide where the person's API key goes,
which files are read or loaded as code, and where data is written. A project's vidpipe.toml may
set those only once the person has trusted it (``vidpipe trust PROJECT``, like git's
safe.directory or direnv's ``allow``); otherwise they come from the person: the environment or
their own config file. The record lives outside every project (the user config folder) and holds
the project's real path and a hash of its vidpipe.toml, so a copied project or an edited file
needs trusting again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from vidpipe.errors import ConfigError
from vidpipe.config.settings_files import SettingsFile, user_config_dir_path, user_config_path

TRUST_FILENAME = "trusted_projects.json"

#: setting -> what a value for it lets whoever wrote the vidpipe.toml do.
TRUST_REQUIRED: dict[str, str] = {
    "gemini_base_url": "sends your Gemini API key and your images to that address",
    "openai_base_url": "sends your images (and OPENAI_API_KEY, if set) to that address",
    "detector": "imports that Python module and runs it",
    "models_dir": "loads model weights from that folder and writes into it",
    "yolo_weights": "loads that file as a PyTorch checkpoint (a checkpoint can carry code)",
    "prompt_template": "reads a file outside the project and sends its text to the model",
    "database_url": "keeps the project's data in that database, wherever it is",
    "queue_url": "takes jobs from, and sends jobs to, that server",
}


def trust_store_path() -> Path:
    return user_config_dir_path() / TRUST_FILENAME


def real_root(project_root: Path) -> str:
    return os.path.realpath(project_root)


def file_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- which values need trust ---------------------------------------------------------------------
def needs_trust(name: str, value: object, project_root: Path, default: object) -> bool:
    """Whether ``value`` for ``name``, written in the project's vidpipe.toml, needs trust."""
    if name not in TRUST_REQUIRED or value in (None, "") or value == default:
        return False
    if name == "yolo_weights":
        return is_path(str(value))  # a bare name is looked up in models_dir only
    if name == "prompt_template":
        return not is_inside(project_root, str(value))
    if name == "models_dir" and isinstance(default, Path):
        return Path(str(value)).expanduser() != default
    return True


def is_path(spec: str) -> bool:
    """A path, as opposed to a bare file name."""
    return (
        "/" in spec
        or "\\" in spec
        or spec.startswith("~")
        or spec in (".", "..")
        or Path(spec).is_absolute()
    )


def is_inside(project_root: Path, spec: str) -> bool:
    """Whether ``spec`` (relative to the project) is inside it once every link is followed."""
    root = real_root(project_root)
    path = Path(spec).expanduser()
    target = os.path.realpath(path if path.is_absolute() else Path(project_root) / path)
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


# --- the record ----------------------------------------------------------------------------------
def _read_store() -> dict:
    path = trust_store_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(
            f"cannot read your list of trusted projects {path}: {exc}; "
            "delete it and trust your projects again"
        ) from None
    projects = data.get("projects") if isinstance(data, dict) else None
    return projects if isinstance(projects, dict) else {}


def _write_store(projects: dict) -> None:
    path = trust_store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"version": 1, "projects": projects}, out, indent=2, sort_keys=True)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def trusted_digest(project_root: Path) -> str | None:
    record = _read_store().get(real_root(project_root))
    return record.get("sha256") if isinstance(record, dict) else None


def trust(project_root: Path, settings_file: SettingsFile | None) -> str:
    """Record the project's vidpipe.toml as it is now; returns the digest recorded."""
    digest = file_digest(settings_file.raw if settings_file else b"")
    projects = _read_store()
    projects[real_root(project_root)] = {
        "sha256": digest,
        "trusted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_store(projects)
    return digest


def revoke(project_root: Path) -> bool:
    projects = _read_store()
    if projects.pop(real_root(project_root), None) is None:
        return False
    _write_store(projects)
    return True


def trusted_projects() -> dict[str, dict]:
    return _read_store()


# --- the check -----------------------------------------------------------------------------------
def check_project_settings(
    project_root: Path, settings_file: SettingsFile, risky: dict[str, object]
) -> None:
    """Raise a ConfigError unless the project is trusted with exactly this vidpipe.toml.

    ``risky``: the settings of TRUST_REQUIRED the file sets and that would be used."""
    if not risky:
        return
    recorded = trusted_digest(project_root)
    if recorded == file_digest(settings_file.raw):
        return
    command = f"vidpipe trust {shlex.quote(real_root(project_root))}"
    listed = "\n".join(
        f"  {name} = {_shown(value)}: {TRUST_REQUIRED[name]}" for name, value in risky.items()
    )
    names = ", ".join(risky)
    if recorded is None:
        head = (
            f"{settings_file.path} sets {names}, which a project folder may not set "
            "until you trust it (the folder may come from someone else):"
        )
    else:
        head = f"{settings_file.path} changed since you trusted this project; it sets {names}:"
    env_names = ", ".join(f"VIDPIPE_{name.upper()}" for name in risky)
    return_text = (
        f"{head}\n{listed}\nIf you wrote this file or have read it, trust it with:\n"
        f"  {command}\nor set {names} yourself ({env_names}, or in {user_config_path()})."
    )
    raise ConfigError(return_text)


def _shown(value: object) -> str:
    text = repr(str(value))  # repr: control characters from the file never reach the terminal raw
    return text if len(text) <= 100 else text[:97] + "..."
