"""One reverse-prompting request through the real google-genai SDK, its failures classified.

google-genai is imported when a client is opened, never when this module is imported (the TUI
imports vidpipe and must start fast). The SDK's own retries are switched off
(``HttpRetryOptions(attempts=1)``, which also disables its hidden connection-error retry):
:mod:`vidpipe.prompting.retry` owns retrying, so the two never multiply.

The API key goes to the SDK and nowhere else: every message built here passes through
:meth:`GeminiClient.redact` before anyone can log or store it.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

from vidpipe.prompting.bounded_http import (
    MAX_ANSWER_BYTES,
    MAX_BATCH_BYTES,
    AnswerTooLarge,
    no_redirects,
    redirect_refused,
)
from vidpipe.prompting.retry import (
    AnswerFailure,
    AuthFailure,
    PermanentFailure,
    TransientFailure,
    parse_retry_after,
    retry_delay_from_details,
)
from vidpipe.prompting.backend import GEMINI, Reply
from vidpipe.prompting.schema import ReversePrompt, ValidationError
from vidpipe.prompting.usage import Usage

if TYPE_CHECKING:
    from pydantic import BaseModel

    from vidpipe.config.settings import Settings

_BLOCKING_FINISH = {
    "SAFETY",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "IMAGE_SAFETY",
    "RECITATION",
    "IMAGE_PROHIBITED_CONTENT",
}
_TRANSIENT_CODES = {408, 429, 500, 502, 503, 504}


def _transport_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(timeouts, other transport errors) of whichever httpx flavour the SDK uses."""
    timeouts: list[type[BaseException]] = [asyncio.TimeoutError]
    transport: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        timeouts.append(module.TimeoutException)
        transport.append(module.TransportError)
    return tuple(timeouts), tuple(transport)


def thinking_budget_for(model: str, budget: int) -> int | None:
    """The ``thinking_budget`` to send, or None to leave the model's default.

    Captioning needs no thinking, and thinking tokens are billed as output and add seconds to
    every request, so the default budget is 0 (off). A negative budget means "the model decides".
    Models that cannot turn thinking off (2.5 Pro) or do not think at all (1.x, 2.0) get nothing.
    """
    name = model.removeprefix("models/")
    if budget < 0 or name.startswith(("gemini-1.", "gemini-2.0")):
        return None
    if budget == 0 and "-pro" in name:
        return None
    return budget


def generation_config(
    model: str,
    thinking_budget: int = 0,
    media_resolution: str = "",
    schema: "type[BaseModel]" = ReversePrompt,
):
    """The GenerateContentConfig of every reverse-prompting request, interactive or batch
    (``schema``: the structured answer asked for)."""
    from google.genai import types

    options: dict = {}
    budget = thinking_budget_for(model, thinking_budget)
    if budget is not None:
        options["thinking_config"] = types.ThinkingConfig(thinking_budget=budget)
    if media_resolution:
        options["media_resolution"] = f"MEDIA_RESOLUTION_{media_resolution.upper()}"
    return types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=schema, temperature=0.4, **options
    )


def image_contents(image_jpeg: bytes | list[bytes], prompt: str) -> list:
    from google.genai import types

    images = image_jpeg if isinstance(image_jpeg, list) else [image_jpeg]
    return [*(types.Part.from_bytes(data=jpeg, mime_type="image/jpeg") for jpeg in images), prompt]


def sdk_client(
    api_key: str, base_url: str | None, timeout_s: float, max_body_bytes: int = MAX_BATCH_BYTES
):
    """A google-genai Client with vidpipe's HTTP options (the SDK's own retries off, redirects
    never followed, response bodies read up to ``max_body_bytes``)."""
    from google import genai
    from google.genai import types

    from vidpipe.prompting.bounded_http import bounded_client_args

    client_args, async_client_args = no_redirects()
    bounded, async_bounded = bounded_client_args(max_body_bytes)
    if "allow_redirects" not in async_client_args:  # httpx (aiohttp has no response hooks)
        async_client_args.update(async_bounded)
    client_args.update(bounded)
    options = types.HttpOptions(
        base_url=base_url or None,
        timeout=max(1, int(timeout_s * 1000)),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),
        client_args=client_args,
        async_client_args=async_client_args,
    )
    return genai.Client(api_key=api_key, http_options=options)


