"""What the model clients' HTTP may do: bodies bounded, redirects never followed.

google-genai and openai follow redirects by default, and httpx keeps custom headers such as
``x-goog-api-key`` across origins: a redirect from the endpoint would hand the key (and the
image) to another host. :func:`no_redirects` turns that off; :func:`redirect_refused` says so.

httpx reads a whole response body into memory before google-genai parses it: an endpoint that
never ends its body (a misbehaving proxy, a hostile server at a configured URL) would take the
process's memory in seconds, several requests at once. A response hook, run before the body is
read, checks the announced length and wraps the body so that reading past the limit raises
:class:`AnswerTooLarge`. Both of google-genai's clients take it through ``client_args``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import httpx

#: One generateContent answer: a few kilobytes of JSON; far above any real one.
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: A Batch API job's answers come back inline in one response: many answers at once.
MAX_BATCH_BYTES = 256 * 1024 * 1024


class AnswerTooLarge(Exception):
    """The endpoint's response body is larger than vidpipe reads."""

    def __init__(self, limit: int):
        super().__init__(
            f"the response body is larger than {limit // (1024 * 1024)} MB; "
            "vidpipe stopped reading it"
        )


@functools.cache
def _limited_stream_class(package: str) -> type:
    """A byte stream of ``package`` (httpx, or httpx2 where google-genai picks it: the
    response checks its stream's class), made when first needed (not with this module: the
    TUI imports vidpipe and must start fast)."""
    http = importlib.import_module(package)

    class LimitedStream(http.SyncByteStream, http.AsyncByteStream):  # type: ignore[name-defined]
        def __init__(self, stream, limit: int):
            self._stream = stream
            self._limit = limit
            self._seen = 0

        def _count(self, chunk: bytes) -> bytes:
            self._seen += len(chunk)
            if self._seen > self._limit:
                raise AnswerTooLarge(self._limit)
            return chunk

        def __iter__(self) -> Iterator[bytes]:
            for chunk in self._stream:
                yield self._count(chunk)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._stream:
                yield self._count(chunk)

        def close(self) -> None:
            self._stream.close()

        async def aclose(self) -> None:
            await self._stream.aclose()

    return LimitedStream


def _bound(response: httpx.Response, limit: int) -> None:
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > limit:
        raise AnswerTooLarge(limit)
    package = type(response).__module__.split(".", 1)[0]
    response.stream = _limited_stream_class(package)(response.stream, limit)


def bounded_client_args(limit: int) -> tuple[dict, dict]:
    """``event_hooks`` client arguments (sync, async) that bound every response body."""

    def sync_hook(response: httpx.Response) -> None:
        _bound(response, limit)

    async def async_hook(response: httpx.Response) -> None:
        _bound(response, limit)

    return ({"event_hooks": {"response": [sync_hook]}}, {"event_hooks": {"response": [async_hook]}})


def no_redirects() -> tuple[dict, dict]:
    """google-genai's client arguments (sync, async) that turn redirects off. Its async side
    goes through aiohttp instead of httpx when aiohttp is installed; the argument has another
    name there."""
    import importlib.util

    aiohttp = importlib.util.find_spec("aiohttp") is not None
    return {"follow_redirects": False}, (
        {"allow_redirects": False} if aiohttp else {"follow_redirects": False}
    )


def redirect_refused(
    code: int, response, endpoint: str = "the Gemini endpoint", setting: str = "gemini_base_url"
) -> str:
    """What to say when the endpoint answers with a redirect (never followed)."""
    headers = getattr(response, "headers", None)
    target = headers.get("location") if headers is not None else None
    where = f" to {urlsplit(target).netloc or target}" if target else ""
    return (
        f"{endpoint} answered with a redirect ({code}{where}); vidpipe does not follow "
        "redirects, so your API key and images go only to the endpoint you set. If the "
        f"new address is right, set {setting} to it"
    )
