"""Unsaved edits on disk, written as the person types, so a crash or a dropped SSH session loses
nothing. A draft holds only the fields that differ from what the editor opened with; saving or
discarding removes it, opening the asset again restores it.

A draft belongs to its writer (tui.writer): one file per asset and session,
``asset-<id>.<session>.json``. Opening an asset restores the person's own draft (this session's,
or one a session of theirs left behind when it ended); another person's draft, or one of a
session still open, is never restored: the editor says who is editing which field instead.
Text being written in ``$EDITOR`` lives in ``editor-<id>-<field>.<session>.txt`` beside the
drafts; a session that ends while the editor runs leaves it behind, and it is offered back the
same way.

A draft file is read as untrusted input (the folder may come from someone else, the file may be
truncated): anything that is not a draft of this asset's editable fields is a DraftError with a
message, set aside as ``*.invalid`` (kept, no longer offered), never a crash of the editor."""

from __future__ import annotations

import json
import os
import pwd
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vidpipe.store.edits import PERSON_FIELDS
from vidpipe.errors import VidpipeError
from vidpipe.store.models import AssetType
from vidpipe.printable import printable, quoted
from vidpipe.store.project import Project
from vidpipe.store.safe_io import read_limited, write_atomic
from tui.writer import SessionLock, Writer, safe_name, session_alive

#: A draft is the text of a few fields; anything larger was not written by vidpipe.
DRAFT_LIMIT = 4 * 1024 * 1024

#: asset-<id>.json (drafts written before drafts had writers) or asset-<id>.<session>.json
DRAFT_NAME = re.compile(r"asset-(\d{1,18})(?:\.([A-Za-z0-9_-]+))?\.json")
#: editor-<id>-<field>.<user>.<session>.txt: the text handed to $EDITOR
EDITOR_NAME = re.compile(r"editor-(\d{1,18})-([a-z_]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.txt")


class DraftError(VidpipeError):
    """A draft file that cannot be used; the message says which and why."""


@dataclass
class Draft:
    asset_id: int
    fields: dict[str, str] = field(default_factory=dict)  # field -> text typed
    baseline: dict[str, str] = field(default_factory=dict)  # field -> value when editing began
    saved_at: str = ""
    user: str = ""  # who typed it ("" until saved)
    session: str = ""
    path: Path | None = None  # the file it was read from
    alive: bool = True  # its session is still open (a draft of someone else's)


@dataclass(frozen=True)
class EditorLeftover:
    """Text a person was writing in $EDITOR when their session ended."""

    asset_id: int
    field: str
    path: Path


def _file_owner(path: Path) -> str:
    try:
        return pwd.getpwuid(path.lstat().st_uid).pw_name
    except (KeyError, OSError):
        return ""


