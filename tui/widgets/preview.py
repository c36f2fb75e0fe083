"""The selected asset: its picture and the text fields a person reviews, with waiting AI
suggestions. The picture is half blocks drawn within a byte budget, or, at high quality on a
terminal that has them, Kitty graphics or Sixel (``tui.preview_quality``). Every part repaints
only when what it shows changed, and the text without a layout pass when its height did not."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll

from tui import graphics
from tui.plain import plain, safe
from tui.rows import shown_text
from tui.widgets.halfblock_image import HalfBlockImage
from tui.widgets.quiet import QuietStatic

if TYPE_CHECKING:
    from tui.rows import AssetRow


def details_key(row: AssetRow | None) -> tuple:
    """What ``details`` draws, comparable: a row whose other fields changed (its ``updated_at``
    when the daemon touched it, a review mark) redraws nothing."""
    if row is None:
        return ()
    return (row.tag, row.name, row.asset_type, row.file_path, row.error,
            tuple(sorted(row.stage_errors.items())), row.duplicate_of, row.reverse_prompt,
            row.visual_description, row.description,
            tuple(f for f in ("reverse_prompt", "visual_description", "description")
                  if f in row.edited), row.has_suggestion)


def details(row: AssetRow | None) -> Group | Text:
    if row is None:
        return Text("No asset selected.", style="dim")
    head = Text.assemble((safe(row.tag) or "—", "bold"), "  ", (safe(row.name), "bold"), "  ",
                         (safe(row.asset_type.title()), "cyan"))
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
    for title, field, value in (("Prompt", "reverse_prompt", row.reverse_prompt),
                                ("Visual description", "visual_description",
                                 row.visual_description),
                                ("Description", "description", row.description)):
        mark = " ✎ edited by a person" if field in row.edited else ""
        lines.append(Text.assemble((f"\n{title}", "bold underline"), (mark, "magenta")))
        lines.append(plain(shown_text(value) if value else "—", one_line=False))
    if row.has_suggestion:
        lines.append(Text("\n★ AI suggestions wait for review: e to compare, a to adopt",
                          style="bold magenta"))
    return Group(*lines)


class PreviewPane(VerticalScroll):
    can_focus = False

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
        if not box.show(content, key=details_key(row)):
            return
        width = box.content_size.width
        if width:
            console = self.app.console
            height = len(console.render_lines(content, console.options.update_width(width),
                                              pad=False))
            if height != box.content_size.height:
                box.refresh(layout=True)

    def show_caption(self, caption: str) -> None:
        self.query_one("#preview-caption", QuietStatic).show(
            Text(safe(caption), style="dim", no_wrap=True, overflow="ellipsis"), key=caption)

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
            self.mount(graphics.image_widget_class()(image, id="preview-picture"),
                       before="#preview-caption")
        self.show_caption(caption)

    def show_text_only(self, caption: str) -> None:
        self.query_one("#preview-image").display = False
        self._hide_picture()
        self.show_caption(caption)

    def _hide_picture(self) -> None:
        for picture in self.query("#preview-picture"):
            picture.display = False
