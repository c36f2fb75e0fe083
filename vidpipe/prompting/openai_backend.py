"""One reverse-prompting request to an OpenAI-compatible server, through the ``openai`` SDK.

vLLM, Ollama (``/v1``), llama.cpp's server and LM Studio all speak chat completions with image
parts; the image goes as a base64 data URL (``image_url``), already downscaled by the runner.
The SDK's own retries are off (``max_retries=0``): :mod:`vidpipe.prompting.retry` owns retrying.

Structured output differs between servers and versions. The request asks for ``response_format``
``json_schema`` (the schema Gemini gets); a server that refuses it with a 400 is asked again in
``json_object`` mode, then with plain instructions (the schema in the prompt text), and what it
accepted is remembered per server for the rest of the run (``formats``). Whatever the mode, the
answer is validated with the same pydantic model; an answer that does not fit is an
AnswerFailure, retried like Gemini's.

The key comes from OPENAI_API_KEY only and is optional: a local server needs none, and then no
``Authorization`` header is sent at all. Every message passes :meth:`OpenAIClient.redact`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from vidpipe.prompting.backend import OPENAI, Reply, openai_cache_model
from vidpipe.prompting.bounded_http import AnswerTooLarge, redirect_refused
from vidpipe.prompting.retry import (
    AnswerFailure,
    AuthFailure,
    PermanentFailure,
    TransientFailure,
    parse_retry_after,
)
from vidpipe.prompting.schema import ReversePrompt, ValidationError
from vidpipe.prompting.usage import Usage

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings

log = logging.getLogger(__name__)

JSON_SCHEMA = "json_schema"
JSON_OBJECT = "json_object"
PLAIN = "plain"
#: From the most to the least the server is trusted to do; a 400 moves one step down.
FORMATS = (JSON_SCHEMA, JSON_OBJECT, PLAIN)

_TRANSIENT_CODES = {408, 409, 429, 500, 502, 503, 504}
#: Room for the answer (about 150 words); a thinking model's thoughts count against it too.
MAX_ANSWER_TOKENS = 2048
PROBE_TIMEOUT_S = 10.0
_THINKING = re.compile(r"<think>.*?</think>", re.DOTALL)


def _no_key_headers(api_key: str) -> dict:
    """Per-request headers: with no key, the Authorization header is left out altogether."""
    if api_key:
        return {}
    import openai

    # Omit is exported at the top from openai 1.99 on; older releases have it in _types only.
    omit = getattr(openai, "Omit", None) or __import__("openai._types", fromlist=["Omit"]).Omit
    return {"Authorization": omit()}


def sdk_client(api_key: str, base_url: str, timeout_s: float, sync: bool = False):
    import openai

    from vidpipe.prompting.bounded_http import MAX_ANSWER_BYTES, bounded_client_args

    # Redirects off (the SDK's client follows them, with the key) and bodies bounded, as for
    # Gemini (vidpipe.prompting.gemini.no_redirects, vidpipe.prompting.bounded_http).
    sync_hooks, async_hooks = bounded_client_args(MAX_ANSWER_BYTES)
    # A placeholder when there is no key: the SDK insists on one, _no_key_headers keeps it
    # off the wire.
    key = api_key or "no-key"
    if sync:
        return openai.OpenAI(
            api_key=key,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(follow_redirects=False, **sync_hooks),
        )
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=base_url,
        timeout=timeout_s,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(follow_redirects=False, **async_hooks),
    )


class OpenAIClient:
    """``async with OpenAIClient(...) as client: reply = await client.describe(jpeg, text)``
    (a :class:`~vidpipe.prompting.backend.VisionBackend`)."""

    origin = OPENAI

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 60.0,
        formats: dict[str, str] | None = None,
    ):
        self.base_url = base_url
        self.model = model
        self.cache_model = openai_cache_model(model)
        self.timeout_s = timeout_s
        self._api_key = api_key or ""
        self._formats = {} if formats is None else formats
        self._client: Any = None  # an openai.AsyncOpenAI while entered

    @classmethod
    def for_settings(
        cls, settings: "Settings", formats: dict[str, str] | None = None
    ) -> "OpenAIClient":
        return cls(
            settings.openai_base_url or "",
            settings.openai_model or "",
            settings.openai_api_key or "",
            settings.prompt_timeout_s,
            formats,
        )

    async def __aenter__(self) -> "OpenAIClient":
        self._client = sdk_client(self._api_key, self.base_url, self.timeout_s)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text

    @property
    def format(self) -> str:
        """The response_format this server is asked with now."""
        return self._formats.get(self._server, JSON_SCHEMA)

    @property
    def _server(self) -> str:
        return f"{self.base_url}|{self.model}"

    async def describe(self, image_jpeg: bytes, prompt: str) -> Reply[ReversePrompt]:
        return await self.ask(image_jpeg, prompt)

    async def ask(
        self, images_jpeg: bytes | list[bytes], prompt: str, schema: type[BaseModel] = ReversePrompt
    ) -> Reply[Any]:
        """One answer about one or several images; a server that refuses the response format
        is asked in the next one."""
        import openai

        assert self._client is not None, "use 'async with OpenAIClient(...)'"
        images = [images_jpeg] if isinstance(images_jpeg, bytes) else list(images_jpeg)
        asked = self.format
        refusal: str | None = None
        for mode in FORMATS[FORMATS.index(asked) :]:
            try:
                response = await self._create(images, prompt, mode, schema)
            except openai.BadRequestError as exc:
                refusal = refusal or self._message(exc)
                continue
            if mode != asked:
                self._formats[self._server] = mode
                log.info(
                    "%s refused response_format %s (%s); asking with %s from now on",
                    self.base_url,
                    asked,
                    refusal,
                    mode,
                )
            return self._reply(response, mode, schema)
        raise PermanentFailure(f"{self.base_url} refused the request (400): {refusal}")

    async def _create(self, images: list[bytes], prompt: str, mode: str, schema: type[BaseModel]):
        import openai

        options: dict = {}
        if mode == JSON_SCHEMA:
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema.__name__, "schema": json_schema(schema)},
            }
        else:
            prompt = f"{prompt}\n\n{schema_instructions(schema)}"
            if mode == JSON_OBJECT:
                options["response_format"] = {"type": "json_object"}
        parts: list[dict] = [
            {
                "type": "image_url",
                "image_url": {
                    "url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
                },
            }
            for jpeg in images
        ]
        messages = [{"role": "user", "content": [*parts, {"type": "text", "text": prompt}]}]
        try:
            # The SDK's timeout covers the HTTP exchange; this one also bounds anything around it.
            return await asyncio.wait_for(
                self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,
                    temperature=0.4,
                    max_tokens=MAX_ANSWER_TOKENS,
                    extra_headers=_no_key_headers(self._api_key),
                    **options,
                ),
                timeout=self.timeout_s + 5.0,
            )
        except openai.BadRequestError:
            raise
        except (openai.APITimeoutError, asyncio.TimeoutError):
            raise TransientFailure(
                f"no answer from {self.base_url} within {self.timeout_s:g} s"
            ) from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, AnswerTooLarge):  # the SDK wraps what its client raises
                raise AnswerFailure(f"{self.base_url}'s answer was refused: {cause}") from None
            raise TransientFailure(
                self.redact(
                    f"connection to {self.base_url} failed: {type(cause).__name__}: {cause}"
                )
            ) from None
        except openai.APIStatusError as exc:
            raise self._status_failure(exc) from None
        except (json.JSONDecodeError, UnicodeDecodeError, openai.APIResponseValidationError) as exc:
            raise AnswerFailure(
                f"{self.base_url}'s response body was not valid JSON ({type(exc).__name__})"
            ) from None
        except AnswerTooLarge as exc:
            raise AnswerFailure(f"{self.base_url}'s answer was refused: {exc}") from None
        except RecursionError:  # JSON nested deeper than any parser goes
            raise AnswerFailure(f"{self.base_url}'s response body nests too deep to read") from None

    def _message(self, exc) -> str:
        body = getattr(exc, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        return self.redact(str(message or getattr(exc, "message", None) or exc))[:300]

    def _status_failure(self, exc) -> Exception:
        code = exc.status_code
        text = f"{self.base_url} error {code}: {self._message(exc)}"
        if code in _TRANSIENT_CODES:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            return TransientFailure(text, retry_after)
        if 300 <= code < 400:
            return PermanentFailure(
                redirect_refused(code, exc.response, self.base_url, "openai_base_url")
            )
        if code in (401, 403):
            return AuthFailure(
                f"{self.base_url} refused the request ({code}): "
                f"{self._message(exc)}. Check OPENAI_API_KEY."
            )
        if code == 404:
            return PermanentFailure(
                f"{text} (does the server serve model {self.model!r}, and "
                "does openai_base_url end in /v1? `vidpipe doctor` checks)"
            )
        return PermanentFailure(text)

    def _reply(self, response, mode: str, schema: type[BaseModel]) -> Reply[Any]:
        usage = usage_of(response)
        try:
            return Reply(self._answer(response, mode, schema), usage)
        except AnswerFailure as failure:
            failure.usage = usage
            raise

    def _answer(self, response, mode: str, schema: type[BaseModel]) -> BaseModel:
        choices = response.choices or []
        if not choices:
            raise AnswerFailure(f"{self.model} returned no answer (no choices)")
        choice = choices[0]
        refusal = getattr(choice.message, "refusal", None)
        if refusal:
            raise AnswerFailure(f"{self.model} refused: {str(refusal)[:200]}")
        if choice.finish_reason == "content_filter":
            raise AnswerFailure(f"{self.model} withheld the answer (content filter)")
        text = json_text(choice.message.content or "")
        if not text:
            raise AnswerFailure(f"{self.model} returned an empty answer")
        try:
            return schema.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
            cut = " (cut off: length)" if choice.finish_reason == "length" else ""
            raise AnswerFailure(
                f"{self.model}'s answer is not valid JSON for the schema{cut} "
                f"({mode}): {where}: {first.get('msg')}"
            ) from None


@lru_cache(maxsize=16)
def json_schema(schema: type[BaseModel]) -> dict:
    """The model's JSON schema, made once (pydantic takes milliseconds, on the event loop)."""
    return schema.model_json_schema()


