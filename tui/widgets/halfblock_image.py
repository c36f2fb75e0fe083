"""A picture drawn as half blocks from lines rendered beforehand (``tui.halfblock``), in a box of
fixed size: a new picture repaints this box only, never the layout around it, and showing the
picture already shown writes nothing."""

from __future__ import annotations

from typing import Hashable

from textual.strip import Strip
from textual.widget import Widget


class HalfBlockImage(Widget):
    DEFAULT_CSS = "HalfBlockImage { width: 100%; height: 12; }"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.key: Hashable = None
        self.image = None  # the PIL image the lines were drawn from
        self._strips: list[Strip] = []

    def show(self, key: Hashable, image, strips: list[Strip]) -> bool:
        """Show ``strips`` (of ``image``) unless ``key`` is what is shown; True if it repainted."""
        if key == self.key:
            return False
        self.key, self.image, self._strips = key, image, strips
        self.refresh()
        return True

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if y < len(self._strips):
            return self._strips[y].crop(0, width).extend_cell_length(width, style)
        return Strip.blank(width, style)
