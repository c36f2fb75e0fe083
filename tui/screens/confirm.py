"""A small modal question answered with one key."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class ChoiceScreen(ModalScreen[str | None]):
    """``choices``: (key, value, label). The key returns its value; escape returns "back"."""

    def __init__(self, question: str, choices: list[tuple[str, str, str]]):
        super().__init__()
        self.question = question
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="choice"):
            yield Label(self.question, id="choice-question")
            keys = "   ".join(f"[b]{key}[/b] {text}" for key, _, text in self.choices)
            yield Static(keys, id="choice-keys")

    def on_key(self, event) -> None:
        for key, value, _ in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(value)
                return


def confirm(question: str, yes: str = "Yes") -> ChoiceScreen:
    return ChoiceScreen(question, [("y", "yes", yes), ("n", "no", "No"), ("escape", "no", "Cancel")])


class MessageScreen(ModalScreen[None]):
    """An error or a long message, dismissed with escape/enter."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close", id="message.close")]

    def __init__(self, title: str, body: str):
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with Vertical(id="message"):
            yield Label(self.title_text, id="message-title")
            yield Static(self.body, id="message-body", markup=False)
