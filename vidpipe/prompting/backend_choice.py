"""Which vision backend the settings name (``prompt_backend``), and opening it.

:func:`identity` says what it is without opening anything (for stage marks, cache keys, the
shared limiter and the usage ledger), :func:`unavailable_reason` whether it can be asked now, and
:func:`open_backend` opens it:

    async with open_backend(settings) as backend:
        reply = await backend.describe(jpeg, prompt)  # a ReversePrompt
        reply = await backend.ask([jpeg, jpeg2], other_prompt, OtherAnswer)  # any schema
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vidpipe.prompting.backend import GEMINI, OPENAI, VisionBackend, openai_cache_model
from vidpipe.prompting.usage import Price, price_for

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings


@dataclass(frozen=True)
class BackendIdentity:
    """What the settings' backend is, known without a request."""

    origin: str
    model: str
    cache_model: str
    label: str  # "Gemini gemini-2.5-flash", "qwen2.5-vl at http://127.0.0.1:8000/v1"
    has_credentials: bool  # Gemini: an API key; an OpenAI-compatible server needs none
    price: Price | None  # None: no price known (a local model: free)

    @property
    def scope(self) -> str:
        """Whose quota the requests count against (the shared limiter's keys)."""
        return self.cache_model if self.origin == GEMINI else f"{self.cache_model}@{self.label}"


def identity(settings: "Settings") -> BackendIdentity:
    if settings.prompt_backend == OPENAI:
        model = settings.openai_model or ""
        return BackendIdentity(
            origin=OPENAI,
            model=model,
            cache_model=openai_cache_model(model),
            label=f"{model} at {settings.openai_base_url}",
            has_credentials=True,
            # Local models have no price: free, unless the person gives one (a paid endpoint).
            price=price_for(model, settings.openai_prices, table={}),
        )
    return BackendIdentity(
        origin=GEMINI,
        model=settings.gemini_model,
        cache_model=settings.gemini_model,
        label=f"Gemini {settings.gemini_model}",
        has_credentials=bool(settings.gemini_api_key),
        price=price_for(settings.gemini_model, settings.gemini_prices),
    )


def open_backend(settings: "Settings", formats: dict[str, str] | None = None) -> VisionBackend:
    """The configured backend, not yet entered. ``formats``: what each OpenAI-compatible
    server accepted as ``response_format`` (shared by the run's requests, see openai_backend)."""
    if settings.prompt_backend == OPENAI:
        from vidpipe.prompting.openai_backend import OpenAIClient

        return OpenAIClient.for_settings(settings, formats=formats)
    from vidpipe.prompting.gemini import GeminiClient

    return GeminiClient.for_settings(settings)


def unavailable_reason(settings: "Settings") -> str | None:
    """Why this run cannot ask a model (its prompts are then made offline), or None.

    Gemini: no API key. An OpenAI-compatible server: it does not answer ``GET /models`` now
    (a server that is down at the start of a run; one that fails later is retried as usual)."""
    ident = identity(settings)
    from vidpipe.extras import missing_reason, require

    if ident.origin == GEMINI:
        if not ident.has_credentials:
            return "no GEMINI_API_KEY / GOOGLE_API_KEY set"
        return missing_reason("gemini", "reverse prompting with Gemini")
    from vidpipe.prompting.openai_backend import probe_server

    require("openai", 'prompt_backend = "openai"')
    return probe_server(settings).error
