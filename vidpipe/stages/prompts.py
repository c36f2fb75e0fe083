"""Stage: reverse prompting (not built yet: reported as skipped, never faked)."""

from __future__ import annotations

from vidpipe.stages.base import Stage, StageContext, StageName


class PromptStage(Stage):
    name = StageName.PROMPTS

    def unavailable(self, ctx: StageContext) -> str | None:
        return "reverse prompting is not built yet in this version of vidpipe"
