"""Finding the asset a person names on the command line: by id, by tag (``manifest/TAG``), or by
file path.

Shared by every command that takes an ASSET (``reprocess``, ``edit``), so they all understand
the same references.
"""

from __future__ import annotations

import os
from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.store.models import Asset, Manifest
from vidpipe.printable import printable, quoted
from vidpipe.store.project import Project


def resolve_asset(project: Project, ref: str) -> Asset:
    """An asset by id, by tag (``CHAR_01``, or ``manifest/CHAR_01`` where several manifests
    have that tag), or by file path (relative to PROJECT, to the current folder, or absolute)."""
    ref = ref.strip()
    if ref.isdigit():
        # ASCII digits only, and few enough for the database's 64-bit ids.
        asset = (
            Asset.get_or_none(Asset.id == int(ref)) if ref.isascii() and len(ref) <= 18 else None
        )
        if asset is None:
            raise VidpipeError(f"no asset with id {ref}")
        return asset
    by_manifest_tag = _by_manifest_tag(ref)
    if by_manifest_tag is not None:
        return by_manifest_tag
    by_tag = list(Asset.select().where(Asset.manifest_tag == ref.upper()))
    if len(by_tag) == 1:
        return by_tag[0]
    if len(by_tag) > 1:
        choices = ", ".join(sorted(asset_label(a) for a in by_tag))
        raise VidpipeError(
            f"tag {printable(ref, one_line=True)} is in several manifests: "
            f"name one as manifest/TAG ({choices}), or give the asset id"
        )
    candidates = {ref}
    for base in (Path.cwd(), project.root):
        path = Path(os.path.abspath(base / ref))
        if str(path).startswith(str(project.root) + os.sep):
            candidates.add(path.relative_to(project.root).as_posix())
    asset = Asset.select().where(Asset.file_path.in_(list(candidates))).first()
    if asset is None:
        raise VidpipeError(
            f"no asset {quoted(ref)}: give an id, a tag like CHAR_01 (or "
            "manifest/CHAR_01) or a file path (see `vidpipe status` or "
            "`vidpipe export`)"
        )
    return asset


def asset_label(asset: Asset) -> str:
    """``manifest/TAG``: how a person names an asset whatever manifest it is in (None-safe)."""
    name = printable(asset.manifest.name, one_line=True)
    return f"{name}/{asset.manifest_tag}" if asset.manifest_tag else f"{name}/(id {asset.id})"


def _by_manifest_tag(ref: str) -> Asset | None:
    """``manifest/TAG``, if ``ref`` is one (a manifest is one folder, so the tag follows the
    last slash); None when it is not, so that a file path is tried next."""
    manifest_name, slash, tag = ref.rpartition("/")
    if not slash or not manifest_name or not tag or "." in tag:
        return None
    manifest = Manifest.get_or_none(Manifest.name == manifest_name)
    if manifest is None:
        return None
    asset = Asset.get_or_none(Asset.manifest == manifest, Asset.manifest_tag == tag.upper())
    if asset is None:
        raise VidpipeError(
            f"manifest {printable(manifest_name, one_line=True)} has no tag "
            f"{printable(tag, one_line=True)}"
        )
    return asset
