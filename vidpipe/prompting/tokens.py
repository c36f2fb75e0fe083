"""Gemini's documented token rules, to estimate what a request will be billed.

Images (Gemini 2.x, media_resolution unset): both sides at most 384 px cost 258 tokens; a
larger image is cut into 768 x 768 tiles of 258 tokens each. With ``media_resolution`` set, an
image costs a fixed 64 (low) or 256 (medium, high) tokens. Text: about four characters a token.
The fake Gemini server bills by these rules; the cost benchmark and the image-size choice use them.
"""

from __future__ import annotations

import math

SMALL_IMAGE_PX = 384
TILE_PX = 768
TOKENS_PER_TILE = 258
MEDIA_RESOLUTION_TOKENS = {"low": 64, "medium": 256, "high": 256}
CHARS_PER_TOKEN = 4


def image_tokens(width: int, height: int, media_resolution: str = "") -> int:
    fixed = MEDIA_RESOLUTION_TOKENS.get(media_resolution.lower().removeprefix("media_resolution_"))
    if fixed is not None:
        return fixed
    if width <= SMALL_IMAGE_PX and height <= SMALL_IMAGE_PX:
        return TOKENS_PER_TILE
    return math.ceil(width / TILE_PX) * math.ceil(height / TILE_PX) * TOKENS_PER_TILE


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The size of an image downscaled (never upscaled) so its longest side is ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
