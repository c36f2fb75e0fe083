"""Answers already paid for, keyed by image content + model + prompt version.

Two assets with the same image bytes (a re-run, identical crops) share one answer. The tag the
prompt named is kept with the answer, so an answer reused for an asset with another tag can say
that asset's tag instead (see :func:`retag`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from vidpipe.store.models import PromptCache, utcnow
from vidpipe.prompting.schema import ReversePrompt, ValidationError


def cache_key(content_hash: str, model: str, prompt_version: str) -> str:
    return hashlib.sha256(f"{content_hash}|{model}|{prompt_version}".encode()).hexdigest()


@dataclass(frozen=True)
class CachedAnswer:
    answer: ReversePrompt
    subject_tag: str | None  # the tag the prompt gave when the answer was made


def get(key: str) -> CachedAnswer | None:
    row = PromptCache.get_or_none(PromptCache.key == key)
    if row is None:
        return None
    data = row.response or {}
    try:
        answer = ReversePrompt.model_validate(data.get("answer") or {})
    except ValidationError:
        return None  # written by an older schema: ask again
    return CachedAnswer(answer, data.get("subject_tag"))


def put(
    key: str, answer: ReversePrompt, subject_tag: str | None, model: str, prompt_version: str
) -> None:
    response = {
        "answer": answer.model_dump(),
        "subject_tag": subject_tag,
        "model": model,
        "prompt_version": prompt_version,
    }
    (
        PromptCache.insert(key=key, response=response, created_at=utcnow())
        .on_conflict(
            conflict_target=[PromptCache.key],
            update={PromptCache.response: response, PromptCache.created_at: utcnow()},
        )
        .execute()
    )


def retag(answer: ReversePrompt, old_tag: str | None, new_tag: str | None) -> ReversePrompt:
    """The answer with ``old_tag`` (as a whole word) replaced by ``new_tag``."""
    if not old_tag or not new_tag or old_tag == new_tag:
        return answer
    pattern = re.compile(rf"\b{re.escape(old_tag)}\b")
    return answer.model_copy(
        update={
            "reverse_prompt": pattern.sub(new_tag, answer.reverse_prompt),
            "visual_description": pattern.sub(new_tag, answer.visual_description),
        }
    )
