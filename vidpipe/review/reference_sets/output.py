"""The export folder: everything a reference-set export writes goes through here, inside it.

The folder is refused inside the project's ``.vidpipe/`` (vidpipe's own state) and, for a set
holding images, anywhere in the project (the watcher would ingest the exported images as new
assets). Inside it, every file is written atomically by :mod:`vidpipe.store.safe_io` with the
folder as the limit: a subfolder or file name planted as a symlink leading elsewhere is
refused or replaced, never written through. A record of the files written lets the next
export into the folder remove what it no longer writes, and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from vidpipe.errors import ProjectError
from vidpipe.store.project import Project
from vidpipe.store.safe_io import UnsafePath, read_limited, write_atomic

#: What the folder's last export wrote (hidden, and not .json: a team globbing *.json never
#: takes it for a reference set).
RECORD_NAME = ".vidpipe-export"
#: The names an export writes: <stem>.json / dataset_config.toml, <stem>/<stem>_NN.png|txt.
EXPORTED_NAME = re.compile(
    r"([A-Za-z0-9][A-Za-z0-9_-]*/)?[A-Za-z0-9][A-Za-z0-9_-]*"
    r"\.(json|toml|png|txt)"
)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class ExportFolder:
    """The folder ``-o DIR`` names, checked and created; files are written by their path
    relative to it."""

    def __init__(self, project: Project, folder: Path, holds_images: bool):
        shown = str(folder)
        real = os.path.realpath(folder)
        state = os.path.realpath(project.state_dir)
        root = os.path.realpath(project.root)
        if _under(real, state):
            raise ProjectError(
                f"refusing to export to {shown}: it is inside "
                f"{project.state_dir}, vidpipe's own state; choose a folder "
                "outside .vidpipe/"
            )
        if holds_images and _under(real, root):
            raise ProjectError(
                f"refusing to export to {shown}: it is inside the project "
                f"{project.root}, which would take the exported images in as "
                "new assets; choose a folder outside the project"
            )
        if os.path.lexists(real) and not os.path.isdir(real):
            raise ProjectError(f"refusing to export to {shown}: it is not a folder")
        os.makedirs(real, exist_ok=True)
        self.shown = shown
        self.root = Path(real)
        self.written: list[str] = []

    def write(self, relative: str, content: bytes | str) -> None:
        """Write ``relative`` (a name, or ``sub/name``) under the folder, replacing what was
        there. A subfolder is created as a real folder; one that exists as a symlink or leads
        out of the export folder is refused."""
        path = self.root / relative
        if path.parent != self.root:
            self._subfolder(path.parent)
        write_atomic(path, content, within=self.root)
        self.written.append(relative)

    def _subfolder(self, folder: Path) -> None:
        try:
            os.mkdir(folder)
        except FileExistsError:
            mode = os.lstat(folder).st_mode
            if stat.S_ISLNK(mode):
                raise UnsafePath(
                    f"{folder} is a symlink; vidpipe does not write through it "
                    "(move it away and export again)"
                ) from None
            if not stat.S_ISDIR(mode):
                raise ProjectError(f"{folder} is in the way: it is not a folder") from None

    def finish(self, format_name: str) -> list[str]:
        """Remove the files the previous export into this folder wrote and this one did not
        (a renamed or merged character's set, an image a character lost), then record this
        export's files in :data:`RECORD_NAME`. Only names the record lists, of the shapes an
        export writes, are ever removed; anything else in the folder is left alone."""
        written = set(self.written)
        removed = [name for name in sorted(set(self._recorded()) - written) if self._remove(name)]
        record = {"format": format_name, "files": sorted(written)}
        write_atomic(self.root / RECORD_NAME, json.dumps(record, indent=1) + "\n", within=self.root)
        return removed

    def _recorded(self) -> list[str]:
        """The previous export's file list; none when the record is missing, planted as a
        symlink, too large or not ours."""
        try:
            record = json.loads(read_limited(self.root / RECORD_NAME, 1 << 20))
            names = record["files"]
        except (OSError, UnsafePath, ValueError, KeyError, TypeError):
            return []
        return [name for name in names if isinstance(name, str) and EXPORTED_NAME.fullmatch(name)]

    def _remove(self, name: str) -> bool:
        """Unlink ``name`` if it is a regular file (a symlink's target is never touched), then
        its subfolder if that is left empty."""
        folder, _, file_name = name.rpartition("/")
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(self.root / folder if folder else self.root, flags)
        except OSError:
            return False
        try:
            if not stat.S_ISREG(os.stat(file_name, dir_fd=fd, follow_symlinks=False).st_mode):
                return False
            os.unlink(file_name, dir_fd=fd)
            if folder and not os.listdir(fd):
                os.rmdir(self.root / folder)
        except FileNotFoundError:
            return False
        finally:
            os.close(fd)
        return True
