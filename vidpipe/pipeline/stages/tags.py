"""Stage 5: sequential manifest tags."""

from __future__ import annotations

from vidpipe.store.models import Asset
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName
from vidpipe.pipeline.tags import assign_tags


class TagStage(Stage):
    name = StageName.TAGS

    def run(self, ctx: StageContext, progress) -> str:
        total = Asset.select().where(Asset.manifest == ctx.manifest).count()
        progress.start(total)
        changed = assign_tags(ctx.manifest)
        progress.advance(total)
        return f"{len(changed)} tag(s) changed"
