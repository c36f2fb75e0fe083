"""Finding the asset a person names on the command line: by id, by manifest tag, or by file path.

Shared by every command that takes an ASSET (``reprocess``, ``edit``), so they all understand
the same references.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.store.models import Asset
from vidpipe.printable import printable, quoted
from vidpipe.store.project import Project


def resolve_asset(project: Project, ref: str) -> Asset:
    """An asset by id, by manifest tag, or by file path (relative to PROJECT, to the current
    folder, or absolute)."""
    ref = ref.strip()
    if ref.isdigit():
        asset = Asset.get_or_none(Asset.id == int(ref))
        if asset is None:
            raise VidpipeError(f"no asset with id {ref}")
        return asset
    by_tag = list(Asset.select().where(Asset.manifest_tag == ref.upper()))
    if len(by_tag) == 1:
        return by_tag[0]
    if len(by_tag) > 1:
        listing = ", ".join(f"{a.id} ({printable(a.manifest.name, one_line=True)})"
                            for a in by_tag)
        raise VidpipeError(f"tag {printable(ref, one_line=True)} is used in several manifests: "
                           f"give the id ({listing})")
    candidates = {ref}
    for base in (Path.cwd(), project.root):
        path = Path(os.path.abspath(base / ref))
        if str(path).startswith(str(project.root) + os.sep):
            candidates.add(path.relative_to(project.root).as_posix())
    asset = Asset.select().where(Asset.file_path.in_(list(candidates))).first()
    if asset is None:
        raise VidpipeError(f"no asset {quoted(ref)}: give an id, a tag like "
                           "CHAR_01 or a file path (see `vidpipe status` or `vidpipe export`)")
    return asset
