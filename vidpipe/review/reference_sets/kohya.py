"""LoRA training sets in kohya sd-scripts' dataset-config layout.

``DIR/dataset_config.toml`` holds one DreamBooth-style subset per character; ``DIR/<handle>/``
holds its images as PNG, each with a ``.txt`` caption that starts with the handle, the trigger
word (``class_tokens``; ``keep_tokens = 1`` keeps it first when captions are shuffled). Key
names and placement follow sd-scripts' ``library/config_util.py``: ``resolution``,
``batch_size`` and the bucket settings per ``[[datasets]]``; ``image_dir``, ``class_tokens``,
``num_repeats`` per ``[[datasets.subsets]]``; ``caption_extension`` and ``keep_tokens`` may
stand at any level and are written in ``[general]``.

``image_dir`` is relative: sd-scripts reads it from the folder training runs in, so the set
moves as one folder (``cd DIR`` before training).
"""

from __future__ import annotations

import json

from vidpipe.review.reference_sets.common import SetContext, readable_images
from vidpipe.review.reference_sets.images import encode_png
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.subjects import ReferenceSubject, file_stems

CONFIG_NAME = "dataset_config.toml"
CAPTION_EXTENSION = ".txt"
#: Training images: lossless, long side at most 1024 px (SDXL's native resolution; buckets
#: never upscale, so smaller crops train at their own size).
KOHYA_MAX_SIDE = 1024
RESOLUTION = 1024
#: Each character's images are repeated so that it contributes about this many samples an
#: epoch, whatever its image count (a character with 3 images is not drowned by one with 30).
SAMPLES_PER_EPOCH = 100
MAX_REPEATS = 50


def toml_string(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, but for DEL, which TOML wants escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def caption(handle: str, text: str) -> str:
    """The caption: the trigger word first, then what the image shows, on one line."""
    text = " ".join(text.split())
    return f"{handle}, {text}\n" if text else f"{handle}\n"


def repeats(images: int) -> int:
    return max(1, min(MAX_REPEATS, -(-SAMPLES_PER_EPOCH // images)))


def dataset_config(subsets: list[tuple[str, str, int]]) -> str:
    """The TOML for ``(image_dir, trigger, image count)`` per character, in that order."""
    lines = [
        "# kohya sd-scripts dataset config (train_network.py --dataset_config), written by",
        "# vidpipe. image_dir is relative to this folder: start training from it.",
        "",
        "[general]",
        f"caption_extension = {toml_string(CAPTION_EXTENSION)}",
        "keep_tokens = 1",
        "shuffle_caption = false",
        "",
        "[[datasets]]",
        f"resolution = {RESOLUTION}",
        "batch_size = 1",
        "enable_bucket = true",
        "bucket_no_upscale = true",
    ]
    for image_dir, trigger, count in subsets:
        lines += [
            "",
            "  [[datasets.subsets]]",
            f"  image_dir = {toml_string(image_dir)}",
            f"  class_tokens = {toml_string(trigger)}",
            f"  caption_extension = {toml_string(CAPTION_EXTENSION)}",
            "  keep_tokens = 1",
            f"  num_repeats = {repeats(count)}",
        ]
    return "\n".join(lines) + "\n"


def write_kohya(
    context: SetContext, subjects: list[ReferenceSubject], folder: ExportFolder
) -> None:
    stems = file_stems([subject.handle for subject in subjects])
    subsets = []
    for subject in subjects:
        stem = stems[subject.handle]
        count = 0
        for source, image in readable_images(context, subject, KOHYA_MAX_SIDE):
            count += 1
            name = f"{stem}/{stem}_{count:02d}"
            folder.write(f"{name}.png", encode_png(image).data)
            folder.write(f"{name}{CAPTION_EXTENSION}", caption(subject.handle, source.caption))
        if not count:
            context.report.problems.append(f"{subject.handle}: no readable image; not exported")
            continue
        subsets.append((stem, subject.handle, count))
        context.report.subjects += 1
    if subsets:
        folder.write(CONFIG_NAME, dataset_config(subsets))
