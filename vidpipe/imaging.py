"""Opening images safely: specific errors, EXIF orientation, normalised modes, reduced decoding.

Every stage reads images through here so that odd files (truncated, CMYK, 16-bit, palette with
transparency, animated, rotated by EXIF, decompression bombs) behave the same everywhere.

A project folder is input from someone else, so each open here:

* reads only a regular file that really lies inside the project (``within``), checked on the
  open file itself, not on its name earlier;
* hands the bytes only to the decoders of :data:`FORMATS` (Pillow otherwise tries every format
  it knows, whatever the file is called: an EPS named ``.jpg`` would run Ghostscript);
* turns whatever a decoder raises into that file's :class:`ImageError`, never the caller's
  crash (Pillow's rarer decoders raise ValueError, KeyError, IndexError ... on broken files).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from vidpipe.errors import ImageError
from vidpipe.store.safe_io import UnsafePath, open_inside, open_regular

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
#: The only Pillow decoders a file is handed to (APNG is PNG's, MPO is JPEG's).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_FORMATS_SAID = "JPEG, PNG, WebP, GIF, BMP or TIFF"
#: Decodes of more pixels than this (a JPEG's after DCT scaling) take turns, one per process.
LARGE_DECODE_PIXELS = 16_000_000
_large_decodes = threading.Lock()
_malloc_trim: Any = None  # glibc's malloc_trim (False: none), looked up at the first large decode
#: Frames are counted up to this many (vidpipe uses the first): a TIFF may chain 100 000 IFDs,
#: and Pillow's full count of those takes minutes.
FRAME_COUNT_CAP = 64

# We enforce our own, configurable, limit (with a clearer message) before Pillow's kicks in.
Image.MAX_IMAGE_PIXELS = None

_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True)
class ImageInfo:
    width: int  # after EXIF orientation
    height: int
    format: str
    mode: str
    frames: int


def is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


# Importing ultralytics replaces PIL.Image.open with a wrapper that answers a file Pillow cannot
# identify by installing and importing pi-heif (ModuleNotFoundError offline, not ImageError):
# vidpipe opens files with Pillow's own function.
pillow_open = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", Image.open)


@contextmanager
def _open(path: Path, within: Path | None) -> Iterator[Image.Image]:
    """Pillow's image of ``path`` (a regular file only: a FIFO or a device named like an image
    would block the reader, or never end; inside ``within`` when given). Any exception raised
    while the caller reads the image becomes an ImageError about this file."""
    try:
        handle = open_regular(path) if within is None else open_inside(path, within)
    except UnsafePath as exc:
        raise ImageError(str(exc).replace(f"{path} ", "", 1)) from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ImageError("symlink loop") from None
        raise ImageError(f"cannot read image: {exc.strerror or exc}") from None
    with handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ImageError("empty file (0 bytes)")
        try:
            image = pillow_open(handle, formats=FORMATS)
        except UnidentifiedImageError:
            raise ImageError(
                f"not an image vidpipe reads (the file's contents are not "
                f"{_FORMATS_SAID}, whatever its name says)"
            ) from None
        except OSError as exc:
            raise ImageError(f"cannot read image: {exc}") from None
        except Exception as exc:
            raise _corrupt(None, exc) from None
        with image:
            try:
                yield image
            except ImageError:
                raise
            except Exception as exc:
                raise _corrupt(image, exc) from None


def _corrupt(image: Image.Image | None, exc: Exception) -> ImageError:
    kind = (image.format if image is not None else None) or "image"
    text = str(exc)
    text = text if len(text) <= 200 else text[:200] + "…"
    return ImageError(f"corrupt {kind} data ({type(exc).__name__}: {text})")


def _frame_count(image: Image.Image) -> int:
    """Frames in ``image``, counted to FRAME_COUNT_CAP at most."""
    if not getattr(image, "is_animated", False):
        return 1
    count = 1
    try:
        while count < FRAME_COUNT_CAP:
            image.seek(count)
            count += 1
    except EOFError:
        pass
    image.seek(0)
    return count


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not make the image unusable
        orientation = 1
    return (height, width) if orientation in _SWAPS_AXES else (width, height)


def _megapixels(pixels: int) -> str:
    # 1600, 150, 0.005: never "0 megapixels" for a small configured limit.
    text = f"{pixels / 1e6:,.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.3g}"
    return f"{text} megapixels"


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"image is {width}×{height} ({_megapixels(width * height)}), over the "
            f"configured limit of {_megapixels(max_pixels)} (max_image_pixels)"
        )


def probe(path: Path, max_pixels: int, *, within: Path | None) -> ImageInfo:
    """Validate ``path`` completely (decodes it, at reduced size where the format allows).
    ``within``: the folder the file must really lie in (the project root), None for a file
    outside any project."""
    with _open(path, within) as image, _decode_slot(image, (256, 256)):
        width, height = _oriented_size(image)
        _check_pixels(width, height, max_pixels)
        info = ImageInfo(width, height, image.format or "?", image.mode, _frame_count(image))
        _draft(image, (256, 256))
        _decode(image, path)
    return info


def _draft(image: Image.Image, draft_size: tuple[int, int] | None) -> None:
    """Decode a JPEG at reduced scale (DCT scaling) where ``draft_size`` is enough."""
    if draft_size and image.format == "JPEG":
        image.draft("RGB", draft_size)


@contextmanager
def _decode_slot(image: Image.Image, draft_size: tuple[int, int] | None) -> Iterator[None]:
    """Around everything that decodes ``image`` (a PNG's EXIF lies after its pixels: even
    reading the orientation decodes it) and shrinks it: one large image at a time per process.
    The scan and the contact sheet decode several files at once; four full-size decodes of
    large PNGs at once would hold gigabytes. A JPEG decoded at reduced scale is not large."""
    if image.width * image.height <= LARGE_DECODE_PIXELS or (draft_size and image.format == "JPEG"):
        yield
        return
    with _large_decodes:
        try:
            yield
        finally:
            _return_freed_memory()


def _return_freed_memory() -> None:
    """Give what a large decode freed back to the system: glibc keeps freed memory in the
    arena of the thread that used it, so each decoding thread would hold one large image's
    worth for good."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):  # not glibc: nothing to trim
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