@lru_cache(maxsize=16)
def schema_instructions(schema: type[BaseModel]) -> str:
    """The schema in words, for a server that cannot be given it as response_format."""
    return (
        "Reply with one JSON object and nothing else (no code fence, no comments) that "
        "fits this JSON schema:\n" + json.dumps(json_schema(schema))
    )


def json_text(content: str) -> str:
    """The JSON object inside an answer: without a reasoning model's ``<think>`` block, a code
    fence or words around it."""
    text = _THINKING.sub("", content).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        return text
    return text[start : end + 1]


def _count(value: object) -> int:
    """A token count as the server sent it, or 0 where it sent none (or not a number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_of(response) -> Usage | None:
    """``usage`` of a chat completion; reasoning tokens are counted apart from the answer's."""
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    details = getattr(usage, "completion_tokens_details", None)
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    # Usage drops counts out of range (the server's word); the answer's share is what is left
    # of the completion once the reasoning is taken out.
    counted = Usage(
        input_tokens=_count(getattr(usage, "prompt_tokens", None)),
        output_tokens=_count(getattr(usage, "completion_tokens", None)),
        thinking_tokens=_count(getattr(details, "reasoning_tokens", None)),
        cached_tokens=_count(getattr(prompt_details, "cached_tokens", None)),
    )
    return Usage(
        input_tokens=counted.input_tokens,
        output_tokens=max(counted.output_tokens - counted.thinking_tokens, 0),
        thinking_tokens=counted.thinking_tokens,
        cached_tokens=counted.cached_tokens,
    )


