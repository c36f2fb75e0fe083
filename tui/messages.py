"""App-wide messages. Workers only post these; the handlers on the app own the state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the app's import stays light
    from tui.rows import AssetRow, GridSignature
    from tui.snapshot import Snapshot
    from vidpipe.ops.daemon_registry import TeamStatus
    from vidpipe.ops.daemon_state import DaemonStatus


@dataclass
class DatabaseChanged(Message):
    """Another connection committed to the project database."""


@dataclass
class DatabaseReachability(Message):
    """The project database stopped answering (``problem`` says how), or answers again (None)."""

    problem: str | None


@dataclass
class DaemonChecked(Message):
    status: DaemonStatus | TeamStatus


@dataclass
class SessionOpened(Message):
    """The project's settings are read and its database is open: data can be loaded."""


@dataclass
class SnapshotLoaded(Message):
    snapshot: Snapshot
    #: files the grid held as not ingested that the database knows now (the daemon took them)
    ingested: frozenset[str] = frozenset()


@dataclass
class RowsLoaded(Message):
    """A full reload of the grid for one manifest (None: the project's untracked-only folder)."""

    manifest_id: int | None
    folder: str
    rows: list[AssetRow]
    signature: GridSignature
    tracked_paths: set[str]


@dataclass
class RowsChanged(Message):
    """Some rows of the manifest on screen changed (incremental refresh)."""

    manifest_id: int | None
    rows: list[AssetRow]
    signature: GridSignature


@dataclass
class FilesChanged(Message):
    """The folder watcher saw input files appear or go away (relative paths)."""

    appeared: list[str]
    gone: list[str]


@dataclass
class PreviewLoaded(Message):
    key: str
    image: object | None  # PIL.Image.Image
    caption: str
    budget: object | None = None  # tui.halfblock.Budget the cells were drawn for
    cells: list | None = None  # the image as half-block lines (textual Strips)


@dataclass
class EditsSaved(Message):
    asset_id: int
    fields: list[str]
    note: str = ""


@dataclass
class JobsQueued(Message):
    run_ids: list[int]
    what: str


@dataclass
class Notice(Message):
    """A notification asked for by a background thread."""

    text: str
    title: str = ""
    severity: str = "information"
