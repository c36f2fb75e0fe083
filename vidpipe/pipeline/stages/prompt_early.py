"""Reverse prompting of uploaded images while the face stage still runs.

Once detection has run, an uploaded image's inputs to its prompt are final: its pixels, its type
(detection decides it), its name and notes. Only its tag may still move, when the face stage adds
face crops that are numbered before it. So the engine starts these requests in a background
thread when the face stage starts, naming each image by the tag it would have now; the answers go
to the prompt cache only, with the tag they named. The prompt stage, in its usual place after the
faces, finds them there and writes them under the asset's final tag (``cache.retag``) as it does
any cached answer: same writer, same edits rule, same stage marks. A kill loses nothing: what was
answered is in the cache, and the rest is asked by the prompt stage as before.

Not started for a reprocess, a batch run, while a batch job of the manifest is open, offline (no
Gemini key, the OpenAI-compatible server down), or with ``prompt_overlap = false``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from vidpipe.errors import ImageError, VidpipeError
from vidpipe.store.fencing import carrying_fence
from vidpipe.store.models import Source, StageProgress, db

if TYPE_CHECKING:
    from vidpipe.pipeline.stages.base import StageContext

log = logging.getLogger(__name__)


class EarlyPrompts:
    """``start()``, then ``finish()`` before the prompt stage (or ``stop()`` on the way out)."""

    def __init__(self, ctx: "StageContext", items: list, template_version: str):
        self.ctx = ctx
        self.items = items
        self.version = template_version
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=carrying_fence(self._main), name="vidpipe-early-prompts", daemon=True
        )
        self.answered = 0

    def start(self) -> "EarlyPrompts":
        StageProgress.update(
            message=f"started early: {len(self.items)} uploaded image(s) "
            "asked while the faces are found"
        ).where(StageProgress.run == self.ctx.run.id, StageProgress.stage == "prompts").execute()
        self._thread.start()
        return self

    def finish(self) -> None:
        """Wait for the requests in flight (the prompt stage asks for what is left)."""
        self._thread.join()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _main(self) -> None:
        try:
            asyncio.run(self._ask())
        except VidpipeError as exc:
            log.info("early prompts ended: %s", exc)
        except Exception:  # the prompt stage asks again and reports what goes wrong
            log.exception("early prompts failed; the prompt stage asks for them")
        finally:
            db.close()  # this thread's own connection

    async def _ask(self) -> None:
        from vidpipe.prompting import ledger
        from vidpipe.prompting.backend_choice import identity, open_backend
        from vidpipe.prompting.retry import RetryPolicy
        from vidpipe.prompting.runner import PromptBatch, jpeg_encoder
        from vidpipe.prompting.shared_limiter import make_limiter

        settings = self.ctx.settings
        run_id = self.ctx.run.id
        backend = identity(settings)

        def record(item, usage) -> None:
            ledger.record(run_id, item.asset_id, backend.cache_model, usage, backend.price)

        def answered(item, answer, from_cache) -> None:
            self.answered += 1

        def stopping() -> bool:
            return self._stop.is_set() or self.ctx.stop.is_set()

        # The same limits as the prompt stage's: with a Redis queue, shared by every daemon.
        limiter = make_limiter(settings)
        try:
            async with open_backend(settings, formats=self.ctx.prompt_formats) as client:
                batch = PromptBatch(
                    describer=client,
                    prompt_version=self.version,
                    limiter=limiter,
                    policy=RetryPolicy(max_retries=settings.prompt_max_retries),
                    encode=jpeg_encoder(settings, self.ctx.project.root),
                    on_answer=answered,
                    on_failure=lambda item, message: None,
                    on_usage=record,
                    should_stop=stopping,
                    release_thread=db.close,
                )
                await batch.run_async(self.items)
        finally:
            limiter.close()


def early_prompts(ctx: "StageContext") -> EarlyPrompts | None:
    """Start asking about the manifest's uploaded images that still need a prompt, or None."""
    from vidpipe.prompting import batch_job
    from vidpipe.prompting.runner import PromptItem
    from vidpipe.prompting.template import asset_values, load_template
    from vidpipe.pipeline.stages.prompt_batches import wants_batch
    from vidpipe.pipeline.stages.prompt_marks import fingerprint
    from vidpipe.pipeline.tags import planned_tags
    from vidpipe.prompting.backend_choice import identity, unavailable_reason

    settings = ctx.settings
    if not settings.prompt_overlap or ctx.only_assets is not None:
        return None
    backend = identity(settings)
    if not backend.model or unavailable_reason(settings) is not None:
        return None  # offline: the prompt stage says why
    template = load_template(ctx.project.root, settings.prompt_template, settings.kept_template())
    mark = fingerprint(backend.origin, backend.model, template.version)
    todo = ctx.needs_work(ctx.assets(source=Source.UPLOADED), "prompts", mark)
    # A batch job of the manifest still open answers them (the prompt stage collects it).
    if not todo or wants_batch(ctx, len(todo)) or batch_job.open_batches(ctx.manifest.id):
        return None
    tags = planned_tags(ctx.manifest, ctx.tagging_scope())
    items = []
    for asset in todo:
        try:
            image_path = ctx.project.absolute(asset.file_path)
        except ImageError:
            continue  # the prompt stage reports it on the asset
        asset.manifest_tag = tags.get(asset.id, asset.manifest_tag)  # in memory only
        items.append(
            PromptItem(
                asset_id=asset.id,
                name=asset.name,
                image_path=image_path,
                content_hash=asset.content_hash,
                prompt=template.render(asset_values(asset, None)),
                tag=asset.manifest_tag,
            )
        )
    log.info("asking about %d uploaded image(s) while the faces are found", len(items))
    return EarlyPrompts(ctx, items, template.version).start()
