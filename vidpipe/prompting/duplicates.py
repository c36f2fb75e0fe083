"""Duplicate faces: the same person's face found again in another image.

The face stage marks every face of a group but the best one as a duplicate of that primary.
With ``prompt_duplicate_faces = "reuse"`` (the default) a duplicate is not sent to the model: it
gets its primary's answer, naming its own tag, its description starting "(Duplicate of NAME)".
A manifest of one character photographed ten times then pays for one face request, not ten
(bench/cost.py measures it). ``"request"`` asks the model about every face crop.

A copied answer's stage mark names the primary's image, so a regrouping that gives the
duplicate another primary makes it due again, and nothing else does.
"""

from __future__ import annotations

from vidpipe.store.models import Asset
from vidpipe.prompting import cache
from vidpipe.prompting.schema import ReversePrompt

REUSE = "reuse"
REQUEST = "request"
CHOICES = (REUSE, REQUEST)


def primaries_of(assets: list[Asset]) -> dict[int, Asset]:
    """``{duplicate face id: its primary face}`` among ``assets``."""
    wanted = {a.duplicate_of_id for a in assets if a.is_face_crop and a.duplicate_of_id}
    if not wanted:
        return {}
    primaries = {p.id: p for p in Asset.select().where(Asset.id.in_(list(wanted)))}
    return {
        a.id: primaries[a.duplicate_of_id]
        for a in assets
        if a.is_face_crop and a.duplicate_of_id in primaries
    }


def copy_fingerprint(mark: str, primary: Asset) -> str:
    return f"{mark}|copy:{primary.content_hash[:16]}"


def copied_answer(
    primary: Asset, duplicate: Asset, cache_model: str, prompt_version: str
) -> ReversePrompt | None:
    """The primary's cached answer made the duplicate's; None while the primary has none.
    ``cache_model``: the backend's model as the cache names it (BackendIdentity.cache_model)."""
    cached = cache.get(cache.cache_key(primary.content_hash, cache_model, prompt_version))
    if cached is None:
        return None
    answer = cache.retag(cached.answer, cached.subject_tag, duplicate.manifest_tag)
    return answer.model_copy(
        update={"visual_description": f"(Duplicate of {primary.name}) {answer.visual_description}"}
    )
