"""A useful prompt without a model: built from what the pipeline knows and simple image statistics.

Used when no API key is configured. Both texts start with ``[offline]`` and the asset's
``prompt_origin`` is "offline", so nobody mistakes them for a model's reading of the image; a
rerun with a key replaces them (they are AI output, not a person's edit).
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from vidpipe.store.edits import OFFLINE_LABEL
from vidpipe.store.models import Asset, AssetType, Source

OFFLINE_VERSION = "offline-1"  # bump when the wording below changes: offline prompts are redone

# A small vocabulary of colour names a prompt writer would use.
_NAMED_COLOURS = {
    "black": (20, 20, 20),
    "charcoal grey": (64, 64, 64),
    "grey": (128, 128, 128),
    "light grey": (192, 192, 192),
    "white": (245, 245, 245),
    "red": (200, 30, 30),
    "dark red": (120, 20, 25),
    "orange": (235, 130, 30),
    "yellow": (240, 215, 50),
    "beige": (220, 200, 160),
    "brown": (120, 80, 45),
    "olive": (120, 120, 40),
    "green": (50, 160, 60),
    "dark green": (25, 80, 35),
    "teal": (30, 130, 130),
    "cyan": (60, 200, 220),
    "sky blue": (120, 180, 235),
    "blue": (40, 80, 200),
    "navy": (25, 35, 90),
    "purple": (120, 50, 150),
    "pink": (235, 130, 170),
    "skin tone": (210, 160, 130),
}


def colour_name(rgb: tuple[int, int, int]) -> str:
    return min(
        _NAMED_COLOURS,
        key=lambda name: sum((a - b) ** 2 for a, b in zip(_NAMED_COLOURS[name], rgb)),
    )


def dominant_colours(image: Image.Image, count: int = 3, min_share: float = 0.08) -> list[str]:
    """Names of the colours covering most of the image, largest first."""
    small = image.convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    quantised = small.quantize(colors=6, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    total = 64 * 64
    names: list[str] = []
    for pixels, index in sorted(quantised.getcolors() or [], reverse=True):
        if pixels / total < min_share:
            break
        name = colour_name(tuple(palette[index * 3 : index * 3 + 3]))
        if name not in names:
            names.append(name)
        if len(names) == count:
            break
    return names


@dataclass(frozen=True)
class ImageStats:
    colours: list[str]
    brightness: float  # 0..255 mean luminance
    contrast: float  # std of luminance
    saturation: float  # 0..255 mean HSV saturation


def image_stats(image: Image.Image) -> ImageStats:
    from PIL import ImageStat

    small = image.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR)
    luminance = ImageStat.Stat(small.convert("L"))
    saturation = ImageStat.Stat(small.convert("HSV").getchannel("S"))
    return ImageStats(
        dominant_colours(small), luminance.mean[0], luminance.stddev[0], saturation.mean[0]
    )


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _subject(asset: Asset) -> str:
    if asset.is_face_crop:
        return "close-up portrait of a face"
    if asset.detection_class == "person":
        return "full-figure shot of a person"
    if asset.detection_class:
        return f"a {asset.detection_class}"
    return {
        AssetType.CHARACTER: "character reference",
        AssetType.OBJECT: "object reference, product-style view",
        AssetType.ENVIRONMENT: "environment reference, wide establishing view",
        AssetType.STYLE: "style reference",
    }.get(asset.asset_type, "reference image")


def _orientation(width: int, height: int) -> str:
    ratio = width / height if height else 1.0
    if ratio > 1.15:
        return f"horizontal {ratio:.2f}:1 framing"
    if ratio < 0.87:
        return f"vertical 1:{1 / ratio:.2f} framing"
    return "square framing"


def _placement(asset: Asset, parent: Asset | None) -> str:
    """Where a crop sat in its source image, and how much of it it covered."""
    if not asset.crop_bbox or parent is None or not parent.width or not parent.height:
        return ""
    x1, y1, x2, y2 = asset.crop_bbox
    centre = (x1 + x2) / 2 / parent.width
    side = "left" if centre < 0.36 else "right" if centre > 0.64 else "centre"
    share = max(0.0, (x2 - x1) * (y2 - y1)) / (parent.width * parent.height)
    return f"{side} of the source frame, {share:.0%} of its area"


def offline_prompt(asset: Asset, parent: Asset | None, image: Image.Image) -> tuple[str, str]:
    """(reverse_prompt, visual_description) for ``asset`` whose (downscaled) image is ``image``."""
    stats = image_stats(image)
    width = asset.width or image.width
    height = asset.height or image.height
    light = (
        "dark, low-key lighting"
        if stats.brightness < 70
        else "bright, high-key lighting"
        if stats.brightness > 185
        else "balanced exposure"
    )
    contrast = (
        "high contrast" if stats.contrast > 70 else "soft contrast" if stats.contrast < 30 else ""
    )
    palette = (
        "black and white"
        if stats.saturation < 20
        else f"dominant colours {_join(stats.colours)}"
        if stats.colours
        else ""
    )
    mood = (
        "vivid colours"
        if stats.saturation > 150
        else "muted colours"
        if 20 <= stats.saturation < 60
        else ""
    )

    prompt_parts = [
        asset.manifest_tag or "",
        _subject(asset),
        palette,
        mood,
        light,
        contrast,
        _orientation(width, height),
        "detailed reference photo",
    ]
    reverse_prompt = OFFLINE_LABEL + ", ".join(part for part in prompt_parts if part)

    kind = (
        "Face crop"
        if asset.is_face_crop
        else (
            f"Crop of a detected {asset.detection_class}"
            if asset.detection_class
            else "Crop"
            if asset.source == Source.EXTRACTED
            else "Uploaded image"
        )
    )
    tag = f" {asset.manifest_tag}" if asset.manifest_tag else ""
    origin = f" taken from {parent.name}" if parent is not None else ""
    placement = _placement(asset, parent)
    sentences = [f"{kind}{tag}{origin}" + (f" ({placement})." if placement else ".")]
    size_note = " (low resolution)" if max(width, height) < 512 else ""
    sentences.append(f"{width}×{height} px{size_note}, {_orientation(width, height)}.")
    look = [
        p
        for p in (
            palette.replace("dominant colours ", "mostly ") if palette else "",
            light,
            contrast,
        )
        if p
    ]
    if look:
        sentences.append(look[0][0].upper() + ", ".join(look)[1:] + ".")
    sentences.append(
        "Written from image statistics without a vision model: set GEMINI_API_KEY "
        "(or GOOGLE_API_KEY) and rerun reverse prompting for a real description."
    )
    return reverse_prompt, OFFLINE_LABEL + " ".join(sentences)
