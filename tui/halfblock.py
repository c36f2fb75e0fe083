"""Images as coloured half blocks (``▀``: top pixel in the foreground colour, bottom pixel in the
background), drawn within a byte budget for slow links.

A cell of a half-block image costs one SGR sequence (~20 bytes with 256 colours, ~40 with true
colour) unless it continues a run of the same two colours, so the bytes of an image are set by
how many runs it has, not by its size alone. ``render_cells`` reduces the image to a small
adaptive palette, snaps the palette to the terminal's colours (256-colour terminals see the same
colour for many true colours: merging them lengthens the runs), draws a cell whose two halves
match as a space on a background (a shorter sequence), merges runs, and measures the result the
way Textual writes it; over the budget it tries fewer colours, then fewer cells.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.color import Color, ColorSystem
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

UPPER_HALF = "▀"


@dataclass(frozen=True)
class Budget:
    """How an image may be drawn: at most ``max_cells`` (columns, rows), at most ``max_bytes``
    written (None: no limit), with at most ``colors`` colours (None: every colour)."""

    max_cells: tuple[int, int]
    max_bytes: int | None = None
    colors: int | None = None


def fit(image_size: tuple[int, int], cells: tuple[int, int]) -> tuple[int, int]:
    """Columns and rows that show the whole image with its aspect (a half cell is square)."""
    width, height = image_size
    columns, rows = cells
    scale = min(columns / width, 2 * rows / height)
    return max(1, round(width * scale)), max(1, round(height * scale / 2))


def _palette_image(image, columns: int, rows: int, colors: int | None):
    from PIL import Image

    small = image.convert("RGB").resize((columns, rows * 2), Image.Resampling.BOX)
    if colors is None:
        return small
    return small.quantize(
        colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    ).convert("RGB")


def _cells(small, color_system: ColorSystem) -> list[Strip]:
    columns, pixel_rows = small.size
    pixels = small.load()
    colors: dict[tuple[int, int, int], Color] = {}

    def color(rgb) -> Color:
        found = colors.get(rgb)
        if found is None:
            found = Color.from_rgb(*rgb)
            if color_system != ColorSystem.TRUECOLOR:
                found = found.downgrade(color_system)
            colors[rgb] = found
        return found

    styles: dict[tuple, Style] = {}
    strips = []
    for row in range(pixel_rows // 2):
        segments: list[Segment] = []
        run_key, run_length = None, 0
        for column in range(columns):
            top = color(pixels[column, 2 * row])
            bottom = color(pixels[column, 2 * row + 1])
            key = (None, bottom) if top == bottom else (top, bottom)
            if key != run_key and run_length:
                segments.append(_segment(run_key, run_length, styles))
                run_length = 0
            run_key, run_length = key, run_length + 1
        segments.append(_segment(run_key, run_length, styles))
        strips.append(Strip(segments, columns))
    return strips


def _segment(key, length: int, styles: dict) -> Segment:
    style = styles.get(key)
    if style is None:
        style = styles[key] = Style(color=key[0], bgcolor=key[1])
    return Segment((" " if key[0] is None else UPPER_HALF) * length, style)


def written_bytes(strips: list[Strip], color_system: ColorSystem) -> int:
    """Bytes these lines take on the terminal as Textual writes them (cursor moves aside)."""
    from rich.console import Console

    console = Console(color_system=_NAMES[color_system], force_terminal=True, width=500)
    return sum(len(strip.render(console).encode()) for strip in strips)


_NAMES = {
    ColorSystem.STANDARD: "standard",
    ColorSystem.EIGHT_BIT: "256",
    ColorSystem.TRUECOLOR: "truecolor",
    ColorSystem.WINDOWS: "windows",
}


def render_cells(image, budget: Budget, color_system: ColorSystem | None) -> list[Strip]:
    """The image as lines of half blocks within ``budget`` (the largest, most colourful that fits)."""
    system = color_system or ColorSystem.TRUECOLOR
    columns, rows = fit(image.size, budget.max_cells)
    palettes = (
        [budget.colors]
        if budget.colors is None
        else [c for c in (budget.colors, 16, 8) if c <= budget.colors]
    )
    while True:
        for colors in palettes:
            strips = _cells(_palette_image(image, columns, rows, colors), system)
            if budget.max_bytes is None or written_bytes(strips, system) <= budget.max_bytes:
                return strips
        if columns <= 8 or rows <= 4:
            return strips  # as small as a picture can usefully be: show it anyway
        columns, rows = max(8, columns * 4 // 5), max(4, rows * 4 // 5)
