"""Where the prompt stage's results land: one asset's answer (or error) in its own short
transaction, as soon as it arrives; what a response cost in the usage ledger.

A person's edit of ``reverse_prompt`` / ``visual_description`` is never overwritten: the new AI
text becomes a suggestion in the field's history (:func:`vidpipe.store.edits.apply_ai_value`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vidpipe.pipeline.stages.base import StageContext, StageName, mark_done, set_stage_error
from vidpipe.prompting import ledger
from vidpipe.store.edits import apply_ai_value
from vidpipe.store.models import Asset, db, utcnow

if TYPE_CHECKING:
    from vidpipe.prompting.backend_choice import BackendIdentity

log = logging.getLogger("vidpipe.pipeline.stages.prompts")


class ResultWriter:
    def __init__(
        self,
        ctx: StageContext,
        progress,
        origin: str,
        version: str,
        mark: str,
        backend: "BackendIdentity",
        marks: dict[int, str] | None = None,
    ):
        self.ctx = ctx
        self.progress = progress
        self.origin = origin
        self.version = version
        self.mark = mark
        self.backend = backend
        self.marks = marks or {}  # assets whose mark is not ``mark`` (duplicate faces)
        self.written = 0
        self.failed = 0

    def answer(
        self,
        asset_id: int,
        name: str,
        reverse_prompt: str,
        visual_description: str,
        quality_score: float | None,
    ) -> None:
        overwrite = self.ctx.overwrite
        with db.atomic():
            apply_ai_value(asset_id, "reverse_prompt", reverse_prompt, overwrite=overwrite)
            apply_ai_value(asset_id, "visual_description", visual_description, overwrite=overwrite)
            Asset.update(
                quality_score=quality_score,
                prompt_origin=self.origin,
                prompt_version=self.version,
                updated_at=utcnow(),
            ).where(Asset.id == asset_id).execute()
            set_stage_error(asset_id, StageName.PROMPTS, None)
            mark_done(Asset(id=asset_id), StageName.PROMPTS, self.marks.get(asset_id, self.mark))
        self.written += 1
        self.progress.advance(1, item=name)

    def usage(self, asset_id: int | None, usage, batch: bool = False) -> None:
        ledger.record(
            self.ctx.run.id, asset_id, self.backend.cache_model, usage, self.backend.price, batch
        )

    def failure(self, asset_or_id, name: str, message: str) -> None:
        asset_id = asset_or_id if isinstance(asset_or_id, int) else asset_or_id.id
        set_stage_error(asset_id, StageName.PROMPTS, message)
        self.progress.error(Asset(id=asset_id), f"{name}: {message}")
        self.progress.advance(1, item=name)
        self.failed += 1
        log.warning("prompts: %s: %s", name, message)
