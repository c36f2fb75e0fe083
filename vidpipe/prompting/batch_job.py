"""Reverse prompting through the Gemini Batch API (``client.batches``, inlined requests): half
the price of interactive requests, answers within hours (usually minutes).

A job's life, each step recorded in its GeminiBatch row before the next one starts:

1. ``submit``: the row is written with a fresh ``display_name`` and the list of what it asks
   (cache key, asset ids, the tag the prompt named), then the job is created under that display
   name, then its ``name`` is stored. A process killed between the first two steps leaves a row
   without a name: ``resume`` finds the job by its display name if Gemini had accepted it, and
   otherwise closes the row (its assets are still due and go in the next submission).
2. ``wait``: ``batches.get`` every ``poll_s`` seconds; the caller shows the state and may cancel
   (``batches.cancel``) or stop (the job keeps running and the next run resumes it).
3. ``collect``: each answer is handed to the caller with its usage, one key at a time, and the
   key is added to ``collected`` in the same transaction: collecting again after a kill skips
   what was written and pays nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Callable

from vidpipe.store.models import GeminiBatch, db, utcnow
from vidpipe.prompting.retry import PromptFailure

log = logging.getLogger(__name__)

SUBMITTING = "SUBMITTING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
ENDED_BADLY = ("JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


@dataclass(frozen=True)
class BatchRequest:
    key: str  # the prompt cache key: image content + model + prompt version
    asset_ids: list[int]
    tag: str | None  # the tag the prompt names
    image_jpeg: bytes
    prompt: str


def open_batches(manifest_id: int) -> list[GeminiBatch]:
    return list(
        GeminiBatch.select()
        .where(GeminiBatch.manifest == manifest_id, GeminiBatch.finished == False)  # noqa: E712
        .order_by(GeminiBatch.id)
    )


def submit(
    sdk,
    model: str,
    config,
    prompt_version: str,
    manifest_id: int,
    run_id: int,
    requests: list[BatchRequest],
) -> GeminiBatch:
    """Record, then create one batch job of ``requests``; returns its row (named)."""
    from google.genai import types

    row = GeminiBatch.create(
        manifest=manifest_id,
        run=run_id,
        display_name=f"vidpipe-{uuid.uuid4().hex[:16]}",
        model=model,
        prompt_version=prompt_version,
        items=[{"key": r.key, "assets": r.asset_ids, "tag": r.tag} for r in requests],
    )
    inlined = [
        types.InlinedRequest(
            contents=[types.Part.from_bytes(data=r.image_jpeg, mime_type="image/jpeg"), r.prompt],
            config=config,
            metadata={"key": r.key},
        )
        for r in requests
    ]
    job = sdk.batches.create(
        model=model, src=inlined, config=types.CreateBatchJobConfig(display_name=row.display_name)
    )
    _update(row, name=job.name, state=_state(job))
    log.info("Gemini batch %s submitted: %d request(s)", job.name, len(requests))
    return row


def resume(sdk, row: GeminiBatch) -> GeminiBatch | None:
    """The row with its job's name, looked up by display name when the process died before
    storing it; None (row closed) when the job never reached Gemini."""
    if row.name:
        return row
    for job in sdk.batches.list():
        if job.display_name == row.display_name:
            _update(row, name=job.name, state=_state(job))
            log.info("Gemini batch %s found again by its display name", job.name)
            return row
    _update(
        row,
        finished=True,
        state="NEVER_SUBMITTED",
        error="the process stopped before Gemini accepted the job",
    )
    return None


def look(sdk, row: GeminiBatch):
    """The job as Gemini reports it now; the row follows its state."""
    job = sdk.batches.get(name=row.name)
    state = _state(job)
    if state != row.state:
        _update(row, state=state)
    return job


def cancel(sdk, row: GeminiBatch) -> None:
    sdk.batches.cancel(name=row.name)
    _update(row, state="JOB_STATE_CANCELLED", finished=True, error="cancelled by request")


def collect(
    job,
    row: GeminiBatch,
    parse: Callable,
    deliver: Callable,
    fail: Callable,
    record_usage: Callable,
) -> tuple[int, int]:
    """Hand every answer of a finished job to ``deliver(item, reply)`` or ``fail(item, text)``
    (``record_usage(item, usage)`` first, whatever the outcome); returns (answered, failed)."""
    items = {item["key"]: item for item in row.items}
    responses = {}
    if _state(job) == SUCCEEDED and job.dest is not None:
        for response in job.dest.inlined_responses or []:
            key = (response.metadata or {}).get("key")
            if key in items:
                responses[key] = response
    answered = failed = 0
    for key, item in items.items():
        with db.atomic():
            fresh = GeminiBatch.get_by_id(row.id)
            if key in fresh.collected:
                continue
            outcome = _outcome(job, responses.get(key), parse)
            if outcome.usage is not None:
                record_usage(item, outcome.usage)
            if outcome.reply is not None:
                deliver(item, outcome.reply)
                answered += 1
            else:
                fail(item, outcome.error)
                failed += 1
            fresh.collected = fresh.collected + [key]
            fresh.updated_at = utcnow()
            fresh.save()
    _update(row, finished=True)
    return answered, failed


@dataclass(frozen=True)
class _Outcome:
    reply: object | None = None
    error: str | None = None
    usage: object | None = None


def _outcome(job, response, parse: Callable) -> _Outcome:
    state = _state(job)
    if state != SUCCEEDED:
        return _Outcome(
            error=f"the Gemini batch {job.name} ended {state.removeprefix('JOB_STATE_')}"
            "; the next run asks again"
        )
    if response is None:
        return _Outcome(error=f"the Gemini batch {job.name} returned no answer for this image")
    if response.error is not None:
        code = getattr(response.error, "code", None)
        message = getattr(response.error, "message", None) or "no message"
        return _Outcome(error=f"Gemini batch error {code or ''}: {message}".replace(" :", ":"))
    try:
        reply = parse(response.response)
    except PromptFailure as failure:
        return _Outcome(error=str(failure), usage=failure.usage)
    return _Outcome(reply=reply, usage=reply.usage)


def _state(job) -> str:
    state = job.state
    return str(getattr(state, "value", state) or "JOB_STATE_UNSPECIFIED")


def _update(row: GeminiBatch, **changes) -> None:
    changes["updated_at"] = utcnow()
    GeminiBatch.update(**changes).where(GeminiBatch.id == row.id).execute()
    for name, value in changes.items():
        setattr(row, name, value)
