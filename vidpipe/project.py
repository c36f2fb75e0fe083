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

from dataclasses import dataclass
from pathlib import Path

from vidpipe.config import CONFIG_FILENAME, Settings, load_settings, settings_template
from vidpipe.errors import ProjectError

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
        return self.root / relative

    def settings(self) -> Settings:
        return load_settings(self.root)

    def ensure_dirs(self) -> None:
        for folder in (self.state_dir, self.crops_dir, self.contact_sheets_dir, self.logs_dir,
                       self.exports_dir):
            folder.mkdir(parents=True, exist_ok=True)


def init_project(root: Path) -> Project:
    """Create PROJECT/.vidpipe/ and a commented vidpipe.toml (kept if present). Idempotent."""
    root = Path(root).expanduser()
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} exists and is not a folder")
    root.mkdir(parents=True, exist_ok=True)
    project = Project(root.resolve())
    project.ensure_dirs()
    if not project.config_path.exists():
        project.config_path.write_text(settings_template(), encoding="utf-8")
    gitignore = project.state_dir / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# vidpipe state: database, queue, crops, logs\n*\n", encoding="utf-8")
    return project


def find_project(root: Path) -> Project:
    """The initialised project at ``root``, or a ProjectError that says what to run."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ProjectError(f"{root} is not a folder")
    project = Project(root.resolve())
    if not project.is_initialised():
        raise ProjectError(f"{root} is not a vidpipe project yet; run: vidpipe init {root}")
    return project
