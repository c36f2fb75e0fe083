"""What a vision backend is: one small interface, whichever model answers.

A backend turns images and a prompt into a validated answer plus what it was billed
(:class:`VisionBackend`). Two exist: Gemini through google-genai (:mod:`.gemini`) and any
OpenAI-compatible server through the ``openai`` SDK (:mod:`.openai_backend`: vLLM, Ollama,
llama.cpp, LM Studio on the team's own GPU). Everything around a request (pacing, retries, the
cache, usage, the writer) is the runner's and the stage's, the same for both.
:mod:`.backend_choice` picks and opens the one the settings name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from vidpipe.prompting.schema import ReversePrompt
from vidpipe.prompting.usage import Usage

GEMINI = "gemini"
OPENAI = "openai"

AnswerT = TypeVar("AnswerT", bound=BaseModel)


@dataclass(frozen=True)
class Reply(Generic[AnswerT]):
    answer: AnswerT  # a ReversePrompt (describe), or the schema's model that ``ask`` was given
    usage: Usage | None  # None: the response carried no usage counts


class VisionBackend(Protocol):
    origin: str  # GEMINI or OPENAI: the asset's prompt_origin and its stage mark's first word
    model: str  # the model as the service names it
    cache_model: str  # the model's name in the prompt cache and the usage ledger

    async def __aenter__(self) -> "VisionBackend": ...

    async def __aexit__(self, *exc) -> None: ...

    async def describe(self, image_jpeg: bytes, prompt: str) -> Reply[ReversePrompt]:
        """One reverse-prompting request; raises a
        :class:`~vidpipe.prompting.retry.PromptFailure` subclass (one the service billed
        carries its ``usage``)."""
        ...

    async def ask(
        self, images_jpeg: bytes | list[bytes], prompt: str, schema: type[BaseModel] = ReversePrompt
    ) -> Reply[Any]:
        """One request about one or several images, answered as ``schema``."""
        ...

    def redact(self, text: str) -> str:
        """``text`` without the API key (every message passes here before it is shown)."""
        ...


def openai_cache_model(model: str) -> str:
    """The cache's name for a model served over the OpenAI API: never the same as a Gemini
    model's, so switching backends asks again and switching back finds the old answers."""
    return f"{OPENAI}:{model}"
