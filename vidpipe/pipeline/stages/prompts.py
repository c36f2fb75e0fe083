"""Stage 4: reverse prompting — a text-to-image prompt, a description and a quality score per asset.

Each image goes to the configured vision backend (:mod:`vidpipe.prompting.backend`): Gemini
through google-genai with GEMINI_API_KEY / GOOGLE_API_KEY, or an OpenAI-compatible server on the
team's own GPU (``prompt_backend = "openai"``). When the backend cannot be used (no Gemini key,
the server down at the start of the run), every asset still gets a clearly labelled offline
prompt built from what the pipeline knows. The origin is part of the stage fingerprint, so
offline results are redone by the first run that reaches a model, while an offline run never
replaces a model's answer with an offline one.

A person's edit of ``reverse_prompt`` / ``visual_description`` is never overwritten: the new AI
text becomes a suggestion in the field's history (see :mod:`.prompt_writer`).
"""

from __future__ import annotations

import logging
import threading

from vidpipe.errors import ImageError, ModelUnavailable, RunCancelled, RunStopped, VidpipeError
from vidpipe.store.fencing import carrying_fence
from vidpipe.store.models import Asset, StageMark, db
from vidpipe.prompting import duplicates, ledger
from vidpipe.prompting.backend import GEMINI
from vidpipe.prompting.backend_choice import BackendIdentity, identity, unavailable_reason
from vidpipe.prompting.offline import OFFLINE_VERSION, offline_prompt
from vidpipe.prompting.retry import AuthFailure, RetryPolicy
from vidpipe.prompting.template import PromptTemplate, asset_values, load_template
from vidpipe.pipeline.stages.base import Stage, StageContext, StageName
from vidpipe.pipeline.stages.prompt_marks import OFFLINE, fingerprint
from vidpipe.pipeline.stages.prompt_writer import ResultWriter
from vidpipe.pipeline.tags import assign_tags

log = logging.getLogger(__name__)

OFFLINE_IMAGE_PX = 256  # image statistics need no more


