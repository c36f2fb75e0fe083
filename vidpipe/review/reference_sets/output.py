"""The export folder: everything a reference-set export writes goes through here, inside it.

The folder is refused inside the project's ``.vidpipe/`` (vidpipe's own state) and, for a set
holding images, anywhere in the project (the watcher would ingest the exported images as new
assets). Inside it, every file is written atomically by :mod:`vidpipe.store.safe_io` with the
folder as the limit: a subfolder or file name planted as a symlink leading elsewhere is
refused or replaced, never written through.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from vidpipe.errors import ProjectError
from vidpipe.store.project import Project
from vidpipe.store.safe_io import UnsafePath, write_atomic


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
            raise ProjectError(f"refusing to export to {shown}: it is inside "
                               f"{project.state_dir}, vidpipe's own state; choose a folder "
                               "outside .vidpipe/")
        if holds_images and _under(real, root):
            raise ProjectError(f"refusing to export to {shown}: it is inside the project "
                               f"{project.root}, which would take the exported images in as "
                               "new assets; choose a folder outside the project")
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
                raise UnsafePath(f"{folder} is a symlink; vidpipe does not write through it "
                                 "(move it away and export again)") from None
            if not stat.S_ISDIR(mode):
                raise ProjectError(f"{folder} is in the way: it is not a folder") from None

    def prune(self, subfolder: str, ours: re.Pattern[str]) -> list[str]:
        """Remove the files in ``subfolder`` whose names match ``ours`` (what an earlier export
        wrote there) and that this export did not write: a training folder holds exactly this
        export's images. Anything else in it is left alone."""
        folder = self.root / subfolder
        keep = {Path(name).name for name in self.written if Path(name).parent == Path(subfolder)}
        removed = []
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            for name in sorted(os.listdir(fd)):
                if ours.fullmatch(name) and name not in keep:
                    os.unlink(name, dir_fd=fd)
                    removed.append(f"{subfolder}/{name}")
        finally:
            os.close(fd)
        return removed
