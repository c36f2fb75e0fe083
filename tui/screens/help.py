"""F1: every key with its binding id (for keymap.toml) and the filter language."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui import query as query_module
from tui.keymap import keymap_path
from tui.plain import plain


def bindings_table(
    title: str, bindings: list[Binding], keymap: dict[str, str], display=lambda key: key
) -> Table:
    table = Table(title=title, title_justify="left", expand=True, show_edge=False)
    table.add_column("Key", style="bold cyan", no_wrap=True)
    table.add_column("Does")
    table.add_column("Binding id", style="dim", no_wrap=True)
    for binding in bindings:
        key = keymap.get(binding.id or "", binding.key)
        table.add_row(
            plain(", ".join(display(k.strip()) for k in key.split(","))),
            plain(binding.tooltip or binding.description),
            plain(binding.id or ""),
        )
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]):
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("vidpipe-tui — keys", style="bold"))
            for title, bindings in self.sections:
                yield Static(
                    bindings_table(
                        title,
                        bindings,
                        self.keymap,
                        lambda key: self.app.get_key_display(Binding(key, "")),
                    )
                )
            yield Static(Text("\nFilter language (/)", style="bold"))
            yield Static(Text(query_module.__doc__.split("\n", 2)[2].rstrip()))
            yield Static(
                Text(
                    "\nGrid markers: ✎ a person wrote a field last · ★ an AI suggestion waits · "
                    "● marked for a bulk action · ✓ reviewed",
                    style="dim",
                )
            )
            yield Static(
                plain(
                    f'\nRemap keys in {keymap_path()} ([keymap] id = "key"). '
                    "Ctrl+P opens the command palette for rarer actions.",
                    style="dim",
                    one_line=False,
                )
            )
