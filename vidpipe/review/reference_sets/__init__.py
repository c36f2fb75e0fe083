"""Reference sets for the video tools (``vidpipe export PROJECT --format FORMAT -o DIR``).

One module per format writes a folder from the project's subjects (:mod:`.subjects`):
``veo`` and ``runway`` one JSON per character, object and environment; ``kohya`` a LoRA
training set per character. The same project gives the same bytes: keys sorted, no times,
images re-encoded with fixed settings.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vidpipe.errors import ProjectError
from vidpipe.review.reference_sets.common import ExportReport, SetContext
from vidpipe.review.reference_sets.kohya import write_kohya
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.runway import write_runway
from vidpipe.review.reference_sets.subjects import (
    ReferenceSubject,
    character_subjects,
    object_subjects,
)
from vidpipe.review.reference_sets.veo import write_veo
from vidpipe.store.project import Project

Writer = Callable[[SetContext, list[ReferenceSubject], ExportFolder], None]

#: format -> (writer, whether objects and environments leave too, whether it holds image files)
FORMATS: dict[str, tuple[Writer, bool, bool]] = {
    "veo": (write_veo, True, False),
    "runway": (write_runway, True, False),
    "kohya": (write_kohya, False, True),
}


def export_reference_sets(
    project: Project, format_name: str, folder: Path, max_pixels: int
) -> tuple[ExportFolder, ExportReport]:
    """Write the ``format_name`` reference sets of the project into ``folder``."""
    writer, with_objects, holds_images = FORMATS[format_name]
    subjects = character_subjects()
    if with_objects:
        subjects += object_subjects(reserved=frozenset(s.handle for s in subjects))
    if not subjects:
        what = "characters, objects or environments" if with_objects else "characters"
        raise ProjectError(
            f"nothing to export as {format_name}: the project has no {what} "
            "yet (vidpipe process PROJECT finds them)"
        )
    output = ExportFolder(project, folder, holds_images)
    report = ExportReport()
    writer(SetContext(project, max_pixels, report), subjects, output)
    offline = [subject.handle for subject in subjects if subject.offline]
    if offline:
        report.notes.append(
            f"{len(offline)} subject(s) described by offline placeholders "
            f"(processed without a Gemini key): {', '.join(offline)}"
        )
    report.written = list(output.written)
    report.notes += [
        f"removed {name} (from the previous export into this folder)"
        for name in output.finish(format_name)
    ]
    return output, report
