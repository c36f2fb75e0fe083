"""What every reference-set format shares: the report, reading a subject's images, the JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image

from vidpipe.errors import ImageError
from vidpipe.review.reference_sets.images import load_reference
from vidpipe.review.reference_sets.subjects import (
    ReferenceSubject,
    SubjectImage,
    references_first,
)
from vidpipe.store.project import Project


@dataclass
class ExportReport:
    """What an export wrote (paths relative to its folder), what it changed on the way to fit
    a tool's rules (notes), and what it could not use (problems: the exit status says so)."""

    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    subjects: int = 0


@dataclass(frozen=True)
class SetContext:
    project: Project
    max_pixels: int  # the project's max_image_pixels: the same limit as every stage
    report: ExportReport


def readable_images(
    context: SetContext, subject: ReferenceSubject, max_side: int, limit: int | None = None
) -> Iterator[tuple[SubjectImage, Image.Image]]:
    """The subject's images, the primary first, each loaded at most ``max_side`` px on its
    long side. With a ``limit`` (a few references), up to that many, varied roles first (see
    :func:`references_first`). An image that cannot be read is reported and the next one
    takes its place."""
    taken = 0
    for image in references_first(subject.images) if limit else subject.images:
        if limit is not None and taken >= limit:
            return
        try:
            loaded = load_reference(context.project, image.file, context.max_pixels, max_side)
        except ImageError as exc:
            context.report.problems.append(f"{subject.handle}: {image.file}: {exc}; left out")
            continue
        taken += 1
        yield image, loaded


def json_bytes(document: dict) -> str:
    """The one JSON layout of every export file: sorted keys, two-space indent, UTF-8 as is."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
