"""The project folder: where everything of a project lives.

    PROJECT/
      vidpipe.toml          settings (commented template written by `vidpipe init`)
      <images>              a manifest named after PROJECT
      characters/ ...       each direct subfolder is a manifest named after the folder
      .vidpipe/             never scanned as input
        vidpipe.db          project database (SQLite, WAL)
        queue.db            job queue (Huey on SQLite)
        crops/              crops extracted by detection and face stages
        contact_sheets/     contact sheet pages
        logs/               daemon logs

Copying the folder copies the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidpipe.errors import ProjectError, UnsafeStoredPath
from vidpipe.store.safe_io import create_exclusive
from vidpipe.store.template_file import read_template_text

if TYPE_CHECKING:  # the settings module (pydantic) is imported only where settings are read:
    # a front end finds its project before it pays for that (vidpipe-tui paints first)
    from vidpipe.config.settings import Settings

STATE_DIRNAME = ".vidpipe"


@dataclass(frozen=True)
class Project:
    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIRNAME

    @property
    def database_path(self) -> Path:
        return self.state_dir / "vidpipe.db"

    @property
    def queue_path(self) -> Path:
        return self.state_dir / "queue.db"

    @property
    def crops_dir(self) -> Path:
        return self.state_dir / "crops"

    @property
    def contact_sheets_dir(self) -> Path:
        return self.state_dir / "contact_sheets"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def exports_dir(self) -> Path:
        return self.state_dir / "exports"

    @property
    def config_path(self) -> Path:
        from vidpipe.config.settings import CONFIG_FILENAME

        return self.root / CONFIG_FILENAME

    @property
    def name(self) -> str:
        return self.root.name

    def database_url(self, settings: Settings) -> str:
        return settings.database_url or f"sqlite:///{self.database_path}"

    def is_initialised(self) -> bool:
        return self.state_dir.is_dir()

    def relative(self, path: Path) -> str:
        """``path`` as stored in the database: relative to the project root, POSIX separators."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def absolute(self, relative: str) -> Path:
        """The path of a stored project-relative name. Stored names come from a database that
        travels with the folder: one that would lead out of it ("..", absolute) is refused."""
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or ".." in parts or "\0" in relative:
            raise UnsafeStoredPath(
                f"stored path {relative!r} leads outside the project folder; refused"
            )
        return self.root / relative

    def settings(self) -> Settings:
        """The project's settings, with the prompt template's text read now, once (never by
        name again at stage time: see vidpipe.store.template_file)."""
        from vidpipe.config.settings import load_settings

        settings = load_settings(self.root)
        if settings.prompt_template:
            settings = settings.keeping_template(
                read_template_text(self.root, settings.prompt_template)
            )
        return settings

    def ensure_dirs(self) -> None:
        """Create the state folders; refuse ones that are symlinks or not folders, so that
        nothing vidpipe writes for this project lands outside it."""
        for folder in (
            self.state_dir,
            self.crops_dir,
            self.contact_sheets_dir,
            self.logs_dir,
            self.exports_dir,
        ):
            _ensure_real_folder(folder, self.root)


def _ensure_real_folder(folder: Path, root: Path) -> None:
    shown = folder.relative_to(root)
    if folder.is_symlink():
        raise ProjectError(
            f"{shown} in {root} is a symlink (to {os.readlink(folder)}); vidpipe keeps a "
            f"project's state in real folders inside it. Remove the link (vidpipe recreates "
            f"the folder), or move the whole project instead"
        )
    try:
        folder.mkdir(exist_ok=True)
    except FileExistsError:
        raise ProjectError(f"{shown} in {root} is not a folder; move it away") from None
    except OSError as exc:
        raise ProjectError(f"cannot create {folder}: {exc.strerror or exc}") from None


def init_project(root: Path) -> Project:
    """Create PROJECT/.vidpipe/ and a commented vidpipe.toml (kept if present). Idempotent."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root.resolve())
    project.ensure_dirs()
    # Only where nothing is: a symlink planted at either name (even a dangling one) is never
    # written through.
    from vidpipe.config.settings import settings_template

    create_exclusive(project.config_path, settings_template())
    create_exclusive(
        project.state_dir / ".gitignore", "# vidpipe state: database, queue, crops, logs\n*\n"
    )
    return project


def enclosing_project(path: Path) -> Project | None:
    """The initialised project holding ``path``: the path itself or the nearest folder above it
    with a ``.vidpipe`` folder (the file system's root never counts)."""
    resolved = Path(path).expanduser().resolve()
    return next(
        (
            Project(folder)
            for folder in (resolved, *resolved.parents)
            if folder != folder.parent and Project(folder).is_initialised()
        ),
        None,
    )


def find_project(root: Path) -> Project:
    """The initialised project at ``root`` or above it (run from a manifest folder, or any
    folder inside a project, it finds the project), or a ProjectError that says what to run."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ProjectError(f"{root} is not a folder")
    project = enclosing_project(root)
    if project is None:
        raise ProjectError(f"{root} is not inside a vidpipe project; run: vidpipe init {root}")
    if project.state_dir.is_symlink():
        raise ProjectError(
            f"{project.state_dir} is a symlink (to {os.readlink(project.state_dir)}); vidpipe "
            "keeps a project's state inside the project folder. Replace the link with the "
            "folder it points to, or move the whole project instead"
        )
    return project
