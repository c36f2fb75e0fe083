"""Small modal prompts for one value: a line (a handle, a name) or a longer text (a
description). Enter / ctrl+s returns the text, escape returns None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, TextArea

from tui.plain import plain


class LinePrompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="prompt.cancel")]

    def __init__(self, question: str, value: str = ""):
        super().__init__()
        self.question = question
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="line-prompt"):
            yield Label(plain(self.question), id="line-prompt-question")
            yield Input(self.value, id="line-prompt-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)


class TextPrompt(ModalScreen[str | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="prompt.save"),
        Binding("escape", "dismiss(None)", "Cancel", id="prompt.cancel_text"),
    ]

    def __init__(self, title: str, value: str = ""):
        super().__init__()
        self.title_text = title
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="text-prompt"):
            yield Label(
                plain(f"{self.title_text}   (ctrl+s: save · esc: cancel)"), id="text-prompt-title"
            )
            yield TextArea(self.value, id="text-prompt-area", soft_wrap=True)

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)
