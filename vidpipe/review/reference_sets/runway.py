"""Runway gen4 reference sets: ``DIR/<handle>.json`` = ``{"promptText", "referenceImages"}``.

The body of Runway's ``POST /v1/text_to_image`` (model ``gen4_image``) less the model and the
ratio, which are the shot's: each reference an inlined ``data:`` URI with a tag the prompt
names as ``@tag``. A handle that is not a valid Runway tag is mapped to one (and the export
says so); a character's second and third images take ``@TAG_2`` and ``@TAG_3``.
"""

from __future__ import annotations

import re
from functools import partial

from vidpipe.review.reference_sets.common import SetContext, json_bytes, readable_images
from vidpipe.review.reference_sets.images import jpeg_within, pad_to_aspect
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.subjects import ReferenceSubject, digest, file_stems

# Runway's API reference (https://docs.dev.runwayml.com/api/, text_to_image with gen4_image,
# and its input requirements): up to 3 `referenceImages`; a tag is 3-16 letters, digits or
# underscores, starting with a letter; an image sent as a data URI is at most 5 MB (counted
# here on the whole URI, base64 included, in decimal megabytes: the stricter reading) and its
# width / height lies between 0.5 and 2; `promptText` is at most 1000 characters.
RUNWAY_MAX_REFERENCES = 3
RUNWAY_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,15}")
RUNWAY_MAX_DATA_URI_BYTES = 5_000_000
RUNWAY_MIN_ASPECT_RATIO = 0.5
RUNWAY_MAX_ASPECT_RATIO = 2.0
RUNWAY_MAX_PROMPT_CHARS = 1000
#: Our choice, as for Veo: long side 1024 px, JPEG quality 90 (far below the 5 MB cap).
RUNWAY_MAX_SIDE = 1024
RUNWAY_JPEG_QUALITY = 90
#: Longest handle kept as the tag of a set with several references: "_2" / "_3" must fit.
BASE_TAG_MAX = 14


def runway_tag(handle: str, references: int = 1) -> str:
    """The handle itself when it is a valid Runway tag (with room for "_2" where the set has
    several references); otherwise letters, digits and underscores from it, a letter in
    front, and a digest of the handle so that two handles never map to one tag."""
    longest = 16 if references == 1 else BASE_TAG_MAX
    if RUNWAY_TAG.fullmatch(handle) and len(handle) <= longest:
        return handle
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", handle).strip("_")
    if not re.match(r"[A-Za-z]", cleaned):
        cleaned = f"R_{cleaned}"
    return f"{cleaned[: BASE_TAG_MAX - 5].rstrip('_')}_{digest(handle)}"


def reference_tags(base: str, count: int) -> list[str]:
    return [base] + [f"{base}_{index}" for index in range(2, count + 1)]


def prompt_text(subject: ReferenceSubject, tags: list[str]) -> str:
    """The subject's prompt with its handle written as ``@tag``, and a closing sentence naming
    the other references, within Runway's length limit (the description is shortened at a
    word, never the tags)."""
    handle = re.compile(rf"(?<![A-Za-z0-9_@]){re.escape(subject.handle)}(?![A-Za-z0-9_])")
    body = handle.sub(f"@{tags[0]}", subject.prompt)
    if f"@{tags[0]}" not in body:
        body = f"@{tags[0]}, {body}"
    tail = ""
    if len(tags) > 1:
        others = " and ".join(f"@{tag}" for tag in tags[1:])
        tail = f" {others} show the same {subject.kind.value} as @{tags[0]}."
    room = RUNWAY_MAX_PROMPT_CHARS - len(tail)
    short = shorten(body, room)
    if f"@{tags[0]}" not in short:  # the handle stood only in the part cut off
        short = shorten(f"@{tags[0]}, {body}", room)
    return short + tail


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut at a word with "…" where it is longer."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def write_runway(
    context: SetContext, subjects: list[ReferenceSubject], folder: ExportFolder
) -> None:
    stems = file_stems([subject.handle for subject in subjects])
    fit = partial(
        pad_to_aspect, min_ratio=RUNWAY_MIN_ASPECT_RATIO, max_ratio=RUNWAY_MAX_ASPECT_RATIO
    )
    for subject in subjects:
        uris = []
        for source, image in readable_images(
            context, subject, RUNWAY_MAX_SIDE, RUNWAY_MAX_REFERENCES
        ):
            if fit(image) is not image:
                context.report.notes.append(
                    f"{subject.handle}: {source.file} padded to an aspect ratio within "
                    f"{RUNWAY_MIN_ASPECT_RATIO}-{RUNWAY_MAX_ASPECT_RATIO} (Runway's limit)"
                )
            uris.append(
                jpeg_within(image, RUNWAY_MAX_DATA_URI_BYTES, RUNWAY_JPEG_QUALITY, fit).data_uri()
            )
        if not uris:
            context.report.problems.append(f"{subject.handle}: no readable image; not exported")
            continue
        base = runway_tag(subject.handle, len(uris))
        if base != subject.handle:
            context.report.notes.append(
                f"{subject.handle}: Runway tag @{base} (a tag is 3-16 "
                "letters, digits or underscores, starting with a letter)"
            )
        tags = reference_tags(base, len(uris))
        document = {
            "promptText": prompt_text(subject, tags),
            "referenceImages": [{"uri": uri, "tag": tag} for uri, tag in zip(uris, tags)],
        }
        folder.write(f"{stems[subject.handle]}.json", json_bytes(document))
        context.report.subjects += 1
