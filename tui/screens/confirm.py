"""A small modal question answered with one key."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tui.plain import plain

if TYPE_CHECKING:
    from tui.snapshot import Snapshot


class ChoiceScreen(ModalScreen[str | None]):
    """``choices``: (key, value, label). The key returns its value; escape returns "back".

    ``gone``: given the dashboard's latest snapshot, whether what the question is about no longer
    exists (the job ended): the question then closes itself rather than wait to be answered
    about something else."""

    def __init__(
        self,
        question: str,
        choices: list[tuple[str, str, str]],
        gone: Callable[[Snapshot], str | None] | None = None,
    ):
        super().__init__()
        self.question = question
        self.choices = choices
        self.gone = gone

    def close_if_gone(self, snapshot: Snapshot) -> None:
        why = self.gone(snapshot) if self.gone is not None else None
        if why and self.is_attached:
            self.dismiss(None)
            self.app.notify(why, title="Question closed")

    def compose(self) -> ComposeResult:
        with Vertical(id="choice"):
            yield Label(plain(self.question, one_line=False), id="choice-question")
            keys = Text("   ").join(
                Text.assemble((key, "bold"), " ", plain(text)) for key, _, text in self.choices
            )
            yield Static(keys, id="choice-keys")

    def on_key(self, event) -> None:
        for key, value, _ in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(value)
                return


def confirm(
    question: str, yes: str = "Yes", gone: Callable[[Snapshot], str | None] | None = None
) -> ChoiceScreen:
    return ChoiceScreen(
        question, [("y", "yes", yes), ("n", "no", "No"), ("escape", "no", "Cancel")], gone
    )


class MessageScreen(ModalScreen[None]):
    """An error or a long message, dismissed with escape/enter."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="message.close")]

    def __init__(self, title: str, body: str):
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="message"):
            yield Label(plain(self.title_text), id="message-title")
            yield Static(plain(self.body, one_line=False), id="message-body")