class DraftStore:
    def __init__(self, project: Project, writer: Writer | None = None):
        self.state_dir = project.state_dir
        self.folder = project.state_dir / "drafts"
        self.sessions = self.folder / "sessions"
        self.writer = writer or Writer.current()
        self._lock = SessionLock(self.sessions, self.writer.session)

    # -- this session ----------------------------------------------------------------------------
    def open_session(self) -> None:
        """Mark this session alive (its drafts are not offered to anyone else's session)."""
        try:
            self._lock.acquire(within=self.state_dir)
        except (OSError, VidpipeError):
            pass  # a read-only or hostile drafts folder: drafts fail later, with a message

    def close_session(self) -> None:
        self._lock.release()

    def _own_path(self, asset_id: int) -> Path:
        return self.folder / f"asset-{asset_id}.{self.writer.session}.json"

    def editor_path(self, asset_id: int, field_name: str) -> Path:
        user = safe_name(self.writer.user)
        return self.folder / f"editor-{asset_id}-{field_name}.{user}.{self.writer.session}.txt"

    def _is_mine(self, user: str, session: str) -> bool:
        """A draft is restored to its person: from this session, or from one of theirs that
        has ended (a session still open elsewhere keeps its draft to itself)."""
        if user != self.writer.user:
            return False
        return session == self.writer.session or not session_alive(self.sessions, session)

    # -- writing ---------------------------------------------------------------------------------
    def save(self, draft: Draft) -> None:
        if not draft.fields:
            self.discard(draft.asset_id, editor_files=False)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        draft.saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = json.dumps(
            {
                "asset_id": draft.asset_id,
                "fields": draft.fields,
                "baseline": draft.baseline,
                "saved_at": draft.saved_at,
                "writer": self.writer.as_dict(),
            },
            ensure_ascii=False,
        )
        write_atomic(self._own_path(draft.asset_id), text, within=self.state_dir)
        # A draft taken over from an ended session now lives in this session's file.
        if draft.path is not None and draft.path != self._own_path(draft.asset_id):
            draft.path.unlink(missing_ok=True)
            draft.path = None

    def discard(self, asset_id: int, editor_files: bool = True) -> None:
        """Remove this person's draft of the asset (and its leftovers from ended sessions; with
        ``editor_files``, the text they left in $EDITOR too)."""
        for path, user, session in self._entries(asset_id):
            if self._is_mine(user, session):
                path.unlink(missing_ok=True)
        for leftover in self.editor_leftovers(asset_id) if editor_files else ():
            self.remove_editor_file(leftover.path)

    # -- reading ---------------------------------------------------------------------------------
    def _draft_files(self) -> list[tuple[Path, int, str | None]]:
        try:
            paths = list(self.folder.iterdir()) if self.folder.is_dir() else []
        except OSError:  # an unreadable drafts folder: no drafts to offer
            return []
        out = []
        for path in sorted(paths):
            match = DRAFT_NAME.fullmatch(path.name)
            if match:
                out.append((path, int(match.group(1)), match.group(2)))
        return out

    def _entries(self, asset_id: int) -> list[tuple[Path, str, str]]:
        """(file, user, session) of each draft of the asset, writer read from the file's name
        and owner cheaply; ``load`` checks the content."""
        out = []
        for path, number, session in self._draft_files():
            if number != asset_id:
                continue
            user = self._writer_of(path)
            out.append((path, user, session or ""))
        return out

    def _writer_of(self, path: Path) -> str:
        try:
            data = json.loads(read_limited(path, DRAFT_LIMIT).decode("utf-8"))
            user = data.get("writer", {}).get("user") if isinstance(data, dict) else None
        except (OSError, VidpipeError, ValueError, AttributeError, RecursionError):
            user = None
        # A draft from before drafts had writers belongs to whoever owns its file.
        return user if isinstance(user, str) and user else _file_owner(path)

    def load(self, asset_id: int) -> Draft | None:
        """This person's draft of an asset (the newest), None if none; DraftError if its file is
        unusable (the file is then set aside)."""
        mine = [
            (path, user, session)
            for path, user, session in self._entries(asset_id)
            if self._is_mine(user, session)
        ]
        mine.sort(key=lambda entry: entry[0] != self._own_path(asset_id))
        for path, user, session in mine:
            draft = self._read(asset_id, path)
            if draft is not None:
                draft.user, draft.session, draft.path = user, session, path
                return draft
        return None

    def others(self, asset_id: int) -> list[Draft]:
        """Drafts of the asset that are someone else's (another person, or a session still
        open elsewhere): who is editing which field, never restored."""
        out = []
        for path, user, session in self._entries(asset_id):
            if self._is_mine(user, session):
                continue
            try:
                draft = self._read(asset_id, path, set_aside=False)
            except DraftError:
                continue  # its own writer is told about it
            if draft is not None and draft.fields:
                draft.user, draft.session, draft.path = user, session, path
                draft.alive = session_alive(self.sessions, session)
                out.append(draft)
        return out

    def _read(self, asset_id: int, path: Path, set_aside: bool = True) -> Draft | None:
        try:
            # Never follows a symlink, never blocks on a FIFO, never swallows a huge file.
            raw = read_limited(path, DRAFT_LIMIT)
        except FileNotFoundError:
            return None
        except OSError as exc:
            problem = f"cannot be read ({exc.strerror or exc})"
        except VidpipeError as exc:  # a symlink, a FIFO, too large (safe_io.UnsafePath)
            problem = str(exc)
        else:
            try:
                return parse_draft(asset_id, raw)
            except DraftError as exc:
                problem = str(exc)
        kept = self._set_aside(path) if set_aside else None
        raise DraftError(
            f"draft {printable(path.name)} ignored: {problem}"
            + (f"; kept as {printable(kept.name)}" if kept else "")
        )

    def check_all(self) -> tuple[set[int], list[str]]:
        """(assets with a usable draft of this person, or $EDITOR text they left behind; one
        message per unusable draft file of theirs, set aside)."""
        ids, problems = set(), []
        for asset_id in self.asset_ids():
            try:
                if self.load(asset_id) is not None:
                    ids.add(asset_id)
            except DraftError as exc:
                problems.append(str(exc))
        ids.update(leftover.asset_id for leftover in self.editor_leftovers())
        return ids, problems

    def _set_aside(self, path: Path) -> Path | None:
        kept = path.with_name(path.name + ".invalid")
        try:
            os.replace(path, kept)
        except OSError:
            return None
        return kept

    def asset_ids(self) -> set[int]:
        """Assets with a draft file of anyone."""
        return {number for _, number, _ in self._draft_files()}

    # -- $EDITOR text ----------------------------------------------------------------------------
    def editor_leftovers(self, asset_id: int | None = None) -> list[EditorLeftover]:
        """Text this person handed to $EDITOR in a session that has ended."""
        try:
            paths = list(self.folder.iterdir()) if self.folder.is_dir() else []
        except OSError:
            return []
        out = []
        for path in sorted(paths):
            match = EDITOR_NAME.fullmatch(path.name)
            if not match or match.group(2) not in PERSON_FIELDS:
                continue
            number, user, session = int(match.group(1)), match.group(3), match.group(4)
            if asset_id is not None and number != asset_id:
                continue
            if (
                user != safe_name(self.writer.user)
                or session == self.writer.session
                or session_alive(self.sessions, session)
            ):
                continue
            try:
                if path.lstat().st_uid != os.getuid():
                    continue  # another account's file: not ours to offer or clean
            except OSError:
                continue
            out.append(EditorLeftover(number, match.group(2), path))
        return out

    def read_editor_file(self, path: Path) -> str:
        return read_limited(path, DRAFT_LIMIT).decode("utf-8")

    @staticmethod
    def remove_editor_file(path: Path) -> None:
        """The text file and the swap files vim/neovim keep beside it (``.NAME.swp``)."""
        path.unlink(missing_ok=True)
        for swap in path.parent.glob(f".{path.name}.sw[a-p]"):
            swap.unlink(missing_ok=True)


def _fields(data: dict, key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise DraftError(f'"{key}" is not an object')
    for name, text in value.items():
        if name not in PERSON_FIELDS:
            raise DraftError(f'"{key}" names {quoted(name)}, not an editable field')
        if not isinstance(text, str):
            raise DraftError(f'"{key}".{name} is not text')
    return dict(value)


def parse_draft(asset_id: int, raw: bytes) -> Draft:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DraftError(f"not UTF-8 text (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise DraftError(f"not valid JSON ({printable(exc, True)[:80]})") from None
    if not isinstance(data, dict):
        raise DraftError("not a draft (a JSON object)")
    if data.get("asset_id") != asset_id or isinstance(data.get("asset_id"), bool):
        raise DraftError(f"it is not a draft of asset {asset_id}")
    fields, baseline = _fields(data, "fields"), _fields(data, "baseline")
    kind = fields.get("asset_type")
    if kind is not None and kind not in AssetType.__members__.values():
        raise DraftError(f"unknown asset type {quoted(kind)}")
    saved_at = data.get("saved_at", "")
    return Draft(asset_id, fields, baseline, saved_at if isinstance(saved_at, str) else "")
