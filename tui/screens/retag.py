"""Retag from the TUI: the same preview as ``vidpipe retag --dry-run`` (old → new for every
asset), applied on a yes exactly as shown, by the same core function (vidpipe.review.retag)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.plain import plain
from tui.workers import db_thread

if TYPE_CHECKING:
    from tui.screens.main_host import MainHost
else:
    MainHost = object  # the type checker's view of MainScreen, which this is mixed into


class RetagPreviewScreen(ModalScreen[bool]):
    """Every old → new; y applies, n or escape leaves the tags as they are."""

    BINDINGS = [
        Binding("y", "answer(True)", "Retag", id="retag.yes"),
        Binding("n,escape", "answer(False)", "Keep the tags", id="retag.no"),
    ]

    def __init__(self, lines: list[str]):
        super().__init__()
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(id="retag"):
            yield Label(
                "Retag: renumber in manifest order and rewrite the old tags in every "
                "text (one change: ctrl+z on any asset undoes it)",
                id="retag-title",
            )
            with VerticalScroll(id="retag-lines"):
                yield Static(plain("\n".join(self.lines), one_line=False))
            yield Label("y retag   n keep the tags", id="retag-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class RetagActions(MainHost):
    """Mixed into MainScreen (``manifest_id``, ``app``, ``notify``)."""

    def action_retag(self) -> None:
        if self.manifest_id is None:
            self.notify("No manifest selected.", severity="warning")
            return
        self._preview_retag(self.manifest_id)

    @work(thread=True, exit_on_error=False, group="retag")
    @db_thread
    def _preview_retag(self, manifest_id: int) -> None:
        from vidpipe.review.retag import plan_retags, preview_lines
        from vidpipe.store.models import Manifest

        plans = plan_retags([Manifest.get_by_id(manifest_id)])
        if not any(plan.changed for plan in plans):
            self.app.call_from_thread(
                self.notify, "Nothing to renumber: the tags already follow the manifest order."
            )
            return
        self.app.call_from_thread(
            self.app.push_screen,
            RetagPreviewScreen(preview_lines(plans)),
            partial(self._retag_answered, manifest_id, plans),
        )

    def _retag_answered(self, manifest_id: int, plans, yes: bool | None) -> None:
        if yes:
            self._apply_retag(manifest_id, plans)

    @work(thread=True, exit_on_error=False, group="retag")
    @db_thread
    def _apply_retag(self, manifest_id: int, plans) -> None:
        from vidpipe.review.retag import apply_retag
        from vidpipe.store.models import Manifest

        applied, _ = apply_retag([Manifest.get_by_id(manifest_id)], expected=plans)
        changed = sum(len(plan.changed) for plan in applied)
        texts = sum(len(plan.texts) for plan in applied)
        self.app.call_from_thread(
            self.notify,
            f"Retagged {changed} asset(s), {texts} text field(s) rewritten; "
            "ctrl+z on any of them undoes the whole retag.",
            title="Retag",
        )
