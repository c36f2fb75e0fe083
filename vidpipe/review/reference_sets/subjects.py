"""Who leaves in a reference set: a handle, the text that describes it, its images in order.

A *subject* is what a video tool is given one reference set for: a character (one person across
the project), or an object or environment (one asset). The format writers (veo, runway, kohya)
know only this neutral shape, not the database.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

from vidpipe.pipeline.characters import list_characters
from vidpipe.prompting.offline import OFFLINE_LABEL
from vidpipe.store.models import Asset, AssetState, AssetType, Manifest


class SubjectKind(StrEnum):
    CHARACTER = "character"
    OBJECT = "object"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class SubjectImage:
    file: str  # relative to the project folder
    caption: str  # what this one image shows (its asset's prompt), without any handle
    role: str = ""  # "front", "profile" ... for a character's images; "" otherwise


@dataclass(frozen=True)
class ReferenceSubject:
    handle: str  # what prompts call it: PERSON_01, HERO, OBJ_02, street_OBJ_02
    kind: SubjectKind
    prompt: str  # the canonical description; names the handle
    images: tuple[SubjectImage, ...]  # the primary first
    offline: bool = False  # its text is an offline placeholder, not a model's or a person's


def asset_text(asset: Asset) -> str:
    """The asset's own description for a prompt or caption, without the offline label and its
    tag in front (the handle takes the tag's place; the export reports offline texts instead
    of passing the label to a video model or into training captions): the text-to-image
    prompt, else the visual description, else what a person wrote, else its name."""
    for text in (asset.reverse_prompt, asset.visual_description, asset.description, asset.name):
        text = (text or "").strip().removeprefix(OFFLINE_LABEL.strip()).strip()
        text = without_leading_word(text, asset.manifest_tag)
        if text:
            return text
    return ""


def without_leading_word(text: str, word: str | None) -> str:
    """``text`` without ``word`` and its separator in front ("OBJ_02, a red car" -> "a red
    car"): prompts begin with their asset's tag, which a reference set names differently."""
    text = text.strip()
    if word:
        match = re.match(rf"{re.escape(word)}\b[\s,:;.\-–—]*", text)
        if match:
            text = text[match.end() :]
    return text.strip()


def naming(handle: str, text: str) -> str:
    """``text`` naming ``handle``: as it is when it names it already, else with the handle in
    front, in the pipeline's own prompt style ("ENV_01, a valley at dawn")."""
    text = text.strip()
    if re.search(rf"(?<![A-Za-z0-9_]){re.escape(handle)}(?![A-Za-z0-9_])", text):
        return text
    return f"{handle}, {text}" if text else handle


def character_subjects() -> list[ReferenceSubject]:
    """Every character with an image in the pipeline: its canonical description as the prompt
    (the primary image's own prompt while it has none), its images primary first, each
    captioned with its asset's prompt."""
    views = list_characters()
    assets = {
        asset.id: asset
        for asset in Asset.select().where(
            Asset.id.in_([image.asset_id for view in views for image in view.images] or [0])
        )
    }
    subjects = []
    for view in views:
        images = tuple(
            SubjectImage(
                file=image.file, role=image.role, caption=asset_text(assets[image.asset_id])
            )
            for image in view.images
            if image.asset_id in assets
        )
        if not images:
            continue
        description = view.description.strip()
        offline = description.startswith(OFFLINE_LABEL.strip())
        text = description.removeprefix(OFFLINE_LABEL.strip()).strip()
        if not text:  # no canonical description yet
            first = assets[view.images[0].asset_id]
            text, offline = images[0].caption, first.prompt_origin == "offline"
        subjects.append(
            ReferenceSubject(
                handle=view.handle,
                kind=SubjectKind.CHARACTER,
                prompt=naming(view.handle, text),
                images=images,
                offline=offline,
            )
        )
    return subjects


def references_first(images: tuple[SubjectImage, ...]) -> tuple[SubjectImage, ...]:
    """The images in the order a few references should be taken: the primary, then the first
    of every other role (a profile tells a model more than a second front view), then the rest
    in their order."""
    if not images:
        return images
    chosen = [images[0]]
    roles = {images[0].role}
    for image in images[1:]:
        if image.role not in roles:
            chosen.append(image)
            roles.add(image.role)
    return tuple(chosen) + tuple(image for image in images if image not in chosen)


def object_subjects(reserved: frozenset[str] = frozenset()) -> list[ReferenceSubject]:
    """Every usable object and environment of the project, one single-image subject each.
    The handle is the asset's tag. Where several manifests use the same tag, the oldest of
    them keeps the bare tag and the others are qualified with their manifest
    (``street_OBJ_02``), so that no handle names two subjects and adding a manifest never
    renames a set a shot prompt already names; a tag that a character's handle took
    (``reserved``) is qualified everywhere."""
    kinds = {AssetType.OBJECT: SubjectKind.OBJECT, AssetType.ENVIRONMENT: SubjectKind.ENVIRONMENT}
    assets = list(
        Asset.select(Asset, Manifest)
        .join(Manifest)
        .where(
            Asset.asset_type.in_(list(kinds)),
            Asset.state.not_in([AssetState.REMOVED, AssetState.ERROR]),
            Asset.manifest_tag.is_null(False),
            Asset.duplicate_of.is_null(True),
        )
    )
    oldest_manifest: dict[str, int] = {}
    for asset in assets:
        tag = asset.manifest_tag
        oldest_manifest[tag] = min(oldest_manifest.get(tag, asset.manifest_id), asset.manifest_id)
    subjects = []
    for asset in assets:
        tag = asset.manifest_tag
        bare = oldest_manifest[tag] == asset.manifest_id and tag not in reserved
        handle = tag if bare else f"{manifest_slug(asset.manifest.name)}_{tag}"
        text = asset_text(asset)
        subjects.append(
            ReferenceSubject(
                handle=handle,
                kind=kinds[AssetType(asset.asset_type)],
                prompt=naming(handle, text),
                images=(SubjectImage(file=asset.file_path, caption=text),),
                offline=asset.prompt_origin == "offline",
            )
        )
    return sorted(subjects, key=lambda subject: (subject.handle, subject.images[0].file))


def manifest_slug(name: str) -> str:
    """A manifest name as a handle's prefix: letters, digits and underscores only. A name that
    loses something on the way keeps a short digest of itself, so that two manifests never
    share a prefix ("a b" and "a-b")."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
    if slug == name and slug:
        return slug
    return f"{slug or 'manifest'}_{digest(name)}"


def digest(text: str, length: int = 4) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def file_stems(handles: list[str]) -> dict[str, str]:
    """Per handle, the name its files take in the export folder: the handle itself where it
    is a plain file name; otherwise (a person's handle with spaces, slashes, non-ASCII
    letters) a cleaned one with a digest. Unique even on a case-insensitive file system."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for handle in sorted(set(handles)):
        stem = (
            handle
            if SAFE_STEM.fullmatch(handle)
            else (re.sub(r"[^A-Za-z0-9_-]+", "_", handle).strip("_-")[:48] or "subject")
        )
        if stem != handle or stem.lower() in taken:
            stem = f"{stem}-{digest(handle, 8)}"
        taken.add(stem.lower())
        stems[handle] = stem
    return stems