class GeminiClient:
    """``async with GeminiClient(...) as client: reply = await client.describe(jpeg, text)``
    (a :class:`~vidpipe.prompting.backend.VisionBackend`)."""

    origin = GEMINI

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        thinking_budget: int = 0,
        media_resolution: str = "",
    ):
        self._api_key = api_key
        self.model = model
        self.cache_model = model  # the cache keys written before other backends existed
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.thinking_budget = thinking_budget
        self.media_resolution = media_resolution
        self._client = None
        self._config = None
        self._timeouts, self._transport = _transport_errors()

    @classmethod
    def for_settings(cls, settings: "Settings") -> "GeminiClient":
        """The client a run's settings describe: key, model, endpoint, timeout, thinking, media."""
        return cls(
            settings.gemini_api_key or "",
            settings.gemini_model,
            settings.gemini_base_url,
            settings.prompt_timeout_s,
            thinking_budget=settings.gemini_thinking_budget,
            media_resolution=settings.gemini_media_resolution,
        )

    async def __aenter__(self) -> "GeminiClient":
        self._client = sdk_client(self._api_key, self.base_url, self.timeout_s, MAX_ANSWER_BYTES)
        self._config = generation_config(self.model, self.thinking_budget, self.media_resolution)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client.close()
            self._client = None

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    async def describe(self, image_jpeg: bytes, prompt: str) -> Reply:
        """One request; raises a :class:`~vidpipe.prompting.retry.PromptFailure` subclass (one
        the service billed carries its ``usage``)."""
        return await self.ask(image_jpeg, prompt)

    async def ask(
        self,
        images_jpeg: bytes | list[bytes],
        prompt: str,
        schema: "type[BaseModel]" = ReversePrompt,
    ) -> Reply:
        """One request about one or several images, answered as ``schema``; failures as in
        :meth:`describe`."""
        from google.genai import errors

        assert self._client is not None, "use 'async with GeminiClient(...)'"
        contents = image_contents(images_jpeg, prompt)
        config = (
            self._config
            if schema is ReversePrompt
            else generation_config(self.model, self.thinking_budget, self.media_resolution, schema)
        )
        try:
            # The SDK's timeout covers the HTTP exchange; this one also bounds anything around it.
            response = await asyncio.wait_for(
                self._client.aio.models.generate_content(
                    model=self.model, contents=contents, config=config
                ),
                timeout=self.timeout_s + 5.0,
            )
        except errors.APIError as exc:
            raise self._api_failure(exc) from None
        except self._timeouts:
            raise TransientFailure(f"no answer from Gemini within {self.timeout_s:g} s") from None
        except self._transport as exc:
            raise TransientFailure(
                self.redact(f"connection to Gemini failed: {type(exc).__name__}: {exc}")
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AnswerFailure(
                f"Gemini's response body was not valid JSON ({type(exc).__name__})"
            ) from None
        except AnswerTooLarge as exc:
            raise AnswerFailure(f"Gemini's answer was refused: {exc}") from None
        except RecursionError:  # JSON nested deeper than any parser goes
            raise AnswerFailure("Gemini's response body nests too deep to read") from None
        except ValidationError as exc:  # the SDK's own model of a response refused it
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "response"
            raise AnswerFailure(
                f"Gemini's response is not shaped like an answer: {where}: {first.get('msg')}"
            ) from None
        return self.reply(response, schema)

    def reply(self, response, schema: "type[BaseModel]" = ReversePrompt) -> Reply:
        """A GenerateContentResponse (interactive or from a batch) as a Reply, or an
        AnswerFailure carrying the response's usage."""
        usage = Usage.from_metadata(getattr(response, "usage_metadata", None))
        try:
            return Reply(self._answer(response, schema), usage)
        except AnswerFailure as failure:
            failure.usage = usage
            raise

    def api_failure(self, exc) -> Exception:
        return self._api_failure(exc)

    def _api_failure(self, exc) -> Exception:
        code = getattr(exc, "code", None) or 0
        status = getattr(exc, "status", None) or ""
        message = self.redact(str(getattr(exc, "message", None) or exc))[:300]
        text = f"Gemini error {code} {status}: {message}".replace("  ", " ")
        details = getattr(exc, "details", None)
        if code in _TRANSIENT_CODES:
            response = getattr(exc, "response", None)
            header = None
            if response is not None and getattr(response, "headers", None) is not None:
                header = response.headers.get("retry-after")
            retry_after = parse_retry_after(header)
            if retry_after is None:
                retry_after = retry_delay_from_details(details)
            return TransientFailure(text, retry_after)
        if 300 <= code < 400:
            return PermanentFailure(redirect_refused(code, getattr(exc, "response", None)))
        if code in (401, 403) or "API_KEY_INVALID" in json.dumps(details, default=str):
            return AuthFailure(
                f"Gemini refused the API key ({code} {status}): {message}. "
                "Check GEMINI_API_KEY / GOOGLE_API_KEY."
            )
        return PermanentFailure(text)

    def _answer(self, response, schema: "type[BaseModel]" = ReversePrompt):
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason:
            reason = getattr(feedback.block_reason, "value", feedback.block_reason)
            raise AnswerFailure(f"Gemini blocked the request (safety filter: {reason})")
        candidates = response.candidates or []
        if not candidates:
            raise AnswerFailure("Gemini returned an empty answer (no candidates)")
        candidate = candidates[0]
        finish = getattr(candidate.finish_reason, "value", candidate.finish_reason) or ""
        if finish in _BLOCKING_FINISH:
            raise AnswerFailure(
                f"Gemini withheld the answer (finish reason {finish}: blocked by its safety filter)"
            )
        parts = candidate.content.parts if candidate.content and candidate.content.parts else []
        text = "".join(part.text or "" for part in parts if not getattr(part, "thought", False))
        if not text.strip():
            raise AnswerFailure("Gemini returned an empty answer")
        try:
            return schema.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
            cut = " (cut off: MAX_TOKENS)" if finish == "MAX_TOKENS" else ""
            raise AnswerFailure(
                f"Gemini's answer is not valid JSON for the schema{cut}: "
                f"{where}: {first.get('msg')}"
            ) from None
