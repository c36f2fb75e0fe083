"""Reference images as the video tools take them: read safely from the project, resized,
re-encoded with fixed settings (the same project gives the same bytes), padded to an aspect
ratio where a tool limits it.

Re-encoding also drops what the original file carried beside the pixels (EXIF with GPS
positions, ICC profiles, comments): a reference set leaves the team.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from vidpipe import imaging
from vidpipe.errors import ImageError
from vidpipe.store.project import Project

#: Fill for padding: mid grey reads as "nothing here" to an image model, unlike white or black,
#: which it may take for a studio backdrop or a night scene.
PAD_COLOUR = (128, 128, 128)


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    mime_type: str
    width: int
    height: int

    def data_uri(self) -> str:
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def load_reference(project: Project, relative: str, max_pixels: int, max_side: int) -> Image.Image:
    """The project image at ``relative`` as upright RGB, at most ``max_side`` px on its long
    side. ImageError for a path (or a symlink on it) that leads out of the project folder, and
    for anything imaging refuses (not an image, truncated, too many pixels)."""
    path = project.absolute(relative)  # refuses ".." and absolute stored paths
    return imaging.load_rgb(path, max_pixels, max_side, within=project.root)


def pad_to_aspect(image: Image.Image, min_ratio: float, max_ratio: float) -> Image.Image:
    """``image`` centred on a grey canvas just large enough that width / height lies within
    [min_ratio, max_ratio]; the image itself unchanged when it already does. Padding rather
    than cropping: a reference keeps all of its subject."""
    width, height = image.size
    if width / height > max_ratio:
        canvas_size = (width, math.ceil(width / max_ratio))
    elif width / height < min_ratio:
        canvas_size = (math.ceil(height * min_ratio), height)
    else:
        return image
    canvas = Image.new("RGB", canvas_size, PAD_COLOUR)
    canvas.paste(image, ((canvas_size[0] - width) // 2, (canvas_size[1] - height) // 2))
    return canvas


def encode_jpeg(image: Image.Image, quality: int) -> EncodedImage:
    """Baseline JPEG, 4:2:0, no metadata: fixed settings, so the same pixels give the same
    bytes."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    return EncodedImage(buffer.getvalue(), "image/jpeg", *image.size)


def encode_png(image: Image.Image) -> EncodedImage:
    """PNG at a fixed compression level, no metadata chunks (lossless: training data)."""
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6, optimize=False)
    return EncodedImage(buffer.getvalue(), "image/png", *image.size)


def jpeg_within(
    image: Image.Image,
    max_bytes: int,
    quality: int,
    fit: Callable[[Image.Image], Image.Image] = lambda image: image,
) -> EncodedImage:
    """The best JPEG of ``fit(image)`` (from ``quality`` down, then at smaller sizes) whose
    data URI fits in ``max_bytes``; ``fit`` is applied again after every shrink (rounding may
    move an aspect ratio). Deterministic: the same image always takes the same steps."""
    while True:
        image = fit(image)
        for step in (quality, 80, 70, 60):
            encoded = encode_jpeg(image, min(step, quality))
            if len(encoded.data_uri()) <= max_bytes:
                return encoded
        if max(image.size) <= 64:
            raise ImageError(f"cannot make the image fit in {max_bytes} bytes")
        image = image.resize(
            (max(1, image.width * 3 // 4), max(1, image.height * 3 // 4)), Image.Resampling.LANCZOS
        )
