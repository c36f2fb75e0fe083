"""`vidpipe doctor` checks for the reverse-prompting backend (vidpipe.ops.doctor lists
PROMPT_CHECKS): Gemini's key, or an OpenAI-compatible server in three steps: it answers, it
serves ``openai_model`` (naming what it serves when not), and one tiny image request comes back
as a valid answer."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from vidpipe.config.settings import Settings
from vidpipe.ops.diagnostics import Check

SERVER_REMEDY = (
    "start the server (vLLM: vllm serve MODEL; Ollama: ollama serve), or fix "
    "openai_base_url; see README, Prompting on your own GPU"
)


def check_gemini_key(settings: Settings, project: Path | None) -> Check | None:
    if settings.prompt_backend != "gemini":
        return None
    if settings.gemini_api_key:
        where = settings.gemini_base_url or "Google's endpoint"
        return Check("gemini", "ok", f"API key set; model {settings.gemini_model} via {where}")
    return Check(
        "gemini",
        "warn",
        "no GEMINI_API_KEY / GOOGLE_API_KEY: reverse prompts are made "
        "offline from what the pipeline knows, marked as offline",
        "export GEMINI_API_KEY=... then: vidpipe process PROJECT (offline prompts are "
        'redone), or prompt on your own GPU: prompt_backend = "openai"',
    )


def check_openai_server(settings: Settings, project: Path | None) -> Check | None:
    if settings.prompt_backend != "openai":
        return None
    if not _sdk_installed():
        return Check(
            "vision server",
            "fail",
            'prompt_backend = "openai" but the openai package is missing',
            "pip install 'vidpipe[openai]'",
        )
    from vidpipe.prompting.openai_backend import probe_server

    probe = probe_server(settings)
    if probe.error:
        return Check(
            "vision server",
            "fail",
            f"{probe.error}: reverse prompts would be made offline",
            SERVER_REMEDY,
        )
    if probe.models is None:
        return Check(
            "vision server",
            "warn",
            f"{settings.openai_base_url} answers but would not list its models (GET /models)",
            "openai_base_url usually ends in /v1; check OPENAI_API_KEY if the server wants one",
        )
    key = "with OPENAI_API_KEY" if settings.openai_api_key else "no key sent"
    return Check("vision server", "ok", f"{settings.openai_base_url} answers ({key})")


def check_openai_model(settings: Settings, project: Path | None) -> Check | None:
    if settings.prompt_backend != "openai" or not _sdk_installed():
        return None
    from vidpipe.prompting.openai_backend import probe_server

    probe = probe_server(settings)
    if probe.models is None:
        return None  # the server check says why
    served = ", ".join(probe.models[:20]) or "nothing"
    if not settings.openai_model:
        return Check(
            "vision model",
            "fail",
            f"openai_model is not set; the server serves: {served}",
            "set openai_model (VIDPIPE_OPENAI_MODEL) to one of them",
        )
    if settings.openai_model not in probe.models:
        return Check(
            "vision model",
            "fail",
            f"{settings.openai_model!r} is not served by "
            f"{settings.openai_base_url}; it serves: {served}",
            "set openai_model to one of them, or serve that model",
        )
    return Check("vision model", "ok", f"{settings.openai_model} is served")


def check_openai_answer(settings: Settings, project: Path | None) -> Check | None:
    """One small image through the real client: the answer fits the schema."""
    if settings.prompt_backend != "openai" or not settings.openai_model or not _sdk_installed():
        return None
    from vidpipe.prompting.openai_backend import OpenAIClient, probe_server
    from vidpipe.prompting.retry import PromptFailure
    from vidpipe.prompting.template import DEFAULT_TEMPLATE, PromptTemplate

    probe = probe_server(settings)
    if probe.models is None or settings.openai_model not in probe.models:
        return None  # the checks above say why
    prompt = PromptTemplate.from_text(DEFAULT_TEMPLATE).render(
        {
            "context": "- Asset type: not classified yet\n- This is a test image from vidpipe doctor.",
            "tag": "the subject",
        }
    )

    async def ask():
        async with OpenAIClient.for_settings(settings) as client:
            reply = await client.describe(_tiny_jpeg(), prompt)
            return reply, client.format

    try:
        reply, mode = asyncio.run(ask())
    except PromptFailure as exc:
        return Check(
            "vision answer",
            "fail",
            f"a 64 x 64 test image got no usable answer: {exc}",
            "check that the model takes images (a vision-language model)",
        )
    tokens = f", {reply.usage.total_tokens} tokens" if reply.usage else ""
    fallback = "" if mode == "json_schema" else f" (server refused json_schema: {mode})"
    return Check(
        "vision answer", "ok", f"a 64 x 64 test image answered with valid JSON{fallback}{tokens}"
    )


def _sdk_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("openai") is not None


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


PROMPT_CHECKS = [check_gemini_key, check_openai_server, check_openai_model, check_openai_answer]