def _decode(image: Image.Image, path: Path) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
    except OSError as exc:
        text = str(exc)
        if "truncated" in text:
            kind = image.format or "image"
            raise ImageError(
                f"truncated {kind} (the file ends before the image data does)"
            ) from None
        raise ImageError(f"corrupt {image.format or 'image'} data: {text}") from None
    except (SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"corrupt {image.format or 'image'} data: {exc}") from None


def to_rgb(image: Image.Image, background=(255, 255, 255)) -> Image.Image:
    """Any Pillow mode to 8-bit RGB; transparency is composited onto ``background``."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit greyscale: scale to 8 bits instead of clipping everything to white. Pillow's
        # own point transform works in the image's mode: no float64 copy of a huge image.
        high = image.getextrema()[1]
        if isinstance(high, (int, float)) and high > 255:
            scale = 255.0 / 65535.0
            image = image.point(lambda value: value * scale)
        return image.convert("L").convert("RGB")
    if image.mode == "F":
        return image.convert("L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def load_rgb(
    path: Path, max_pixels: int, max_side: int | None = None, *, within: Path | None
) -> Image.Image:
    """The image at ``path`` as upright 8-bit RGB (first frame), at most ``max_side`` px on its
    longest edge when given. JPEGs are decoded at reduced scale (DCT scaling) when that suffices,
    which is several times faster than decoding at full size and shrinking. ``within`` as for
    :func:`probe`."""
    draft = (max_side, max_side) if max_side else None
    with _open(path, within) as image, _decode_slot(image, draft):
        width, height = _oriented_size(image)
        _check_pixels(width, height, max_pixels)
        _draft(image, draft)
        _decode(image, path)
        upright = ImageOps.exif_transpose(image)
        rgb = to_rgb(upright)
        if max_side and max(rgb.size) > max_side:
            rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
        return rgb.copy() if rgb is image else rgb


def load_full_rgb(path: Path, max_pixels: int, *, within: Path | None) -> Image.Image:
    """Full-resolution upright RGB, for cropping at source-pixel coordinates."""
    return load_rgb(path, max_pixels, max_side=None, within=within)
