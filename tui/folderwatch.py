"""The TUI's own eye on the project folder: images dropped in show up at once as "not ingested",
whether or not a daemon runs. Only names are looked at here; ingesting stays the daemon's job."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from vidpipe.imaging import is_image_name
from vidpipe.pipeline.ingest import input_relative, iter_input_files
from vidpipe.store.project import Project

log = logging.getLogger(__name__)

#: callback(appeared, relative_path): True when a file appeared, False when it went away.
FileCallback = Callable[[bool, str], None]


def relevant(project: Project, path: str) -> str | None:
    """The relative path of an input image, or None for anything vidpipe would not ingest."""
    relative = input_relative(project, path)
    return relative if relative is not None and is_image_name(Path(relative)) else None


def scan(project: Project) -> list[str]:
    """Every input image under the project, as relative paths (same rules as ingest)."""
    return [
        Path(os.path.abspath(p)).relative_to(project.root).as_posix()
        for p in iter_input_files(project)
    ]


class _Handler(FileSystemEventHandler):
    def __init__(self, project: Project, callback: FileCallback):
        self.project = project
        self.callback = callback

    def _emit(self, appeared: bool, path: str) -> None:
        relative = relevant(self.project, path)
        if relative is not None:
            self.callback(appeared, relative)

    def on_created(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(True, event.src_path)

    def on_closed(self, event: FileSystemEvent) -> None:
        self._emit(True, event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(False, event.src_path)
            self._emit(True, event.dest_path)

    def on_deleted(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._emit(False, event.src_path)


class InputFileWatcher:
    """The TUI's watch on the project folder: reports input files appearing and going, by name
    only, so new drops show as "not ingested" at once; it never ingests."""

    def __init__(self, project: Project, callback: FileCallback):
        self.project = project
        self.observer = Observer()
        self.observer.daemon = True
        self.observer.schedule(_Handler(project, callback), str(project.root), recursive=True)

    def start(self) -> None:
        self.observer.start()

    def stop(self) -> None:
        self.observer.stop()
        self.observer.join(timeout=2)
