"""A Static that writes to the terminal only when what it shows changed.

Textual repaints a widget's whole region on every ``update``, whatever the content: an unchanged
line updated once a second costs its bytes every second. Over a slow SSH link those bytes are
the cost that matters, so the dashboard's lines are updated through ``show``, which compares a
key of what would be drawn and does nothing when it is the same. Lines of a fixed height also
skip the layout pass (``layout=False``), which would repaint the scroll bars around them.
"""

from __future__ import annotations

from typing import Hashable

from textual.widgets import Static

_NOTHING = object()


class QuietStatic(Static):
    _shown_key: Hashable = _NOTHING

    def show(self, content, key: Hashable = _NOTHING, layout: bool = False) -> bool:
        """Show ``content`` unless ``key`` (default: the content itself, which must then
        compare by value) equals the key of what is shown. True when it repainted."""
        key = content if key is _NOTHING else key
        if key == self._shown_key:
            return False
        self._shown_key = key
        self.update(content, layout=layout)
        return True


def text_key(text) -> tuple:
    """What a Rich Text draws, comparable (Text's own ``==`` ignores its base style)."""
    return (text.plain, str(text.style), tuple((s.start, s.end, str(s.style)) for s in text.spans))
