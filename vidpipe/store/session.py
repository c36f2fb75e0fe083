"""Opening a project in an entry point: settings, database binding, folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from peewee import Database

from vidpipe.config.settings import Settings
from vidpipe.store.database import open_database
from vidpipe.store.project import Project, find_project, init_project


@dataclass
class ProjectSession:
    project: Project
    settings: Settings
    database: Database

    def close(self) -> None:
        if not self.database.is_closed():
            self.database.close()

    def __enter__(self) -> "ProjectSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_project(
    root: Path | str, settings: Settings | None = None, create: bool = False
) -> ProjectSession:
    """Bind the models to the project's database (creating/migrating it) and return a session.

    ``settings`` defaults to the project's vidpipe.toml plus the environment.
    """
    project = init_project(Path(root)) if create else find_project(Path(root))
    project.ensure_dirs()
    settings = settings or project.settings()
    database = open_database(project.database_url(settings))
    return ProjectSession(project, settings, database)
