"""Stage 2: YOLO detection. Every kept box becomes an extracted asset with its own crop file.

Box → asset: ``person`` makes a CHARACTER, any other class an OBJECT. The uploaded image itself
gets a type from what was found, unless a person or a folder/file-name hint decided it: a person
filling at least ``PERSON_OF_NOTE`` of the frame makes it a CHARACTER reference, else an object
filling ``OBJECT_OF_NOTE`` makes it an OBJECT, else it is a scene: ENVIRONMENT.

Reprocessing one uploaded image redoes its detection (its crops follow). Reprocessing one crop
re-detects on its source and updates only that crop, from the box that overlaps it best; a face
crop is left to the face stage (it is not a YOLO box).
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from vidpipe.store.edits import apply_ai_value
from vidpipe.errors import ImageError
from vidpipe.pipeline.extracted import (
    MATCH_IOU,
    Candidate,
    clip_box,
    crop_file_intact,
    crop_path,
    crops_damaged,
    downscaled,
    iou,
    sync_extracted,
    write_crop,
)
from vidpipe.imaging import load_rgb
from vidpipe.store.models import Asset, AssetState, AssetType, Source, utcnow
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageName,
    fail_asset,
    mark_done,
    set_stage_error,
)

if TYPE_CHECKING:
    from PIL import Image

    from vidpipe.vision.detector import Box, Detector

STAGE_VERSION = "1"
DETECT_MAX_SIDE = 1280  # YOLO looks at 640 px; a smaller copy makes its preprocessing cheaper
PERSON_OF_NOTE = 0.15
OBJECT_OF_NOTE = 0.25
DECIDABLE_TYPE_SOURCES = ("default", "detection")


def type_for_class(class_name: str) -> AssetType:
    return AssetType.CHARACTER if class_name == "person" else AssetType.OBJECT


def image_type(candidates: list[Candidate], width: int, height: int) -> AssetType:
    area = float(width * height) or 1.0
    fractions = [
        ((c.bbox[2] - c.bbox[0]) * (c.bbox[3] - c.bbox[1]) / area, c.class_name) for c in candidates
    ]
    if any(f >= PERSON_OF_NOTE for f, name in fractions if name == "person"):
        return AssetType.CHARACTER
    if any(f >= OBJECT_OF_NOTE for f, name in fractions if name != "person"):
        return AssetType.OBJECT
    return AssetType.ENVIRONMENT


class DetectionStage(Stage):
    name = StageName.DETECTION

    def __init__(self, detector: "Detector | None" = None):
        self._detector = detector  # tests inject one at the Protocol seam

    # -- availability and identity ---------------------------------------------------------------
    def unavailable(self, ctx: StageContext) -> str | None:
        if self._detector is not None or ctx.settings.detector:
            return None
        from vidpipe.extras import missing_reason
        from vidpipe.vision.weights import find_yolo_weights

        no_package = missing_reason("vision", "detection", ("ultralytics", "torch"))
        if no_package:
            return no_package

        weights = find_yolo_weights(ctx.settings)
        if not weights.available:
            return weights.missing_reason().format(models_dir=ctx.settings.models_dir)
        return None

    def detector(self, ctx: StageContext) -> "Detector":
        if self._detector is None:
            from vidpipe.vision.detector import get_detector

            self._detector = get_detector(ctx.settings)
        return self._detector

    @staticmethod
    def fingerprint(ctx: StageContext, detector: "Detector") -> str:
        s = ctx.settings
        parts = (
            STAGE_VERSION,
            detector.identity,
            s.detection_confidence,
            s.detection_min_box_fraction,
            sorted(s.detection_classes),
            DETECT_MAX_SIDE,
        )
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    # -- selection --------------------------------------------------------------------------------
    def _targets(
        self, ctx: StageContext, fingerprint: str
    ) -> tuple[list[Asset], dict[int, list[Asset]]]:
        """Uploaded images to detect on, and crops to refresh individually (reprocess of a crop)."""
        focus: dict[int, list[Asset]] = {}
        if ctx.only_assets is not None:
            sources: dict[int, Asset] = {}
            for asset in ctx.assets():
                if asset.source == Source.UPLOADED:
                    sources[asset.id] = asset
                elif not asset.is_face_crop and asset.source_asset_id:
                    source = Asset.get_or_none(Asset.id == asset.source_asset_id)
                    if source is not None and source.state not in (
                        AssetState.REMOVED,
                        AssetState.ERROR,
                    ):
                        focus.setdefault(source.id, []).append(asset)
                        sources.setdefault(source.id, source)
            return list(sources.values()), focus
        uploaded = ctx.assets(source=Source.UPLOADED)
        todo = ctx.needs_work(uploaded, self.name, fingerprint)
        todo_ids = {a.id for a in todo}
        # A crop file deleted or damaged on disk is cut again from its source.
        for asset in uploaded:
            if asset.id not in todo_ids and crops_damaged(ctx.project, asset.id, "det"):
                todo.append(asset)
        return todo, focus

    # -- the work ---------------------------------------------------------------------------------
    def run(self, ctx: StageContext, progress) -> str:
        detector = self.detector(ctx)
        fingerprint = self.fingerprint(ctx, detector)
        targets, focus = self._targets(ctx, fingerprint)
        progress.start(len(targets))
        if not targets:
            return "nothing to do: every image is detected"
        started = time.perf_counter()
        if not getattr(detector, "loaded", True):
            progress.message(f"loading detector on {detector.device}")
            detector.load()
        load_s = time.perf_counter() - started
        totals = {"boxes": 0, "removed": 0, "images": 0}
        batch_size = max(1, ctx.settings.detection_batch_size)
        for start in range(0, len(targets), batch_size):
            ctx.check_cancelled()
            batch = targets[start : start + batch_size]
            loaded = []
            for asset in batch:
                progress.item(asset.name)
                try:
                    image = load_rgb(
                        ctx.project.absolute(asset.file_path),
                        ctx.settings.max_image_pixels,
                        within=ctx.project.root,
                    )
                except ImageError as exc:
                    fail_asset(progress, self.name, asset, str(exc))
                    continue
                loaded.append((asset, image, downscaled(image, DETECT_MAX_SIDE)))
            if not loaded:
                continue
            found = detector.detect([small for _, _, (small, _) in loaded])
            for (asset, image, (_, scale)), boxes in zip(loaded, found):
                try:
                    candidates = self._candidates(ctx, boxes, scale, image.width, image.height)
                    if asset.id in focus:
                        self._refresh_crops(ctx, asset, image, candidates, focus[asset.id])
                    else:
                        result = sync_extracted(ctx.project, asset, image, "det", candidates)
                        totals["boxes"] += result.kept
                        totals["removed"] += len(result.removed)
                        self._decide_type(asset, candidates, image.width, image.height)
                        mark_done(asset, self.name, fingerprint)
                    set_stage_error(asset.id, self.name, None)
                    totals["images"] += 1
                except (OSError, ValueError) as exc:  # a crop that cannot be written
                    fail_asset(progress, self.name, asset, f"cannot save crops: {exc}")
                    continue
                progress.advance(1, item=asset.name)
        elapsed = time.perf_counter() - started - load_s
        per_image = elapsed / max(1, totals["images"])
        removed = f", {totals['removed']} gone" if totals["removed"] else ""
        return (
            f"{totals['images']} image(s), {totals['boxes']} box(es) kept{removed} on "
            f"{detector.device} ({per_image * 1000:.0f} ms/image"
            + (f", model load {load_s:.1f} s" if load_s > 0.05 else "")
            + ")"
        )

    @staticmethod
    def _candidates(
        ctx: StageContext, boxes: list["Box"], scale: float, width: int, height: int
    ) -> list[Candidate]:
        s = ctx.settings
        wanted = set(s.detection_classes)
        min_area = s.detection_min_box_fraction * width * height
        out = []
        for box in boxes:
            if box.confidence < s.detection_confidence:
                continue
            if wanted and box.class_name not in wanted:
                continue
            full = box.scaled(scale)
            bbox = clip_box(full.x1, full.y1, full.x2, full.y2, width, height)
            area = (bbox[2] - bbox[0]) * (bbox[3] - bbox[1])
            if area <= 0 or area < min_area:
                continue
            out.append(
                Candidate(
                    bbox,
                    box.class_name,
                    round(float(box.confidence), 4),
                    type_for_class(box.class_name),
                )
            )
        out.sort(key=lambda c: (-c.confidence, c.bbox))
        return out

    @staticmethod
    def _decide_type(asset: Asset, candidates: list[Candidate], width: int, height: int) -> None:
        current = Asset.select(Asset.type_source).where(Asset.id == asset.id).scalar()
        if current not in DECIDABLE_TYPE_SOURCES:
            return  # a person or a folder/file-name hint decided: never overridden
        apply_ai_value(asset.id, "asset_type", image_type(candidates, width, height))

    def _refresh_crops(
        self,
        ctx: StageContext,
        source: Asset,
        image: "Image.Image",
        candidates: list[Candidate],
        crops: list[Asset],
    ) -> None:
        """Reprocess of single crops: update each from the new box that overlaps it best."""
        for crop in crops:
            best, best_iou = None, 0.0
            for cand in candidates:
                overlap = iou(cand.bbox, crop.crop_bbox or (0, 0, 0, 0))
                if overlap > best_iou:
                    best, best_iou = cand, overlap
            if best is None or best_iou < MATCH_IOU:
                set_stage_error(
                    crop.id,
                    self.name,
                    "no box found on this spot any more; the crop was left as it was",
                )
                continue
            updates = {
                Asset.detection_class: best.class_name,
                Asset.detection_confidence: best.confidence,
                Asset.is_face_crop: False,
                Asset.crop_bbox: list(best.bbox),
                Asset.updated_at: utcnow(),
            }
            if list(best.bbox) != list(crop.crop_bbox or []) or not crop_file_intact(
                ctx.project, crop
            ):
                path = crop_path(ctx.project, source.content_hash, crop.extraction_key)
                digest, size, width, height = write_crop(
                    image, best.bbox, path, within=ctx.project.state_dir
                )
                updates.update(
                    {
                        Asset.file_path: ctx.project.relative(path),
                        Asset.content_hash: digest,
                        Asset.file_size: size,
                        Asset.file_mtime: path.stat().st_mtime,
                        Asset.width: width,
                        Asset.height: height,
                    }
                )
            Asset.update(updates).where(Asset.id == crop.id).execute()
            set_stage_error(crop.id, self.name, None)
