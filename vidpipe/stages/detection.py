"""Stage: YOLO detection (not built yet: reported as skipped, never faked)."""

from __future__ import annotations

from vidpipe.stages.base import Stage, StageContext, StageName


class DetectionStage(Stage):
    name = StageName.DETECTION

    def unavailable(self, ctx: StageContext) -> str | None:
        return "YOLO detection is not built yet in this version of vidpipe"
