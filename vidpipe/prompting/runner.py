"""Reverse-prompting a batch of assets through a vision backend (Gemini or an OpenAI-compatible
server, see :mod:`vidpipe.prompting.backend`): cache first, then paced, retried requests.

The requests run on one event loop. Results are handed to ``on_answer`` / ``on_failure`` as they
arrive, on a single writer thread: database writes are serialised, each in its own short
transaction, never held open across the network, and a slow write (another process holding the
SQLite lock) never stalls the requests in flight. A cancelled batch keeps every answer that came
back before the cancel: pending writes are finished, not dropped.

Images are downscaled and encoded just ahead of their turn (at most four times the concurrency
at a time), so a manifest of thousands of images never holds thousands of encoded copies.
"""

from __future__ import annotations

import asyncio
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from vidpipe.errors import ImageError
from vidpipe.prompting import cache
from vidpipe.prompting.limiter import RequestLimiter
from vidpipe.prompting.retry import (
    AuthFailure,
    PermanentFailure,
    PromptFailure,
    RetryPolicy,
    with_retries,
)
from vidpipe.prompting.schema import ReversePrompt
from vidpipe.prompting.usage import Usage
from vidpipe.store.fencing import carrying_fence

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings
    from vidpipe.prompting.backend import VisionBackend

log = logging.getLogger(__name__)

CANCEL_POLL_S = 0.2


@dataclass
class PromptItem:
    """One asset to prompt: its image file, the rendered prompt and the tag the prompt names."""

    asset_id: int
    name: str
    image_path: Path
    content_hash: str
    prompt: str
    tag: str | None


@dataclass
class BatchResult:
    answered: int = 0
    from_cache: int = 0
    requests: int = 0  # requests sent, retries included
    failed: int = 0
    retries: int = 0
    cancelled: bool = False
    first_error: str | None = None


def encode_jpeg(
    path: Path, max_pixels: int, max_side: int, quality: int = 88, *, within: Path | None
) -> bytes:
    """The image downscaled to what the model needs, as JPEG bytes (``within``: the folder the
    file must really lie in, see vidpipe.imaging)."""
    from vidpipe.imaging import load_rgb

    image = load_rgb(path, max_pixels, max_side=max_side, within=within)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=False)
    return buffer.getvalue()


def jpeg_encoder(settings: "Settings", root: Path) -> Callable[[Path], bytes]:
    """encode_jpeg with the limits a run's settings set, for images of the project at ``root``."""
    return lambda path: encode_jpeg(
        path, settings.max_image_pixels, settings.prompt_image_max_px, within=root
    )


