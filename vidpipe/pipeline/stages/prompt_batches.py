"""Stage 4 through the Gemini Batch API (``vidpipe process --batch``, ``gemini_batch``, or a
daemon drop of more than ``gemini_batch_min_assets`` assets).

Every open batch of the manifest is resumed first, whatever the mode: a job submitted by a run
that was killed or stopped is polled to its end and collected, never submitted again. Then what
is still due goes in one new job. Answers land exactly as interactive ones do: into the prompt
cache, through the same writer (a person's edits stay, the AI text becomes a suggestion), each
asset named by its tag as it is when the answer lands.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vidpipe.errors import ImageError, RunCancelled, RunInterrupted, VidpipeError
from vidpipe.store.models import Asset, AssetState
from vidpipe.prompting import batch_job, cache
from vidpipe.pipeline.stopping import StopReason

if TYPE_CHECKING:
    from vidpipe.prompting.runner import PromptItem
    from vidpipe.pipeline.stages.base import StageContext

log = logging.getLogger(__name__)


def batch_requested(ctx: "StageContext") -> bool:
    """Whether the person asked for the Batch API (``--batch`` or ``gemini_batch``)."""
    return bool(ctx.settings.gemini_batch or (ctx.run.args or {}).get("batch"))


def wants_batch(ctx: "StageContext", due: int) -> bool:
    """Whether this run's new requests go by batch (reprocessing one asset never does; only
    Gemini has a Batch API)."""
    settings = ctx.settings
    if ctx.only_assets is not None or not due or settings.prompt_backend != "gemini":
        return False
    if batch_requested(ctx):
        return True
    threshold = settings.gemini_batch_min_assets
    return bool(threshold) and ctx.run.requested_by in ("watcher", "ingest") and due > threshold


class BatchPrompting:
    def __init__(self, ctx: "StageContext", writer, prompt_version: str, encode):
        from vidpipe.prompting.gemini import GeminiClient, generation_config, sdk_client

        settings = ctx.settings
        self.ctx = ctx
        self.writer = writer
        self.version = prompt_version
        self.encode = encode
        self.model = settings.gemini_model
        self.sdk = sdk_client(
            settings.gemini_api_key, settings.gemini_base_url, settings.prompt_timeout_s
        )
        self.parser = GeminiClient(settings.gemini_api_key, settings.gemini_model)
        self.config = generation_config(
            settings.gemini_model, settings.gemini_thinking_budget, settings.gemini_media_resolution
        )
        self.answered = self.failed = self.from_cache = 0
        self.names: list[str] = []

    def run(self, items: list["PromptItem"], submit: bool) -> list["PromptItem"]:
        """Resume the manifest's open batches, then (``submit``) send what is still due as a new
        one. Returns the items no batch took care of (for interactive requests)."""
        groups: dict[str, list[PromptItem]] = {}
        for item in items:
            groups.setdefault(
                cache.cache_key(item.content_hash, self.model, self.version), []
            ).append(item)
        for key, members in list(groups.items()):
            cached = cache.get(key)
            if cached is not None:
                for member in members:
                    answer = cache.retag(cached.answer, cached.subject_tag, member.tag)
                    self.writer.answer(
                        member.asset_id,
                        member.name,
                        answer.reverse_prompt,
                        answer.visual_description,
                        answer.quality_score,
                    )
                self.from_cache += len(members)
                del groups[key]
        handled: set[int] = set()
        submitted = False
        while True:
            for row in batch_job.open_batches(self.ctx.manifest.id):
                handled |= self._finish(row)
            remaining = {
                key: members
                for key, members in groups.items()
                if not any(m.asset_id in handled for m in members)
            }
            if not submit or not remaining or submitted:
                return [m for members in remaining.values() for m in members]
            self._submit(remaining)
            submitted = True

    def summary(self) -> str:
        names = ", ".join(self.names) or "none"
        text = (
            f"{self.answered} prompt(s) from Gemini batch ({names}), {self.from_cache} from cache"
        )
        return text + (f", {self.failed} failed" if self.failed else "")

    # -- one job ---------------------------------------------------------------------------
    def _submit(self, groups: dict[str, list["PromptItem"]]) -> None:
        requests = []
        for key, members in groups.items():
            lead = members[0]
            try:
                jpeg = self.encode(lead.image_path)
            except ImageError as exc:
                for member in members:
                    self.writer.failure(
                        member.asset_id, member.name, f"cannot read the image: {exc}"
                    )
                continue
            requests.append(
                batch_job.BatchRequest(
                    key, [m.asset_id for m in members], lead.tag, jpeg, lead.prompt
                )
            )
        if requests:
            self.writer.progress.item(f"submitting a Gemini batch of {len(requests)} request(s)")
            batch_job.submit(
                self.sdk,
                self.model,
                self.config,
                self.version,
                self.ctx.manifest.id,
                self.ctx.run.id,
                requests,
            )

    def _finish(self, row) -> set[int]:
        """Wait for ``row``'s job, collect it; the asset ids it took care of."""
        row = batch_job.resume(self.sdk, row)
        if row is None:
            return set()
        self.names.append(row.name)
        job = self._wait(row)
        if job is None:
            return set()
        answered, failed = batch_job.collect(
            job, row, self.parser.reply, self._deliver, self._fail, self._record
        )
        self.answered += answered
        self.failed += failed
        return {asset_id for item in row.items for asset_id in item["assets"]}

    def _wait(self, row):
        from google.genai import errors

        from vidpipe.prompting.retry import TransientFailure

        while True:
            try:
                job = batch_job.look(self.sdk, row)
            except errors.APIError as exc:
                failure = self.parser.api_failure(exc)
                if not isinstance(failure, TransientFailure):
                    batch_job._update(row, finished=True, error=str(failure))
                    log.warning("Gemini batch %s given up: %s", row.name, failure)
                    return None
                log.warning("Gemini batch %s: %s; looking again", row.name, failure)
                job = None
            except OSError as exc:  # connection trouble: look again later
                log.warning("Gemini batch %s: %s; looking again", row.name, exc)
                job = None
            if job is not None:
                state = row.state.removeprefix("JOB_STATE_")
                self.writer.progress.item(f"waiting for Gemini batch ({state})")
                if row.state == batch_job.SUCCEEDED or row.state in batch_job.ENDED_BADLY:
                    return job
            if self.ctx.stop_reason() == StopReason.CANCEL:
                batch_job.cancel(self.sdk, row)
                raise RunCancelled(f"cancelled; Gemini batch {row.name} cancelled")
            if (
                self.ctx.stop.wait(self.ctx.settings.gemini_batch_poll_s)
                and self.ctx.stop_reason() == StopReason.SHUTDOWN
            ):
                raise RunInterrupted(
                    f"stopped while waiting for Gemini batch {row.name}; the next run resumes it"
                )

    # -- results, inside collect's transaction per key -----------------------------------------
    def _assets(self, item: dict) -> list[Asset]:
        return list(
            Asset.select().where(Asset.id.in_(item["assets"]), Asset.state != AssetState.REMOVED)
        )

    def _deliver(self, item: dict, reply) -> None:
        cache.put(item["key"], reply.answer, item["tag"], self.model, self.version)
        for asset in self._assets(item):
            answer = cache.retag(reply.answer, item["tag"], asset.manifest_tag)
            self.writer.answer(
                asset.id,
                asset.name,
                answer.reverse_prompt,
                answer.visual_description,
                answer.quality_score,
            )

    def _fail(self, item: dict, message: str) -> None:
        for asset in self._assets(item):
            self.writer.failure(asset.id, asset.name, self.parser.redact(message))

    def _record(self, item: dict, usage) -> None:
        assets = self._assets(item)
        self.writer.usage(assets[0].id if assets else None, usage, batch=True)


def check_batch_outcome(prompting: BatchPrompting) -> None:
    if prompting.answered == 0 and prompting.failed and not prompting.from_cache:
        raise VidpipeError(
            f"every answer of the Gemini batch failed ({prompting.failed}); "
            "see the errors of this run"
        )
