"""Rendering contact sheets: a numbered grid of thumbnails with labels, paginated.

Layout (the seed's): 4 columns, 256 px square cells, a 60 px label band under each cell holding
``[N] Name`` and the TYPE, a title band reading "PROJECT REFERENCE SHEET". Thumbnails are decoded
at reduced size (JPEG DCT scaling via ``Image.draft``) on a small thread pool, and each page is
drawn and written before the next is started, so memory stays flat however many images there are.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image, ImageDraw, ImageFont

from vidpipe import imaging
from vidpipe.errors import ImageError
from vidpipe.store.safe_io import write_atomic

TITLE = "PROJECT REFERENCE SHEET"
TITLE_PX = 80
MARGIN = 16
BACKGROUND = (24, 24, 28)
CELL_BACKGROUND = (40, 40, 46)
TEXT = (235, 235, 235)
MUTED = (160, 160, 170)

_FONT_CANDIDATES = {
    False: ["DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"],
    True: ["DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"],
}


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.ImageFont:
    """DejaVu Sans when installed, else Pillow's built-in font (scalable since Pillow 10.1)."""
    for candidate in _FONT_CANDIDATES[bold]:
        try:
            return ImageFont.truetype(candidate, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


@dataclass(frozen=True)
class SheetEntry:
    number: int
    name: str
    type: str
    path: Path | None
    problem: str | None = None  # why there is no path to read (drawn in the cell instead)


@dataclass(frozen=True)
class Layout:
    columns: int = 4
    thumb_px: int = 256
    label_px: int = 60
    rows_per_page: int = 6

    @property
    def per_page(self) -> int:
        return self.columns * self.rows_per_page


def _fit(text: str, draw: ImageDraw.ImageDraw, face, width: int) -> str:
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text + "…"


def _thumbnail(
    entry: SheetEntry, size: int, max_pixels: int, within: Path | None
) -> Image.Image | str:
    if entry.path is None:
        return entry.problem or "no file"
    try:
        return imaging.load_rgb(entry.path, max_pixels, max_side=size, within=within)
    except ImageError as exc:
        return str(exc)


def _pages(entries: list[SheetEntry], per_page: int) -> Iterator[list[SheetEntry]]:
    for start in range(0, len(entries), per_page):
        yield entries[start : start + per_page]


def render_pages(
    entries: Iterable[SheetEntry],
    layout: Layout,
    subtitle: str,
    max_pixels: int,
    *,
    images_within: Path | None,
    workers: int = 4,
) -> Iterator[Image.Image]:
    """Yield one RGB page after another (each page's thumbnails decoded in parallel).
    ``images_within``: the folder every image must really lie in (the project root)."""
    entries = list(entries)
    pages = list(_pages(entries, layout.per_page)) or [[]]
    with ThreadPoolExecutor(max_workers=workers) as pool:

        def decode(page: list[SheetEntry]) -> list[Future]:
            return [
                pool.submit(_thumbnail, e, layout.thumb_px, max_pixels, images_within) for e in page
            ]

        upcoming = decode(pages[0])
        try:
            for page_number, page in enumerate(pages, start=1):
                current = upcoming
                # The next page decodes while this one is drawn and saved: at most two pages of
                # small thumbnails are held, never full-size images.
                upcoming = decode(pages[page_number]) if page_number < len(pages) else []
                yield _draw_page(
                    page, [f.result() for f in current], layout, subtitle, page_number, len(pages)
                )
        finally:
            for future in upcoming:
                future.cancel()


def _draw_page(
    page: list[SheetEntry],
    thumbs: list,
    layout: Layout,
    subtitle: str,
    page_number: int,
    page_count: int,
) -> Image.Image:
    cell_h = layout.thumb_px + layout.label_px
    rows = max(1, -(-len(page) // layout.columns))
    width = MARGIN + layout.columns * (layout.thumb_px + MARGIN)
    height = TITLE_PX + MARGIN + rows * (cell_h + MARGIN)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((MARGIN, 14), TITLE, font=font(32, bold=True), fill=TEXT)
    caption = f"{subtitle} · page {page_number}/{page_count}"
    draw.text((MARGIN, 54), caption, font=font(14), fill=MUTED)
    for index, (entry, thumb) in enumerate(zip(page, thumbs)):
        x = MARGIN + (index % layout.columns) * (layout.thumb_px + MARGIN)
        y = TITLE_PX + MARGIN + (index // layout.columns) * (cell_h + MARGIN)
        draw.rectangle(
            (x, y, x + layout.thumb_px - 1, y + layout.thumb_px - 1), fill=CELL_BACKGROUND
        )
        if isinstance(thumb, Image.Image):
            sheet.paste(
                thumb,
                (
                    x + (layout.thumb_px - thumb.width) // 2,
                    y + (layout.thumb_px - thumb.height) // 2,
                ),
            )
        else:
            draw.multiline_text(
                (x + 8, y + 8), "unreadable:\n" + thumb[:60], font=font(12), fill=MUTED
            )
        label_face = font(14)
        label = _fit(f"[{entry.number}] {entry.name}", draw, label_face, layout.thumb_px)
        draw.text((x, y + layout.thumb_px + 8), label, font=label_face, fill=TEXT)
        draw.text((x, y + layout.thumb_px + 32), entry.type, font=font(12, bold=True), fill=MUTED)
    return sheet


def write_pages(
    entries: Iterable[SheetEntry],
    layout: Layout,
    subtitle: str,
    out_dir: Path,
    stem: str,
    max_pixels: int,
    within: Path | None = None,
    *,
    images_within: Path | None,
) -> Iterator[Path]:
    """Render and save each page as JPEG (``{stem}-p01.jpg`` ...), yielding each path once
    written. Pages left over from a longer earlier sheet are deleted at the end.

    JPEG, not PNG: a page encodes in ~6 ms instead of ~135 ms (PNG, fastest level) and is a
    fifth of the size to send over SSH or to a vision model; 4:4:4 chroma keeps labels crisp.
    ``within``: the folder ``out_dir`` must really be in (see vidpipe.store.safe_io);
    ``images_within`` as for :func:`render_pages`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for number, page in enumerate(
        render_pages(entries, layout, subtitle, max_pixels, images_within=images_within), start=1
    ):
        path = out_dir / f"{stem}-p{number:02d}.jpg"
        # A reader never sees half a page; a symlink planted at the name is replaced.
        write_atomic(
            path,
            lambda out: page.save(out, format="JPEG", quality=90, subsampling=0),
            within=within,
        )
        written.append(path)
        yield path
    for stale in out_dir.glob(f"{stem}-p*.*"):  # also pages of another format
        if stale not in written:
            stale.unlink()
