"""Ingesting the paths the watcher reports (the processing jobs are queued by daemon.client)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vidpipe import imaging
from vidpipe.config.settings import Settings
from vidpipe.errors import VidpipeError
from vidpipe.pipeline.ingest import (
    IngestResult,
    display_path,
    ingest_file,
    ingest_files,
    input_relative,
    iter_input_files,
    mark_removed,
    unusable_name,
)
from vidpipe.store.models import AssetState
from vidpipe.store.project import Project

log = logging.getLogger(__name__)


@dataclass
class IngestOutcome:
    manifests: set[int] = field(default_factory=set)  # manifests with work to process
    ingested: int = 0
    removed: int = 0
    # path -> asset id, for the files ingested (the benchmark measures latency with it)
    assets: dict[str, int] = field(default_factory=dict)


def is_watched(project: Project, path: Path) -> bool:
    """Inside PROJECT, not in .vidpipe/, and no hidden or temporary component."""
    return input_relative(project, path) is not None


def ingest_paths(
    project: Project, settings: Settings, paths: Iterable[Path], removed: Iterable[Path] = ()
) -> IngestOutcome:
    """Ingest existing files (folders are walked) and mark vanished paths removed.

    Ingest comes first, so a file moved inside the project is followed to its new path (by its
    content hash) before its old path is looked at; the old path then has no asset left.
    """
    outcome = IngestOutcome()
    files: list[Path] = []
    for path in paths:
        path = Path(os.path.abspath(path))
        if not is_watched(project, path):
            continue
        problem = unusable_name(str(path))
        if problem:
            log.info("skipped %s: %s", display_path(path), problem)
            continue
        if path.is_dir():
            files.extend(iter_input_files(project, under=path))
        elif path.exists() and imaging.is_image_name(path):
            files.append(path)
        else:
            removed = [*removed, path]
    # One bulk call: files are read outside the transactions, each batch commits on its own.
    try:
        results = ingest_files(project, settings, files)
    except (OSError, VidpipeError) as exc:
        log.warning("bulk ingest failed (%s); ingesting one file at a time", exc)
        results = [_ingest_one(project, settings, file) for file in files]
    for file, result in zip(files, results):
        if result is None:
            continue
        outcome.ingested += 1
        outcome.assets[str(file)] = result.asset.id
        if result.asset.state == AssetState.PENDING:
            outcome.manifests.add(result.asset.manifest_id)
    for path in removed:
        path = Path(os.path.abspath(path))
        if path.exists() or not is_watched(project, path):
            continue
        gone = mark_removed(project, path)
        outcome.removed += len(gone)
        if gone:
            log.info(
                "marked %d asset(s) under %s removed", len(gone), path.relative_to(project.root)
            )
            outcome.manifests.update(a.manifest_id for a in gone)  # tags/contact sheet change
    return outcome


def _ingest_one(project: Project, settings: Settings, file: Path) -> IngestResult | None:
    try:
        return ingest_file(project, settings, file)
    except (OSError, VidpipeError) as exc:
        log.warning("cannot ingest %s: %s", file, exc)
        return None