class PromptStage(Stage):
    name = StageName.PROMPTS

    def start_early(self, ctx: StageContext):
        """Ask about uploaded images while the face stage runs (vidpipe.pipeline.stages.prompt_early)."""
        from vidpipe.pipeline.stages.prompt_early import early_prompts

        return early_prompts(ctx)

    def run(self, ctx: StageContext, progress) -> str:
        settings = ctx.settings
        template = load_template(
            ctx.project.root, settings.prompt_template, settings.kept_template()
        )
        backend = identity(settings)
        offline_reason = unavailable_reason(settings)
        online = offline_reason is None
        if online and not backend.model:
            raise ModelUnavailable(_no_model_message(settings))
        origin = backend.origin if online else OFFLINE
        version = template.version if online else OFFLINE_VERSION
        mark = fingerprint(origin, backend.model, version)

        candidates = ctx.assets()
        # Duplicate faces take their primary's answer (see vidpipe.prompting.duplicates).
        primaries = (
            duplicates.primaries_of(candidates)
            if online and settings.prompt_duplicate_faces == duplicates.REUSE
            else {}
        )
        marks = {
            a.id: duplicates.copy_fingerprint(mark, primaries[a.id])
            for a in candidates
            if a.id in primaries
        }
        todo = _needing_work(ctx, candidates, mark, marks)
        todo += ctx.new_crops(self.name, mark)  # a reprocessed image's new crops: this job
        kept = 0
        if not online:
            # Offline, a model's answer is better than anything made here: keep it.
            answered = _assets_with_model_marks([a.id for a in todo])
            kept = len(answered)
            todo = [a for a in todo if a.id not in answered]
        progress.start(len(todo))
        if not todo:
            return _summary_nothing(offline_reason, kept)

        # Types are known once detection and faces have run: new assets get their tags now, so
        # that the prompt names the subject "CHAR_01" (the tags stage gives any left).
        ctx.tags_given.update(assign_tags(ctx.manifest, ctx.tagging_scope()))
        ids = [a.id for a in todo]
        todo = list(
            Asset.select().where(Asset.id.in_(ids)).order_by(Asset.sort_order, Asset.file_path)
        )
        parent_ids = {a.source_asset_id for a in todo if a.source_asset_id}
        parents = (
            {p.id: p for p in Asset.select().where(Asset.id.in_(parent_ids))} if parent_ids else {}
        )

        writer = ResultWriter(ctx, progress, origin, version, mark, backend, marks)
        if not online:
            return self._run_offline(
                ctx, todo, parents, writer, kept, offline_reason or "", backend
            )
        # A duplicate whose primary is neither due now nor answered before asks for itself, as
        # does one being reprocessed ("look again"); either way its mark still names its primary.
        due = {a.id for a in todo}
        copies = [
            a
            for a in todo
            if a.id in primaries
            and ctx.only_assets is None
            and (
                primaries[a.id].id in due
                or duplicates.copied_answer(primaries[a.id], a, backend.cache_model, version)
                is not None
            )
        ]
        copy_ids = {a.id for a in copies}
        requests = [a for a in todo if a.id not in copy_ids]
        summary = None
        if backend.origin == GEMINI:
            summary = self._run_batches(ctx, requests, parents, template, writer)
        if summary is None:
            summary = self._run_model(ctx, requests, parents, template, writer, backend)
            summary += _batch_note(ctx, backend)
        if copies:
            summary += "; " + _copy_duplicates(ctx, copies, primaries, version, writer, backend)
        return summary

    # -- offline ---------------------------------------------------------------------------------
    def _run_offline(
        self,
        ctx,
        todo,
        parents,
        writer: ResultWriter,
        kept: int,
        reason: str,
        backend: BackendIdentity,
    ) -> str:
        from vidpipe.imaging import load_rgb

        for asset in todo:
            ctx.check_cancelled()
            writer.progress.item(asset.name)
            try:
                image = load_rgb(
                    ctx.project.absolute(asset.file_path),
                    ctx.settings.max_image_pixels,
                    max_side=OFFLINE_IMAGE_PX,
                    within=ctx.project.root,
                )
            except ImageError as exc:
                writer.failure(asset, asset.name, f"cannot read the image: {exc}")
                continue
            prompt, description = offline_prompt(asset, parents.get(asset.source_asset_id), image)
            writer.answer(asset.id, asset.name, prompt, description, quality_score=None)
        text = f"offline prompts for {writer.written} asset(s): {reason}; {_redo_hint(backend)}"
        if writer.failed:
            text += f"; {writer.failed} failed"
        if kept:
            text += f"; {kept} kept their model prompts"
        return text

    # -- a model -------------------------------------------------------------------------------
    @staticmethod
    def _items(
        ctx: StageContext, todo, parents, template: PromptTemplate, writer: ResultWriter
    ) -> list:
        """What to ask about each asset; one whose file cannot be used fails here."""
        from vidpipe.prompting.runner import PromptItem

        items = []
        for asset in todo:
            values = asset_values(asset, parents.get(asset.source_asset_id))
            try:
                image_path = ctx.project.absolute(asset.file_path)
            except ImageError as exc:
                writer.failure(asset, asset.name, f"cannot read the image: {exc}")
                continue
            items.append(
                PromptItem(
                    asset_id=asset.id,
                    name=asset.name,
                    image_path=image_path,
                    content_hash=asset.content_hash,
                    prompt=template.render(values),
                    tag=asset.manifest_tag,
                )
            )
        return items

    def _run_batches(
        self, ctx: StageContext, todo, parents, template: PromptTemplate, writer: ResultWriter
    ) -> str | None:
        """The Batch API's part of the work, or None when it has none (no batch wanted, none
        open); what a resumed batch did not cover goes interactive."""
        from vidpipe.prompting import batch_job
        from vidpipe.prompting.runner import jpeg_encoder
        from vidpipe.pipeline.stages.prompt_batches import (
            BatchPrompting,
            check_batch_outcome,
            wants_batch,
        )

        submit = wants_batch(ctx, len(todo))
        if not submit and not batch_job.open_batches(ctx.manifest.id):
            return None
        prompting = BatchPrompting(
            ctx, writer, template.version, jpeg_encoder(ctx.settings, ctx.project.root)
        )
        left = {
            item.asset_id
            for item in prompting.run(self._items(ctx, todo, parents, template, writer), submit)
        }
        check_batch_outcome(prompting)
        summary = prompting.summary() + f", {_cost_note(ctx.run.id)}"
        rest = [asset for asset in todo if asset.id in left]
        if rest:
            summary += "; " + self._run_model(ctx, rest, parents, template, writer)
        return summary

    def _run_model(
        self,
        ctx: StageContext,
        todo,
        parents,
        template: PromptTemplate,
        writer: ResultWriter,
        backend: BackendIdentity | None = None,
    ) -> str:
        from vidpipe.prompting.backend_choice import open_backend
        from vidpipe.prompting.shared_limiter import make_limiter
        from vidpipe.prompting.runner import PromptBatch, jpeg_encoder

        settings = ctx.settings
        backend = backend or identity(settings)
        if not todo:
            return "every other asset is a duplicate face"
        items = self._items(ctx, todo, parents, template, writer)

        def should_stop() -> bool:
            try:
                ctx.check_cancelled()
            except RunStopped:
                return True
            return False

        async def run_batch():
            limiter = make_limiter(settings)
            try:
                async with open_backend(settings, formats=ctx.prompt_formats) as client:
                    batch = PromptBatch(
                        describer=client,
                        prompt_version=template.version,
                        limiter=limiter,
                        policy=RetryPolicy(max_retries=settings.prompt_max_retries),
                        encode=jpeg_encoder(settings, ctx.project.root),
                        on_answer=lambda item, answer, cached: writer.answer(
                            item.asset_id,
                            item.name,
                            answer.reverse_prompt,
                            answer.visual_description,
                            answer.quality_score,
                        ),
                        on_failure=lambda item, message: writer.failure(
                            item.asset_id, item.name, client.redact(message)
                        ),
                        on_usage=lambda item, usage: writer.usage(item.asset_id, usage),
                        should_stop=should_stop,
                        # Reprocessing one asset means "look again": no cached answer.
                        refresh=ctx.only_assets is not None,
                        # peewee opened a connection for the writer thread: give it back.
                        release_thread=db.close,
                    )
                    return await batch.run_async(items), limiter
            finally:
                limiter.close()

        try:
            result, limiter = _run_coroutine(run_batch())
        except AuthFailure as exc:
            raise ModelUnavailable(str(exc)) from None
        if result.cancelled:
            ctx.check_cancelled(kept=f"{writer.written} prompt(s) kept")
            raise RunCancelled(f"cancelled; {writer.written} prompt(s) kept")
        if result.answered == 0 and result.failed:
            raise VidpipeError(
                f"reverse prompting failed for all {result.failed} asset(s); "
                f"first: {result.first_error}"
            )
        parts = [
            f"{result.answered} prompt(s) from {backend.label}",
            f"{result.from_cache} from cache",
            f"{result.requests} request(s)",
            _cost_note(ctx.run.id),
        ]
        if result.retries:
            parts.append(f"{result.retries} retr{'y' if result.retries == 1 else 'ies'}")
        if result.failed:
            parts.append(f"{result.failed} failed")
        parts += _format_notes(ctx)
        log.info("prompts: %s (peak %d in flight)", ", ".join(parts), limiter.peak_in_flight)
        return ", ".join(parts)


