"""Stage: face grouping (not built yet: reported as skipped, never faked)."""

from __future__ import annotations

from vidpipe.stages.base import Stage, StageContext, StageName


class FaceStage(Stage):
    name = StageName.FACES

    def unavailable(self, ctx: StageContext) -> str | None:
        return "face grouping is not built yet in this version of vidpipe"
