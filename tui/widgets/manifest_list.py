"""The manifests of the project (and folders whose files are not ingested yet)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.plain import plain, safe
from tui.snapshot import ManifestInfo
from tui.widgets.job_panel import STATUS_STYLE


def option_id(folder: str) -> str:
    return f"folder:{folder}"


def folder_of(option_id_: str) -> str:
    return option_id_.split(":", 1)[1]


#: Characters a line of the list may take (the list is 32 columns, less border and scrollbar).
LINE_WIDTH = 28


def label(info: ManifestInfo, width: int = LINE_WIDTH) -> Text:
    """The name, then the counts packed into indented lines that fit ``width``: a count never
    wraps onto a line of its own, where it would read as another manifest."""
    parts: list[tuple[str, str]] = [(f"{info.assets} assets", "dim")] if info.id else []
    if info.processed:
        parts.append((f"{info.processed} done", "dim"))
    if info.pending:
        parts.append((f"{info.pending} pending", "dim"))
    if info.errors:
        parts.append((f"{info.errors} errors", "red"))
    if info.assets:
        parts.append(
            (
                f"{info.reviewed}/{info.assets} reviewed",
                "green" if info.reviewed == info.assets else "dim",
            )
        )
    if info.untracked:
        parts.append((f"{info.untracked} not ingested", "yellow"))
    if info.run_status:
        parts.append((f"last job {safe(info.run_status)}", STATUS_STYLE.get(info.run_status, "")))
    text = plain(info.name, style="bold")
    text.truncate(width, overflow="ellipsis")
    line = 0
    for words, style in parts:
        if line and line + 3 + len(words) <= width:
            text.append(" · ", style="dim")
            line += 3
        else:
            text.append("\n  ")
            line = 2
        text.append(words, style=style)
        line += len(words)
    text.no_wrap, text.overflow = True, "ellipsis"
    return text


class ManifestList(OptionList):
    def show(self, manifests: tuple[ManifestInfo, ...], selected_folder: str | None) -> None:
        highlighted = self.highlighted_option.id if self.highlighted_option else None
        wanted = highlighted or (
            option_id(selected_folder) if selected_folder is not None else None
        )
        with self.app.batch_update():
            self.clear_options()
            self.add_options([Option(label(info), id=option_id(info.folder)) for info in manifests])
            if wanted is not None:
                try:
                    self.highlighted = self.get_option_index(wanted)
                except Exception:  # the manifest went away
                    self.highlighted = 0 if manifests else None
