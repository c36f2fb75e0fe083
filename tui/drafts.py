"""Unsaved edits on disk, written as the person types, so a crash or a dropped SSH session loses
nothing. A draft holds only the fields that differ from what the editor opened with; saving or
discarding removes it, opening the asset again restores it.

A draft file is read as untrusted input (the folder may come from someone else, the file may be
truncated): anything that is not a draft of this asset's editable fields is a DraftError with a
message, set aside as ``*.invalid`` (kept, no longer offered), never a crash of the editor."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vidpipe.store.edits import PERSON_FIELDS
from vidpipe.errors import VidpipeError
from vidpipe.store.models import AssetType
from vidpipe.printable import printable, quoted
from vidpipe.store.project import Project
from vidpipe.store.safe_io import read_limited, write_atomic

#: A draft is the text of a few fields; anything larger was not written by vidpipe.
DRAFT_LIMIT = 4 * 1024 * 1024


class DraftError(VidpipeError):
    """A draft file that cannot be used; the message says which and why."""


@dataclass
class Draft:
    asset_id: int
    fields: dict[str, str] = field(default_factory=dict)  # field -> text typed
    baseline: dict[str, str] = field(default_factory=dict)  # field -> value when editing began
    saved_at: str = ""


class DraftStore:
    def __init__(self, project: Project):
        self.state_dir = project.state_dir
        self.folder = project.state_dir / "drafts"

    def _path(self, asset_id: int) -> Path:
        return self.folder / f"asset-{asset_id}.json"

    def save(self, draft: Draft) -> None:
        if not draft.fields:
            self.discard(draft.asset_id)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        draft.saved_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = json.dumps({"asset_id": draft.asset_id, "fields": draft.fields,
                           "baseline": draft.baseline, "saved_at": draft.saved_at},
                          ensure_ascii=False)
        write_atomic(self._path(draft.asset_id), text, within=self.state_dir)

    def load(self, asset_id: int) -> Draft | None:
        """The draft of an asset, None if it has none; DraftError if its file is unusable
        (the file is then set aside)."""
        path = self._path(asset_id)
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
        kept = self._set_aside(path)
        raise DraftError(f"draft {printable(path.name)} ignored: {problem}"
                         + (f"; kept as {printable(kept.name)}" if kept else ""))

    def check_all(self) -> tuple[set[int], list[str]]:
        """(assets with a usable draft, one message per unusable draft file, set aside)."""
        ids, problems = set(), []
        for asset_id in self.asset_ids():
            try:
                if self.load(asset_id) is not None:
                    ids.add(asset_id)
            except DraftError as exc:
                problems.append(str(exc))
        return ids, problems

    def _set_aside(self, path: Path) -> Path | None:
        kept = path.with_name(path.name + ".invalid")
        try:
            os.replace(path, kept)
        except OSError:
            return None
        return kept

    def discard(self, asset_id: int) -> None:
        self._path(asset_id).unlink(missing_ok=True)

    def asset_ids(self) -> set[int]:
        ids = set()
        try:
            paths = list(self.folder.glob("asset-*.json")) if self.folder.is_dir() else []
        except OSError:  # an unreadable drafts folder: no drafts to offer
            return ids
        for path in paths:
            number = path.stem.split("-", 1)[1]
            if number.isascii() and number.isdigit():
                ids.add(int(number))
        return ids


def _fields(data: dict, key: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise DraftError(f"\"{key}\" is not an object")
    for name, text in value.items():
        if name not in PERSON_FIELDS:
            raise DraftError(f"\"{key}\" names {quoted(name)}, not an editable field")
        if not isinstance(text, str):
            raise DraftError(f"\"{key}\".{name} is not text")
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
