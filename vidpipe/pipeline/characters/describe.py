"""The canonical description of a character: what must stay the same in every shot.

One vision-model request per character, with up to three of its best images (the primary, then
other roles), through the prompting machinery (the shared limiter, retries, the usage ledger).
The answer is cached by the images and the model, and the character remembers which images it
was made from (``description_key``), so the model is asked again only when they change. A
person's description is never replaced: the model's text becomes a suggestion beside it.

Without an API key the description is a summary of the images' own prompts, marked
``[offline]``; the first run with a key replaces it.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, field_validator

from vidpipe.pipeline.characters.views import Role, image_order
from vidpipe.prompting.offline import OFFLINE_LABEL
from vidpipe.store.character_edits import apply_ai_description, renamed
from vidpipe.store.models import Asset, Character, PromptCache, utcnow

if TYPE_CHECKING:
    from vidpipe.config.settings import Settings
    from vidpipe.store.project import Project

DESCRIPTION_VERSION = "character-1"  # bump when the request below changes
MAX_IMAGES = 3
OFFLINE_SENTENCES = 3

PROMPT = """These {count} images show one person, the character {handle}{named}.
Write the canonical description a video production uses to keep this character identical in \
every shot: face (shape, eyes, nose, mouth, skin, age), hair (colour, length, style), build \
and height, distinctive marks (scars, tattoos, glasses, facial hair) and their usual clothing. \
Only what stays the same across shots: no pose, background, lighting or camera. \
Start with {handle}. Plain sentences, at most 120 words."""


class CharacterDescription(BaseModel):
    """The structured answer asked of the model."""

    description: str = Field(description="The canonical description, starting with the handle.")

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value


@dataclass(frozen=True)
class Request:
    character: Character
    images: list[Asset]
    key: str  # what the description is made from: images + model + version


def best_images(images: list[Asset], primary_id: int | None) -> list[Asset]:
    """Up to MAX_IMAGES: the primary, then the best image of each other role, then the rest."""
    ordered = sorted(
        images, key=lambda a: (a.id != primary_id, image_order(a.character_role, a.sharpness, a.id))
    )
    chosen: list[Asset] = ordered[:1]
    for role in Role:
        if len(chosen) == MAX_IMAGES:
            break
        found = next((a for a in ordered if a.character_role == role and a not in chosen), None)
        if found is not None and found.character_role not in {c.character_role for c in chosen}:
            chosen.append(found)
    for asset in ordered:
        if len(chosen) == MAX_IMAGES:
            break
        if asset not in chosen:
            chosen.append(asset)
    return chosen


def request_for(character: Character, images: list[Asset], origin: str, model: str) -> Request:
    chosen = best_images(images, character.primary_asset)
    if origin == "offline":
        # The offline text is made from the prompts, so they are part of what it depends on.
        parts = [f"{a.content_hash}:{a.reverse_prompt}" for a in chosen]
    else:
        parts = [a.content_hash for a in chosen]
    # Not the handle: a rename rewrites the description (vidpipe.store.character_edits).
    fingerprint = "|".join([DESCRIPTION_VERSION, origin, model, *parts])
    return Request(character, chosen, hashlib.sha256(fingerprint.encode()).hexdigest())


def due(request: Request) -> bool:
    return bool(request.images) and request.character.description_key != request.key


def offline_description(request: Request) -> str:
    """A summary of the images' own prompts, clearly marked as made without a model."""
    handle = request.character.handle
    seen = []
    for asset in request.images:
        text = (asset.visual_description or asset.reverse_prompt or "").strip()
        text = text.removeprefix(OFFLINE_LABEL).strip()
        if text and text not in seen:
            seen.append(text)
    body = " ".join(seen[:OFFLINE_SENTENCES]) or "no prompt yet for its images."
    return (
        f"{OFFLINE_LABEL}{handle}, summarised from {len(request.images)} reference "
        f"image(s) without a vision model: {body}"
    )


def describe(
    requests: list[Request],
    project: "Project",
    settings: "Settings",
    run_id: int | None,
    online: bool,
) -> tuple[int, list[str]]:
    """Write a description for every request (``online``: through the prompts' vision backend,
    see vidpipe.prompting.backend); returns (written, errors)."""
    if not requests:
        return 0, []
    if not online:
        for request in requests:
            apply_ai_description(
                request.character.id, offline_description(request), "offline", request.key
            )
        return len(requests), []
    return asyncio.run(_describe_online(requests, project, settings, run_id))


async def _describe_online(
    requests: list[Request], project: "Project", settings: "Settings", run_id: int | None
) -> tuple[int, list[str]]:
    from vidpipe.prompting.backend_choice import open_backend
    from vidpipe.prompting.retry import PromptFailure, RetryPolicy
    from vidpipe.prompting.runner import jpeg_encoder
    from vidpipe.prompting.shared_limiter import make_limiter

    encode = jpeg_encoder(settings, project.root)
    policy = RetryPolicy(max_retries=settings.prompt_max_retries)
    limiter = make_limiter(settings)
    written, errors = 0, []
    try:
        async with open_backend(settings) as client:
            for request in requests:
                cached = _cached(request.key, request.character.handle)
                if cached is None:
                    try:
                        cached = await _ask(
                            client, limiter, policy, encode, project, request, settings, run_id
                        )
                    except (PromptFailure, OSError) as exc:
                        errors.append(f"{request.character.handle}: {client.redact(str(exc))}")
                        continue
                apply_ai_description(request.character.id, cached, client.origin, request.key)
                written += 1
    finally:
        limiter.close()
    return written, errors


async def _ask(
    client, limiter, policy, encode, project, request: Request, settings, run_id: int | None
) -> str:
    from vidpipe.prompting import ledger
    from vidpipe.prompting.backend_choice import identity
    from vidpipe.prompting.retry import PromptFailure, with_retries

    images = [
        await asyncio.to_thread(encode, project.absolute(a.file_path)) for a in request.images
    ]
    character = request.character
    named = f" ({character.name})" if character.name else ""
    prompt = PROMPT.format(count=len(images), handle=character.handle, named=named)
    backend = identity(settings)

    async def attempt() -> str:
        failure = reply = None
        async with limiter.slot():
            try:
                reply = await client.ask(images, prompt, CharacterDescription)
                usage = reply.usage
            except PromptFailure as exc:
                failure, usage = exc, exc.usage
        if usage is not None:  # billed is billed, a refused answer too
            ledger.record(run_id, request.images[0].id, backend.cache_model, usage, backend.price)
        if failure is not None:
            raise failure
        assert reply is not None
        return reply.answer.description

    text = await with_retries(attempt, policy)
    _store(request.key, text, character.handle)
    return text


def _cached(key: str, handle: str) -> str | None:
    """The cached description, naming the character as it is called now."""
    row = PromptCache.get_or_none(PromptCache.key == f"character:{key}")
    if row is None:
        return None
    response = row.response or {}
    return renamed(response.get("description") or "", response.get("handle"), handle) or None


def _store(key: str, text: str, handle: str) -> None:
    response = {"description": text, "handle": handle}
    (
        PromptCache.insert(key=f"character:{key}", response=response, created_at=utcnow())
        .on_conflict(
            conflict_target=[PromptCache.key],
            update={PromptCache.response: response, PromptCache.created_at: utcnow()},
        )
        .execute()
    )
