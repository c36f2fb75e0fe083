"""Textual's Footer, recomposed once per refresh however many binding changes arrived, with
help and quit first (a narrow terminal cuts the footer's end, and those two must stay in
view).

Textual's Footer schedules a full recompose (every key widget removed and mounted again) for
each ``bindings_updated`` signal; on start-up the main screen sends five (focus, screen stack,
idle callbacks), which held the footer keys back by ~0.1 s after the first frame. The recompose
reads the bindings when it runs, so one per refresh shows the same keys.
"""

from __future__ import annotations

from textual.widgets import Footer as TextualFooter


#: Shown first, whatever the screen's own keys.
FIRST_ACTIONS = ("help", "quit")


class Footer(TextualFooter):
    _recompose_queued = False

    def compose(self):
        widgets = list(super().compose())
        first = [w for w in widgets if getattr(w, "action", None) in FIRST_ACTIONS]
        yield from first + [w for w in widgets if w not in first]

    def bindings_changed(self, screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._recompose_queued:
            self._recompose_queued = True
            self.call_after_refresh(self._recompose_once)

    async def _recompose_once(self) -> None:
        self._recompose_queued = False
        await self.recompose()