@dataclass
class PromptBatch:
    describer: "VisionBackend"
    prompt_version: str
    limiter: RequestLimiter
    policy: RetryPolicy
    encode: Callable[[Path], bytes]
    on_answer: Callable[[PromptItem, ReversePrompt, bool], None]  # (item, answer, from_cache)
    on_failure: Callable[[PromptItem, str], None]
    on_usage: Callable[[PromptItem, Usage], None] = lambda item, usage: None  # every billed reply
    should_stop: Callable[[], bool] = lambda: False
    refresh: bool = False  # ask again even when an answer is cached (reprocess)
    release_thread: Callable[[], object] = lambda: None  # run last on the writer thread
    result: BatchResult = field(default_factory=BatchResult)

    async def run_async(self, items: list[PromptItem]) -> BatchResult:
        loop = asyncio.get_running_loop()
        self._lookahead = asyncio.Semaphore(4 * self.limiter.concurrency)
        with ThreadPoolExecutor(1, thread_name_prefix="vidpipe-prompt-writer") as writer:
            self._writer = writer
            try:
                await self._run(items)
            finally:
                # One worker, first in first out: this runs after every queued write, shielded
                # ones of cancelled tasks included.
                await loop.run_in_executor(writer, self.release_thread)
        return self.result

    async def _write(self, function: Callable, *args) -> None:
        # The writer thread writes for the run: it carries the run's lease fence.
        future = asyncio.get_running_loop().run_in_executor(
            self._writer, carrying_fence(function), *args
        )
        # Shielded: a cancelled task must not drop an answer that has already been paid for.
        await asyncio.shield(future)

    async def _run(self, items: list[PromptItem]) -> None:
        groups: dict[str, list[PromptItem]] = {}
        for item in items:
            key = cache.cache_key(
                item.content_hash, self.describer.cache_model, self.prompt_version
            )
            groups.setdefault(key, []).append(item)

        pending: dict[str, list[PromptItem]] = {}
        for key, members in groups.items():
            cached = None if self.refresh else cache.get(key)
            if cached is None:
                pending[key] = members
            else:
                self.result.from_cache += len(members)
                await self._write(
                    self._deliver_all, members, cached.answer, cached.subject_tag, True
                )
        if not pending:
            return
        tasks: list[asyncio.Task] = []
        try:
            async with asyncio.TaskGroup() as group:
                # A refused API key escapes _one() and makes the group cancel every other
                # request: they would all be refused the same way.
                for key, members in pending.items():
                    tasks.append(group.create_task(self._one(key, members), name=members[0].name))
                watcher = group.create_task(self._watch_cancel(tasks))
                await asyncio.gather(*tasks, return_exceptions=True)
                watcher.cancel()
        except BaseExceptionGroup as errors:
            refused = [e for e in errors.exceptions if isinstance(e, AuthFailure)]
            raise (refused or list(errors.exceptions))[0] from None

    async def _watch_cancel(self, tasks: list[asyncio.Task]) -> None:
        while True:
            await asyncio.sleep(CANCEL_POLL_S)
            if self.should_stop():
                self.result.cancelled = True
                for task in tasks:
                    task.cancel()
                return

    # -- on the writer thread ------------------------------------------------------------------
    def _deliver_all(
        self,
        members: list[PromptItem],
        answer: ReversePrompt,
        subject_tag: str | None,
        from_cache: bool,
    ) -> None:
        for member in members:
            self.on_answer(member, cache.retag(answer, subject_tag, member.tag), from_cache)
            self.result.answered += 1

    def _store_and_deliver(
        self, key: str, members: list[PromptItem], answer: ReversePrompt
    ) -> None:
        lead = members[0]
        cache.put(key, answer, lead.tag, self.describer.cache_model, self.prompt_version)
        self._deliver_all(members, answer, lead.tag, False)

    def _fail_all(self, members: list[PromptItem], message: str) -> None:
        for member in members:
            self.result.failed += 1
            self.result.first_error = self.result.first_error or f"{member.name}: {message}"
            self.on_failure(member, message)

    # -- on the event loop ---------------------------------------------------------------------
    def _count_retry(self, failure: PromptFailure, wait: float) -> None:
        self.result.retries += 1
        log.debug("retrying in %.2f s after: %s", wait, failure)

    async def _one(self, key: str, members: list[PromptItem]) -> None:
        lead = members[0]
        async with self._lookahead:
            try:
                jpeg = await asyncio.to_thread(self.encode, lead.image_path)
            except ImageError as exc:
                await self._write(self._fail_all, members, f"cannot read the image: {exc}")
                return

            async def attempt() -> ReversePrompt:
                failure: PromptFailure | None = None
                async with self.limiter.slot():
                    self.result.requests += 1
                    try:
                        reply = await self.describer.describe(jpeg, lead.prompt)
                        usage = reply.usage
                    except PromptFailure as exc:
                        failure, usage = exc, exc.usage
                # Billed is billed: a blocked or invalid answer that is retried costs too.
                if usage is not None:
                    await self._write(self.on_usage, lead, usage)
                if failure is not None:
                    raise failure
                return reply.answer

            try:
                answer = await with_retries(attempt, self.policy, on_retry=self._count_retry)
            except AuthFailure:
                raise
            except PromptFailure as failure:
                await self._write(self._fail_all, members, str(failure))
                return
        await self._write(self._store_and_deliver, key, members, answer)


__all__ = ["BatchResult", "PermanentFailure", "PromptBatch", "PromptItem", "encode_jpeg"]
