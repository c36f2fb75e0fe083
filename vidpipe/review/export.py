"""The manifest export: the JSON the video-generation step downstream consumes.

Holds no secret: only asset fields and paths relative to the project folder. ``id`` and
``revision`` serve the round trip back (``vidpipe edit PROJECT --from FILE``): the asset an
edited record belongs to, and the newest edit it already reflects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from peewee import fn

from vidpipe import imaging
from vidpipe.errors import ProjectError, UnsafeStoredPath, VidpipeError
from vidpipe.pipeline.characters import as_json as character_json
from vidpipe.pipeline.characters import list_characters
from vidpipe.store.models import Asset, AssetState, FieldEdit, Manifest
from vidpipe.store.project import Project
from vidpipe.store.safe_io import open_regular, write_atomic


def _sort(asset: Asset):
    return (asset.manifest_tag is None, asset.manifest_tag or "", asset.file_path)


def revisions(asset_ids: list[int]) -> dict[int, int]:
    """Per asset, the id of its newest applied field edit (0: never edited)."""
    out: dict[int, int] = {}
    for start in range(0, len(asset_ids), 500):
        chunk = asset_ids[start : start + 500]
        out.update(
            FieldEdit.select(FieldEdit.asset, fn.MAX(FieldEdit.id))
            .where(FieldEdit.asset.in_(chunk), FieldEdit.applied == True)  # noqa: E712
            .group_by(FieldEdit.asset)
            .tuples()
        )
    return out


def asset_record(asset: Asset, by_id: dict[int, Asset], revision: int = 0) -> dict:
    parent = by_id.get(asset.source_asset_id) if asset.source_asset_id else None
    duplicate = by_id.get(asset.duplicate_of_id) if asset.duplicate_of_id else None
    return {
        "id": asset.id,
        "revision": revision,
        "tag": asset.manifest_tag,
        "name": asset.name,
        "type": asset.asset_type,
        "source": asset.source,
        "parent_tag": parent.manifest_tag if parent else None,
        "file": asset.file_path,
        "description": asset.description,
        "user_tags": asset.user_tags or [],
        "sort_order": asset.sort_order,
        "reverse_prompt": asset.reverse_prompt,
        "visual_description": asset.visual_description,
        "prompt_origin": asset.prompt_origin,
        "quality_score": asset.quality_score,
        "detection_class": asset.detection_class,
        "detection_confidence": asset.detection_confidence,
        "is_face_crop": asset.is_face_crop,
        "crop_bbox": asset.crop_bbox,
        "duplicate_of": duplicate.manifest_tag if duplicate else None,
        "state": asset.state,
        "error": asset.error,
        # A person marked it reviewed, who and when (read-only here: `vidpipe edit` sets it).
        "reviewed": asset.reviewed,
        "reviewed_by": asset.reviewed_by if asset.reviewed else None,
        "reviewed_at": (
            asset.reviewed_at.isoformat(timespec="seconds")
            if asset.reviewed and asset.reviewed_at
            else None
        ),
    }


def stored_path_inside(project: Project, relative) -> bool:
    """Whether a stored path names a place inside the project, every link on it followed:
    the export is read by other tools, which would follow one leading out."""
    try:
        real = os.path.realpath(project.absolute(relative))
    except (UnsafeStoredPath, TypeError, ValueError):
        return False
    return real.startswith(os.path.realpath(project.root).rstrip(os.sep) + os.sep)


def _checked_file(project: Project, record: dict) -> dict:
    if record["file"] is not None and not stored_path_inside(project, record["file"]):
        record["file"] = None
        record["file_problem"] = "its stored path leads outside the project; left out"
    return record


#: Characters that reorder or break lines where a JSON file is shown (bidi overrides and
#: isolates, the Unicode line and paragraph separators): written as \u escapes, never raw.
_INVISIBLE = (
    "\u061c\u200e\u200f\u2028\u2029"
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2066, 0x206A)))
)


def export_json(data: dict) -> str:
    """``data`` as readable JSON (UTF-8 text as it is) with every :data:`_INVISIBLE`
    character escaped; they occur only inside strings, where the escape means the same."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    for char in _INVISIBLE:
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text + "\n"


