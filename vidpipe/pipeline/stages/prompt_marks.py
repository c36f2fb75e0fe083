"""What the prompt stage's StageMark records for an asset: where its answer came from (a backend,
"gemini" or "openai", or offline), the model and the template version. Shared by the prompt stage
and the early prompts that overlap the face stage, so both decide "already done" the same way."""

from __future__ import annotations

GEMINI = "gemini"
OFFLINE = "offline"


def fingerprint(origin: str, model: str, version: str) -> str:
    return f"{origin}|{version}" if origin == OFFLINE else f"{origin}|{model}|{version}"
