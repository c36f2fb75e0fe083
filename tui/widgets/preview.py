"""The selected asset: its image (Kitty/Sixel where the terminal can, half blocks elsewhere, so it
works over plain SSH) and the text fields a person reviews, with waiting AI suggestions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui import graphics

if TYPE_CHECKING:
    from tui.rows import AssetRow


def details(row: AssetRow | None) -> Group | Text:
    if row is None:
        return Text("No asset selected.", style="dim")
    head = Text.assemble((row.tag or "—", "bold"), "  ", (row.name, "bold"), "  ",
                         (row.asset_type.title(), "cyan"))
    lines = [head, Text(row.file_path, style="dim")]
    if row.error:
        lines.append(Text(f"error: {row.error}", style="bold red"))
    for stage, message in sorted(row.stage_errors.items()):
        lines.append(Text(f"{stage} failed: {message}", style="red"))
    if row.duplicate_of:
        lines.append(Text(f"duplicate of {row.duplicate_of}", style="yellow"))
    for title, field, value in (("Prompt", "reverse_prompt", row.reverse_prompt),
                                ("Visual description", "visual_description",
                                 row.visual_description),
                                ("Description", "description", row.description)):
        mark = " ✎ edited by a person" if field in row.edited else ""
        lines.append(Text.assemble((f"\n{title}", "bold underline"), (mark, "magenta")))
        lines.append(Text(value or "—"))
    if row.has_suggestion:
        lines.append(Text("\n★ AI suggestions wait for review: e to compare, a to adopt",
                          style="bold magenta"))
    return Group(*lines)


class PreviewPane(VerticalScroll):
    can_focus = False

    def compose(self) -> ComposeResult:
        # The image widget is mounted with the first image: textual-image (and numpy) stay off
        # the path to the first screen.
        yield Static(id="preview-caption")
        yield Static(details(None), id="preview-details")

    def show_row(self, row: AssetRow | None) -> None:
        self.query_one("#preview-details", Static).update(details(row))

    def show_image(self, image, caption: str) -> None:
        shown = self.query("#preview-image")
        if shown:
            shown.first().image = image
        elif image is not None:
            self.mount(graphics.image_widget_class()(image, id="preview-image"),
                       before="#preview-caption")
        self.query_one("#preview-caption", Static).update(Text(caption, style="dim"))
