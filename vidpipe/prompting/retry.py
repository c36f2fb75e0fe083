"""When to try a request again, and how long to wait first.

Two budgets per asset: transient failures (429, 5xx, timeouts, dropped connections) get up to
``max_retries`` retries with exponential backoff and full jitter, never sooner than the server's
``Retry-After``; bad answers (safety block, empty, invalid JSON) get ``answer_retries`` (one) —
asking again sometimes helps, asking five times only costs money.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Awaitable, Callable, TypeVar

if TYPE_CHECKING:
    from vidpipe.prompting.usage import Usage

T = TypeVar("T")


class PromptFailure(Exception):
    """Base of request failures; ``str()`` is the message a person sees for the asset.
    ``usage`` is set when the service billed the failed request (a blocked or invalid answer)."""

    usage: "Usage | None" = None


class TransientFailure(PromptFailure):
    """Worth retrying after a wait (rate limit, server error, timeout, connection)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AnswerFailure(PromptFailure):
    """The service answered, but not with a usable answer (blocked, empty, invalid)."""


class PermanentFailure(PromptFailure):
    """Retrying cannot help (bad request, unknown model, unreadable image)."""


class AuthFailure(PermanentFailure):
    """The API key was refused: every other asset would fail the same way."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    answer_retries: int = 1
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(
        self, retry_number: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        uniform = rng.uniform if rng else random.uniform
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (retry_number - 1))
        jittered = uniform(0, ceiling)  # "full jitter": spreads a herd of retries apart
        if retry_after is None or retry_after > MAX_RETRY_AFTER_S:
            # Unsaid, or longer than vidpipe waits for one answer: the normal backoff.
            return jittered
        # The server said when; a little jitter on top keeps the retries from arriving together.
        return retry_after + uniform(0, self.base_delay_s)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s?\s*$")
#: The longest wait a server's Retry-After (or RetryInfo) is obeyed for: a server asking for
#: more (``Retry-After: 999999999``) would stall the run for ever.
MAX_RETRY_AFTER_S = 600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    match = _DURATION.match(value)
    if match:
        return float(match.group(1))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def retry_delay_from_details(details) -> float | None:
    """Google's ``google.rpc.RetryInfo`` (``"retryDelay": "37s"``) in an error body, if any."""
    try:
        items = details.get("error", details).get("details") or []
    except AttributeError:
        return None
    for item in items:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            return parse_retry_after(str(item.get("retryDelay", "")))
    return None


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    on_retry: Callable[[PromptFailure, float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run ``attempt`` until it returns, retrying per ``policy``; raise the last failure."""
    transient = answers = 0
    while True:
        try:
            return await attempt()
        except TransientFailure as failure:
            transient += 1
            if transient > policy.max_retries:
                raise TransientFailure(
                    f"{failure} (gave up after {policy.max_retries} retries)"
                ) from failure
            wait = policy.delay(transient, failure.retry_after, rng)
            last: PromptFailure = failure
        except AnswerFailure as failure:
            answers += 1
            if answers > policy.answer_retries:
                tries = policy.answer_retries + 1
                raise AnswerFailure(f"{failure} ({tries} tries)") from failure
            wait = 0.0
            last = failure
        if on_retry is not None:
            on_retry(last, wait)
        if wait > 0:
            await sleep(wait)
