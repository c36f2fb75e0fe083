"""The selected asset: its picture and the text fields a person reviews, with waiting AI
suggestions. The picture is half blocks drawn within a byte budget, or, at high quality on a
terminal that has them, Kitty graphics or Sixel (``tui.preview_quality``). Every part repaints
only when what it shows changed, and the text without a layout pass when its height did not.

What it writes is paid on every cursor move over SSH, so: the picture is drawn only after the
cursor has rested ``REST_S`` (holding a key down through the grid draws nothing in between);
each picture is decoded once (``PREVIEW_CACHE`` kept, by the pane's own loader) and drawn once
per size and quality (the half-block lines are kept as well); the picture already shown is
never sent again.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable

from rich.color import ColorSystem
from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from tui import graphics
from tui import messages as msg
from tui.plain import plain, safe
from tui.preview_quality import HIGH, OFF, budget, default_quality, next_quality
from tui.rows import shown_text
from tui.widgets.halfblock_image import HalfBlockImage
from tui.widgets.quiet import QuietStatic, text_key

if TYPE_CHECKING:
    from textual.timer import Timer

    from tui.rows import AssetRow

PREVIEW_MAX_SIDE = 512
PREVIEW_CACHE = 64
CELLS_CACHE = 128
REST_S = 0.15  # the cursor rests this long before the picture is drawn
NARROW_TERMINAL = 120  # columns below which the preview starts hidden

_COLOR_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}


def details_key(content: Group | Text) -> tuple:
    """What ``details`` drew, comparable, read from the drawing itself: a row whose other
    fields changed (its ``updated_at`` when the daemon touched it, a review mark) redraws
    nothing."""
    texts = content.renderables if isinstance(content, Group) else [content]
    return tuple(text_key(text) for text in texts)


def details(row: AssetRow | None) -> Group | Text:
    if row is None:
        return Text("No asset selected.", style="dim")
    head = Text.assemble(
        (safe(row.tag) or "—", "bold"),
        "  ",
        (safe(row.name), "bold"),
        "  ",
        (safe(row.asset_type.title()), "cyan"),
    )
    lines = [head, plain(row.file_path, style="dim")]
    if row.asset_id is not None:  # how the CLI names it: `vidpipe edit PROJECT cast/CHAR_01 ...`
        name = f"{row.manifest}/{row.tag}" if row.tag else row.manifest
        lines.append(plain(f"id {row.asset_id} · {name}", style="dim"))
    if row.error:
        lines.append(plain(f"error: {row.error}", style="bold red", one_line=False))
    for stage, message in sorted(row.stage_errors.items()):
        lines.append(plain(f"{stage} failed: {message}", style="red", one_line=False))
    if row.duplicate_of:
        lines.append(plain(f"duplicate of {row.duplicate_of}", style="yellow"))
    for title, field, value in (
        ("Prompt", "reverse_prompt", row.reverse_prompt),
        ("Visual description", "visual_description", row.visual_description),
        ("Description", "description", row.description),
    ):
        mark = " ✎ edited by a person" if field in row.edited else ""
        lines.append(Text.assemble((f"\n{title}", "bold underline"), (mark, "magenta")))
        lines.append(plain(shown_text(value) if value else "—", one_line=False))
    if row.has_suggestion:
        lines.append(
            Text(
                "\n★ AI suggestions wait for review: e to compare, a to adopt", style="bold magenta"
            )
        )
    return Group(*lines)


class PreviewPane(VerticalScroll):
    """Follows the grid's cursor (``follow``): the row's text at once, its picture once the
    cursor rests there. ``current_key`` tells which row the cursor is on now: a picture that
    arrives for a row the cursor has left is kept, not shown."""

    can_focus = False

    def __init__(
        self,
        current_key: Callable[[], str | None],
        quality: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.current_key = current_key
        self.quality = default_quality(quality)
        self.chosen: bool | None = None  # shown or hidden by the person (i), else by width
        self._pictures: OrderedDict[str, tuple] = OrderedDict()  # key -> (image, caption)
        self._cells: OrderedDict[tuple, list] = OrderedDict()  # (key, budget, colours)
        self._rest: Timer | None = None

    def compose(self) -> ComposeResult:
        # Kitty/Sixel pictures (textual-image, numpy) are mounted with the first one, off the
        # path to the first screen.
        yield HalfBlockImage(id="preview-image")
        yield QuietStatic(id="preview-caption")
        yield QuietStatic(details(None), id="preview-details")

    def on_mount(self) -> None:
        self.query_one("#preview-image").display = False

    @property
    def image_columns(self) -> int:
        return max(self.content_size.width - 1, 8)  # a column for the scroll bar

    def show_row(self, row: AssetRow | None) -> None:
        """The asset's text; a layout pass only when its height changed."""
        box = self.query_one("#preview-details", QuietStatic)
        content = details(row)
        if not box.show(content, key=details_key(content)):
            return
        width = box.content_size.width
        if width:
            console = self.app.console
            height = len(
                console.render_lines(content, console.options.update_width(width), pad=False)
            )
            if height != box.content_size.height:
                box.refresh(layout=True)

    def show_caption(self, caption: str) -> None:
        self.query_one("#preview-caption", QuietStatic).show(
            Text(safe(caption), style="dim", no_wrap=True, overflow="ellipsis"), key=caption
        )

    def show_cells(self, key, image, strips, caption: str, rows: int) -> None:
        """Half blocks drawn beforehand (``tui.halfblock``) in a box ``rows`` high."""
        self._hide_picture()
        cells = self.query_one("#preview-image", HalfBlockImage)
        if not cells.display or cells.styles.height is None or cells.styles.height.value != rows:
            cells.styles.height = rows  # the first picture or another quality: one layout pass
            cells.display = True
        cells.show(key, image, strips)
        self.show_caption(caption)

    def show_picture(self, image, caption: str) -> None:
        """A picture in the terminal's own protocol (Kitty graphics, Sixel)."""
        self.query_one("#preview-image").display = False
        shown = self.query("#preview-picture")
        if shown:
            picture = shown.first()
            picture.display = True
            if picture.image is not image:
                picture.image = image
        elif image is not None:
            self.mount(
                graphics.image_widget_class()(image, id="preview-picture"),
                before="#preview-caption",
            )
        self.show_caption(caption)

    def show_text_only(self, caption: str) -> None:
        self.query_one("#preview-image").display = False
        self._hide_picture()
        self.show_caption(caption)

    def _hide_picture(self) -> None:
        for picture in self.query("#preview-picture"):
            picture.display = False

    # -- following the cursor --------------------------------------------------------------------
    def follow(self, row: AssetRow | None) -> None:
        """Show ``row``'s text now and its picture once the cursor has rested on it."""
        if self._rest is not None:
            self._rest.stop()
        if not self.display:
            return  # drawn when shown again (toggle)
        self.show_row(row)
        if row is None:
            return
        # Wait for the cursor to rest: moving through rows must neither decode nor send images.
        self._rest = self.set_timer(REST_S, lambda: self.show_picture_of(row.key, row.file_path))

    def toggle(self, row: AssetRow | None) -> None:
        self.display = self.chosen = not self.display
        if self.display:
            self.follow(row)

    def next_quality(self) -> str:
        self.quality = next_quality(self.quality)
        return self.quality

    def fit_width(self, columns: int) -> None:
        """A narrow terminal gives the grid the whole width unless the person asked otherwise."""
        if self.chosen is None:
            self.display = columns >= NARROW_TERMINAL

    @property
    def _color_system(self) -> ColorSystem:
        return _COLOR_SYSTEMS.get(self.app.console.color_system or "", ColorSystem.TRUECOLOR)

    def _uses_protocol(self) -> bool:
        return self.quality == HIGH and graphics.capabilities().kind in (
            graphics.SIXEL,
            graphics.TGP,
        )

    def show_picture_of(self, key: str, relative: str) -> None:
        if self.current_key() != key:
            return
        if self.quality == OFF:
            self.show_text_only(f"{relative}  (picture off: I to show)")
            return
        cached = self._pictures.get(key)
        if self._uses_protocol():
            if cached is not None:
                self.show_picture(*cached)
            else:
                self._load(key, relative, None, None)
            return
        wanted = budget(self.quality, self.image_columns)
        cells = self._cells.get((key, wanted, self._color_system))
        if cells is not None and cached is not None:
            self._show_drawn(key, wanted, cached[0], cells, cached[1])
        else:
            self._load(key, relative, wanted, self._color_system)

    def cached_picture(self, key: str | None) -> tuple | None:
        """(image, caption) of ``key`` once decoded."""
        return self._pictures.get(key) if key is not None else None

    def _show_drawn(self, key, wanted, image, cells, caption: str) -> None:
        self.show_cells(
            (key, wanted), image, cells, f"{caption} · {self.quality} (I)", rows=wanted.max_cells[1]
        )

    @work(thread=True, exit_on_error=False, group="preview", exclusive=True)
    def _load(self, key: str, relative: str, wanted, color_system) -> None:
        from vidpipe.errors import ImageError
        from vidpipe.imaging import load_rgb

        app: Any = self.app  # VidpipeApp (its project and settings); not imported: a cycle
        cached = self._pictures.get(key)
        if cached is not None:
            image, caption = cached
        else:
            if wanted is None:
                graphics.image_widget_class()  # textual-image, numpy: here, not on the UI thread
            try:
                image = load_rgb(
                    app.project.absolute(relative),
                    app.settings.max_image_pixels,
                    max_side=PREVIEW_MAX_SIDE,
                    within=app.project.root,
                )
                caption = f"{relative}  {image.width}×{image.height}"
            except ImageError as exc:
                image, caption = None, f"{relative}: {exc}"
        cells = None
        if wanted is not None and image is not None:
            from tui.halfblock import render_cells

            cells = render_cells(image, wanted, color_system)
        self.post_message(msg.PreviewLoaded(key, image, caption, wanted, cells))

    def on_preview_loaded(self, message: msg.PreviewLoaded) -> None:
        message.stop()
        self._pictures[message.key] = (message.image, message.caption)
        while len(self._pictures) > PREVIEW_CACHE:
            self._pictures.popitem(last=False)
        if message.cells is not None:
            self._cells[(message.key, message.budget, self._color_system)] = message.cells
            while len(self._cells) > CELLS_CACHE:
                self._cells.popitem(last=False)
        if self.current_key() != message.key:
            return
        if message.image is None:
            self.show_text_only(message.caption)
        elif message.cells is not None:
            self._show_drawn(
                message.key, message.budget, message.image, message.cells, message.caption
            )
        else:
            self.show_picture(message.image, message.caption)
