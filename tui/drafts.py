"""Unsaved edits on disk, written as the person types, so a crash or a dropped SSH session loses
nothing. A draft holds only the fields that differ from what the editor opened with; saving or
discarding removes it, opening the asset again restores it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.project import Project
from vidpipe.safe_io import read_limited, write_atomic

#: A draft is the text of a few fields; anything larger was not written by vidpipe.
DRAFT_LIMIT = 4 * 1024 * 1024


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
        try:
            # Never follows a symlink, never blocks on a FIFO, never swallows a huge file.
            data = json.loads(read_limited(self._path(asset_id), DRAFT_LIMIT).decode("utf-8"))
        except (OSError, ValueError, VidpipeError):
            return None
        return Draft(int(data["asset_id"]), dict(data.get("fields", {})),
                     dict(data.get("baseline", {})), data.get("saved_at", ""))

    def discard(self, asset_id: int) -> None:
        self._path(asset_id).unlink(missing_ok=True)

    def asset_ids(self) -> set[int]:
        if not self.folder.is_dir():
            return set()
        ids = set()
        for path in self.folder.glob("asset-*.json"):
            try:
                ids.add(int(path.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return ids
