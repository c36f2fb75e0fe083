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


def label(info: ManifestInfo) -> Text:
    text = plain(info.name, style="bold")
    parts = [f"{info.assets} assets"]
    if info.processed:
        parts.append(f"{info.processed} done")
    if info.pending:
        parts.append(f"{info.pending} pending")
    text.append("\n  " + " · ".join(parts), style="dim")
    if info.errors:
        text.append(f" · {info.errors} errors", style="red")
    if info.untracked:
        text.append(f"\n  {info.untracked} not ingested", style="yellow")
    if info.run_status:
        text.append(f"\n  last job {safe(info.run_status)}",
                    style=STATUS_STYLE.get(info.run_status, ""))
    return text


class ManifestList(OptionList):
    def show(self, manifests: tuple[ManifestInfo, ...], selected_folder: str | None) -> None:
        highlighted = self.highlighted_option.id if self.highlighted_option else None
        wanted = highlighted or (option_id(selected_folder) if selected_folder is not None else None)
        with self.app.batch_update():
            self.clear_options()
            self.add_options([Option(label(info), id=option_id(info.folder)) for info in manifests])
            if wanted is not None:
                try:
                    self.highlighted = self.get_option_index(wanted)
                except Exception:  # the manifest went away
                    self.highlighted = 0 if manifests else None