def build_export(project: Project, manifest_names: list[str] | None = None) -> dict:
    manifests = Manifest.select().order_by(Manifest.name)
    if manifest_names:
        manifests = manifests.where(Manifest.name.in_(manifest_names))
    out = []
    for manifest in manifests:
        assets = list(
            Asset.select().where(Asset.manifest == manifest, Asset.state != AssetState.REMOVED)
        )
        by_id = {a.id: a for a in assets}
        # A duplicate's primary may live in another manifest: resolve it too.
        outside = {a.duplicate_of_id for a in assets} - set(by_id) - {None}
        if outside:
            by_id.update({a.id: a for a in Asset.select().where(Asset.id.in_(list(outside)))})
        revision = revisions([a.id for a in assets])
        out.append(
            {
                "name": manifest.name,
                "folder": manifest.folder,
                "contact_sheets": [
                    p for p in manifest.contact_sheets or [] if stored_path_inside(project, p)
                ],
                "reviewed": sum(1 for a in assets if a.reviewed),  # of len(assets)
                "assets": [
                    _checked_file(project, asset_record(a, by_id, revision.get(a.id, 0)))
                    for a in sorted(assets, key=_sort)
                ],
            }
        )
    # Characters span the manifests: all of them, whatever the manifest filter.
    characters = [character_json(view) for view in list_characters()]
    return {"project": project.name, "manifests": out, "characters": characters}


SQLITE_HEADER = b"SQLite format 3\0"
#: First bytes of the image formats vidpipe reads: an image is never overwritten, whatever its
#: name says (WebP is RIFF....WEBP, checked apart).
IMAGE_SIGNATURES = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\0",
    b"MM\0*",
)


def refuse_destination(project: Project, destination: Path, database_path: Path | None) -> None:
    """ProjectError if writing the export at ``destination`` would destroy data: vidpipe's own
    state (database, queue, crops ... anything in .vidpipe/ outside exports/), the database
    wherever it lives, any SQLite database, an image (by name or by content), a folder."""
    real = Path(os.path.realpath(destination))
    state = Path(os.path.realpath(project.state_dir))
    exports = Path(os.path.realpath(project.exports_dir))
    shown = str(destination)
    if _under(real, state) and not _under(real, exports):
        raise ProjectError(
            f"refusing to write the export to {shown}: it is inside "
            f"{project.state_dir}, vidpipe's own state (database, queue, crops); "
            f"exports go to {project.exports_dir} or outside .vidpipe/"
        )
    if real.is_dir():
        raise ProjectError(
            f"refusing to write the export to {shown}: it is a folder; give a "
            "file name, e.g. -o manifest.json"
        )
    if not real.exists():
        return
    if not real.is_file():  # a device (/dev/stdout), FIFO or socket: the export replaces names
        raise ProjectError(f"refusing to write the export to {shown}: it is not a regular file")
    if database_path is not None and _same(real, database_path):
        raise ProjectError(f"refusing to write the export to {shown}: it is the project's database")
    try:
        with open_regular(real) as handle:
            head = handle.read(16)
    except (OSError, VidpipeError):
        head = b""
    if head.startswith(SQLITE_HEADER):
        raise ProjectError(f"refusing to write the export to {shown}: it is a SQLite database")
    if (
        imaging.is_image_name(real)
        or head.startswith(IMAGE_SIGNATURES)
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    ):
        raise ProjectError(
            f"refusing to write the export to {shown}: it is an image; choose a .json file"
        )


def _under(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def write_export(
    project: Project,
    destination: Path | None = None,
    manifest_names: list[str] | None = None,
    database_path: Path | None = None,
) -> Path:
    """Write the export to ``destination`` (default ``.vidpipe/exports/manifest.json``), never
    over something it would destroy (see :func:`refuse_destination`)."""
    destination = Path(destination) if destination else project.exports_dir / "manifest.json"
    refuse_destination(project, destination, database_path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    data = build_export(project, manifest_names)
    write_atomic(destination, export_json(data), durable=True)
    return destination
