"""The main screen's preview: the asset's text at once, its picture once the cursor rests.

What it writes is paid on every cursor move over SSH, so: the picture is drawn only after the
cursor has rested ``REST_S`` (holding a key down through the grid draws nothing in between);
each picture is decoded once (``PREVIEW_CACHE`` kept) and drawn once per size and quality (the
half-block lines are kept as well); the picture already shown is never sent again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collections import OrderedDict

from rich.color import ColorSystem
from textual import work

from tui import graphics
from tui import messages as msg
from tui.preview_quality import HIGH, OFF, budget, default_quality, next_quality
from tui.widgets.preview import PreviewPane

if TYPE_CHECKING:
    from textual.timer import Timer

    from tui.screens.main_host import MainHost
else:
    MainHost = object  # the type checker's view of MainScreen, which this is mixed into

PREVIEW_MAX_SIDE = 512
PREVIEW_CACHE = 64
CELLS_CACHE = 128
REST_S = 0.15  # the cursor rests this long before the picture is drawn
NARROW_TERMINAL = 120  # columns below which the preview starts hidden

_COLOR_SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
                  "truecolor": ColorSystem.TRUECOLOR, "windows": ColorSystem.WINDOWS}


class MainPreview(MainHost):
    def init_preview(self) -> None:
        self._preview_cache: OrderedDict[str, tuple] = OrderedDict()  # key -> (image, caption)
        self._cells_cache: OrderedDict[tuple, list] = OrderedDict()  # (key, budget, colours)
        self._preview_timer: Timer | None = None
        self._preview_choice: bool | None = None
        self.preview_quality = default_quality(getattr(self.app, "preview_quality", None))

    @property
    def _color_system(self) -> ColorSystem:
        return _COLOR_SYSTEMS.get(self.app.console.color_system, ColorSystem.TRUECOLOR)

    def _uses_protocol(self) -> bool:
        return self.preview_quality == HIGH and graphics.capabilities().kind in (
            graphics.SIXEL, graphics.TGP)

    def on_data_table_row_highlighted(self, event) -> None:
        if event.data_table is self.table:
            self.show_details()

    def show_details(self) -> None:
        preview = self.query_one(PreviewPane)
        if self._preview_timer is not None:
            self._preview_timer.stop()
        if not preview.display:
            return  # drawn when shown again (action_toggle_preview)
        row = self.current_row()
        preview.show_row(row)
        if row is None:
            return
        # Wait for the cursor to rest: moving through rows must neither decode nor send images.
        self._preview_timer = self.set_timer(REST_S, lambda: self._show_picture(row.key,
                                                                                row.file_path))

    def _show_picture(self, key: str, relative: str) -> None:
        if self.table.current_key != key:
            return
        preview = self.query_one(PreviewPane)
        if self.preview_quality == OFF:
            preview.show_text_only(f"{relative}  (picture off: I to show)")
            return
        cached = self._preview_cache.get(key)
        if self._uses_protocol():
            if cached is not None:
                preview.show_picture(*cached)
            else:
                self._load_preview(key, relative, None, None)
            return
        wanted = budget(self.preview_quality, preview.image_columns)
        cells = self._cells_cache.get((key, wanted, self._color_system))
        if cells is not None and cached is not None:
            self._show_cells(key, wanted, cached[0], cells, cached[1])
        else:
            self._load_preview(key, relative, wanted, self._color_system)

    def _show_cells(self, key, wanted, image, cells, caption: str) -> None:
        self.query_one(PreviewPane).show_cells(
            (key, wanted), image, cells, f"{caption} · {self.preview_quality} (I)",
            rows=wanted.max_cells[1])

    @work(thread=True, exit_on_error=False, group="preview", exclusive=True)
    def _load_preview(self, key: str, relative: str, wanted, color_system) -> None:
        from vidpipe.errors import ImageError
        from vidpipe.imaging import load_rgb

        app = self.app
        cached = self._preview_cache.get(key)
        if cached is not None:
            image, caption = cached
        else:
            if wanted is None:
                graphics.image_widget_class()  # textual-image, numpy: here, not on the UI thread
            try:
                image = load_rgb(app.project.absolute(relative), app.settings.max_image_pixels,
                                 max_side=PREVIEW_MAX_SIDE, within=app.project.root)
                caption = f"{relative}  {image.width}×{image.height}"
            except ImageError as exc:
                image, caption = None, f"{relative}: {exc}"
        cells = None
        if wanted is not None and image is not None:
            from tui.halfblock import render_cells

            cells = render_cells(image, wanted, color_system)
        self.post_message(msg.PreviewLoaded(key, image, caption, wanted, cells))

    def on_preview_loaded(self, message: msg.PreviewLoaded) -> None:
        self._preview_cache[message.key] = (message.image, message.caption)
        while len(self._preview_cache) > PREVIEW_CACHE:
            self._preview_cache.popitem(last=False)
        if message.cells is not None:
            self._cells_cache[(message.key, message.budget, self._color_system)] = message.cells
            while len(self._cells_cache) > CELLS_CACHE:
                self._cells_cache.popitem(last=False)
        if self.table.current_key != message.key:
            return
        preview = self.query_one(PreviewPane)
        if message.image is None:
            preview.show_text_only(message.caption)
        elif message.cells is not None:
            self._show_cells(message.key, message.budget, message.image, message.cells,
                             message.caption)
        else:
            preview.show_picture(message.image, message.caption)

    def action_toggle_preview(self) -> None:
        preview = self.query_one(PreviewPane)
        preview.display = self._preview_choice = not preview.display
        if preview.display:
            self.show_details()

    def action_preview_quality(self) -> None:
        self.preview_quality = next_quality(self.preview_quality)
        self.notify(f"Preview quality: {self.preview_quality}", timeout=2)
        self.show_details()

    def on_resize(self, event) -> None:
        # A narrow terminal gives the grid the whole width unless the person asked otherwise.
        if self._preview_choice is None:
            self.query_one(PreviewPane).display = event.size.width >= NARROW_TERMINAL