def _needing_work(
    ctx: StageContext, candidates: list[Asset], mark: str, marks: dict[int, str]
) -> list[Asset]:
    """The assets whose stage mark is not the one they need (``marks``, else ``mark``)."""
    if ctx.force or not candidates:
        return list(candidates)
    done = dict(
        StageMark.select(StageMark.asset, StageMark.fingerprint)
        .where(
            StageMark.stage == StageName.PROMPTS, StageMark.asset.in_([a.id for a in candidates])
        )
        .tuples()
    )
    return [a for a in candidates if done.get(a.id) != marks.get(a.id, mark)]


def _copy_duplicates(
    ctx: StageContext,
    copies: list[Asset],
    primaries: dict[int, Asset],
    version: str,
    writer: ResultWriter,
    backend: BackendIdentity,
) -> str:
    """Give each duplicate face its primary's answer (the primaries were answered first)."""
    copied = 0
    for duplicate in copies:
        primary = primaries[duplicate.id]
        answer = duplicates.copied_answer(primary, duplicate, backend.cache_model, version)
        if answer is None:
            writer.failure(
                duplicate,
                duplicate.name,
                f"duplicate of {primary.name}, which has no answer to share yet",
            )
            continue
        writer.answer(
            duplicate.id,
            duplicate.name,
            answer.reverse_prompt,
            answer.visual_description,
            answer.quality_score,
        )
        copied += 1
    return f"{copied} duplicate face(s) given their primary's answer (no request)"


