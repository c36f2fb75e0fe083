"""Stage 3: faces. Found in every uploaded image, cropped, embedded, grouped across the project.

Each uploaded image goes through the face model once (detection, alignment and embedding in one
call), at most ``FACE_MAX_SIDE`` px long; the faces of the people YOLO cropped are among them, so
person crops are not searched a second time. A face crop hangs off the uploaded image it was
found in, like every crop, with ``crop_bbox`` in that image's upright pixels.

Grouping runs over all faces of the project after the per-image work, every run (it is cheap),
honouring the merge / split decisions a person made (vidpipe.pipeline.face_review); each group
is a character (vidpipe.pipeline.characters.regroup).
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from vidpipe.errors import ImageError, RunStopped
from vidpipe.pipeline.extracted import (
    Candidate,
    clip_box,
    crops_damaged,
    downscaled,
    sync_extracted,
)
from vidpipe.imaging import load_rgb
from vidpipe.store.models import AssetType, Source
from vidpipe.pipeline.stages.base import (
    Stage,
    StageContext,
    StageName,
    fail_asset,
    mark_done,
    set_stage_error,
)

if TYPE_CHECKING:
    from vidpipe.store.models import Asset
    from vidpipe.vision.faces import FaceFinder

STAGE_VERSION = "1"
FACE_MAX_SIDE = 1600  # mtcnn finds faces down to ~20 px; larger inputs only cost time
FACE_MARGIN = 0.25  # saved crops show some hair and chin around the detected box


class FaceStage(Stage):
    name = StageName.FACES

    def __init__(self, finder: "FaceFinder | None" = None):
        self._finder = finder

    def unavailable(self, ctx: StageContext) -> str | None:
        if self._finder is not None:
            return None
        from vidpipe.extras import missing_reason
        from vidpipe.vision.weights import face_weights_problem

        return missing_reason(
            "vision", "face detection", ("deepface", "tensorflow", "mtcnn")
        ) or face_weights_problem(ctx.settings)

    def finder(self, ctx: StageContext) -> "FaceFinder":
        if self._finder is None:
            from vidpipe.vision.faces import get_face_finder

            self._finder = get_face_finder(ctx.settings)
        return self._finder

    @staticmethod
    def fingerprint(ctx: StageContext, finder: "FaceFinder") -> str:
        s = ctx.settings
        parts = (STAGE_VERSION, finder.identity, s.face_min_confidence, FACE_MAX_SIDE, FACE_MARGIN)
        return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]

    def threshold(self, ctx: StageContext) -> float:
        if ctx.settings.face_distance_threshold is not None:
            return ctx.settings.face_distance_threshold
        from vidpipe.vision.grouping import default_threshold
        from vidpipe.vision.weights import prepare_deepface_env

        prepare_deepface_env(ctx.settings)  # other models' defaults come from deepface itself
        return default_threshold(ctx.settings.face_model)

    def run(self, ctx: StageContext, progress) -> str:
        finder = self.finder(ctx)
        fingerprint = self.fingerprint(ctx, finder)
        uploaded = ctx.assets(source=Source.UPLOADED)
        todo = ctx.needs_work(uploaded, self.name, fingerprint)
        todo_ids = {a.id for a in todo}
        todo += [
            a for a in uploaded if a.id not in todo_ids and crops_damaged(ctx.project, a.id, "face")
        ]
        progress.start(len(todo))
        started = time.perf_counter()
        if todo and not getattr(finder, "loaded", True):
            progress.message("loading the face model")
            finder.load()
        load_s = time.perf_counter() - started
        found = done = 0
        for asset in todo:
            ctx.check_cancelled()
            progress.item(asset.name)
            try:
                found += self._one(ctx, finder, asset, fingerprint)
                done += 1
            except ImageError as exc:
                fail_asset(progress, self.name, asset, str(exc))
                continue
            except RunStopped:
                raise  # a full disk, a cancel: the run stops, not this one image
            except Exception as exc:  # the face library failing on one odd image
                fail_asset(
                    progress,
                    self.name,
                    asset,
                    f"face detection failed: {type(exc).__name__}: {exc}",
                )
                continue
            progress.advance(1, item=asset.name)
        work_s = time.perf_counter() - started - load_s

        from vidpipe.pipeline.characters.regroup import regroup_project

        summary = regroup_project(self.threshold(ctx), ctx.settings.face_model)
        timing = f", {work_s / done * 1000:.0f} ms/image on {finder.device}" if done else ""
        load = f", model load {load_s:.1f} s" if load_s > 0.05 else ""
        return (
            f"{done} image(s) searched, {found} face(s) found; project: {summary.faces} "
            f"face(s) in {summary.groups} group(s), {summary.duplicates} duplicate(s) at "
            f"distance {summary.threshold:g}{timing}{load}"
        )

    def _one(
        self, ctx: StageContext, finder: "FaceFinder", asset: "Asset", fingerprint: str
    ) -> int:
        image = load_rgb(
            ctx.project.absolute(asset.file_path),
            ctx.settings.max_image_pixels,
            within=ctx.project.root,
        )
        small, scale = downscaled(image, FACE_MAX_SIDE)
        candidates = []
        for face in finder.find(small):
            if face.confidence < ctx.settings.face_min_confidence:
                continue
            x1, y1, x2, y2 = (v * scale for v in (face.x1, face.y1, face.x2, face.y2))
            mx, my = (x2 - x1) * FACE_MARGIN, (y2 - y1) * FACE_MARGIN
            bbox = clip_box(x1 - mx, y1 - my, x2 + mx, y2 + my, image.width, image.height)
            if bbox[2] - bbox[0] < 2 or bbox[3] - bbox[1] < 2:
                continue
            candidates.append(
                Candidate(
                    bbox,
                    "face",
                    round(face.confidence, 4),
                    AssetType.CHARACTER,
                    is_face=True,
                    embedding=face.embedding,
                    landmarks=_landmarks(face, scale),
                )
            )
        candidates.sort(key=lambda c: (c.bbox[0], c.bbox[1]))
        sync_extracted(ctx.project, asset, image, "face", candidates)
        mark_done(asset, self.name, fingerprint)
        set_stage_error(asset.id, self.name, None)
        return len(candidates)


def _landmarks(face, scale: float) -> dict:
    """The detected box and landmarks in the full image's pixels, rounded to a tenth."""

    def point(values) -> list[float]:
        return [round(v * scale, 1) for v in values]

    found = {"box": point((face.x1, face.y1, face.x2, face.y2))}
    found.update({name: point(xy) for name, xy in sorted(face.landmarks.items())})
    return found
