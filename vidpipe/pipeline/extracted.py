"""Extracted assets: crop files and the rows that describe them.

Detection and the face stage both turn boxes found in an uploaded image into extracted Assets.
``sync_extracted`` makes the rows of one source agree with the boxes found now:

* a box that matches an existing row (same class, IoU ≥ ``MATCH_IOU``) keeps that row, so its
  id, name, tag and every edit a person made survive reruns, GPU-vs-CPU jitter included;
* a new box makes a new row, keyed ``<kind>:<class>:<x1>,<y1>,<x2>,<y2>`` (unique per source);
* a row whose box is gone is marked REMOVED (not deleted: edits stay; it comes back if the box
  does).

Crop files live in ``.vidpipe/crops/``, named from the source's content hash and the key, so a
rerun finds them again; they are written to a temporary name and renamed (never half-written).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from peewee import IntegrityError

from vidpipe.errors import ImageError
from vidpipe.store.models import Asset, AssetState, AssetType, Source, db, utcnow
from vidpipe.store.safe_io import UnsafePath, open_inside, write_atomic

if TYPE_CHECKING:
    from PIL import Image

    from vidpipe.store.project import Project

MATCH_IOU = 0.5  # same object on a rerun
KEEP_BOX_IOU = 0.9  # close enough: keep the old box and crop file (no churn downstream)

BBox = tuple[int, int, int, int]


@dataclass
class Candidate:
    """A box found in a source image, about to become (or update) an extracted asset."""

    bbox: BBox  # source pixels after EXIF orientation, clipped to the image
    class_name: str
    confidence: float
    asset_type: AssetType
    is_face: bool = False
    embedding: list[float] | None = None
    landmarks: dict | None = None  # a face's detected box and landmarks (Asset.face_landmarks)


@dataclass
class SyncResult:
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    assets: dict[int, Candidate] = field(default_factory=dict)  # asset id -> its candidate

    @property
    def kept(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def clip_box(x1: float, y1: float, x2: float, y2: float, width: int, height: int) -> BBox:
    left = int(max(0, min(width, round(x1))))
    top = int(max(0, min(height, round(y1))))
    right = int(max(left, min(width, round(x2))))
    bottom = int(max(top, min(height, round(y2))))
    return left, top, right, bottom


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def crop_path(project: "Project", source_hash: str, key: str) -> Path:
    # Both parts are slugged: a hash read from a database that came with the project is input
    # too, and "../" in it must not lead out of the crops folder.
    return project.crops_dir / f"{_slug(source_hash[:16])}-{_slug(key)[:120]}.jpg"


def write_crop(
    image: "Image.Image", bbox: BBox, path: Path, within: Path | None = None
) -> tuple[str, int, int, int]:
    """Save ``image`` cropped to ``bbox`` atomically; returns (hash, bytes, width, height).
    ``within``: the folder the crops folder must really be in (see vidpipe.store.safe_io)."""
    crop = image.crop(bbox)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=92)
    data = buffer.getvalue()
    write_atomic(path, data, within=within)
    digest = hashlib.blake2b(data, digest_size=20).hexdigest()  # same as ingest.content_hash
    return digest, len(data), crop.width, crop.height


def crop_file_intact(project: "Project", asset: Asset) -> bool:
    """The crop file exists and still holds what was written (cheap size check, then hash)."""
    try:
        # A regular file really inside the project only (a stored row may name a link to a
        # device or a FIFO elsewhere), read no further than the size it should have.
        with open_inside(project.absolute(asset.file_path), project.root) as handle:
            if os.fstat(handle.fileno()).st_size != asset.file_size:
                return False
            data = handle.read(asset.file_size + 1)
        return hashlib.blake2b(data, digest_size=20).hexdigest() == asset.content_hash
    except (OSError, ImageError, UnsafePath):  # ImageError: a stored path leading out
        return False


def _key(kind: str, candidate: Candidate, taken: set[str]) -> str:
    base = f"{kind}:{candidate.class_name}:{','.join(str(v) for v in candidate.bbox)}"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}#{n}"
    return key


def _match(existing: list[Asset], candidates: list[Candidate]) -> dict[int, Asset]:
    """Greedy best-IoU matching of candidates (by index) to existing rows of the same class."""
    pairs = []
    for ci, cand in enumerate(candidates):
        for row in existing:
            if row.detection_class == cand.class_name and row.crop_bbox:
                overlap = iou(cand.bbox, row.crop_bbox)
                if overlap >= MATCH_IOU:
                    # Prefer live rows over removed ones, then the best overlap.
                    pairs.append((row.state != AssetState.REMOVED, overlap, ci, row))
    pairs.sort(key=lambda p: (p[0], p[1]), reverse=True)
    matched: dict[int, Asset] = {}
    used: set[int] = set()
    for _, _, ci, row in pairs:
        if ci in matched or row.id in used:
            continue
        matched[ci] = row
        used.add(row.id)
    return matched


def existing_extracted(source_id: int, kind: str) -> list[Asset]:
    return list(
        Asset.select()
        .where(Asset.source_asset == source_id, Asset.extraction_key.startswith(f"{kind}:"))
        .order_by(Asset.id)
    )


def crops_damaged(project: "Project", source_id: int, kind: str) -> bool:
    """A live crop of ``kind`` cut from ``source_id`` is missing on disk or changed size."""
    for row in existing_extracted(source_id, kind):
        if row.state == AssetState.REMOVED:
            continue
        try:
            if project.absolute(row.file_path).stat().st_size != row.file_size:
                return True
        except (OSError, ImageError):
            return True
    return False


def downscaled(image: "Image.Image", max_side: int) -> tuple["Image.Image", float]:
    """A copy at most ``max_side`` px long (the image itself if it fits), and the factor back
    to full-size pixels."""
    from PIL import Image

    if max(image.size) <= max_side:
        return image, 1.0
    small = image.copy()
    small.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return small, image.width / small.width


def sync_extracted(
    project: "Project",
    source: Asset,
    image: "Image.Image",
    kind: str,
    candidates: list[Candidate],
    label: str | None = None,
    remove_missing: bool = True,
) -> SyncResult:
    """Make ``source``'s extracted rows of ``kind`` ("det", "face") match ``candidates``.

    ``image`` is the source at full resolution, upright (EXIF applied): crops are cut from it.
    Each row is written with targeted UPDATEs of the fields this stage owns, never a whole-row
    save, so a person's concurrent edit of a name or description is never lost.
    """
    result = SyncResult()
    existing = existing_extracted(source.id, kind)
    matched = _match(existing, candidates)
    taken = {row.extraction_key for row in existing}
    counts: dict[str, int] = {}
    for row in existing:
        counts[row.detection_class or ""] = counts.get(row.detection_class or "", 0) + 1

    for index, cand in enumerate(candidates):
        row = matched.get(index)
        if row is None:
            asset_id = _create(project, source, image, kind, cand, taken, counts, label)
            result.created.append(asset_id)
            result.assets[asset_id] = cand
            continue
        result.assets[row.id] = cand
        bbox = tuple(row.crop_bbox) if iou(cand.bbox, row.crop_bbox) >= KEEP_BOX_IOU else cand.bbox
        cand.bbox = bbox
        updates: dict = {}
        path = crop_path(project, source.content_hash, row.extraction_key)
        if (
            bbox != tuple(row.crop_bbox)
            or project.relative(path) != row.file_path
            or not crop_file_intact(project, row)
        ):
            digest, size, width, height = write_crop(image, bbox, path, within=project.state_dir)
            updates.update(
                {
                    Asset.file_path: project.relative(path),
                    Asset.content_hash: digest,
                    Asset.file_size: size,
                    Asset.file_mtime: path.stat().st_mtime,
                    Asset.width: width,
                    Asset.height: height,
                    Asset.crop_bbox: list(bbox),
                    Asset.sharpness: None,
                }
            )
        if (
            row.detection_confidence is None
            or abs(row.detection_confidence - cand.confidence) > 1e-6
        ):
            updates[Asset.detection_confidence] = cand.confidence
        if row.is_face_crop != cand.is_face:
            updates[Asset.is_face_crop] = cand.is_face
        if cand.embedding is not None and row.face_embedding != cand.embedding:
            updates[Asset.face_embedding] = cand.embedding
        if cand.landmarks is not None and row.face_landmarks != cand.landmarks:
            updates[Asset.face_landmarks] = cand.landmarks
        if row.state in (AssetState.REMOVED, AssetState.ERROR):
            updates.update({Asset.state: AssetState.PENDING, Asset.error: None})
        if updates:
            updates[Asset.updated_at] = utcnow()
            Asset.update(updates).where(Asset.id == row.id).execute()
            result.updated.append(row.id)
        else:
            result.unchanged.append(row.id)

    if remove_missing:
        kept = {row.id for row in matched.values()}
        gone = [
            row.id for row in existing if row.id not in kept and row.state != AssetState.REMOVED
        ]
        if gone:
            Asset.update(
                {
                    Asset.state: AssetState.REMOVED,
                    Asset.face_group: None,
                    Asset.duplicate_of: None,
                    Asset.updated_at: utcnow(),
                }
            ).where(Asset.id.in_(gone)).execute()
            result.removed.extend(gone)
    return result


def _create(
    project: "Project",
    source: Asset,
    image: "Image.Image",
    kind: str,
    cand: Candidate,
    taken: set[str],
    counts: dict[str, int],
    label: str | None,
) -> int:
    key = _key(kind, cand, taken)
    taken.add(key)
    counts[cand.class_name] = counts.get(cand.class_name, 0) + 1
    path = crop_path(project, source.content_hash, key)
    digest, size, width, height = write_crop(image, cand.bbox, path, within=project.state_dir)
    name = f"{source.name} {label or cand.class_name} {counts[cand.class_name]}"
    fields = dict(
        manifest=source.manifest_id,
        name=name,
        asset_type=cand.asset_type.value,
        type_source="detection",
        source=Source.EXTRACTED,
        source_asset=source.id,
        extraction_key=key,
        file_path=project.relative(path),
        content_hash=digest,
        file_size=size,
        file_mtime=path.stat().st_mtime,
        width=width,
        height=height,
        sort_order=source.sort_order,
        detection_class=cand.class_name,
        detection_confidence=cand.confidence,
        is_face_crop=cand.is_face,
        crop_bbox=list(cand.bbox),
        face_embedding=cand.embedding,
        face_landmarks=cand.landmarks,
        state=AssetState.PENDING,
    )
    try:
        with db.atomic():
            return Asset.create(**fields).id
    except IntegrityError:  # another worker created the same key a moment ago
        return Asset.get(Asset.source_asset == source.id, Asset.extraction_key == key).id
