"""Stage 5: tags for the assets that have none yet (a tag once given never changes here)."""

from __future__ import annotations

from vidpipe.pipeline.stages.base import Stage, StageContext, StageName
from vidpipe.pipeline.tags import assign_tags, mismatched_tags

SHOWN = 5  # tags named in the summary


class TagStage(Stage):
    name = StageName.TAGS

    def run(self, ctx: StageContext, progress) -> str:
        owned = ctx.tagging_scope()
        progress.start(len(owned))
        ctx.tags_given.update(assign_tags(ctx.manifest, owned))
        progress.advance(len(owned))
        return tag_summary(ctx)


def tag_summary(ctx: StageContext) -> str:
    """What this run did to tags, counted from what it wrote (the prompt stage gives most)."""
    given = sorted(ctx.tags_given.values())
    if given:
        names = ", ".join(given[:SHOWN]) + (" …" if len(given) > SHOWN else "")
        text = f"{len(given)} new tag(s): {names}; no existing tag changed"
    else:
        text = "no new tags; no existing tag changed"
    mismatched = mismatched_tags(ctx.manifest)
    if mismatched:
        text += (
            f"; {len(mismatched)} tag(s) no longer match their asset's type "
            f"({', '.join(sorted(a.manifest_tag for a in mismatched)[:SHOWN])}): "
            "`vidpipe retag` renumbers"
        )
    return text