def _assets_with_model_marks(asset_ids: list[int]) -> set[int]:
    """The assets whose current prompt came from a model (any backend), not made offline."""
    if not asset_ids:
        return set()
    rows = StageMark.select(StageMark.asset).where(
        StageMark.stage == StageName.PROMPTS,
        StageMark.asset.in_(asset_ids),
        ~StageMark.fingerprint.startswith(f"{OFFLINE}|"),
    )
    return {row.asset_id for row in rows}


def _cost_note(run_id: int) -> str:
    usage = ledger.totals(run_id=run_id)
    tokens = usage["input_tokens"] + usage["output_tokens"] + usage["thinking_tokens"]
    return f"{tokens} tokens, ${usage['cost_usd']:.4f}"


def _redo_hint(backend: BackendIdentity) -> str:
    if backend.origin == GEMINI:
        return "rerun with a key for Gemini prompts"
    return f"the first run that reaches {backend.label} redoes them"


def _summary_nothing(offline_reason: str | None, kept: int) -> str:
    if offline_reason is None:
        return "every asset already has a prompt"
    text = f"every asset already has a prompt (offline: {offline_reason})"
    if kept:
        text += f"; {kept} kept their model prompts"
    return text


def _no_model_message(settings) -> str:
    from vidpipe.prompting.openai_backend import probe_server

    served = probe_server(settings).models or []
    listed = f"; it serves: {', '.join(served[:20])}" if served else ""
    return (
        f"openai_model is not set (VIDPIPE_OPENAI_MODEL, or in vidpipe.toml): name the "
        f"model {settings.openai_base_url} should use{listed}"
    )


def _batch_note(ctx: StageContext, backend: BackendIdentity) -> str:
    from vidpipe.pipeline.stages.prompt_batches import batch_requested

    if backend.origin == GEMINI or not batch_requested(ctx):
        return ""
    return f"; the Batch API is Gemini-only: asked {backend.label} directly"


def _format_notes(ctx: StageContext) -> list[str]:
    """Servers that refused ``json_schema`` this run, and what they were asked with instead."""
    return [
        f"{server.split('|')[0]} refused json_schema: asked with {mode}"
        for server, mode in ctx.prompt_formats.items()
        if mode != "json_schema"
    ]


def _run_coroutine(coroutine):
    """asyncio.run, also from a thread that already runs an event loop (then in a helper thread,
    whose database connection peewee opens separately)."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc
        finally:
            db.close()  # this thread's own connection, opened by the cancel checks

    thread = threading.Thread(target=carrying_fence(target), name="vidpipe-prompts")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