@dataclass(frozen=True)
class Probe:
    models: list[str] | None  # what GET /models lists; None when it could not be read
    error: str | None  # why the server cannot be used now (down, refusing), or None


def probe_server(settings: "Settings", timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """``GET /models``: whether the server answers now, and what it serves."""
    import openai

    base_url = settings.openai_base_url or ""
    api_key = settings.openai_api_key or ""
    client = sdk_client(api_key, base_url, min(timeout_s, settings.prompt_timeout_s), sync=True)
    try:
        page = client.models.list(extra_headers=_no_key_headers(api_key))
        return Probe([model.id for model in page.data], None)
    except openai.APIConnectionError as exc:  # timeouts included
        cause = exc.__cause__ or exc
        reason = (
            f"{type(cause).__name__}: {cause}".replace(api_key, "[redacted]")
            if api_key
            else f"{type(cause).__name__}: {cause}"
        )
        return Probe(
            None, f"the OpenAI-compatible server at {base_url} does not answer ({reason[:200]})"
        )
    except openai.APIStatusError as exc:
        if exc.status_code >= 500:
            return Probe(
                None,
                f"the OpenAI-compatible server at {base_url} answers "
                f"{exc.status_code} (still loading the model?)",
            )
        return Probe(None, None)  # it is up; the requests will say what is wrong
    finally:
        client.close()
